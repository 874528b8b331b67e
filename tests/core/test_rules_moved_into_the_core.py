"""Rules that used to be worked out around the core and are now the core's own (issue 11 s. 2),
and the core's public boundary (s. 3): SPEC 14 self-consumption, SPEC 9 current threshold and
time-remaining average, E-B11 read-back debounce and hold, all-or-nothing settings changes,
SPEC 18 event order, the quiet region's SoC prediction."""

from __future__ import annotations

import ast
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallbms.core import monitor as mon
from smallbms.core import thresholds as th
from smallbms.core.engine import Core
from smallbms.core.persist import persistent_from_dict, persistent_to_dict
from smallbms.core.quiet import soc_change_pct
from smallbms.core.settings import SETTING_SPECS, SettingError, Settings, change_settings
from smallbms.core.types import (
    AcceptBank,
    ChangeSettings,
    Reading,
    RemoteInput,
    SetSoc,
    SyncSoc,
)

from .helpers import Driver, battery, one_cell, reading

CORE = Path(__file__).resolve().parents[2] / "src" / "smallbms" / "core"

# --- SPEC 14: the self-consumption state is the core's decision -------------------------------


def test_self_consumption_is_on_while_the_bms_runs_normally():
    drv = Driver()
    assert drv.commission().self_consumption == "on"


def test_self_consumption_is_low_when_remote_off():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(remote=RemoteInput(bridged=False)))
    assert "remote_off" in d.discharge_reasons
    assert d.self_consumption == "low"
    assert drv.tick(reading()).self_consumption == "on"


def test_self_consumption_is_low_in_the_low_cell_voltage_state():
    drv = Driver()
    drv.commission()
    d = drv.run(one_cell(2.7), 40)  # A-B01 after the 30 s pre-alarm lead
    assert "A-B01" in d.active_codes
    assert d.self_consumption == "low"


def test_self_consumption_is_on_during_the_pre_alarm_lead():
    drv = Driver()
    drv.commission()
    d = drv.run(one_cell(2.7), 10)
    assert "A-B01" not in d.active_codes and d.self_consumption == "on"


def classic_reading(**kw: object) -> Reading:
    return reading(batteries=(battery("HQ0001", "smart-12.8/100"),), **kw)  # type: ignore[arg-type]


def test_classic_self_consumption_is_low_when_remote_off():
    drv = Driver(profile="classic")
    drv.commission(classic_reading())
    assert drv.tick(classic_reading(remote=RemoteInput(bridged=False))).self_consumption == "low"


def test_classic_self_consumption_is_low_in_the_low_cell_voltage_state():
    """SPEC 14: classic draws 2.2 mA on and 1.2 mA in the low-cell-voltage state as well."""
    drv = Driver(profile="classic")
    drv.commission(classic_reading())
    low = battery("HQ0001", "smart-12.8/100", cells=(3.3, 3.3, 2.7, 3.3))
    d = drv.run(reading(batteries=(low,)), 10)
    assert d.self_consumption == "on"  # the pre-alarm lead: still on
    d = drv.run(reading(batteries=(low,)), 30)
    assert "low_cell_voltage" in d.discharge_reasons
    assert d.self_consumption == "low"


# --- SPEC 9: the 0.1 A current threshold, counted the core's way ------------------------------


def test_currents_below_0_1_a_count_as_zero_in_the_charge_counter():
    c = mon.ChargeCounter()
    c.add(-0.09, 3600.0)
    c.add(0.0999, 3600.0)
    assert (c.charged_ah, c.discharged_ah) == (0.0, 0.0)
    c.add(-0.1, 3600.0)  # 0.1 A itself counts
    c.add(2.0, 1800.0)
    assert c.discharged_ah == pytest.approx(0.1)
    assert c.charged_ah == pytest.approx(1.0)


@given(st.lists(st.tuples(st.floats(-50.0, 50.0), st.floats(0.0, 3600.0)), max_size=30))
def test_currents_below_0_1_a_count_as_zero_property(steps: list[tuple[float, float]]):
    c = mon.ChargeCounter()
    for i, dt in steps:
        c.add(i, dt)
    want_c = sum(i * dt / 3600.0 for i, dt in steps if i >= mon.CURRENT_THRESHOLD_A)
    want_d = sum(-i * dt / 3600.0 for i, dt in steps if i <= -mon.CURRENT_THRESHOLD_A)
    assert c.charged_ah == pytest.approx(want_c, abs=1e-9)
    assert c.discharged_ah == pytest.approx(want_d, abs=1e-9)
    assert c.charged_ah >= 0.0 and c.discharged_ah >= 0.0


