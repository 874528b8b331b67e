"""The typed scenario (SPEC 17): frozen dataclasses the runner, the twin and the reports read.

:mod:`smallbms.scenario.parse` builds a :class:`Scenario` from a file checked against the models of
:mod:`smallbms.scenario.model`; the conventions of these types are in the package docstring.

May import: the catalogue, the core's settings and types, :mod:`smallbms.durations`.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final, Literal, TypeAlias

from smallbms.catalog import BatteryModel
from smallbms.core.settings import Settings
from smallbms.core.types import Profile, RemoteInput

__all__ = [
    "ACTIONS",
    "COMPONENT_KINDS",
    "EVENT_TYPES",
    "AcCharger",
    "AcceptBank",
    "AddBattery",
    "Alternator",
    "BankSource",
    "BankSpec",
    "BatteryProtect",
    "CommsLost",
    "CommsRestored",
    "Component",
    "ControlledBy",
    "DcLoad",
    "Event",
    "FirmwareUpdate",
    "ForceCell",
    "ForceTemperature",
    "HardwareFault",
    "Inverter",
    "LoadProfile",
    "Mode",
    "PowerCycle",
    "ProfilePoint",
    "Release",
    "Remote",
    "RemoveBattery",
    "ResetDefaults",
    "ResetHistory",
    "Scenario",
    "ScenarioError",
    "ScriptReading",
    "SetSetting",
    "SetSoc",
    "Solar",
    "SyncSoc",
    "TimeWindow",
    "Wireless",
]

# --- limits (project choices, SPEC 17 is silent) ------------------------------------------------

#: Longest scenario: 400 days.
MAX_DURATION_S: Final = 400 * 86400.0
#: Longest BMS tick.
MAX_STEP_S: Final = 3600.0
#: Default BMS tick.
DEFAULT_STEP_S: Final = 1.0
#: Most batteries a scenario's bank may hold (series × parallel).
MAX_BATTERIES: Final = 100
#: Bank temperature range (°C) of a scenario.
BANK_TEMPERATURE_RANGE_C: Final = (-40.0, 80.0)
#: Range of scripted or forced battery temperatures (°C): wider, so faults can be scripted.
FORCED_TEMPERATURE_RANGE_C: Final = (-60.0, 150.0)
#: Range of cell voltages in readings and forced cells.
CELL_VOLTAGE_RANGE_V: Final = (0.0, 5.0)
#: Range of a scripted bank voltage and of remote terminal voltages.
BANK_VOLTAGE_RANGE_V: Final = (0.0, 100.0)
REMOTE_VOLTAGE_RANGE_V: Final = (-100.0, 100.0)
#: Default profile repeat period: one day.
DEFAULT_REPEAT_S: Final = 86400.0
#: Default firmware update duration.
DEFAULT_FIRMWARE_UPDATE_S: Final = 60.0
#: Largest seed (TOML integers are 64-bit signed).
MAX_SEED: Final = 2**63 - 1

BankSource: TypeAlias = Literal["twin", "script"]
ControlledBy: TypeAlias = Literal["load_disconnect", "charge_disconnect", "none"]
OnOff: TypeAlias = Literal["on", "off"]
FirmwareResult: TypeAlias = Literal["success", "fail"]

PROFILES: Final[tuple[Profile, ...]] = ("ng", "classic")
SOURCES: Final[tuple[BankSource, ...]] = ("twin", "script")
CONTROLLED_BY: Final[tuple[ControlledBy, ...]] = ("load_disconnect", "charge_disconnect", "none")
ON_OFF: Final[tuple[OnOff, ...]] = ("on", "off")
RESULTS: Final[tuple[FirmwareResult, ...]] = ("success", "fail")


# --- errors -------------------------------------------------------------------------------------


class ScenarioError(ValueError):
    """A malformed scenario: ``file``, the ``key`` path of the offending key and the ``message``.

    ``str()`` gives ``"file: key: message"`` (or ``"file: message"`` when no key applies, e.g.
    a TOML syntax error or an unreadable file).
    """

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file = file
        self.key = key
        self.message = message
        super().__init__(f"{file}: {key}: {message}" if key else f"{file}: {message}")

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[type[ScenarioError], tuple[str, str, str]]:
        return (type(self), (self.file, self.key, self.message))


# --- the typed model ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BankSpec:
    """The ``[bank]`` table: which batteries, how many, how they start."""

    battery: str
    model: BatteryModel
    series: int = 1
    parallel: int = 1
    soc_pct: float | None = None
    temperature_c: float = 25.0
    ambient_c: float = 25.0
    source: BankSource = "twin"

    @property
    def battery_count(self) -> int:
        """Batteries in the bank (series × parallel)."""
        return self.series * self.parallel

    @property
    def cells_per_battery(self) -> int:
        """Cells in series inside one battery."""
        return self.model.cells_in_series


@dataclass(frozen=True, slots=True)
class ProfilePoint:
    """One point of a load profile: ``value`` holds from ``t_s`` until the next point."""

    t_s: float
    value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadProfile:
    """A load profile: a named built-in (``name``, resolved by the twin) or a list of points.

    Points are steps, not ramps. ``repeat_s`` is the repeat period (``None`` = no repeat: the
    last value holds to the end). The unit of the values is the one of the component's demand
    (the twin interprets it: amps or watts).
    """

    name: str | None = None
    points: tuple[ProfilePoint, ...] = ()
    repeat_s: float | None = DEFAULT_REPEAT_S

    def value_at(self, t_s: float) -> float:
        """The value at time ``t_s`` of a point profile (not available for a named profile)."""
        if not self.points:
            raise ValueError(f"profile {self.name!r} is a named profile; the twin resolves it")
        t = t_s % self.repeat_s if self.repeat_s is not None else t_s
        index = bisect.bisect_right([p.t_s for p in self.points], t) - 1
        return self.points[max(index, 0)].value


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A time window ``[start_s, end_s)`` in seconds from the start of the scenario."""

    start_s: float
    end_s: float

    def contains(self, t_s: float) -> bool:
        """True when ``start_s <= t_s < end_s``."""
        return self.start_s <= t_s < self.end_s


