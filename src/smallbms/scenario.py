"""Scenario files (SPEC 17): the TOML format, parsed into frozen, fully typed objects.

:func:`load_scenario` and :func:`parse_scenario` read a scenario and refuse every malformed file
before anything runs, with a :class:`ScenarioError` naming the file, the key path of the offending
key (``bank.battery``, ``component[2].controlled_by``, ``event[1].action``, ``reading[0].cells_v``)
and what is wrong. Unknown keys are errors at every level, so a typo never passes silently.

What this module checks, and what it leaves to the run:

- It checks types, ranges, cross references (battery and cell indices against the bank, readings
  only with a script source, components only with the twin) and the scenario's own consistency.
- It does *not* check that the bank is one the BMS accepts (series voltage, mixed strings…): an
  invalid bank is a legitimate scenario, the BMS raises E-B01 at run time. Likewise a ``set``
  event's value is only checked to be a number: a refused setting change is a legitimate event.

Conventions of the typed model:

- Times are seconds from the start of the scenario, as floats, in fields ending ``_s``.
- ``bank.soc_pct`` is ``None`` when the file gives none; the runner decides what that means
  (script source: SoC unknown; twin source: the runner's default).
- Without a ``[remote]`` table the remote terminal has its wire loop (``bridged = True``). A
  ``[remote]`` table, like a ``remote`` event, sets the whole terminal state: omitted fields mean
  ``bridged = false`` and terminals not connected.
- Readings (script source): each ``[[reading]]`` inherits every field it omits from the previous
  reading (cell voltages, temperatures, current and ``voltage_v``); the first reading must give
  cell voltages, and its temperatures default to ``bank.temperature_c``, its current to 0 and its
  ``voltage_v`` to ``None`` (derived by the runner from the cells). Cell voltages are expanded to
  one tuple per battery in chain order. The runner interpolates between readings.
- Profile ``classic`` (no app, SoC monitor, settings or wireless, SPEC 2) refuses a non-empty
  ``[settings]``, ``bank.soc_pct`` with a script source, and the actions ``mode``, ``set``,
  ``sync_soc``, ``set_soc``, ``reset_defaults``, ``reset_history``, ``firmware_update``,
  ``wireless`` and ``accept_bank``.
- Time windows (``on``, ``running``) are absolute times from the start, not repeated daily.
- Unnamed components are named ``<kind>-<n>`` (``dc_load-1``); names are unique.
- Events are sorted by time, stably (file order is kept for equal times). Match them by class::

      for ev in scenario.events:
          match ev:
              case CommsLost(battery=b): ...
              case SetSetting(setting=name, value=v): ...
"""

from __future__ import annotations

import bisect
import difflib
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Final, Literal, NoReturn, TypeAlias, TypeVar

from smallbms.catalog import BatteryModel, UnknownBatteryModel, get_model, models_for_profile
from smallbms.core.settings import (
    DEFAULT_SETTINGS,
    SPECS_BY_NAME,
    SettingError,
    Settings,
    settings_from_dict,
)
from smallbms.core.types import Profile, RemoteInput
from smallbms.durations import format_duration, parse_duration

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
    "load_scenario",
    "parse_scenario",
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

_PROFILES: Final[tuple[Profile, ...]] = ("ng", "classic")
_SOURCES: Final[tuple[BankSource, ...]] = ("twin", "script")
_CONTROLLED_BY: Final[tuple[ControlledBy, ...]] = ("load_disconnect", "charge_disconnect", "none")
_ON_OFF: Final[tuple[OnOff, ...]] = ("on", "off")
_RESULTS: Final[tuple[FirmwareResult, ...]] = ("success", "fail")


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


class _Invalid(Exception):
    """Raised inside the parser; turned into a ScenarioError carrying the file name."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(key, message)
        self.key = key
        self.message = message


def _fail(key: str, message: str) -> NoReturn:
    raise _Invalid(key, message)


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
_LOAD_KINDS: Final = frozenset({"dc_load", "inverter", "battery_protect"})


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
_NG_ONLY_ACTIONS: Final = frozenset(
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


# --- reading values -----------------------------------------------------------------------------

_T = TypeVar("_T", bound=str)
_MISSING: Final = object()


def _describe(value: object) -> str:
    """A value as a message shows it: TOML spelling for scalars, a word for containers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        n = len(value)
        return "an empty array" if n == 0 else f"an array of {n} value{'s' if n != 1 else ''}"
    if isinstance(value, str | int | float):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return f"a {type(value).__name__}"


