"""Running preprocessing over many sessions: chunks, workers or a Dask cluster, one writer.

Sessions are split into fixed chunks in sorted order; chunks run in worker processes on
this machine (``workers``) or as tasks on an existing Dask distributed cluster
(``dask_address``); this process alone writes ``maps.h5``, checkpointing every
``checkpoint_seconds`` (see :mod:`photostereo.maps_writer`). Sessions already in the
file are skipped, so a killed run continues where its last checkpoint left it.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from photostereo.io.discover import SessionRef, find_sessions
from photostereo.maps_writer import MapsWriter
from photostereo.preprocess import (
    STEPS,
    PreprocessConfig,
    SessionOutcome,
    process_chunk,
    session_key,
)
from psbase import __version__
from psbase.errors import InputError

CHUNK = 8


@dataclass
class BatchSummary:
    """What a run did, for the closing report and ``--json``."""

    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0
    step_seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys((*STEPS, "write"), 0.0)
    )

    @property
    def rate(self) -> float:
        """Sessions per second over the run."""
        return len(self.done) / self.seconds if self.seconds else 0.0


def run_preprocess(
    root: str | Path,
    out: str | Path,
    config: PreprocessConfig,
    *,
    workers: int | None = None,
    dask_address: str | None = None,
    checkpoint_seconds: float = 10.0,
    on_outcome: Callable[[SessionOutcome], None] | None = None,
    on_saved: Callable[[list[str]], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> BatchSummary:
    """Preprocess every session under ``root`` into ``out``; return the summary.

    ``on_total(n)`` hears how many sessions will run, ``on_outcome`` each finished
    session, ``on_saved`` the sources each checkpoint made safe.
    """
    started = time.perf_counter()
    root = Path(root)
    refs = find_sessions(root)
    if not refs:
        raise InputError(root, "no capture sessions found below this folder")
    writer = MapsWriter(out, _attributes(config, refs))
    summary = BatchSummary()
    todo = [ref for ref in refs if session_key(ref, str(root)) not in writer.done]
    summary.skipped = len(refs) - len(todo)
    if on_total:
        on_total(len(todo))
    chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
    last_checkpoint = time.perf_counter()
    runner = _dask_chunks if dask_address else _local_chunks
    target = dask_address if dask_address else _worker_count(workers, len(chunks))
    for outcomes in runner(chunks, str(root), config, target):
        for outcome in outcomes:
            for step, seconds in outcome.timings.items():
                summary.step_seconds[step] += seconds
            if outcome.warning:
                summary.warnings.append(outcome.warning)
            if outcome.sample is None:
                summary.failed.append((outcome.source, outcome.error or "unknown failure"))
            else:
                writer.add(outcome.sample)
                summary.done.append(outcome.source)
            if on_outcome:
                on_outcome(outcome)
        if time.perf_counter() - last_checkpoint >= checkpoint_seconds:
            _checkpoint(writer, summary, on_saved)
            last_checkpoint = time.perf_counter()
    write_start = time.perf_counter()
    _checkpoint(writer, summary, on_saved)
    writer.finish(summary.failed)
    summary.step_seconds["write"] += time.perf_counter() - write_start
    summary.seconds = time.perf_counter() - started
    return summary


def _checkpoint(writer: MapsWriter, summary: BatchSummary, on_saved) -> None:
    start = time.perf_counter()
    saved = writer.checkpoint()
    summary.step_seconds["write"] += time.perf_counter() - start
    if saved and on_saved:
        on_saved(saved)


def _attributes(config: PreprocessConfig, refs: Sequence[SessionRef]) -> dict[str, object]:
    layouts = sorted({ref.layout for ref in refs})
    return {
        "tool_version": __version__,
        "size": config.size,
        "solver": config.solver,
        "integrator": config.integrator,
        "rig": ",".join(layouts),
        "config": config.to_json(),
    }


def _worker_count(workers: int | None, n_chunks: int) -> int:
    wanted = workers if workers else (os.cpu_count() or 1)
    return max(1, min(wanted, n_chunks))


def _init_worker() -> None:
    """One thread per worker process: the processes are the parallelism."""
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    threadpool_limits(limits=1)


def _local_chunks(chunks, root: str, config: PreprocessConfig, workers: int) -> Iterator:
    if workers <= 1:
        for chunk in chunks:
            yield process_chunk(chunk, root, config)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        futures = [pool.submit(process_chunk, chunk, root, config) for chunk in chunks]
        for future in as_completed(futures):
            yield future.result()


def _dask_chunks(chunks, root: str, config: PreprocessConfig, address: str) -> Iterator:
    from distributed import Client
    from distributed import as_completed as dask_completed

    try:
        client = Client(address, timeout="10s")
    except OSError as error:
        raise InputError(address, f"cannot reach the Dask scheduler ({error})") from None
    with client:
        futures = client.map(process_chunk, chunks, root=root, config=config, pure=False)
        for future in dask_completed(futures):
            yield future.result()
