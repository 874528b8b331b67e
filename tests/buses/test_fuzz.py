"""Hypothesis: no decoder and no parser crashes on any input; each fails with its own clear error."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smallbms.buses.aiobmsble import SampleError, sample_values
from smallbms.buses.build import bank_model
from smallbms.buses.capture import CaptureError, parse_line, parse_lines
from smallbms.buses.gate import BatteryValues, Gate, ShuntValues
from smallbms.buses.mqtt import parse_payload
from smallbms.buses.victron import (
    PRODUCT_SMART_LITHIUM,
    RECORD_BATTERY_MONITOR,
    RECORD_SMART_LITHIUM,
    DecodeError,
    advert,
    decode,
    encode_smart_lithium,
)
from tests.buses.helpers import BATTERY, BATTERY_KEY, SHUNT, table

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = bytes.fromhex(BATTERY_KEY)
floats = st.floats(allow_nan=True, allow_infinity=True)


@FUZZ
@given(st.binary(max_size=64))
def test_victron_decode_of_any_bytes(data: bytes) -> None:
    try:
        decode(data, BATTERY_KEY)
    except DecodeError as e:
        assert str(e)


@FUZZ
@given(st.sampled_from([RECORD_SMART_LITHIUM, RECORD_BATTERY_MONITOR, 0x0A, 0x01]),
       st.binary(min_size=0, max_size=32), st.integers(0, 0xFFFF))
def test_victron_decode_of_any_record_under_the_right_key(kind: int, record: bytes, nonce: int) -> None:
    data = advert(KEY, nonce, record, kind, PRODUCT_SMART_LITHIUM)
    try:
        decode(data, BATTERY_KEY)
    except DecodeError as e:
        assert str(e)


@FUZZ
@given(st.lists(st.floats(2.61, 3.85), min_size=1, max_size=8), st.floats(0, 40.9),
       st.integers(-40, 86))
def test_smart_lithium_round_trip_within_resolution(cells: list[float], volts: float, temp: int) -> None:
    data = advert(KEY, 7, encode_smart_lithium(cells, volts, temp), RECORD_SMART_LITHIUM,
                  PRODUCT_SMART_LITHIUM)
    got = decode(data, BATTERY_KEY)
    assert isinstance(got, BatteryValues)
    assert len(got.cells_v) == len(cells)
    assert all(abs(a - b) <= 0.005 + 1e-9 for a, b in zip(got.cells_v, cells, strict=True))
    assert got.temperature_c == temp
    assert got.voltage_v is not None and abs(got.voltage_v - volts) <= 0.005 + 1e-9


@FUZZ
@given(st.text(max_size=200))
def test_capture_line_of_any_text(text: str) -> None:
    try:
        parse_line(text)
    except CaptureError as e:
        assert str(e)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | floats | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@FUZZ
@given(st.fixed_dictionaries({}, optional={
    "t": json_values, "address": json_values, "manufacturer_id": json_values, "data": json_values,
    "rssi": json_values}))
def test_capture_line_of_any_object(d: dict[str, Any]) -> None:
    try:
        list(parse_lines([json.dumps(d)]))
    except CaptureError as e:
        assert str(e)


@FUZZ
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()),
       st.sampled_from(["battery", "shunt"]))
def test_mqtt_payload_of_anything(payload: bytes, role: str) -> None:
    try:
        parse_payload(payload, role)
    except ValueError as e:
        assert str(e)


@FUZZ
@given(st.dictionaries(st.sampled_from(["cell_voltages", "temp_values", "temperature", "voltage",
                                        "current"]), json_values))
def test_aiobmsble_sample_of_anything(sample: dict[str, Any]) -> None:
    try:
        sample_values(sample)
    except SampleError as e:
        assert str(e)


@FUZZ
@given(st.lists(st.tuples(st.floats(0, 100), st.lists(floats, max_size=6), floats | st.none(),
                          floats | st.none(), floats | st.none()), max_size=10))
def test_gate_never_crashes_and_passes_only_plausible_values(
        msgs: list[tuple[float, list[float], float | None, float | None, float | None]]) -> None:
    t = table()
    g = Gate(t, bank_model(t))
    for at, cells, temp, volts, amps in sorted(msgs, key=lambda m: m[0]):
        g.battery(BATTERY, at, BatteryValues(tuple(cells), temp, volts, amps))
        g.shunt_values(SHUNT, at, ShuntValues(amps, volts))
        r = g.reading(at)
        for b in r.batteries:
            if b is not None:
                assert all(1.5 <= c <= 4.5 for c in b.cell_voltages_v)
                assert -40 <= b.temperature_c <= 100
        assert r.current_a is None or math.isfinite(r.current_a)
        assert math.isfinite(r.bank_voltage_v)
