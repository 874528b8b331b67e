"""Why charging or discharging is not allowed: one ``enum.Flag``, with named blocker masks.

The reason words (the members' names in lower case) are public: the API, the pages and MQTT show
them. Member order is reporting order: the reasons that stop both directions first, then each
direction's own. The core combines flags every step and turns them into words through a cache, so
the common case (nothing wrong) costs one dictionary lookup.
"""

from __future__ import annotations

from enum import Flag, auto
from functools import cache


class Reason(Flag):
    # both directions
    NO_BATTERY_DATA = auto()
    REMOTE_OFF = auto()
    MODE_OFF = auto()
    CONFIGURATION_INVALID = auto()
    CONFIGURATION_CHANGED = auto()
    VOLTAGE_NOT_ALLOWED = auto()
    HARDWARE_ERROR = auto()
    # discharging only
    LOW_CELL_VOLTAGE = auto()
    LOW_BANK_VOLTAGE = auto()
    DISCHARGE_FLOOR = auto()
    # charging only
    HIGH_CELL_VOLTAGE = auto()
    LOW_TEMPERATURE = auto()
    HIGH_TEMPERATURE = auto()
    # communication lost: a warning stops charging, the alarm 30 s later stops discharging too
    COMMS_LOST = auto()
    FIRMWARE_UPDATE_FAILED = auto()  # discharging only
    FIRMWARE_UPDATE = auto()  # charging only
    # the BMS itself has no supply: nothing is allowed
    NO_POWER = auto()

    @property
    def word(self) -> str:
        assert self.name is not None
        return self.name.lower()


#: Reasons that stop both charging and discharging.
COMMON_BLOCKERS = (
    Reason.NO_BATTERY_DATA | Reason.REMOTE_OFF | Reason.MODE_OFF | Reason.CONFIGURATION_INVALID
    | Reason.CONFIGURATION_CHANGED | Reason.VOLTAGE_NOT_ALLOWED | Reason.HARDWARE_ERROR
)
#: Every reason that can stop discharging (the load disconnect floats).
DISCHARGE_BLOCKERS = (
    COMMON_BLOCKERS | Reason.LOW_CELL_VOLTAGE | Reason.LOW_BANK_VOLTAGE | Reason.DISCHARGE_FLOOR
    | Reason.COMMS_LOST | Reason.FIRMWARE_UPDATE_FAILED | Reason.NO_POWER
)
#: Every reason that can stop charging (the charge disconnect floats).
CHARGE_BLOCKERS = (
    COMMON_BLOCKERS | Reason.HIGH_CELL_VOLTAGE | Reason.LOW_TEMPERATURE | Reason.HIGH_TEMPERATURE
    | Reason.COMMS_LOST | Reason.FIRMWARE_UPDATE | Reason.NO_POWER
)

#: Every reason word, in reporting order.
REASON_WORDS: tuple[str, ...] = tuple(r.word for r in Reason)


@cache
def words(mask: int) -> tuple[str, ...]:
    """The reason words of a combined flag value (``Reason(...).value``), in reporting order."""
    return tuple(r.word for r in Reason if mask & r.value)


def blocks_charge(reasons: Reason) -> bool:
    return bool(reasons & CHARGE_BLOCKERS)


def blocks_discharge(reasons: Reason) -> bool:
    return bool(reasons & DISCHARGE_BLOCKERS)
