"""The gate: SPEC 19's freshness and plausibility rules, one test per rule."""

from __future__ import annotations

import logging
import math

import pytest

from smallbms.buses.build import bank_model
from smallbms.buses.config import BusTable
from smallbms.buses.gate import (
    ABOVE_RANGE_V,
    BELOW_RANGE_V,
    JUMP_CELL_V,
    BatteryValues,
    Gate,
    ShuntValues,
)
from tests.buses.helpers import BATTERY, BATTERY_2, SHUNT, table

GOOD = BatteryValues(cells_v=(3.30, 3.31, 3.32, 3.30), temperature_c=21.0, voltage_v=13.23)


def gate(shunt: bool = True, batteries: tuple[str, ...] = (BATTERY,)) -> Gate:
    t = table(shunt=shunt, batteries=batteries)
    return Gate(t, bank_model(t))


def test_spec19_only_fresh_data_stale_battery_reports_nothing() -> None:
    g = gate(shunt=False)
    assert g.battery(BATTERY, 10.0, GOOD)
    assert g.reading(13.0).batteries[0] is not None  # 3 s old: still fresh
    assert g.reading(13.01).batteries == (None,)  # older than the 3 s limit: no reading


def test_spec19_nothing_heard_is_a_silent_bus() -> None:
    r = gate(shunt=False).reading(5.0)
    assert r.batteries == ()
    assert r.current_a is None
    assert r.bank_voltage_v == 12.8  # nominal until measured: the BMS is powered


def test_spec19_cells_and_shunt_complete_only_when_both_fresh() -> None:
    g = gate()
    g.battery(BATTERY, 0.0, GOOD)
    assert g.reading(0.5).batteries == (None,)
    g.shunt_values(SHUNT, 0.6, ShuntValues(current_a=-4.5, voltage_v=13.2))
    r = g.reading(1.0)
    assert r.batteries[0] is not None
    assert r.current_a == -4.5
    assert r.batteries[0].current_a == -4.5
    g.battery(BATTERY, 4.0, GOOD)
    r = g.reading(4.0)  # the shunt's value is 3.4 s old: stale
    assert r.batteries == (None,)
    assert r.current_a is None


@pytest.mark.parametrize(("cells", "why"), [
    ((0.0, 3.3, 3.3, 3.3), "cell 1 at 0.0 V"),
    ((3.3, 9.0, 3.3, 3.3), "cell 2 at 9.0 V"),
    ((3.3, 3.3, math.nan, 3.3), "cell 3 at nan V"),
    ((3.3, 3.3, 3.3), "3 cell voltages"),
])
def test_spec19_implausible_cells_are_refused_and_logged(
        cells: tuple[float, ...], why: str, caplog: pytest.LogCaptureFixture) -> None:
    g = gate(shunt=False)
    with caplog.at_level(logging.WARNING, "smallbms.buses.gate"):
        assert not g.battery(BATTERY, 1.0, BatteryValues(cells, 20.0))
    assert BATTERY in caplog.text and why in caplog.text
    assert g.reading(1.0).batteries == ()  # a refused value counts as no reading


