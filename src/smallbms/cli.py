"""The ``smallbms`` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import click

from smallbms import __version__
from smallbms.scenario import ScenarioError, load_scenario


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smallbms")
def main() -> None:
    """smallbms: an open software smallBMS NG battery management system with a digital twin."""


@main.command()
@click.argument("scenario_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--events", "events_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the JSON Lines events to this file instead of standard output.")
@click.option("--sample-interval", type=float, default=None, metavar="SECONDS",
              help="Seconds between sample lines (default: the scenario's, else 60).")
def simulate(scenario_file: Path, events_file: Path | None, sample_interval: float | None) -> None:
    """Run SCENARIO_FILE headless, faster than real time, and write JSON Lines events."""
    from smallbms.simulate import run_scenario

    if sample_interval is not None and not sample_interval > 0:
        raise click.BadParameter("must be a positive number of seconds",
                                 param_hint="--sample-interval")
    try:
        scenario = load_scenario(scenario_file)
    except ScenarioError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    out: IO[str]
    if events_file is None:
        out = sys.stdout
        try:
            run_scenario(scenario, out, sample_interval)
        except ScenarioError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        return
    tmp = events_file.with_name(events_file.name + ".partial")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            run_scenario(scenario, out, sample_interval)
    except ScenarioError as e:
        tmp.unlink(missing_ok=True)
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    tmp.replace(events_file)


if __name__ == "__main__":  # pragma: no cover
    main()
