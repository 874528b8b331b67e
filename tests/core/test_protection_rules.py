"""SPEC 6: one test per row of the protection table — trip, clear, timer, interaction.

Time runs in 1 s ticks; the bank (one 12.8/100 battery unless said) is commissioned at t = 0.
"""

from __future__ import annotations

import dataclasses
import math

from smallbms.core.settings import Settings
from smallbms.core.types import ChangeSetting, SetSoc, SyncSoc

from .helpers import Driver, bank, battery, one_cell, reading

# --- cell pre-alarm (W-B01) ---------------------------------------------------------------------


def test_pre_alarm_stays_floating_while_the_lowest_cell_is_at_the_pre_alarm_level():
    drv = Driver()
    drv.commission()
    d = drv.run(one_cell(3.10), 60)
    assert d.pre_alarm == "floating"
    assert "W-B01" not in d.active_codes
    assert d.allowed_to_discharge == "yes"


def test_pre_alarm_goes_high_when_a_cell_falls_below_the_pre_alarm_level():
    drv = Driver()
    drv.commission()
    d = drv.tick(one_cell(3.09))
    assert d.pre_alarm == "high"
    assert "W-B01" in d.active_codes
    assert d.load_disconnect == "high"
    assert d.charge_disconnect == "high"


def test_pre_alarm_clears_only_when_all_cells_are_0_1_v_above_the_level():
    b2 = bank(1, 2)
    drv = Driver()
    drv.commission(reading(batteries=b2))
    assert drv.tick(reading(3.0, batteries=bank(1, 2, cell_v=3.0))).pre_alarm == "high"
    # one battery recovered, the other 0.01 V short of level + 0.10 V: still high
    mixed = (battery("HQ0001", cell_v=3.25), battery("HQ0002", cell_v=3.19))
    d = drv.run(reading(batteries=mixed), 30)
    assert d.pre_alarm == "high"
    assert "W-B01" in d.active_codes
    d = drv.tick(reading(batteries=bank(1, 2, cell_v=3.20)))
    assert d.pre_alarm == "floating"
    assert "W-B01" not in d.active_codes
    assert [(e.code, e.state) for e in d.events] == [("W-B01", "cleared")]


def test_pre_alarm_follows_the_pre_alarm_level_setting():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(), [ChangeSetting("pre_alarm_level_v", 2.90)])
    assert d.command_results[0].accepted
    assert drv.run(one_cell(2.95), 10).pre_alarm == "floating"
    assert drv.tick(one_cell(2.89)).pre_alarm == "high"
    assert drv.tick(one_cell(2.99)).pre_alarm == "high"  # clear is at 3.00
    assert drv.tick(one_cell(3.00)).pre_alarm == "floating"


def test_pre_alarm_trips_on_a_single_valid_battery_while_another_is_missing():
    drv = Driver()
    drv.commission(reading(batteries=bank(1, 2)))
    d = drv.tick(reading(batteries=(battery("HQ0001", cell_v=3.0), None), bank_voltage_v=12.0))
    assert d.pre_alarm == "high"
    assert "W-B01" in d.active_codes


# --- cell undervoltage (A-B01) and the 30 s pre-alarm lead --------------------------------------


def test_a_b01_does_not_trip_with_the_lowest_cell_at_2_80_v():
    drv = Driver()
    drv.commission()
    d = drv.run(one_cell(2.80), 120)
    assert d.load_disconnect == "high"
    assert "A-B01" not in d.active_codes
    assert d.pre_alarm == "high"  # 2.80 < pre-alarm level


def test_load_disconnect_waits_30_s_after_the_pre_alarm_for_undervoltage():
    drv = Driver()
    drv.commission()
    drv.run(reading(), 9)  # t = 1..9 healthy
    d = drv.tick(one_cell(2.70))  # t = 10: straight from healthy to below 2.80 V
    assert d.pre_alarm == "high"
    assert d.load_disconnect == "high"
    assert "W-B01" in d.active_codes
    assert "A-B01" not in d.active_codes
    assert d.allowed_to_discharge == "pre-alarm"
    d = drv.run_until(one_cell(2.70), 39)
    assert all(dd.load_disconnect == "high" for t, dd in drv.log if t <= 39)
    d = drv.tick(one_cell(2.70))  # t = 40: 30 s after the pre-alarm went high
    assert drv.now == 40
    assert d.load_disconnect == "floating"
    assert "A-B01" in d.active_codes
    assert "low_cell_voltage" in d.discharge_reasons
    assert d.allowed_to_discharge == "no"
    assert drv.event_times("A-B01") == [40.0]


