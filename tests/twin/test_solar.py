"""Sun and clouds: zero at night, peak at solar noon, seasons, seeded random-access clouds."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smallbms.twin.solar import (
    CLOUD_INTERVAL_S,
    OVERCAST_FACTOR_RANGE,
    PvArray,
    declination_rad,
    hashed_uniform,
    sun_elevation_rad,
    sunrise_sunset_h,
)

H = 3_600.0
DAY = 86_400.0


def clear(peak_w: float = 220.0, **kw: float) -> PvArray:
    return PvArray(peak_w, cloudiness=0.0, **kw)  # type: ignore[arg-type]


def daily_energy_wh(array: PvArray, day: int = 0) -> float:
    return sum(array.power_w(day * DAY + m * 60.0) for m in range(24 * 60)) / 60.0


def test_declination_at_the_solstices() -> None:
    assert math.degrees(declination_rad(172)) == pytest.approx(23.45, abs=0.05)
    assert math.degrees(declination_rad(355)) == pytest.approx(-23.45, abs=0.05)


def test_noon_elevation_is_90_minus_latitude_plus_declination() -> None:
    el = sun_elevation_rad(50.0, 172, 12.0)
    assert math.degrees(el) == pytest.approx(90 - 50 + math.degrees(declination_rad(172)))


@pytest.mark.parametrize("hour", [0.0, 1.0, 2.5, 22.0, 23.9])
def test_zero_at_night(hour: float) -> None:
    array = clear()
    assert array.power_w(hour * H) == 0.0
    assert not array.is_day(hour * H)


def test_peak_at_solar_noon_and_symmetric() -> None:
    array = clear()
    hours = [array.power_w(h * H) for h in range(24)]
    assert max(hours) == hours[12]
    assert array.power_w(10 * H) == pytest.approx(array.power_w(14 * H))
    # Summer solstice at 50 N: sun 63.45 degrees high at noon.
    assert hours[12] == pytest.approx(220.0 * math.sin(math.radians(63.45)), rel=2e-3)


def test_summer_beats_winter_at_latitude_50() -> None:
    summer, winter = clear(start_day=172), clear(start_day=355)
    assert summer.power_w(12 * H) > 2.5 * winter.power_w(12 * H)
    assert daily_energy_wh(summer) > 4 * daily_energy_wh(winter)


def test_southern_hemisphere_has_winter_in_june() -> None:
    assert clear(latitude_deg=-50).power_w(12 * H) < clear(latitude_deg=50).power_w(12 * H)


def test_days_advance_with_time() -> None:
    array = clear(start_day=172)
    half_year_later = array.power_w(183 * DAY + 12 * H)
    assert half_year_later < 0.4 * array.power_w(12 * H)


def test_sunrise_and_sunset() -> None:
    rise, sunset = sunrise_sunset_h(50.0, 172)
    assert rise == pytest.approx(3.92, abs=0.05)
    assert rise + sunset == pytest.approx(24.0)
    array = clear()
    first = array.next_sunrise_s(0.0)
    assert first == pytest.approx(rise * H)
    assert first is not None
    assert array.is_day(first)
    assert not array.is_day(first - 1.0)
    assert array.next_sunrise_s(first) == pytest.approx(DAY + rise * H, abs=60.0)


def test_polar_day_and_night() -> None:
    assert sunrise_sunset_h(80.0, 172) == (0.0, 24.0)
    assert sunrise_sunset_h(80.0, 355) == (12.0, 12.0)
    midnight_sun = clear(latitude_deg=80.0, start_day=172)
    assert midnight_sun.power_w(0.0) > 0.0
    polar_night = clear(latitude_deg=80.0, start_day=355)
    assert all(polar_night.power_w(h * H) == 0.0 for h in range(24))
    nxt = polar_night.next_sunrise_s(0.0)
    assert nxt is not None and nxt > 30 * DAY  # the sun returns weeks later


def test_next_change_at_night_is_sunrise_and_by_day_is_near() -> None:
    array = clear()
    assert array.next_change_s(0.0, 300.0) == array.next_sunrise_s(0.0)
    assert array.next_change_s(12 * H, 300.0) == 12 * H + 300.0
    _rise, sunset = sunrise_sunset_h(50.0, 172)
    assert array.next_change_s(sunset * H - 10.0, 300.0) == pytest.approx(sunset * H)
    cloudy = PvArray(220.0, cloudiness=0.5)
    assert cloudy.next_change_s(12 * H + 10.0, 3 * H) == 12 * H + CLOUD_INTERVAL_S


def test_clouds_are_deterministic_per_seed() -> None:
    a, b = PvArray(220.0, seed=7), PvArray(220.0, seed=7)
    times = [i * 600.0 for i in range(500)]
    assert [a.cloud_factor(t) for t in times] == [b.cloud_factor(t) for t in times]
    other = PvArray(220.0, seed=8)
    assert [a.cloud_factor(t) for t in times] != [other.cloud_factor(t) for t in times]
    stream = PvArray(220.0, seed=7, stream=1)
    assert [a.cloud_factor(t) for t in times] != [stream.cloud_factor(t) for t in times]


def test_clouds_are_random_access() -> None:
    array = PvArray(220.0, seed=3, cloudiness=0.5)
    times = [i * 137.0 for i in range(2000)]
    in_order = {t: array.power_w(t) for t in times}
    shuffled = times[:]
    random.Random(1).shuffle(shuffled)
    assert {t: array.power_w(t) for t in shuffled} == in_order


def test_cloud_factor_is_constant_within_an_interval_and_in_range() -> None:
    array = PvArray(220.0, seed=11, cloudiness=0.5)
    low, high = OVERCAST_FACTOR_RANGE
    for i in range(300):
        start = i * CLOUD_INTERVAL_S
        f = array.cloud_factor(start)
        assert f == array.cloud_factor(start + CLOUD_INTERVAL_S - 0.5)
        assert f == 1.0 or low <= f <= high


@pytest.mark.parametrize("cloudiness", [0.0, 0.3, 1.0])
def test_cloudiness_is_the_share_of_overcast_intervals(cloudiness: float) -> None:
    array = PvArray(220.0, seed=5, cloudiness=cloudiness)
    factors = [array.cloud_factor(i * CLOUD_INTERVAL_S) for i in range(3000)]
    overcast = sum(f < 1.0 for f in factors) / len(factors)
    assert overcast == pytest.approx(cloudiness, abs=0.03)


def test_hashed_uniform_is_in_unit_interval_and_pure() -> None:
    values = [hashed_uniform(1, 2, i) for i in range(1000)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert values == [hashed_uniform(1, 2, i) for i in range(1000)]
    assert 0.45 < sum(values) / len(values) < 0.55


@pytest.mark.parametrize(
    "kwargs",
    [{"peak_w": -1.0}, {"latitude_deg": 91.0}, {"cloudiness": 1.5}, {"cloud_interval_s": 0.0}],
)
def test_invalid_arrays_are_refused(kwargs: dict[str, float]) -> None:
    args: dict[str, float] = {"peak_w": 100.0, **kwargs}
    with pytest.raises(ValueError):
        PvArray(**args)  # type: ignore[arg-type]


@given(st.floats(min_value=0.0, max_value=3.2e7), st.floats(min_value=-70.0, max_value=70.0),
       st.floats(min_value=0.0, max_value=1.0))
def test_power_is_the_clear_sky_power_through_the_clouds_bit_for_bit(
        t: float, latitude: float, cloudiness: float) -> None:
    """power_w works the day and hour out once; it must equal the two documented parts."""
    array = PvArray(400.0, latitude_deg=latitude, start_day=30, cloudiness=cloudiness, seed=3)
    clear = array.clear_sky_w(t)
    assert array.power_w(t) == (0.0 if clear <= 0.0 else clear * array.cloud_factor(t))
