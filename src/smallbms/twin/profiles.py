"""Load profiles for the twin (SPEC 17): step functions of time, repeated or not.

A profile is a list of ``[t, value]`` points. Each value holds from its time until the next
point (steps, never ramps). A repeating profile (``repeat = "1d"``, the default, or any other
period) describes one period (``0 <= t < period``) that repeats for ever; before the first point
of a period the previous period's last value still holds. With ``repeat = "none"`` the profile
is 0 before its first point and the last value holds for ever after.

Lookups are random-access in time (``O(log n)`` with :mod:`bisect`), so a simulator may jump
ahead and get exactly the answer it would have got by stepping. :meth:`Profile.next_change_s`
tells it how far it may jump before the value changes by itself.

Values carry no unit of their own; a profile may say what it holds (``unit = "A"`` or ``"W"``)
and the component that uses it decides what that means (a DC load draws amps or watts, an
inverter delivers AC watts).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from smallbms.durations import parse_duration

#: Seconds per day: the default period of a profile.
DAY_S = 86_400.0

ProfileUnit = Literal["A", "W"]
_UNITS: dict[str, ProfileUnit] = {"A": "A", "W": "W"}


class ProfileError(ValueError):
    """A profile that cannot be used; the message says what is wrong."""


def parse_duration_s(value: object) -> float:
    """Seconds from a number or a string such as ``"90s"``, ``"15m"``, ``"2h"``, ``"3d"``
    (the scenario rules of :mod:`smallbms.durations`); raises :class:`ProfileError`."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ProfileError(str(exc)) from None


def parse_repeat(value: object) -> float | None:
    """A repeat period in seconds from ``"none"`` (``None``), ``"1d"`` or any positive duration."""
    if value == "none":
        return None
    period = parse_duration_s(value)
    if period <= 0:
        raise ProfileError("a repeat period must be longer than 0 s")
    return period


