"""Bad input: the scenario parser under random bytes, random TOML and one-key mutations of every
example in examples/.

The property, for any input: :func:`load_scenario` / :func:`parse_scenario` either returns a
scenario that holds together, or raises :class:`ScenarioError` whose text starts with the file
name and, for a document that is valid TOML, names the key at fault (a key of the document, or a
required one it lacks). Never another exception type.

tests/test_scenario_parse.py already feeds random text and random scenario-like documents; this
adds raw bytes through the file loader, and mutations of the real examples, which stay close to
valid and so reach the deep checks (battery indices, event times, profile points, settings).
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from smallbms.core.settings import SPECS_BY_NAME
from smallbms.scenario import ACTIONS, Scenario, ScenarioError, load_scenario, parse_scenario

from .fuzz_support import (
    EDGE_NUMBERS,
    fuzz_settings,
    junk_values,
    mutated,
    one_key_mutations,
    path_text,
    refused_or_accepted,
    tally,
    toml_dumps,
)
from .fuzz_support import (
    Path as KeyPath,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
EXAMPLE_DOCS = {p.name: tomllib.loads(p.read_text()) for p in EXAMPLES}
#: Keys an error may name although the document lacks them (required; readings are required
#: with a script source).
REQUIRED = ("name", "duration", "bank", "reading")
TOP_KEYS = ("name", "profile", "duration", "step", "seed", "sample_interval", "bank", "settings",
            "remote", "component", "reading", "event", "bms")


def check_scenario(s: Scenario) -> None:
    """What an accepted scenario promises (scenario.py's conventions)."""
    assert math.isfinite(s.duration_s) and s.duration_s > 0, s.duration_s
    assert math.isfinite(s.step_s) and s.step_s > 0, s.step_s
    assert s.name.strip()
    n = s.bank.battery_count
    assert 1 <= n <= 100
    times = [e.at_s for e in s.events]
    assert times == sorted(times), "events not sorted by time"
    for e in s.events:
        assert 0 <= e.at_s <= s.duration_s, e
        battery = getattr(e, "battery", None)
        assert battery is None or 0 <= battery < n, e
    for name, spec in SPECS_BY_NAME.items():
        v = getattr(s.settings, name)
        assert spec.minimum <= v <= spec.maximum, (name, v)
    at = [r.at_s for r in s.readings]
    assert at == sorted(set(at)), "readings not increasing"
    for r in s.readings:
        assert len(r.cells_v) == n and len(r.temperatures_c) == n
        assert all(math.isfinite(v) for cells in r.cells_v for v in cells)
    names = [c.name for c in s.components]
    assert len(names) == len(set(names)), "component names not unique"


def error_checker(source: str, doc: dict[str, Any] | None):
    """Checks a ScenarioError: names the file, says something, and (for a parsed document)
    names a key of the document or a required one."""

    def check(e: ScenarioError) -> None:
        assert str(e).startswith(source + ": "), str(e)
        assert e.file == source and e.message.strip(), e
        if doc is not None:
            roots = set(REQUIRED) | {str(k) for k in doc}
            assert e.key, f"no key named for a valid TOML document: {e}"
            assert any(e.key == r or e.key.startswith((r + ".", r + "[")) for r in roots), (
                f"the key {e.key!r} is not in the document: {e}")

    return check


# --- raw junk ---------------------------------------------------------------------------------

@fuzz_settings(ci=150)
@given(data=st.one_of(st.binary(max_size=400),
                      st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_random_bytes_through_the_file_loader(tmp_path_factory: Any, data: bytes) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz-junk-scenario.toml"
    path.write_bytes(data)
    refused_or_accepted(tally("scenario: random bytes (file)"), data, lambda: load_scenario(path),
                        ScenarioError, error_checker(str(path), None), check_scenario)


_keys = st.one_of(st.sampled_from(TOP_KEYS), st.text(min_size=1, max_size=10))


@fuzz_settings(ci=150)
@given(doc=st.dictionaries(_keys, junk_values(), max_size=8))
def test_random_toml_documents(doc: dict[str, Any]) -> None:
    text = toml_dumps(doc)
    refused_or_accepted(tally("scenario: random TOML documents"), doc,
                        lambda: parse_scenario(text, "random.toml"), ScenarioError,
                        error_checker("random.toml", tomllib.loads(text)), check_scenario)


# --- near-valid: one key of a real example changed ------------------------------------------------

def near_values(path: KeyPath, old: Any) -> st.SearchStrategy[Any]:
    """Values of the right kind for the key but wrong: out of range, not finite, unknown names,
    battery indices past the bank, negative or absurd durations."""
    last = path[-1]
    if last == "action":
        return st.one_of(st.sampled_from(sorted(ACTIONS)), st.text(max_size=12))
    if last in ("battery", "cell"):
        return st.one_of(st.integers(-3, 120), st.sampled_from(EDGE_NUMBERS))
    if last == "setting":
        return st.one_of(st.sampled_from(sorted(SPECS_BY_NAME)), st.text(max_size=12))
    if isinstance(old, bool):
        return st.one_of(st.booleans(), st.sampled_from(["true", 1, 0]))
    if isinstance(old, int | float):
        return st.one_of(st.sampled_from(EDGE_NUMBERS), st.floats(),
                         st.integers(-10**6, 10**6), st.just(-old), st.just(old * 1000))
    if isinstance(old, str):
        return st.one_of(st.sampled_from(["-5m", "0s", "1e9d", "401d", "90x", "", "  ", "nan",
                                          "inf", "5m3h", "1d1d"]),
                         st.text(max_size=12), st.just(old.upper()), st.just(old + "x"))
    if isinstance(old, list):
        return st.one_of(st.just([]), st.just(old + old), st.just(old[:1]),
                         st.lists(st.sampled_from(EDGE_NUMBERS), max_size=20))
    return junk_values()


@fuzz_settings(ci=400)
@given(name=st.sampled_from(sorted(EXAMPLE_DOCS)), data=st.data())
def test_one_key_mutations_of_every_example(name: str, data: st.DataObject) -> None:
    doc = EXAMPLE_DOCS[name]
    op, path, value = data.draw(one_key_mutations(doc, near=near_values))
    changed = mutated(doc, path, op, value)
    text = toml_dumps(changed)
    given_ = (name, op, path_text(path), value)
    refused_or_accepted(tally("scenario: one-key mutations of examples/"), given_,
                        lambda: parse_scenario(text, name), ScenarioError,
                        error_checker(name, changed), check_scenario)


def test_every_example_still_parses_through_the_writer() -> None:
    """The TOML writer the mutations use changes nothing by itself (else a 'mutation' could be
    the writer's fault): each example written back parses to the same scenario."""
    assert len(EXAMPLE_DOCS) >= 10
    for name, doc in EXAMPLE_DOCS.items():
        again = parse_scenario(toml_dumps(doc), name)
        original = load_scenario(ROOT / "examples" / name)
        assert again.events == original.events and again.bank == original.bank, name
        assert again.components == original.components and again.readings == original.readings


def test_known_mutations_are_refused_with_the_key() -> None:
    """A few mutations whose refusal we know, so the property above cannot pass by accepting
    everything: each names the file and the mutated key."""
    name = "system_solar_batteryprotect.toml"
    doc = EXAMPLE_DOCS[name]
    cases: list[tuple[KeyPath, Any, str]] = [
        (("duration",), "-5m", "duration"),
        (("duration",), math.nan, "duration"),
        (("bank", "series"), 10**30, "bank.series"),
        (("bank", "battery"), "no-such-battery", "bank.battery"),
        (("step",), math.inf, "step"),
    ]
    for path, value, key in cases:
        text = toml_dumps(mutated(doc, path, "replace", value))
        try:
            parse_scenario(text, name)
        except ScenarioError as e:
            assert e.key == key and str(e).startswith(f"{name}: {key}: "), str(e)
        else:
            raise AssertionError(f"{path_text(path)} = {value!r} was accepted")
