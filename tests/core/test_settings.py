"""SPEC 9: settings — defaults, ranges, warning >= floor, refusals, reset to factory defaults."""

from __future__ import annotations

import pytest

from smallbms.core.settings import DEFAULT_SETTINGS, SettingError, Settings, change_settings
from smallbms.core.types import ChangeSetting, Command, ResetDefaults, SetSoc

from .helpers import Driver, one_cell, reading


def test_defaults_are_the_spec_values():
    assert DEFAULT_SETTINGS.as_dict() == {
        "charged_voltage_v": 14.0, "tail_current_pct": 4.0, "charged_detection_time_min": 3.0,
        "low_soc_warning_pct": 20.0, "discharge_floor_pct": 10.0, "pre_alarm_level_v": 3.10}


ACCEPTED = [
    ("charged_voltage_v", 13.0), ("charged_voltage_v", 14.6),
    ("tail_current_pct", 0.5), ("tail_current_pct", 10.0),
    ("charged_detection_time_min", 1.0), ("charged_detection_time_min", 50.0),
    ("low_soc_warning_pct", 99.0), ("low_soc_warning_pct", 10.0),
    ("discharge_floor_pct", 0.0), ("discharge_floor_pct", 20.0),
    ("pre_alarm_level_v", 2.85), ("pre_alarm_level_v", 3.15),
]

REFUSED = [
    ("charged_voltage_v", 12.99), ("charged_voltage_v", 14.61),
    ("tail_current_pct", 0.4), ("tail_current_pct", 10.1),
    ("charged_detection_time_min", 0.5), ("charged_detection_time_min", 51.0),
    ("low_soc_warning_pct", 100.0), ("low_soc_warning_pct", -1.0),
    ("low_soc_warning_pct", 9.0),  # below the discharge floor (10 %)
    ("discharge_floor_pct", 21.0),  # above the warning level (20 %)
    ("discharge_floor_pct", 100.0),
    ("pre_alarm_level_v", 2.84), ("pre_alarm_level_v", 3.16),
    ("pre_alarm_level_v", float("nan")),
]


@pytest.mark.parametrize(("name", "value"), ACCEPTED)
def test_a_setting_inside_its_range_is_accepted(name: str, value: float):
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(), [ChangeSetting(name, value)])
    assert d.command_results[0].accepted, d.command_results[0].message
    assert getattr(drv.core.p.settings, name) == value


@pytest.mark.parametrize(("name", "value"), REFUSED)
def test_a_refused_change_changes_nothing_and_the_message_names_the_setting(
    name: str, value: float
):
    drv = Driver()
    drv.commission()
    before = drv.core.p.settings
    d = drv.tick(reading(), [ChangeSetting(name, value)])
    res = d.command_results[0]
    assert not res.accepted
    assert name in res.message
    assert drv.core.p.settings == before


def test_an_unknown_setting_is_refused_by_name():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(), [ChangeSetting("battery_capacity_ah", 200.0)])
    assert not d.command_results[0].accepted
    assert "battery_capacity_ah" in d.command_results[0].message


def test_the_warning_level_may_equal_the_floor():
    drv = Driver()
    drv.commission()
    d = drv.tick(reading(), [ChangeSetting("low_soc_warning_pct", 10.0)])
    assert d.command_results[0].accepted


def test_reset_to_defaults_restores_exactly_the_five_monitor_settings():
    drv = Driver()
    drv.commission()
    changes: list[Command] = [
        ChangeSetting("charged_voltage_v", 14.4), ChangeSetting("tail_current_pct", 2.0),
        ChangeSetting("charged_detection_time_min", 10.0),
        ChangeSetting("low_soc_warning_pct", 50.0), ChangeSetting("discharge_floor_pct", 30.0),
        ChangeSetting("pre_alarm_level_v", 2.95), SetSoc(55.0),
    ]
    d = drv.tick(reading(current_a=-20.0), changes)
    assert all(r.accepted for r in d.command_results)
    drv.run(reading(current_a=-20.0), 60)
    drv.run(one_cell(3.0), 10)
    hist_before = drv.core.p.history.as_dict()
    soc_before = drv.core.status().soc_pct
    d = drv.tick(reading(), [ResetDefaults()])
    assert d.command_results[0].accepted
    assert drv.core.p.settings == Settings(pre_alarm_level_v=2.95)
    assert drv.core.status().soc_pct == soc_before
    after = drv.core.p.history.as_dict()
    # this step's own reading may only widen extremes; counters stay
    for key in ("deepest_discharge_ah", "cumulative_ah_drawn", "discharged_energy_kwh",
                "charged_energy_kwh", "synchronisations", "cycles", "last_errors"):
        assert after[key] == hist_before[key], key


def test_several_changes_refused_by_the_warning_floor_rule_name_a_setting_of_that_rule():
    with pytest.raises(SettingError) as e:
        change_settings(Settings(), {"tail_current_pct": 2.0, "discharge_floor_pct": 50.0})
    assert e.value.name == "discharge_floor_pct"