@dataclass(frozen=True, slots=True)
class Profile:
    """A step profile. Build it with :func:`make_profile` or :func:`profile_from_spec`.

    ``times_s`` are strictly increasing point times in seconds; ``values[i]`` holds from
    ``times_s[i]`` until the next point. ``period_s`` is the repeat period (``None``: no repeat).
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> Profile:
        """Immutable: a deep copy (a twin snapshot) shares it."""
        return self

    times_s: tuple[float, ...]
    values: tuple[float, ...]
    period_s: float | None = DAY_S
    unit: ProfileUnit | None = None
    name: str = ""
    _change_times_s: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.times_s or len(self.times_s) != len(self.values):
            raise ProfileError("a profile needs at least one [t, value] point")
        if any(b <= a for a, b in zip(self.times_s, self.times_s[1:], strict=False)):
            raise ProfileError("profile point times must be strictly increasing")
        if self.times_s[0] < 0:
            raise ProfileError("profile point times must be >= 0")
        if self.period_s is not None and not 0 <= self.times_s[-1] < self.period_s:
            raise ProfileError(
                f"every point time must be below the repeat period ({self.period_s:g} s)"
            )
        if not all(math.isfinite(v) for v in self.values):
            raise ProfileError("profile values must be finite numbers")
        previous = self.values[-1] if self.period_s is not None else 0.0
        changes: list[float] = []
        for t, v in zip(self.times_s, self.values, strict=True):
            if v != previous:
                changes.append(t)
            previous = v
        object.__setattr__(self, "_change_times_s", tuple(changes))

    @property
    def max_value(self) -> float:
        """The largest value the profile ever takes (0 counts for a non-repeating one)."""
        top = max(self.values)
        return top if self.period_s is not None else max(top, 0.0)

    def value_at(self, t_s: float) -> float:
        """The value in force at time ``t_s`` (seconds from the start of the run)."""
        if self.period_s is not None:
            index = bisect_right(self.times_s, t_s % self.period_s) - 1
            return self.values[index]  # index -1 wraps to the previous period's last value
        index = bisect_right(self.times_s, t_s) - 1
        return 0.0 if index < 0 else self.values[index]

    def next_change_s(self, t_s: float) -> float | None:
        """The first time after ``t_s`` at which the value changes, or ``None`` if it never does."""
        changes = self._change_times_s
        if not changes:
            return None
        period = self.period_s
        if period is None:
            index = bisect_right(changes, t_s)
            return changes[index] if index < len(changes) else None
        phase = t_s % period
        start = t_s - phase
        index = bisect_right(changes, phase)
        nxt = start + changes[index] if index < len(changes) else start + period + changes[0]
        return nxt if nxt > t_s else math.nextafter(t_s, math.inf)


def make_profile(
    points: Sequence[Sequence[object]],
    repeat: object = "1d",
    unit: str | None = None,
    name: str = "",
) -> Profile:
    """A profile from ``[[t, value], ...]`` points; ``t`` in seconds or as ``"18h"``-style text;
    ``repeat`` is ``"none"``, ``"1d"`` or any period."""
    period = parse_repeat(repeat)
    checked_unit = None if unit is None else _UNITS.get(unit)
    if unit is not None and checked_unit is None:
        raise ProfileError(f"a profile unit must be \"A\" or \"W\", got {unit!r}")
    if isinstance(points, str | bytes) or not isinstance(points, Sequence) or not points:
        raise ProfileError("a profile needs a non-empty list of [t, value] points")
    times: list[float] = []
    values: list[float] = []
    for i, point in enumerate(points):
        if isinstance(point, str | bytes) or not isinstance(point, Sequence) or len(point) != 2:
            raise ProfileError(f"profile point {i} must be a pair [t, value], got {point!r}")
        t_raw, v_raw = point[0], point[1]
        times.append(parse_duration_s(t_raw))
        if isinstance(v_raw, bool) or not isinstance(v_raw, int | float):
            raise ProfileError(f"profile point {i}: the value must be a number, got {v_raw!r}")
        values.append(float(v_raw))
    return Profile(tuple(times), tuple(values), period, checked_unit, name)


def _hours(points: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    return tuple((h * 3_600.0, v) for h, v in points)


def _fridge_cycle(on_a: float, on_min: int, off_min: int) -> tuple[tuple[float, float], ...]:
    period_min = on_min + off_min
    out: list[tuple[float, float]] = []
    for start_min in range(0, 24 * 60, period_min):
        out.append((start_min * 60.0, on_a))
        out.append(((start_min + on_min) * 60.0, 0.0))
    return tuple(p for p in out if p[0] < DAY_S)


#: Built-in daily profiles (project data, P): name -> (unit, points in seconds, description).
_BUILTIN_DATA: dict[str, tuple[ProfileUnit, tuple[tuple[float, float], ...], str]] = {
    "camper_evening": (
        "W",
        _hours([(0, 10), (7, 120), (8, 25), (18, 250), (20, 90), (23, 10)]),
        "A camper's day in watts: standby at night, a short morning peak, little during the "
        "day, cooking and laptops from 18 h, lights and TV until 23 h.",
    ),
    "fridge": (
        "A",
        _fridge_cycle(5.0, 12, 24),
        "A 12 V compressor fridge in amps: 5 A for 12 minutes, then off for 24 minutes, "
        "40 cycles a day (one third duty).",
    ),
    "cabin_day": (
        "W",
        _hours([(0, 15), (7, 180), (9, 60), (12, 300), (13, 60), (18, 400), (22, 40), (23, 15)]),
        "An off-grid cabin in watts: standby at night, breakfast, a quiet day with a lunch "
        "peak, the evening as the main load.",
    ),
    "night_lights": (
        "A",
        _hours([(0, 1.5), (6, 0), (20, 1.5)]),
        "LED lights in amps: 1.5 A from 20 h to 6 h, off in daylight.",
    ),
}

#: Built-in profiles by name, ready to use.
BUILTIN_PROFILES: Mapping[str, Profile] = MappingProxyType({
    name: Profile(
        tuple(t for t, _ in pts), tuple(v for _, v in pts), DAY_S, unit, name,
    )
    for name, (unit, pts, _desc) in _BUILTIN_DATA.items()
})

#: One-line descriptions of the built-in profiles, for help texts.
BUILTIN_DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {name: desc for name, (_u, _p, desc) in _BUILTIN_DATA.items()}
)


def get_builtin(name: str) -> Profile:
    """A built-in profile by name, with an error naming the known ones."""
    try:
        return BUILTIN_PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(BUILTIN_PROFILES))
        raise ProfileError(f"unknown profile {name!r}; built-in profiles: {known}") from None


def profile_from_spec(spec: object, repeat: object = "1d", unit: str | None = None) -> Profile:
    """A profile from a scenario value: a built-in name or a list of ``[t, value]`` points.

    ``repeat`` and ``unit`` apply to point lists; a built-in keeps its own.
    """
    if isinstance(spec, Profile):
        return spec
    if isinstance(spec, str):
        return get_builtin(spec)
    if isinstance(spec, Sequence):
        return make_profile(spec, repeat=repeat, unit=unit)
    raise ProfileError(
        f"a profile must be a built-in name or a list of [t, value] points, got {spec!r}"
    )
