"""What the fuzz tests share: how many examples to run, a tally of what was tried, and a small
TOML writer for mutated documents.

The same test functions serve two masters:

- **CI** (plain ``pytest``): a modest number of examples per property, and the first input
  that breaks a property fails the test (Hypothesis then shrinks it, as usual).
- **The campaign** (``tools/reliability_fuzz.py``): it sets ``SMALLBMS_FUZZ_EXAMPLES`` to many
  more examples and ``SMALLBMS_FUZZ_COLLECT=1`` before importing the tests. In that mode a broken
  property is *recorded* in the target's :class:`Tally` (with the input, shortened) and the run
  goes on, so one campaign counts every failure instead of stopping at the first.

Each property counts every input it is handed (:meth:`Tally.tried`), so the campaign can say how
many inputs each target saw and how many it accepted, refused cleanly or failed on.
"""

from __future__ import annotations

import copy
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Examples per Hypothesis property in CI; the campaign raises it through the environment.
CI_EXAMPLES = 120
#: Kept failure descriptions per target (the count goes on past it).
KEPT_FAILURES = 20


def examples(ci: int = CI_EXAMPLES, scale: float = 1.0) -> int:
    """Examples for one property: ``ci`` in CI, or the campaign's number times ``scale``."""
    raw = os.environ.get("SMALLBMS_FUZZ_EXAMPLES")
    if not raw:
        return ci
    return max(1, int(int(raw) * scale))


def collecting() -> bool:
    """True in the campaign: failures are recorded instead of raised."""
    return os.environ.get("SMALLBMS_FUZZ_COLLECT") == "1"


def fuzz_settings(ci: int = CI_EXAMPLES, scale: float = 1.0) -> settings:
    """Hypothesis settings for a fuzz property: no deadline (machines are shared), no example
    database (each run starts fresh), no health check that would refuse slow generation."""
    return exact_settings(examples(ci, scale))


def exact_settings(max_examples: int) -> settings:
    """:func:`fuzz_settings` with a number of examples the caller has already decided."""
    return settings(
        max_examples=max_examples, deadline=None, database=None,
        suppress_health_check=list(HealthCheck), print_blob=True,
    )


@dataclass
class Tally:
    """What one fuzz target saw: inputs tried, accepted, refused with the project's own error,
    and failures (anything else: a wrong exception type, a bad message, a lost value)."""

    target: str
    inputs: int = 0
    accepted: int = 0
    refused: int = 0
    failures: int = 0
    failure_examples: list[str] = field(default_factory=list)
    #: the longest one input took, s (a figure for the campaign, never asserted)
    slowest_s: float = 0.0

    def tried(self) -> None:
        self.inputs += 1

    def ok(self) -> None:
        self.accepted += 1

    def refusal(self) -> None:
        self.refused += 1

    def fail(self, what: str, given: object) -> None:
        """Record a failure; raise it unless the campaign is collecting."""
        self.failures += 1
        shown = repr(given)
        shown = shown if len(shown) <= 300 else shown[:297] + "..."
        text = f"{what} -- input: {shown}"
        if len(self.failure_examples) < KEPT_FAILURES:
            self.failure_examples.append(text)
        if not collecting():
            raise AssertionError(text)

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "inputs": self.inputs, "accepted": self.accepted,
                "refused": self.refused, "failures": self.failures,
                "slowest_ms": round(self.slowest_s * 1000, 1),
                "failure_examples": list(self.failure_examples)}


#: Every tally made in this process, by target name.
TALLIES: dict[str, Tally] = {}


def tally(target: str) -> Tally:
    """The tally of ``target`` (made on first use)."""
    if target not in TALLIES:
        TALLIES[target] = Tally(target)
    return TALLIES[target]


@contextmanager
def checking(t: Tally, given: object) -> Iterator[None]:
    """Count one input; an AssertionError or an unexpected exception inside is a failure."""
    t.tried()
    t0 = time.perf_counter()
    try:
        yield
    except AssertionError as e:
        t.fail(f"property broken: {e}", given)
    except Exception as e:  # anything the property did not expect
        t.fail(f"unexpected {type(e).__name__}: {e}", given)
    finally:
        t.slowest_s = max(t.slowest_s, time.perf_counter() - t0)


def refused_or_accepted(t: Tally, given: object, call: Callable[[], Any],
                        error: type[BaseException],
                        check_error: Callable[[Any], None],
                        check_value: Callable[[Any], None] | None = None) -> None:
    """The parser property: ``call()`` returns a value (checked by ``check_value``) or raises
    ``error`` (checked by ``check_error``); any other exception is a failure."""
    with checking(t, given):
        try:
            value = call()
        except error as e:
            check_error(e)
            t.refusal()
            return
        if check_value is not None:
            check_value(value)
        t.ok()


# --- a small TOML writer ----------------------------------------------------------------------
#
# The mutation fuzzers read a valid file, change one thing and write it back. Nothing installed
# writes TOML, so this writes every table inline (``bank = {battery = "..."}``), which TOML reads
# exactly like a ``[bank]`` header.

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_string(s: str) -> str:
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:  # a lone surrogate cannot be written: replace it
            out.append("\\uFFFD")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.fullmatch(k) else _toml_string(k)


