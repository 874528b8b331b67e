"""The invariant checker on hand-made event logs and ground-truth traces.

Each rule gets a log that breaks it (the checker must report that rule) and one that keeps it
(the checker must stay quiet), including the edges: an answer on the same tick and on the next
one (both allowed), a deadline that falls between two ticks, the 30 s undervoltage lead in both
directions, and hysteresis (an output that stays floating, or comes back, inside the clear band
is never a violation).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest

from tests.reliability.oracle.invariants import CheckConfig, CheckReport, check, remote_on
from tests.reliability.oracle.truth import TruthTick

CFG = CheckConfig(step_s=1.0, cells_in_series=4)
LOAD, CHARGE, PRE = "load_disconnect", "charge_disconnect", "pre_alarm"


def out(t: float, name: str, state: str) -> dict[str, Any]:
    return {"t": t, "type": "output", "output": name, "state": state}


def code(t: float, c: str, state: str = "active") -> dict[str, Any]:
    return {"t": t, "type": "code", "code": c, "state": state}


def log(*lines: dict[str, Any]) -> list[dict[str, Any]]:
    """The three t = 0 output lines of a healthy start, then ``lines`` in time order."""
    start = [out(0.0, LOAD, "high"), out(0.0, CHARGE, "high"), out(0.0, PRE, "floating")]
    return start + sorted(lines, key=lambda ln: ln["t"])


def ticks(n: int, **kw: Any) -> list[TruthTick]:
    """Ticks at 0, 1, ... n-1 s, healthy unless ``kw`` says otherwise."""
    return [TruthTick(t=float(i), **kw) for i in range(n)]


def change(trace: list[TruthTick], start: float, end: float, **kw: Any) -> list[TruthTick]:
    """``trace`` with the ticks in [start, end) changed by ``kw``."""
    return [dataclasses.replace(k, **kw) if start <= k.t < end else k for k in trace]


def rules(r: CheckReport) -> Counter[str]:
    return Counter(v.rule for v in r.violations)


def run(lines: list[dict[str, Any]], trace: list[TruthTick]) -> CheckReport:
    return check(lines, trace, CFG)


def test_a_healthy_run_is_clean() -> None:
    r = run(log(), ticks(60))
    assert r.ok and r.violations == []
    assert r.ticks == 60
    assert all(st.episodes == 0 for st in r.rules.values())


# --- charge disconnect ----------------------------------------------------------------------


@pytest.mark.parametrize(("float_at", "bad"), [(10.0, False), (11.0, False), (12.0, True),
                                                (None, True)])
def test_overvoltage_must_float_the_charge_output_within_one_tick(
        float_at: float | None, bad: bool) -> None:
    trace = change(ticks(40), 10, 30, delivered=((3.30, 3.80, 25.0),))
    lines = log() if float_at is None else log(out(float_at, CHARGE, "floating"))
    r = run(lines, trace)
    st = r.rules["charge.overvoltage"]
    assert st.episodes == 1
    if bad:
        assert rules(r) == {"charge.overvoltage": 1}
        assert r.violations[0].t_s == 11.0 and r.violations[0].output == CHARGE
    else:
        assert r.ok, r.violations
        assert st.answered == 1 and st.worst_ticks == float_at - 10.0  # type: ignore[operator]


def test_hysteresis_is_never_a_violation() -> None:
    # over 3.75 V at 10..20, then in the band between clear (3.60) and trip (3.75): the output
    # may stay floating, or come back high, without a word from the checker
    trace = change(ticks(60), 10, 20, delivered=((3.30, 3.80, 25.0),))
    trace = change(trace, 20, 60, delivered=((3.30, 3.70, 25.0),))
    assert run(log(out(10.0, CHARGE, "floating")), trace).ok
    assert run(log(out(10.0, CHARGE, "floating"), out(30.0, CHARGE, "high")), trace).ok


@pytest.mark.parametrize(("temp", "rule"), [(4.9, "charge.low_temperature"),
                                            (50.1, "charge.high_temperature"),
                                            (5.0, None), (50.0, None)])
def test_temperature_limits(temp: float, rule: str | None) -> None:
    trace = change(ticks(30), 10, 30, delivered=((3.30, 3.30, temp),))
    r = run(log(), trace)
    assert rules(r) == ({rule: 1} if rule else {})
    assert run(log(out(10.0, CHARGE, "floating")), trace).ok


def test_a_battery_whose_data_do_not_arrive_is_not_judged_on_its_cells() -> None:
    # battery 1 is silent: its (unknown) cells are the comms rule's business, 5 s later
    trace = change(ticks(30, present=(0, 1), delivered=((3.3, 3.3, 25.0), (3.3, 3.3, 25.0))),
                   10, 30, delivered=((3.3, 3.3, 25.0), None))
    r = run(log(out(15.0, CHARGE, "floating"), out(15.0, PRE, "high")), trace)
    assert r.ok, r.violations
    assert r.rules["charge.comms_lost"].episodes == 1
    assert r.rules["charge.overvoltage"].episodes == 0


# --- communication ----------------------------------------------------------------------------


def _cut(start: float, end: float, n: int = 60) -> list[TruthTick]:
    trace = ticks(n)
    trace.append(TruthTick(t=start))
    trace.sort(key=lambda k: k.t)
    return change(trace, start, end, delivered=(None,))


def test_comms_lost_timers() -> None:
    trace = _cut(10.5, 60.0)  # last complete reading at 10 s
    good = log(out(15.0, CHARGE, "floating"), out(15.0, PRE, "high"), out(45.0, LOAD, "floating"))
    r = run(good, trace)
    assert r.ok, r.violations
    assert r.rules["charge.comms_lost"].episodes == 1
    assert r.rules["load.comms_lost"].episodes == 1
    late = log(out(17.0, CHARGE, "floating"), out(15.0, PRE, "high"), out(47.0, LOAD, "floating"))
    assert rules(run(late, trace)) == {"charge.comms_lost": 1, "load.comms_lost": 1}


def test_a_short_comms_gap_owes_nothing() -> None:
    r = run(log(), _cut(10.5, 14.0))
    assert r.ok
    assert r.rules["charge.comms_lost"].episodes == 0


def test_a_deadline_between_two_ticks_is_checked() -> None:
    # the bus goes at 10.5 s and the next tick is at 20 s: the charge output had to float by
    # 16 s, but the decision of 10.5 s (high) held until 20 s
    trace = [TruthTick(t=float(i)) for i in range(11)] + [
        TruthTick(t=10.5, delivered=(None,)), TruthTick(t=20.0, delivered=(None,))]
    trace.sort(key=lambda k: k.t)
    lines = log(out(20.0, CHARGE, "floating"), out(20.0, PRE, "high"))
    r = run(lines, trace)
    assert {v.rule for v in r.violations} == {"charge.comms_lost", "pre_alarm.comms_lost"}
    assert r.violations[0].t_s == pytest.approx(16.0)
    ok = log(out(10.5, CHARGE, "floating"), out(10.5, PRE, "high"))
    r = run(ok, trace)
    assert r.ok
    # safe before it fell due: no delay, although the first tick after the due time is at 20 s
    assert r.rules["charge.comms_lost"].answered == 1
    assert (r.rules["charge.comms_lost"].worst_ticks, r.rules["charge.comms_lost"].worst_s) == (0, 0)


# --- undervoltage and the 30 s lead -------------------------------------------------------------

LOW = ((2.70, 3.30, 25.0),)


def test_undervoltage_with_the_lead_is_clean() -> None:
    trace = change(ticks(60), 10, 60, delivered=LOW)
    r = run(log(out(10.0, PRE, "high"), out(40.0, LOAD, "floating")), trace)
    assert r.ok, r.violations
    assert r.lead_checks == 1
    assert r.rules["load.undervoltage"].answered == 1


def test_load_disconnect_sooner_than_30_s_after_the_pre_alarm_is_a_violation() -> None:
    trace = change(ticks(60), 10, 60, delivered=LOW)
    r = run(log(out(10.0, PRE, "high"), out(20.0, LOAD, "floating")), trace)
    assert rules(r) == {"load.lead": 1}
    assert "only 10 s before" in r.violations[0].detail


def test_an_undervoltage_code_raised_too_soon_is_a_violation() -> None:
    trace = change(ticks(60), 10, 60, delivered=LOW)
    lines = log(out(10.0, PRE, "high"), code(25.0, "A-B01"), out(40.0, LOAD, "floating"))
    assert rules(run(lines, trace)) == {"load.lead": 1, "code.A-B01": 1}


def test_load_disconnect_later_than_the_lead_plus_a_tick_is_a_violation() -> None:
    trace = change(ticks(60), 10, 60, delivered=LOW)
    r = run(log(out(10.0, PRE, "high"), out(42.0, LOAD, "floating")), trace)
    assert rules(r) == {"load.undervoltage": 1}
    assert r.violations[0].due_s == 40.0


def test_undervoltage_without_a_pre_alarm_is_a_violation() -> None:
    trace = change(ticks(60), 10, 60, delivered=LOW)
    assert rules(run(log(), trace)) == {"pre_alarm.low_cell": 1}


def test_with_the_pre_alarm_already_high_for_30_s_the_load_goes_at_once() -> None:
    trace = change(ticks(60, soc_pct=15.0), 50, 60, delivered=LOW)  # W-B07: pre-alarm from 0
    lines = [out(0.0, LOAD, "high"), out(0.0, CHARGE, "high"), out(0.0, PRE, "high")]
    assert run([*lines, out(50.0, LOAD, "floating")], trace).ok
    assert rules(run([*lines, out(55.0, LOAD, "floating")], trace)) == {"load.undervoltage": 1}


def test_a_load_disconnect_with_another_cause_needs_no_lead() -> None:
    trace = change(ticks(60), 10, 60, delivered=LOW, remote_bridged=False)
    r = run(log(out(10.0, PRE, "high"), out(10.0, LOAD, "floating"),
                out(10.0, CHARGE, "floating")), trace)
    assert r.ok, r.violations
    assert r.lead_checks == 0


def test_an_undervoltage_that_ends_inside_the_lead_owes_nothing() -> None:
    trace = change(ticks(60), 10, 20, delivered=LOW)
    r = run(log(out(10.0, PRE, "high"), out(30.0, PRE, "floating")), trace)
    assert r.ok, r.violations
    assert r.rules["load.undervoltage"].ended_before_due == 1


def test_low_bank_voltage_backstop() -> None:
    trace = change(ticks(70), 10, 70, bank_v=9.5)  # below 2.5 V x 4 cells, for 10 s at 20 s
    assert run(log(out(20.0, PRE, "high"), out(50.0, LOAD, "floating")), trace).ok
    r = run(log(out(20.0, PRE, "high"), out(52.0, LOAD, "floating")), trace)
    assert rules(r) == {"load.low_bank_voltage": 1}
    assert rules(run(log(out(20.0, PRE, "high"), out(40.0, LOAD, "floating")), trace)) == {
        "load.lead": 1}


# --- both outputs -------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [{"powered": False}, {"bank_v": 7.5}])
def test_without_supply_the_outputs_float_at_that_very_tick(kw: dict[str, Any]) -> None:
    trace = change(ticks(20), 10, 12, **kw)
    lines = log(out(10.0, LOAD, "floating"), out(10.0, CHARGE, "floating"),
                out(12.0, LOAD, "high"), out(12.0, CHARGE, "high"))
    assert run(lines, trace).ok
    late = log(out(11.0, LOAD, "floating"), out(11.0, CHARGE, "floating"),
               out(12.0, LOAD, "high"), out(12.0, CHARGE, "high"))
    r = run(late, trace)
    assert rules(r) == {"both.unpowered": 2}
    assert {v.t_s for v in r.violations} == {10.0}


def test_fail_safe_start_until_the_first_complete_reading() -> None:
    trace = change(ticks(30), 10, 12, powered=False)
    trace = change(trace, 12, 15, delivered=(None,))  # back up, bus silent
    good = log(out(10.0, LOAD, "floating"), out(10.0, CHARGE, "floating"),
               out(15.0, LOAD, "high"), out(15.0, CHARGE, "high"))
    assert run(good, trace).ok
    bad = log(out(10.0, LOAD, "floating"), out(10.0, CHARGE, "floating"),
              out(12.0, LOAD, "high"), out(12.0, CHARGE, "high"))
    assert rules(run(bad, trace)) == {"both.no_data_since_power_up": 2}


@pytest.mark.parametrize(("bridged", "l_v", "h_v", "on"), [
    (True, None, None, True), (False, None, None, False), (False, 1.0, None, True),
    (False, 5.0, None, False), (False, None, 13.5, True), (False, None, 24.0, False),
    (False, None, 2.0, False),
])
def test_remote_terminal(bridged: bool, l_v: float | None, h_v: float | None, on: bool) -> None:
    assert remote_on(bridged, l_v, h_v, 13.2) is on
    trace = change(ticks(30), 10, 30, remote_bridged=bridged, remote_l_v=l_v, remote_h_v=h_v)
    r = run(log(), trace)
    assert rules(r) == ({} if on else {"both.remote_off": 2})


def test_mode_off_and_a_refused_mode_command() -> None:
    trace = change(ticks(40), 10, 11, commands=(("mode", "off"),))
    assert rules(run(log(), trace)) == {"both.mode_off": 2}
    assert run(log(out(10.0, LOAD, "floating"), out(10.0, CHARGE, "floating")), trace).ok
    # a mode command while the BMS has no supply is refused: nothing is owed afterwards
    unpowered = change(trace, 10, 11, powered=False)
    lines = log(out(10.0, LOAD, "floating"), out(10.0, CHARGE, "floating"),
                out(11.0, LOAD, "high"), out(11.0, CHARGE, "high"))
    assert run(lines, unpowered).ok


def test_firmware_update_and_a_failed_one() -> None:
    trace = ticks(200)
    trace = change(trace, 10, 11, commands=(("firmware_start", None),))
    trace = change(trace, 20, 21, commands=(("firmware_finish", False),))
    good = log(out(10.0, CHARGE, "floating"), out(20.0, CHARGE, "high"),
               out(140.0, LOAD, "floating"))
    r = run(good, trace)
    assert r.ok, r.violations
    assert r.rules["charge.firmware_update"].episodes == 1
    assert r.rules["load.firmware_failed"].episodes == 1
    assert rules(run(log(), trace)) == {"charge.firmware_update": 1, "load.firmware_failed": 1}
    # a successful retry before the 120 s, or a power loss, clears the failure
    retry = change(trace, 100, 101, commands=(("firmware_start", None),))
    retry = change(retry, 110, 111, commands=(("firmware_finish", True),))
    assert rules(run(log(out(10.0, CHARGE, "floating"), out(20.0, CHARGE, "high"),
                         out(100.0, CHARGE, "floating"), out(110.0, CHARGE, "high")),
                     retry)) == {}
    lost = change(trace, 50, 51, powered=False)
    assert run(log(out(10.0, CHARGE, "floating"), out(20.0, CHARGE, "high"),
                   out(50.0, LOAD, "floating"), out(50.0, CHARGE, "floating"),
                   out(51.0, LOAD, "high"), out(51.0, CHARGE, "high")), lost).ok


@pytest.mark.parametrize(("kw", "rule"), [
    ({"output_fault": True}, "both.hardware_fault"),
    ({"bank_v": 61.0}, "both.voltage_not_allowed"),
    ({"bank_v": 8.5}, "both.voltage_not_allowed"),  # also below 2.5 V x 4: pre-alarm at 20 s
])
def test_errors_float_both_outputs(kw: dict[str, Any], rule: str) -> None:
    trace = change(ticks(30), 10, 30, **kw)
    low_bank = kw.get("bank_v") == 8.5
    assert rules(run(log(), trace)) == {rule: 2, **({"pre_alarm.low_bank_voltage": 1}
                                                     if low_bank else {})}
    lines = [out(11.0, LOAD, "floating"), out(11.0, CHARGE, "floating")]
    if low_bank:
        lines.append(out(20.0, PRE, "high"))
    assert run(log(*lines), trace).ok


def test_a_changed_bank_until_it_is_accepted() -> None:
    two = ((3.3, 3.3, 25.0), (3.3, 3.3, 25.0))
    trace = ticks(40, present=(0, 1), delivered=two)
    trace = change(trace, 10, 40, present=(0,), delivered=two[:1])  # battery 1 removed
    trace = change(trace, 20, 21, commands=(("accept_bank", None),))
    good = log(out(10.0, LOAD, "floating"), out(10.0, CHARGE, "floating"),
               out(20.0, LOAD, "high"), out(20.0, CHARGE, "high"))
    r = run(good, trace)
    assert r.ok, r.violations
    assert r.rules["both.bank_changed"].episodes == 1
    assert rules(run(log(), trace)) == {"both.bank_changed": 2}


def test_discharge_floor_and_low_soc_on_the_bms_soc() -> None:
    trace = change(ticks(30), 10, 30, soc_pct=9.5)
    assert rules(run(log(), trace)) == {"load.discharge_floor": 1, "pre_alarm.low_soc": 1}
    assert run(log(out(10.0, LOAD, "floating"), out(10.0, PRE, "high")), trace).ok
    off = change(trace, 0, 30, discharge_floor_pct=0.0, low_soc_warning_pct=0.0)
    assert run(log(), off).ok  # a floor of 0 turns it off
    assert run(log(), change(ticks(30), 10, 30, soc_pct=None)).ok  # SoC unknown


@pytest.mark.parametrize(("c", "outputs"), [("A-B09", {CHARGE}), ("E-B11", {LOAD, CHARGE}),
                                            ("W-B05", {CHARGE, PRE}), ("A-B07", {LOAD})])
def test_an_active_code_holds_its_outputs(c: str, outputs: set[str]) -> None:
    r = run(log(code(10.0, c)), ticks(20))
    assert {v.output for v in r.violations} == outputs
    assert {v.rule for v in r.violations} == {f"code.{c}"}


# --- skipped stretches, settings, the log itself -------------------------------------------------


def test_a_trip_level_crossed_inside_a_skipped_stretch() -> None:
    ext = (3.29, 3.80, 13.1, 13.3, 20.0, 25.0)  # a cell reached 3.80 V between 10 and 110 s
    trace = [*ticks(11), TruthTick(t=110.0, interval=ext)]
    assert rules(run(log(), trace)) == {"charge.unsafe_inside_skip": 1}
    # the same extremes over one step are not a skip: a sampling BMS cannot see inside a tick
    assert run(log(), [*ticks(11), TruthTick(t=10.5, interval=ext)]).ok


def test_an_undervoltage_the_bms_saw_may_wait_out_its_lead_across_a_skip() -> None:
    ext = (2.70, 3.30, 13.1, 13.3, 20.0, 25.0)
    trace = [*change(ticks(11), 10, 11, delivered=LOW),
             TruthTick(t=39.0, delivered=LOW, interval=ext)]
    assert run(log(out(10.0, PRE, "high")), trace).ok
    unseen = [*ticks(11), TruthTick(t=39.0, interval=ext)]
    assert "load.unsafe_inside_skip" in rules(run(log(out(10.0, PRE, "high")), unseen))
    # seen at 8 s, then back above 2.80 V but below the 3.20 V clear level: still latched (the
    # seed-10 case of the full campaign: 2.799 V reported, then 2.800 V, then the skip)
    band = ((2.85, 3.30, 25.0),)
    latched = [*change(change(ticks(11), 8, 9, delivered=LOW), 9, 11, delivered=band),
               TruthTick(t=38.0, delivered=band, interval=ext)]
    assert run(log(out(8.0, PRE, "high")), latched).ok
    cleared = [*change(ticks(11), 8, 9, delivered=LOW), TruthTick(t=38.0, interval=ext)]
    assert "load.unsafe_inside_skip" in rules(run(log(out(8.0, PRE, "high")), cleared))


def test_settings_outside_their_ranges() -> None:
    r = run(log(), change(ticks(20), 5, 20, pre_alarm_level_v=2.5))
    assert rules(r) == {"settings.out_of_range": 1}


def test_the_log_must_start_with_every_output() -> None:
    r = run([out(0.0, LOAD, "high")], ticks(5))
    assert rules(r) == {"log.contract": 1}


def test_a_trace_that_does_not_cover_the_log_is_refused() -> None:
    with pytest.raises(ValueError, match="after the last tick"):
        run(log(out(50.0, LOAD, "floating")), ticks(10))
    with pytest.raises(ValueError, match="must increase"):
        run(log(), [TruthTick(t=0.0), TruthTick(t=0.0)])
