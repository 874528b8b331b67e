"""The sweep file: a base scenario, axes of values to try, a duration and seeds.

A sweep file is TOML::

    base = "system_solar_batteryprotect.toml"   # a twin scenario, relative to this file
    duration = "365d"                          # default: a year
    seeds = [42, 43]                           # default: the base scenario's seed
    sample_interval = "1h"                     # how often the true SoC is looked at

    [[axis]]
    key = "battery"                            # = bank.battery
    values = ["12.8/100", "12.8/200", "12.8/300"]

    [[axis]]
    key = "peak_w"                             # = component.solar.peak_w
    values = [100, 200, 400]

Every combination of the axes' values is one *variant*; every variant runs once per seed. An
axis ``key`` is a dotted path into the base scenario's tables (``bank.<field>``,
``settings.<name>``, ``component.<kind or name>.<field>``, a top-level key such as ``step``),
one of the short names of :data:`ALIASES`, or ``load_scale``, which multiplies the demand of
every load wired to the load disconnect (current, power or profile values).

A variant's scenario is the base file's tables with the axis values written in, read by the
scenario parser like any scenario file, so a value it refuses is reported with the variant that
asked for it before anything runs.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smallbms.durations import parse_duration
from smallbms.scenario import Scenario, ScenarioError, parse_scenario
from smallbms.scenario.parse import read_file, read_toml
from smallbms.twin.profiles import ProfileError, get_builtin

#: Short axis names and the scenario key each one stands for.
ALIASES: Mapping[str, str] = {
    "battery": "bank.battery",
    "series": "bank.series",
    "parallel": "bank.parallel",
    "soc_pct": "bank.soc_pct",
    "ambient_c": "bank.ambient_c",
    "temperature_c": "bank.temperature_c",
    "peak_w": "component.solar.peak_w",
    "latitude": "component.solar.latitude",
    "start_day": "component.solar.start_day",
    "cloudiness": "component.solar.cloudiness",
    "discharge_floor": "settings.discharge_floor_pct",
}
#: The axis that scales the loads on the load disconnect.
LOAD_SCALE = "load_scale"
#: Component kinds that are loads (their demand is what ``load_scale`` multiplies).
LOAD_KINDS = ("dc_load", "inverter", "battery_protect")
DEFAULT_DURATION_S = 365 * 86400.0
DEFAULT_SAMPLE_INTERVAL_S = 3600.0
#: A sweep larger than this is refused (a typo in a value list should not start a week of work).
MAX_VARIANT_RUNS = 100_000

AxisValue = str | int | float | bool


class SweepError(ValueError):
    """A malformed sweep file or a variant the scenario parser refuses."""


class _AxisTable(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    key: Annotated[str, Field(min_length=1)]
    name: str | None = None
    values: Annotated[list[AxisValue], Field(min_length=1)]


class _SweepTable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    base: Annotated[str, Field(min_length=1)]
    duration: str | float = DEFAULT_DURATION_S
    seeds: list[int] | None = None
    sample_interval: str | float = DEFAULT_SAMPLE_INTERVAL_S
    axis: Annotated[list[_AxisTable], Field(min_length=1)]

    @field_validator("duration", "sample_interval")
    @classmethod
    def _duration(cls, value: str | float) -> float:
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("must be longer than 0 s")
        return seconds


@dataclass(frozen=True, slots=True)
class Axis:
    """One axis: its column ``name``, the scenario ``key`` it sets and its ``values``."""

    name: str
    key: str
    values: tuple[AxisValue, ...]


@dataclass(frozen=True, slots=True)
class Variant:
    """One run of the sweep: variant ``index`` (the combination of axis values) and ``seed``."""

    index: int
    seed: int
    values: tuple[tuple[str, AxisValue], ...]

    def value(self, axis: str) -> AxisValue:
        return dict(self.values)[axis]


@dataclass(frozen=True, slots=True)
class Sweep:
    """A parsed sweep file. ``base`` is the base scenario's TOML tables (plain data, so a sweep
    can be shipped to other processes and machines as it is)."""

    name: str
    source: str
    base: dict[str, Any]
    base_source: str
    duration_s: float
    sample_interval_s: float
    seeds: tuple[int, ...]
    axes: tuple[Axis, ...]

    def variants(self) -> list[Variant]:
        """Every combination of the axis values, once per seed, in a fixed order (the first
        axis varies slowest; seeds innermost)."""
        out: list[Variant] = []
        combos = itertools.product(*(a.values for a in self.axes))
        for i, combo in enumerate(combos):
            named = tuple((a.name, v) for a, v in zip(self.axes, combo, strict=True))
            out.extend(Variant(i, seed, named) for seed in self.seeds)
        return out

    @property
    def combinations(self) -> int:
        return math.prod(len(a.values) for a in self.axes)

    def scenario(self, variant: Variant) -> Scenario:
        """The scenario of one variant (raises :class:`SweepError` naming the variant)."""
        text, where = self._scenario_text(variant)
        try:
            return parse_scenario(text, f"{self.base_source} [{where}]")
        except ScenarioError as exc:
            raise SweepError(str(exc)) from None

    def scenario_toml(self, variant: Variant) -> str:
        """The scenario file of one variant: ``smallbms simulate`` on it is that very run."""
        self.scenario(variant)  # refused here, with the variant named, if it is unusable
        text, where = self._scenario_text(variant)
        return (f"# {self.name}: variant {variant.index} ({where}), seed {variant.seed}\n"
                f"# written by smallbms sweep from {self.source}\n{text}")

    def _scenario_text(self, variant: Variant) -> tuple[str, str]:
        data = copy.deepcopy(self.base)
        data["duration"] = self.duration_s
        data["sample_interval"] = self.sample_interval_s
        data["seed"] = variant.seed
        where = ", ".join(f"{n} = {_show(v)}" for n, v in variant.values)
        for axis in self.axes:
            try:
                _apply(data, axis.key, variant.value(axis.name))
            except (KeyError, ValueError, TypeError) as exc:
                raise SweepError(f"{self.source}: axis {axis.name!r} ({where}): {exc}") from None
        return to_toml(data), where


def _show(value: AxisValue) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def load_sweep(path: Path) -> Sweep:
    """Read and check a sweep file, its base scenario and every variant's scenario."""
    source = str(path)
    try:
        raw = read_toml(read_file(path), source)
        table = _SweepTable.model_validate(raw)
    except ScenarioError as exc:
        raise SweepError(str(exc)) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise SweepError(f"{source}: {key}: {err['msg']}") from None
    base_path = (Path(path).parent / table.base).resolve()
    try:
        base = read_toml(read_file(base_path), str(base_path))
        scenario = parse_scenario(read_file(base_path), str(base_path))
    except ScenarioError as exc:
        raise SweepError(str(exc)) from None
    if scenario.bank.source != "twin":
        raise SweepError(f"{base_path}: a sweep needs a twin scenario (bank.source = \"twin\")")
    axes: list[Axis] = []
    for i, a in enumerate(table.axis):
        key = ALIASES.get(a.key, a.key)
        name = a.name or a.key
        if name in {x.name for x in axes} or name in ("variant", "seed"):
            raise SweepError(f"{source}: axis[{i}]: the name {name!r} is already used")
        axes.append(Axis(name, key, tuple(a.values)))
    seeds = tuple(table.seeds) if table.seeds else (scenario.seed,)
    if len(set(seeds)) != len(seeds):
        raise SweepError(f"{source}: seeds: a seed is listed twice")
    assert isinstance(table.duration, float) and isinstance(table.sample_interval, float)
    sweep = Sweep(
        name=table.name or scenario.name, source=source, base=base, base_source=str(base_path),
        duration_s=table.duration, sample_interval_s=table.sample_interval, seeds=seeds,
        axes=tuple(axes),
    )
    runs = sweep.combinations * len(seeds)
    if runs > MAX_VARIANT_RUNS:
        raise SweepError(f"{source}: {runs} runs is more than {MAX_VARIANT_RUNS}")
    for v in sweep.variants()[:: len(seeds)]:  # every combination once: refuse bad ones now
        sweep.scenario(v)
    return sweep