def toml_value(v: Any) -> str:
    """One value in TOML spelling (tables inline)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
    return _toml_string(str(v))  # dates and the like: as text


def toml_dumps(doc: dict[str, Any]) -> str:
    """A whole document: one ``key = value`` line per top-level key."""
    return "".join(f"{_toml_key(str(k))} = {toml_value(v)}\n" for k, v in doc.items())


# --- one-key mutations of a valid document ----------------------------------------------------

Path = tuple[str | int, ...]


def leaf_paths(doc: Any, prefix: Path = ()) -> list[Path]:
    """Every path in a nested dict/list document, containers included (not the root)."""
    out: list[Path] = []
    items: list[tuple[str | int, Any]]
    if isinstance(doc, dict):
        items = list(doc.items())
    elif isinstance(doc, list):
        items = list(enumerate(doc))
    else:
        return out
    for k, v in items:
        p = (*prefix, k)
        out.append(p)
        out.extend(leaf_paths(v, p))
    return out


def get_at(doc: Any, path: Path) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def mutated(doc: Any, path: Path, op: str, value: Any) -> Any:
    """A deep copy of ``doc`` with ``op`` applied at ``path``: ``replace`` the value, ``delete``
    it (a list item is removed), or ``add`` a key named ``value[0]`` with ``value[1]`` beside it
    (in the parent table)."""
    out = copy.deepcopy(doc)
    parent = get_at(out, path[:-1])
    last = path[-1]
    if op == "replace":
        parent[last] = value
    elif op == "delete":
        del parent[last]
    elif op == "add" and isinstance(parent, dict):
        name, v = value
        parent[name] = v
    elif op == "add" and isinstance(parent, list):
        parent.append(value[1])
    else:
        raise ValueError(op)
    return out


def path_text(path: Path) -> str:
    """A path the way the parsers name keys: ``event[2].battery``."""
    out = ""
    for k in path:
        if isinstance(k, int):
            out += f"[{k}]"
        else:
            out += f".{k}" if out else str(k)
    return out


# --- junk values --------------------------------------------------------------------------------

#: Numbers that break naive code: the float range ends, infinities, NaN, 64-bit edges, an integer
#: no float can hold, zero and minus zero.
EDGE_NUMBERS: tuple[float | int, ...] = (
    0, -0.0, -1, 1e-300, 1e308, -1e308, 1.7976931348623157e308, math.inf, -math.inf, math.nan,
    2**53 + 1, 2**63 - 1, -(2**63), 2**64, 10**400, -(10**400),
)

#: Strings that look like durations or values but are not quite.
TRICKY_STRINGS: tuple[str, ...] = (
    "", " ", "-5m", "5x", "1h1h", "nan", "inf", "1e9d", "99999999999999999999d", "0s", "-0",
    "1.5.3", "١٢", "\x00", "none", "true", "on", "off", "ng", "classic", "twin", "script",
)


def numbers() -> st.SearchStrategy[float | int]:
    """Any number, edges often."""
    return st.one_of(st.sampled_from(EDGE_NUMBERS), st.integers(), st.floats())


def scalars(nulls: bool = False) -> st.SearchStrategy[Any]:
    """Any TOML scalar (and JSON null with ``nulls``), tricky values often."""
    base = st.one_of(numbers(), st.booleans(), st.sampled_from(TRICKY_STRINGS), st.text(max_size=30))
    return st.one_of(base, st.none()) if nulls else base


def junk_values(nulls: bool = False) -> st.SearchStrategy[Any]:
    """Scalars, and small arrays and tables of them (a value of the wrong shape)."""
    leaf = scalars(nulls)
    return st.recursive(leaf, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=6)


def near_any(path: Path, old: Any) -> st.SearchStrategy[Any]:
    """Values of the old value's kind that are wrong for it: edge numbers for a number, tricky
    strings for a string, the other truth value or a look-alike for a boolean, arrays of other
    lengths for an array."""
    if isinstance(old, bool):
        return st.sampled_from([not old, "true", 1, 0, None])
    if isinstance(old, int | float):
        return st.one_of(st.sampled_from(EDGE_NUMBERS), st.floats(), st.integers(),
                         st.just(-old), st.just(old * 1000))
    if isinstance(old, str):
        return st.one_of(st.sampled_from(TRICKY_STRINGS), st.text(max_size=12),
                         st.just(old.upper()), st.just(old + "x"))
    if isinstance(old, list):
        return st.one_of(st.just([]), st.just(old + old), st.just(old[:1]),
                         st.lists(st.sampled_from(EDGE_NUMBERS), max_size=8))
    return junk_values()


@st.composite
def one_key_mutations(draw: st.DrawFn, doc: Any, nulls: bool = False,
                      near: Callable[[Path, Any], st.SearchStrategy[Any]] | None = None,
                      ) -> tuple[str, Path, Any]:
    """(op, path, value) changing one thing in ``doc``. ``near(path, old)``, when given, offers
    values close to valid for that key (the same type, just out of range), drawn half the time;
    without it :func:`near_any` does that."""
    paths = leaf_paths(doc)
    path = draw(st.sampled_from(paths))
    op = draw(st.sampled_from(("replace", "replace", "replace", "delete", "add")))
    if op == "add":
        return op, path, (draw(st.text(min_size=1, max_size=12)), draw(scalars(nulls)))
    if op == "delete":
        return op, path, None
    if draw(st.booleans()):
        return op, path, draw((near or near_any)(path, get_at(doc, path)))
    return op, path, draw(junk_values(nulls))
