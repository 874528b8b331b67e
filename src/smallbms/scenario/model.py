"""The shape of a scenario file (SPEC 17) as pydantic models, and of a design file on top of it.

One :class:`ScenarioFile` per file, one model per table: types, ranges, unknown keys ("did you
mean"), required keys and the checks inside one table (a load gives one of ``current_a``,
``power_w`` or ``profile``; profile times increase). What needs two tables (battery indices
against the bank, readings against the source, event times against the duration) is checked by
:mod:`smallbms.scenario.parse` while it builds the typed :class:`~smallbms.scenario.types.Scenario`.

:class:`DesignFile` is the same file as ``smallbms check`` reads it: every scenario key means the
same and is checked the same way (so ``paralel = 2`` is refused by both), the run-only keys
(``name``, ``duration``, the bank's battery...) may be left out, and a component may say more
about the device: ``device``, ``surge_w``, ``charge_v`` and ``profile_unit``.

May import: :mod:`smallbms.schema`, the core's settings and types, and the scenario's types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeAlias, Union

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    model_validator,
)
from pydantic.functional_validators import PlainValidator

from smallbms.core.settings import SPECS_BY_NAME
from smallbms.core.types import Profile
from smallbms.scenario.types import (
    ACTIONS,
    BANK_TEMPERATURE_RANGE_C,
    BANK_VOLTAGE_RANGE_V,
    CELL_VOLTAGE_RANGE_V,
    CONTROLLED_BY,
    DEFAULT_FIRMWARE_UPDATE_S,
    DEFAULT_REPEAT_S,
    DEFAULT_STEP_S,
    FORCED_TEMPERATURE_RANGE_C,
    MAX_BATTERIES,
    MAX_DURATION_S,
    MAX_SEED,
    MAX_STEP_S,
    ON_OFF,
    PROFILES,
    REMOTE_VOLTAGE_RANGE_V,
    RESULTS,
    SOURCES,
    BankSource,
    ControlledBy,
    FirmwareResult,
    OnOff,
)
from smallbms.schema import (
    Choice,
    Duration,
    Range,
    Table,
    Text,
    describe,
    fmt,
    fmt_t,
    problem,
    strict,
    suggest,
    validate_value,
)

# --- value types ---------------------------------------------------------------------------------

Seconds: TypeAlias = Annotated[float, PlainValidator(Duration())]
LongSeconds: TypeAlias = Annotated[
    float, PlainValidator(Duration(positive=True, hi=MAX_DURATION_S))
]
Amps: TypeAlias = Annotated[float, AfterValidator(Range(0.0, lo_open=True, unit="A"))]
Watts: TypeAlias = Annotated[float, AfterValidator(Range(0.0, lo_open=True, unit="W"))]
Volts: TypeAlias = Annotated[float, AfterValidator(Range(0.0, lo_open=True, unit="V"))]
CellVolts: TypeAlias = Annotated[float, AfterValidator(Range(*CELL_VOLTAGE_RANGE_V, unit="V"))]
BankVolts: TypeAlias = Annotated[float, AfterValidator(Range(*BANK_VOLTAGE_RANGE_V, unit="V"))]
RemoteVolts: TypeAlias = Annotated[
    float, AfterValidator(Range(*REMOTE_VOLTAGE_RANGE_V, unit="V"))
]
BankCelsius: TypeAlias = Annotated[
    float, AfterValidator(Range(*BANK_TEMPERATURE_RANGE_C, unit="°C"))
]
ForcedCelsius: TypeAlias = Annotated[
    float, AfterValidator(Range(*FORCED_TEMPERATURE_RANGE_C, unit="°C"))
]
Percent: TypeAlias = Annotated[float, AfterValidator(Range(0.0, 100.0, unit="%"))]
Index: TypeAlias = Annotated[int, AfterValidator(Range(0))]
Controlled: TypeAlias = Annotated[ControlledBy, PlainValidator(Choice(*CONTROLLED_BY))]
Switch: TypeAlias = Annotated[OnOff, PlainValidator(Choice(*ON_OFF))]

_POINT_VALUE = strict(Annotated[float, AfterValidator(Range(0.0))])
_PROFILE_HINT = ' of [t, value] points, e.g. [[0, 5], ["8h", 20]], or a profile name'
_WINDOWS_HINT = ' of [from, to] windows, e.g. [["6h", "18h"]]'

#: A load profile as the file gives it: a built-in name, or ``(t_s, value)`` steps.
ProfileSpec: TypeAlias = str | tuple[tuple[float, float], ...]


def _seconds(value: object, *sub: str | int) -> float:
    try:
        return Duration()(value)
    except Exception as exc:  # a PydanticCustomError: continue its key path
        ctx = getattr(exc, "context", None) or {}
        raise problem(str(ctx.get("message", exc)), *sub) from None


def _profile(value: object) -> ProfileSpec:
    if isinstance(value, str):
        if not value.strip():
            raise problem("a profile name must not be empty")
        return value
    if not isinstance(value, list):
        raise problem(f"must be an array{_PROFILE_HINT}, got {describe(value)}")
    if not value:
        raise problem("needs at least one [t, value] point")
    points: list[tuple[float, float]] = []
    for j, item in enumerate(value):
        if not isinstance(item, list) or len(item) != 2:
            raise problem(f"must be a [t, value] pair, got {describe(item)}", j)
        t_s = _seconds(item[0], j, 0)
        v = validate_value(_POINT_VALUE, item[1], j, 1)
        if j == 0 and t_s != 0:
            raise problem(f"the first point must be at 0, not {fmt_t(t_s)}", j, 0)
        if points and t_s <= points[-1][0]:
            raise problem(
                f"{fmt_t(t_s)} is not after the previous point ({fmt_t(points[-1][0])}); "
                "times must increase", j, 0,
            )
        points.append((t_s, v))
    return tuple(points)


def _repeat(value: object) -> float | Literal["none"]:
    if value == "none":
        return "none"
    return Duration(positive=True)(value)


def _windows(value: object) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list):
        raise problem(f"must be an array{_WINDOWS_HINT}, got {describe(value)}")
    windows: list[tuple[float, float]] = []
    for j, item in enumerate(value):
        if not isinstance(item, list) or len(item) != 2:
            raise problem(
                f"must be a [from, to] pair, e.g. [\"6h\", \"18h\"], got {describe(item)}", j
            )
        start = _seconds(item[0], j, 0)
        end = _seconds(item[1], j, 1)
        if end <= start:
            raise problem(
                f"the window ends ({fmt_t(end)}) before or when it starts ({fmt_t(start)})", j, 1
            )
        windows.append((start, end))
    return tuple(windows)


LoadProfileSpec: TypeAlias = Annotated[ProfileSpec, PlainValidator(_profile)]
Repeat: TypeAlias = Annotated[float | Literal["none"], PlainValidator(_repeat)]
Windows: TypeAlias = Annotated[tuple[tuple[float, float], ...], PlainValidator(_windows)]


# --- [bank], [remote], [bms], [settings] ---------------------------------------------------------


class BankTable(Table):
    """``[bank]``; the battery is checked against the catalogue and the profile when built."""

    battery: Text
    series: Annotated[int, AfterValidator(Range(1, MAX_BATTERIES))] = 1
    parallel: Annotated[int, AfterValidator(Range(1, MAX_BATTERIES))] = 1
    soc_pct: Percent | None = None
    temperature_c: BankCelsius = 25.0
    ambient_c: BankCelsius | None = None
    source: Annotated[BankSource, PlainValidator(Choice(*SOURCES))] = "twin"

    @model_validator(mode="after")
    def _bank_size(self) -> BankTable:
        if self.series * self.parallel > MAX_BATTERIES:
            raise problem(
                f"{self.series} in series x {self.parallel} in parallel = "
                f"{self.series * self.parallel} batteries; a scenario holds at most "
                f"{MAX_BATTERIES}",
                "parallel" if "parallel" in self.model_fields_set else "series",
            )
        return self


class RemoteTable(Table):
    """``[remote]`` and the fields of a ``remote`` event: the whole remote terminal state."""

    bridged: bool = False
    l_volts: RemoteVolts | None = None
    h_volts: RemoteVolts | None = None


class BmsTable(Table):
    """``[bms]``: the BMS supply fuse, reviewed by ``smallbms check`` (the run ignores it)."""

    supply_fuse_a: Amps | None = None


def _known_settings(value: Any) -> Any:
    if isinstance(value, dict):
        names = tuple(SPECS_BY_NAME)
        for key in value:
            if key not in SPECS_BY_NAME:
                raise problem(
                    f"unknown key {key!r}{suggest(str(key), names)} in [settings]; "
                    f"allowed keys: {', '.join(names)}", key,
                )
    return value


#: ``[settings]``: numbers by setting name (ranges are the core's, checked when built).
SettingsTable: TypeAlias = Annotated[dict[str, float], BeforeValidator(_known_settings)]


# --- [[component]] -------------------------------------------------------------------------------


class ComponentBase(Table):
    kind: str
    name: Text | None = None
    controlled_by: Controlled | None = None

    #: The demand keys of a load (one of them is given), empty for chargers.
    demand: ClassVar[tuple[str, ...]] = ()
    #: A design file: the figures may be left out.
    design: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = getattr(cls, "KIND", "")
        if kind:
            cls.where = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} component"

    @model_validator(mode="after")
    def _one_demand(self) -> ComponentBase:
        if not self.demand:
            return self
        given = [k for k in self.demand if getattr(self, k, None) is not None]
        if not given and not self.design:
            raise problem(f"needs one of {', '.join(self.demand)}")
        if len(given) > 1:
            raise problem(
                f"give only one of {', '.join(self.demand)} (also has {given[0]})", given[1]
            )
        profile: ProfileSpec | None = getattr(self, "profile", None)
        repeat: float | str | None = getattr(self, "repeat", None)
        if repeat is not None and profile is None:
            raise problem("repeat only applies to a profile", "repeat")
        repeat_s = DEFAULT_REPEAT_S if repeat is None else repeat
        if isinstance(profile, tuple) and isinstance(repeat_s, float) and profile[-1][0] >= repeat_s:
            raise problem(
                f"the repeat period ({fmt_t(repeat_s)}) must be longer than the last profile "
                f"point ({fmt_t(profile[-1][0])}); use repeat = \"none\" for no repeat",
                "repeat",
            )
        return self


class DcLoadTable(ComponentBase):
    KIND: ClassVar[str] = "dc_load"
    demand = ("current_a", "power_w", "profile")
    kind: Literal["dc_load"]
    current_a: Amps | None = None
    power_w: Watts | None = None
    profile: LoadProfileSpec | None = None
    repeat: Repeat | None = None


class InverterTable(ComponentBase):
    KIND: ClassVar[str] = "inverter"
    demand = ("power_w", "profile")
    kind: Literal["inverter"]
    power_w: Watts | None = None
    profile: LoadProfileSpec | None = None
    repeat: Repeat | None = None
    efficiency: Annotated[float, AfterValidator(Range(0.0, 1.0, lo_open=True))] = 0.92
    idle_w: Annotated[float, AfterValidator(Range(0.0, unit="W"))] = 6.0


class SolarTable(ComponentBase):
    KIND: ClassVar[str] = "solar"
    kind: Literal["solar"]
    peak_w: Watts
    latitude: Annotated[float, AfterValidator(Range(-90.0, 90.0, unit="°"))] = 50.0
    start_day: Annotated[int, AfterValidator(Range(1, 366))] = 172
    cloudiness: Annotated[float, AfterValidator(Range(0.0, 1.0))] = 0.3
    max_current_a: Amps | None = None


class AcChargerTable(ComponentBase):
    KIND: ClassVar[str] = "ac_charger"
    kind: Literal["ac_charger"]
    current_a: Amps
    absorption_v: Volts | None = None
    float_v: Volts | None = None
    on: Windows | None = None

    @model_validator(mode="after")
    def _float_below_absorption(self) -> AcChargerTable:
        a, f = self.absorption_v, self.float_v
        if a is not None and f is not None and f > a:
            raise problem(
                f"float voltage {fmt(f)} V is above the absorption voltage {fmt(a)} V", "float_v"
            )
        return self


class AlternatorTable(ComponentBase):
    KIND: ClassVar[str] = "alternator"
    kind: Literal["alternator"]
    current_a: Amps
    running: Windows | None = None


class BatteryProtectTable(ComponentBase):
    KIND: ClassVar[str] = "battery_protect"
    demand = ("current_a", "power_w", "profile")
    kind: Literal["battery_protect"]
    current_a: Amps | None = None
    power_w: Watts | None = None
    profile: LoadProfileSpec | None = None
    repeat: Repeat | None = None
    cutoff_v: Volts | None = None


#: The component tables by kind, in the order messages list them.
COMPONENT_TABLES: dict[str, type[ComponentBase]] = {
    cls.KIND: cls
    for cls in (DcLoadTable, InverterTable, SolarTable, AcChargerTable, AlternatorTable,
                BatteryProtectTable)
}


def _tagged(tables: dict[str, type[Table]], key: str) -> Any:
    """The union of ``tables`` told apart by the value of ``key`` (``kind``, ``action``); an
    item without a valid tag is worded by :data:`TAGGED`."""

    def tag(value: Any) -> str | None:
        found = value.get(key) if isinstance(value, dict) else None
        return found if isinstance(found, str) else None

    members = tuple(Annotated[cls, Tag(name)] for name, cls in tables.items())
    return Annotated[Union[members], Discriminator(tag)]  # noqa: UP007 - built at run time


def component_tag_problem(item: object) -> tuple[str, str]:
    """What is wrong with a component's ``kind`` (missing, not a string, unknown)."""
    kinds = tuple(COMPONENT_TABLES)
    if not isinstance(item, dict) or "kind" not in item:
        return "kind", f"missing; one of {', '.join(kinds)}"
    return "kind", Choice(*kinds).refusal(item["kind"]) or "unknown kind"


