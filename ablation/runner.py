"""Every cell of an ablation, each repeat a task: in parallel, resumable, one writer.

A task (one cell, one repeat) renders or reads every person's sessions under the cell's
conditions and returns its measures (:meth:`DataSource.evaluate`). Tasks run in this
process, in local worker processes (``workers``) or on an existing Dask cluster
(``dask_address``); this process alone writes. Each finished task is its own file,
``OUT/cells/KEY.json``, written atomically, so a killed ablation continues where it
stopped and never recomputes a finished task; ``OUT/ablation.json`` records what the
ablation is, so a rerun into the same folder with other settings is refused rather than
mixed. A task that fails, whatever the exception, is listed with one line and the
others go on; a rerun tries it again.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Protocol

from ablation.factors import REAL, SYNTH, Conditions, cell_key, grid
from ablation.real import RealData
from ablation.report import summarise, write_tables
from ablation.synthetic import parse_synth
from psbase import __version__
from psbase.atomic import write_atomically
from psbase.cluster import dask_client, one_thread_per_process
from psbase.errors import ConfigError, InputError, one_line
from psbase.failures import record_traceback
from psbase.lock import exclusive_lock
from psbase.outputs import make_folders

#: What a task whose worker process died is listed with.
DIED = "its worker process died (killed for memory, or a crash in native code)"

Progress = Callable[[int, int], None]
Models = Sequence[tuple[str, str]]


class DataSource(Protocol):
    """Where sessions come from: rendered people or real many-light captures."""

    kind: ClassVar[str]

    def evaluate(self, conditions: Conditions, repeat: int, models: Models) -> dict[str, float]:
        """Every measure of one cell and repeat."""
        ...


@dataclass
class AblationRun:
    """What a run did: ``records`` of every finished task in grid order, ``computed``
    and ``resumed`` counts, ``failed`` (key, one line) pairs and the files written."""

    records: list[dict]
    factors: list[str]
    computed: int = 0
    resumed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    seconds: float = 0.0


def data_source(text: str, *, sessions: int = 3, seed: int = 0) -> DataSource:
    """``synth:PEOPLExSESSIONS`` or a folder of many-light captures (Yale B layout)."""
    if text.startswith("synth:"):
        return replace(parse_synth(text), seed=seed)
    folder = Path(text)
    if not folder.is_dir():
        raise InputError(folder, "no such folder; give synth:PEOPLExSESSIONS or a capture folder")
    return RealData(str(folder.resolve()), sessions=sessions, seed=seed)


def named_models(runs: Sequence[str | Path]) -> list[tuple[str, str]]:
    """(name, run folder) for each ``--model``, named by its folder (with its parent's
    name where two share one), each checked to load, so a bad run fails before any task."""
    from recognition.embed import load_embedder

    paths = [Path(run).resolve() for run in runs]
    names = [p.name for p in paths]
    named = []
    for path, name in zip(paths, names, strict=True):
        load_embedder(path, device="cpu")
        unique = name if names.count(name) == 1 else f"{path.parent.name}/{name}"
        named.append((unique, str(path)))
    if len({n for n, _ in named}) != len(named):
        raise ConfigError("each --model must be a different run folder")
    return named


def run_ablation(
    data: DataSource,
    factors: Sequence[tuple[str, list[object]]],
    out: str | Path,
    *,
    repeats: int = 1,
    models: Models = (),
    workers: int = 1,
    dask_address: str | None = None,
    progress: Progress | None = None,
) -> AblationRun:
    """Run (or finish) the ablation of ``factors`` on ``data`` into folder ``out``.

    ``models`` are (name, run folder) pairs whose embeddings join the recognition
    measures. Returns the run; ``OUT/results.csv``, ``results.json`` and ``report.md``
    hold every finished task (:func:`ablation.report.write_tables`).
    """
    if repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {repeats}")
    if data.kind not in (SYNTH, REAL):
        raise ConfigError(f"unknown kind of data {data.kind!r}")
    out = make_folders(out)
    cells = grid(factors)
    tasks = [(cell, r) for cell in cells for r in range(repeats)]
    spec = {
        "data": repr(data),
        "factors": [[name, values] for name, values in factors],
        "repeats": repeats,
        "models": [[name, path, _fingerprint(path)] for name, path in models],
    }
    start = time.perf_counter()
    with exclusive_lock(out / "ablation.json", what="ablation"):
        _claim(out, spec)
        done = _finished(out)
        todo = [t for t in tasks if cell_key(*t) not in done]
        run = AblationRun([], [name for name, _ in factors], resumed=len(tasks) - len(todo))
        if dask_address:
            outcomes = _dask_tasks(data, todo, models, address=dask_address)
        else:
            outcomes = _local_tasks(data, todo, models, workers=workers)
        for count, (task, outcome) in enumerate(outcomes, 1):
            if isinstance(outcome, str):
                run.failed.append((cell_key(*task), outcome))
            else:
                done[cell_key(*task)] = _store(out, *task, *outcome)
                run.computed += 1
            if progress is not None:
                progress(count, len(todo))
        run.records = [done[cell_key(*t)] for t in tasks if cell_key(*t) in done]
        meta = {"data": repr(data), "repeats": repeats, "psface": __version__}
        run.files = write_tables(out, run.records, run.factors, meta)
        run.summary = summarise(run.records, run.factors)
    run.seconds = time.perf_counter() - start
    return run


def _fingerprint(run: str) -> str:
    """What a model's embeddings depend on: its weights and configuration."""
    from recognition.config import load_config
    from recognition.embed import MODEL_FILE, fingerprint

    return fingerprint(Path(run) / MODEL_FILE, load_config(Path(run) / "config.json"))


