"""Appendix A of the smallBMS manual as data: which BMS output switches which device, through
which cable, on which terminal.

The facts (device families, outputs, cables, article numbers, terminals) are the manual's (M);
the wording is ours. Two rows come from elsewhere in the manual: the Cyrix-Li-ct combiner of
system example 3.3.2 (its BMS input, pin 85, on the charge disconnect) and the VE.Bus
inverter/chargers (MultiPlus, Quattro), which the smallBMS cannot control at all (section 2.1:
they need the VE.Bus BMS NG).

:func:`lookup` matches a free-text device name ("SmartSolar MPPT 75/15", "Phoenix Inverter
VE.Direct 12/375") to its family; :func:`family_for_kind` gives the usual family for a twin
component kind when no device name is known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from smallbms.twin.components import ComponentKind

BmsOutput = Literal["load_disconnect", "charge_disconnect"]
CableKind = Literal[
    "none", "non_inverting", "ve_direct_non_inverting", "inverting", "skylla_i",
    "cyrix_li_charge", "not_suitable",
]


@dataclass(frozen=True, slots=True)
class Cable:
    """What sits between the BMS output and the device's remote input."""

    kind: CableKind
    label: str
    article_numbers: tuple[str, ...] = ()

    @property
    def needed(self) -> bool:
        """True when something other than a plain wire is needed."""
        return self.kind != "none"


DIRECT = Cable("none", "a plain wire, no special cable")
INVERTING = Cable("inverting", "inverting remote on-off cable", ("ASS030550100", "ASS030550120"))
VE_DIRECT_NON_INVERTING = Cable(
    "ve_direct_non_inverting", "VE.Direct non-inverting remote on-off cable", ("ASS030550320",),
)
NON_INVERTING = Cable("non_inverting", "non-inverting remote on-off cable", ("ASS030550200",))
SKYLLA_I = Cable("skylla_i", "Skylla-i remote on-off cable", ("ASS030550400",))
CYRIX_LI_CHARGE = Cable(
    "cyrix_li_charge", "Cyrix-Li-Charge relay",
)
NOT_SUITABLE = Cable("not_suitable", "none: the smallBMS cannot control it")


@dataclass(frozen=True, slots=True)
class DeviceFamily:
    """One row of Appendix A.

    ``output`` is the BMS output that controls the family (``None``: the smallBMS cannot);
    ``kinds`` the twin component kinds it plays; ``terminal`` where the BMS wire lands, in our
    words; ``patterns`` case-insensitive regular expressions matched against a device name;
    ``min_ratings`` optional ``(volts, amps)`` or ``(0, VA)`` floors read from the name's
    ``"A/B"`` rating (a device matches if its rating reaches any one floor).
    """

    key: str
    title: str
    output: BmsOutput | None
    kinds: tuple[ComponentKind, ...]
    cable: Cable
    terminal: str
    patterns: tuple[str, ...]
    min_ratings: tuple[tuple[int, int], ...] = ()
    note: str = ""

    def matches(self, device: str) -> bool:
        if not any(re.search(p, device, re.IGNORECASE) for p in self.patterns):
            return False
        if not self.min_ratings:
            return True
        rating = rating_from_name(device)
        if rating is None:
            return False
        first, second = rating
        return any(first >= lo_a and second >= lo_b for lo_a, lo_b in self.min_ratings)


_RATING = re.compile(r"(\d+)\s*/\s*(\d+)")


def rating_from_name(device: str) -> tuple[int, int] | None:
    """The ``A/B`` numbers in a device name: ``"SmartSolar MPPT 75/15"`` -> ``(75, 15)`` (PV volts,
    charge amps); ``"Phoenix Inverter 12/1200"`` -> ``(12, 1200)`` (battery volts, VA)."""
    match = _RATING.search(device)
    return None if match is None else (int(match.group(1)), int(match.group(2)))


