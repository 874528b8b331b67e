"""Validated files: the pydantic building blocks of every file the project reads.

Scenario files, design files (``smallbms check``), the ``smallbms run`` configuration and its
integration tables are all described by :class:`Table` models built from the field types here:

- :class:`Table`: strict types (a bool is not a number, ``"1"`` is not 1), frozen, every key it
  does not declare refused with "did you mean", every required key it misses named.
- :class:`Range` (``Annotated[float, AfterValidator(Range(0, 100, unit="%"))]``), :class:`Duration`,
  :class:`Choice` and :data:`Text`: the checks the files share, in the project's words.
- :func:`first_problem`: a pydantic ``ValidationError`` turned into the key path of the first
  problem (``component[2].controlled_by``) and a message that says what is wrong.

Validators raise :func:`problem` errors (a ``PydanticCustomError`` that carries the message and,
where the problem is below the value being validated, the rest of the key path).

May import: pydantic and :mod:`smallbms.durations`; nothing else of the package.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Final, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from smallbms.durations import format_duration, parse_duration

__all__ = [
    "Choice",
    "Duration",
    "Range",
    "Table",
    "Text",
    "describe",
    "first_problem",
    "fmt",
    "fmt_t",
    "problem",
    "suggest",
]

_V = TypeVar("_V")

#: The error type of every problem raised by the project's own validators.
PROBLEM: Final = "smallbms"


# --- how values are shown in messages ------------------------------------------------------------


def describe(value: object) -> str:
    """A value as a message shows it: TOML spelling for scalars, a word for containers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        n = len(value)
        return "an empty array" if n == 0 else f"an array of {n} value{'s' if n != 1 else ''}"
    if isinstance(value, str | int | float):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    if value is None:
        return "nothing"
    return f"a {type(value).__name__}"


def fmt(value: float) -> str:
    """A number as messages show it (ints as they are, floats to 10 significant digits)."""
    if isinstance(value, int):
        return str(value)
    return format(value, ".10g")


def fmt_t(seconds: float) -> str:
    """A time in seconds as messages show it (``1h30m``)."""
    return format_duration(seconds) if seconds >= 0 else fmt(seconds)