def test_load_disconnect_immediate_for_undervoltage_when_pre_alarm_high_for_30_s_already():
    drv = Driver()
    drv.commission()
    drv.run(one_cell(3.00), 30)  # pre-alarm high from t = 1 to t = 30
    assert drv.last.pre_alarm == "high"
    d = drv.tick(one_cell(2.70))  # t = 31: pre-alarm high for 30 s already
    assert d.load_disconnect == "floating"
    assert "A-B01" in d.active_codes


def test_load_disconnect_waits_the_rest_of_the_30_s_when_the_pre_alarm_went_high_sooner():
    drv = Driver()
    drv.commission()
    drv.run(one_cell(3.00), 19)  # pre-alarm high at t = 1
    d = drv.run_until(one_cell(2.70), 30)  # undervoltage from t = 20
    assert d.load_disconnect == "high"
    d = drv.tick(one_cell(2.70))  # t = 31
    assert d.load_disconnect == "floating"
    assert drv.event_times("A-B01") == [31.0]


def test_load_disconnect_returns_only_when_all_cells_are_at_3_20_v_after_undervoltage():
    drv = Driver()
    drv.commission(reading(batteries=bank(1, 2)))
    low = bank(1, 2, cell_v=2.7)
    drv.run(reading(batteries=low), 31)
    assert drv.last.load_disconnect == "floating"
    mixed = (battery("HQ0001", cell_v=3.30), battery("HQ0002", cell_v=3.19))
    d = drv.run(reading(batteries=mixed), 30)
    assert d.load_disconnect == "floating"
    assert "A-B01" in d.active_codes
    d = drv.tick(reading(batteries=bank(1, 2, cell_v=3.20)))
    assert d.load_disconnect == "high"
    assert "A-B01" not in d.active_codes
    assert "W-B01" not in d.active_codes
    assert d.pre_alarm == "floating"


def test_undervoltage_does_not_clear_on_an_incomplete_reading():
    drv = Driver()
    drv.commission(reading(batteries=bank(1, 2)))
    drv.run(reading(batteries=bank(1, 2, cell_v=2.7)), 31)
    assert "A-B01" in drv.last.active_codes
    d = drv.tick(reading(batteries=(battery("HQ0001", cell_v=3.3), None), bank_voltage_v=13.2))
    assert "A-B01" in d.active_codes
    assert d.load_disconnect == "floating"


# --- cell overvoltage ----------------------------------------------------------------------------


def test_charge_disconnect_floats_at_3_75_v_and_returns_at_3_60_v():
    drv = Driver()
    drv.commission()
    d = drv.run(one_cell(3.749), 10)
    assert d.charge_disconnect == "high"
    d = drv.tick(one_cell(3.75))
    assert d.charge_disconnect == "floating"
    assert d.charge_reasons == ("high_cell_voltage",)
    assert d.allowed_to_charge is False
    assert d.load_disconnect == "high"
    assert d.active_codes == ()  # no code for cell overvoltage
    d = drv.run(one_cell(3.61), 30)
    assert d.charge_disconnect == "floating"
    d = drv.tick(one_cell(3.60))
    assert d.charge_disconnect == "high"
    assert d.allowed_to_charge is True


# --- low charge temperature -----------------------------------------------------------------------


def test_charge_disconnect_floats_below_5_c_and_returns_at_6_c():
    drv = Driver()
    drv.commission()
    assert drv.run(reading(temperature_c=5.0), 10).charge_disconnect == "high"
    d = drv.tick(reading(temperature_c=4.9))
    assert d.charge_disconnect == "floating"
    assert d.charge_reasons == ("low_temperature",)
    assert d.load_disconnect == "high"
    assert d.active_codes == ()
    assert drv.run(reading(temperature_c=5.9), 10).charge_disconnect == "floating"
    assert drv.tick(reading(temperature_c=6.0)).charge_disconnect == "high"


