"""Skipping quiet stretches gives the events of calling the core every second.

The runner skips BMS calls while the twin stays inside the core's quiet region; these tests run
the same scenarios with ``skip=True`` and ``skip=False`` (the core called every simulated second)
and require the same output, code and LED events in the same order, at times within one tick.
Cases include every fault action (``examples/twin_faults.toml``), the manual's system examples
shortened to a day, an undervoltage reached by the physics (with the 30 s pre-alarm lead) and
comms lost at odd times. ``skip=False`` costs ~10-25 s per simulated day, so the day-long cases
are marked slow.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from smallbms import scenario as sc
from smallbms.simulate import make_runner

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

UNDERVOLTAGE = """
name = "undervoltage reached by the physics"
duration = "3h"
seed = 5
[bank]
battery = "12.8/100"
soc_pct = 9
source = "twin"
[settings]
discharge_floor_pct = 0
[[component]]
kind = "dc_load"
current_a = 40
controlled_by = "load_disconnect"
[[component]]
kind = "dc_load"
current_a = 0.05
controlled_by = "none"
"""

COMMS_LOST = """
name = "comms lost at odd times on a 2-parallel bank"
duration = "4h"
seed = 6
[bank]
battery = "12.8/200"
parallel = 2
soc_pct = 50
source = "twin"
[[component]]
kind = "dc_load"
profile = [[0, 4.0], ["1h", 12.0], ["2h30m", 2.0]]
[[component]]
kind = "ac_charger"
current_a = 30
on = [["1h30m", "3h"]]
[[event]]
at = "37m13s"
action = "comms_lost"
battery = 1
[[event]]
at = "37m20s"
action = "comms_restored"
[[event]]
at = "1h50m"
action = "comms_lost"
[[event]]
at = "1h51m30.5s"
action = "comms_restored"
"""


BIG_BANK = """
name = "a 2 x 2 bank: undervoltage reached by the physics, then a recharge"
duration = "3h"
seed = 7
[bank]
battery = "12.8/100"
series = 2
parallel = 2
soc_pct = 9
source = "twin"
[settings]
discharge_floor_pct = 0
[[component]]
kind = "dc_load"
current_a = 80
controlled_by = "load_disconnect"
[[component]]
kind = "ac_charger"
current_a = 60
on = [["1h30m", "3h"]]
"""


FIFTY_BATTERIES = """
name = "50 x 25.6/300 (2s x 25p) on a summer day: the charge disconnect cycles"
duration = "13h30m"
seed = 2
[bank]
battery = "25.6/300"
series = 2
parallel = 25
soc_pct = 70
temperature_c = 20
source = "twin"
[[component]]
kind = "solar"
peak_w = 60000
latitude = 45
start_day = 180
[[component]]
kind = "inverter"
power_w = 6000
[[component]]
kind = "dc_load"
current_a = 20
"""


AT_THE_TRIP_TEMPERATURE = """
name = "a cabin at 5 °C: the batteries sit on the low-charge-temperature trip"
duration = "6h"
seed = 8
[bank]
battery = "12.8/100"
soc_pct = 26
temperature_c = 5
source = "twin"
[[component]]
kind = "dc_load"
profile = [[0, 3.0], ["2h", 8.0], ["3h", 1.0]]
controlled_by = "none"
[[component]]
kind = "ac_charger"
current_a = 10
on = [["3h", "5h"]]
"""


CREEPING_TO_A_TRIP = """
name = "batteries creeping through the 50 °C trip (ambient 50.0502 °C, a charger from 6 h)"
duration = "7h20m"
seed = 8
[bank]
battery = "12.8/100"
soc_pct = 40
temperature_c = 49
ambient_c = 50.0502
source = "twin"
[[component]]
kind = "dc_load"
current_a = 5
controlled_by = "none"
[[component]]
kind = "ac_charger"
current_a = 10
on = [["6h", "9h"]]
"""

RUN_FLAT_BELOW_THE_SUPPLY = """
name = "a load runs the bank below 9 V (E-B09) and 8 V (no supply); a charger brings it back"
duration = "3h"
seed = 9
[bank]
battery = "12.8/100"
soc_pct = 4
temperature_c = 20
source = "twin"
[[component]]
kind = "dc_load"
current_a = 8
controlled_by = "none"
[[component]]
kind = "ac_charger"
current_a = 20
controlled_by = "none"
on = [["2h", "3h"]]
"""


def events(s: sc.Scenario, skip: bool) -> list[dict[str, Any]]:
    """The run's output, code and LED events (samples and the summary left out)."""
    buf = io.StringIO()
    make_runner(s, buf, sample_interval_s=3600.0, log=lambda _m: None, skip=skip).run()
    out = [json.loads(line) for line in buf.getvalue().splitlines()]
    return [e for e in out if e["type"] not in ("sample", "summary")]


