"""QuietRegion.holds: an interval is quiet only when every value lies strictly inside its
open range (and the monitor's SoC after the counter deltas too), at its extremes and at its end."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from smallbms.core.quiet import QuietRegion
from smallbms.core.types import IntervalExtremes

REGION = QuietRegion(min_cell_v=(3.0, 3.4), max_cell_v=(3.1, 3.5), min_temperature_c=(5.0, 40.0),
                     max_temperature_c=(5.0, 45.0), bank_voltage_v=(12.0, 14.0),
                     current_a=(-50.0, 20.0), soc_pct=(20.0, 90.0), deadline_s=None,
                     soc_start_pct=50.0, capacity_ah=100.0)
INSIDE = IntervalExtremes(3.2, 3.3, 12.8, 13.2, 20.0, 21.0)


def test_an_interval_inside_every_range_holds() -> None:
    assert REGION.holds(INSIDE, INSIDE, -5.0, 0.0, 10.0)


def test_each_bound_is_open() -> None:
    cases = [
        (IntervalExtremes(3.0, 3.3, 12.8, 13.2, 20.0, 21.0), -5.0),  # lowest cell on the bound
        (IntervalExtremes(3.2, 3.5, 12.8, 13.2, 20.0, 21.0), -5.0),  # highest cell on the bound
        (IntervalExtremes(3.2, 3.3, 12.0, 13.2, 20.0, 21.0), -5.0),  # bank voltage
        (IntervalExtremes(3.2, 3.3, 12.8, 14.0, 20.0, 21.0), -5.0),
        (IntervalExtremes(3.2, 3.3, 12.8, 13.2, 5.0, 21.0), -5.0),  # temperatures
        (IntervalExtremes(3.2, 3.3, 12.8, 13.2, 20.0, 45.0), -5.0),
        (INSIDE, 20.0),  # current
        (INSIDE, -50.0),
    ]
    for e, current in cases:
        assert not REGION.holds(e, e, current, 0.0, 0.0), (e, current)


def test_the_socs_bound_counts_the_counter_deltas() -> None:
    assert REGION.holds(INSIDE, INSIDE, -5.0, 0.0, 29.0)  # 50 % -> 21 %
    assert not REGION.holds(INSIDE, INSIDE, -5.0, 0.0, 30.0)  # 50 % -> 20 %: on the bound


@given(st.floats(2.5, 3.7), st.floats(-80.0, 40.0), st.floats(0.0, 40.0))
def test_holds_is_every_range_at_once(cell_v: float, current: float, drawn_ah: float) -> None:
    e = IntervalExtremes(cell_v, cell_v + 0.05, 12.8, 13.2, 20.0, 21.0)
    soc = REGION.soc_after(0.0, drawn_ah)
    assert soc is not None and math.isfinite(soc)
    expected = (3.0 < cell_v < 3.4 and 3.1 < cell_v + 0.05 < 3.5 and -50.0 < current < 20.0
                and 20.0 < soc < 90.0)
    assert REGION.holds(e, e, current, 0.0, drawn_ah) == expected


def test_a_rising_lowest_cell_or_a_falling_highest_cell_is_seen_at_the_end() -> None:
    """The extremes of an interval say how low the lowest cell went, not how high: a lowest
    cell that climbs through its upper bound (A-B01 or W-B01 clearing) leaves the region at the
    interval's end, and so does a highest cell falling through its lower bound (overvoltage
    clearing), and the temperatures alike."""
    ends = [
        IntervalExtremes(3.45, 3.46, 13.2, 13.2, 20.0, 21.0),  # lowest cell climbed past 3.4
        IntervalExtremes(3.05, 3.08, 12.8, 12.8, 20.0, 21.0),  # highest cell fell below 3.1
        IntervalExtremes(3.2, 3.3, 13.0, 13.0, 41.0, 42.0),  # lowest temperature past 40
        IntervalExtremes(3.2, 3.3, 13.0, 13.0, 4.0, 4.5),  # highest temperature below 5
    ]
    for end in ends:
        assert not REGION.holds(INSIDE, end, -5.0, 0.0, 0.0), end
    assert REGION.holds(INSIDE, IntervalExtremes(3.39, 3.45, 13.0, 13.0, 20.0, 21.0),
                        -5.0, 0.0, 0.0)


@given(st.floats(2.9, 3.6), st.floats(2.9, 3.6))
def test_the_end_bounds_the_other_side(end_low: float, end_high: float) -> None:
    end = IntervalExtremes(end_low, max(end_low, end_high), 13.0, 13.0, 20.0, 21.0)
    expected = end_low < 3.4 and max(end_low, end_high) > 3.1
    assert REGION.holds(INSIDE, end, -5.0, 0.0, 0.0) == expected


def test_a_battery_exactly_at_a_trip_temperature_is_quiet() -> None:
    """Charging stops below 5 °C and A-B09 comes above 50 °C: a battery at exactly 5.0 or 50.0 °C
    (one that sits at its ambient) changes nothing, so it is inside the quiet region; a tenth of
    a degree beyond is not."""
    from smallbms.core.latch import ProtectionLatches
    from smallbms.core.quiet import QuietInputs, quiet_region
    from smallbms.core.settings import Settings

    latches = ProtectionLatches(low_bank_delay_s=30.0, comms_warning_delay_s=5.0,
                                comms_alarm_delay_s=30.0)
    q = quiet_region(QuietInputs(latches, Settings(), None, "ng", 13.2, None, None, None))
    at_low = IntervalExtremes(3.2, 3.3, 12.8, 13.2, 5.0, 5.0)
    at_high = IntervalExtremes(3.2, 3.3, 12.8, 13.2, 50.0, 50.0)
    assert q.holds(at_low, at_low, 0.0, 0.0, 0.0)
    assert q.holds(at_high, at_high, 0.0, 0.0, 0.0)
    below = IntervalExtremes(3.2, 3.3, 12.8, 13.2, 4.9, 5.0)
    above = IntervalExtremes(3.2, 3.3, 12.8, 13.2, 50.0, 50.1)
    assert not q.holds(below, below, 0.0, 0.0, 0.0)
    assert not q.holds(above, above, 0.0, 0.0, 0.0)


def test_below_the_supply_voltage_leaves_the_region_while_e_b09_is_active() -> None:
    """E-B09 on the low side (the bank below 9 V) keeps the region open downwards for the
    voltage window, but below 8 V the BMS has no power at all: that is a change, so the region
    ends there (at 8.0 V exactly it still runs)."""
    from smallbms.core.latch import ProtectionLatches
    from smallbms.core.quiet import QuietInputs, quiet_region
    from smallbms.core.settings import Settings

    latches = ProtectionLatches(low_bank_delay_s=30.0, comms_warning_delay_s=5.0,
                                comms_alarm_delay_s=30.0)
    latches.e_b09.update(True, False, 0.0)
    assert latches.e_b09.active
    q = quiet_region(QuietInputs(latches, Settings(), None, "ng", 8.5, None, None, None))

    def at(volts: float) -> IntervalExtremes:
        return IntervalExtremes(3.3, 3.35, volts, volts, 20.0, 20.0)

    assert q.holds(at(8.0), at(8.0), 0.0, 0.0, 0.0)
    assert q.holds(at(9.1), at(9.1), 0.0, 0.0, 0.0)
    assert not q.holds(at(7.99), at(7.99), 0.0, 0.0, 0.0)
    assert not q.holds(at(9.2), at(9.2), 0.0, 0.0, 0.0)


def test_without_supply_only_the_supply_coming_back_leaves_the_region() -> None:
    """Below 8 V the BMS has no power and decides nothing: the region is every reading below
    8 V, whatever the cells, temperatures or current say; at 8 V it starts again."""
    from smallbms.core.latch import ProtectionLatches
    from smallbms.core.quiet import QuietInputs, quiet_region
    from smallbms.core.settings import Settings

    latches = ProtectionLatches(low_bank_delay_s=30.0, comms_warning_delay_s=5.0,
                                comms_alarm_delay_s=30.0)
    q = quiet_region(QuietInputs(latches, Settings(), None, "ng", 7.0, None, None, None,
                                 powered=False))
    odd = IntervalExtremes(1.5, 4.5, 6.0, 7.9, -20.0, 70.0)
    assert q.holds(odd, odd, -300.0, 0.0, 50.0)
    at_supply = IntervalExtremes(1.5, 4.5, 6.0, 8.0, -20.0, 70.0)
    assert not q.holds(at_supply, at_supply, 0.0, 0.0, 0.0)


@given(st.floats(0.0, 0.01), st.floats(0.0, 0.5), st.floats(0.0, 0.01))
def test_narrowing_moves_only_the_cell_temperature_and_current_bounds(
        cell_v: float, temperature_c: float, current_a: float) -> None:
    r = QuietRegion((3.0, 3.5), (3.1, 3.6), (0.0, 45.0), (5.0, 50.0), (10.0, 14.6), (-5.0, 5.0),
                    (10.0, 90.0), 1234.0, soc_start_pct=50.0, capacity_ah=200.0)
    n = r.narrowed(cell_v, temperature_c, current_a)
    assert n.min_cell_v == (3.0 + cell_v, 3.5 - cell_v)
    assert n.max_cell_v == (3.1 + cell_v, 3.6 - cell_v)
    assert n.min_temperature_c == (0.0 + temperature_c, 45.0 - temperature_c)
    assert n.max_temperature_c == (5.0 + temperature_c, 50.0 - temperature_c)
    assert n.current_a == (-5.0 + current_a, 5.0 - current_a)
    assert (n.bank_voltage_v, n.soc_pct, n.deadline_s, n.soc_start_pct, n.capacity_ah) == (
        r.bank_voltage_v, r.soc_pct, r.deadline_s, r.soc_start_pct, r.capacity_ah)
    assert r.narrowed(0.0, 0.0, 0.0) == r