def test_low_charge_temperature_clears_only_when_all_batteries_are_at_6_c():
    drv = Driver()
    drv.commission(reading(batteries=bank(1, 2)))
    drv.tick(reading(batteries=bank(1, 2, temperature_c=0.0)))
    mixed = (battery("HQ0001", temperature_c=20.0), battery("HQ0002", temperature_c=5.5))
    assert drv.tick(reading(batteries=mixed)).charge_disconnect == "floating"
    assert drv.tick(reading(batteries=bank(1, 2, temperature_c=6.0))).charge_disconnect == "high"


# --- high battery temperature (A-B09) -------------------------------------------------------------


def test_a_b09_raised_and_charge_disconnect_floats_above_50_c_and_clears_at_45_c():
    drv = Driver()
    drv.commission()
    d = drv.run(reading(temperature_c=50.0), 10)
    assert d.charge_disconnect == "high"
    assert "A-B09" not in d.active_codes
    d = drv.tick(reading(temperature_c=50.1))
    assert d.charge_disconnect == "floating"
    assert "A-B09" in d.active_codes
    assert "high_temperature" in d.charge_reasons
    assert d.load_disconnect == "high"
    d = drv.run(reading(temperature_c=45.1), 20)
    assert "A-B09" in d.active_codes
    assert d.charge_disconnect == "floating"
    d = drv.tick(reading(temperature_c=45.0))
    assert "A-B09" not in d.active_codes
    assert d.charge_disconnect == "high"


# --- low bank voltage (A-B08) ----------------------------------------------------------------------


def test_a_b08_after_10_s_below_2_5_v_per_cell_not_9_s():
    drv = Driver()
    drv.commission()
    drv.run(one_cell(3.05), 30)  # pre-alarm high since t = 1, so no extra lead is due
    low = one_cell(3.05, bank_voltage_v=9.9)  # 9.9 V < 2.5 V x 4 cells
    d = drv.run_until(low, 40)  # below from t = 31: 9 s at t = 40
    assert d.load_disconnect == "high"
    assert "A-B08" not in d.active_codes
    d = drv.tick(low)  # t = 41: 10 s
    assert d.load_disconnect == "floating"
    assert "A-B08" in d.active_codes
    assert "low_bank_voltage" in d.discharge_reasons


def test_a_b08_does_not_trip_at_exactly_2_5_v_per_cell():
    drv = Driver()
    drv.commission()
    d = drv.run(reading(bank_voltage_v=10.0), 120)
    assert "A-B08" not in d.active_codes
    assert d.load_disconnect == "high"


def test_a_b08_waits_30_s_after_the_pre_alarm_it_raises():
    drv = Driver()
    drv.commission()
    low = reading(bank_voltage_v=9.9)  # cells look fine: the bank voltage is the backstop
    drv.run(low, 60)
    t_pre = drv.first_time(lambda d: d.pre_alarm == "high")
    t_off = drv.first_time(lambda d: d.load_disconnect == "floating")
    assert t_pre is not None and t_off is not None
    assert 10.0 <= t_pre <= 11.0  # the pre-alarm goes high once the 10 s condition is met
    assert t_off == max(t_pre + 30.0, 11.0)
    assert drv.event_times("A-B08") == [t_off]


def test_a_b08_clears_when_the_bank_voltage_is_back_at_3_2_v_per_cell():
    drv = Driver()
    drv.commission()
    drv.run(reading(bank_voltage_v=9.9), 60)
    assert "A-B08" in drv.last.active_codes
    d = drv.run(reading(bank_voltage_v=12.79), 20)
    assert "A-B08" in d.active_codes
    assert d.load_disconnect == "floating"
    d = drv.tick(reading(bank_voltage_v=12.80))
    assert "A-B08" not in d.active_codes
    assert d.load_disconnect == "high"


def test_low_bank_voltage_scales_with_the_cells_in_series_of_a_24_v_bank():
    drv = Driver()
    b = bank(2, 1)
    drv.commission(reading(batteries=b))
    assert "A-B08" not in drv.run(reading(batteries=b, bank_voltage_v=20.0), 60).active_codes
    d = drv.run(reading(batteries=b, bank_voltage_v=19.9), 60)
    assert "A-B08" in d.active_codes


