"""Bad input: the `smallbms run` configuration file, and the saved core state.

Configuration: for any file, :func:`load_config` returns a configuration or raises
:class:`ConfigError` whose message starts with the file name (never another exception: the CLI
only turns ConfigError into "error: ..." and exit 2).

Saved state: for any JSON, :func:`persistent_from_dict` rebuilds the state or raises
:class:`PersistError` naming the damaged field; and the store, handed a damaged newest row,
falls back to the last good one, so nothing already saved is lost.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smallbms.core.persist import PersistError, persistent_from_dict, persistent_to_dict
from smallbms.errors import ConfigError
from smallbms.scenario import load_scenario
from smallbms.service.config import INTEGRATION_TABLES, RunConfig, load_config
from smallbms.service.store import Store
from smallbms.simulate import initial_persistent

from .fuzz_support import (
    checking,
    fuzz_settings,
    junk_values,
    mutated,
    one_key_mutations,
    path_text,
    refused_or_accepted,
    tally,
    toml_dumps,
)

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "system_solar_batteryprotect.toml"

#: A configuration that sets every table, each valid (the mutations start from it).
FULL_CONFIG: dict[str, Any] = {
    "run": {"scenario": str(SCENARIO), "tick_s": 1.0, "speed": 2.0, "host": "127.0.0.1",
            "port": 8080, "data_dir": "data", "sample_every_s": 10.0},
    "mqtt": {"enabled": False, "host": "localhost", "port": 1883},
    "can": {"enabled": False, "interface": "virtual", "channel": "fuzz", "bitrate": 500000,
            "period_s": 1.0, "charge_limit": "continuous"},
    "gpio": {"enabled": False},
    "instant_readout": {"enabled": False, "interval_s": 1.0},
    "venus": {"enabled": False, "bus": "session", "device_instance": 100},
}


def config_error_checker(path: Path):
    def check(e: ConfigError) -> None:
        assert str(e).startswith(str(path)), str(e)
        assert len(str(e)) > len(str(path)) + 3, str(e)

    return check


def check_config(cfg: RunConfig) -> None:
    assert 0.1 <= cfg.tick_s <= 10 and 0.01 <= cfg.speed <= 10000
    assert 0 <= cfg.port <= 65535 and cfg.host
    names = [n for n, _ in cfg.integrations]
    assert set(names) <= set(INTEGRATION_TABLES)


@pytest.fixture(scope="module")
def cfg_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cfg")


def test_the_full_config_is_valid(cfg_dir: Path) -> None:
    """The mutations start from a valid file (else every refusal would be the base's fault)."""
    p = cfg_dir / "full.toml"
    p.write_text(toml_dumps(FULL_CONFIG))
    cfg = load_config(p, {})
    assert {n for n, _ in cfg.integrations} == set(INTEGRATION_TABLES)


@fuzz_settings(ci=150)
@given(data=st.binary(max_size=300))
def test_random_bytes_config(cfg_dir: Path, data: bytes) -> None:
    p = cfg_dir / "junk.toml"
    p.write_bytes(data)
    refused_or_accepted(tally("config: random bytes"), data, lambda: load_config(p, {}),
                        ConfigError, config_error_checker(p), check_config)


_tables = st.sampled_from(["run", *INTEGRATION_TABLES]) | st.text(min_size=1, max_size=8)


@fuzz_settings(ci=150)
@given(doc=st.dictionaries(_tables, st.dictionaries(
    st.sampled_from(["enabled", "host", "port", "tick_s", "speed", "channel", "interface",
                     "bitrate", "period_s", "interval_s", "key_hex", "topic", "pins"])
    | st.text(max_size=8), junk_values(), max_size=4) | junk_values(), max_size=4))
def test_random_toml_config(cfg_dir: Path, doc: dict[str, Any]) -> None:
    p = cfg_dir / "random.toml"
    p.write_text(toml_dumps(doc))
    refused_or_accepted(tally("config: random TOML documents"), doc, lambda: load_config(p, {}),
                        ConfigError, config_error_checker(p), check_config)


@fuzz_settings(ci=200)
@given(data=st.data())
def test_one_key_mutations_of_a_full_config(cfg_dir: Path, data: st.DataObject) -> None:
    op, path, value = data.draw(one_key_mutations(FULL_CONFIG))
    doc = mutated(FULL_CONFIG, path, op, value)
    p = cfg_dir / "mutated.toml"
    p.write_text(toml_dumps(doc))
    refused_or_accepted(tally("config: one-key mutations"), (op, path_text(path), value),
                        lambda: load_config(p, {}), ConfigError, config_error_checker(p),
                        check_config)


@pytest.mark.parametrize("data", [
    b"\xff\xfe[run]\n",  # not UTF-8
    b"[run]\nport = " + b"1" * 5000 + b"\n",  # an integer too long for Python to convert
    b"a = " + b"[" * 3000 + b"]" * 3000 + b"\n",  # nesting deeper than the recursion limit
    b"[run]\ntick_s = 1" + b"0" * 400 + b"\n",  # integers too large for a float
    b"[can]\nperiod_s = 1" + b"0" * 400 + b"\n",
    b"[instant_readout]\ninterval_s = 1" + b"0" * 400 + b"\n",
    b"[mqtt]\npublish_interval_s = 1" + b"0" * 400 + b"\n",
])
def test_undecodable_configs_are_config_errors(cfg_dir: Path, data: bytes) -> None:
    """Regression: these raised UnicodeDecodeError, ValueError, RecursionError and (the last
    four) OverflowError from math.isfinite on an integer no float can hold."""
    p = cfg_dir / "bad.toml"
    p.write_bytes(data)
    with pytest.raises(ConfigError, match=r"^" + str(p).replace(".", r"\.") + ": "):
        load_config(p, {})


# --- saved state ----------------------------------------------------------------------------------

GOOD_STATE = persistent_to_dict(initial_persistent(load_scenario(SCENARIO)))
GOOD_STATE["commissioned"] = {"model_id": "12.8/100", "serials": ["A1", "B2"], "series": 1,
                              "parallel": 2, "cells_per_battery": 4}
GOOD_STATE["history"]["last_errors"] = [["E-B01", 12.5]]
STATE_FIELDS = ("state", "format", "settings", "mode", "wireless_enabled", "monitor", "history",
                "commissioned")


def state_error_checker(e: PersistError) -> None:
    text = str(e)
    assert text.split(":", 1)[0].split(".", 1)[0] in STATE_FIELDS, f"no field named: {text}"
    assert ":" in text and text.split(":", 1)[1].strip(), text


def test_the_good_state_loads() -> None:
    from smallbms.catalog import CATALOGUE

    assert GOOD_STATE["commissioned"]["model_id"] in CATALOGUE
    p = persistent_from_dict(json.loads(json.dumps(GOOD_STATE)))
    assert persistent_to_dict(p) == GOOD_STATE


@fuzz_settings(ci=300)
@given(data=st.data())
def test_one_key_mutations_of_a_saved_state(data: st.DataObject) -> None:
    op, path, value = data.draw(one_key_mutations(GOOD_STATE, nulls=True))
    doc = mutated(GOOD_STATE, path, op, value)
    refused_or_accepted(tally("state: one-key mutations"), (op, path_text(path), value),
                        lambda: persistent_from_dict(doc), PersistError, state_error_checker)


@fuzz_settings(ci=150)
@given(doc=junk_values(nulls=True))
def test_random_json_state(doc: Any) -> None:
    refused_or_accepted(tally("state: random JSON values"), doc, lambda: persistent_from_dict(doc),
                        PersistError, state_error_checker)


@pytest.mark.parametrize("path, value", [
    (("history", "last_errors"), [["E-B01", "soon"]]),
    (("history", "last_errors"), [["E-B01", {}]]),
    (("commissioned", "model_id"), []),
    (("format",), True),
])
def test_damaged_fields_are_persist_errors(path: tuple[str, ...], value: Any) -> None:
    """Regression: a text time, a table time and a list model id raised ValueError/TypeError,
    and ``format = true`` passed for 1."""
    with pytest.raises(PersistError, match=r"^" + path[0]):
        persistent_from_dict(mutated(GOOD_STATE, path, "replace", value))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store(tmp_path_factory.mktemp("state-store") / "smallbms.sqlite3")
    s.save_state(GOOD_STATE)
    s.flush()
    yield s
    s.close()


damaged_bodies = st.one_of(
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    one_key_mutations(GOOD_STATE, nulls=True).map(
        lambda m: json.dumps(mutated(GOOD_STATE, m[1], m[0], m[2]))),
    junk_values(nulls=True).map(json.dumps),
)


@fuzz_settings(ci=80, scale=0.25)
@given(body=damaged_bodies)
def test_store_falls_back_past_a_damaged_newest_row(store: Store, body: str) -> None:
    """A damaged newest state row (written behind the store's back, as a torn disk might) is
    skipped and the last good state is loaded: nothing saved before is lost. A newest row that
    happens to be valid is loaded as it is."""
    t = tally("state: store with a damaged newest row")
    with checking(t, body):
        conn = sqlite3.connect(store.path)
        try:
            with conn:
                conn.execute("INSERT INTO state (saved_wall_s, body) VALUES (?, ?)", (1.0, body))
            loaded = store.load_state()
            try:
                valid = persistent_from_dict(json.loads(body))
            except (ValueError, PersistError):
                valid = None
            if valid is None:
                assert loaded == GOOD_STATE, "the last good state was not loaded"
                t.refusal()
            else:
                assert loaded == json.loads(body)
                t.ok()
        finally:
            with conn:
                conn.execute("DELETE FROM state WHERE saved_wall_s = 1.0")
            conn.close()
