"""Words for people: what the status's reason, output, balancer and LED names mean.

The web pages (served with the field table at ``GET /api/fields``) and ``smallbms status`` both
read these, so an owner sees the same sentence in both places. Names, units and rounding of the
values themselves come from the field table (:mod:`smallbms.model.fields`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smallbms.model.fields import table_json
from smallbms.model.reasons import REASON_WORDS

#: Why charging or discharging is not allowed, by reason name.
REASON_TEXT: Mapping[str, str] = {
    "no_battery_data": "no complete data from the batteries yet",
    "remote_off": "the remote on/off input is off",
    "mode_off": "the BMS is switched off (mode Off)",
    "configuration_invalid": "the batteries do not form a valid bank",
    "configuration_changed": "the bank changed since it was commissioned",
    "voltage_not_allowed": "the bank voltage is outside the allowed range",
    "hardware_error": "hardware error",
    "low_cell_voltage": "a cell voltage is too low",
    "low_bank_voltage": "the bank voltage is too low",
    "discharge_floor": "the discharge floor has been reached",
    "comms_lost": "communication with a battery is lost",
    "firmware_update_failed": "a battery firmware update failed",
    "high_cell_voltage": "a cell voltage is too high",
    "low_temperature": "a battery is too cold to charge (below 5 °C)",
    "high_temperature": "a battery is too hot",
    "firmware_update": "a battery firmware update is running",
    "no_power": "the BMS has no power",
}
assert set(REASON_TEXT) == set(REASON_WORDS), "every reason needs its words"

#: The outputs, by name.
OUTPUT_TEXT: Mapping[str, str] = {
    "load_disconnect": "Load disconnect",
    "charge_disconnect": "Charge disconnect",
    "pre_alarm": "Pre-alarm",
}
#: What an output's state means for the system, by (output, state).
OUTPUT_STATE_TEXT: Mapping[tuple[str, str], str] = {
    ("load_disconnect", "high"): "high (loads on)",
    ("load_disconnect", "floating"): "floating (loads off)",
    ("charge_disconnect", "high"): "high (chargers on)",
    ("charge_disconnect", "floating"): "floating (chargers off)",
    ("pre_alarm", "high"): "high (alarm)",
    ("pre_alarm", "floating"): "floating (no alarm)",
}
BALANCER_TEXT: Mapping[str, str] = {
    "unknown": "Unknown — start a full charge",
    "balanced": "Balanced",
    "imbalanced": "Imbalanced — start a full charge",
    "balancing": "Balancing",
}
LED_TEXT: Mapping[str, str] = {"off": "off", "blink": "blinking", "on": "on"}
DISCHARGE_TEXT: Mapping[str, str] = {"yes": "yes", "no": "no", "pre-alarm": "yes, pre-alarm"}


def reason_text(name: str) -> str:
    return REASON_TEXT.get(name, name.replace("_", " "))


def fields_json() -> dict[str, Any]:
    """The field table and these words, for the web pages (``GET /api/fields``)."""
    return {
        "fields": table_json(),
        "reasons": dict(REASON_TEXT),
        "outputs": dict(OUTPUT_TEXT),
        "balancer": dict(BALANCER_TEXT),
        "leds": dict(LED_TEXT),
    }