@pytest.mark.parametrize("temp", [-41.0, 101.0, math.nan, math.inf, None])
def test_spec19_implausible_temperature_is_refused(temp: float | None,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    g = gate(shunt=False)
    with caplog.at_level(logging.WARNING):
        assert not g.battery(BATTERY, 1.0, BatteryValues(GOOD.cells_v, temp))
    assert "temperature" in caplog.text


def test_spec19_current_beyond_ten_times_the_rating_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    g = gate()
    limit = 10 * 100  # smart-12.8/100: 100 A continuous, one string
    assert g.shunt_values(SHUNT, 0.0, ShuntValues(current_a=-limit))
    with caplog.at_level(logging.WARNING):
        assert not g.shunt_values(SHUNT, 0.1, ShuntValues(current_a=-limit - 1))
        assert not g.shunt_values(SHUNT, 0.2, ShuntValues(current_a=None))
    assert "-1001" in caplog.text and SHUNT in caplog.text


def test_wild_jump_is_refused_once_then_accepted(caplog: pytest.LogCaptureFixture) -> None:
    g = gate(shunt=False)
    assert g.battery(BATTERY, 0.0, GOOD)
    jumped = BatteryValues((3.30, 2.70, 3.32, 3.30), 21.0)
    with caplog.at_level(logging.WARNING):
        assert not g.battery(BATTERY, 1.0, jumped)
    assert "jumped from 3.31 V to 2.7 V" in caplog.text
    assert g.battery(BATTERY, 2.0, jumped)  # it stays there: a real reading


@pytest.mark.parametrize("end_v", [BELOW_RANGE_V, ABOVE_RANGE_V])
def test_spec19_smart_lithium_below_and_above_range_cells_are_never_dropped(end_v: float) -> None:
    g = gate(shunt=False)
    assert g.battery(BATTERY, 0.0, GOOD)
    at_end = BatteryValues((3.30, end_v, 3.32, 3.30), 21.0)
    assert abs(end_v - GOOD.cells_v[1]) > JUMP_CELL_V  # by size, a wild jump
    assert g.battery(BATTERY, 1.0, at_end)  # at once, not after a refusal
    r = g.reading(1.0).batteries[0]
    assert r is not None and r.cell_voltages_v[1] == end_v
    assert g.battery(BATTERY, 2.0, GOOD)  # and back: the true value was beyond the end
    assert g.refused == {}


def test_spec19_range_end_values_are_only_exempt_on_victron_records() -> None:
    t = BusTable.model_validate({
        "kind": "aiobmsble", "custom": {"cells_in_series": 4, "capacity_ah": 100},
        "devices": [{"address": BATTERY, "model": "custom", "bms": "jbd_bms"}]})
    g = Gate(t, bank_model(t))
    assert g.battery(BATTERY, 0.0, GOOD)
    assert not g.battery(BATTERY, 1.0, BatteryValues((3.30, BELOW_RANGE_V, 3.32, 3.30), 21.0))


def test_spec19_a_refused_out_of_range_glitch_does_not_make_the_next_message_a_jump() -> None:
    g = gate(shunt=False)
    assert g.battery(BATTERY, 0.0, GOOD)
    assert not g.battery(BATTERY, 1.0, BatteryValues((3.30, 0.0, 3.32, 3.30), 21.0))
    assert not g.battery(BATTERY, 2.0, BatteryValues(GOOD.cells_v, 150.0))
    assert g.battery(BATTERY, 3.0, GOOD)  # compared with the last good message, not the glitch
    assert sum(g.refused.values()) == 2


def test_refusals_are_logged_at_a_bounded_rate(caplog: pytest.LogCaptureFixture) -> None:
    g = gate(shunt=False)
    bad = BatteryValues((3.3, 3.3, 3.3, 9.0), 20.0)
    with caplog.at_level(logging.WARNING):
        for n in range(100):
            g.battery(BATTERY, n * 0.1, bad)  # 10 s of device time
        g.battery(BATTERY, 10.0, bad)
    lines = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 2
    assert "99 more since the last line" in lines[1].getMessage()
    assert sum(g.refused.values()) == 101


def test_unconfigured_devices_are_ignored() -> None:
    g = gate(shunt=False)
    assert not g.battery("AA:BB:CC:DD:EE:FF", 0.0, GOOD)
    assert g.reading(0.0).batteries == ()


def test_missing_battery_is_none_in_its_slot_and_bank_voltage_holds() -> None:
    g = gate(shunt=False, batteries=(BATTERY, BATTERY_2))
    g.battery(BATTERY, 0.0, GOOD)
    g.battery(BATTERY_2, 0.0, GOOD)
    r = g.reading(0.0)
    assert [b is not None for b in r.batteries] == [True, True]
    assert r.bank_voltage_v == 13.23
    g.battery(BATTERY, 5.0, GOOD)
    r = g.reading(5.0)
    assert r.batteries[1] is None and r.batteries[0] is not None
    assert g.reading(20.0).bank_voltage_v == 13.23  # nothing fresh: the last one seen


def test_spec19_a_reading_says_how_old_its_oldest_value_is() -> None:
    g = gate(batteries=(BATTERY, BATTERY_2))
    g.battery(BATTERY, 10.0, GOOD)
    g.battery(BATTERY_2, 11.0, GOOD)
    g.shunt_values(SHUNT, 11.5, ShuntValues(current_a=-2.0, voltage_v=13.2))
    assert g.reading(12.0).data_age_s == 2.0  # the first battery's value, from t = 10
    g.battery(BATTERY, 12.5, GOOD)
    assert g.reading(13.0).data_age_s == 2.0  # now the second battery's, from t = 11
    assert g.reading(20.0).data_age_s == 0.0  # nothing fresh: nothing used
