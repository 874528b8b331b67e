"""SPEC 4 (supply), 5 (fail-safe start), 12 (firmware updates), 13 (wireless window)."""

from __future__ import annotations

from smallbms.core.types import (
    FirmwareUpdateFinished,
    FirmwareUpdateStarted,
    Leds,
    SetSoc,
    SetWireless,
)

from .helpers import Driver, battery, reading

# --- fail-safe start ------------------------------------------------------------------------------


def test_both_disconnects_float_until_the_first_complete_valid_reading():
    drv = Driver()
    d = drv.tick(reading(batteries=(None,), bank_voltage_v=13.2))
    assert d.load_disconnect == "floating"
    assert d.charge_disconnect == "floating"
    assert "no_battery_data" in d.discharge_reasons
    assert "no_battery_data" in d.charge_reasons
    d = drv.tick(reading(batteries=(), bank_voltage_v=13.2))
    assert d.load_disconnect == "floating"
    d = drv.tick(reading())
    assert d.load_disconnect == "high"
    assert d.charge_disconnect == "high"


def test_a_first_reading_with_a_nan_cell_is_not_valid():
    drv = Driver()
    nan = float("nan")
    d = drv.tick(reading(batteries=(battery(cells=(3.3, nan, 3.3, 3.3)),), bank_voltage_v=13.2))
    assert d.load_disconnect == "floating"
    assert d.charge_disconnect == "floating"


def test_comms_timer_runs_from_power_up_when_no_data_ever_arrives():
    drv = Driver()
    missing = reading(batteries=(None,), bank_voltage_v=13.2)
    drv.run(missing, 5)  # t = 0..4
    assert "W-B05" not in drv.last.active_codes
    assert "W-B05" in drv.tick(missing).active_codes  # t = 5


# --- supply below 8 V ---------------------------------------------------------------------------


def test_supply_below_8_v_floats_everything_and_turns_the_leds_off():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(50.0)])
    d = drv.tick(reading(bank_voltage_v=7.99))
    assert d.load_disconnect == "floating"
    assert d.charge_disconnect == "floating"
    assert d.pre_alarm == "floating"
    assert d.leds == Leds(error="off", bluetooth="off", load_on="off", temp_ovp="off")
    assert d.active_codes == ()
    assert drv.core.status().powered is False


def test_supply_at_8_v_keeps_the_bms_running():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(bank_voltage_v=8.0))
    assert drv.core.status().powered is True
    assert d.leds.bluetooth == "blink"


def test_nothing_is_counted_while_the_supply_is_below_8_v():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(50.0)])
    before = drv.core.status().consumed_ah
    hist_before = drv.core.p.history.as_dict()
    dead = reading(bank_voltage_v=5.0, current_a=-100.0, temperature_c=-20.0)
    drv.run(dead, 3600)
    assert drv.core.p.monitor.consumed_ah == before
    assert drv.core.p.history.as_dict() == hist_before
    # the first step after the supply returns counts no time from the outage either
    drv.tick(reading(current_a=-100.0))
    assert drv.core.p.monitor.consumed_ah == before


def test_classic_leds_are_off_without_supply():
    drv = Driver(profile="classic")
    drv.tick(reading(batteries=(battery(model_id="smart-12.8/100"),)))
    d = drv.tick(reading(batteries=(battery(model_id="smart-12.8/100"),), bank_voltage_v=3.0))
    assert d.leds == Leds()


def test_after_the_supply_returns_the_bms_starts_as_after_power_up():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetWireless(False)])
    drv.run(reading(), 60)
    assert drv.last.leds.bluetooth == "off"
    drv.run(reading(bank_voltage_v=2.0), 10)
    d = drv.tick(reading(batteries=(None,), bank_voltage_v=13.2))  # power back, no data yet
    assert d.load_disconnect == "floating"  # fail-safe start again
    assert d.charge_disconnect == "floating"
    assert d.leds.bluetooth == "blink"  # the 30 s wireless window again
    d = drv.tick(reading())
    assert d.load_disconnect == "high"
    assert d.charge_disconnect == "high"


