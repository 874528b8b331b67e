"""Running a sweep: every variant in chunks, in this process or on a Dask cluster, results
written as they arrive.

Work is cut into chunks of variants (:func:`chunks`); a chunk is one call of
:func:`~smallbms.sweep.metrics.run_chunk`. Serially the chunks run here, one after the other;
with Dask each chunk is one task of a ``distributed`` client: a :class:`LocalCluster` of this
machine's cores by default, or any running cluster (``dask scheduler`` + ``dask worker``) given by
its address. Dask reruns the task of a worker that dies (the scheduler's ``allowed-failures``),
and each task is also submitted with ``retries``, so a lost chunk is run again elsewhere. Every
variant is deterministic (its seed), so where a chunk runs never changes its rows.

Rows are handed to a sink as chunks finish (in completion order); :class:`ResultFiles` keeps the
CSV on disk sorted and current after each chunk, so an interrupted sweep (Ctrl-C) keeps every
finished row; the Parquet file and the HTML page are written at the end, from the rows there are.
"""

from __future__ import annotations

import csv
import importlib
import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smallbms.sweep.metrics import METRICS, run_chunk
from smallbms.sweep.spec import Sweep, Variant

#: Band columns: lists per row, kept in the Parquet file and the page, left out of the CSV.
LIST_COLUMNS = ("soc_day_min", "soc_day_max")
#: Retries of a chunk whose task failed on a worker (on top of Dask's own rerun of the tasks of
#: a worker that died).
TASK_RETRIES = 2

Row = dict[str, Any]
Sink = Callable[[list[Row]], None]


def chunks(variants: Sequence[Variant], size: int) -> list[list[Variant]]:
    """The variants cut in runs of ``size`` (the last may be shorter)."""
    if size < 1:
        raise ValueError("chunk size must be >= 1")
    return [list(variants[i : i + size]) for i in range(0, len(variants), size)]


def row_key(row: Row) -> tuple[int, int]:
    return int(row["variant"]), int(row["seed"])


def run_serial(sweep: Sweep, work: Iterable[list[Variant]], sink: Sink) -> None:
    """Run the chunks here, one after the other."""
    for chunk in work:
        sink(run_chunk(sweep, chunk))


def run_dask(sweep: Sweep, work: Iterable[list[Variant]], sink: Sink,
             scheduler: str | None = None, workers: int | None = None) -> None:
    """Run the chunks on Dask: on the cluster at ``scheduler`` (``tcp://host:8786``), or on a
    local cluster of ``workers`` processes (default: this machine's cores), one thread each."""
    dd: Any = importlib.import_module("dask.distributed")  # untyped: used through Any
    Client, LocalCluster, as_completed = dd.Client, dd.LocalCluster, dd.as_completed
    cluster: Any = None
    if scheduler is None:
        n = workers or os.cpu_count() or 1
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        sweep_f = client.scatter(sweep, broadcast=True)
        futures = [client.submit(run_chunk, sweep_f, chunk, pure=False, retries=TASK_RETRIES)
                   for chunk in work]
        try:
            for fut in as_completed(futures):
                sink(fut.result())
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        # closing kills workers still busy with cancelled chunks; Dask warns about each
        logging.getLogger("distributed").setLevel(logging.ERROR)
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass
class ResultFiles:
    """The result files of a sweep in ``out_dir``: ``results.csv`` (rewritten, sorted, after
    every chunk), ``results.parquet`` and ``report.html`` (:meth:`finish`)."""

    sweep: Sweep
    out_dir: Path
    rows: list[Row] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)

    @property
    def columns(self) -> list[str]:
        return ["variant", "seed", *(a.name for a in self.sweep.axes), "bank_kwh", "solar_w",
                *METRICS]

    def add(self, rows: list[Row]) -> None:
        self.rows.extend(rows)
        self.rows.sort(key=row_key)
        self.write_csv()

    def write_csv(self) -> Path:
        path = self.out_dir / "results.csv"
        tmp = path.with_suffix(".csv.part")
        with tmp.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(self.columns)
            for r in self.rows:
                w.writerow(["" if _is_nan(r[c]) else r[c] for c in self.columns])
        tmp.replace(path)
        return path

    def write_parquet(self) -> Path:
        pa: Any = importlib.import_module("pyarrow")  # no type information shipped
        pq: Any = importlib.import_module("pyarrow.parquet")

        cols = [*self.columns, *LIST_COLUMNS]
        table = pa.table({c: [r[c] for r in self.rows] for c in cols}) if self.rows else (
            pa.table({c: pa.array([], pa.float64()) for c in cols}))
        path = self.out_dir / "results.parquet"
        pq.write_table(table, path)
        return path

    def finish(self, complete: bool) -> list[Path]:
        from smallbms.sweep.report import write_report

        return [self.write_csv(), self.write_parquet(),
                write_report(self.sweep, self.rows, self.out_dir / "report.html", complete)]


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


@dataclass
class SweepOutcome:
    """What a sweep left: its rows (sorted), the files written, and whether it ran to the end."""

    rows: list[Row]
    files: list[Path]
    complete: bool


def run_sweep(sweep: Sweep, out_dir: Path, *, scheduler: str | None = None,
              workers: int | None = None, serial: bool = False, chunk_size: int = 1,
              on_rows: Callable[[int, int], None] | None = None) -> SweepOutcome:
    """Run every variant of ``sweep`` and write the result files into ``out_dir``.

    ``serial`` runs here without Dask; otherwise on the cluster at ``scheduler`` or on a local
    cluster of ``workers`` processes. ``on_rows(done, total)`` is called as rows arrive. A
    KeyboardInterrupt stops the work, writes the files from the finished rows and is raised again.
    """
    files = ResultFiles(sweep, out_dir)
    variants = sweep.variants()
    total = len(variants)

    def sink(rows: list[Row]) -> None:
        files.add(rows)
        if on_rows is not None:
            on_rows(len(files.rows), total)

    work = chunks(variants, chunk_size)
    try:
        if serial:
            run_serial(sweep, work, sink)
        else:
            run_dask(sweep, work, sink, scheduler=scheduler, workers=workers)
    except KeyboardInterrupt:
        files.finish(complete=False)
        raise
    return SweepOutcome(files.rows, files.finish(complete=True), True)
