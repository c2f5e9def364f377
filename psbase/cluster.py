"""Running a batch stage's work elsewhere (worker processes on this machine, or an
existing Dask cluster), set up the one way every batch stage does it."""

from __future__ import annotations

from typing import Any

from psbase.errors import InputError


def dask_client(address: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``; an unreachable one is an
    InputError naming it (distributed is imported here, only by runs that use it)."""
    from distributed import Client

    try:
        return Client(address, timeout="10s")
    except OSError as error:
        raise InputError(address, f"cannot reach the Dask scheduler ({error})") from None


def one_thread_per_process(with_torch: bool) -> None:
    """A worker process's initialiser: one thread each for numba, the BLAS pools and
    (``with_torch``) torch, since the processes are the parallelism. torch is imported
    only when asked: it takes seconds to load."""
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(1)
    threadpool_limits(limits=1)
    if with_torch:
        import torch

        torch.set_num_threads(1)
