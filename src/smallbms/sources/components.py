"""The twin's components built from a parsed scenario's ``[[component]]`` tables (SPEC 17).

The twin itself knows nothing of the scenario format; this module is the one place that turns
the format's component tables into twin models.

May import: the scenario format and the twin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from smallbms import scenario as sc
from smallbms.twin.components import (
    AcCharger,
    Alternator,
    BatteryProtect,
    Component,
    DcLoad,
    Demand,
    Inverter,
    SolarCharger,
    TimeWindows,
)
from smallbms.twin.profiles import Profile, ProfileError, get_builtin
from smallbms.twin.solar import PvArray


def _profile(spec: sc.LoadProfile) -> Profile:
    if spec.name is not None:
        return get_builtin(spec.name)
    return Profile(
        tuple(p.t_s for p in spec.points), tuple(p.value for p in spec.points), spec.repeat_s,
    )


def _demand(
    current_a: float | None, power_w: float | None, profile: sc.LoadProfile | None,
) -> tuple[Demand, Literal["current", "power"]]:
    """A load's demand; a profile of points holds amps, a built-in says its own unit."""
    if current_a is not None:
        return Demand(constant=current_a), "current"
    if power_w is not None:
        return Demand(constant=power_w), "power"
    if profile is None:
        raise ValueError("a load needs current_a, power_w or a profile")
    prof = _profile(profile)
    return Demand(profile=prof), ("power" if prof.unit == "W" else "current")


def from_scenario(spec: sc.Component, *, index: int = 0, seed: int = 0) -> Component:
    """The twin model of one parsed ``[[component]]`` of a scenario (SPEC 17).

    A DC load's or BatteryProtect's point profile holds amps, an inverter's AC watts; a built-in
    profile carries its own unit (:data:`~smallbms.twin.profiles.BUILTIN_PROFILES`). ``index``
    (the component's place in the scenario) and the scenario ``seed`` pick a solar array's own
    cloud sequence. Raises :class:`~smallbms.twin.profiles.ProfileError` for an unknown
    built-in profile name.
    """
    if isinstance(spec, sc.DcLoad):
        demand, mode = _demand(spec.current_a, spec.power_w, spec.profile)
        return DcLoad(spec.name, demand, mode, spec.controlled_by)
    if isinstance(spec, sc.Inverter):
        if spec.power_w is not None:
            ac = Demand(constant=spec.power_w)
        elif spec.profile is not None:
            prof = _profile(spec.profile)
            if prof.unit == "A":
                raise ProfileError(f"profile {prof.name!r} holds amps; an inverter needs watts")
            ac = Demand(profile=prof)
        else:
            raise ValueError("an inverter needs power_w or a profile")
        return Inverter(spec.name, ac, spec.efficiency, spec.idle_w, spec.controlled_by)
    if isinstance(spec, sc.BatteryProtect):
        demand, mode = _demand(spec.current_a, spec.power_w, spec.profile)
        load = DcLoad(f"{spec.name} load", demand, mode, "none")
        return BatteryProtect(spec.name, load, spec.controlled_by, disconnect_v=spec.cutoff_v)
    if isinstance(spec, sc.Solar):
        array = PvArray(
            peak_w=spec.peak_w, latitude_deg=spec.latitude, start_day=float(spec.start_day),
            cloudiness=spec.cloudiness, seed=seed, stream=index,
        )
        return SolarCharger(spec.name, array, spec.max_current_a, controlled_by=spec.controlled_by)
    if isinstance(spec, sc.AcCharger):
        return AcCharger(
            spec.name, spec.current_a, spec.controlled_by, _windows(spec.on),
            spec.absorption_v, spec.float_v,
        )
    return Alternator(spec.name, spec.current_a, _windows(spec.running), spec.controlled_by)


def _windows(spans: Sequence[sc.TimeWindow] | None) -> TimeWindows:
    if spans is None:
        return TimeWindows()
    return TimeWindows.from_spans((w.start_s, w.end_s) for w in spans)
