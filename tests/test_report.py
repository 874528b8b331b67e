"""`smallbms simulate --report DIR` and the bounded recorder behind it.

Reports are written through the real command line into tmp_path; the plots are checked as real
PNG files that show something, the page for its content, and the event stream for being exactly
the same with and without a report.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import image as mpimg

from smallbms.core.types import CodeEvent, Decision, Leds
from smallbms.model.snapshot import Status
from smallbms.report import MAX_CELL_SNAPSHOTS, DecimatedSeries, Recorder, clock

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BASE_PLOTS = ("soc.png", "voltage.png", "cells.png", "temperature.png", "currents.png", "outputs.png",
              "codes.png")

SCRIPT_SCENARIO = """\
name = "report test: cell runs low"
duration = "20m"
seed = 3

[bank]
battery = "12.8/100"
soc_pct = 40
source = "script"

[settings]
low_soc_warning_pct = 30

[[reading]]
at = 0
cell_v = 3.30
current_a = -20

[[reading]]
at = "5m"
cell_v = 3.05

[[reading]]
at = "8m"
cell_v = 2.70

[[reading]]
at = "12m"
cell_v = 3.30
current_a = 10
"""


def simulate(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "smallbms.cli", "simulate", *args],
        capture_output=True, check=False, cwd=ROOT,
    )


def one_day_twin(tmp: Path) -> Path:
    """The manual's solar + BatteryProtect example, shortened to one day."""
    text = (ROOT / "examples" / "system_solar_batteryprotect.toml").read_text()
    text, n = re.subn(r'(?m)^duration = .*$', 'duration = "1d"', text)
    assert n == 1
    path = tmp / "one_day.toml"
    path.write_text(text)
    return path