if TYPE_CHECKING:
    ComponentTable: TypeAlias = ComponentBase
else:
    ComponentTable = _tagged(COMPONENT_TABLES, "kind")


# --- [[reading]] ---------------------------------------------------------------------------------


class ReadingTable(Table):
    """One ``[[reading]]`` as given; inheritance and cell expansion happen when built."""

    where = "a [[reading]]"
    at: Seconds
    cell_v: CellVolts | None = None
    cells_v: list[CellVolts] | None = None
    temperature_c: ForcedCelsius | None = None
    temperatures_c: list[ForcedCelsius] | None = None
    current_a: float | None = None
    voltage_v: BankVolts | None = None

    @model_validator(mode="after")
    def _one_form_each(self) -> ReadingTable:
        if self.cell_v is not None and self.cells_v is not None:
            raise problem("give cell_v (every cell) or cells_v (per cell), not both", "cells_v")
        if self.temperature_c is not None and self.temperatures_c is not None:
            raise problem("give temperature_c or temperatures_c, not both", "temperatures_c")
        return self


# --- [[event]] -----------------------------------------------------------------------------------


class EventBase(Table):
    at: Seconds
    action: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        action = getattr(cls, "ACTION", "")
        if action:
            cls.where = f"a {action!r} event"


class CommsLostEvent(EventBase):
    ACTION: ClassVar[str] = "comms_lost"
    action: Literal["comms_lost"]
    battery: Index | None = None


