"""SPEC 7 (warnings, alarms, errors: events, log, held warnings, reasons) and SPEC 8 (LEDs)."""

from __future__ import annotations

from smallbms.core.settings import Settings
from smallbms.core.types import Leds, Reading, RemoteInput, SetSoc
from smallbms.model.codes import CODE_INFO, CODES

from .helpers import Driver, battery, one_cell, reading

# --- the code table -----------------------------------------------------------------------------


def test_the_code_table_has_every_code_of_spec_7_with_its_kind():
    kinds = {c.code: c.kind for c in CODES}
    assert kinds == {
        "W-B01": "warning", "W-B05": "warning", "W-B07": "warning",
        "A-B01": "alarm", "A-B05": "alarm", "A-B07": "alarm", "A-B08": "alarm", "A-B09": "alarm",
        "E-B01": "error", "E-B05": "error", "E-B09": "error", "E-B11": "error",
    }
    assert all(CODE_INFO[c].advice for c in kinds)


# --- raise and clear are events with times, kept in the code log ----------------------------------


def test_codes_raise_and_clear_as_events_with_times_in_the_code_log():
    drv = Driver()
    drv.commission()
    drv.run(reading(), 4)  # t = 1..4
    d = drv.tick(one_cell(3.0))  # t = 5
    assert [(e.t_s, e.code, e.state) for e in d.events] == [(5.0, "W-B01", "active")]
    drv.run(one_cell(3.0), 5)  # t = 6..10: no new event
    assert [e for _, dd in drv.log[-5:] for e in dd.events] == []
    d = drv.tick(reading())  # t = 11
    assert [(e.t_s, e.code, e.state) for e in d.events] == [(11.0, "W-B01", "cleared")]
    log = [(e.t_s, e.code, e.state) for e in drv.core.p.code_log]
    assert log == [(5.0, "W-B01", "active"), (11.0, "W-B01", "cleared")]


def test_active_codes_are_reported_in_table_order():
    drv = Driver()
    drv.commission()
    d = drv.tick(one_cell(3.0, temperature_c=55.0, output_fault=True))
    assert d.active_codes == ("W-B01", "A-B09", "E-B11")


def test_last_4_errors_show_in_history_with_times():
    drv = Driver()
    drv.commission()
    for _ in range(5):
        drv.tick(reading(output_fault=True))  # raised at t = 1, 3, 5, 7, 9
        drv.tick(reading())
    drv.tick(reading(bank_voltage_v=8.5))  # E-B09 at t = 11
    errors = drv.core.p.history.last_errors
    assert errors == [("E-B11", 5.0), ("E-B11", 7.0), ("E-B11", 9.0), ("E-B09", 11.0)]


def test_warnings_and_alarms_do_not_go_into_the_last_errors():
    drv = Driver()
    drv.commission()
    drv.run(one_cell(2.7), 40)
    assert "A-B01" in drv.last.active_codes
    assert drv.core.p.history.last_errors == []


# --- a warning stays active while its alarm is active --------------------------------------------


def test_w_b01_held_while_a_b01_active_when_the_pre_alarm_level_is_2_85_v():
    drv = Driver(settings=Settings(pre_alarm_level_v=2.85))
    drv.commission()
    drv.run(one_cell(2.7), 31)
    assert {"W-B01", "A-B01"} <= set(drv.last.active_codes)
    # 2.95 V is W-B01's own clear level, but A-B01 holds until 3.20 V
    d = drv.run(one_cell(3.0), 20)
    assert "A-B01" in d.active_codes
    assert "W-B01" in d.active_codes
    assert d.pre_alarm == "high"
    d = drv.tick(one_cell(3.20))
    assert "A-B01" not in d.active_codes
    assert "W-B01" not in d.active_codes
    assert d.pre_alarm == "floating"


def test_w_b05_held_while_a_b05_active_and_both_clear_together():
    drv = Driver()
    drv.commission()
    drv.run(reading(batteries=(None,), bank_voltage_v=13.2), 60)
    assert {"W-B05", "A-B05"} <= set(drv.last.active_codes)
    d = drv.tick(reading())
    assert {(e.code, e.state) for e in d.events} == {("W-B05", "cleared"), ("A-B05", "cleared")}


def test_w_b07_held_while_a_b07_active():
    drv = Driver()
    drv.commission()
    drv.tick(reading(), [SetSoc(5.0)])
    assert {"W-B07", "A-B07"} <= set(drv.last.active_codes)
    d = drv.tick(reading(), [SetSoc(14.0)])
    assert {"W-B07", "A-B07"} <= set(d.active_codes)


