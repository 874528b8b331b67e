"""Reading a scenario: TOML text to a checked :class:`ScenarioFile`, then to a typed
:class:`Scenario`, every problem a :class:`ScenarioError` naming the file and the key path.

Two steps:

1. :func:`read_toml` and :func:`validate` check the text against the models of
   :mod:`smallbms.scenario.model` (types, ranges, unknown keys, one table at a time); the first
   problem becomes the error.
2. :func:`_build` checks what needs several tables (the battery against the catalogue and the
   profile, battery and cell indices against the bank, readings against the source, event times
   against the duration, the classic profile's missing features, unique component names) and
   fills in what the file leaves out (reading inheritance, component names, defaults).

May import: the scenario's model and types, :mod:`smallbms.schema`, the catalogue, the core's
settings and types.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from smallbms.catalog import UnknownBatteryModel, get_model, models_for_profile
from smallbms.core.settings import DEFAULT_SETTINGS, SettingError, Settings, settings_from_dict
from smallbms.core.types import Profile, RemoteInput
from smallbms.scenario import model as m
from smallbms.scenario.types import (
    DEFAULT_REPEAT_S,
    LOAD_KINDS,
    NG_ONLY_ACTIONS,
    AcceptBank,
    AcCharger,
    AddBattery,
    Alternator,
    BankSpec,
    BatteryProtect,
    CommsLost,
    CommsRestored,
    Component,
    ControlledBy,
    DcLoad,
    Event,
    FirmwareUpdate,
    ForceCell,
    ForceTemperature,
    HardwareFault,
    Inverter,
    LoadProfile,
    Mode,
    PowerCycle,
    ProfilePoint,
    Release,
    Remote,
    RemoveBattery,
    ResetDefaults,
    ResetHistory,
    Scenario,
    ScenarioError,
    ScriptReading,
    SetSetting,
    SetSoc,
    Solar,
    SyncSoc,
    TimeWindow,
    Wireless,
)
from smallbms.schema import first_problem, fmt_t

__all__ = ["load_scenario", "parse_scenario", "read_toml", "validate"]

_M = TypeVar("_M", bound=BaseModel)


class _Invalid(Exception):
    """A problem found while building; turned into a ScenarioError carrying the file name."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(key, message)
        self.key = key
        self.message = message


def _fail(key: str, message: str) -> NoReturn:
    raise _Invalid(key, message)


# --- step 1: the file against the model ----------------------------------------------------------


def read_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error is a ScenarioError (TOML gives its line and column)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, "", f"not valid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer too long to convert
        raise ScenarioError(source, "", f"not valid TOML: {exc}") from None


def validate(model: type[_M], data: dict[str, Any], source: str) -> _M:
    """Check parsed data against a file model; the first problem is a ScenarioError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        key, message = first_problem(exc, tagged=m.TAGGED, list_hints=m.LIST_HINTS)
        raise ScenarioError(source, key, message) from None
    except RecursionError:
        raise ScenarioError(source, "", "nested too deeply") from None


def read_file(path: Path) -> str:
    """A file's text; unreadable or non-UTF-8 files are ScenarioErrors naming it as given."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ScenarioError(source, "", f"cannot read the file: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(source, "", f"not UTF-8 text: {exc}") from None


# --- step 2: across tables -----------------------------------------------------------------------


def _bank(t: m.BankTable, profile: Profile) -> BankSpec:
    try:
        model = get_model(t.battery)
    except UnknownBatteryModel as exc:
        _fail("bank.battery", str(exc))
    wanted = "ng" if profile == "ng" else "smart"
    if model.family != wanted:
        family_name = "Lithium NG" if wanted == "ng" else "Lithium Battery Smart"
        ids = ", ".join(x.model_id for x in models_for_profile(profile))
        _fail(
            "bank.battery",
            f"profile {profile!r} needs a {family_name} battery, and {t.battery!r} is not one; "
            f"models for this profile: {ids}",
        )
    if t.soc_pct is not None and profile == "classic" and t.source == "script":
        _fail(
            "bank.soc_pct",
            "profile 'classic' has no SoC monitor; soc_pct only sets the twin's true SoC "
            "(source = \"twin\")",
        )
    return BankSpec(
        battery=t.battery, model=model, series=t.series, parallel=t.parallel,
        soc_pct=t.soc_pct, temperature_c=t.temperature_c,
        ambient_c=t.temperature_c if t.ambient_c is None else t.ambient_c, source=t.source,
    )


