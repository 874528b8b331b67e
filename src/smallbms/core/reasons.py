"""Why charging or discharging is not allowed: reason words as bit flags, turned into tuples.

The words are part of the public data dictionary (API, pages, MQTT). Flags are combined in the
step and looked up in a cache, so the common case (nothing wrong) costs a dictionary lookup.
"""

from __future__ import annotations

from functools import cache

#: Reasons that stop both charging and discharging, in reporting order.
COMMON: tuple[str, ...] = (
    "no_battery_data", "remote_off", "mode_off", "configuration_invalid",
    "configuration_changed", "voltage_not_allowed", "hardware_error",
)
#: Reasons that stop discharging only.
DISCHARGE: tuple[str, ...] = (
    "low_cell_voltage", "low_bank_voltage", "discharge_floor", "comms_lost",
    "firmware_update_failed",
)
#: Reasons that stop charging only.
CHARGE: tuple[str, ...] = (
    "high_cell_voltage", "low_temperature", "high_temperature", "comms_lost", "firmware_update",
)
NO_POWER: tuple[str, ...] = ("no_power",)


def flags(*conditions: bool) -> int:
    """Pack booleans into an int, first argument in bit 0."""
    out = 0
    for i, c in enumerate(conditions):
        if c:
            out |= 1 << i
    return out


@cache
def _names(mask: int, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n for i, n in enumerate(names) if mask >> i & 1)


def discharge_reasons(common: int, own: int) -> tuple[str, ...]:
    if not (common or own):
        return ()
    return _names(common, COMMON) + _names(own, DISCHARGE)


def charge_reasons(common: int, own: int) -> tuple[str, ...]:
    if not (common or own):
        return ()
    return _names(common, COMMON) + _names(own, CHARGE)