class CommsRestoredEvent(EventBase):
    ACTION: ClassVar[str] = "comms_restored"
    action: Literal["comms_restored"]


class RemoteEvent(EventBase):
    ACTION: ClassVar[str] = "remote"
    action: Literal["remote"]
    bridged: bool = False
    l_volts: RemoteVolts | None = None
    h_volts: RemoteVolts | None = None


class ModeEvent(EventBase):
    ACTION: ClassVar[str] = "mode"
    action: Literal["mode"]
    value: Switch


def _known_setting(name: str) -> str:
    if name not in SPECS_BY_NAME:
        raise problem(
            f"unknown setting {name!r}{suggest(name, SPECS_BY_NAME)}; "
            f"known settings: {', '.join(SPECS_BY_NAME)}"
        )
    return name


class SetEvent(EventBase):
    ACTION: ClassVar[str] = "set"
    action: Literal["set"]
    setting: Annotated[Text, AfterValidator(_known_setting)]
    value: float


class SyncSocEvent(EventBase):
    ACTION: ClassVar[str] = "sync_soc"
    action: Literal["sync_soc"]


class SetSocEvent(EventBase):
    ACTION: ClassVar[str] = "set_soc"
    action: Literal["set_soc"]
    value: Percent


class ResetDefaultsEvent(EventBase):
    ACTION: ClassVar[str] = "reset_defaults"
    action: Literal["reset_defaults"]