@dataclass(frozen=True, slots=True, kw_only=True)
class _ComponentBase:
    name: str
    controlled_by: ControlledBy


@dataclass(frozen=True, slots=True, kw_only=True)
class DcLoad(_ComponentBase):
    """A DC load: exactly one of ``current_a``, ``power_w`` or ``profile`` is set."""

    kind: ClassVar[str] = "dc_load"
    current_a: float | None = None
    power_w: float | None = None
    profile: LoadProfile | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Inverter(_ComponentBase):
    """An inverter: AC output ``power_w`` or ``profile`` (one of them), efficiency, idle draw."""

    kind: ClassVar[str] = "inverter"
    power_w: float | None = None
    profile: LoadProfile | None = None
    efficiency: float = 0.92
    idle_w: float = 6.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Solar(_ComponentBase):
    """A solar charger (MPPT) with a day/night profile; ``start_day`` is the day of year at t=0."""

    kind: ClassVar[str] = "solar"
    peak_w: float
    latitude: float = 50.0
    start_day: int = 172
    cloudiness: float = 0.3
    max_current_a: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AcCharger(_ComponentBase):
    """An AC charger. ``None`` voltages = battery defaults; ``on`` ``None`` = always on."""

    kind: ClassVar[str] = "ac_charger"
    current_a: float
    absorption_v: float | None = None
    float_v: float | None = None
    on: tuple[TimeWindow, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Alternator(_ComponentBase):
    """An alternator through a Cyrix-Li-ct; ``running`` ``None`` = always running."""

    kind: ClassVar[str] = "alternator"
    current_a: float
    running: tuple[TimeWindow, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatteryProtect(_ComponentBase):
    """A BatteryProtect in front of a load (one of ``current_a``, ``power_w``, ``profile``).

    ``cutoff_v`` is its own low-voltage cut-off (``None`` = its default).
    """

    kind: ClassVar[str] = "battery_protect"
    current_a: float | None = None
    power_w: float | None = None
    profile: LoadProfile | None = None
    cutoff_v: float | None = None


Component: TypeAlias = DcLoad | Inverter | Solar | AcCharger | Alternator | BatteryProtect

COMPONENT_KINDS: Final[dict[str, type[Component]]] = {
    cls.kind: cls for cls in (DcLoad, Inverter, Solar, AcCharger, Alternator, BatteryProtect)
}
LOAD_KINDS: Final = frozenset({"dc_load", "inverter", "battery_protect"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptReading:
    """One ``[[reading]]`` of a script scenario, with inherited fields filled in.

    ``cells_v[b][c]`` is cell ``c`` of battery ``b`` (chain order); ``temperatures_c[b]`` one per
    battery. ``voltage_v`` ``None`` = the runner derives the bank voltage from the cells.
    """

    at_s: float
    cells_v: tuple[tuple[float, ...], ...]
    temperatures_c: tuple[float, ...]
    current_a: float = 0.0
    voltage_v: float | None = None


# --- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _EventBase:
    at_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CommsLost(_EventBase):
    """Cut the battery bus: one battery (``battery``) or the whole bus (``None``)."""

    action: ClassVar[str] = "comms_lost"
    battery: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommsRestored(_EventBase):
    """Reconnect the whole battery bus."""

    action: ClassVar[str] = "comms_restored"


@dataclass(frozen=True, slots=True, kw_only=True)
class Remote(_EventBase):
    """Set the whole remote terminal state (omitted: not bridged, terminals not connected)."""

    action: ClassVar[str] = "remote"
    bridged: bool = False
    l_volts: float | None = None
    h_volts: float | None = None

    @property
    def input(self) -> RemoteInput:
        """The terminal state as the core's :class:`RemoteInput`."""
        return RemoteInput(bridged=self.bridged, l_volts=self.l_volts, h_volts=self.h_volts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Mode(_EventBase):
    """Switch the mode from the app (NG only)."""

    action: ClassVar[str] = "mode"
    value: OnOff


@dataclass(frozen=True, slots=True, kw_only=True)
class SetSetting(_EventBase):
    """Change one setting (action ``set``); the BMS may refuse the value at run time."""

    action: ClassVar[str] = "set"
    setting: str
    value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncSoc(_EventBase):
    """User request: synchronise SoC to 100 %."""

    action: ClassVar[str] = "sync_soc"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetSoc(_EventBase):
    """User sets the SoC by hand."""

    action: ClassVar[str] = "set_soc"
    value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetDefaults(_EventBase):
    """Reset the settings to factory defaults."""

    action: ClassVar[str] = "reset_defaults"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetHistory(_EventBase):
    """Reset the history."""

    action: ClassVar[str] = "reset_history"


@dataclass(frozen=True, slots=True, kw_only=True)
class ForceCell(_EventBase):
    """Force one cell's voltage until released."""

    action: ClassVar[str] = "force_cell"
    battery: int
    cell: int
    volts: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ForceTemperature(_EventBase):
    """Force one battery's temperature until released."""

    action: ClassVar[str] = "force_temperature"
    battery: int
    celsius: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Release(_EventBase):
    """End forcing on one battery, or on every battery (``None``)."""

    action: ClassVar[str] = "release"
    battery: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FirmwareUpdate(_EventBase):
    """A firmware update that lasts ``duration_s`` and ends with ``result``."""

    action: ClassVar[str] = "firmware_update"
    result: FirmwareResult
    duration_s: float = DEFAULT_FIRMWARE_UPDATE_S


@dataclass(frozen=True, slots=True, kw_only=True)
class HardwareFault(_EventBase):
    """Break (``True``) or repair (``False``) an output."""

    action: ClassVar[str] = "hardware_fault"
    value: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerCycle(_EventBase):
    """Remove the BMS supply for ``duration_s`` (0 = an instant restart)."""

    action: ClassVar[str] = "power_cycle"
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Wireless(_EventBase):
    """Enable or disable wireless access (NG only)."""

    action: ClassVar[str] = "wireless"
    value: OnOff


@dataclass(frozen=True, slots=True, kw_only=True)
class AddBattery(_EventBase):
    """Put battery ``battery`` (removed earlier) back on the bus; ``None``: a new battery of the
    bank's model joins at the end of the chain."""

    action: ClassVar[str] = "add_battery"
    battery: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveBattery(_EventBase):
    """Take battery ``battery`` out of the bank."""

    action: ClassVar[str] = "remove_battery"
    battery: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptBank(_EventBase):
    """User accepts the present bank as the commissioned one (clears E-B05)."""

    action: ClassVar[str] = "accept_bank"


Event: TypeAlias = (
    CommsLost | CommsRestored | Remote | Mode | SetSetting | SyncSoc | SetSoc | ResetDefaults
    | ResetHistory | ForceCell | ForceTemperature | Release | FirmwareUpdate | HardwareFault
    | PowerCycle | Wireless | AddBattery | RemoveBattery | AcceptBank
)

EVENT_TYPES: Final[dict[str, type[Event]]] = {
    cls.action: cls
    for cls in (
        CommsLost, CommsRestored, Remote, Mode, SetSetting, SyncSoc, SetSoc, ResetDefaults,
        ResetHistory, ForceCell, ForceTemperature, Release, FirmwareUpdate, HardwareFault,
        PowerCycle, Wireless, AddBattery, RemoveBattery, AcceptBank,
    )
}

#: Every event action and the keys it takes besides ``at`` and ``action``.
ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "comms_lost": ("battery",),
    "comms_restored": (),
    "remote": ("bridged", "l_volts", "h_volts"),
    "mode": ("value",),
    "set": ("setting", "value"),
    "sync_soc": (),
    "set_soc": ("value",),
    "reset_defaults": (),
    "reset_history": (),
    "force_cell": ("battery", "cell", "volts"),
    "force_temperature": ("battery", "celsius"),
    "release": ("battery",),
    "firmware_update": ("result", "duration"),
    "hardware_fault": ("value",),
    "power_cycle": ("duration",),
    "wireless": ("value",),
    "add_battery": ("battery",),
    "remove_battery": ("battery",),
    "accept_bank": (),
}

#: Actions the classic profile does not have (no app, SoC monitor, settings or Bluetooth).
NG_ONLY_ACTIONS: Final = frozenset(
    {"mode", "set", "sync_soc", "set_soc", "reset_defaults", "reset_history", "firmware_update",
     "wireless", "accept_bank"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A whole scenario, validated.

    ``settings`` holds every setting (defaults plus the file's ``[settings]``);
    ``settings_values`` only the values the file gives, validated. ``readings`` is empty for a
    twin scenario; ``components`` is empty for a script scenario. ``events`` are sorted by time.
    ``source`` is the name used in messages; ``source_path`` the file, when read from one.
    ``supply_fuse_a`` is the BMS supply fuse of the optional ``[bms]`` table (``None``: not
    given); the run ignores it, ``smallbms check`` reviews it.
    """

    name: str
    profile: Profile
    duration_s: float
    step_s: float
    seed: int
    sample_interval_s: float | None
    bank: BankSpec
    settings: Settings
    settings_values: Mapping[str, float]
    remote: RemoteInput
    components: tuple[Component, ...]
    readings: tuple[ScriptReading, ...]
    events: tuple[Event, ...]
    source: str = "<string>"
    source_path: Path | None = None
    supply_fuse_a: float | None = None
