"""SPEC 4: bank discovery, E-B01 (invalid bank) and E-B05 (changed since commissioning)."""

from __future__ import annotations

import pytest

from smallbms.bank import BankProblem, BankTopology, discover
from smallbms.core.types import AcceptBank, BatteryReport, SyncSoc

from .helpers import Driver, bank, battery, reading


def _mixed() -> tuple[BatteryReport, ...]:
    return (battery("HQ0001", "12.8/100"), battery("HQ0002", "12.8/200"))


def _unequal_strings() -> tuple[BatteryReport, ...]:
    return (
        battery("HQ0001", series_position=0), battery("HQ0002", series_position=1),
        battery("HQ0003", series_position=0),
    )


def _three_in_series() -> tuple[BatteryReport, ...]:
    return bank(3, 1)


def _fifty_one() -> tuple[BatteryReport, ...]:
    return bank(1, 51)


def _duplicate_serials() -> tuple[BatteryReport, ...]:
    return (battery("HQ0001"), battery("HQ0001"))


INVALID = [
    pytest.param(_mixed, id="mixed_models"),
    pytest.param(_unequal_strings, id="unequal_strings"),
    pytest.param(_three_in_series, id="3x12_8_v_in_series_is_a_wrong_series_voltage"),
    pytest.param(_fifty_one, id="51_batteries"),
    pytest.param(_duplicate_serials, id="duplicate_serials"),
    pytest.param(lambda: bank(1, 26, "51.2/100"), id="26_batteries_of_51_2_v"),
    pytest.param(lambda: bank(1, 1, "smart-12.8/100"), id="classic_battery_on_ng"),
]


@pytest.mark.parametrize("make", INVALID)
def test_e_b01_raised_for_an_invalid_bank_and_both_disconnects_float(make):
    batteries = make()
    drv = Driver()
    d = drv.tick(reading(batteries=batteries, bank_voltage_v=13.2))
    assert "E-B01" in d.active_codes
    assert d.load_disconnect == "floating"
    assert d.charge_disconnect == "floating"
    assert "configuration_invalid" in d.discharge_reasons
    assert "configuration_invalid" in d.charge_reasons
    assert drv.core.p.commissioned is None
    assert isinstance(discover(list(batteries)), BankProblem)


@pytest.mark.parametrize(
    ("model", "series", "parallel"),
    [("12.8/100", 1, 1), ("12.8/100", 2, 1), ("12.8/100", 4, 1), ("12.8/100", 1, 50),
     ("25.6/100", 2, 1), ("51.2/100", 1, 1), ("51.2/100", 1, 25), ("12.8/300", 2, 3)],
)
def test_valid_banks_raise_no_e_b01_and_are_discovered(model: str, series: int, parallel: int):
    b = bank(series, parallel, model)
    drv = Driver()
    d = drv.tick(reading(batteries=b))
    assert "E-B01" not in d.active_codes
    assert d.load_disconnect == "high"
    top = drv.core.p.commissioned
    assert isinstance(top, BankTopology)
    assert (top.series, top.parallel, top.model_id) == (series, parallel, model)


def test_capacity_is_nominal_ah_times_batteries_in_parallel():
    top = discover(list(bank(2, 3, "12.8/300")))
    assert isinstance(top, BankTopology)
    assert top.capacity_ah == 900.0
    assert top.cells_in_series == 8


def test_e_b01_clears_when_the_bank_becomes_valid():
    drv = Driver()
    drv.tick(reading(batteries=_mixed(), bank_voltage_v=13.2))
    d = drv.tick(reading(batteries=bank(1, 2)))
    assert "E-B01" not in d.active_codes
    assert d.load_disconnect == "high"


def test_e_b05_when_a_battery_is_removed_since_commissioning():
    drv = Driver()
    drv.commission(reading(batteries=bank(1, 2)))
    d = drv.tick(reading(batteries=(battery("HQ0001"),)))
    assert "E-B05" in d.active_codes
    assert d.load_disconnect == "floating"
    assert d.charge_disconnect == "floating"
    assert "configuration_changed" in d.discharge_reasons


def test_e_b05_when_a_battery_is_added_since_commissioning():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(batteries=bank(1, 2)))
    assert "E-B05" in d.active_codes
    assert d.load_disconnect == "floating"
    assert d.charge_disconnect == "floating"


def test_e_b05_when_a_battery_is_replaced_by_another_serial():
    drv = Driver()
    drv.commission(reading(batteries=bank(1, 2)))
    d = drv.tick(reading(batteries=(battery("HQ0001"), battery("HQ0099"))))
    assert "E-B05" in d.active_codes


def test_e_b05_stays_until_accept_bank_even_if_nothing_else_changes():
    drv = Driver()
    drv.commission(reading(batteries=bank(1, 2)))
    d = drv.run(reading(batteries=(battery("HQ0001"),)), 120)
    assert "E-B05" in d.active_codes


def test_accept_bank_clears_e_b05_and_learns_the_new_capacity():
    drv = Driver()
    drv.commission(reading(batteries=bank(1, 2)))
    one = reading(batteries=(battery("HQ0001"),))
    drv.tick(one)
    d = drv.tick(one, [AcceptBank()])
    assert d.command_results[0].accepted
    assert "E-B05" not in d.active_codes
    assert d.load_disconnect == "high"
    assert d.charge_disconnect == "high"
    top = drv.core.p.commissioned
    assert top is not None and top.capacity_ah == 100.0


def test_accepting_an_added_battery_makes_the_balancer_unknown():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SyncSoc()])
    assert drv.core.status().balancer == "balanced"
    two = reading(batteries=bank(1, 2))
    drv.tick(two)
    d = drv.tick(two, [AcceptBank()])
    assert "E-B05" not in d.active_codes
    assert drv.core.status().balancer == "unknown"


def test_a_missing_battery_frame_is_comms_lost_not_e_b05():
    drv = Driver()
    drv.commission(reading(batteries=bank(1, 2)))
    d = drv.run(reading(batteries=(battery("HQ0001"), None), bank_voltage_v=13.2), 10)
    assert "E-B05" not in d.active_codes
    assert "W-B05" in d.active_codes


def test_accept_bank_refused_without_a_valid_bank():
    drv = Driver()
    d = drv.tick(reading(batteries=_mixed(), bank_voltage_v=13.2), [AcceptBank()])
    assert not d.command_results[0].accepted
    assert d.command_results[0].message