class ResetHistoryEvent(EventBase):
    ACTION: ClassVar[str] = "reset_history"
    action: Literal["reset_history"]


class ForceCellEvent(EventBase):
    ACTION: ClassVar[str] = "force_cell"
    action: Literal["force_cell"]
    battery: Index
    cell: Index
    volts: CellVolts


class ForceTemperatureEvent(EventBase):
    ACTION: ClassVar[str] = "force_temperature"
    action: Literal["force_temperature"]
    battery: Index
    celsius: ForcedCelsius


class ReleaseEvent(EventBase):
    ACTION: ClassVar[str] = "release"
    action: Literal["release"]
    battery: Index | None = None


class FirmwareUpdateEvent(EventBase):
    ACTION: ClassVar[str] = "firmware_update"
    action: Literal["firmware_update"]
    result: Annotated[FirmwareResult, PlainValidator(Choice(*RESULTS))]
    duration: LongSeconds = DEFAULT_FIRMWARE_UPDATE_S


class HardwareFaultEvent(EventBase):
    ACTION: ClassVar[str] = "hardware_fault"
    action: Literal["hardware_fault"]
    value: bool


class PowerCycleEvent(EventBase):
    ACTION: ClassVar[str] = "power_cycle"
    action: Literal["power_cycle"]
    duration: Annotated[float, PlainValidator(Duration(hi=MAX_DURATION_S))] = 0.0


