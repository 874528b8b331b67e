"""Step profiles: values hold until the next point, repeat by period, random access in time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallbms.twin.profiles import (
    BUILTIN_DESCRIPTIONS,
    BUILTIN_PROFILES,
    DAY_S,
    Profile,
    ProfileError,
    get_builtin,
    make_profile,
    parse_duration_s,
    parse_repeat,
    profile_from_spec,
)

H = 3_600.0


def test_values_hold_stepwise_until_the_next_point() -> None:
    p = make_profile([[0, 1], ["8h", 5], ["20h", 2]])
    assert p.value_at(0) == 1
    assert p.value_at(8 * H - 0.001) == 1
    assert p.value_at(8 * H) == 5
    assert p.value_at(14 * H) == 5  # no ramp between points
    assert p.value_at(20 * H - 0.001) == 5
    assert p.value_at(20 * H) == 2
    assert p.value_at(DAY_S - 1) == 2


def test_daily_profile_repeats_every_24_hours() -> None:
    p = make_profile([[0, 1], ["8h", 5], ["20h", 2]])
    for t in (0.0, 3 * H, 8 * H, 19.5 * H, 23.9 * H):
        for day in (1, 2, 30):
            assert p.value_at(t + day * DAY_S) == p.value_at(t)


def test_daily_profile_wraps_the_last_value_to_the_start_of_the_day() -> None:
    p = make_profile([["6h", 3], ["18h", 0.5]])
    assert p.value_at(0) == 0.5
    assert p.value_at(5.9 * H) == 0.5
    assert p.value_at(6 * H) == 3


def test_non_repeating_profile_is_zero_before_and_holds_after() -> None:
    p = make_profile([["1h", 4], ["2h", 7]], repeat="none")
    assert p.period_s is None
    assert p.value_at(0) == 0
    assert p.value_at(1 * H) == 4
    assert p.value_at(10 * DAY_S) == 7


def test_other_repeat_periods() -> None:
    p = make_profile([[0, 1], ["6h", 2]], repeat="12h")
    assert p.period_s == 12 * H
    assert p.value_at(13 * H) == 1
    assert p.value_at(19 * H) == 2
    assert parse_repeat("1d") == DAY_S
    assert parse_repeat("none") is None


def test_next_change_in_a_daily_profile() -> None:
    p = make_profile([[0, 1], ["8h", 5], ["20h", 2]])
    assert p.next_change_s(0) == 8 * H
    assert p.next_change_s(8 * H) == 20 * H
    assert p.next_change_s(20 * H) == DAY_S  # 2 -> 1 at midnight
    assert p.next_change_s(DAY_S + 9 * H) == DAY_S + 20 * H


def test_next_change_skips_points_that_do_not_change_the_value() -> None:
    p = make_profile([[0, 1], ["1h", 1], ["2h", 3], ["3h", 1]])
    assert p.next_change_s(0) == 2 * H
    assert p.next_change_s(2 * H) == 3 * H
    assert p.next_change_s(3 * H) == DAY_S + 2 * H  # 1 at 3h wraps into 1 at 0h and 1h


def test_next_change_none_for_constant_and_after_the_end() -> None:
    assert make_profile([[0, 4], ["5h", 4]]).next_change_s(0) is None
    p = make_profile([[0, 4], ["5h", 2]], repeat="none")
    assert p.next_change_s(0) == 5 * H
    assert p.next_change_s(5 * H) is None


def test_max_value() -> None:
    assert make_profile([[0, -1], ["1h", -3]]).max_value == -1
    assert make_profile([["1h", -2]], repeat="none").max_value == 0  # 0 before the first point
    assert get_builtin("camper_evening").max_value == 250


@pytest.mark.parametrize(
    ("points", "repeat", "unit", "fragment"),
    [
        ([], "1d", None, "non-empty"),
        ([[0, 1], [0, 2]], "1d", None, "strictly increasing"),
        ([["2h", 1], ["1h", 2]], "1d", None, "strictly increasing"),
        ([[0, 1], ["25h", 2]], "1d", None, "repeat period"),
        ([[0, 1, 2]], "1d", None, "pair"),
        ([[0, "x"]], "1d", None, "number"),
        ([["soon", 1]], "1d", None, "duration"),
        ([[0, 1]], "weekly", None, "duration"),
        ([[0, 1]], "0s", None, "longer than 0"),
        ([[0, 1]], "1d", "kW", "unit"),
    ],
)
def test_bad_profiles_are_refused(
    points: list[list[object]], repeat: str, unit: str | None, fragment: str
) -> None:
    with pytest.raises(ProfileError, match=fragment):
        make_profile(points, repeat=repeat, unit=unit)


def test_builtin_profiles_are_valid_daily_step_profiles() -> None:
    assert set(BUILTIN_PROFILES) == set(BUILTIN_DESCRIPTIONS)
    assert {"camper_evening", "fridge", "cabin_day"} <= set(BUILTIN_PROFILES)
    for name, p in BUILTIN_PROFILES.items():
        assert p.name == name
        assert p.period_s == DAY_S
        assert p.unit in ("A", "W")
        assert min(p.values) >= 0


def test_fridge_runs_a_third_of_the_time() -> None:
    fridge = get_builtin("fridge")
    minutes = [fridge.value_at(m * 60.0) for m in range(24 * 60)]
    assert sum(minutes) / len(minutes) == pytest.approx(5.0 / 3.0)
    assert fridge.next_change_s(0) == 12 * 60.0


def test_profile_from_spec_takes_names_points_and_profiles() -> None:
    assert profile_from_spec("fridge") is get_builtin("fridge")
    p = profile_from_spec([[0, 2]], repeat="none", unit="W")
    assert p.unit == "W" and p.period_s is None
    assert profile_from_spec(p) is p
    with pytest.raises(ProfileError, match="cabin_day"):
        profile_from_spec("no_such_profile")
    with pytest.raises(ProfileError):
        profile_from_spec(42)


def test_parse_duration_s() -> None:
    assert parse_duration_s("2h") == 7_200.0
    assert parse_duration_s(90) == 90.0
    with pytest.raises(ProfileError):
        parse_duration_s(-1)
    with pytest.raises(ProfileError):
        parse_duration_s(True)


def test_profile_is_a_direct_value_object() -> None:
    p = Profile((0.0, 60.0), (1.0, 2.0), None, "A", "x")
    assert p.value_at(59) == 1 and p.value_at(60) == 2


_times = st.lists(
    st.integers(min_value=0, max_value=86_399), min_size=1, max_size=8, unique=True,
).map(sorted)


@settings(max_examples=150, deadline=None)
@given(
    times=_times,
    values=st.lists(st.sampled_from([0.0, 1.0, 2.5, 7.0]), min_size=8, max_size=8),
    repeat=st.sampled_from(["1d", "none"]),
    t=st.integers(min_value=0, max_value=3 * 86_400),
)
def test_next_change_is_the_first_change_after_t(
    times: list[int], values: list[float], repeat: str, t: int
) -> None:
    p = make_profile([[ti, values[i]] for i, ti in enumerate(times)], repeat=repeat)
    nxt = p.next_change_s(t)
    now = p.value_at(t)
    if nxt is None:
        for later in range(t, t + 2 * 86_400, 977):
            assert p.value_at(later) == now
        return
    assert nxt > t
    assert p.value_at(nxt) != now
    step = max((nxt - t) / 50.0, 1e-3)
    probe = float(t)
    while probe < nxt:
        assert p.value_at(probe) == now
        probe += step