def suggest(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest option, or nothing."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def problem(message: str, *sub: str | int) -> PydanticCustomError:
    """A validation problem in the project's words; ``sub`` continues the key path below the
    value being validated (a key name, or an index for arrays)."""
    return PydanticCustomError(PROBLEM, "{message}", {"message": message, "sub": list(sub)})


# --- field checks --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Range:
    """An ``AfterValidator`` check that a number lies in a range (``lo_open``: ``> lo``)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    unit: str = ""

    def text(self) -> str:
        """The range in words: ``between 0 and 100 %``, ``greater than 0 A``."""
        u = f" {self.unit}" if self.unit else ""
        lo, hi = self.lo, self.hi
        low = None if lo is None else (f"greater than {fmt(lo)}" if self.lo_open
                                       else f"at least {fmt(lo)}")
        high = None if hi is None else (f"less than {fmt(hi)}" if self.hi_open
                                        else f"at most {fmt(hi)}")
        if lo is not None and hi is not None and not self.lo_open and not self.hi_open:
            return f"between {fmt(lo)} and {fmt(hi)}{u}"
        if low is not None and high is not None:
            return f"{low} and {high}{u}"
        if low is not None or high is not None:
            return f"{low or high}{u}"
        return "a finite number"

    def __call__(self, value: Any) -> Any:
        lo, hi = self.lo, self.hi
        too_low = lo is not None and (value <= lo if self.lo_open else value < lo)
        too_high = hi is not None and (value >= hi if self.hi_open else value > hi)
        if too_low or too_high:
            shown = describe(value) if isinstance(value, int) else fmt(value)
            raise problem(f"{shown} is out of range: must be {self.text()}")
        return value


@dataclass(frozen=True, slots=True)
class Duration:
    """A ``PlainValidator``: seconds or a duration string (``"15m"``), to seconds as a float."""

    positive: bool = False
    hi: float | None = None

    def __call__(self, value: Any) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise problem(str(exc)) from None
        if self.positive and seconds <= 0:
            raise problem(f"must be a duration greater than 0, got {describe(value)}")
        if self.hi is not None and seconds > self.hi:
            raise problem(f"{describe(value)} is too long: at most {format_duration(self.hi)}")
        return seconds


class Choice:
    """A ``PlainValidator``: one of a few strings, with "did you mean" for a near miss."""

    __slots__ = ("options",)

    def __init__(self, *options: str) -> None:
        self.options = options

    def listing(self) -> str:
        return ", ".join(repr(c) for c in self.options)

    def refusal(self, value: object) -> str | None:
        """Why ``value`` is not one of the options, or None when it is."""
        if isinstance(value, str) and value in self.options:
            return None
        if not isinstance(value, str):
            return f"must be one of {self.listing()}, got {describe(value)}"
        return (f"unknown value {describe(value)}{suggest(value, self.options)}; "
                f"one of {self.listing()}")

    def __call__(self, value: Any) -> Any:
        refusal = self.refusal(value)
        if refusal is not None:
            raise problem(refusal)
        return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise problem("must not be empty")
    return value


#: A string that is not empty (nor only blanks).
Text = Annotated[str, AfterValidator(_not_blank)]


def choice_of(field_metadata: Sequence[Any]) -> Choice | None:
    """The :class:`Choice` among a field's metadata, if any."""
    for item in field_metadata:
        func = getattr(item, "func", None)
        if isinstance(func, Choice):
            return func
    return None


# --- tables --------------------------------------------------------------------------------------


class Table(BaseModel):
    """A table of a file: strict, frozen; unknown keys and missing required keys are refused in
    the project's words before any value is read.

    ``where`` names the table in the unknown-key message (``a [[reading]]``); empty: ``[path]``.
    A required field's ``description`` replaces the plain "missing (required)" message.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)
    where: ClassVar[str] = ""

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys the table takes, in order."""
        return tuple(f.alias or name for name, f in cls.model_fields.items())

    @model_validator(mode="before")
    @classmethod
    def _known_and_required_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # refused by the model itself: "must be a table"
        allowed = cls.keys()
        for key in data:
            if key not in allowed:
                listing = ", ".join(allowed) if allowed else "none"
                raise PydanticCustomError(
                    PROBLEM, "{message}",
                    {"message": f"unknown key {key!r}{suggest(str(key), allowed)} in {{place}}; "
                                f"allowed keys: {listing}",
                     "sub": [key], "place": cls.where},
                )
        for name, info in cls.model_fields.items():
            key = info.alias or name
            if info.is_required() and key not in data:
                options = choice_of(info.metadata)
                if info.description:
                    message = info.description
                elif options is not None:
                    message = f"missing; one of {options.listing()}"
                else:
                    message = "missing (required)"
                raise problem(message, key)
        return data


def validate_value(adapter: TypeAdapter[_V], value: object, *sub: str | int) -> _V:
    """Validate one value inside a validator (an array item, a pair's member) with a strict
    ``adapter``; a problem is raised again with the key path continued by ``sub``."""
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        key, message = first_problem(exc)
        raise problem(message, *sub, *([key] if key else [])) from None


def strict(annotation: Any) -> TypeAdapter[Any]:
    """A strict adapter for one value (numbers: finite, a bool is not one)."""
    return TypeAdapter(annotation, config=ConfigDict(strict=True, allow_inf_nan=False))


# --- turning pydantic's errors into the project's messages ---------------------------------------


#: For a discriminated array of tables: its tag problem for an item (sub key, message).
TagProblem = Callable[[object], tuple[str, str]]


def _path(loc: Sequence[str | int], tagged: Iterable[str]) -> list[str | int]:
    """The key path of a pydantic location, without the union tags pydantic inserts."""
    tagged = set(tagged)
    out: list[str | int] = []
    skip_next = False
    for i, part in enumerate(loc):
        if skip_next:
            skip_next = False
            continue
        out.append(part)
        if isinstance(part, int) and i >= 1 and loc[i - 1] in tagged and i + 1 < len(loc):
            skip_next = True
    return out


def join(path: Sequence[str | int]) -> str:
    """``["component", 2, "kind"]`` -> ``component[2].kind``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text = f"{text}.{part}" if text else part
    return text


def _table_problem(path: Sequence[str | int], value: object) -> str:
    if path and isinstance(path[-1], int) and len(path) >= 2:
        return f"must be a table (write [[{join(path[:-1])}]]), got {describe(value)}"
    return f"must be a table ([{join(path)}]), got {describe(value)}"


def first_problem(
    exc: ValidationError,
    *,
    tagged: Mapping[str, TagProblem] | None = None,
    list_hints: Mapping[str, str] | None = None,
    root: Sequence[str | int] = (),
) -> tuple[str, str]:
    """The key path and message of the first problem of a failed validation.

    ``tagged`` maps the arrays of tables whose items are told apart by a key (``kind``,
    ``action``) to the function that words a bad or missing tag; ``list_hints`` maps a key to
    the words after "must be an array" (`` of cell voltages``); ``root`` is the key path of
    the validated table itself (``("mqtt",)``), put in front of every key.
    """
    tagged = tagged or {}
    hints = list_hints or {}
    error = exc.errors(include_url=False)[0]
    path = [*root, *_path(error["loc"], tagged)]
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    last_name = next((p for p in reversed(path) if isinstance(p, str)), "")
    if kind == PROBLEM:
        sub = list(ctx.get("sub") or [])
        message = str(ctx["message"])
        if "{place}" in message:
            place = ctx.get("place") or (f"[{join(path)}]" if path else "the top level")
            message = message.replace("{place}", str(place))
        return join([*path, *sub]), message
    if kind in ("union_tag_not_found", "union_tag_invalid") and last_name in tagged:
        if not isinstance(value, dict):
            return join(path), _table_problem(path, value)
        sub_key, message = tagged[last_name](value)
        return join([*path, sub_key]), message
    if kind == "float_type":
        if isinstance(value, int) and not isinstance(value, bool):
            return join(path), f"{describe(value)} is too large"
        return join(path), f"must be a number, got {describe(value)}"
    simple = {
        "finite_number": "must be a finite number, got {}",
        "int_type": "must be a whole number, got {}",
        "bool_type": "must be true or false, got {}",
        "string_type": "must be a string, got {}",
    }
    if kind in simple:
        return join(path), simple[kind].format(describe(value))
    if kind in ("model_type", "dict_type", "model_attributes_type", "dataclass_type"):
        return join(path), _table_problem(path, value)
    if kind in ("list_type", "tuple_type"):
        return join(path), f"must be an array{hints.get(last_name, '')}, got {describe(value)}"
    if kind == "missing":
        return join(path), "missing (required)"
    if kind == "extra_forbidden":
        return join(path), "unknown key"
    return join(path), str(error["msg"])