def _claim(out: Path, spec: dict) -> None:
    """Record what this ablation is in ``OUT/ablation.json``, or check that the folder
    holds this same ablation (resume); refuse a folder of other files or settings."""
    marker = out / "ablation.json"
    if marker.exists():
        try:
            held = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InputError(marker, f"unreadable ({one_line(error)}); use another -o") from None
        if held != json.loads(json.dumps(spec)):
            raise ConfigError(
                f"{out} holds an ablation with other settings ({marker}); give the same "
                "data, factors, repeats and models to resume it, or another -o"
            )
        return
    if any(p.name != marker.name + ".lock" for p in out.iterdir()):
        raise InputError(out, "already holds files that psface ablate did not make; use another -o")
    write_atomically(
        marker, lambda tmp: tmp.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    )


def _task_file(out: Path, key: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return out / "cells" / f"{digest}.json"


def _finished(out: Path) -> dict[str, dict]:
    """The records of the tasks already done, by key (unreadable ones are redone)."""
    done = {}
    for path in sorted((out / "cells").glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            done[record["key"]] = record
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return done


def _store(out: Path, cell: dict, repeat: int, measures: dict, seconds: float) -> dict:
    """Write one finished task's record atomically; return it."""
    key = cell_key(cell, repeat)
    record = {"key": key, "cell": cell, "repeat": repeat, "measures": measures, "seconds": seconds}
    path = _task_file(out, key)
    make_folders(path.parent)
    text = json.dumps(record, allow_nan=True)
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return record


def evaluate_task(
    data: DataSource, cell: dict, repeat: int, models: Models
) -> tuple[dict[str, float], float] | str:
    """One task, wherever it runs: (measures, seconds), or its failure in one line (the
    traceback goes to the log of the machine it ran on)."""
    start = time.perf_counter()
    try:
        measures = data.evaluate(Conditions().with_cell(cell), repeat, models)
    except Exception as error:
        line = one_line(error)
        record_traceback(f"ablate {cell_key(cell, repeat)}", traceback.format_exc())
        return line
    return {k: float(v) for k, v in measures.items()}, time.perf_counter() - start


Outcomes = Iterator[tuple[tuple[dict, int], tuple[dict, float] | str]]


def _local_tasks(data: DataSource, todo: list, models: Models, *, workers: int) -> Outcomes:
    """Each task's outcome: in this process for one worker, else in worker processes."""
    if workers <= 1 or len(todo) <= 1:
        for cell, repeat in todo:
            yield (cell, repeat), evaluate_task(data, cell, repeat, models)
        return
    context = multiprocessing.get_context("spawn")

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            workers, mp_context=context, initializer=one_thread_per_process, initargs=(True,)
        )

    pool = new_pool()
    pending = list(todo)
    running: dict[Future, tuple[dict, int]] = {}
    try:
        while pending or running:
            while pending and len(running) < workers:
                cell, repeat = pending.pop(0)
                running[pool.submit(evaluate_task, data, cell, repeat, models)] = (cell, repeat)
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                task = running.pop(future)
                try:
                    yield task, future.result()
                except BrokenProcessPool:
                    for other in [task, *running.values()]:
                        yield other, DIED
                    running.clear()
                    pool.shutdown(cancel_futures=True)
                    pool = new_pool()
                    break
    finally:
        pool.shutdown(cancel_futures=True)


def _dask_tasks(data: DataSource, todo: list, models: Models, *, address: str) -> Outcomes:
    """Each task's outcome from a Dask cluster; a task the cluster lost is listed as failed."""
    from distributed import as_completed as dask_completed

    with dask_client(address) as client:
        futures = [
            client.submit(evaluate_task, data, cell, repeat, models, pure=False)
            for cell, repeat in todo
        ]
        task_of = {future.key: task for future, task in zip(futures, todo, strict=True)}
        for future in dask_completed(futures):
            try:
                outcome = future.result()
            except Exception as error:
                outcome = f"its Dask task failed ({one_line(error)})"
            yield task_of[future.key], outcome
