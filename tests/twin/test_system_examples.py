"""The manual's system examples (3.3.1-3.3.3) and the residual-load example run on the twin and
show what their header comments promise.

Each example is copied to ``tmp_path`` with a shorter duration (2 days instead of a week) so the
suite stays fast; a copy may also start lower or use a bigger residual load, which is said where
it is done.
"""

from __future__ import annotations

import io
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from smallbms.design_check import SystemDesign, check_design
from smallbms.scenario import load_scenario
from smallbms.simulate import run_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SYSTEMS = ("system_solar_batteryprotect.toml", "system_cyrix_combiner.toml",
           "system_phoenix_inverter.toml")


def copy(tmp_path: Path, name: str, **replace: str) -> Path:
    """``examples/name`` written to ``tmp_path`` with ``key = value`` lines replaced."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    for key, value in replace.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert n == 1, key
    out = tmp_path / name
    out.write_text(text, encoding="utf-8")
    return out


def run(path: Path, sample_interval_s: float) -> list[dict[str, Any]]:
    buf = io.StringIO()
    run_scenario(load_scenario(path), buf, sample_interval_s, log=lambda _m: None)
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def samples(ev: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in ev if e["type"] == "sample"]


@pytest.mark.parametrize("name", [*SYSTEMS, "twin_faults.toml"])
def test_examples_pass_the_design_check(name: str) -> None:
    with (EXAMPLES / name).open("rb") as f:
        findings = check_design(SystemDesign.from_mapping(tomllib.load(f)))
    assert [f for f in findings if f.severity == "error"] == []


def test_solar_charging_raises_soc_by_day(tmp_path: Path) -> None:
    ev = run(copy(tmp_path, "system_solar_batteryprotect.toml", duration='"2d"'), 1800.0)
    soc = {e["t"]: e["soc_pct"] for e in samples(ev)}
    for day in (0, 1):
        morning, afternoon = soc[day * 86400 + 8 * 3600], soc[day * 86400 + 16 * 3600]
        assert afternoon > morning + 3.0, (day, morning, afternoon)
    # charging current only in daylight (the load is the only thing at night)
    for e in samples(ev):
        hour = e["t"] % 86400 / 3600
        if hour < 5 or hour > 21:
            assert e["current_a"] <= 0.0, e


def test_cyrix_charges_only_while_the_engine_runs(tmp_path: Path) -> None:
    path = copy(tmp_path, "system_cyrix_combiner.toml", duration='"2d"')
    ev = run(path, 600.0)
    with path.open("rb") as f:
        windows = [w for w in tomllib.load(f)["component"][0]["running"]]
    spans = [(_secs(a), _secs(b)) for a, b in windows]
    charging = [e for e in samples(ev) if e["current_a"] > 0.5]
    assert charging, "the alternator never charged"
    for e in charging:
        assert any(a <= e["t"] < b for a, b in spans), e
    # each drive lifts the SoC
    soc = {e["t"]: e["soc_pct"] for e in samples(ev)}
    for a, b in spans:
        if b <= 2 * 86400:
            before = soc[max(t for t in soc if t <= a)]
            after = soc[min(t for t in soc if t >= b)]
            assert after > before, (a, b, before, after)


def test_inverter_is_cut_at_the_discharge_floor(tmp_path: Path) -> None:
    # starts at 30 % instead of 65 % so the floor comes on the first evening
    ev = run(copy(tmp_path, "system_phoenix_inverter.toml", duration='"2d"', soc_pct="30"),
             300.0)
    floor = [e["t"] for e in ev if e.get("code") == "A-B07" and e["state"] == "active"]
    assert floor, "the discharge floor was never reached"
    t0 = floor[0]
    assert {"t": t0, "type": "output", "output": "load_disconnect", "state": "floating"} in ev
    back = [e["t"] for e in ev if e.get("output") == "load_disconnect" and e["state"] == "high"
            and e["t"] > t0]
    t1 = back[0] if back else ev[-1]["t"]
    off = [e for e in samples(ev) if t0 < e["t"] < t1]
    assert off and all(e["current_a"] >= -0.05 for e in off)  # only the BMS's own draw
    before = [e for e in samples(ev) if t0 - 1800 < e["t"] < t0]
    assert before and all(e["current_a"] < -1.0 for e in before)  # the inverter was on
    # the charge disconnect never floated: the solar charger was never switched off
    assert [e for e in ev if e.get("output") == "charge_disconnect"] == [
        {"t": 0.0, "type": "output", "output": "charge_disconnect", "state": "high"}]


def test_residual_load_damages_the_battery(tmp_path: Path) -> None:
    # compressed: a 1 A residual load instead of 10 mA, so the damage comes in hours, not days
    path = copy(tmp_path, "residual_damage.toml", duration='"2d"')
    text = path.read_text(encoding="utf-8").replace("current_a = 0.01", "current_a = 1.0")
    path.write_text(text, encoding="utf-8")
    ev = run(path, 3600.0)
    shutdown = [e["t"] for e in ev if e.get("code") == "A-B01" and e["state"] == "active"]
    assert shutdown
    twin = ev[-1]["twin"]
    assert twin["damaged_batteries"] == [0]
    assert twin["damaged_at_s"][0] > shutdown[0]


def test_residual_example_as_written_is_a_12_day_story() -> None:
    s = load_scenario(EXAMPLES / "residual_damage.toml")
    assert s.duration_s == 12 * 86400
    assert [c.controlled_by for c in s.components] == ["load_disconnect", "none"]


def _secs(v: str) -> float:
    total = 0.0
    for num, unit in re.findall(r"([\d.]+)([dhms])", v):
        total += float(num) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[unit]
    return total
