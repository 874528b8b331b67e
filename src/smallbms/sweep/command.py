"""The ``smallbms sweep`` command (registered on the main command group by :mod:`smallbms.cli`).

Only click is imported here; the sweep machinery (and Dask) is imported when the command runs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from smallbms.sweep.spec import Sweep


@click.command()
@click.argument("sweep_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              metavar="DIR", help="Write results.csv, results.parquet and report.html into DIR "
                                  "(default: <sweep file name>-sweep beside the sweep file).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on this Dask cluster (e.g. tcp://host:8786) instead of a local one.")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="Worker processes of the local Dask cluster (default: one per core).")
@click.option("--serial", is_flag=True, help="Run in this process, one run after the other, "
                                              "without Dask.")
@click.option("--chunk", "chunk_size", type=click.IntRange(min=1), default=1, metavar="N",
              help="Runs per unit of work handed to a worker (default 1).")
@click.option("--progress/--no-progress", "progress", default=None,
              help="Force or suppress the progress bar (default: shown on a terminal).")
@click.option("--scenario-of", "scenario_of", type=click.IntRange(min=0), default=None,
              metavar="VARIANT",
              help="Run nothing: print the scenario file of this variant (the 'variant' column "
                   "of the results) for `smallbms simulate`, which gives that run's events.")
@click.option("--seed", "seed", type=int, default=None, metavar="SEED",
              help="With --scenario-of: which of the sweep's seeds (default: the first).")
def sweep(sweep_file: Path, out_dir: Path | None, scheduler: str | None, workers: int | None,
          serial: bool, chunk_size: int, progress: bool | None, scenario_of: int | None,
          seed: int | None) -> None:
    """Run every combination of the axes of SWEEP_FILE with the BMS in the loop, and write
    one row of figures per run (CSV, Parquet) and a page of plots with a recommendation.

    Ctrl-C stops the sweep; the runs already finished are kept in the files. Exit status: 0
    done, 2 the sweep file or a variant is unusable, 130 interrupted.
    """
    from smallbms.sweep.run import run_sweep
    from smallbms.sweep.spec import SweepError, load_sweep

    if serial and (scheduler is not None or workers is not None):
        raise click.UsageError("--serial runs without Dask: leave out --scheduler and --workers")
    if seed is not None and scenario_of is None:
        raise click.UsageError("--seed picks a run for --scenario-of: give both")
    try:
        spec = load_sweep(sweep_file)
        if scenario_of is not None:
            click.echo(_variant_scenario(spec, scenario_of, seed), nl=False)
            return
    except SweepError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    out = out_dir or sweep_file.with_name(f"{sweep_file.stem}-sweep")
    total = spec.combinations * len(spec.seeds)
    where = "here" if serial else (scheduler or f"a local Dask cluster ({workers or 'all'} cores)")
    click.echo(f"sweep {spec.name!r}: {spec.combinations} variants x {len(spec.seeds)} seeds "
               f"= {total} runs of {spec.duration_s / 86400:g} days, on {where}", err=True)
    show = sys.stderr.isatty() if progress is None else progress
    started = time.monotonic()
    try:
        if show:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns = (TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
            with Progress(*columns, console=Console(stderr=True)) as bar:
                task = bar.add_task("runs", total=total)
                outcome = run_sweep(
                    spec, out, scheduler=scheduler, workers=workers, serial=serial,
                    chunk_size=chunk_size,
                    on_rows=lambda done, _total: bar.update(task, completed=done))
        else:
            outcome = run_sweep(spec, out, scheduler=scheduler, workers=workers, serial=serial,
                                chunk_size=chunk_size)
    except KeyboardInterrupt:
        click.echo(f"interrupted: the finished runs are in {out}", err=True)
        sys.exit(130)
    from smallbms.sweep.report import recommendations

    for line in recommendations(spec, outcome.rows):
        click.echo(line)
    click.echo(f"{len(outcome.rows)} runs in {time.monotonic() - started:.0f} s; "
               f"files: {', '.join(str(p) for p in outcome.files)}", err=True)


def _variant_scenario(spec: Sweep, index: int, seed: int | None) -> str:
    """The scenario file of one run of the sweep (raises SweepError naming what is wrong)."""
    from smallbms.sweep.spec import SweepError

    runs = [v for v in spec.variants() if v.index == index]
    if not runs:
        raise SweepError(f"{spec.source}: there is no variant {index} (the sweep has "
                         f"{spec.combinations}: 0 to {spec.combinations - 1})")
    chosen = runs[0] if seed is None else next((v for v in runs if v.seed == seed), None)
    if chosen is None:
        seeds = ", ".join(str(v.seed) for v in runs)
        raise SweepError(f"{spec.source}: the sweep has no seed {seed} (its seeds: {seeds})")
    return spec.scenario_toml(chosen)
