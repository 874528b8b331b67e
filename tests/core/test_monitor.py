"""SPEC 9: the battery monitor — consumed Ah, SoC, synchronisation, time remaining, intervals."""

from __future__ import annotations

import pytest

from smallbms.core.types import (
    BatteryReport,
    ChangeSetting,
    CodeEvent,
    Reading,
    SetSoc,
    SyncSoc,
)

from .helpers import Driver, bank, battery, cmd_ok, reading

# --- consumed Ah ------------------------------------------------------------------------------


def test_consumed_ah_is_minus_36_0_after_12_a_for_3_h():
    drv = Driver()
    drv.commission(reading(current_a=-12.0))
    drv.run(reading(current_a=-12.0), 3 * 3600)
    assert drv.core.status().consumed_ah == pytest.approx(-36.0, abs=1e-6)


def test_consumed_ah_counts_charge_times_the_charge_efficiency_0_99():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(50.0)])
    assert drv.core.status().consumed_ah == pytest.approx(-50.0)
    drv.run(reading(current_a=10.0), 3600)
    assert drv.core.status().consumed_ah == pytest.approx(-50.0 + 10.0 * 0.99, abs=1e-6)
    assert drv.core.status().soc_pct == pytest.approx(59.9, abs=1e-6)


def test_currents_below_0_1_a_count_as_zero():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(50.0)])
    drv.run(reading(current_a=-0.09), 10 * 3600)
    drv.run(reading(current_a=0.09), 10 * 3600)
    assert drv.core.status().consumed_ah == pytest.approx(-50.0, abs=1e-9)
    drv.run(reading(current_a=-0.1), 3600)  # 0.1 A itself is counted
    assert drv.core.status().consumed_ah == pytest.approx(-50.1, abs=1e-6)


def test_currents_below_0_1_a_count_as_zero_with_counters_from_a_source():
    """A source that reports coulomb counters counts with the core's ChargeCounter, which
    applies the 0.1 A floor as it counts (the core cannot see the currents inside a long
    interval)."""
    import numpy as np

    from smallbms.sources.script import ScriptPoint, ScriptSource

    points = [ScriptPoint(0.0, np.full((1, 4), 3.3), np.array([25.0]), -0.05, None)]
    src = ScriptSource("12.8/100", 1, 1, points, seed=1)
    drv = Driver()
    drv.commission(src.reading(0.0))
    drv.tick(src.reading(0.0), [SetSoc(50.0)])
    for k in range(1, 3601):
        drv.at(float(k), src.reading(float(k)))
    assert src.counter.discharged_ah == 0.0
    assert drv.core.status().consumed_ah == pytest.approx(-50.0, abs=1e-9)


def test_counter_deltas_are_taken_as_given():
    drv = Driver()
    drv.commission(reading(charged_ah_total=0.0, discharged_ah_total=0.0))
    drv.tick(reading(charged_ah_total=0.0, discharged_ah_total=0.0), [SetSoc(50.0)])
    drv.tick(reading(current_a=-5.0, charged_ah_total=0.0, discharged_ah_total=2.0))
    assert drv.core.status().consumed_ah == pytest.approx(-52.0, abs=1e-9)


def test_consumed_ah_never_goes_above_zero_or_below_minus_capacity():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SyncSoc()])
    drv.run(reading(current_a=50.0), 600)
    assert drv.core.status().consumed_ah == 0.0
    drv.run(reading(current_a=-200.0), 3 * 3600)
    assert drv.core.status().consumed_ah == pytest.approx(-100.0)
    assert drv.core.status().soc_pct == 0.0


# --- SoC unknown until a sync or a manual set ------------------------------------------------


def test_soc_is_unknown_on_a_new_installation():
    drv = Driver()
    drv.commission()
    drv.run(reading(current_a=-5.0), 600)
    st = drv.core.status()
    assert st.soc_pct is None
    assert st.time_remaining_s is None
    assert st.balancer == "unknown"


def test_set_soc_by_hand():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(), [SetSoc(42.5)])
    assert d.command_results[0].accepted
    st = drv.core.status()
    assert st.soc_pct == pytest.approx(42.5)
    assert st.consumed_ah == pytest.approx(-57.5)


@pytest.mark.parametrize("value", [-0.1, 100.1, float("nan")])
def test_set_soc_outside_0_to_100_is_refused_and_changes_nothing(value: float):
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(30.0)])
    d = drv.tick(reading(), [SetSoc(value)])
    assert not d.command_results[0].accepted
    assert d.command_results[0].message
    assert drv.core.status().soc_pct == pytest.approx(30.0)