def test_low_bank_voltage_timer_restarts_when_the_voltage_recovers_in_between():
    drv = Driver()
    drv.commission()
    drv.run(one_cell(3.05), 30)
    drv.run(one_cell(3.05, bank_voltage_v=9.9), 8)
    drv.tick(one_cell(3.05, bank_voltage_v=10.5))
    d = drv.run(one_cell(3.05, bank_voltage_v=9.9), 10)  # t = 40..49: 9 s
    assert "A-B08" not in d.active_codes
    assert "A-B08" in drv.tick(one_cell(3.05, bank_voltage_v=9.9)).active_codes


# --- communication lost (W-B05, A-B05) ----------------------------------------------------------


def test_w_b05_after_5_s_without_a_complete_reading_not_4_s():
    drv = Driver()
    drv.commission()
    missing = reading(batteries=(None,), bank_voltage_v=13.2)
    d = drv.run(missing, 4)  # last valid reading at t = 0; t = 4 is 4 s without one
    assert "W-B05" not in d.active_codes
    assert d.charge_disconnect == "high"
    assert d.pre_alarm == "floating"
    d = drv.tick(missing)  # t = 5: 5 s without a valid reading
    assert "W-B05" in d.active_codes
    assert d.charge_disconnect == "floating"
    assert "comms_lost" in d.charge_reasons
    assert d.pre_alarm == "high"
    assert d.load_disconnect == "high"


def test_w_b05_when_one_battery_of_two_stops_reporting():
    drv = Driver()
    drv.commission(reading(batteries=bank(1, 2)))
    d = drv.run(reading(batteries=(battery("HQ0001"), None), bank_voltage_v=13.2), 5)
    assert "W-B05" in d.active_codes
    assert d.charge_disconnect == "floating"


def test_w_b05_when_the_battery_bus_is_silent():
    drv = Driver()
    drv.commission()
    d = drv.run(reading(batteries=(), bank_voltage_v=13.2), 5)
    assert "W-B05" in d.active_codes


def test_a_b05_30_s_after_w_b05():
    drv = Driver()
    drv.commission()
    missing = reading(batteries=(None,), bank_voltage_v=13.2)
    d = drv.run_until(missing, 34)  # last valid reading at t = 0, W-B05 due at t = 5
    assert "W-B05" in d.active_codes
    assert "A-B05" not in d.active_codes
    assert d.load_disconnect == "high"
    d = drv.tick(missing)  # t = 35: W-B05 active for 30 s
    assert "A-B05" in d.active_codes
    assert d.load_disconnect == "floating"
    assert "comms_lost" in d.discharge_reasons
    assert drv.event_times("W-B05") == [5.0]
    assert drv.event_times("A-B05") == [35.0]


def test_w_b05_5_s_after_the_data_arrived_when_readings_carry_its_age():
    # a bus keeps the last message fresh for 3 s: readings at 11..13 s are complete but carry
    # the data of t = 10, so W-B05 is due at 15 s and A-B05 at 45 s, not 18 s and 48 s
    drv = Driver()
    drv.commission()
    drv.run_until(reading(), 10)
    for t in (11.0, 12.0, 13.0):
        drv.at(t, dataclasses.replace(reading(), data_age_s=t - 10.0))
    missing = reading(batteries=(None,), bank_voltage_v=13.2)
    d = drv.run_until(missing, 14)
    assert "W-B05" not in d.active_codes
    assert "W-B05" in drv.tick(missing).active_codes  # t = 15
    drv.run_until(missing, 50)
    assert drv.event_times("W-B05") == [15.0]
    assert drv.event_times("A-B05") == [45.0]


def test_w_b05_data_age_never_moves_the_comms_timer_back_or_before_power_up():
    drv = Driver(t0=100.0)
    drv.commission(dataclasses.replace(reading(), data_age_s=50.0))  # older than power-up
    missing = reading(batteries=(None,), bank_voltage_v=13.2)
    drv.run_until(missing, 104)
    assert drv.event_times("W-B05") == []  # timed from power-up at 100 s, not from 50 s
    drv.tick(missing)
    assert drv.event_times("W-B05") == [105.0]

    drv = Driver()
    drv.commission()
    drv.at(5.0, reading())
    drv.at(6.0, dataclasses.replace(reading(), data_age_s=4.0))  # older than the last data
    drv.at(7.0, dataclasses.replace(reading(), data_age_s=math.nan))  # unknown: as new
    drv.run_until(missing, 11)
    assert drv.event_times("W-B05") == []
    drv.tick(missing)
    assert drv.event_times("W-B05") == [12.0]