@given(st.lists(st.floats(-50.0, 50.0), min_size=1, max_size=20), st.floats(0.0, 600.0))
def test_charge_counting_is_the_same_on_arrays_as_on_floats(currents: list[float], dt: float):
    """The fleet counts many systems at once with the same function."""
    arr_c, arr_d = mon.counted_ah(np.array(currents), dt)
    for k, i in enumerate(currents):
        c, d = mon.counted_ah(i, dt)
        assert (arr_c[k], arr_d[k]) == (c, d)


# --- SPEC 9: time remaining from the first reading after a start ------------------------------


def test_time_remaining_starts_from_the_first_reading_after_power_up():
    """Issue 15 item 5: not "10 d 0 h" for minutes after every start."""
    drv = Driver()
    drv.commission(reading(current_a=-10.0))
    drv.tick(reading(current_a=-10.0), [SetSoc(80.0)])
    st_ = drv.core.status()
    assert st_.time_remaining_s is not None
    # (80 - 10) % of 100 Ah at 10 A: about 7 h (Peukert makes it a little shorter)
    assert 6.5 * 3600 < st_.time_remaining_s < 7.0 * 3600


def test_time_remaining_average_is_still_the_3_min_exponential_average():
    drv = Driver()
    drv.commission(reading(current_a=-10.0))
    drv.run(reading(current_a=-20.0), mon.AVERAGING_TIME_S)
    avg = drv.core.p.monitor.avg_current_a
    assert avg == pytest.approx(-10.0 - 10.0 * (1.0 - math.exp(-1.0)), rel=1e-9)


def test_time_remaining_average_restarts_after_a_restore():
    """A stored average is hours old at the next start: the first reading replaces it."""
    drv = Driver()
    drv.commission(reading(current_a=-1.0))
    drv.run(reading(current_a=-1.0), 600, [SetSoc(80.0)])
    saved = persistent_to_dict(drv.core.persistent())
    core = Core("ng", persistent_from_dict(saved))
    core.step(reading(current_a=-50.0), 0.0)
    assert core.p.monitor.avg_current_a == -50.0


# --- E-B11: read-back debounce and clear hold, in seconds ------------------------------------


def mismatch(*names: str) -> Reading:
    return Reading(bank_voltage_v=13.2, batteries=(battery(),), current_a=0.0,
                   readback_mismatch=frozenset(names))


def test_readback_mismatch_shorter_than_the_debounce_is_no_fault():
    drv = Driver()
    drv.commission()
    drv.tick(mismatch("charge_disconnect"))
    drv.tick(mismatch("charge_disconnect"))  # 1 s of a 2 s debounce
    d = drv.tick(reading())
    assert "E-B11" not in d.active_codes
    assert drv.core.readback_faults == ()


def test_readback_mismatch_for_the_debounce_raises_e_b11():
    drv = Driver()
    drv.commission()
    for _ in range(2):
        assert "E-B11" not in drv.tick(mismatch("charge_disconnect")).active_codes
    d = drv.tick(mismatch("charge_disconnect"))  # 2 s after the first mismatch
    assert "E-B11" in d.active_codes
    assert (d.load_disconnect, d.charge_disconnect) == ("floating", "floating")
    assert drv.core.readback_faults == ("charge_disconnect",)


def test_readback_debounce_restarts_when_the_output_is_commanded_anew():
    drv = Driver()
    drv.commission()
    drv.tick(mismatch("load_disconnect"))  # t = 1: the debounce starts
    off = RemoteInput(bridged=False)
    d = drv.tick(dataclasses.replace(mismatch("load_disconnect"), remote=off))
    assert d.load_disconnect == "floating"  # t = 2: a new command, the relay gets time again
    codes = [drv.tick(dataclasses.replace(mismatch("load_disconnect"), remote=off)).active_codes
             for _ in range(3)]  # t = 3, 4, 5
    assert ["E-B11" in c for c in codes] == [False, False, True]