def test_manual_sync_sets_soc_to_100_and_consumed_to_0():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(30.0)])
    d = drv.tick(reading(), [SyncSoc()])
    assert d.command_results[0].accepted
    st = drv.core.status()
    assert st.soc_pct == 100.0
    assert st.consumed_ah == 0.0


def test_sync_before_the_bank_is_known_is_refused():
    drv = Driver()
    d = drv.tick(reading(batteries=(None,), bank_voltage_v=13.2), [SyncSoc(), SetSoc(50.0)])
    assert [r.accepted for r in d.command_results] == [False, False]


# --- automatic synchronisation -------------------------------------------------------------------


def _charged(v: float = 14.0, i: float = 4.0, batteries=None) -> Reading:
    return reading(batteries=batteries, bank_voltage_v=v, current_a=i)


def test_automatic_sync_after_3_min_at_charged_voltage_and_tail_current_not_at_2_59():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(80.0)])  # t = 1
    drv.run(_charged(), 180)  # conditions from t = 2; t = 181 is 2:59
    assert drv.core.status().soc_pct != 100.0
    drv.tick(_charged())  # t = 182: 3:00
    assert drv.core.status().soc_pct == 100.0
    assert drv.core.status().consumed_ah == 0.0


def test_automatic_sync_makes_an_unknown_soc_known():
    drv = Driver()
    drv.commission()
    drv.run(_charged(), 181)
    assert drv.core.status().soc_pct == 100.0


@pytest.mark.parametrize(("v", "i"), [(13.99, 4.0), (14.0, 4.1)])
def test_no_automatic_sync_below_charged_voltage_or_above_tail_current(v: float, i: float):
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(80.0)])
    drv.run(_charged(v, i), 3600)
    assert drv.core.status().soc_pct != 100.0


def test_automatic_sync_timer_restarts_when_a_condition_breaks():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(80.0)])
    drv.run(_charged(), 170)
    drv.tick(_charged(i=20.0))
    drv.run(_charged(), 170)
    assert drv.core.status().soc_pct != 100.0


def test_charged_voltage_scales_x2_for_a_24_v_bank():
    b = bank(2, 1)
    for v, synced in ((27.99, False), (28.0, True)):
        drv = Driver()
        drv.commission(reading(batteries=b))
        drv.tick(reading(batteries=b), [SetSoc(80.0)])
        drv.run(_charged(v, 4.0, b), 200)
        assert (drv.core.status().soc_pct == 100.0) is synced, v


def test_tail_current_is_4_percent_of_capacity_times_parallel():
    b = bank(1, 2)  # 200 Ah: tail 8 A
    for i, synced in ((8.0, True), (8.1, False)):
        drv = Driver()
        drv.commission(reading(batteries=b))
        drv.tick(reading(batteries=b), [SetSoc(80.0)])
        drv.run(_charged(14.0, i, b), 200)
        assert (drv.core.status().soc_pct == 100.0) is synced, i


def test_charged_detection_time_setting_is_used():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(80.0), ChangeSetting("charged_detection_time_min", 1.0)])
    drv.run(_charged(), 60)  # conditions from t = 2; t = 61 is 0:59
    assert drv.core.status().soc_pct != 100.0
    drv.tick(_charged())  # t = 62
    assert drv.core.status().soc_pct == 100.0


# --- time remaining --------------------------------------------------------------------------------


def _discharging_at(i_a: float, soc: float = 60.0, seconds: int = 1800) -> Driver:
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(soc)])
    drv.run(reading(current_a=-i_a), seconds)  # long enough for the 3 min average to settle
    return drv


def test_time_remaining_at_the_20_h_rate_is_within_2_percent_of_the_plain_formula():
    drv = _discharging_at(5.0)  # 100 Ah / 20 h
    st = drv.core.status()
    assert st.soc_pct is not None and st.time_remaining_s is not None
    plain = (st.soc_pct - 10.0) / 100.0 * 100.0 / 5.0 * 3600.0
    assert st.time_remaining_s == pytest.approx(plain, rel=0.02)


def test_time_remaining_is_shorter_than_the_plain_formula_at_heavy_load():
    drv = _discharging_at(50.0, soc=90.0, seconds=900)
    st = drv.core.status()
    assert st.soc_pct is not None and st.time_remaining_s is not None
    plain = (st.soc_pct - 10.0) / 100.0 * 100.0 / 50.0 * 3600.0
    assert 0.85 * plain <= st.time_remaining_s <= plain


