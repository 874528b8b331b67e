"""Duration values of scenario files (SPEC 17): seconds, or strings like ``"90s"``, ``"15m"``.

Accepted forms:

- an ``int`` or ``float`` number of seconds (``90``, ``1.5``);
- a string holding a plain number of seconds (``"90"``, ``"0.5"``);
- a string holding a number and one unit letter: ``s`` (seconds), ``m`` (minutes), ``h`` (hours)
  or ``d`` (days), e.g. ``"90s"``, ``"15m"``, ``"1.5h"``, ``"3d"``; blanks around the number and
  between number and unit are allowed;
- several such parts in the order d, h, m, s, each unit at most once, added up: ``"1h20m"``,
  ``"6m20s"``, ``"1d 12h"``.

Booleans, negative values, NaN and infinities are refused, always with :class:`ValueError`.
Zero is a valid duration here; callers that need a positive one check that themselves.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Final

#: Seconds per unit letter.
UNIT_SECONDS: Final[dict[str, float]] = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

#: The hint appended to every "not a duration" message.
DURATION_HINT: Final = 'use seconds or e.g. "90s", "15m", "2h", "3d"'

# ASCII digits only: ``\d`` would also match other scripts' digits.
_NUMBER: Final = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_PLAIN_RE: Final = re.compile(rf"\s*(?P<number>{_NUMBER})\s*")
_PART_RE: Final = re.compile(rf"\s*(?P<number>{_NUMBER})\s*(?P<unit>[dhms])\s*")
_UNIT_ORDER: Final = "dhms"


def _parse_text(text: str) -> float | None:
    """Seconds of a duration string, or None when it is not one (signs are not accepted)."""
    plain = _PLAIN_RE.fullmatch(text)
    if plain is not None:
        return float(plain["number"])
    total = 0.0
    pos = 0
    last_unit = -1
    while pos < len(text):
        part = _PART_RE.match(text, pos)
        if part is None:
            return None
        unit_rank = _UNIT_ORDER.index(part["unit"])
        if unit_rank <= last_unit:
            return None
        last_unit = unit_rank
        total += float(part["number"]) * UNIT_SECONDS[part["unit"]]
        pos = part.end()
    return total if last_unit >= 0 else None


def _not_a_duration(value: object) -> ValueError:
    return ValueError(f"{_toml_repr(value)} is not a duration ({DURATION_HINT})")


def _toml_repr(value: object, limit: int = 40) -> str:
    """Show a value as the scenario file would spell it, shortened to ``limit`` characters."""
    text = ("true" if value else "false") if isinstance(value, bool) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_duration(value: object) -> float:
    """Return ``value`` as a number of seconds (a finite float ≥ 0).

    Raises :class:`ValueError` with a message saying what is wrong and what is accepted.
    """
    if isinstance(value, bool):
        raise _not_a_duration(value)
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise ValueError(f"{_toml_repr(value)} seconds is too long a duration") from None
        return _check_seconds(seconds, value)
    if isinstance(value, str):
        parsed = _parse_text(value)
        if parsed is None:
            stripped = value.strip()
            if stripped.startswith("-") and _parse_text(stripped[1:]) is not None:
                raise ValueError(f"{_toml_repr(value)}: a duration cannot be negative")
            raise _not_a_duration(value)
        return _check_seconds(parsed, value)
    if isinstance(value, list):
        kind = "an array"
    elif isinstance(value, dict):
        kind = "a table"
    else:
        kind = type(value).__name__
    raise ValueError(
        f"a duration must be a number of seconds or a string ({DURATION_HINT}), got {kind}"
    )


def _check_seconds(seconds: float, original: object) -> float:
    if math.isnan(seconds):
        raise ValueError(f"{_toml_repr(original)} is not a duration (NaN)")
    if math.isinf(seconds):
        raise ValueError(f"{_toml_repr(original)} is not a finite duration")
    if seconds < 0:
        raise ValueError(f"{_toml_repr(original)}: a duration cannot be negative")
    return seconds + 0.0  # normalise -0.0


def format_duration(seconds: float) -> str:
    """Format seconds as a duration string that :func:`parse_duration` reads back exactly.

    Whole multiples of a day, hour or minute use that unit (``"3d"``, ``"2h"``, ``"15m"``);
    anything else is written in seconds with the shortest exact decimal form (``"90s"``, ``"0.1s"``).
    """
    if isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"cannot format {seconds!r} as a duration")
    seconds = float(seconds)
    for unit in ("d", "h", "m"):
        size = UNIT_SECONDS[unit]
        count = seconds / size
        if 0 < count <= 2**53 and count == int(count) and int(count) * size == seconds:
            return f"{int(count)}{unit}"
    if seconds <= 2**53 and seconds == int(seconds):
        return f"{int(seconds)}s"
    text = format(Decimal(repr(seconds)), "f")
    return f"{text}s"