def test_readback_debounce_is_in_seconds_whatever_the_reading_interval():
    for dt in (0.5, 1.0):
        drv = Driver(dt=dt)
        drv.commission()
        first = None
        while "E-B11" not in drv.last.active_codes:
            drv.tick(mismatch("pre_alarm"))
            first = drv.now if first is None else first
        assert first is not None and drv.now is not None
        assert drv.now - first == pytest.approx(th.READBACK_DEBOUNCE_S)


@given(st.lists(st.floats(0.1, 1.5), min_size=1, max_size=40))
def test_readback_debounce_is_in_seconds_property(gaps: list[float]):
    """E-B11 comes at the first reading at or after first mismatch + debounce, whatever the
    intervals between readings."""
    core = Core("ng")
    core.step(reading(), 0.0)
    t = prev = 0.0
    first: float | None = None
    tripped: float | None = None
    for g in gaps:
        prev, t = t, t + g
        first = t if first is None else first
        if "E-B11" in core.step(mismatch("pre_alarm"), t).active_codes:
            tripped = t
            break
    assert first is not None
    due = first + th.READBACK_DEBOUNCE_S
    if tripped is None:
        assert t < due
    else:
        assert tripped >= due and prev < due


def test_readback_debounce_comes_from_the_device():
    core = Core("ng", readback_debounce_s=0.0)
    core.step(reading(), 0.0)
    assert "E-B11" in core.step(mismatch("pre_alarm"), 1.0).active_codes


def test_readback_deadline_lets_a_skipping_runner_land_on_the_trip():
    core = Core("ng")
    core.step(reading(), 0.0)
    core.step(mismatch("pre_alarm"), 1.0)
    assert core.next_deadline_s() == 1.0 + th.READBACK_DEBOUNCE_S


def stuck_open(drv: Driver, name: str) -> Reading:
    """The reading a relay that cannot close gives: its read-back floats, so it disagrees with
    the output exactly while the output is commanded high."""
    high = drv.last.output(name) == "high"
    return mismatch(name) if high else mismatch()


def test_e_b11_floats_both_outputs_until_the_fault_is_gone_relay_that_cannot_close():
    """SPEC 6/7: E-B11 floats both disconnects until the fault is gone. A relay that cannot
    close looks healthy while it is floated, so the fault it showed under "high" is never seen
    gone: E-B11 holds (no retry that switches the other output back on) until power-up."""
    drv = Driver()
    drv.commission()
    assert drv.last.charge_disconnect == "high"
    while "E-B11" not in drv.last.active_codes:
        drv.tick(stuck_open(drv, "charge_disconnect"))
    for _ in range(int(5 * th.READBACK_CLEAR_HOLD_S)):
        d = drv.tick(stuck_open(drv, "charge_disconnect"))
        assert "E-B11" in d.active_codes
        assert (d.load_disconnect, d.charge_disconnect) == ("floating", "floating")
    assert drv.core.readback_faults == ("charge_disconnect",)
    t = drv.now
    assert t is not None
    drv.core.power_up(t + 1)  # volatile state gone: the relay gets a new chance
    drv.now = t + 1
    d = drv.tick(stuck_open(drv, "charge_disconnect"))
    assert "E-B11" not in d.active_codes and d.charge_disconnect == "high"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0.1, 20.0), st.sets(st.sampled_from(
    ("load_disconnect", "charge_disconnect", "pre_alarm")))), min_size=1, max_size=30))
def test_e_b11_floats_both_outputs_until_the_fault_is_gone_property(
        later: list[tuple[float, set[str]]]):
    """Once an output faulted while commanded high, no later read-backs (whatever they show,
    at whatever intervals) bring either disconnect back to high before a power-up."""
    core = Core("ng")
    t = 0.0
    core.step(reading(), t)
    while "E-B11" not in core.step(mismatch("load_disconnect"), t := t + 1.0).active_codes:
        pass
    for gap, names in later:
        t += gap
        d = core.step(mismatch(*names), t)
        assert "E-B11" in d.active_codes
        assert (d.load_disconnect, d.charge_disconnect) == ("floating", "floating")


