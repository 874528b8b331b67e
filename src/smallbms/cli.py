"""The ``smallbms`` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from smallbms import __version__
from smallbms.buses.command import scan as _scan_command
from smallbms.scenario import Scenario, ScenarioError, load_scenario
from smallbms.sweep.command import sweep as _sweep_command

if TYPE_CHECKING:
    from smallbms.design_check import Finding, SystemDesign

#: Runs longer than this (simulated seconds) show a progress bar on a terminal.
PROGRESS_MIN_DURATION_S = 86400.0
#: Width of plain-text ``check`` output.
PLAIN_WIDTH = 100

ProgressFn = Callable[[float], None]
LogFn = Callable[[str], None]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smallbms")
def main() -> None:
    """smallbms: an open software smallBMS NG battery management system with a digital twin."""


# --- simulate -------------------------------------------------------------------------------------


@main.command()
@click.argument("scenario_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--events", "events_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the JSON Lines events to this file instead of standard output.")
@click.option("--sample-interval", type=float, default=None, metavar="SECONDS",
              help="Seconds between sample lines (default: the scenario's, else 60).")
@click.option("--report", "report_dir", type=click.Path(path_type=Path, file_okay=False),
              default=None, metavar="DIR",
              help="Also write plots and an index.html summary of the run into DIR.")
@click.option("--progress/--no-progress", "progress", default=None,
              help="Force or suppress the progress bar on standard error (default: shown on a "
                   "terminal for runs longer than a simulated day).")
@click.option("--instant-readout", "instant_readout", is_flag=True,
              help="Add the Instant Readout advertisement (hex) to every sample line and its "
                   "key to the summary line.")
def simulate(scenario_file: Path, events_file: Path | None, sample_interval: float | None,
             report_dir: Path | None, progress: bool | None, instant_readout: bool) -> None:
    """Run SCENARIO_FILE headless, faster than real time, and write JSON Lines events."""
    if sample_interval is not None and not sample_interval > 0:
        raise click.BadParameter("must be a positive number of seconds",
                                 param_hint="--sample-interval")
    try:
        scenario = load_scenario(scenario_file)
    except ScenarioError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    if report_dir is not None:
        _make_report_dir(report_dir)
    show = _want_progress(scenario, progress)
    if events_file is None:
        try:
            _run(scenario, sys.stdout, sample_interval, report_dir, show, instant_readout)
        except ScenarioError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        return
    tmp = events_file.with_name(events_file.name + ".partial")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            _run(scenario, out, sample_interval, report_dir, show, instant_readout)
    except ScenarioError as e:
        tmp.unlink(missing_ok=True)
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    tmp.replace(events_file)


def _make_report_dir(report_dir: Path) -> None:
    """Create the report directory before the run, so a bad path fails at once."""
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise click.BadParameter(f"cannot create directory {str(report_dir)!r}: "
                                 f"{e.strerror or e}", param_hint="--report") from None


def _want_progress(scenario: Scenario, forced: bool | None) -> bool:
    """The progress bar: as forced, else on a terminal for runs longer than a simulated day."""
    if forced is not None:
        return forced
    return sys.stderr.isatty() and scenario.duration_s > PROGRESS_MIN_DURATION_S


def _run(scenario: Scenario, out: IO[str], sample_interval: float | None,
         report_dir: Path | None, show_progress: bool, instant_readout: bool = False) -> None:
    """Run the scenario (with a progress bar and a recorder when asked), then write the report."""
    from smallbms.simulate import make_runner

    with _progress_bar(scenario, show_progress) as (on_progress, log):
        runner = make_runner(scenario, out, sample_interval, log=log, progress=on_progress,
                             instant_readout=instant_readout)
        recorder = None
        if report_dir is not None:
            from smallbms.report import recorder_for

            recorder = recorder_for(scenario, runner.twin)
            runner.observers.append(recorder)
        runner.run()
    if recorder is not None and report_dir is not None:
        from smallbms.report import write_report

        last = recorder.last_decision
        page = write_report(report_dir, scenario, recorder,
                            last.active_codes if last is not None else ())
        click.echo(f"report written to {page}", err=True)


@contextmanager
def _progress_bar(scenario: Scenario, show: bool
                  ) -> Iterator[tuple[ProgressFn | None, LogFn | None]]:
    """A rich progress bar on standard error, driven by simulated time; yields (callback, log).

    Yields ``(None, None)`` when not shown. While shown, messages go through the bar's console
    so they print above it instead of tearing it.
    """
    if not show:
        yield None, None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from smallbms.durations import format_duration
    from smallbms.report import clock

    total = scenario.duration_s
    console = Console(file=sys.stderr, force_terminal=True if not sys.stderr.isatty() else None)
    columns = (TextColumn("[bold]simulating"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[sim]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("simulate", total=total, sim="")
        span = format_duration(total)

        def on_progress(t_s: float) -> None:
            bar.update(task, completed=min(t_s, total), sim=f"{clock(t_s)} of {span}")

        def log(msg: str) -> None:
            bar.console.print(msg, markup=False, highlight=False)

        yield on_progress, log


# --- check ----------------------------------------------------------------------------------------

_GROUPS: tuple[tuple[str, str, str], ...] = (
    ("error", "Errors", "red"), ("warning", "Warnings", "yellow"), ("info", "Notes", "cyan"),
)


@main.command()
@click.argument("design_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True,
              help="Print the findings as a JSON list instead of text.")
def check(design_file: Path, as_json: bool) -> None:
    """Review the system design in DESIGN_FILE (a design or scenario TOML) before building it.

    Exit status: 0 no errors, 1 the design has errors, 2 the file cannot be read.
    """
    design, findings = _load_and_check(design_file)
    if as_json:
        click.echo(json.dumps([_finding_dict(f) for f in findings], indent=2))
    elif sys.stdout.isatty():
        _print_rich(design_file, design, findings)
    else:
        click.echo(_plain_text(design_file, design, findings), nl=False)
    sys.exit(1 if any(f.severity == "error" for f in findings) else 0)


def _load_and_check(path: Path) -> tuple[SystemDesign, list[Finding]]:
    """Read, parse and check a design file; exit 2 with a message naming it when it is unusable."""
    from smallbms.design_check import DesignError, SystemDesign, check_design

    def fail(message: str) -> NoReturn:
        click.echo(f"error: {path}: {message}", err=True)
        sys.exit(2)

    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as e:
        fail(f"cannot read the file: {e.strerror or e}")
    except UnicodeDecodeError as e:
        fail(f"not UTF-8 text: {e}")
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as e:
        fail(f"not valid TOML: {e}")
    try:
        design = SystemDesign.from_mapping(data)
        return design, check_design(design)
    except DesignError as e:
        fail(str(e))


def _finding_dict(f: Finding) -> dict[str, str | None]:
    return {"severity": f.severity, "code": f.code, "component": f.component,
            "message": f.message}


def _verdict(findings: Sequence[Finding]) -> str:
    """One sentence on the whole design."""
    n = {sev: sum(f.severity == sev for f in findings) for sev, _, _ in _GROUPS}
    counts = (f"{n['error']} error{'s' * (n['error'] != 1)}, "
              f"{n['warning']} warning{'s' * (n['warning'] != 1)}, "
              f"{n['info']} note{'s' * (n['info'] != 1)}")
    if n["error"]:
        return f"{counts}. Fix the errors before building this system."
    if n["warning"]:
        return f"{counts}. The design works; read the warnings."
    return f"{counts}. The design looks right."


def _heading(path: Path, design: SystemDesign) -> list[str]:
    name = design.name or path.stem
    return [f"Design: {name} ({path})",
            f"Bank: {design.battery}, {design.series} in series x {design.parallel} in parallel, "
            f"profile {design.profile}, {len(design.components)} component"
            f"{'s' * (len(design.components) != 1)}"]


def _plain_text(path: Path, design: SystemDesign, findings: Sequence[Finding]) -> str:
    """The findings grouped by severity, wrapped for a plain terminal or a file."""
    lines = _heading(path, design)
    for sev, title, _ in _GROUPS:
        group = [f for f in findings if f.severity == sev]
        if not group:
            continue
        lines += ["", f"{title} ({len(group)}):"]
        for f in group:
            lines += textwrap.wrap(f"[{f.code}] {f.message}", PLAIN_WIDTH,
                                   initial_indent="  - ", subsequent_indent="    ")
    lines += ["", _verdict(findings)]
    return "\n".join(lines) + "\n"


def _print_rich(path: Path, design: SystemDesign, findings: Sequence[Finding]) -> None:
    """The findings with colour and wrapping for a terminal."""
    from rich.console import Console
    from rich.markup import escape
    from rich.padding import Padding
    from rich.text import Text

    console = Console(highlight=False)
    head = _heading(path, design)
    console.print(f"[bold]{escape(head[0])}[/bold]")
    console.print(escape(head[1]))
    for sev, title, color in _GROUPS:
        group = [f for f in findings if f.severity == sev]
        if not group:
            continue
        console.print(f"\n[bold {color}]{title} ({len(group)})[/bold {color}]")
        for f in group:
            line = Text.assemble(("• ", color), (f.code, f"bold {color}"), " ", f.message)
            console.print(Padding(line, (0, 0, 0, 2)))
    console.print(f"\n[bold]{escape(_verdict(findings))}[/bold]")




# --- the running device --------------------------------------------------------------------------

#: ``smallbms run --log-level`` choices. Nothing the service logs at any level carries a secret
#: (PIN, PIN hash, session or CSRF token, Instant Readout key): tests/reliability/test_security.py
LOG_LEVELS = ("debug", "info", "warning", "error")


@main.command()
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              help="A TOML file with a [run] table (see docs/running.md).")
@click.option("--scenario", type=click.Path(path_type=Path, dir_okay=False),
              help="Twin scenario for the bank (default: the manual's first system example).")
@click.option("--port", type=int, default=None, help="HTTP port (default 8080).")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where state is kept (default: the user's data directory).")
@click.option("--tick", "tick_s", type=float, default=None, help="Control period, s (0.1-10).")
@click.option("--speed", type=float, default=None,
              help="Simulated seconds per real second for the twin (default 1).")
@click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False), default="info",
              show_default=True, help="How much the service logs to standard error.")
def run(config_file: Path | None, scenario: Path | None, port: int | None, host: str | None,
        data_dir: Path | None, tick_s: float | None, speed: float | None, log_level: str) -> None:
    """Run the BMS: the twin bank in real time, the web pages and API, SQLite state."""
    from smallbms.errors import ConfigError
    from smallbms.service.config import load_config
    from smallbms.service.datadir import DataDirBusy
    from smallbms.service.main import PortError, TickFailed, serve

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    try:
        cfg = load_config(config_file, {
            "scenario": scenario, "port": port, "host": host, "data_dir": data_dir,
            "tick_s": tick_s, "speed": speed,
        })
    except ConfigError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    try:
        serve(cfg, click.echo)
    except (PortError, DataDirBusy) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except (ScenarioError, ValueError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except TickFailed as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass


@main.group()
def pin() -> None:
    """The device PIN, handled on the machine that runs smallbms (not over the network)."""


@pin.command("reset")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The data directory of the device (default: as `smallbms run` would use).")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              help="The TOML file `smallbms run` uses, to find its data directory.")
def pin_reset(data_dir: Path | None, config_file: Path | None) -> None:
    """Make a new device PIN when the old one is lost, and print it.

    Needs access to this machine and its data directory, like the PUK of a phone: the history,
    the settings and the Instant Readout key are kept. smallbms must not be running on the
    data directory; every app must log in again with the new PIN.
    """
    from smallbms.errors import ConfigError
    from smallbms.service.auth import reset_pin
    from smallbms.service.config import load_config
    from smallbms.service.datadir import DataDirBusy, hold_data_dir
    from smallbms.service.store import Store, StoreError

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        data = load_config(config_file, {"data_dir": data_dir}).data_path
    except ConfigError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    db = data / "smallbms.sqlite3"
    if not db.is_file():
        click.echo(f"error: no smallbms data in {data} (no {db.name}); the PIN is made and "
                   "shown at the first `smallbms run`", err=True)
        sys.exit(2)
    try:
        with hold_data_dir(data, "reset the PIN"):
            store = Store(db)
            try:
                new = reset_pin(store)
            finally:
                store.close()
    except DataDirBusy as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    except StoreError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    logging.getLogger("smallbms.pin").info(
        "device PIN reset on this machine (smallbms pin reset) for %s", data)
    click.echo(f"New device PIN (keep it safe): {new}")
    click.echo("History and settings are kept. Log in again with the new PIN on every device.")


def _client_login(url: str, pin: str | None) -> str:
    from smallbms.service import client

    pin = pin or os.environ.get("SMALLBMS_PIN") or click.prompt("PIN", hide_input=True)
    return client.login(url, pin)


_URL = click.option("--url", default="http://127.0.0.1:8080", show_default=True,
                    help="Address of the running smallbms.")
_PIN = click.option("--pin", default=None,
                    help="Device PIN (default: $SMALLBMS_PIN, else asked for).")


@main.command()
@_URL
@_PIN
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON status.")
def status(url: str, pin: str | None, as_json: bool) -> None:
    """Show the status of a running smallbms."""
    from smallbms.service import client

    try:
        token = _client_login(url, pin)
        st = client.get_status(url, token)
    except client.ApiError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(st, indent=2))
        return
    click.echo(status_text(st))


def status_text(st: dict[str, Any]) -> str:
    """The status as ``smallbms status`` prints it: labels, units and rounding from the field
    table, reasons and outputs in words as on the web pages."""
    from smallbms.model.fields import FIELDS
    from smallbms.service.words import DISCHARGE_TEXT, OUTPUT_STATE_TEXT, OUTPUT_TEXT, reason_text

    s = st["status"]
    rows: list[tuple[str, str]] = []
    for name in ("soc_pct", "voltage_v", "current_a", "power_w", "consumed_ah"):
        f = FIELDS[f"status.{name}"]
        rows.append((f.label, f.text(s.get(f.key))))
    rows.append((FIELDS["status.time_remaining_s"].label, _fmt_remaining(s["time_remaining_s"])))
    for name in ("min_cell_voltage_v", "max_cell_voltage_v", "min_temperature_c",
                 "max_temperature_c"):
        f = FIELDS[f"status.{name}"]
        rows.append((f.label, f.text(s.get(f.key))))
    rows.append(("Mode", "on" if s["mode"] == "on" else "off"))

    def allowed(answer: str, reasons: list[str]) -> str:
        why = "; ".join(reason_text(r) for r in reasons)
        return f"{answer}: {why}" if why else answer

    rows.append((FIELDS["status.allowed_to_charge"].label,
                 allowed("yes" if s["allowed_to_charge"] else "no", s["charge_reasons"])))
    rows.append((FIELDS["status.allowed_to_discharge"].label,
                 allowed(DISCHARGE_TEXT.get(s["allowed_to_discharge"], s["allowed_to_discharge"]),
                         s["discharge_reasons"])))
    for out, state in s["outputs"].items():
        rows.append((OUTPUT_TEXT.get(out, out), OUTPUT_STATE_TEXT.get((out, state), state)))
    codes = st.get("active_codes") or []
    rows.append(("Active codes", ", ".join(f"{c['code']} {c['name']}" for c in codes) or "none"))
    width = max(len(label) for label, _ in rows) + 2
    return "\n".join(f"{label:<{width}}{value}" for label, value in rows)


def _fmt_remaining(seconds: float | None) -> str:
    """A duration as the pages show it: "3 d 17 h", "5 h 07 min", "12 min", "45 s"."""
    if seconds is None:
        return "—"
    d, rest = divmod(max(0, round(seconds)), 86400)
    h, rest = divmod(rest, 3600)
    if d:
        return f"{d} d {h} h"
    if h:
        return f"{h} h {rest // 60:02d} min"
    return f"{rest // 60} min" if rest >= 60 else f"{rest} s"


@main.command()
@_URL
@_PIN
@click.argument("changes", nargs=-1, metavar="[NAME=VALUE]...")
def settings(url: str, pin: str | None, changes: tuple[str, ...]) -> None:
    """Show the settings of a running smallbms, or change them (all or nothing)."""
    from smallbms.service import client

    values: dict[str, float] = {}
    for item in changes:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            values[name.strip()] = float(value)
        except ValueError:
            click.echo(f"error: {item!r}: expected NAME=NUMBER", err=True)
            sys.exit(2)
    try:
        token = _client_login(url, pin)
        st = client.change_settings(url, token, values) if values else client.get_settings(
            url, token)
    except client.ApiError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    for spec in st["specs"]:
        v = st["values"][spec["name"]]
        click.echo(f"{spec['name']:<28} {v:>8g} {spec['unit']:<14} "
                   f"({spec['minimum']:g}-{spec['maximum']:g}; default {spec['default']:g})")


# --- sweep (src/smallbms/sweep/command.py) ----------------------------------------------------------

main.add_command(_sweep_command, name="sweep")

# --- scan (src/smallbms/buses/command.py) ------------------------------------------------------------

main.add_command(_scan_command, name="scan")


if __name__ == "__main__":  # pragma: no cover
    main()
