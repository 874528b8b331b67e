"""Tests for duration strings of scenario files (SPEC 17)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallbms.durations import DURATION_HINT, UNIT_SECONDS, format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (90, 90.0),
        (1.5, 1.5),
        ("90", 90.0),
        ("0.5", 0.5),
        ("90s", 90.0),
        ("15m", 900.0),
        ("2h", 7200.0),
        ("3d", 259200.0),
        ("1.5h", 5400.0),
        (".5m", 30.0),
        ("5.", 5.0),
        (" 2 h ", 7200.0),
        ("0s", 0.0),
        (-0.0, 0.0),
        ("1h20m", 4800.0),
        ("6m20s", 380.0),
        ("2m1s", 121.0),
        ("1d 12h", 129600.0),
        ("1d2h3m4s", 93784.0),
        ("1.5h30m", 7200.0),
    ],
)
def test_valid_durations(value: object, seconds: float) -> None:
    result = parse_duration(value)
    assert result == seconds
    assert isinstance(result, float)
    assert math.copysign(1.0, result) == 1.0


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("10 minutes", "'10 minutes' is not a duration (" + DURATION_HINT + ")"),
        ("", "is not a duration"),
        ("s", "is not a duration"),
        ("2hours", "is not a duration"),
        ("1e3", "is not a duration"),
        ("nan", "is not a duration"),
        ("inf", "is not a duration"),
        ("2H", "is not a duration"),
        ("30m1h", "is not a duration"),
        ("1h1h", "is not a duration"),
        ("1h 5", "is not a duration"),
        ("h1", "is not a duration"),
        ("-1h20m", "cannot be negative"),
        ("٣s", "is not a duration"),  # non-ASCII digits
        ("-5s", "cannot be negative"),
        ("-5", "cannot be negative"),
        (-1, "cannot be negative"),
        (-0.5, "cannot be negative"),
        (True, "true is not a duration"),
        (False, "false is not a duration"),
        (math.nan, "NaN"),
        (math.inf, "not a finite duration"),
        (-math.inf, "not a finite duration"),
        ("9" * 400, "not a finite duration"),
        (10**400, "too long"),
        (None, "got NoneType"),
        ([1, 2], "got an array"),
        ({"s": 1}, "got a table"),
    ],
)
def test_invalid_durations(value: object, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert fragment in str(info.value)


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("x" * 1000)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"),
        (0.1, "0.1s"),
        (59.99, "59.99s"),
        (90.0, "90s"),
        (900.0, "15m"),
        (5400.0, "90m"),
        (7200.0, "2h"),
        (259200.0, "3d"),
        (1e-7, "0.0000001s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_format_duration_refuses_non_durations(bad: float) -> None:
    with pytest.raises(ValueError):
        format_duration(bad)


@settings(max_examples=300)
@given(st.floats(min_value=0.0, max_value=1e15, allow_nan=False, allow_infinity=False))
def test_format_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(sorted(UNIT_SECONDS)))
def test_unit_strings(count: int, unit: str) -> None:
    assert parse_duration(f"{count}{unit}") == count * UNIT_SECONDS[unit]


@settings(max_examples=300)
@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=4, max_size=4), st.data())
def test_compound_strings(counts: list[int], data: st.DataObject) -> None:
    used = data.draw(st.lists(st.booleans(), min_size=4, max_size=4).filter(any))
    parts = [f"{n}{u}" for n, u, keep in zip(counts, "dhms", used, strict=True) if keep]
    expected = sum(
        n * UNIT_SECONDS[u] for n, u, keep in zip(counts, "dhms", used, strict=True) if keep
    )
    assert parse_duration("".join(parts)) == expected
    assert parse_duration(" ".join(parts)) == expected


@settings(max_examples=300)
@given(st.text(max_size=30))
def test_random_text_gives_a_duration_or_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert math.isfinite(seconds)
        assert seconds >= 0


@settings(max_examples=300)
@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(alphabet="0123456789.smhd -+e", max_size=12),
        st.lists(st.integers(), max_size=3),
    )
)
def test_random_values_give_a_duration_or_value_error(value: object) -> None:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        assert str(exc)
    else:
        assert math.isfinite(seconds)
        assert seconds >= 0