def _settings(data: dict[str, float] | None, profile: Profile) -> tuple[Settings, dict[str, float]]:
    if data is None:
        return DEFAULT_SETTINGS, {}
    if data and profile == "classic":
        _fail("settings", "profile 'classic' has no settings (no battery monitor); remove them")
    # Order the values so that a "warning below floor" error names the warning level when the
    # file sets it, else the floor (settings_from_dict names the first value on such errors).
    first = ("low_soc_warning_pct", "discharge_floor_pct")
    ordered = {k: data[k] for k in first if k in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    try:
        settings = settings_from_dict(ordered)
    except SettingError as exc:
        _fail(f"settings.{exc.name}", exc.reason)
    return settings, {name: float(getattr(settings, name)) for name in data}


def _remote(t: m.RemoteTable | None) -> RemoteInput:
    if t is None:
        return RemoteInput(bridged=True)
    return RemoteInput(bridged=t.bridged, l_volts=t.l_volts, h_volts=t.h_volts)


def _load_profile(spec: m.ProfileSpec, repeat: float | str | None) -> LoadProfile:
    repeat_s = DEFAULT_REPEAT_S if repeat is None else None if repeat == "none" else float(repeat)
    if isinstance(spec, str):
        return LoadProfile(name=spec, repeat_s=repeat_s)
    return LoadProfile(points=tuple(ProfilePoint(t, v) for t, v in spec), repeat_s=repeat_s)


def _windows(spec: tuple[tuple[float, float], ...] | None) -> tuple[TimeWindow, ...] | None:
    return None if spec is None else tuple(TimeWindow(a, b) for a, b in spec)


def _component(t: m.ComponentBase) -> Component:
    default: ControlledBy = "load_disconnect" if t.kind in LOAD_KINDS else "charge_disconnect"
    base: dict[str, Any] = {"name": t.name or "", "controlled_by": t.controlled_by or default}
    match t:
        case m.DcLoadTable():
            return DcLoad(
                **base, current_a=t.current_a, power_w=t.power_w,
                profile=None if t.profile is None else _load_profile(t.profile, t.repeat),
            )
        case m.InverterTable():
            return Inverter(
                **base, power_w=t.power_w,
                profile=None if t.profile is None else _load_profile(t.profile, t.repeat),
                efficiency=t.efficiency, idle_w=t.idle_w,
            )
        case m.BatteryProtectTable():
            return BatteryProtect(
                **base, current_a=t.current_a, power_w=t.power_w,
                profile=None if t.profile is None else _load_profile(t.profile, t.repeat),
                cutoff_v=t.cutoff_v,
            )
        case m.SolarTable():
            assert t.peak_w is not None
            return Solar(
                **base, peak_w=t.peak_w, latitude=t.latitude, start_day=t.start_day,
                cloudiness=t.cloudiness, max_current_a=t.max_current_a,
            )
        case m.AcChargerTable():
            assert t.current_a is not None
            return AcCharger(
                **base, current_a=t.current_a, absorption_v=t.absorption_v, float_v=t.float_v,
                on=_windows(t.on),
            )
        case m.AlternatorTable():
            assert t.current_a is not None
            return Alternator(**base, current_a=t.current_a, running=_windows(t.running))
    raise AssertionError(f"unknown component table {type(t).__name__}")


def _components(tables: list[Any], bank: BankSpec) -> tuple[Component, ...]:
    if tables and bank.source != "twin":
        _fail(
            "component[0]",
            f"components need bank.source = \"twin\"; this scenario's source is "
            f"{bank.source!r} (its [[reading]]s give the measurements)",
        )
    used: dict[str, str] = {}
    for i, t in enumerate(tables):
        if t.name is not None:
            if t.name in used:
                _fail(f"component[{i}].name", f"name {t.name!r} is already used by {used[t.name]}")
            used[t.name] = f"component[{i}]"
    # Unnamed components get "<kind>-<n>", skipping names the file uses.
    counters: dict[str, int] = {}
    out: list[Component] = []
    for t in tables:
        component = _component(t)
        if t.name is None:
            n = counters.get(t.kind, 0)
            while True:
                n += 1
                candidate = f"{t.kind}-{n}"
                if candidate not in used:
                    break
            counters[t.kind] = n
            used[candidate] = ""
            component = _renamed(component, candidate)
        out.append(component)
    return tuple(out)


def _renamed(component: Component, name: str) -> Component:
    from dataclasses import replace

    return replace(component, name=name)


def _cells(t: m.ReadingTable, key: str, bank: BankSpec) -> tuple[tuple[float, ...], ...] | None:
    cells = bank.cells_per_battery
    count = bank.battery_count
    if t.cell_v is not None:
        return tuple((t.cell_v,) * cells for _ in range(count))
    if t.cells_v is None:
        return None
    volts = t.cells_v
    one = f"{cells} (one per cell, applied to every battery)"
    every = f"{cells * count} (one per cell of each of the {count} batteries, in chain order)"
    allowed = one if count == 1 else f"{one} or {every}"
    if len(volts) not in (cells, cells * count):
        _fail(
            f"{key}.cells_v",
            f"has {len(volts)} value{'s' if len(volts) != 1 else ''}; the bank's "
            f"{bank.battery} batteries have {cells} cells, so give {allowed}",
        )
    if len(volts) == cells:
        return tuple(tuple(volts) for _ in range(count))
    return tuple(tuple(volts[b * cells:(b + 1) * cells]) for b in range(count))


def _temperatures(t: m.ReadingTable, key: str, bank: BankSpec) -> tuple[float, ...] | None:
    count = bank.battery_count
    if t.temperature_c is not None:
        return (t.temperature_c,) * count
    if t.temperatures_c is None:
        return None
    if len(t.temperatures_c) != count:
        _fail(
            f"{key}.temperatures_c",
            f"has {len(t.temperatures_c)} values; give one per battery: {count}",
        )
    return tuple(t.temperatures_c)


def _readings(tables: list[m.ReadingTable], bank: BankSpec) -> tuple[ScriptReading, ...]:
    if bank.source == "twin":
        if tables:
            _fail(
                "reading[0]",
                "readings need bank.source = \"script\"; with the twin the simulated batteries "
                "make the readings",
            )
        return ()
    if not tables:
        _fail("reading", "a script scenario (bank.source = \"script\") needs [[reading]] tables")
    readings: list[ScriptReading] = []
    for i, t in enumerate(tables):
        key = f"reading[{i}]"
        previous = readings[-1] if readings else None
        if previous is None and t.at != 0:
            _fail(f"{key}.at", f"the first reading must be at 0, not {fmt_t(t.at)}")
        if previous is not None and t.at <= previous.at_s:
            _fail(
                f"{key}.at",
                f"{fmt_t(t.at)} is not after the previous reading ({fmt_t(previous.at_s)}); "
                "reading times must increase",
            )
        cells_v = _cells(t, key, bank)
        if cells_v is None:
            if previous is None:
                _fail(key, "the first reading needs cell_v or cells_v")
            cells_v = previous.cells_v
        temperatures = _temperatures(t, key, bank)
        if temperatures is None:
            temperatures = (
                previous.temperatures_c if previous is not None
                else (bank.temperature_c,) * bank.battery_count
            )
        current_a = t.current_a
        if current_a is None:
            current_a = previous.current_a if previous is not None else 0.0
        voltage_v = t.voltage_v
        if voltage_v is None and previous is not None:
            voltage_v = previous.voltage_v
        readings.append(
            ScriptReading(
                at_s=t.at, cells_v=cells_v, temperatures_c=temperatures,
                current_a=current_a, voltage_v=voltage_v,
            )
        )
    return tuple(readings)


def _battery(index: int | None, key: str, bank: BankSpec) -> int | None:
    count = bank.battery_count
    if index is not None and index >= count:
        _fail(
            key,
            f"battery {index} does not exist: the bank has {count} "
            f"batter{'y' if count == 1 else 'ies'} (0..{count - 1})",
        )
    return index


def _event(
    t: Any, key: str, bank: BankSpec, profile: Profile, duration_s: float
) -> Event:
    if profile == "classic" and t.action in NG_ONLY_ACTIONS:
        _fail(
            f"{key}.action",
            f"action {t.action!r} is not available with profile 'classic' (no app, SoC monitor, "
            "settings or wireless)",
        )
    at_s: float = t.at
    if at_s > duration_s:
        _fail(
            f"{key}.at",
            f"{fmt_t(at_s)} is after the end of the scenario (duration {fmt_t(duration_s)})",
        )
    battery_key = f"{key}.battery"
    match t:
        case m.CommsLostEvent():
            return CommsLost(at_s=at_s, battery=_battery(t.battery, battery_key, bank))
        case m.CommsRestoredEvent():
            return CommsRestored(at_s=at_s)
        case m.RemoteEvent():
            return Remote(at_s=at_s, bridged=t.bridged, l_volts=t.l_volts, h_volts=t.h_volts)
        case m.ModeEvent():
            return Mode(at_s=at_s, value=t.value)
        case m.SetEvent():
            return SetSetting(at_s=at_s, setting=t.setting, value=t.value)
        case m.SyncSocEvent():
            return SyncSoc(at_s=at_s)
        case m.SetSocEvent():
            return SetSoc(at_s=at_s, value=t.value)
        case m.ResetDefaultsEvent():
            return ResetDefaults(at_s=at_s)
        case m.ResetHistoryEvent():
            return ResetHistory(at_s=at_s)
        case m.ForceCellEvent():
            _battery(t.battery, battery_key, bank)
            cells = bank.cells_per_battery
            if t.cell >= cells:
                _fail(
                    f"{key}.cell",
                    f"cell {t.cell} does not exist: a {bank.battery} battery has {cells} cells "
                    f"(0..{cells - 1})",
                )
            return ForceCell(at_s=at_s, battery=t.battery, cell=t.cell, volts=t.volts)
        case m.ForceTemperatureEvent():
            _battery(t.battery, battery_key, bank)
            return ForceTemperature(at_s=at_s, battery=t.battery, celsius=t.celsius)
        case m.ReleaseEvent():
            return Release(at_s=at_s, battery=_battery(t.battery, battery_key, bank))
        case m.FirmwareUpdateEvent():
            return FirmwareUpdate(at_s=at_s, result=t.result, duration_s=t.duration)
        case m.HardwareFaultEvent():
            return HardwareFault(at_s=at_s, value=t.value)
        case m.PowerCycleEvent():
            return PowerCycle(at_s=at_s, duration_s=t.duration)
        case m.WirelessEvent():
            return Wireless(at_s=at_s, value=t.value)
        case m.AddBatteryEvent():
            return AddBattery(at_s=at_s, battery=_battery(t.battery, battery_key, bank))
        case m.RemoveBatteryEvent():
            _battery(t.battery, battery_key, bank)
            return RemoveBattery(at_s=at_s, battery=t.battery)
        case m.AcceptBankEvent():
            return AcceptBank(at_s=at_s)
    raise AssertionError(f"unknown event table {type(t).__name__}")


def _build(f: m.ScenarioFile, source: str, source_path: Path | None) -> Scenario:
    bank = _bank(f.bank, f.profile)
    settings, values = _settings(f.settings, f.profile)
    remote = _remote(f.remote)
    components = _components(f.component, bank)
    readings = _readings(f.reading, bank)
    events = [
        _event(t, f"event[{i}]", bank, f.profile, f.duration) for i, t in enumerate(f.event)
    ]
    events.sort(key=lambda ev: ev.at_s)  # stable: file order kept for equal times
    return Scenario(
        name=f.name, profile=f.profile, duration_s=f.duration, step_s=f.step, seed=f.seed,
        sample_interval_s=f.sample_interval, bank=bank, settings=settings,
        settings_values=MappingProxyType(values), remote=remote, components=components,
        readings=readings, events=tuple(events), source=source, source_path=source_path,
        supply_fuse_a=None if f.bms is None else f.bms.supply_fuse_a,
    )


# --- entry points --------------------------------------------------------------------------------


def parse_scenario(
    text: str, source: str = "<string>", *, source_path: Path | None = None
) -> Scenario:
    """Parse scenario TOML text; ``source`` names it in error messages.

    Raises :class:`ScenarioError` (and nothing else) for any malformed scenario.
    """
    checked = validate(m.ScenarioFile, read_toml(text, source), source)
    try:
        return _build(checked, source, source_path)
    except _Invalid as exc:
        raise ScenarioError(source, exc.key, exc.message) from None


def load_scenario(path: Path) -> Scenario:
    """Read and parse a scenario file; errors name the file as given."""
    return parse_scenario(read_file(path), str(path), source_path=Path(path))