# --- allowed to discharge / charge and reasons -------------------------------------------------


def test_allowed_to_discharge_shows_pre_alarm_when_the_pre_alarm_is_high_and_loads_still_on():
    drv = Driver()
    drv.commission()
    assert drv.last.allowed_to_discharge == "yes"
    d = drv.tick(one_cell(3.0))
    assert d.pre_alarm == "high"
    assert d.load_disconnect == "high"
    assert d.allowed_to_discharge == "pre-alarm"
    assert d.discharge_reasons == ()


def test_reasons_list_every_cause_of_a_disconnect():
    drv = Driver()
    drv.commission()
    drv.run(one_cell(2.7), 31)
    off = RemoteInput(bridged=False)
    d = drv.tick(one_cell(2.7, temperature_c=2.0, remote=off))
    assert set(d.discharge_reasons) == {"remote_off", "low_cell_voltage"}
    assert set(d.charge_reasons) == {"remote_off", "low_temperature"}
    assert d.allowed_to_discharge == "no"
    assert d.allowed_to_charge is False


def test_no_reasons_when_everything_is_allowed():
    drv = Driver()
    d = drv.commission()
    assert d.discharge_reasons == ()
    assert d.charge_reasons == ()
    assert d.allowed_to_charge is True
    assert d.allowed_to_discharge == "yes"


# --- LEDs (NG) ---------------------------------------------------------------------------------


def test_error_led_is_off_when_nothing_is_active():
    drv = Driver()
    assert drv.commission().leds.error == "off"


def test_error_led_blinks_for_a_warning():
    drv = Driver()
    drv.commission()
    d = drv.tick(one_cell(3.0))
    assert d.active_codes == ("W-B01",)
    assert d.leds.error == "blink"


def test_error_led_is_on_for_an_alarm():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(temperature_c=55.0))
    assert d.active_codes == ("A-B09",)
    assert d.leds.error == "on"


def test_error_led_is_on_for_an_error():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(output_fault=True))
    assert d.active_codes == ("E-B11",)
    assert d.leds.error == "on"


def test_bluetooth_led_blinks_when_enabled_and_no_client_and_is_on_with_a_client():
    drv = Driver()
    drv.commission()
    assert drv.run(reading(), 60).leds.bluetooth == "blink"
    assert drv.tick(reading(app_connected=True)).leds.bluetooth == "on"


# --- LEDs (classic) -----------------------------------------------------------------------------


def _classic_reading(cell_v: float = 3.3, temperature_c: float = 25.0) -> Reading:
    b = battery("HQ0001", "smart-12.8/100", cell_v=cell_v, temperature_c=temperature_c)
    return reading(batteries=(b,))


def test_classic_load_on_led_follows_the_load_disconnect():
    drv = Driver(profile="classic")
    d = drv.tick(_classic_reading())
    assert d.load_disconnect == "high"
    assert d.leds.load_on == "on"
    assert d.leds.temp_ovp == "off"
    drv.run(_classic_reading(2.7), 40)
    assert drv.last.load_disconnect == "floating"
    assert drv.last.leds.load_on == "off"


def test_classic_temp_or_ovp_led_lights_when_the_charge_disconnect_floats():
    drv = Driver(profile="classic")
    drv.tick(_classic_reading())
    d = drv.tick(_classic_reading(3.8))
    assert d.charge_disconnect == "floating"
    assert d.leds.temp_ovp == "on"
    d = drv.tick(_classic_reading(3.3, temperature_c=55.0))
    assert d.charge_disconnect == "floating"
    assert d.leds.temp_ovp == "on"
    assert drv.tick(_classic_reading()).leds.temp_ovp == "off"


def test_classic_has_no_codes_and_no_ng_leds():
    drv = Driver(profile="classic")
    drv.tick(_classic_reading())
    d = drv.run(_classic_reading(2.7, temperature_c=60.0), 40)
    assert d.active_codes == ()
    assert drv.events == []
    assert d.leds == Leds(load_on="off", temp_ovp="on")


def test_snapshot_codes_map_to_their_table_rows_and_unknown_ones_are_left_out() -> None:
    from smallbms.model.codes import CODE_INFO, Code, infos_of

    rows = infos_of([{"code": "A-B01"}, "E-B11", {"code": "X-B99"}, 7, {"name": "no code"}])
    assert rows == [CODE_INFO["A-B01"], CODE_INFO["E-B11"]]
    assert rows[0].code is Code.A_B01 and rows[0].floats_load and not rows[0].floats_charge
