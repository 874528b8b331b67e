"""Home Assistant's Energy dashboard: the charged/discharged energy sensors the energy picker
offers, and the power sensor signed as the dashboard expects (positive = discharging), its value
template rendered with Jinja2 (the template language Home Assistant uses) against the state
payload."""

from __future__ import annotations

from typing import Any

import pytest

from smallbms.integrations import mqtt as bridge_module
from smallbms.integrations.mqtt import Topics, discovery_configs, state_payload
from tests.integrations.test_venus_paths import full

jinja2 = pytest.importorskip("jinja2")

TOPICS = Topics("smallbms/t", "homeassistant", "t")


def sensor(object_id: str) -> dict[str, Any]:
    configs = discovery_configs(TOPICS, {"name": "t"}, 1)
    cfg: dict[str, Any] = configs[TOPICS.config("sensor", object_id)]
    return cfg


def render(template: str, power_w: float | None) -> str:
    snap = full()
    snap["status"]["power_w"] = power_w
    out: str = jinja2.Environment().from_string(template).render(value_json=state_payload(snap))
    return out


@pytest.mark.parametrize("object_id", ["charged_energy", "discharged_energy"])
def test_energy_sensors_are_offered_to_the_energy_picker(object_id: str) -> None:
    cfg = sensor(object_id)
    assert cfg["device_class"] == "energy"
    assert cfg["state_class"] == "total_increasing"
    assert cfg["unit_of_measurement"] == "kWh"
    assert "entity_category" not in cfg  # a diagnostic entity is not what the picker lists
    assert object_id in bridge_module.ENERGY_DASHBOARD_SENSORS


def test_other_history_sensors_stay_diagnostic() -> None:
    assert sensor("cycles")["entity_category"] == "diagnostic"


def test_dashboard_power_is_positive_while_discharging() -> None:
    cfg = sensor(bridge_module.DASHBOARD_POWER_ID)
    assert (cfg["device_class"], cfg["unit_of_measurement"], cfg["state_class"]) == (
        "power", "W", "measurement")
    victron = sensor("power")  # the Victron-signed one stays beside it
    assert victron["value_template"] == "{{ value_json.status.power_w }}"
    assert float(render(cfg["value_template"], -166.3)) == 166.3  # discharging
    assert float(render(cfg["value_template"], 400.0)) == -400.0  # charging
    assert float(render(cfg["value_template"], 0.0)) == 0.0
    assert render(cfg["value_template"], None) == "None"  # unknown, as Home Assistant reads it
