"""Connecting to an existing Dask cluster, the one way every batch stage does it."""

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