def test_e_b11_fault_under_floating_is_gone_when_the_read_back_drops():
    """A welded contact (read-back high while commanded floating) is seen gone once the
    read-back follows "floating" again for the hold time."""
    drv = Driver()
    drv.commission()
    assert drv.last.pre_alarm == "floating"
    d = drv.run(mismatch("pre_alarm"), 3)
    assert "E-B11" in d.active_codes
    assert drv.core.readback_faults == ("pre_alarm",)
    drv.tick(reading())
    start = drv.now
    assert start is not None
    d = drv.run(reading(), th.READBACK_CLEAR_HOLD_S - 1)
    assert "E-B11" in d.active_codes
    d = drv.tick(reading())
    assert drv.now == start + th.READBACK_CLEAR_HOLD_S
    assert "E-B11" not in d.active_codes and not drv.core.readback_faults
    assert (d.load_disconnect, d.charge_disconnect) == ("high", "high")


def test_e_b11_fault_hold_restarts_when_the_read_back_disagrees_again():
    drv = Driver()
    drv.commission()
    drv.run(mismatch("pre_alarm"), 3)
    drv.run(reading(), th.READBACK_CLEAR_HOLD_S - 5)
    drv.tick(mismatch("pre_alarm"))  # the contact closes again for a moment
    d = drv.run(reading(), th.READBACK_CLEAR_HOLD_S)  # follows from here: t0 .. t0 + hold - 1
    assert "E-B11" in d.active_codes
    assert "E-B11" not in drv.tick(reading()).active_codes  # t0 + hold


def test_output_fault_from_the_io_layer_is_e_b11_at_once():
    drv = Driver()
    drv.commission()
    assert "E-B11" in drv.tick(reading(output_fault=True)).active_codes
    assert "E-B11" not in drv.tick(reading()).active_codes


# --- settings: several at once, all or nothing ------------------------------------------------


def test_change_settings_is_all_or_nothing_in_any_order():
    """Warning 50 % and floor 30 % from 20/10: floor first would be fine, warning first too;
    but floor 60 % with warning 70 % needs the warning first - one command needs no order."""
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(), [ChangeSettings({"discharge_floor_pct": 60.0,
                                             "low_soc_warning_pct": 70.0})])
    assert d.command_results[0].accepted
    assert (drv.core.settings.low_soc_warning_pct, drv.core.settings.discharge_floor_pct) == (
        70.0, 60.0)


def test_change_settings_refused_changes_nothing_and_names_the_setting():
    drv = Driver()
    drv.commission()
    before = drv.core.settings
    d = drv.tick(reading(), [ChangeSettings({"tail_current_pct": 2.0,
                                             "charged_voltage_v": 20.0})])
    r = d.command_results[0]
    assert not r.accepted and r.setting == "charged_voltage_v"
    assert "out of range" in r.message
    assert drv.core.settings == before


def test_change_settings_is_refused_by_the_classic_bms():
    drv = Driver(profile="classic")
    drv.commission(classic_reading())
    r = drv.tick(classic_reading(), [ChangeSettings({"tail_current_pct": 2.0})]).command_results[0]
    assert not r.accepted and "classic" in r.message


_VALUE = st.one_of(st.floats(-5.0, 120.0), st.booleans(), st.none(), st.text(max_size=3))


@given(st.dictionaries(st.sampled_from([s.name for s in SETTING_SPECS] + ["no_such"]), _VALUE,
                       max_size=4))
@settings(max_examples=200)
def test_change_settings_is_all_or_nothing_property(values: dict[str, object]):
    core = Core("ng")
    core.step(reading(), 0.0)
    before = core.settings
    try:
        want: Settings | None = change_settings(before, values)
    except SettingError:
        want = None
    r = core.step(reading(), 1.0, [ChangeSettings(values)]).command_results[0]
    assert r.accepted == (want is not None)
    assert core.settings == (want if want is not None else before)


# --- SPEC 18: the commands of time t act after the reading of time t --------------------------


def test_set_soc_with_the_first_reading_is_accepted():
    """Issue 15 item 11: a scenario that starts with set_soc at t = 0."""
    core = Core("ng")
    d = core.step(reading(), 0.0, [SetSoc(55.0)])
    assert d.command_results[0].accepted
    assert core.status().soc_pct == pytest.approx(55.0)


def test_sync_soc_with_the_first_reading_is_accepted():
    core = Core("ng")
    assert core.step(reading(), 0.0, [SyncSoc()]).command_results[0].accepted
    assert core.status().soc_pct == 100.0


