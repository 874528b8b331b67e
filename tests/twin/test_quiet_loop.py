"""The compiled quiet loop (sources/quiet_loop.py) against the interpreted twin: whole runs with
the BMS in the loop write the same event log byte for byte, on systems that use every kind of
component, several batteries, a polar night (the loop hands back to the interpreter) and
faults (a forced cell: the interpreter takes over)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from smallbms import scenario as sc
from smallbms.simulate import make_runner
from smallbms.sources import quiet_loop
from smallbms.twin.cell import NUMBA_AVAILABLE

pytestmark = pytest.mark.skipif(not NUMBA_AVAILABLE, reason="the loop is compiled")

CAMPER = """
name = "camper"
duration = "4d"
seed = 3
[bank]
battery = "12.8/200"
soc_pct = 45
temperature_c = 15
source = "twin"
[[component]]
kind = "solar"
peak_w = 300
latitude = 50
start_day = 150
cloudiness = 0.5
max_current_a = 20
[[component]]
kind = "inverter"
profile = "camper_evening"
[[component]]
kind = "dc_load"
profile = "fridge"
"""

EVERYTHING = """
name = "every kind"
duration = "3d"
seed = 5
[bank]
battery = "12.8/100"
series = 2
parallel = 2
soc_pct = 25
temperature_c = 20
source = "twin"
[[component]]
kind = "ac_charger"
current_a = 30
on = [["10h", "16h"], ["40h", "44h"]]
[[component]]
kind = "alternator"
current_a = 50
running = [["20h", "22h"]]
[[component]]
kind = "battery_protect"
current_a = 4
[[component]]
kind = "dc_load"
power_w = 150
controlled_by = "none"
[[component]]
kind = "inverter"
power_w = 300
"""

POLAR = """
name = "polar night"
duration = "3d"
seed = 7
[bank]
battery = "12.8/100"
soc_pct = 60
temperature_c = 12
source = "twin"
[[component]]
kind = "solar"
peak_w = 200
latitude = 80
start_day = 340
[[component]]
kind = "dc_load"
profile = "night_lights"
"""

DAMAGE = """
name = "an uncontrolled load runs two batteries in series flat"
duration = "20h"
seed = 9
[bank]
battery = "12.8/100"
series = 2
soc_pct = 6
temperature_c = 20
source = "twin"
[[component]]
kind = "dc_load"
current_a = 6
controlled_by = "none"
"""

FAULT = CAMPER.replace('duration = "4d"', 'duration = "2d"') + """
[[event]]
at = "30h"
action = "force_cell"
battery = 0
cell = 1
volts = 2.7
[[event]]
at = "31h"
action = "release"
battery = 0
"""


def run(text: str, compiled: bool) -> tuple[str, bool]:
    """The event log, and whether the compiled loop built its table."""
    out = io.StringIO()
    runner = make_runner(sc.parse_scenario(text), out, 600.0, log=lambda _m: None)
    assert runner.twin is not None
    runner.twin.compiled_quiet = compiled
    runner.run()
    return out.getvalue(), runner.twin.component_table is not None


@pytest.mark.parametrize("text", [CAMPER, EVERYTHING, POLAR, FAULT, DAMAGE],
                         ids=["camper", "every kind, 2 x 2", "polar night", "forced cell",
                              "cells damaged"])
def test_compiled_and_interpreted_runs_write_the_same_events(
        text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes: list[float | None] = []
    real_run = quiet_loop.run

    def counted(*args: Any, **kwargs: Any) -> float | None:
        reached = real_run(*args, **kwargs)
        outcomes.append(reached)
        return reached

    monkeypatch.setattr(quiet_loop, "run", counted)
    compiled, used = run(text, True)
    handed_back = outcomes.count(None)
    if text in (POLAR, FAULT):  # the sun beyond the table; a forced cell
        assert handed_back > 0
    else:
        assert handed_back == 0
    interpreted, unused = run(text, False)
    assert used and not unused
    assert compiled.count("\n") > 10
    assert compiled == interpreted
    if text is DAMAGE:  # the damage times come from inside the compiled stretch
        assert '"damaged_batteries": [0, 1]' in compiled


def test_the_loop_covers_a_plain_twin_only() -> None:
    runner = make_runner(sc.parse_scenario(CAMPER), io.StringIO(), 600.0)
    twin = runner.twin
    assert twin is not None and quiet_loop.covers(twin)
    twin.force_cell(0, 0, 3.0)
    assert not quiet_loop.covers(twin)
    twin.release(0)
    assert quiet_loop.covers(twin)