# The order matters: the first family that matches a name wins, so specific rows come first.
APPENDIX_A: tuple[DeviceFamily, ...] = (
    DeviceFamily(
        "vebus_inverter_charger", "VE.Bus inverter/chargers (MultiPlus, Quattro, EasySolar)",
        None, ("inverter", "ac_charger"), NOT_SUITABLE,
        "none: the smallBMS has no VE.Bus interface",
        (r"multi\s*plus", r"quattro", r"easysolar", r"\bmulti\b.*ve\.?bus", r"ve\.?bus.*charger"),
        note="use the VE.Bus BMS NG instead of the smallBMS NG",
    ),
    DeviceFamily(
        "vebus_inverter", "VE.Bus inverters and VE.Bus Inverter Compact, 1200 VA or more",
        "load_disconnect", ("inverter",), INVERTING,
        "the inverter's remote on/off input",
        (r"ve\.?bus", r"inverter\s+compact"), min_ratings=((0, 1200),),
    ),
    DeviceFamily(
        "inverter_ve_direct", "Inverters VE.Direct and Inverters Smart",
        "load_disconnect", ("inverter",), DIRECT,
        "terminal H of the inverter's 2-pole remote connector",
        (r"inverter\s+ve\.?direct", r"inverter\s+smart", r"phoenix.*ve\.?direct",
         r"phoenix\s+smart\s+inverter"),
    ),
    DeviceFamily(
        "dc_dc_converter", "Tr-type DC-DC converters with remote on/off, Orion 12/24-20, Orion XS",
        "load_disconnect", ("dc_load", "ac_charger", "alternator"), DIRECT,
        "the right-hand terminal of the converter's 2-pole remote connector",
        (r"orion[\s-]*tr", r"orion\s+xs", r"orion\s+12/24-20"),
        note="as a charger of this bank, a DC-DC charger belongs on the charge disconnect",
    ),
    DeviceFamily(
        "smart_battery_protect", "Smart BatteryProtect",
        "load_disconnect", ("battery_protect",), DIRECT,
        "pin H of the Smart BatteryProtect's 2-pole connector",
        (r"smart\s*battery\s*protect",),
    ),
    DeviceFamily(
        "battery_protect", "BatteryProtect",
        "load_disconnect", ("battery_protect",), DIRECT,
        "terminal 2.1, the right-hand remote terminal of the BatteryProtect",
        (r"battery\s*protect",),
    ),
    DeviceFamily(
        "cyrix_li_load", "Cyrix-Li-Load",
        "load_disconnect", ("battery_protect", "dc_load"), DIRECT,
        "the Cyrix's control input",
        (r"cyrix[\s-]*li[\s-]*load",),
    ),
    DeviceFamily(
        "cyrix_li_ct", "Cyrix-Li-ct battery combiner (alternator charging)",
        "charge_disconnect", ("alternator",), DIRECT,
        "the Cyrix-Li-ct's BMS charge disconnect input, pin 85",
        (r"cyrix[\s-]*li[\s-]*ct", r"alternator"),
    ),
    DeviceFamily(
        "mppt_can_bus", "BlueSolar MPPT 150/70 and 150/80 CAN-bus",
        "charge_disconnect", ("solar",), DIRECT,
        "the left-hand terminal (B+) of the charger's 2-pole remote connector",
        (r"bluesolar.*150\s*/\s*(70|80).*can", r"bluesolar.*can.*150\s*/\s*(70|80)"),
    ),
    DeviceFamily(
        "smartsolar_remote_port", "SmartSolar MPPT 150/45 and up, 250/60 and up",
        "charge_disconnect", ("solar",), DIRECT,
        "the right-hand terminal (+) or the left-hand terminal (H) of the charger's 2-pole "
        "remote connector",
        (r"smartsolar",), min_ratings=((150, 45), (250, 60)),
    ),
    DeviceFamily(
        "mppt_ve_direct_cable", "BlueSolar MPPTs (other than the 150/70 and 150/80 CAN-bus) and "
        "SmartSolar MPPTs up to 150/35",
        "charge_disconnect", ("solar",), VE_DIRECT_NON_INVERTING,
        "the charger's VE.Direct port",
        (r"bluesolar", r"smartsolar", r"\bmppt\b"),
    ),
    DeviceFamily(
        "smart_ip43_charger", "Smart IP43 chargers",
        "charge_disconnect", ("ac_charger",), DIRECT,
        "terminal H of the charger's 2-pole remote connector",
        (r"ip\s*43",),
    ),
    DeviceFamily(
        "skylla_i", "Skylla-i battery chargers",
        "charge_disconnect", ("ac_charger",), SKYLLA_I,
        "the charger's remote on/off port",
        (r"skylla[\s-]*i\b",),
    ),
    DeviceFamily(
        "skylla_tg", "Skylla TG battery chargers",
        "charge_disconnect", ("ac_charger",), NON_INVERTING,
        "the charger's remote on/off port",
        (r"skylla[\s-]*tg",),
    ),
    DeviceFamily(
        "other_charger", "Other battery chargers",
        "charge_disconnect", ("ac_charger",), CYRIX_LI_CHARGE,
        "the control input of the Cyrix-Li-Charge, which sits between the charger and the battery",
        (r"charger",),
    ),
)

_BY_KEY: dict[str, DeviceFamily] = {f.key: f for f in APPENDIX_A}

#: The family assumed for a component kind when no device name is given (P): the devices of the
#: manual's system examples, or the most common way to wire that kind.
DEFAULT_FAMILY_FOR_KIND: dict[ComponentKind, str] = {
    "solar": "mppt_ve_direct_cable",
    "inverter": "inverter_ve_direct",
    "battery_protect": "smart_battery_protect",
    "alternator": "cyrix_li_ct",
    "ac_charger": "other_charger",
}


def family(key: str) -> DeviceFamily:
    """A family by its key."""
    return _BY_KEY[key]


def lookup(device: str) -> DeviceFamily | None:
    """The Appendix A family a device name belongs to, or ``None`` if it is not listed."""
    for fam in APPENDIX_A:
        if fam.matches(device):
            return fam
    return None


def family_for_kind(kind: ComponentKind) -> DeviceFamily | None:
    """The usual family for a component kind when no device name is given (``None`` for a plain
    DC load: whether it needs a cable depends on its remote input)."""
    key = DEFAULT_FAMILY_FOR_KIND.get(kind)
    return None if key is None else _BY_KEY[key]
