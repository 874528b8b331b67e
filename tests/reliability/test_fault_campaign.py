"""The fault campaign: schedules that cover every action, a ground-truth recorder that sees what
the twin did, a bounded campaign with zero violations, and proof that the checker catches a core
broken on purpose.

The bounded campaign is the CI-sized sample of ``tools/reliability_faults.py`` (which runs 30
simulated days per seed): three seeds (one per system example) of three days each, with every
fault kind still injected.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from smallbms import scenario as sc
from smallbms.core import thresholds as th
from smallbms.simulate import make_runner
from tests.reliability.oracle.campaign import (
    ACTION_LABELS,
    SYSTEM_EXAMPLES,
    action_label,
    build_scenario,
    run_campaign,
    run_seed,
)
from tests.reliability.oracle.faults import DEEP_DISCHARGE, REQUIRED_KINDS
from tests.reliability.oracle.toml_out import dumps
from tests.reliability.oracle.truth import TruthRecorder

ROOT = Path(__file__).resolve().parents[2]


def test_a_schedule_covers_every_action_and_is_reproducible() -> None:
    a = build_scenario(4, days=2.0)
    assert a.text == build_scenario(4, days=2.0).text
    assert a.text != build_scenario(5, days=2.0).text
    s = a.scenario
    assert s.duration_s == 2 * 86400.0 and s.seed == 4 and s.bank.parallel == 2
    assert a.example == SYSTEM_EXAMPLES[4 % 3]
    labels = {action_label(ev) for ev in s.events}
    assert set(ACTION_LABELS) <= labels
    assert {ev.action for ev in s.events} == set(sc.ACTIONS)
    assert {f.kind for f in a.faults} == set(REQUIRED_KINDS)
    assert all(0 < ev.at_s <= s.duration_s for ev in s.events)
    # the deep discharge adds an uncontrolled load and a charger the BMS does not switch
    extra = [c for c in s.components if c.controlled_by == "none"]
    assert len(extra) == 2 and any(f.kind == DEEP_DISCHARGE for f in a.faults)
    # the text is a scenario file (it parsed above) that reads back to the same data
    assert tomllib.loads(dumps(tomllib.loads(a.text))) == tomllib.loads(a.text)


TRACED = """
name = "what the recorder sees"
duration = "10m"
seed = 3
[bank]
battery = "12.8/100"
parallel = 2
soc_pct = 70
source = "twin"
[[component]]
kind = "dc_load"
current_a = 5
controlled_by = "load_disconnect"
[[event]]
at = 60
action = "force_cell"
battery = 1
cell = 2
volts = 3.8
[[event]]
at = 70
action = "release"
[[event]]
at = 100.5
action = "comms_lost"
battery = 0
[[event]]
at = 130
action = "comms_restored"
[[event]]
at = 200
action = "power_cycle"
duration = 5
[[event]]
at = 300
action = "mode"
value = "off"
[[event]]
at = 400
action = "remote"
h_volts = 24
"""


def test_the_recorder_sees_what_the_twin_did() -> None:
    s = sc.parse_scenario(TRACED)
    runner = make_runner(s, io.StringIO(), log=lambda _m: None)
    rec = TruthRecorder(runner)
    runner.run()
    by_t = {k.t: k for k in rec.ticks}
    assert len(rec.ticks) == runner.core_steps
    assert [k.t for k in rec.ticks] == sorted(by_t)
    assert by_t[60.0].delivered[1] is not None and by_t[60.0].delivered[1][1] == 3.8
    assert all(b is not None and b[1] < 3.75 for b in by_t[70.0].delivered)
    assert by_t[100.5].present == (0, 1) and by_t[100.5].delivered[0] is None
    assert by_t[130.0].delivered[0] is not None
    assert [k.powered for k in rec.ticks if 199 <= k.t <= 206] == [
        True, False, False, False, False, False, False, True]
    assert by_t[300.0].commands == (("mode", "off"),)
    assert (by_t[400.0].remote_bridged, by_t[400.0].remote_h_v) == (False, 24.0)
    assert by_t[0.0].soc_pct == pytest.approx(70.0)
    assert 12.5 < by_t[0.0].bank_v < 14.0


def test_a_bounded_campaign_finds_no_violation() -> None:
    c = run_campaign(seeds=(0, 1, 2), days=3.0)
    assert [r.example for r in c.runs] == list(SYSTEM_EXAMPLES)
    assert c.violations == []
    assert c.missing_actions() == []
    rules = c.rules()
    for name, st in rules.items():
        assert st.violations == 0, name
        assert st.episodes == st.answered + st.ended_before_due, (name, st)
        assert st.worst_ticks <= 1, (name, st)
    # the faults really made charging and discharging unsafe, and each time the BMS answered
    for name in ("charge.overvoltage", "charge.low_temperature", "charge.high_temperature",
                 "charge.comms_lost", "charge.firmware_update", "load.undervoltage",
                 "load.low_bank_voltage", "load.comms_lost", "load.firmware_failed",
                 "both.unpowered", "both.no_data_since_power_up", "both.remote_off",
                 "both.mode_off", "both.hardware_fault", "both.voltage_not_allowed",
                 "both.bank_changed", "pre_alarm.low_cell", "pre_alarm.comms_lost"):
        assert rules[name].answered > 0, name
    assert c.lead_checks() > 0 and c.skipped_intervals() > 0
    # the deep discharge drove the twin hard, but its physics stayed sane
    assert c.physics().physical, c.physics()
    assert c.physics().min_cell_v < 2.5


def _broken(monkeypatch: pytest.MonkeyPatch, name: str, value: float) -> set[str]:
    monkeypatch.setattr(th, name, value)
    return {v.rule for v in run_seed(1, days=2.0).report.violations}


def test_a_core_without_its_overvoltage_rule_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "charge.overvoltage" in _broken(monkeypatch, "CELL_OVERVOLTAGE_TRIP_V", 99.0)


def test_a_core_without_the_30_s_lead_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "load.lead" in _broken(monkeypatch, "PRE_ALARM_LEAD_S", 0.0)


def test_a_core_with_a_slow_comms_timer_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "charge.comms_lost" in _broken(monkeypatch, "COMMS_WARNING_DELAY_S", 8.0)


def test_the_part_program_writes_its_part_file(tmp_path: Path) -> None:
    part = tmp_path / "faults.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "reliability_faults.py"), "--seeds", "2",
         "--days", "2", "--json", str(part)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK: target met" in proc.stdout
    doc = json.loads(part.read_text())
    assert doc["part"] == "faults" and doc["ok"] is True
    figs = doc["figures"]
    assert figs["runs"] == 1 and figs["simulated_days"] == 2.0 and figs["violations"] == 0
    assert figs["actions_missing"] == [] and figs["twin_physical"] is True
    assert set(figs["events_by_action"]) == set(ACTION_LABELS)
    assert "**Result: 0 violations" in doc["markdown"]