def _fmt(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return format(value, ".10g")


def _fmt_t(seconds: float) -> str:
    return format_duration(seconds) if seconds >= 0 else _fmt(seconds)


def _range_text(
    lo: float | None, hi: float | None, lo_open: bool, hi_open: bool, unit: str
) -> str:
    u = f" {unit}" if unit else ""
    if lo is not None and hi is not None:
        if not lo_open and not hi_open:
            return f"between {_fmt(lo)} and {_fmt(hi)}{u}"
        low = f"greater than {_fmt(lo)}" if lo_open else f"at least {_fmt(lo)}"
        high = f"less than {_fmt(hi)}" if hi_open else f"at most {_fmt(hi)}"
        return f"{low} and {high}{u}"
    if lo is not None:
        return (f"greater than {_fmt(lo)}" if lo_open else f"at least {_fmt(lo)}") + u
    if hi is not None:
        return (f"less than {_fmt(hi)}" if hi_open else f"at most {_fmt(hi)}") + u
    return "a finite number"


def _check_range(
    value: float, key: str, lo: float | None, hi: float | None, lo_open: bool, hi_open: bool,
    unit: str = "", shown: str | None = None,
) -> None:
    too_low = lo is not None and (value <= lo if lo_open else value < lo)
    too_high = hi is not None and (value >= hi if hi_open else value > hi)
    if too_low or too_high:
        what = shown if shown is not None else _fmt(value)
        _fail(key, f"{what} is out of range: must be {_range_text(lo, hi, lo_open, hi_open, unit)}")


def _as_number(
    value: object, key: str, *, lo: float | None = None, hi: float | None = None,
    lo_open: bool = False, hi_open: bool = False, unit: str = "",
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(key, f"must be a number, got {_describe(value)}")
    try:
        number = float(value)
    except OverflowError:
        _fail(key, f"{_describe(value)} is too large")
    if not math.isfinite(number):
        _fail(key, f"must be a finite number, got {_describe(value)}")
    _check_range(number, key, lo, hi, lo_open, hi_open, unit)
    return number


def _as_int(value: object, key: str, *, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(key, f"must be a whole number, got {_describe(value)}")
    _check_range(value, key, lo, hi, False, False, shown=_describe(value))
    return value


def _as_duration(
    value: object, key: str, *, positive: bool = False, hi: float | None = None
) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        _fail(key, str(exc))
    if positive and seconds <= 0:
        _fail(key, f"must be a duration greater than 0, got {_describe(value)}")
    if hi is not None and seconds > hi:
        _fail(key, f"{_describe(value)} is too long: at most {format_duration(hi)}")
    return seconds


def _as_choice(value: object, key: str, choices: tuple[_T, ...]) -> _T:
    for choice in choices:
        if value == choice:
            return choice
    options = ", ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        _fail(key, f"must be one of {options}, got {_describe(value)}")
    _fail(key, f"unknown value {_describe(value)}{_suggest(value, choices)}; one of {options}")


def _as_str(value: object, key: str) -> str:
    if not isinstance(value, str):
        _fail(key, f"must be a string, got {_describe(value)}")
    if not value.strip():
        _fail(key, "must not be empty")
    return value


def _as_bool(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        _fail(key, f"must be true or false, got {_describe(value)}")
    return value


def _as_list(value: object, key: str, hint: str = "") -> list[Any]:
    if not isinstance(value, list):
        _fail(key, f"must be an array{hint}, got {_describe(value)}")
    return value


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class _Table:
    """A TOML table at a key path; refuses unknown keys up front, then reads keys one by one."""

    def __init__(
        self, data: dict[str, Any], path: str, allowed: Iterable[str], where: str = ""
    ) -> None:
        self.data = data
        self.path = path
        allowed_keys = tuple(allowed)
        for name in data:
            if name not in allowed_keys:
                place = where or (f"[{path}]" if path else "the top level")
                listing = ", ".join(allowed_keys) if allowed_keys else "none"
                _fail(
                    self.key(name),
                    f"unknown key {name!r}{_suggest(name, allowed_keys)} in {place}; "
                    f"allowed keys: {listing}",
                )

    def key(self, name: str) -> str:
        return _join(self.path, name)

    def has(self, name: str) -> bool:
        return name in self.data

    def get(self, name: str) -> Any:
        return self.data.get(name, _MISSING)

    def require(self, name: str, what: str = "") -> Any:
        if name not in self.data:
            _fail(self.key(name), f"missing{what or ' (required)'}")
        return self.data[name]

    # numbers
    def req_num(self, name: str, **limits: Any) -> float:
        return _as_number(self.require(name), self.key(name), **limits)

    def num(self, name: str, default: float, **limits: Any) -> float:
        if name not in self.data:
            return default
        return _as_number(self.data[name], self.key(name), **limits)

    def opt_num(self, name: str, **limits: Any) -> float | None:
        if name not in self.data:
            return None
        return _as_number(self.data[name], self.key(name), **limits)

    # whole numbers
    def req_int(self, name: str, *, lo: int | None = None, hi: int | None = None) -> int:
        return _as_int(self.require(name), self.key(name), lo=lo, hi=hi)

    def int_(self, name: str, default: int, *, lo: int | None = None, hi: int | None = None) -> int:
        if name not in self.data:
            return default
        return _as_int(self.data[name], self.key(name), lo=lo, hi=hi)

    def opt_int(self, name: str, *, lo: int | None = None, hi: int | None = None) -> int | None:
        if name not in self.data:
            return None
        return _as_int(self.data[name], self.key(name), lo=lo, hi=hi)

    # durations
    def req_duration(self, name: str, **limits: Any) -> float:
        return _as_duration(self.require(name), self.key(name), **limits)

    def duration(self, name: str, default: float, **limits: Any) -> float:
        if name not in self.data:
            return default
        return _as_duration(self.data[name], self.key(name), **limits)

    def opt_duration(self, name: str, **limits: Any) -> float | None:
        if name not in self.data:
            return None
        return _as_duration(self.data[name], self.key(name), **limits)

    # others
    def choice(self, name: str, choices: tuple[_T, ...], default: _T) -> _T:
        if name not in self.data:
            return default
        return _as_choice(self.data[name], self.key(name), choices)

    def req_choice(self, name: str, choices: tuple[_T, ...]) -> _T:
        options = ", ".join(repr(c) for c in choices)
        return _as_choice(self.require(name, f"; one of {options}"), self.key(name), choices)

    def req_str(self, name: str) -> str:
        return _as_str(self.require(name), self.key(name))

    def opt_str(self, name: str) -> str | None:
        if name not in self.data:
            return None
        return _as_str(self.data[name], self.key(name))

    def boolean(self, name: str, default: bool) -> bool:
        if name not in self.data:
            return default
        return _as_bool(self.data[name], self.key(name))

    def req_bool(self, name: str) -> bool:
        return _as_bool(self.require(name), self.key(name))


def _subtable(top: _Table, name: str) -> dict[str, Any] | None:
    value = top.get(name)
    if value is _MISSING:
        return None
    if not isinstance(value, dict):
        _fail(name, f"must be a table ([{name}]), got {_describe(value)}")
    return value


def _array_of_tables(top: _Table, name: str) -> list[tuple[str, dict[str, Any]]]:
    value = top.get(name)
    if value is _MISSING:
        return []
    if not isinstance(value, list):
        _fail(name, f"must be an array of tables (write [[{name}]]), got {_describe(value)}")
    out: list[tuple[str, dict[str, Any]]] = []
    for i, item in enumerate(value):
        path = f"{name}[{i}]"
        if not isinstance(item, dict):
            _fail(path, f"must be a table (write [[{name}]]), got {_describe(item)}")
        out.append((path, item))
    return out


# --- sections -----------------------------------------------------------------------------------

_TOP_KEYS: Final = (
    "name", "profile", "duration", "step", "seed", "sample_interval",
    "bank", "settings", "remote", "component", "reading", "event", "bms",
)
_BANK_KEYS: Final = (
    "battery", "series", "parallel", "soc_pct", "temperature_c", "ambient_c", "source",
)
_REMOTE_KEYS: Final = ("bridged", "l_volts", "h_volts")
_BMS_KEYS: Final = ("supply_fuse_a",)
_COMMON_COMPONENT_KEYS: Final = ("kind", "name", "controlled_by")
_COMPONENT_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "dc_load": ("current_a", "power_w", "profile", "repeat"),
    "inverter": ("power_w", "profile", "repeat", "efficiency", "idle_w"),
    "solar": ("peak_w", "latitude", "start_day", "cloudiness", "max_current_a"),
    "ac_charger": ("current_a", "absorption_v", "float_v", "on"),
    "alternator": ("current_a", "running"),
    "battery_protect": ("current_a", "power_w", "profile", "repeat", "cutoff_v"),
}
_READING_KEYS: Final = (
    "at", "cell_v", "cells_v", "temperature_c", "temperatures_c", "current_a", "voltage_v",
)


def _parse_bank(data: dict[str, Any] | None, profile: Profile) -> BankSpec:
    if data is None:
        _fail("bank", "missing table [bank] (at least: battery = \"<catalogue id>\")")
    t = _Table(data, "bank", _BANK_KEYS)
    battery = t.req_str("battery")
    try:
        model = get_model(battery)
    except UnknownBatteryModel as exc:
        _fail(t.key("battery"), str(exc))
    wanted = "ng" if profile == "ng" else "smart"
    if model.family != wanted:
        family_name = "Lithium NG" if wanted == "ng" else "Lithium Battery Smart"
        ids = ", ".join(m.model_id for m in models_for_profile(profile))
        _fail(
            t.key("battery"),
            f"profile {profile!r} needs a {family_name} battery, and {battery!r} is not one; "
            f"models for this profile: {ids}",
        )
    series = t.int_("series", 1, lo=1, hi=MAX_BATTERIES)
    parallel = t.int_("parallel", 1, lo=1, hi=MAX_BATTERIES)
    if series * parallel > MAX_BATTERIES:
        _fail(
            t.key("parallel" if t.has("parallel") else "series"),
            f"{series} in series x {parallel} in parallel = {series * parallel} batteries; "
            f"a scenario holds at most {MAX_BATTERIES}",
        )
    source = t.choice("source", _SOURCES, "twin")
    soc_pct = t.opt_num("soc_pct", lo=0.0, hi=100.0, unit="%")
    if soc_pct is not None and profile == "classic" and source == "script":
        _fail(
            t.key("soc_pct"),
            "profile 'classic' has no SoC monitor; soc_pct only sets the twin's true SoC "
            "(source = \"twin\")",
        )
    lo_c, hi_c = BANK_TEMPERATURE_RANGE_C
    temperature_c = t.num("temperature_c", 25.0, lo=lo_c, hi=hi_c, unit="°C")
    ambient_c = t.num("ambient_c", temperature_c, lo=lo_c, hi=hi_c, unit="°C")
    return BankSpec(
        battery=battery, model=model, series=series, parallel=parallel, soc_pct=soc_pct,
        temperature_c=temperature_c, ambient_c=ambient_c, source=source,
    )


def _parse_settings(
    data: dict[str, Any] | None, profile: Profile
) -> tuple[Settings, dict[str, float]]:
    if data is None:
        return DEFAULT_SETTINGS, {}
    t = _Table(data, "settings", SPECS_BY_NAME)
    if data and profile == "classic":
        _fail("settings", "profile 'classic' has no settings (no battery monitor); remove them")
    for name, value in data.items():
        _as_number(value, t.key(name))  # type errors in this module's words; ranges below
    # Order the values so that a "warning below floor" error names the warning level when the
    # file sets it, else the floor (settings_from_dict names the first value on such errors).
    first = ("low_soc_warning_pct", "discharge_floor_pct")
    ordered = {k: data[k] for k in first if k in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    try:
        settings = settings_from_dict(ordered)
    except SettingError as exc:
        _fail(t.key(exc.name), exc.reason)
    values = {name: float(getattr(settings, name)) for name in data}
    return settings, values


def _parse_remote_fields(t: _Table) -> tuple[bool, float | None, float | None]:
    lo, hi = REMOTE_VOLTAGE_RANGE_V
    bridged = t.boolean("bridged", False)
    l_volts = t.opt_num("l_volts", lo=lo, hi=hi, unit="V")
    h_volts = t.opt_num("h_volts", lo=lo, hi=hi, unit="V")
    return bridged, l_volts, h_volts


def _parse_remote(data: dict[str, Any] | None) -> RemoteInput:
    if data is None:
        return RemoteInput(bridged=True)
    bridged, l_volts, h_volts = _parse_remote_fields(_Table(data, "remote", _REMOTE_KEYS))
    return RemoteInput(bridged=bridged, l_volts=l_volts, h_volts=h_volts)


def _parse_bms(data: dict[str, Any] | None) -> float | None:
    """The optional ``[bms]`` table: the BMS supply fuse in A (read by ``smallbms check``)."""
    if data is None:
        return None
    return _Table(data, "bms", _BMS_KEYS).opt_num("supply_fuse_a", lo=0.0, lo_open=True, unit="A")


def _parse_profile(t: _Table) -> LoadProfile:
    key = t.key("profile")
    value = t.data["profile"]
    repeat_s: float | None = DEFAULT_REPEAT_S
    if t.has("repeat"):
        raw = t.data["repeat"]
        repeat_s = None if raw == "none" else _as_duration(raw, t.key("repeat"), positive=True)
    if isinstance(value, str):
        if not value.strip():
            _fail(key, "a profile name must not be empty")
        return LoadProfile(name=value, repeat_s=repeat_s)
    hint = ' of [t, value] points, e.g. [[0, 5], ["8h", 20]], or a profile name'
    items = _as_list(value, key, hint)
    if not items:
        _fail(key, "needs at least one [t, value] point")
    points: list[ProfilePoint] = []
    for j, item in enumerate(items):
        point_key = f"{key}[{j}]"
        if not isinstance(item, list) or len(item) != 2:
            _fail(point_key, f"must be a [t, value] pair, got {_describe(item)}")
        t_s = _as_duration(item[0], f"{point_key}[0]")
        v = _as_number(item[1], f"{point_key}[1]", lo=0.0)
        if j == 0 and t_s != 0:
            _fail(f"{point_key}[0]", f"the first point must be at 0, not {_fmt_t(t_s)}")
        if points and t_s <= points[-1].t_s:
            _fail(
                f"{point_key}[0]",
                f"{_fmt_t(t_s)} is not after the previous point ({_fmt_t(points[-1].t_s)}); "
                "times must increase",
            )
        points.append(ProfilePoint(t_s, v))
    if repeat_s is not None and points[-1].t_s >= repeat_s:
        _fail(
            t.key("repeat"),
            f"the repeat period ({_fmt_t(repeat_s)}) must be longer than the last profile "
            f"point ({_fmt_t(points[-1].t_s)}); use repeat = \"none\" for no repeat",
        )
    return LoadProfile(points=tuple(points), repeat_s=repeat_s)


def _parse_windows(t: _Table, name: str) -> tuple[TimeWindow, ...] | None:
    if not t.has(name):
        return None
    key = t.key(name)
    items = _as_list(t.data[name], key, ' of [from, to] windows, e.g. [["6h", "18h"]]')
    windows: list[TimeWindow] = []
    for j, item in enumerate(items):
        window_key = f"{key}[{j}]"
        if not isinstance(item, list) or len(item) != 2:
            _fail(
                window_key,
                f"must be a [from, to] pair, e.g. [\"6h\", \"18h\"], got {_describe(item)}",
            )
        start = _as_duration(item[0], f"{window_key}[0]")
        end = _as_duration(item[1], f"{window_key}[1]")
        if end <= start:
            _fail(
                f"{window_key}[1]",
                f"the window ends ({_fmt_t(end)}) before or when it starts ({_fmt_t(start)})",
            )
        windows.append(TimeWindow(start, end))
    return tuple(windows)


def _load_demand(
    t: _Table, keys: tuple[str, ...]
) -> tuple[float | None, float | None, LoadProfile | None]:
    given = [k for k in keys if t.has(k)]
    if not given:
        _fail(t.path, f"needs one of {', '.join(keys)}")
    if len(given) > 1:
        _fail(t.key(given[1]), f"give only one of {', '.join(keys)} (also has {given[0]})")
    if t.has("repeat") and not t.has("profile"):
        _fail(t.key("repeat"), "repeat only applies to a profile")
    current_a = t.opt_num("current_a", lo=0.0, lo_open=True, unit="A")
    power_w = t.opt_num("power_w", lo=0.0, lo_open=True, unit="W")
    profile = _parse_profile(t) if t.has("profile") else None
    return current_a, power_w, profile


def _parse_component(path: str, data: dict[str, Any]) -> tuple[Component, bool]:
    """Parse one component; the flag says whether the file named it."""
    kind_value = data.get("kind", _MISSING)
    kinds = tuple(_COMPONENT_KEYS)
    if kind_value is _MISSING:
        _fail(f"{path}.kind", f"missing; one of {', '.join(kinds)}")
    kind = _as_choice(kind_value, f"{path}.kind", kinds)
    t = _Table(
        data, path, _COMMON_COMPONENT_KEYS + _COMPONENT_KEYS[kind],
        where=f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} component",
    )
    name = t.opt_str("name")
    default_control: ControlledBy = (
        "load_disconnect" if kind in _LOAD_KINDS else "charge_disconnect"
    )
    controlled_by = t.choice("controlled_by", _CONTROLLED_BY, default_control)
    base: dict[str, Any] = {"name": name or "", "controlled_by": controlled_by}
    positive: dict[str, Any] = {"lo": 0.0, "lo_open": True}
    component: Component
    if kind == "dc_load":
        current_a, power_w, profile = _load_demand(t, ("current_a", "power_w", "profile"))
        component = DcLoad(**base, current_a=current_a, power_w=power_w, profile=profile)
    elif kind == "inverter":
        _, power_w, profile = _load_demand(t, ("power_w", "profile"))
        component = Inverter(
            **base, power_w=power_w, profile=profile,
            efficiency=t.num("efficiency", 0.92, lo=0.0, hi=1.0, lo_open=True),
            idle_w=t.num("idle_w", 6.0, lo=0.0, unit="W"),
        )
    elif kind == "battery_protect":
        current_a, power_w, profile = _load_demand(t, ("current_a", "power_w", "profile"))
        component = BatteryProtect(
            **base, current_a=current_a, power_w=power_w, profile=profile,
            cutoff_v=t.opt_num("cutoff_v", unit="V", **positive),
        )
    elif kind == "solar":
        component = Solar(
            **base,
            peak_w=t.req_num("peak_w", unit="W", **positive),
            latitude=t.num("latitude", 50.0, lo=-90.0, hi=90.0, unit="°"),
            start_day=t.int_("start_day", 172, lo=1, hi=366),
            cloudiness=t.num("cloudiness", 0.3, lo=0.0, hi=1.0),
            max_current_a=t.opt_num("max_current_a", unit="A", **positive),
        )
    elif kind == "ac_charger":
        absorption_v = t.opt_num("absorption_v", unit="V", **positive)
        float_v = t.opt_num("float_v", unit="V", **positive)
        if absorption_v is not None and float_v is not None and float_v > absorption_v:
            _fail(
                t.key("float_v"),
                f"float voltage {_fmt(float_v)} V is above the absorption voltage "
                f"{_fmt(absorption_v)} V",
            )
        component = AcCharger(
            **base, current_a=t.req_num("current_a", unit="A", **positive),
            absorption_v=absorption_v, float_v=float_v, on=_parse_windows(t, "on"),
        )
    else:  # alternator
        component = Alternator(
            **base, current_a=t.req_num("current_a", unit="A", **positive),
            running=_parse_windows(t, "running"),
        )
    return component, name is not None


def _parse_components(
    items: list[tuple[str, dict[str, Any]]], bank: BankSpec
) -> tuple[Component, ...]:
    if items and bank.source != "twin":
        _fail(
            items[0][0],
            f"components need bank.source = \"twin\"; this scenario's source is "
            f"{bank.source!r} (its [[reading]]s give the measurements)",
        )
    parsed: list[tuple[Component, bool]] = []
    used: dict[str, str] = {}
    for path, data in items:
        component, named = _parse_component(path, data)
        if named:
            if component.name in used:
                _fail(
                    f"{path}.name",
                    f"name {component.name!r} is already used by {used[component.name]}",
                )
            used[component.name] = path
        parsed.append((component, named))
    # Unnamed components get "<kind>-<n>", skipping names the file uses.
    counters: dict[str, int] = {}
    out: list[Component] = []
    for component, named in parsed:
        if not named:
            n = counters.get(component.kind, 0)
            while True:
                n += 1
                candidate = f"{component.kind}-{n}"
                if candidate not in used:
                    break
            counters[component.kind] = n
            used[candidate] = ""
            component = replace(component, name=candidate)
        out.append(component)
    return tuple(out)


def _parse_cells(t: _Table, bank: BankSpec) -> tuple[tuple[float, ...], ...] | None:
    cells = bank.cells_per_battery
    count = bank.battery_count
    lo, hi = CELL_VOLTAGE_RANGE_V
    if t.has("cell_v") and t.has("cells_v"):
        _fail(t.key("cells_v"), "give cell_v (every cell) or cells_v (per cell), not both")
    if t.has("cell_v"):
        v = _as_number(t.data["cell_v"], t.key("cell_v"), lo=lo, hi=hi, unit="V")
        return tuple((v,) * cells for _ in range(count))
    if not t.has("cells_v"):
        return None
    key = t.key("cells_v")
    values = _as_list(t.data["cells_v"], key, " of cell voltages")
    one = f"{cells} (one per cell, applied to every battery)"
    every = f"{cells * count} (one per cell of each of the {count} batteries, in chain order)"
    allowed = one if count == 1 else f"{one} or {every}"
    if len(values) not in (cells, cells * count):
        _fail(
            key,
            f"has {len(values)} value{'s' if len(values) != 1 else ''}; the bank's "
            f"{bank.battery} batteries have {cells} cells, so give {allowed}",
        )
    volts = [
        _as_number(x, f"{key}[{j}]", lo=lo, hi=hi, unit="V") for j, x in enumerate(values)
    ]
    if len(volts) == cells:
        return tuple(tuple(volts) for _ in range(count))
    return tuple(tuple(volts[b * cells:(b + 1) * cells]) for b in range(count))


def _parse_temperatures(t: _Table, bank: BankSpec) -> tuple[float, ...] | None:
    lo, hi = FORCED_TEMPERATURE_RANGE_C
    count = bank.battery_count
    if t.has("temperature_c") and t.has("temperatures_c"):
        _fail(t.key("temperatures_c"), "give temperature_c or temperatures_c, not both")
    if t.has("temperature_c"):
        v = t.req_num("temperature_c", lo=lo, hi=hi, unit="°C")
        return (v,) * count
    if not t.has("temperatures_c"):
        return None
    key = t.key("temperatures_c")
    values = _as_list(t.data["temperatures_c"], key, " with one temperature per battery")
    if len(values) != count:
        _fail(key, f"has {len(values)} values; give one per battery: {count}")
    return tuple(
        _as_number(x, f"{key}[{j}]", lo=lo, hi=hi, unit="°C") for j, x in enumerate(values)
    )


def _parse_readings(
    items: list[tuple[str, dict[str, Any]]], bank: BankSpec
) -> tuple[ScriptReading, ...]:
    if bank.source == "twin":
        if items:
            _fail(
                items[0][0],
                "readings need bank.source = \"script\"; with the twin the simulated batteries "
                "make the readings",
            )
        return ()
    if not items:
        _fail("reading", "a script scenario (bank.source = \"script\") needs [[reading]] tables")
    readings: list[ScriptReading] = []
    lo_v, hi_v = BANK_VOLTAGE_RANGE_V
    for path, data in items:
        t = _Table(data, path, _READING_KEYS, where="a [[reading]]")
        at_s = t.req_duration("at")
        previous = readings[-1] if readings else None
        if previous is None and at_s != 0:
            _fail(t.key("at"), f"the first reading must be at 0, not {_fmt_t(at_s)}")
        if previous is not None and at_s <= previous.at_s:
            _fail(
                t.key("at"),
                f"{_fmt_t(at_s)} is not after the previous reading ({_fmt_t(previous.at_s)}); "
                "reading times must increase",
            )
        cells_v = _parse_cells(t, bank)
        if cells_v is None:
            if previous is None:
                _fail(path, "the first reading needs cell_v or cells_v")
            cells_v = previous.cells_v
        temperatures = _parse_temperatures(t, bank)
        if temperatures is None:
            temperatures = (
                previous.temperatures_c if previous is not None
                else (bank.temperature_c,) * bank.battery_count
            )
        current_a = t.num(
            "current_a", previous.current_a if previous is not None else 0.0, unit="A"
        )
        voltage_v = t.opt_num("voltage_v", lo=lo_v, hi=hi_v, unit="V")
        if voltage_v is None and previous is not None:
            voltage_v = previous.voltage_v
        readings.append(
            ScriptReading(
                at_s=at_s, cells_v=cells_v, temperatures_c=temperatures,
                current_a=current_a, voltage_v=voltage_v,
            )
        )
    return tuple(readings)


def _battery_index(t: _Table, name: str, bank: BankSpec, *, required: bool) -> int | None:
    if not t.has(name):
        if required:
            t.require(name)
        return None
    index = _as_int(t.data[name], t.key(name), lo=0)
    count = bank.battery_count
    if index >= count:
        _fail(
            t.key(name),
            f"battery {index} does not exist: the bank has {count} "
            f"batter{'y' if count == 1 else 'ies'} (0..{count - 1})",
        )
    return index


def _parse_event(
    path: str, data: dict[str, Any], bank: BankSpec, profile: Profile, duration_s: float
) -> Event:
    action_key = f"{path}.action"
    action_value = data.get("action", _MISSING)
    if action_value is _MISSING:
        _fail(action_key, "missing; one of " + ", ".join(ACTIONS))
    if not isinstance(action_value, str):
        _fail(action_key, f"must be a string, got {_describe(action_value)}")
    if action_value not in ACTIONS:
        _fail(
            action_key,
            f"unknown action {action_value!r}{_suggest(action_value, ACTIONS)}; "
            f"known actions: {', '.join(ACTIONS)}",
        )
    action = action_value
    if profile == "classic" and action in _NG_ONLY_ACTIONS:
        _fail(
            action_key,
            f"action {action!r} is not available with profile 'classic' (no app, SoC monitor, "
            "settings or wireless)",
        )
    t = _Table(data, path, ("at", "action", *ACTIONS[action]), where=f"a {action!r} event")
    at_s = t.req_duration("at")
    if at_s > duration_s:
        _fail(
            t.key("at"),
            f"{_fmt_t(at_s)} is after the end of the scenario (duration {_fmt_t(duration_s)})",
        )
    lo_c, hi_c = FORCED_TEMPERATURE_RANGE_C
    lo_v, hi_v = CELL_VOLTAGE_RANGE_V
    match action:
        case "comms_lost":
            return CommsLost(at_s=at_s, battery=_battery_index(t, "battery", bank, required=False))
        case "comms_restored":
            return CommsRestored(at_s=at_s)
        case "remote":
            bridged, l_volts, h_volts = _parse_remote_fields(t)
            return Remote(at_s=at_s, bridged=bridged, l_volts=l_volts, h_volts=h_volts)
        case "mode":
            return Mode(at_s=at_s, value=t.req_choice("value", _ON_OFF))
        case "set":
            setting = t.req_str("setting")
            if setting not in SPECS_BY_NAME:
                _fail(
                    t.key("setting"),
                    f"unknown setting {setting!r}{_suggest(setting, SPECS_BY_NAME)}; "
                    f"known settings: {', '.join(SPECS_BY_NAME)}",
                )
            return SetSetting(at_s=at_s, setting=setting, value=t.req_num("value"))
        case "sync_soc":
            return SyncSoc(at_s=at_s)
        case "set_soc":
            return SetSoc(at_s=at_s, value=t.req_num("value", lo=0.0, hi=100.0, unit="%"))
        case "reset_defaults":
            return ResetDefaults(at_s=at_s)
        case "reset_history":
            return ResetHistory(at_s=at_s)
        case "force_cell":
            battery = _battery_index(t, "battery", bank, required=True)
            assert battery is not None
            cell = t.req_int("cell", lo=0)
            cells = bank.cells_per_battery
            if cell >= cells:
                _fail(
                    t.key("cell"),
                    f"cell {cell} does not exist: a {bank.battery} battery has {cells} cells "
                    f"(0..{cells - 1})",
                )
            volts = t.req_num("volts", lo=lo_v, hi=hi_v, unit="V")
            return ForceCell(at_s=at_s, battery=battery, cell=cell, volts=volts)
        case "force_temperature":
            battery = _battery_index(t, "battery", bank, required=True)
            assert battery is not None
            celsius = t.req_num("celsius", lo=lo_c, hi=hi_c, unit="°C")
            return ForceTemperature(at_s=at_s, battery=battery, celsius=celsius)
        case "release":
            return Release(at_s=at_s, battery=_battery_index(t, "battery", bank, required=False))
        case "firmware_update":
            return FirmwareUpdate(
                at_s=at_s, result=t.req_choice("result", _RESULTS),
                duration_s=t.duration(
                    "duration", DEFAULT_FIRMWARE_UPDATE_S, positive=True, hi=MAX_DURATION_S
                ),
            )
        case "hardware_fault":
            return HardwareFault(at_s=at_s, value=t.req_bool("value"))
        case "power_cycle":
            return PowerCycle(
                at_s=at_s, duration_s=t.duration("duration", 0.0, hi=MAX_DURATION_S)
            )
        case "wireless":
            return Wireless(at_s=at_s, value=t.req_choice("value", _ON_OFF))
        case "add_battery":
            return AddBattery(
                at_s=at_s, battery=_battery_index(t, "battery", bank, required=False)
            )
        case "remove_battery":
            battery = _battery_index(t, "battery", bank, required=True)
            assert battery is not None
            return RemoveBattery(at_s=at_s, battery=battery)
        case _:
            return AcceptBank(at_s=at_s)


# --- entry points -------------------------------------------------------------------------------


def _build(data: dict[str, Any], source: str, source_path: Path | None) -> Scenario:
    top = _Table(data, "", _TOP_KEYS)
    name = top.req_str("name")
    profile = top.choice("profile", _PROFILES, "ng")
    duration_s = top.req_duration("duration", positive=True, hi=MAX_DURATION_S)
    step_s = top.duration("step", DEFAULT_STEP_S, positive=True, hi=MAX_STEP_S)
    seed = top.int_("seed", 0, lo=0, hi=MAX_SEED)
    sample_interval_s = top.opt_duration("sample_interval", positive=True, hi=MAX_DURATION_S)
    bank = _parse_bank(_subtable(top, "bank"), profile)
    settings, values = _parse_settings(_subtable(top, "settings"), profile)
    remote = _parse_remote(_subtable(top, "remote"))
    supply_fuse_a = _parse_bms(_subtable(top, "bms"))
    components = _parse_components(_array_of_tables(top, "component"), bank)
    readings = _parse_readings(_array_of_tables(top, "reading"), bank)
    events = [
        _parse_event(path, item, bank, profile, duration_s)
        for path, item in _array_of_tables(top, "event")
    ]
    events.sort(key=lambda ev: ev.at_s)  # stable: file order kept for equal times
    return Scenario(
        name=name, profile=profile, duration_s=duration_s, step_s=step_s, seed=seed,
        sample_interval_s=sample_interval_s, bank=bank, settings=settings,
        settings_values=MappingProxyType(values), remote=remote, components=components,
        readings=readings, events=tuple(events), source=source, source_path=source_path,
        supply_fuse_a=supply_fuse_a,
    )


def parse_scenario(
    text: str, source: str = "<string>", *, source_path: Path | None = None
) -> Scenario:
    """Parse scenario TOML text; ``source`` names it in error messages.

    Raises :class:`ScenarioError` (and nothing else) for any malformed scenario.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, "", f"not valid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer too long to convert
        raise ScenarioError(source, "", f"not valid TOML: {exc}") from None
    try:
        return _build(data, source, source_path)
    except _Invalid as exc:
        raise ScenarioError(source, exc.key, exc.message) from None


def load_scenario(path: Path) -> Scenario:
    """Read and parse a scenario file; errors name the file as given."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ScenarioError(source, "", f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(source, "", f"not UTF-8 text: {exc}") from None
    return parse_scenario(text, source, source_path=Path(path))