# --- writing axis values into the base tables ---------------------------------------------------


def _components(data: dict[str, Any], selector: str) -> list[dict[str, Any]]:
    comps: list[dict[str, Any]] = data.get("component", [])
    picked = [c for c in comps if c.get("name") == selector or c.get("kind") == selector]
    if not picked:
        raise KeyError(f"the base scenario has no component named or of kind {selector!r}")
    return picked


def _apply(data: dict[str, Any], key: str, value: AxisValue) -> None:
    """Write ``value`` at ``key`` of the scenario tables ``data``."""
    if key == LOAD_SCALE:
        _scale_loads(data, value)
        return
    parts = key.split(".")
    if parts[0] == "component":
        if len(parts) != 3:
            raise KeyError("a component key is component.<kind or name>.<field>")
        for c in _components(data, parts[1]):
            c[parts[2]] = value
        return
    table = data
    for p in parts[:-1]:
        table = table.setdefault(p, {})
        if not isinstance(table, dict):
            raise KeyError(f"{p!r} is not a table of the scenario")
    table[parts[-1]] = value


def _scale_loads(data: dict[str, Any], scale: AxisValue) -> None:
    if isinstance(scale, bool) or not isinstance(scale, int | float) or scale < 0:
        raise ValueError(f"load_scale must be a number >= 0, got {scale!r}")
    f = float(scale)
    for c in data.get("component", []):
        if c.get("kind") not in LOAD_KINDS:
            continue
        if c.get("controlled_by", "load_disconnect") != "load_disconnect":
            continue
        for k in ("current_a", "power_w"):
            if k in c:
                c[k] = c[k] * f
        prof = c.get("profile")
        if isinstance(prof, str):
            c["profile"] = _builtin_points(prof, str(c.get("kind")))
            c.setdefault("repeat", "1d")
            prof = c["profile"]
        if isinstance(prof, list):
            c["profile"] = [[t, v * f] for t, v in prof]


def _builtin_points(name: str, kind: str) -> list[list[float]]:
    """A built-in profile as points, when the component reads them in the profile's unit."""
    try:
        prof = get_builtin(name)
    except ProfileError as exc:
        raise ValueError(str(exc)) from None
    wants = "W" if kind == "inverter" else "A"
    if prof.unit not in (None, wants):
        raise ValueError(
            f"load_scale cannot scale the built-in profile {name!r} ({prof.unit}) on a {kind}; "
            "give the profile as points")
    if prof.period_s != 86400.0:
        raise ValueError(f"load_scale cannot scale the built-in profile {name!r}")
    return [[t, v] for t, v in zip(prof.times_s, prof.values, strict=True)]


# --- TOML text ---------------------------------------------------------------------------------


def to_toml(data: Mapping[str, Any]) -> str:
    """TOML text for plain data as :func:`tomllib.loads` returns it (written by tomli-w)."""
    return tomli_w.dumps(data)