def test_set_soc_is_refused_while_no_complete_reading_was_ever_taken():
    """The device right after a power-up with a silent bus keeps the refusal."""
    core = Core("ng")
    r = core.step(Reading(13.2, ()), 0.0, [SetSoc(55.0)]).command_results[0]
    assert not r.accepted and r.message == "the bank is not known yet"
    r = core.step(Reading(13.2, ()), 1.0, [AcceptBank()]).command_results[0]
    assert not r.accepted and "no complete reading" in r.message


def test_accept_bank_in_the_tick_a_battery_is_added_accepts_the_new_bank():
    drv = Driver()
    drv.commission(reading(batteries=(battery(serial="A"),)))
    both = reading(batteries=(battery(serial="A"), battery(serial="B", series_position=0)))
    d = drv.tick(both, [AcceptBank()])
    assert d.command_results[0].accepted
    assert "E-B05" not in d.active_codes
    bank = drv.core.commissioned_bank
    assert bank is not None and set(bank.serials) == {"A", "B"}


# --- the quiet region predicts the monitor's SoC ---------------------------------------------


@given(st.floats(1.0, 99.0), st.floats(0.0, 30.0), st.floats(0.0, 30.0))
def test_quiet_region_soc_prediction_matches_the_monitor(soc0: float, c_ah: float, d_ah: float):
    core = Core("ng")
    core.step(reading(charged_ah_total=0.0, discharged_ah_total=0.0), 0.0, [SetSoc(soc0)])
    region = core.quiet_region()
    assert region.soc_start_pct == pytest.approx(soc0)
    predicted = region.soc_after(c_ah, d_ah)
    core.step(reading(charged_ah_total=c_ah, discharged_ah_total=d_ah), 3600.0)
    assert predicted == pytest.approx(core.status().soc_pct, abs=1e-9)


def test_quiet_region_soc_is_unbounded_while_soc_is_unknown():
    core = Core("ng")
    core.step(reading(), 0.0)
    region = core.quiet_region()
    assert region.soc_start_pct is None and region.soc_inside(0.0, 1e6)


def test_soc_change_is_the_same_on_arrays_as_on_floats():
    c, d, cap = np.array([1.0, 0.0, 5.5]), np.array([0.0, 2.0, 1.25]), np.array([100.0] * 3)
    arr = soc_change_pct(c, d, cap)
    assert [float(x) for x in arr] == [soc_change_pct(float(a), float(b), 100.0)
                                       for a, b in zip(c, d, strict=True)]


def test_quiet_module_does_not_import_the_engine():
    """No import cycle engine <-> quiet (not even for type checking)."""
    tree = ast.parse((CORE / "quiet.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "smallbms.core.engine" not in imported


# --- the boundary -----------------------------------------------------------------------------


def test_persistent_is_a_copy_the_caller_cannot_change_the_core_through():
    drv = Driver()
    drv.commission()
    drv.tick(reading(current_a=-5.0), [SetSoc(50.0)])
    p = drv.core.persistent()
    p.monitor.consumed_ah = -99.0
    p.history.last_errors.append(("E-B11", 1.0))
    p.code_log.clear()
    assert drv.core.status().soc_pct == pytest.approx(50.0, abs=0.01)
    assert drv.core.history_dict()["last_errors"] == []


def test_transient_monitor_fields_are_not_persisted():
    drv = Driver()
    drv.commission(reading(charged_ah_total=1.0, discharged_ah_total=2.0))
    saved = persistent_to_dict(drv.core.persistent())
    assert set(saved["monitor"]) == {"consumed_ah", "soc_known", "avg_current_a",
                                     "seconds_since_sync", "battery_added_since_sync"}
    assert not hasattr(drv.core.p.monitor, "sync_timer")


def test_nothing_outside_the_core_reads_its_internals():
    """Issue 11 s. 3: the rest of the program goes through the core's public API."""
    import re

    pattern = re.compile(r"\bcore\.(p|m|latches|mv|readback)\b(?!\w)")
    src = CORE.parent
    offenders = [
        f"{path.relative_to(src)}:{n}"
        for path in sorted(src.rglob("*.py")) if CORE not in path.parents
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line) and not line.lstrip().startswith(("from ", "import "))
    ]
    assert offenders == []
