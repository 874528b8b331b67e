"""aiobmsble samples (the reference outputs of aiobmsble's own tests for JBD, Daly and Seplos
boards, see data/README.md) through our adapter and the gate to a Reading."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from smallbms.buses.aiobmsble import Sample, SampleError, aiobmsble_decoder, sample_values
from smallbms.buses.build import bank_model
from smallbms.buses.config import BusTable
from smallbms.buses.gate import Gate
from smallbms.catalog import CATALOGUE

SAMPLES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "aiobmsble_samples.json").read_text(encoding="utf-8"))


def gate_for(bms: str, cells: int) -> Gate:
    t = BusTable.model_validate({
        "kind": "aiobmsble", "custom": {"cells_in_series": cells, "capacity_ah": 100},
        "devices": [{"address": "AA:BB:CC:00:00:01", "model": "custom", "bms": bms}]})
    return Gate(t, bank_model(t))


def test_jbd_sample_to_a_reading() -> None:
    g = gate_for("jbd_bms", 4)
    aiobmsble_decoder(1.0, Sample("AA:BB:CC:00:00:01", SAMPLES["jbd_bms"]["sample"]), g)
    r = g.reading(1.0)
    (b,) = r.batteries
    assert b is not None
    assert b.cell_voltages_v == (3.43, 3.425, 3.432, 3.417)
    assert b.temperature_c == 21.7  # of 22.4, 22.3, 21.7: the farthest from 25 °C
    assert r.current_a == -2.87
    assert b.model_id == "custom" and CATALOGUE["custom"].cells_in_series == 4


def test_daly_sample_takes_the_hottest_sensor() -> None:
    v = sample_values(SAMPLES["daly_bms"]["sample"])
    assert v.cells_v == (4.127, 4.137, 4.147, 4.157)
    assert v.temperature_c == 38.0  # the MOS sensor
    assert v.current_a == 3.0 and v.voltage_v == 14.0
    g = gate_for("daly_bms", 4)
    aiobmsble_decoder(0.0, Sample("AA:BB:CC:00:00:01", SAMPLES["daly_bms"]["sample"]), g)
    assert g.reading(0.0).batteries[0] is not None


def test_seplos_two_pack_sample_is_refused_as_one_battery(caplog: pytest.LogCaptureFixture) -> None:
    g = gate_for("seplos_bms", 16)
    aiobmsble_decoder(0.0, Sample("AA:BB:CC:00:00:01", SAMPLES["seplos_bms"]["sample"]), g)
    assert g.reading(0.0).batteries == ()
    assert "32 cell voltages" in caplog.text and "AA:BB:CC:00:00:01" in caplog.text


@pytest.mark.parametrize(("sample", "why"), [
    ({}, "no cell voltages"),
    ({"cell_voltages": [3.3, "x"]}, "not a number"),
    ({"cell_voltages": [3.3]}, "no temperature"),
])
def test_incomplete_samples_are_clear_errors(sample: dict[str, Any], why: str) -> None:
    with pytest.raises(SampleError, match=why):
        sample_values(sample)


class _Unreadable:
    """A sensor object whose value cannot be read (``float()`` fails)."""

    def __float__(self) -> float:
        raise ValueError("sensor offline")


@pytest.mark.parametrize("broken", [math.nan, "n/a", None, True, _Unreadable()])
def test_spec19_a_broken_temperature_sensor_refuses_the_sample(broken: object) -> None:
    # one hot sensor and one broken one: the broken one must not leave the rest to speak for
    # the battery, so the whole sample is refused rather than read as the cooler sensors
    sample = {"cell_voltages": [3.3] * 4, "temp_values": [24.0, broken, 23.0]}
    with pytest.raises(SampleError, match="temperature sensor"):
        sample_values(sample)


def test_spec19_a_broken_temperature_sensor_is_refused_by_the_decoder(
        caplog: pytest.LogCaptureFixture) -> None:
    g = gate_for("jbd_bms", 4)
    sample = {"cell_voltages": [3.3] * 4, "temp_values": [22.0, math.nan]}
    aiobmsble_decoder(0.0, Sample("AA:BB:CC:00:00:01", sample), g)
    assert g.reading(0.0).batteries == ()  # no reading: the comms-lost rules take over
    assert sum(g.refused.values()) == 1
    assert "temperature sensor" in caplog.text


@pytest.mark.parametrize("key", ["cell_voltages", "temp_values", "voltage"])
def test_an_integer_too_large_for_a_float_is_not_a_crash(key: str) -> None:
    huge = 10 ** 400  # float() of this raises OverflowError
    sample: dict[str, Any] = {"cell_voltages": [3.3] * 4, "temp_values": [22.0], "voltage": 13.2}
    sample[key] = [huge] * 4 if key == "cell_voltages" else [huge] if key == "temp_values" else huge
    if key == "voltage":
        assert sample_values(sample).voltage_v is None  # unknown, not a crash
    else:
        with pytest.raises(SampleError, match="not a number"):
            sample_values(sample)