def shortened(path: Path, duration_s: float) -> sc.Scenario:
    s = sc.load_scenario(path)
    return dataclasses.replace(
        s, duration_s=duration_s, events=tuple(e for e in s.events if e.at_s <= duration_s))


def assert_same(s: sc.Scenario) -> None:
    fast, dense = events(s, True), events(s, False)
    strip = [{k: v for k, v in e.items() if k != "t"} for e in fast]
    assert strip == [{k: v for k, v in e.items() if k != "t"} for e in dense]
    for a, b in zip(fast, dense, strict=True):
        assert abs(a["t"] - b["t"]) <= s.step_s + 1e-9, (a, b)
    assert (any(e["type"] == "code" for e in dense) or s.name.startswith("system")
            or any(e["type"] == "output" for e in dense[3:]))


def test_undervoltage_with_pre_alarm_lead() -> None:
    s = sc.parse_scenario(UNDERVOLTAGE)
    ev = events(s, True)
    codes = [(e["code"], e["state"]) for e in ev if e["type"] == "code"]
    assert ("A-B01", "active") in codes
    assert_same(s)


def test_a_big_bank_whose_exits_are_located_to_the_second() -> None:
    """Four batteries and more: a region exit is narrowed to the second (the BMS reads the tick
    before and after it, not a 60 s piece), and the events are still the every-second run's."""
    s = sc.parse_scenario(BIG_BANK)
    runner = make_runner(s, io.StringIO(), 3600.0, log=lambda _m: None, skip=True)
    assert runner.twin is not None and runner.twin.exit_resolution_s == 1.0
    runner.run()
    ev = events(s, True)
    codes = [(e["code"], e["state"]) for e in ev if e["type"] == "code"]
    assert ("A-B01", "active") in codes and ("A-B01", "cleared") in codes
    assert runner.core_steps < 400  # 3 h: 10,800 ticks if read every second
    assert_same(s)


def test_fifty_batteries_cycling_the_charge_disconnect() -> None:
    """The bench's 400-cell bank on a summer day: the full bank floats and restores the charge
    disconnect every ~20 minutes; the skip run reads 45 ticks instead of 48,601 and gives
    every event at the every-second run's second."""
    s = sc.parse_scenario(FIFTY_BATTERIES)
    ev = events(s, True)
    cycles = [e for e in ev if e["type"] == "output" and e["output"] == "charge_disconnect"
              and e["state"] == "floating"]
    assert len(cycles) >= 3
    assert_same(s)


def test_batteries_at_a_trip_temperature_still_skip() -> None:
    """At a 5 °C ambient the batteries report 5.0 °C, on the low-charge-temperature trip (which
    acts below it): nothing changes, and the run skips instead of reading every second."""
    s = sc.parse_scenario(AT_THE_TRIP_TEMPERATURE)
    buf = io.StringIO()
    runner = make_runner(s, buf, 900.0, log=lambda _m: None, skip=True)
    runner.run()
    samples = [json.loads(x) for x in buf.getvalue().splitlines() if '"sample"' in x]
    assert sum(x["temperature_c"] == 5.0 for x in samples) >= 10  # of 24: sitting on the trip
    assert runner.core_steps < 300  # 6 h: 21,600 ticks if read every second
    assert_same(s)


