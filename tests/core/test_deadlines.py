"""next_deadline_s() and quiet_region(): a simulator may skip ahead to the next deadline and
skip readings that stay inside the quiet region without missing any output, code or LED change.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallbms.core.types import (
    Decision,
    FirmwareUpdateFinished,
    FirmwareUpdateStarted,
    Reading,
    SetSoc,
    SetWireless,
)

from .helpers import Driver, battery, one_cell, reading

MISSING = reading(batteries=(None,), bank_voltage_v=13.2)


def _fires_exactly_at_deadline(drv: Driver, r: Reading, deadline: float, changed) -> None:
    """Stepping just before the deadline changes nothing; stepping at it fires the change."""
    before = drv.at(deadline - 1e-3, r)
    assert not changed(before), before
    at = drv.at(deadline, r)
    assert changed(at), at


def test_comms_deadline_is_5_s_after_the_last_valid_reading():
    drv = Driver()
    drv.commission()  # last valid reading at t = 0
    drv.at(2.5, MISSING)
    assert drv.core.next_deadline_s() == 5.0


def test_stepping_exactly_at_the_comms_deadline_raises_w_b05():
    drv = Driver()
    drv.commission()
    drv.at(2.5, MISSING)
    dl = drv.core.next_deadline_s()
    assert dl is not None
    _fires_exactly_at_deadline(drv, MISSING, dl, lambda d: "W-B05" in d.active_codes)


def test_a_b05_deadline_is_30_s_after_w_b05():
    drv = Driver()
    drv.commission()
    drv.at(1.0, MISSING)
    dl = drv.core.next_deadline_s()
    assert dl is not None
    d = drv.at(dl, MISSING)
    assert "W-B05" in d.active_codes
    dl2 = drv.core.next_deadline_s()
    assert dl2 == dl + 30.0
    _fires_exactly_at_deadline(drv, MISSING, dl2, lambda d: "A-B05" in d.active_codes)


def test_low_bank_voltage_deadline_is_10_s_after_it_fell():
    drv = Driver()
    drv.commission(one_cell(3.0))
    drv.run(one_cell(3.0), 30)  # pre-alarm high for 30 s: no lead left to wait for
    low = one_cell(3.0, bank_voltage_v=9.5)
    drv.at(40.5, low)
    assert drv.core.next_deadline_s() == 50.5
    _fires_exactly_at_deadline(drv, low, 50.5, lambda d: "A-B08" in d.active_codes)


def test_pre_alarm_lead_deadline_is_30_s_after_the_pre_alarm_went_high():
    drv = Driver()
    drv.commission()
    low = one_cell(2.7)
    d = drv.at(10.25, low)
    assert d.pre_alarm == "high"
    assert drv.core.next_deadline_s() == 40.25
    _fires_exactly_at_deadline(drv, low, 40.25, lambda d: d.load_disconnect == "floating")


def test_sync_deadline_is_the_charged_detection_time_after_the_conditions_began():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(80.0)])
    charged = reading(bank_voltage_v=14.1, current_a=1.0)
    drv.at(2.5, charged)
    assert drv.core.next_deadline_s() == 182.5
    drv.core.step(charged, 182.4)
    assert drv.core.status().soc_pct != 100.0
    drv.core.step(charged, 182.5)
    assert drv.core.status().soc_pct == 100.0


def test_firmware_failure_deadline_is_120_s_after_the_failure():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [FirmwareUpdateStarted()])
    drv.at(7.5, reading(), [FirmwareUpdateFinished(success=False)])
    assert drv.core.next_deadline_s() == 127.5
    _fires_exactly_at_deadline(drv, reading(), 127.5, lambda d: d.load_disconnect == "floating")


def test_wireless_window_deadline_is_30_s_after_power_up_when_wireless_is_disabled():
    drv = Driver(t0=100.0)
    drv.tick(reading(), [SetWireless(False)])
    assert drv.core.next_deadline_s() == 130.0
    _fires_exactly_at_deadline(drv, reading(), 130.0, lambda d: d.leds.bluetooth == "off")


def test_no_deadline_in_a_quiet_healthy_state():
    drv = Driver()
    drv.commission()
    drv.run(reading(), 60)
    assert drv.core.next_deadline_s() is None


def test_the_earliest_of_several_pending_deadlines_is_given():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [FirmwareUpdateStarted()])
    drv.at(2.0, reading(), [FirmwareUpdateFinished(success=False)])  # due at 122
    drv.at(3.0, MISSING)  # W-B05 due at 5 (last valid reading at t = 2)
    dl = drv.core.next_deadline_s()
    assert dl is not None and dl <= 8.0


# --- quiet region ----------------------------------------------------------------------------


def _present(drv: Driver) -> dict[str, float]:
    m = drv.core.m
    st = drv.core.status()
    out = {
        "min_cell_v": m.min_cell_v, "max_cell_v": m.max_cell_v,
        "min_temperature_c": m.min_temperature_c, "max_temperature_c": m.max_temperature_c,
        "bank_voltage_v": m.bank_voltage_v, "current_a": m.current_a or 0.0,
    }
    if st.soc_pct is not None:
        out["soc_pct"] = st.soc_pct
    return out


def _inside(lo: float, hi: float, p: float, frac: float) -> float:
    """A point between the present value and one bound (``frac`` of the way), strictly inside
    (the present value where the bound is too close for a point between: one ulp away, as the
    temperature trips' bounds are)."""
    upper = hi if math.isfinite(hi) else p + 5.0
    lower = lo if math.isfinite(lo) else p - 5.0
    target = upper if frac >= 0 else lower
    x = p + abs(frac) * (target - p)
    return x if lo < x < hi else p


def _outcome(d: Decision) -> tuple[object, ...]:
    return (d.load_disconnect, d.charge_disconnect, d.pre_alarm, d.active_codes, d.leds,
            d.allowed_to_discharge)


STATES = {
    "healthy": [reading()],
    "w_b01": [one_cell(3.0)],
    "a_b01": [one_cell(2.7)] * 35,
    "overvoltage": [one_cell(3.8)],
    "cold": [reading(temperature_c=2.0)],
    "at_the_low_charge_temperature_trip": [reading(temperature_c=5.0)],
    "at_the_high_temperature_trip": [reading(temperature_c=50.0)],
    "a_b09": [reading(temperature_c=55.0)],
    "charging_near_full": [reading(bank_voltage_v=13.9, current_a=20.0)],
    "sync_timer_running": [reading(bank_voltage_v=14.1, current_a=2.0)] * 10,
    "low_bank_pending": [reading(bank_voltage_v=9.8)] * 3,
    "e_b09_low_side": [reading(bank_voltage_v=8.5)] * 3,
    "soc_low": [reading(current_a=-5.0)],
}


@pytest.mark.parametrize("state", list(STATES))
def test_quiet_region_contains_the_present_inputs(state: str):
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(30.0 if state != "soc_low" else 22.0)])
    for r in STATES[state]:
        drv.tick(r)
    q = drv.core.quiet_region()
    for name, value in _present(drv).items():
        lo, hi = getattr(q, name)
        assert lo < value < hi, (name, value, lo, hi)


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("frac", [0.5, 0.95, -0.5, -0.95])
def test_a_reading_inside_the_quiet_region_leaves_outputs_and_codes_unchanged(
    state: str, frac: float
):
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(30.0 if state != "soc_low" else 22.0)])
    for r in STATES[state]:
        drv.tick(r)
    q = drv.core.quiet_region()
    now = drv.now
    assert now is not None
    p = _present(drv)
    if not all(getattr(q, k)[0] < v < getattr(q, k)[1] for k, v in p.items()):
        pytest.skip("present inputs outside the region (see the containment test)")
    mn = _inside(*q.min_cell_v, p["min_cell_v"], frac)
    mx = max(mn, _inside(*q.max_cell_v, p["max_cell_v"], frac))
    if not q.max_cell_v[0] < mx < q.max_cell_v[1]:
        mx = p["max_cell_v"]
    t_lo = max(q.min_temperature_c[0], q.max_temperature_c[0])
    t_hi = min(q.min_temperature_c[1], q.max_temperature_c[1])
    temp = _inside(t_lo, t_hi, p["min_temperature_c"], frac)
    v = _inside(*q.bank_voltage_v, p["bank_voltage_v"], frac)
    i = _inside(*q.current_a, p["current_a"], frac)
    r = reading(batteries=(battery(cells=(mn, mx, mx, mx), temperature_c=temp),),
                bank_voltage_v=v, current_a=i)
    before = _outcome(drv.last)
    dl = q.deadline_s
    t = now + 1.0 if dl is None else min(now + 1.0, (now + dl) / 2)
    d = drv.at(t, r)
    assert _outcome(d) == before, (r, d)


@settings(max_examples=60, deadline=None)
@given(volts=st.floats(0.0, 7.999), cell_v=st.floats(1.0, 4.2), temp=st.floats(-30.0, 80.0),
       current=st.floats(-200.0, 200.0))
def test_without_supply_a_reading_inside_the_quiet_region_changes_nothing(
    volts: float, cell_v: float, temp: float, current: float
) -> None:
    """Below 8 V the BMS has no power: its region is every reading below 8 V, and any such
    reading leaves outputs, codes and LEDs as they are."""
    drv = Driver()
    drv.commission()
    for _ in range(3):
        drv.tick(reading(bank_voltage_v=8.5))
    drv.tick(reading(bank_voltage_v=7.5))
    assert not drv.core.powered
    q = drv.core.quiet_region()
    assert q.bank_voltage_v == (-math.inf, 8.0)
    before = _outcome(drv.last)
    now = drv.now
    assert now is not None
    r = reading(batteries=(battery(cells=(cell_v,) * 4, temperature_c=temp),),
                bank_voltage_v=volts, current_a=current)
    assert _outcome(drv.at(now + 1.0, r)) == before