def test_comms_codes_clear_when_every_battery_reports_again():
    drv = Driver()
    drv.commission(reading(batteries=bank(1, 2)))
    drv.run(reading(batteries=(None, None), bank_voltage_v=13.2), 60)
    assert {"W-B05", "A-B05"} <= set(drv.last.active_codes)
    d = drv.run(reading(batteries=(battery("HQ0001"), None), bank_voltage_v=13.2), 5)
    assert {"W-B05", "A-B05"} <= set(d.active_codes)
    d = drv.tick(reading(batteries=bank(1, 2)))
    assert "W-B05" not in d.active_codes
    assert "A-B05" not in d.active_codes
    assert d.load_disconnect == "high"
    assert d.charge_disconnect == "high"
    assert d.pre_alarm == "floating"


def test_a_comms_gap_shorter_than_5_s_raises_nothing():
    drv = Driver()
    drv.commission()
    missing = reading(batteries=(None,), bank_voltage_v=13.2)
    for _ in range(5):
        drv.run(missing, 4)  # at most 4 s without a valid reading
        drv.tick(reading())
    assert drv.events == []


# --- low SoC warning (W-B07) and discharge floor (A-B07) -------------------------------------------


def test_w_b07_at_soc_at_or_below_the_warning_level():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(), [SetSoc(20.5)])
    assert "W-B07" not in d.active_codes
    assert d.pre_alarm == "floating"
    d = drv.tick(reading(), [SetSoc(20.0)])
    assert "W-B07" in d.active_codes
    assert d.pre_alarm == "high"
    assert d.load_disconnect == "high"
    assert d.allowed_to_discharge == "pre-alarm"


def test_w_b07_clears_at_the_warning_level_plus_5_points():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(18.0)])
    assert "W-B07" in drv.tick(reading(), [SetSoc(24.9)]).active_codes
    d = drv.tick(reading(), [SetSoc(25.0)])
    assert "W-B07" not in d.active_codes
    assert d.pre_alarm == "floating"


def test_a_b07_disconnects_the_load_immediately_at_the_discharge_floor():
    # warning level = floor: no pre-alarm before the floor, and still no 30 s lead
    drv = Driver(settings=Settings(low_soc_warning_pct=10.0, discharge_floor_pct=10.0))
    drv.commission()
    d = drv.tick(reading(), [SetSoc(10.5)])
    assert d.pre_alarm == "floating"
    discharging = reading(current_a=-60.0)  # 1 Ah per minute of a 100 Ah bank
    for _ in range(60):
        d = drv.tick(discharging)
        soc = drv.core.status().soc_pct
        assert soc is not None
        if soc <= 10.0:
            break
    else:
        raise AssertionError("SoC never reached the floor")
    assert d.load_disconnect == "floating"
    assert "A-B07" in d.active_codes
    assert "discharge_floor" in d.discharge_reasons


def test_a_b07_raised_by_set_soc_at_the_floor_in_the_same_step():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(), [SetSoc(10.0)])
    assert d.load_disconnect == "floating"
    assert {"A-B07", "W-B07"} <= set(d.active_codes)


def test_a_b07_clears_at_the_floor_plus_5_points():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(8.0)])
    d = drv.tick(reading(), [SetSoc(14.9)])
    assert "A-B07" in d.active_codes
    assert d.load_disconnect == "floating"
    d = drv.tick(reading(), [SetSoc(15.0)])
    assert "A-B07" not in d.active_codes
    assert d.load_disconnect == "high"
    assert "W-B07" in d.active_codes  # its own clear is at 25 %


def test_a_b07_clears_at_a_sync_to_100_percent():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(5.0)])
    d = drv.tick(reading(), [SyncSoc()])
    assert "A-B07" not in d.active_codes
    assert d.load_disconnect == "high"