class Run:
    """A scenario run twice: with a report and without."""

    def __init__(self, scenario: Path, out: Path) -> None:
        self.scenario = scenario
        self.report_dir = out / "report"
        self.with_report = simulate(str(scenario), "--report", str(self.report_dir))
        self.without = simulate(str(scenario))
        assert self.with_report.returncode == 0, self.with_report.stderr.decode()
        assert self.without.returncode == 0, self.without.stderr.decode()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.without.stdout.splitlines()]

    def page(self) -> str:
        return (self.report_dir / "index.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def script_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("script")
    path = tmp / "script.toml"
    path.write_text(SCRIPT_SCENARIO)
    return Run(path, tmp)


@pytest.fixture(scope="module")
def twin_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("twin")
    return Run(one_day_twin(tmp), tmp)


def assert_real_plot(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC, path
    pixels = np.asarray(mpimg.imread(path))
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(pixels[..., :3].std()) > 0.02, f"{path.name} looks blank"
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 20, path.name


# --- through the command line ---------------------------------------------------------------------


@pytest.mark.parametrize("run_name", ["script_run", "twin_run"])
def test_report_writes_a_page_and_every_plot(run_name: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(run_name)
    assert (run.report_dir / "index.html").is_file()
    for name in BASE_PLOTS:
        assert_real_plot(run.report_dir / name)


@pytest.mark.parametrize("run_name", ["script_run", "twin_run"])
def test_report_does_not_change_the_events(run_name: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(run_name)
    assert run.with_report.stdout == run.without.stdout
    assert run.with_report.stdout.endswith(b"\n")


@pytest.mark.parametrize("run_name", ["script_run", "twin_run"])
def test_page_names_the_scenario_and_lists_every_change(
    run_name: str, request: pytest.FixtureRequest,
) -> None:
    run: Run = request.getfixturevalue(run_name)
    page = run.page()
    name = tomllib.loads(run.scenario.read_text())["name"]
    assert f"<h1>{html.escape(name)}</h1>" in page
    assert str(run.scenario) in page
    for e in run.events():
        if e["type"] == "output":
            assert re.search(
                rf"<td class=\"t\">{re.escape(clock(e['t']))}</td><td>output</td>"
                rf"<td>{e['output'].replace('_', ' ').capitalize()}</td><td>{e['state']}",
                page,
            ), e
        elif e["type"] == "code":
            assert re.search(
                rf"<td class=\"t\">{re.escape(clock(e['t']))}</td><td>code</td>"
                rf"<td>{e['code']}[^<]*</td><td>{e['state']}</td>", page,
            ), e


def test_page_is_self_contained_and_links_its_plots(script_run: Run) -> None:
    page = script_run.page()
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert 'name="viewport"' in page
    for src in re.findall(r'<img src="([^"]+)"', page):
        assert "/" not in src and (script_run.report_dir / src).is_file()
    assert set(BASE_PLOTS) <= set(re.findall(r'<img src="([^"]+)"', page))


def test_script_page_shows_settings_codes_and_history(script_run: Run) -> None:
    page = script_run.page()
    summary = script_run.events()[-1]
    assert "Low SoC warning" in page or "low_soc_warning_pct" in page
    assert "Settings that differ from the defaults" in page
    assert "A-B01" in page  # the cell went below 2.80 V
    assert "History at the end" in page
    # labels, units and precision come from the data dictionary, not from raw key names
    assert "Deepest discharge ah" not in page and "_ah" not in page
    row = re.search(r"<td>Deepest discharge</td><td>(-?[0-9.]+) Ah</td>", page)
    assert row is not None, "the deepest discharge row shows a value with its unit"
    assert len(row.group(1).split(".")[1]) == 2  # the field's precision: 0.01 Ah
    assert re.search(r"<td>Charged energy</td><td>[0-9.]+ kWh</td>", page)
    for code in summary["active_codes"]:
        assert code in page


def test_twin_page_has_the_twin_plots_and_component_names(twin_run: Run) -> None:
    page = twin_run.page()
    assert_real_plot(twin_run.report_dir / "cell_spread.png")
    assert_real_plot(twin_run.report_dir / "temperature.png")
    assert "twin&#x27;s true SoC" in page
    assert "SmartSolar MPPT 75/15" in page  # the currents plot legend names components
    assert "12.8/200" in page


def test_report_directory_that_cannot_be_made_is_refused(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCRIPT_SCENARIO)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = simulate(str(scenario), "--report", str(blocker / "sub"))
    assert r.returncode == 2
    assert b"--report" in r.stderr
    assert r.stdout == b""


def test_forced_progress_writes_to_stderr_only(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCRIPT_SCENARIO)
    plain = simulate(str(scenario), "--no-progress")
    forced = simulate(str(scenario), "--progress")
    assert forced.returncode == 0
    assert forced.stdout == plain.stdout
    assert b"simulating" in forced.stderr
    assert b"simulating" not in plain.stderr


# --- the recorder on its own ----------------------------------------------------------------------


def _status(t: float) -> Status:
    return Status(
        powered=True, mode="on", soc_pct=50.0 + 40.0 * np.sin(t / 5e4), voltage_v=13.2,
        current_a=-5.0 + (t % 7), power_w=None, consumed_ah=None, time_remaining_s=None,
        min_cell_voltage_v=3.3 - 1e-7 * (t % 1000), max_cell_voltage_v=3.31, min_temperature_c=20.0,
        max_temperature_c=21.0, balancer=None, wireless_available=False, firmware_update="idle",
    )


class FakeCore:
    """Just enough of a core for the recorder: ``status()``."""

    def __init__(self) -> None:
        self.now: Status = _status(0.0)

    def status(self) -> Status:
        return self.now


def _decision(load: bool, codes: tuple[str, ...], events: tuple[CodeEvent, ...] = ()) -> Decision:
    return Decision(
        load_disconnect="high" if load else "floating", charge_disconnect="high",
        pre_alarm="floating", leds=Leds(), allowed_to_charge=True, allowed_to_discharge="yes",
        charge_reasons=(), discharge_reasons=(), active_codes=codes, events=events,
    )


def test_recorder_stays_within_its_point_budget_over_a_million_ticks() -> None:
    ticks = 1_000_000
    rec = Recorder(duration_s=float(ticks), max_points=20_000)
    core = FakeCore()
    normal = _decision(True, ())
    blip = _decision(False, ("A-B01",), (CodeEvent(0.0, "A-B01", "active"),))
    blip_at = 654_321
    for k in range(ticks):
        now = float(k)
        if k % 997 == 0:
            core.now = _status(now)
        rec(now, blip if k == blip_at else normal, core)
        if k % 100_000 == 0:
            assert len(rec.series) <= 20_000
    t, values, masks = rec.series.arrays()
    assert 5_000 <= len(t) <= 20_000
    assert np.all(np.diff(t) > 0)
    assert t[0] == 0.0 and t[-1] > ticks - 200
    # the one-tick load cut and its code survive the merging
    load = rec.column("load_disconnect")
    assert load.min() == 0.0 and load.sum() == len(load) - 1
    hit = int(np.flatnonzero(load == 0.0)[0])
    assert t[hit] <= blip_at < (t[hit + 1] if hit + 1 < len(t) else np.inf)
    assert int(masks[hit]) == 1 and int(masks.sum()) == 1
    assert rec.codes == ["A-B01"]
    # envelopes keep the extremes
    assert rec.column("i_lo").min() == pytest.approx(-5.0)
    assert rec.column("i_hi").max() == pytest.approx(1.0)
    assert values.shape[1] == len(rec.series.reducers)
    assert rec.ticks == ticks


def test_decimated_series_merges_into_uniform_buckets() -> None:
    series = DecimatedSeries(["min", "max", "last"], max_points=100, stage_size=10)
    for k in range(10_000):
        series.add(k * 0.5, [-k, k, k], mask=1 << (k % 3) if k % 1000 == 0 else 0)
        assert len(series) <= 100
    t, v, m = series.arrays()
    assert series.width_s > 0
    # one point per bucket, each at its first sample (samples are 0.5 s apart)
    assert np.all(np.abs(np.diff(t[:-1]) - series.width_s) <= 0.5)
    assert np.array_equal(np.floor(t / series.width_s), np.unique(np.floor(t / series.width_s)))
    assert v[:, 0].min() == -9999 and v[:, 1].max() == 9999 and v[-1, 2] == 9999
    assert int(np.bitwise_or.reduce(m)) == 0b111


def test_cell_snapshots_are_bounded() -> None:
    class Bank:
        cell_voltages_v = np.full((2, 4), 3.3)
        soc_pct = 55.0

    class St:
        component_currents_a = (1.0, -2.0)

    class Twin:
        bank = Bank()
        st = St()

    rec = Recorder(duration_s=1e5, twin=Twin(), component_names=["a", "b"])
    core = FakeCore()
    d = _decision(True, ())
    for k in range(0, 300_000, 3):  # runs three times longer than announced
        rec(float(k), d, core)
    snaps = rec.snapshots
    assert 50 <= len(snaps.times_s) <= MAX_CELL_SNAPSHOTS
    assert all(c.shape == (8,) for c in snaps.cells_v)
    assert rec.component_column(1, "last")[-1] == -2.0
    assert rec.column("true_soc")[-1] == 55.0


@pytest.mark.parametrize(("t", "text"), [
    (0.0, "0d 00:00:00"), (59.0, "0d 00:00:59"), (3600.0, "0d 01:00:00"),
    (2 * 86400 + 3 * 3600 + 14 * 60 + 5, "2d 03:14:05"), (90.5, "0d 00:01:30.5"),
])
def test_clock_format(t: float, text: str) -> None:
    assert clock(t) == text


def test_plot_legends_sit_outside_the_data() -> None:
    """A multi-series plot's legend is placed below the axes, never over the plotted data."""
    from smallbms.report import _figure, _legend

    fig, ax = _figure()
    x = np.linspace(0.0, 10.0, 50)
    ax.plot(x, np.sin(x), label="one")
    ax.plot(x, np.cos(x), label="two")
    ax.axhline(0.5, label="threshold")
    _legend(fig, ax)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # type: ignore[no-untyped-call]
    assert ax.get_legend() is None and len(fig.legends) == 1
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]
    legend_box = fig.legends[0].get_window_extent(renderer)
    axes_box = ax.get_window_extent(renderer)
    assert legend_box.y1 <= axes_box.y0, "the legend overlaps the axes"
