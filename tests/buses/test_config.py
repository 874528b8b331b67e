"""The [bus] table: defaults, values and refusals that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from smallbms.buses.config import BusTable
from smallbms.schema import first_problem

KEY = "0df4d0395b7d1a876c0c33ecb9e70dcd"


def problem(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as e:
        BusTable.model_validate(data)
    key, message = first_problem(e.value)
    return f"{key}: {message}"


def test_the_twin_is_the_default() -> None:
    t = BusTable.model_validate({})
    assert t.kind == "twin" and t.devices == [] and t.stale_after_s == 3.0


def test_a_victron_bank_with_a_shunt() -> None:
    t = BusTable.model_validate({"kind": "victron-ble", "devices": [
        {"address": "c0:3b:12:34:56:78", "key": KEY.upper(), "model": "smart-12.8/100"},
        {"address": "C0:3B:12:34:56:79", "key": KEY, "role": "shunt"}]})
    assert t.batteries[0].address == "C0:3B:12:34:56:78"
    assert t.batteries[0].key == KEY
    assert t.shunt is not None and t.shunt.role == "shunt"


@pytest.mark.parametrize(("data", "words"), [
    ({"kind": "victron-ble", "devices": [{"address": "C0:3B:12:34:56:78", "model": "12.8/100"}]},
     "needs its `key`"),
    ({"kind": "victron-ble", "devices": [{"address": "C0:3B:12:34:56:78", "key": "abc",
                                          "model": "12.8/100"}]}, "32 hex characters"),
    ({"kind": "mqtt", "devices": [{"address": "bms 1", "model": "12.8/100"}]}, "Bluetooth address"),
    ({"kind": "mqtt", "devices": [{"address": "b1"}]}, "catalogue `model`"),
    ({"kind": "mqtt", "devices": [{"address": "b1", "model": "12.8/99"}]}, "not in the catalogue"),
    ({"kind": "mqtt", "devices": [{"address": "b1", "model": "custom"}]}, "[bus.custom]"),
    ({"kind": "mqtt", "devices": [{"address": "b1", "model": "12.8/100"},
                                  {"address": "b2", "model": "12.8/200"}]}, "one model"),
    ({"kind": "mqtt", "devices": [{"address": "b1", "model": "12.8/100"},
                                  {"address": "b1", "model": "12.8/100"}]}, "listed twice"),
    ({"kind": "mqtt"}, "at least one"),
    ({"kind": "aiobmsble", "devices": [{"address": "b1", "model": "12.8/100"}]}, "`bms`"),
    ({"kind": "twin-ble", "devices": [{"address": "b1", "model": "12.8/100"}]}, "leave out"),
    ({"kind": "mqtt", "stale_after_s": 6, "devices": [{"address": "b1", "model": "12.8/100"}]},
     "between 0.5 and 4.5 s"),
    ({"kind": "mqtt", "custom": {"cells_in_series": 5}, "devices": [
        {"address": "b1", "model": "custom"}]}, "4, 8 or 16"),
    ({"kind": "mqtt", "devices": [{"address": "b1", "model": "12.8/100", "colour": 1}]},
     "unknown key 'colour'"),
])
def test_refusals_name_the_problem(data: dict[str, Any], words: str) -> None:
    assert words in problem(data)


def test_custom_battery_defaults_from_capacity() -> None:
    t = BusTable.model_validate({"kind": "mqtt", "custom": {"cells_in_series": 8, "capacity_ah": 280},
                                 "devices": [{"address": "b1", "model": "custom"}]})
    assert t.custom is not None
    m = t.custom.model()
    assert (m.model_id, m.cells_in_series, m.nominal_voltage_v, m.cont_discharge_a) == (
        "custom", 8, 25.6, 280.0)


def test_run_config_file_takes_the_bus_table(tmp_path: Path) -> None:
    from smallbms.errors import ConfigError
    from smallbms.service.config import load_config

    cfg = tmp_path / "run.toml"
    cfg.write_text(f'[bus]\nkind = "victron-ble"\nreplay = "boat.jsonl"\n[[bus.devices]]\n'
                   f'address = "C0:3B:00:00:00:01"\nkey = "{KEY}"\nmodel = "smart-12.8/100"\n')
    bus = load_config(cfg, {}).bus
    assert bus.kind == "victron-ble"
    assert bus.replay == str(tmp_path / "boat.jsonl")  # relative to the configuration file
    assert load_config(None, {}).bus is None  # no [bus]: the twin
    cfg.write_text('[bus]\nkind = "victron"\n')
    with pytest.raises(ConfigError, match=r"bus\.kind: unknown value 'victron' \(did you mean"):
        load_config(cfg, {})
