"""Running preprocessing over many sessions: chunks, workers or a Dask cluster, one writer.

Sessions are split into fixed chunks in sorted order; chunks run in worker processes on
this machine (``workers``) or as tasks on an existing Dask distributed cluster
(``dask_address``); this process alone writes ``maps.h5``, holding its lock for the
run and checkpointing every ``checkpoint_seconds`` (see :mod:`photostereo.maps_writer`).
Sessions already in the file are skipped, so a killed run continues where its last
checkpoint left it.

Nothing one session does stops the others: its exceptions are its outcome (see
:mod:`photostereo.preprocess`), and a worker process that dies (the kernel's
out-of-memory killer, a crash in native code) costs only the sessions that kill it when
run alone, found by rerunning its chunk one session at a time.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from photostereo.io.discover import SessionRef, find_sessions
from photostereo.liveness import calibration_text
from photostereo.maps_writer import MapsWriter, check_maps_output, open_writer
from photostereo.preprocess import (
    STEPS,
    PreprocessConfig,
    SessionOutcome,
    process_chunk,
    session_key,
)
from psbase import __version__
from psbase.cluster import dask_client, one_thread_per_process
from psbase.errors import InputError, one_line
from psbase.failures import unexpected

CHUNK = 8
#: What a session whose worker process died, even alone, is listed with.
DIED = (
    "its worker process died while preprocessing it alone (killed for memory, or a crash "
    "in native code); the other sessions went on"
)

Chunks = Iterator[list[SessionOutcome]]


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
    append: bool = False,
    max_bytes: int | None = None,
    on_outcome: Callable[[SessionOutcome], None] | None = None,
    on_saved: Callable[[list[str]], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> BatchSummary:
    """Preprocess every session under ``root`` into ``out``; return the summary.

    An existing ``out`` made from another folder is refused unless ``append``.
    ``max_bytes`` caps one session's memory (None: the reader's default).
    ``on_total(n)`` hears how many sessions will run, ``on_outcome`` each finished
    session, ``on_saved`` the sources each checkpoint made safe.
    """
    started = time.perf_counter()
    refs = find_sessions(root)
    if not refs:
        raise InputError(root, "no capture sessions found below this folder")
    out = check_maps_output(out, root)
    base = str(Path(root).resolve())
    summary = BatchSummary()
    with open_writer(out, _attributes(config, refs), root=base, append=append) as writer:
        todo = [ref for ref in refs if not writer.has(session_key(ref, base))]
        summary.skipped = len(refs) - len(todo)
        if on_total:
            on_total(len(todo))
        chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
        last_checkpoint = time.perf_counter()
        if dask_address:
            results = _dask_chunks(chunks, base, config, dask_address, max_bytes)
        else:
            workers = _worker_count(workers, len(chunks))
            results = _local_chunks(chunks, base, config, workers, max_bytes)
        for outcomes in results:
            for outcome in outcomes:
                _record(outcome, writer, summary)
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


def _record(outcome: SessionOutcome, writer: MapsWriter, summary: BatchSummary) -> None:
    """Queue a session's sample, or list its failure (logging an unforeseen one's stack)."""
    for step, seconds in outcome.timings.items():
        summary.step_seconds[step] += seconds
    if outcome.warning:
        summary.warnings.append(outcome.warning)
    if outcome.sample is not None:
        writer.add(outcome.sample)
        summary.done.append(outcome.source)
        return
    reason = outcome.error or "unknown failure"
    if outcome.trace:
        reason = unexpected(f"psface preprocess: {outcome.source}", reason, outcome.trace)
    summary.failed.append((outcome.source, reason))


def _checkpoint(writer: MapsWriter, summary: BatchSummary, on_saved) -> None:
    start = time.perf_counter()
    saved = writer.checkpoint()
    summary.step_seconds["write"] += time.perf_counter() - start
    if saved and on_saved:
        on_saved(saved)


def _attributes(config: PreprocessConfig, refs: Sequence[SessionRef]) -> dict[str, object]:
    layouts = sorted({ref.layout for ref in refs})
    calibration = calibration_text()
    return {
        "tool_version": __version__,
        "size": config.size,
        "solver": config.solver,
        "integrator": config.integrator,
        "rig": ",".join(layouts),
        "config": config.to_json(),
        **({} if calibration is None else {"liveness_calibration": calibration}),
    }


def _worker_count(workers: int | None, n_chunks: int) -> int:
    wanted = workers if workers else (os.cpu_count() or 1)
    return max(1, min(wanted, n_chunks))


def _local_chunks(
    chunks: list[list[SessionRef]],
    root: str,
    config: PreprocessConfig,
    workers: int,
    max_bytes: int | None,
) -> Chunks:
    """Each chunk's outcomes: in this process for one worker, else in worker processes."""
    if workers <= 1:
        for chunk in chunks:
            yield process_chunk(chunk, root, config, max_bytes)
        return
    yield from _pooled_chunks(chunks, root, config, workers, max_bytes)


def _pooled_chunks(
    chunks: list[list[SessionRef]],
    root: str,
    config: PreprocessConfig,
    workers: int,
    max_bytes: int | None,
) -> Chunks:
    """Run chunks in ``workers`` one-process pools, one chunk in each at a time.

    One process per pool means a worker's death breaks only its pool and names the one
    chunk it was running: that pool is replaced, and the chunk's sessions are queued
    again one at a time, so only a session that kills its process alone is lost.
    """

    def new_pool() -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        # torch runs in every worker: MTCNN, and the learned liveness score
        return ProcessPoolExecutor(
            1, mp_context=context, initializer=one_thread_per_process, initargs=(True,)
        )

    queue = deque(chunks)
    pools = [new_pool() for _ in range(workers)]
    running: dict[Future, tuple[int, list[SessionRef]]] = {}
    try:
        while queue or running:
            busy = {slot for slot, _ in running.values()}
            for slot in range(workers):
                if queue and slot not in busy:
                    chunk = queue.popleft()
                    future = pools[slot].submit(process_chunk, chunk, root, config, max_bytes)
                    running[future] = (slot, chunk)
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                slot, chunk = running.pop(future)
                try:
                    outcomes = future.result()
                except BrokenProcessPool:
                    pools[slot].shutdown()
                    pools[slot] = new_pool()
                    if len(chunk) > 1:
                        queue.extendleft([ref] for ref in reversed(chunk))
                        continue
                    outcomes = [SessionOutcome(session_key(chunk[0], root), error=DIED)]
                yield outcomes
    finally:
        for pool in pools:
            pool.shutdown(cancel_futures=True)


def _dask_chunks(
    chunks: list[list[SessionRef]],
    root: str,
    config: PreprocessConfig,
    address: str,
    max_bytes: int | None,
) -> Chunks:
    """Each chunk's outcomes from a Dask cluster; a task that fails (its worker died
    more often than the scheduler retries) lists its chunk's sessions as failed."""
    from distributed import as_completed as dask_completed

    with dask_client(address) as client:
        futures = client.map(
            process_chunk, chunks, root=root, config=config, max_bytes=max_bytes, pure=False
        )
        chunk_of = {future.key: chunk for future, chunk in zip(futures, chunks, strict=True)}
        for future in dask_completed(futures):
            try:
                outcomes = future.result()
            except Exception as error:
                reason = f"its Dask task failed ({one_line(error)})"
                chunk = chunk_of[future.key]
                outcomes = [SessionOutcome(session_key(ref, root), error=reason) for ref in chunk]
            yield outcomes