def test_time_remaining_uses_the_discharge_floor_setting():
    drv = _discharging_at(5.0)
    drv.tick(reading(current_a=-5.0), [ChangeSetting("discharge_floor_pct", 0.0),
                                       ChangeSetting("low_soc_warning_pct", 0.0)])
    st = drv.core.status()
    assert st.soc_pct is not None and st.time_remaining_s is not None
    plain = st.soc_pct / 100.0 * 100.0 / 5.0 * 3600.0
    assert st.time_remaining_s == pytest.approx(plain, rel=0.02)


@pytest.mark.parametrize("i_a", [10.0, 0.0, 0.05])
def test_time_remaining_is_null_when_not_discharging(i_a: float):
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(60.0)])
    drv.run(reading(current_a=i_a), 1800)
    assert drv.core.status().time_remaining_s is None


def test_time_remaining_is_capped_at_10_days():
    drv = _discharging_at(0.15, soc=100.0)
    assert drv.core.status().time_remaining_s == 10 * 86400


def test_time_remaining_is_null_while_soc_is_unknown():
    drv = Driver()
    drv.commission()
    drv.run(reading(current_a=-5.0), 1800)
    assert drv.core.status().time_remaining_s is None


# --- irregular intervals --------------------------------------------------------------------------


def _current(t: float) -> float:
    if t < 3600.0:
        return -60.0
    if t < 5400.0:
        return 0.0
    return 30.0


def _ah_totals(t: float) -> tuple[float, float]:
    """Exact cumulative (charged, discharged) Ah of _current up to t."""
    discharged = 60.0 * min(t, 3600.0) / 3600.0
    charged = 30.0 * max(0.0, t - 5400.0) / 3600.0
    return charged, discharged


def _scenario_reading(t: float, counters: bool) -> Reading:
    # the current is the instantaneous value at t; counters are exact integrals up to t
    cell = 3.3
    if 1000.0 <= t < 1500.0:
        cell = 3.0
    batteries: tuple[BatteryReport | None, ...] = (battery(cell_v=cell),)
    if 2000.0 <= t < 2100.0:
        batteries = (None,)
    c, dch = _ah_totals(t)
    return reading(
        batteries=batteries, bank_voltage_v=13.2, current_a=_current(t - 1e-9),
        charged_ah_total=c if counters else None, discharged_ah_total=dch if counters else None,
    )


def _run_scenario(steps: list[float], counters: bool) -> tuple[Driver, list[CodeEvent]]:
    drv = Driver(dt=1.0)
    t = 0.0
    k = 0
    drv.at(0.0, _scenario_reading(0.0, counters))  # commissions the bank
    drv.at(0.0, _scenario_reading(0.0, counters), [SetSoc(90.0),
                                                   ChangeSetting("low_soc_warning_pct", 35.0)])
    assert cmd_ok(drv.last)
    while t < 7200.0:
        t = min(7200.0, t + steps[k % len(steps)])
        k += 1
        drv.at(t, _scenario_reading(t, counters))
    return drv, drv.events


@pytest.mark.parametrize(
    ("steps", "counters"),
    [([7.0], False), ([1.0, 7.0, 3.0, 13.0], False), ([7.0], True), ([13.0, 0.5, 29.0], True)],
    ids=["every_7_s", "irregular", "counters_every_7_s", "counters_irregular"],
)
def test_irregular_intervals_give_the_same_consumed_ah_and_event_times(steps, counters):
    ref, ref_events = _run_scenario([1.0], False)
    drv, events = _run_scenario(steps, counters)
    assert drv.core.status().consumed_ah == pytest.approx(
        ref.core.status().consumed_ah, abs=0.5)
    assert [(e.code, e.state) for e in events] == [(e.code, e.state) for e in ref_events]
    step = max(steps)
    for e, r in zip(events, ref_events, strict=True):
        assert abs(e.t_s - r.t_s) <= step, (e, r)


def test_cumulative_counters_are_exact_whatever_the_interval():
    drv, _ = _run_scenario([13.0, 0.5, 29.0], True)
    c, dch = _ah_totals(7200.0)
    assert drv.core.status().consumed_ah == pytest.approx(-10.0 - dch + 0.99 * c, abs=1e-6)