def test_a_temperature_creeping_through_a_trip() -> None:
    """The batteries warm towards an ambient a hair above the rounding edge (50.05 °C, reported
    50.1 °C: past the 50 °C trip) and cross it after some 7 hours, ever more slowly. The skipping
    and the every-second run step the cells differently and part by ~1e-5 °C, which a creep
    this slow turns into seconds: the temperature guard makes the skipping run read every
    second near the edge, and A-B09 comes at the every-second run's second (2 s early
    without it)."""
    s = sc.parse_scenario(CREEPING_TO_A_TRIP)
    codes = [(e["code"], e["state"]) for e in events(s, True) if e["type"] == "code"]
    assert ("A-B09", "active") in codes
    assert_same(s)


def test_running_flat_below_the_supply_voltage() -> None:
    """With E-B09 active on the low side the skip still stops where the BMS loses its supply
    (below 8 V), not one sample later; without supply it skips, and stops where the charger
    brings the bank back to 8 V and the BMS starts again."""
    s = sc.parse_scenario(RUN_FLAT_BELOW_THE_SUPPLY)
    runner = make_runner(s, io.StringIO(), 3600.0, log=lambda _m: None, skip=True)
    runner.run()
    assert runner.core_steps < 1_000  # 3 h: 10,800 ticks if read every second
    ev = events(s, True)
    e_b09 = [(e["t"], e["state"]) for e in ev if e.get("code") == "E-B09"]
    assert [state for _, state in e_b09] == ["active", "cleared", "active", "cleared"]
    assert e_b09[2][0] > 7_200.0  # the supply is back once the charger runs
    assert_same(s)


OFF_THE_STEP_GRID = """
name = "a load step off the step grid"
duration = "3h"
step = {step}
seed = 5
[bank]
battery = "12.8/100"
soc_pct = 13
temperature_c = 20
source = "twin"
[[component]]
kind = "dc_load"
controlled_by = "none"
profile = [[0, 2], [{at}, 400]]
"""


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "interpreted"])
@pytest.mark.parametrize(("step", "at"), [(1.0, 5400.5), (2.0, 5401.0), (0.5, 5400.25)])
def test_a_region_left_right_after_a_segment_start_off_the_step_grid(
        step: float, at: float, compiled: bool) -> None:
    """The load steps up off the step grid (5400.5 s at 1 s steps) and the cells leave the
    region at once. The skip stops at that segment's start, past the tick before the exit
    (5400 s, which would read the quiet end of the previous segment), so the BMS reads next at
    the first tick after it (5401 s), the first at which the every-second run sees the step,
    and every tick from there: the every-second run's events, at its ticks."""
    s = sc.parse_scenario(OFF_THE_STEP_GRID.format(step=step, at=at))
    ticks: list[float] = []
    runner = make_runner(s, io.StringIO(), 3600.0, log=lambda _m: None, skip=True)
    assert runner.twin is not None
    runner.twin.compiled_quiet = compiled
    runner.observers.append(lambda t, _d, _core: ticks.append(t))
    runner.run()
    before, after = math.floor(at / step) * step, math.ceil(at / step) * step
    assert after in ticks and before not in ticks and at not in ticks
    assert runner.core_steps < 1_000  # 3 h: 10,800 s
    fast, dense = events(s, True), events(s, False)
    assert ("W-B01", "active") in [(e.get("code"), e.get("state")) for e in fast]
    assert fast == dense


def test_comms_lost_at_odd_times() -> None:
    assert_same(sc.parse_scenario(COMMS_LOST))


def test_faults_first_hours() -> None:
    """The comms, forcing and release actions of twin_faults (its first 5.5 h)."""
    assert_same(shortened(EXAMPLES / "twin_faults.toml", 5.5 * 3600))


@pytest.mark.slow
def test_every_fault_action() -> None:
    assert_same(sc.load_scenario(EXAMPLES / "twin_faults.toml"))


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    "system_solar_batteryprotect.toml", "system_cyrix_combiner.toml",
    "system_phoenix_inverter.toml",
])
def test_system_examples_one_day(name: str) -> None:
    assert_same(shortened(EXAMPLES / name, 86400.0))