def test_codes_clear_when_the_supply_is_lost():
    drv = Driver()
    drv.commission()
    drv.tick(reading(temperature_c=60.0))
    d = drv.tick(reading(bank_voltage_v=1.0))
    assert ("A-B09", "cleared") in [(e.code, e.state) for e in d.events]


def test_commands_are_refused_without_supply():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(bank_voltage_v=1.0), [SetSoc(50.0)])
    assert not d.command_results[0].accepted


# --- firmware updates ---------------------------------------------------------------------------


def test_charge_disconnect_floats_during_a_firmware_update():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(), [FirmwareUpdateStarted()])
    assert d.charge_disconnect == "floating"
    assert "firmware_update" in d.charge_reasons
    assert d.load_disconnect == "high"  # the system is not shut down
    assert drv.run(reading(), 300).charge_disconnect == "floating"
    assert drv.core.status().firmware_update == "updating"
    d = drv.tick(reading(), [FirmwareUpdateFinished(success=True)])
    assert d.charge_disconnect == "high"
    assert d.load_disconnect == "high"


def test_load_disconnect_floats_120_s_after_a_failed_update_not_119_s():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [FirmwareUpdateStarted()])  # t = 1
    d = drv.tick(reading(), [FirmwareUpdateFinished(success=False)])  # t = 2
    assert d.charge_disconnect == "high"
    assert d.load_disconnect == "high"
    d = drv.run_until(reading(), 121)  # 119 s after the failure
    assert d.load_disconnect == "high"
    d = drv.tick(reading())  # t = 122: 120 s
    assert d.load_disconnect == "floating"
    assert "firmware_update_failed" in d.discharge_reasons


def test_load_stays_on_when_a_retry_succeeds_within_120_s():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [FirmwareUpdateStarted()])  # t = 1
    drv.tick(reading(), [FirmwareUpdateFinished(success=False)])  # t = 2
    drv.run_until(reading(), 60)
    drv.tick(reading(), [FirmwareUpdateStarted()])  # t = 61
    assert drv.last.charge_disconnect == "floating"
    drv.run_until(reading(), 100)
    d = drv.tick(reading(), [FirmwareUpdateFinished(success=True)])  # t = 101
    assert d.charge_disconnect == "high"
    d = drv.run_until(reading(), 400)
    assert all(dd.load_disconnect == "high" for _, dd in drv.log)


def test_load_disconnect_floats_at_120_s_when_the_retry_has_not_succeeded_yet():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [FirmwareUpdateStarted()])  # t = 1
    drv.tick(reading(), [FirmwareUpdateFinished(success=False)])  # t = 2
    drv.tick(reading(), [FirmwareUpdateStarted()])  # t = 3, still running at t = 122
    d = drv.run_until(reading(), 122)
    assert d.load_disconnect == "floating"


# --- wireless window after power-up -------------------------------------------------------------


def test_bluetooth_led_blinks_in_the_first_30_s_after_power_up_even_when_wireless_is_disabled():
    drv = Driver()
    d = drv.tick(reading(), [SetWireless(False)])  # power-up at t = 0
    assert d.command_results[0].accepted
    assert d.leds.bluetooth == "blink"
    drv.run_until(reading(), 29)
    assert all(dd.leds.bluetooth == "blink" for _, dd in drv.log)
    assert drv.core.status().wireless_available is True
    d = drv.tick(reading())  # t = 30
    assert d.leds.bluetooth == "off"
    assert drv.core.status().wireless_available is False


def test_bluetooth_led_stays_blinking_after_30_s_when_wireless_is_enabled():
    drv = Driver()
    drv.commission()
    assert drv.run(reading(), 100).leds.bluetooth == "blink"


def test_re_enabling_wireless_in_the_window_keeps_it_on():
    drv = Driver()
    drv.tick(reading(), [SetWireless(False)])
    drv.tick(reading(app_connected=True), [SetWireless(True)])
    assert drv.run(reading(), 100).leds.bluetooth == "blink"