class WirelessEvent(EventBase):
    ACTION: ClassVar[str] = "wireless"
    action: Literal["wireless"]
    value: Switch


class AddBatteryEvent(EventBase):
    ACTION: ClassVar[str] = "add_battery"
    action: Literal["add_battery"]
    battery: Index | None = None


class RemoveBatteryEvent(EventBase):
    ACTION: ClassVar[str] = "remove_battery"
    action: Literal["remove_battery"]
    battery: Index


class AcceptBankEvent(EventBase):
    ACTION: ClassVar[str] = "accept_bank"
    action: Literal["accept_bank"]


#: The event tables by action.
EVENT_TABLES: dict[str, type[EventBase]] = {
    cls.ACTION: cls
    for cls in (
        CommsLostEvent, CommsRestoredEvent, RemoteEvent, ModeEvent, SetEvent, SyncSocEvent,
        SetSocEvent, ResetDefaultsEvent, ResetHistoryEvent, ForceCellEvent,
        ForceTemperatureEvent, ReleaseEvent, FirmwareUpdateEvent, HardwareFaultEvent,
        PowerCycleEvent, WirelessEvent, AddBatteryEvent, RemoveBatteryEvent, AcceptBankEvent,
    )
}
assert tuple(EVENT_TABLES) == tuple(ACTIONS)
assert all(
    cls.keys() == ("at", "action", *ACTIONS[name]) for name, cls in EVENT_TABLES.items()
)


def event_tag_problem(item: object) -> tuple[str, str]:
    """What is wrong with an event's ``action`` (missing, not a string, unknown)."""
    if not isinstance(item, dict) or "action" not in item:
        return "action", "missing; one of " + ", ".join(ACTIONS)
    action = item["action"]
    if not isinstance(action, str):
        return "action", f"must be a string, got {describe(action)}"
    return "action", (
        f"unknown action {action!r}{suggest(action, ACTIONS)}; known actions: {', '.join(ACTIONS)}"
    )


