"""SPEC 11: history counters."""

from __future__ import annotations

import pytest

from smallbms.core.types import Reading, ResetHistory, SetSoc, SyncSoc

from .helpers import Driver, battery, reading


def _soc_driver(soc: float) -> Driver:
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(soc)])
    return drv


def _charged() -> Reading:
    return reading(bank_voltage_v=14.2, current_a=2.0)


def test_deepest_discharge_is_the_most_negative_consumed_ah():
    drv = _soc_driver(100.0)
    drv.run(reading(current_a=-30.0), 3600)  # -30 Ah
    drv.run(reading(current_a=20.0), 3600)  # back up to -10.2 Ah
    drv.run(reading(current_a=-10.0), 3600)  # -20.2 Ah
    h = drv.core.p.history
    assert h.deepest_discharge_ah == pytest.approx(-30.0, abs=1e-6)


def test_cumulative_ah_drawn_counts_every_discharge_as_a_negative_sum():
    drv = _soc_driver(100.0)
    drv.run(reading(current_a=-30.0), 3600)
    drv.run(reading(current_a=20.0), 3600)
    drv.run(reading(current_a=-10.0), 3600)
    assert drv.core.p.history.cumulative_ah_drawn == pytest.approx(-40.0, abs=1e-6)


def test_discharged_and_charged_energy_in_kwh():
    drv = _soc_driver(50.0)
    drv.run(reading(bank_voltage_v=12.5, current_a=-40.0), 3600)  # 40 Ah x 12.5 V = 0.5 kWh
    drv.run(reading(bank_voltage_v=13.6, current_a=25.0), 3600)  # 25 Ah x 13.6 V = 0.34 kWh
    h = drv.core.p.history
    assert h.discharged_energy_kwh == pytest.approx(0.5, rel=1e-6)
    assert h.charged_energy_kwh == pytest.approx(0.34, rel=1e-6)


def test_an_automatic_sync_counts_when_soc_had_fallen_below_90_percent():
    drv = _soc_driver(89.0)
    drv.run(_charged(), 200)
    assert drv.core.status().soc_pct == 100.0
    assert drv.core.p.history.synchronisations == 1
    assert drv.core.p.history.seconds_since_full_charge is not None


def test_an_automatic_sync_does_not_count_when_soc_stayed_at_or_above_90_percent():
    drv = _soc_driver(91.0)
    drv.run(_charged(), 200)
    assert drv.core.status().soc_pct == 100.0
    assert drv.core.p.history.synchronisations == 0


def test_a_manual_sync_is_not_counted():
    drv = _soc_driver(50.0)
    drv.tick(reading(), [SyncSoc()])
    assert drv.core.p.history.synchronisations == 0


def test_two_syncs_without_a_discharge_in_between_count_once():
    drv = _soc_driver(80.0)
    drv.run(_charged(), 200)
    drv.run(reading(current_a=-1.0), 60)
    drv.run(_charged(), 200)
    assert drv.core.p.history.synchronisations == 1


def test_a_cycle_counts_when_soc_falls_below_65_percent_and_later_rises_above_90():
    drv = _soc_driver(70.0)
    drv.run(reading(current_a=-60.0), 360)  # 70 -> 64 %
    assert drv.core.p.history.cycles == 0
    drv.tick(reading(), [SetSoc(90.0)])
    assert drv.core.p.history.cycles == 0  # 90 is not above 90
    drv.tick(reading(), [SetSoc(90.5)])
    assert drv.core.p.history.cycles == 1
    drv.tick(reading(), [SetSoc(95.0)])
    assert drv.core.p.history.cycles == 1


def test_no_cycle_when_soc_stays_at_or_above_65_percent():
    drv = _soc_driver(70.0)
    drv.tick(reading(), [SetSoc(65.0)])
    drv.tick(reading(), [SetSoc(99.0)])
    assert drv.core.p.history.cycles == 0


def test_minimum_and_maximum_voltages_cells_and_temperatures():
    drv = Driver()
    drv.commission()
    drv.tick(reading(batteries=(battery(cells=(3.1, 3.3, 3.3, 3.3), temperature_c=12.0),),
                     bank_voltage_v=12.9))
    drv.tick(reading(batteries=(battery(cells=(3.3, 3.4, 3.45, 3.3), temperature_c=31.0),),
                     bank_voltage_v=13.6))
    drv.tick(reading())
    h = drv.core.p.history
    assert h.min_cell_voltage_v == 3.1
    assert h.max_cell_voltage_v == 3.45
    assert h.min_battery_voltage_v == 12.9
    assert h.max_battery_voltage_v == 13.6
    assert h.min_battery_temperature_c == 12.0
    assert h.max_battery_temperature_c == 31.0


def test_extremes_ignore_invalid_battery_data():
    drv = Driver()
    drv.commission()
    drv.tick(reading(batteries=(battery(cells=(3.3, float("nan"), 0.5, 3.3)),),
                     bank_voltage_v=13.2))
    h = drv.core.p.history
    assert h.min_cell_voltage_v == 3.3


def test_reset_history_clears_every_counter_and_keeps_soc():
    drv = _soc_driver(60.0)
    drv.run(reading(current_a=-30.0), 600)
    drv.tick(reading(output_fault=True))
    soc = drv.core.status().soc_pct
    d = drv.tick(reading(), [ResetHistory()])
    assert d.command_results[0].accepted
    h = drv.core.p.history
    assert h.deepest_discharge_ah == 0.0
    assert h.cumulative_ah_drawn == 0.0
    assert h.discharged_energy_kwh == 0.0
    assert h.last_errors == []
    assert h.cycles == 0 and h.synchronisations == 0
    assert drv.core.status().soc_pct == soc