def test_a_b07_clears_at_a_sync_even_when_floor_plus_5_is_above_100():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(), [ChangeSetting("low_soc_warning_pct", 99.0),
                             ChangeSetting("discharge_floor_pct", 99.0)])
    assert all(r.accepted for r in d.command_results)
    d = drv.tick(reading(), [SetSoc(99.0)])
    assert "A-B07" in d.active_codes
    d = drv.tick(reading(), [SetSoc(99.9)])  # below min(99 + 5, 100): still active
    assert "A-B07" in d.active_codes
    d = drv.tick(reading(), [SyncSoc()])
    assert "A-B07" not in d.active_codes
    assert d.load_disconnect == "high"


def test_soc_codes_with_a_99_percent_level_clear_at_100_percent():
    """The clear level is capped at 100 %, so a 99 % level can clear (docs/choices.md)."""
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [ChangeSetting("low_soc_warning_pct", 99.0),
                         ChangeSetting("discharge_floor_pct", 99.0)])
    d = drv.tick(reading(), [SetSoc(99.0)])
    assert {"W-B07", "A-B07"} <= set(d.active_codes)
    d = drv.tick(reading(), [SetSoc(100.0)])
    assert "A-B07" not in d.active_codes
    assert "W-B07" not in d.active_codes


def test_a_b07_clears_at_an_automatic_sync_even_when_floor_plus_5_is_above_100():
    drv = Driver(settings=Settings(low_soc_warning_pct=99.0, discharge_floor_pct=99.0))
    drv.commission()
    drv.tick(reading(), [SetSoc(98.0)])
    assert "A-B07" in drv.last.active_codes
    charged = reading(bank_voltage_v=14.2, current_a=2.0)
    drv.run(charged, 181)
    assert "A-B07" not in drv.last.active_codes
    assert drv.last.load_disconnect == "high"


def test_discharge_floor_0_disables_a_b07():
    drv = Driver(settings=Settings(low_soc_warning_pct=0.0, discharge_floor_pct=0.0))
    drv.commission()
    d = drv.tick(reading(), [SetSoc(0.0)])
    d = drv.run(reading(current_a=-10.0), 60)
    assert "A-B07" not in d.active_codes
    assert d.load_disconnect == "high"
    assert "discharge_floor" not in d.discharge_reasons


def test_no_low_soc_warning_or_alarm_while_soc_is_unknown():
    drv = Driver()
    drv.commission()
    d = drv.run(reading(current_a=-100.0), 3600)  # 100 Ah out of a 100 Ah bank
    assert drv.core.status().soc_pct is None
    assert "W-B07" not in d.active_codes
    assert "A-B07" not in d.active_codes
    assert d.load_disconnect == "high"


# --- hardware fault (E-B11) ---------------------------------------------------------------------


def test_e_b11_from_an_output_fault_floats_both_disconnects_and_clears_when_the_fault_is_gone():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(output_fault=True))
    assert "E-B11" in d.active_codes
    assert d.load_disconnect == "floating"
    assert d.charge_disconnect == "floating"
    assert "hardware_error" in d.discharge_reasons
    assert "hardware_error" in d.charge_reasons
    d = drv.tick(reading())
    assert "E-B11" not in d.active_codes
    assert d.load_disconnect == "high"
    assert d.charge_disconnect == "high"


# --- bank voltage not allowed (E-B09) -----------------------------------------------------------


def test_e_b09_below_9_v_floats_both_disconnects():
    drv = Driver()
    drv.commission()
    assert "E-B09" not in drv.tick(reading(bank_voltage_v=9.0)).active_codes
    d = drv.tick(reading(bank_voltage_v=8.9))
    assert "E-B09" in d.active_codes
    assert d.load_disconnect == "floating"
    assert d.charge_disconnect == "floating"
    assert "voltage_not_allowed" in d.discharge_reasons
    d = drv.tick(reading())
    assert "E-B09" not in d.active_codes


def test_e_b09_above_60_v_floats_both_disconnects():
    b = bank(1, 1, "51.2/100")
    drv = Driver()
    drv.commission(reading(batteries=b))
    assert "E-B09" not in drv.tick(reading(batteries=b, bank_voltage_v=60.0)).active_codes
    d = drv.tick(reading(batteries=b, bank_voltage_v=60.1))
    assert "E-B09" in d.active_codes
    assert d.load_disconnect == "floating"
    assert d.charge_disconnect == "floating"
    d = drv.tick(reading(batteries=b))
    assert "E-B09" not in d.active_codes
    assert d.load_disconnect == "high"
