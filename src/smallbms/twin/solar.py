"""Sun and clouds for the twin's solar charger: how many watts a PV array delivers at a time.

The model, deliberately simple and fully deterministic:

- Time ``t = 0`` is local solar midnight of day-of-year ``start_day``; solar noon is 12 h.
- Sun elevation from the textbook geometry: declination by day of year (Cooper's formula),
  hour angle 15 degrees per hour from solar noon, and latitude. The declination is held for a
  whole day so that sunrise and sunset have exact closed forms (the sun moves less than half a
  degree of declination per day).
- Clear-sky power of a horizontal array is ``peak_w * sin(elevation)`` (zero with the sun below
  the horizon): the array delivers its peak with the sun straight overhead.
- Clouds: the day is cut into fixed intervals (20 min by default). Each interval is overcast with
  probability ``cloudiness``; an overcast interval passes 10-50 % of the clear-sky power, a clear
  one all of it. The draw for an interval comes from a hash of ``(seed, stream, interval index)``,
  not from a stateful generator, so any time can be asked in any order and gives the same answer.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from typing import Any

from smallbms.twin.profiles import DAY_S

#: Default length of one cloud interval, s (P: the brief asks for changes every 10-30 min).
CLOUD_INTERVAL_S = 1_200.0
#: Share of clear-sky power an overcast interval passes: uniform in this range (P).
OVERCAST_FACTOR_RANGE = (0.1, 0.5)
#: Earth's axial tilt, degrees (Cooper's declination formula).
AXIAL_TILT_DEG = 23.45


@functools.lru_cache(maxsize=4096)
def declination_rad(day_of_year: float) -> float:
    """Solar declination, radians, for a day of the year (1 = 1 January), Cooper (1969).
    Remembered per day (asked at every re-solve of a solar charger)."""
    return math.radians(AXIAL_TILT_DEG) * math.sin(2.0 * math.pi * (284.0 + day_of_year) / 365.0)


def sun_elevation_rad(latitude_deg: float, day_of_year: float, solar_hour: float) -> float:
    """Sun elevation above the horizon, radians (negative at night).

    ``solar_hour`` is local solar time in hours (12 = solar noon).
    """
    lat = math.radians(latitude_deg)
    dec = declination_rad(day_of_year)
    hour_angle = math.radians(15.0 * (solar_hour - 12.0))
    sin_el = math.sin(lat) * math.sin(dec) + math.cos(lat) * math.cos(dec) * math.cos(hour_angle)
    return math.asin(max(-1.0, min(1.0, sin_el)))


@functools.lru_cache(maxsize=4096)
def sunrise_sunset_h(latitude_deg: float, day_of_year: float) -> tuple[float, float]:
    """Sunrise and sunset in solar hours for a day: ``(0, 24)`` for midnight sun, ``(12, 12)``
    for polar night (the sun never rises). Remembered per place and day (a pure function asked
    many times a day)."""
    lat = math.radians(latitude_deg)
    dec = declination_rad(day_of_year)
    cos_h0 = -math.tan(lat) * math.tan(dec)
    if cos_h0 <= -1.0:
        return 0.0, 24.0
    if cos_h0 >= 1.0:
        return 12.0, 12.0
    half_day_h = math.degrees(math.acos(cos_h0)) / 15.0
    return 12.0 - half_day_h, 12.0 + half_day_h


@functools.lru_cache(maxsize=1 << 17)
def hashed_uniform(seed: int, stream: int, index: int, salt: int = 0) -> float:
    """A uniform number in ``[0, 1)`` that depends only on its arguments (random access).
    Remembered (a year of 20-minute cloud intervals is ~53,000 draws): the solar charger asks
    for the same interval at every re-solve inside it."""
    key = f"{seed}|{stream}|{index}|{salt}".encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2.0**64


@dataclass(frozen=True, slots=True)
class PvArray:
    """A PV array under a sky with clouds. Pure: every method is a function of its arguments.

    ``peak_w`` is the array's rated power (W) with the sun overhead and no clouds;
    ``latitude_deg`` in degrees north (negative south); ``start_day`` the day of the year at
    ``t = 0``; ``cloudiness`` the chance (0..1) that a cloud interval is overcast; ``seed`` and
    ``stream`` select the cloud sequence (give each array in a run its own stream).
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> PvArray:
        """Immutable: a deep copy (a twin snapshot) shares it."""
        return self

    peak_w: float
    latitude_deg: float = 50.0
    start_day: float = 172.0
    cloudiness: float = 0.3
    seed: int = 0
    stream: int = 0
    cloud_interval_s: float = CLOUD_INTERVAL_S

    def __post_init__(self) -> None:
        if not self.peak_w >= 0:
            raise ValueError(f"peak_w must be >= 0 W, got {self.peak_w!r}")
        if not -90.0 <= self.latitude_deg <= 90.0:
            raise ValueError(f"latitude must be within -90..90 degrees, got {self.latitude_deg!r}")
        if not 0.0 <= self.cloudiness <= 1.0:
            raise ValueError(f"cloudiness must be within 0..1, got {self.cloudiness!r}")
        if not self.cloud_interval_s > 0:
            raise ValueError("cloud_interval_s must be > 0 s")

    def day_of_year(self, t_s: float) -> float:
        """The day of the year in force at ``t_s`` (held for the whole day, see module doc)."""
        return self.start_day + math.floor(t_s / DAY_S)

    def elevation_rad(self, t_s: float) -> float:
        """Sun elevation at ``t_s``, radians."""
        hour = (t_s % DAY_S) / 3_600.0
        return sun_elevation_rad(self.latitude_deg, self.day_of_year(t_s), hour)

    def is_day(self, t_s: float) -> bool:
        """True between sunrise (inclusive) and sunset (exclusive)."""
        rise_h, set_h = sunrise_sunset_h(self.latitude_deg, self.day_of_year(t_s))
        hour = (t_s % DAY_S) / 3_600.0
        return rise_h <= hour < set_h

    def clear_sky_w(self, t_s: float) -> float:
        """Power without clouds, W."""
        if not self.is_day(t_s):
            return 0.0
        return self.peak_w * max(0.0, math.sin(self.elevation_rad(t_s)))

    def cloud_factor(self, t_s: float) -> float:
        """Share of clear-sky power that passes the clouds at ``t_s`` (0.1..1)."""
        if self.cloudiness <= 0.0:
            return 1.0
        return self.cloud_factor_of_interval(math.floor(t_s / self.cloud_interval_s))

    def cloud_factor_of_interval(self, index: int) -> float:
        """Share of clear-sky power that passes the clouds in cloud interval ``index`` (the
        one starting at ``index * cloud_interval_s``), with ``cloudiness`` above 0."""
        if hashed_uniform(self.seed, self.stream, index, 0) >= self.cloudiness:
            return 1.0
        low, high = OVERCAST_FACTOR_RANGE
        return low + (high - low) * hashed_uniform(self.seed, self.stream, index, 1)

    def power_w(self, t_s: float) -> float:
        """Power the array offers the charger at ``t_s``, W (0 at night). The same arithmetic
        as :meth:`clear_sky_w` times :meth:`cloud_factor`, with the day and the hour worked
        out once (the solar charger asks at every re-solve)."""
        day = self.start_day + math.floor(t_s / DAY_S)
        hour = (t_s % DAY_S) / 3_600.0
        rise_h, set_h = sunrise_sunset_h(self.latitude_deg, day)
        if not rise_h <= hour < set_h:
            return 0.0
        clear = self.peak_w * max(0.0, math.sin(sun_elevation_rad(self.latitude_deg, day, hour)))
        return 0.0 if clear <= 0.0 else clear * self.cloud_factor(t_s)

    def next_sunrise_s(self, t_s: float) -> float | None:
        """The next sunrise strictly after ``t_s`` (within a year), or ``None`` (polar night)."""
        day_start = t_s - (t_s % DAY_S)
        for day in range(367):
            start = day_start + day * DAY_S
            rise_h, set_h = sunrise_sunset_h(self.latitude_deg, self.day_of_year(start))
            if set_h <= rise_h:
                continue
            rise = start + rise_h * 3_600.0
            if rise > t_s:
                return rise
        return None

    def next_change_s(self, t_s: float, daylight_step_s: float) -> float | None:
        """When the offered power next changes by itself: sunrise at night; by day the next
        cloud edge, sunset, or ``daylight_step_s`` ahead (the sun moves continuously)."""
        rise_h, set_h = sunrise_sunset_h(self.latitude_deg, self.day_of_year(t_s))
        if not rise_h <= (t_s % DAY_S) / 3_600.0 < set_h:  # night: is_day(t_s) is False
            return self.next_sunrise_s(t_s)
        day_start = t_s - (t_s % DAY_S)
        candidates = [t_s + daylight_step_s]
        sunset = day_start + set_h * 3_600.0
        if sunset > t_s:
            candidates.append(sunset)
        if self.cloudiness > 0.0:
            candidates.append((math.floor(t_s / self.cloud_interval_s) + 1) * self.cloud_interval_s)
        return min(candidates)