if TYPE_CHECKING:
    EventTable: TypeAlias = EventBase
else:
    EventTable = _tagged(EVENT_TABLES, "action")


# --- the whole file ------------------------------------------------------------------------------


class ScenarioFile(Table):
    """A whole scenario file as given (keys in the order messages list them)."""

    name: Text
    profile: Annotated[Profile, PlainValidator(Choice(*PROFILES))] = "ng"
    duration: LongSeconds
    step: Annotated[
        float, PlainValidator(Duration(positive=True, hi=MAX_STEP_S))
    ] = DEFAULT_STEP_S
    seed: Annotated[int, AfterValidator(Range(0, MAX_SEED))] = 0
    sample_interval: LongSeconds | None = None
    bank: BankTable = Field(
        description='missing table [bank] (at least: battery = "<catalogue id>")'
    )
    settings: SettingsTable | None = None
    remote: RemoteTable | None = None
    component: list[ComponentTable] = Field(default_factory=list)
    reading: list[ReadingTable] = Field(default_factory=list)
    event: list[EventTable] = Field(default_factory=list)
    bms: BmsTable | None = None


#: How an error message words the arrays of tables whose items are told apart by a key.
TAGGED = {"component": component_tag_problem, "event": event_tag_problem}
#: The words after "must be an array" for the keys that take one.
LIST_HINTS = {
    "component": " of tables (write [[component]])",
    "reading": " of tables (write [[reading]])",
    "event": " of tables (write [[event]])",
    "cells_v": " of cell voltages",
    "temperatures_c": " with one temperature per battery",
}


# --- the same file read as a design (smallbms check) ---------------------------------------------


class _DesignKeys(Table):
    """What a design file may say about a device besides the scenario's keys."""

    device: Text | None = None
    surge_w: Watts | None = None
    charge_v: Volts | None = None
    profile_unit: Annotated[Literal["A", "W"], PlainValidator(Choice("A", "W"))] | None = None


class DcLoadDesign(_DesignKeys, DcLoadTable):
    design = True


class InverterDesign(_DesignKeys, InverterTable):
    design = True


class SolarDesign(_DesignKeys, SolarTable):
    design = True
    peak_w: Watts | None = None  # type: ignore[assignment]


class AcChargerDesign(_DesignKeys, AcChargerTable):
    design = True
    current_a: Amps | None = None  # type: ignore[assignment]


class AlternatorDesign(_DesignKeys, AlternatorTable):
    design = True
    current_a: Amps | None = None  # type: ignore[assignment]


class BatteryProtectDesign(_DesignKeys, BatteryProtectTable):
    design = True


#: The component tables of a design file, by kind.
DESIGN_COMPONENT_TABLES: dict[str, type[ComponentBase]] = {
    cls.KIND: cls
    for cls in (DcLoadDesign, InverterDesign, SolarDesign, AcChargerDesign, AlternatorDesign,
                BatteryProtectDesign)
}
if TYPE_CHECKING:
    DesignComponentTable: TypeAlias = ComponentBase
else:
    DesignComponentTable = _tagged(DESIGN_COMPONENT_TABLES, "kind")


class DesignBank(BankTable):
    """``[bank]`` of a design: the battery may be left out (a 12.8 V 100 Ah NG battery)."""

    battery: Text = "12.8/100"


class DesignFile(ScenarioFile):
    """A design file: a scenario file whose run-only keys may be left out."""

    name: Text | None = None  # type: ignore[assignment]
    duration: LongSeconds | None = None  # type: ignore[assignment]
    bank: DesignBank = DesignBank()
    component: list[DesignComponentTable] = Field(default_factory=list)


__all__ = [
    "COMPONENT_TABLES",
    "EVENT_TABLES",
    "LIST_HINTS",
    "TAGGED",
    "BankTable",
    "BmsTable",
    "DesignFile",
    "ReadingTable",
    "RemoteTable",
    "ScenarioFile",
]
