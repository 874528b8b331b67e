"""Bad input: the byte-level formats the BMS sends, Instant Readout adverts and CAN-bus frames.

The product has no battery-bus frame parser: the batteries' reports reach the core as typed
:class:`~smallbms.core.types.BatteryReport` values (from the twin or a script), never as bytes.
What it does parse or build at the byte level is fuzzed here:

- Instant Readout: our decoders (:func:`decode_bms_record`, :func:`open_advert`) on arbitrary
  bytes fail only with ValueError, and what they decode encodes back to the same bytes; status
  dicts holding junk (wrong types, NaN, infinities, integers no float can hold) still make an
  advert that the public ``victron-ble`` decoder reads, each value either "not available" or
  clamped to the field's range, never wrapped around.
- CAN: :func:`decode_frame` on arbitrary frames fails only with ValueError, and the fields it
  decodes pack back into the same bytes; snapshots whose values are junk still give the full
  frame set, every frame decodable, values clamped or zero.

tests/integrations/ already round-trips well-formed states through both encoders (victron-ble
for Instant Readout, decode_frame for CAN); this file adds the malformed side.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smallbms.integrations import instant_readout as ir

from .fuzz_support import (
    EDGE_NUMBERS,
    checking,
    fuzz_settings,
    refused_or_accepted,
    scalars,
    tally,
)

can = pytest.importorskip("can")
victron_devices = pytest.importorskip("victron_ble.devices")

from smallbms.catalog import CATALOGUE  # noqa: E402
from smallbms.integrations import canbus  # noqa: E402
from smallbms.model.codes import CODE_INFO  # noqa: E402

RECORD_BITS = sum(bits for _, bits in ir.RECORD_LAYOUT)
#: Where the SoC field starts in the record (bit offset).
SOC_OFFSET = sum(bits for _, bits in ir.RECORD_LAYOUT[:[n for n, _ in ir.RECORD_LAYOUT].index("soc")])


# --- Instant Readout: our decoders on arbitrary bytes ----------------------------------------------

def _field(record: bytes, name: str) -> int:
    acc = int.from_bytes(record[:ir.RECORD_BYTES], "little")
    pos = 0
    for n, bits in ir.RECORD_LAYOUT:
        if n == name:
            return acc >> pos & ((1 << bits) - 1)
        pos += bits
    raise KeyError(name)


records = st.one_of(st.binary(max_size=40), st.binary(min_size=16, max_size=16).map(
    # SoC raw values past 1000 (100 %) are rare in random bytes: put some in
    lambda b: (int.from_bytes(b, "little") | (1010 << SOC_OFFSET)).to_bytes(17, "little")[:16]))


@fuzz_settings(ci=300)
@given(record=records)
def test_record_decoder_on_arbitrary_bytes(record: bytes) -> None:
    def check(values: ir.BmsValues) -> None:
        again = ir.encode_bms_record(values)
        want = int.from_bytes(record[:ir.RECORD_BYTES], "little") & ((1 << RECORD_BITS) - 1)
        soc_raw = _field(record, "soc")
        if ir.NA_SOC > soc_raw > 1000:  # past 100 %: the encoder clamps it to 100.0 %
            want = want & ~(ir.NA_SOC << SOC_OFFSET) | (1000 << SOC_OFFSET)
        assert again == want.to_bytes(ir.RECORD_BYTES, "little"), (record.hex(), again.hex())

    def refused(e: ValueError) -> None:
        assert len(record) < ir.RECORD_BYTES and str(len(record)) in str(e), e

    refused_or_accepted(tally("instant readout: record decoder, arbitrary bytes"), record,
                        lambda: ir.decode_bms_record(record), ValueError, refused, check)


@fuzz_settings(ci=300)
@given(key=st.binary(min_size=16, max_size=16), data=st.one_of(
    st.binary(max_size=40),
    st.tuples(st.binary(min_size=7, max_size=7), st.binary(max_size=30)).map(
        lambda parts: b"\x10" + parts[0][1:] + b"K" + parts[1]),  # product adverts, key byte 'K'
))
def test_open_advert_on_arbitrary_bytes(key: bytes, data: bytes) -> None:
    if len(data) >= 8 and data[0] == 0x10 and data[7:8] == b"K":
        key = b"K" + key[1:]  # half of these get past the key check and are decrypted

    def check(opened: ir.OpenedAdvert) -> None:
        sealed = ir.seal(key, opened.nonce, opened.record, opened.product_id, opened.record_type)
        assert sealed[0] == data[0] and sealed[2:] == data[2:], (data.hex(), sealed.hex())

    def refused(e: ValueError) -> None:
        assert "advertisement" in str(e), e

    refused_or_accepted(tally("instant readout: advert opener, arbitrary bytes"), (key, data),
                        lambda: ir.open_advert(key, data), ValueError, refused, check)


# --- Instant Readout: junk states still make a readable advert ----------------------------------

status_values = st.one_of(scalars(nulls=True), st.floats(-1e6, 1e6), st.sampled_from(EDGE_NUMBERS))
codes = st.lists(st.one_of(st.sampled_from(sorted(CODE_INFO)), st.text(max_size=6),
                           st.sampled_from(sorted(CODE_INFO)).map(lambda c: {"code": c})),
                 max_size=5)


def _number(x: Any) -> float | None:
    """The value the encoder should see: None for anything that is not a number."""
    if x is None or isinstance(x, bool) or not isinstance(x, int | float):
        return None
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def _expect(x: Any, lo: float, hi: float, resolution: float, got: float | None) -> None:
    v = _number(x)
    if v is None or math.isnan(v):
        assert got is None, (x, got)
        return
    assert got is not None, (x, got)
    if v >= hi:
        assert got == pytest.approx(hi), (x, got)
    elif v <= lo:
        assert got == pytest.approx(lo), (x, got)
    else:
        assert abs(got - v) <= resolution / 2 + 1e-9, (x, got)


@fuzz_settings(ci=200)
@given(status=st.fixed_dictionaries({}, optional={
    k: status_values for k in ("voltage_v", "current_a", "soc_pct", "time_remaining_s",
                               "max_temperature_c", "consumed_ah")}
) | st.fixed_dictionaries({}, optional={
    "allowed_to_charge": scalars(nulls=True), "allowed_to_discharge": scalars(nulls=True),
    "outputs": st.dictionaries(st.sampled_from(["pre_alarm", "x"]), scalars(nulls=True)),
}), active=codes, key=st.binary(min_size=16, max_size=16), nonce=st.integers(0, 0xFFFF))
def test_junk_status_makes_an_advert_victron_ble_reads(status: dict[str, Any], active: list[Any],
                                                       key: bytes, nonce: int) -> None:
    t = tally("instant readout: junk status -> advert -> victron-ble")
    with checking(t, (status, active)):
        values = ir.values_from_status(status, active)
        data = ir.InstantReadout(key, nonce=nonce).advert(values)
        parsed = victron_devices.LynxSmartBMS(key.hex()).parse(data)
        _expect(status.get("voltage_v"), -327.68, 327.66, 0.01, parsed.get_voltage())
        _expect(status.get("current_a"), -3276.8, 3276.6, 0.1, parsed.get_current())
        _expect(status.get("max_temperature_c"), -40, 86, 1.0, parsed.get_battery_temperature())
        soc = parsed.get_soc()
        soc = None if soc == ir.NA_SOC / 10 else soc  # victron-ble 0.9.3 misses this NA value
        _expect(status.get("soc_pct"), 0.0, 100.0, 0.1, soc)
        mine = ir.decode_bms_record(ir.open_advert(key, data).record)
        assert mine.voltage_v == parsed.get_voltage() and mine.current_a == parsed.get_current()
        t.ok()


# --- CAN: decode_frame on arbitrary frames ----------------------------------------------------

def _repacked(i: int, f: dict[str, Any]) -> bytes | None:
    """The bytes the decoded fields stand for (None for frames with text or spare bytes)."""
    if i == canbus.ID_LIMITS:
        return struct.pack("<HhhH", *(round(f[k] * 10) for k in (
            "charge_voltage_v", "charge_current_a", "discharge_current_a", "discharge_voltage_v")))
    if i == canbus.ID_SOC:
        return struct.pack("<HHH", round(f["soc_pct"]), round(f["soh_pct"]),
                           round(f["soc_hr_pct"] * 100)) + b"\0\0"
    if i == canbus.ID_MEASURE:
        return struct.pack("<hhh", round(f["voltage_v"] * 100), round(f["current_a"] * 10),
                           round(f["temperature_c"] * 10)) + b"\0\0"
    if i == canbus.ID_MODULES:
        return struct.pack("<HHHH", f["online"], f["blocking_charge"], f["blocking_discharge"],
                           f["offline"])
    if i == canbus.ID_CELLS:
        return struct.pack("<HHHH", round(f["min_cell_v"] * 1000), round(f["max_cell_v"] * 1000),
                           round(f["min_temperature_k"]), round(f["max_temperature_k"]))
    if i == canbus.ID_ALARMS:
        out = bytearray(8)
        for name, byte, bit in canbus.ALARM_FIELDS:
            out[byte] |= f[name] << bit
        return bytes(out)
    return None


def _mask(i: int, data: bytes) -> bytes:
    """The bytes of ``data`` that carry fields (spare bytes and bits zeroed)."""
    if i in (canbus.ID_SOC, canbus.ID_MEASURE):
        return data[:6] + b"\0\0"
    if i == canbus.ID_ALARMS:
        out = bytearray(8)
        for _, byte, bit in canbus.ALARM_FIELDS:
            out[byte] |= data[byte] & (0b11 << bit)
        return bytes(out)
    return data[:8]


frame_ids = st.one_of(st.sampled_from(canbus.FRAME_IDS), st.integers(0, 0x7FF))


@fuzz_settings(ci=300)
@given(arbitration_id=frame_ids, extended=st.sampled_from([False, False, False, True]),
       data=st.binary(min_size=8, max_size=8) | st.binary(max_size=8))
def test_decode_frame_on_arbitrary_frames(arbitration_id: int, extended: bool, data: bytes) -> None:
    msg = can.Message(arbitration_id=arbitration_id, is_extended_id=extended, data=data)

    def check(fields: dict[str, Any]) -> None:
        assert not extended and len(data) == 8 and arbitration_id in canbus.FRAME_IDS
        packed = _repacked(arbitration_id, fields)
        if packed is not None:
            assert packed == _mask(arbitration_id, data), (hex(arbitration_id), data.hex(), fields)

    def refused(e: ValueError) -> None:
        assert str(e).strip(), e

    refused_or_accepted(tally("can: decode_frame, arbitrary frames"),
                        (hex(arbitration_id), extended, data),
                        lambda: canbus.decode_frame(msg), ValueError, refused, check)


# --- CAN: junk snapshots still give a full, decodable frame set ---------------------------------

_STATUS_KEYS = ("soc_pct", "voltage_v", "current_a", "min_cell_v", "max_cell_v",
                "min_temperature_c", "max_temperature_c", "balancer")


@st.composite
def junk_snapshots(draw: st.DrawFn) -> dict[str, Any]:
    """Snapshots of the right shape whose values are anything: wrong types, NaN, infinities,
    integers too large for a float, unknown models, negative counts."""
    status = draw(st.fixed_dictionaries({}, optional={
        **{k: status_values for k in _STATUS_KEYS},
        "outputs": st.fixed_dictionaries({}, optional={
            "load_disconnect": st.sampled_from(["high", "floating"]) | scalars(nulls=True),
            "charge_disconnect": st.sampled_from(["high", "floating"]) | scalars(nulls=True)}),
        "charge_reasons": st.lists(st.sampled_from(["low_temperature", "high_cell_voltage"])
                                   | st.text(max_size=5), max_size=3),
    }))
    bank = draw(st.none() | st.fixed_dictionaries({}, optional={
        "model_id": st.sampled_from(sorted(CATALOGUE)) | scalars(nulls=True),
        "series": scalars(nulls=True) | st.integers(-2, 4),
        "parallel": scalars(nulls=True) | st.integers(-2, 10),
        "batteries": scalars(nulls=True) | st.integers(-2, 40),
        "capacity_ah": status_values,
    }))
    batteries = draw(st.lists(st.fixed_dictionaries({}, optional={
        "reporting": scalars(nulls=True)}), max_size=6))
    snap: dict[str, Any] = {"status": status, "batteries": batteries,
                            "active_codes": draw(codes)}
    if bank is not None:
        snap["bank"] = bank
    return snap


def _in_field(x: Any, got: float, lo: float, hi: float) -> None:
    """A value is zero when unknown, else it keeps its sign and stays in the field: no wrap."""
    v = _number(x)
    if v is None or not math.isfinite(v):
        assert got == 0, (x, got)
        return
    assert lo <= got <= hi, (x, got)
    if v > 0:
        assert got >= 0, (x, got)
    elif v < 0:
        assert got <= 0, (x, got)


@fuzz_settings(ci=200)
@given(snap=junk_snapshots(), stale=st.booleans(),
       limit=st.sampled_from(canbus.CHARGE_LIMITS))
def test_junk_snapshots_give_a_full_decodable_frame_set(snap: dict[str, Any], stale: bool,
                                                        limit: Any) -> None:
    t = tally("can: junk snapshot -> frame set -> decode")
    with checking(t, (snap, stale)):
        frames = canbus.frames_from_snapshot(snap, stale=stale, charge_limit=limit)
        assert [f.arbitration_id for f in frames] == list(canbus.FRAME_IDS)
        assert all(len(f.data) == canbus.DLC and not f.is_extended_id for f in frames)
        f = canbus.decode_frames(frames)
        status = snap["status"]
        _in_field(status.get("voltage_v"), f[canbus.ID_MEASURE]["voltage_v"], -327.68, 327.67)
        _in_field(status.get("current_a"), f[canbus.ID_MEASURE]["current_a"], -3276.8, 3276.7)
        soc = f[canbus.ID_SOC]["soc_hr_pct"]
        assert 0 <= soc <= 100, soc
        if stale:
            assert f[canbus.ID_LIMITS]["charge_current_a"] == 0
            assert f[canbus.ID_LIMITS]["discharge_current_a"] == 0
            assert f[canbus.ID_ALARMS]["internal_failure_alarm"] == canbus.FLAG_ACTIVE
        if not isinstance(snap.get("bank"), dict) or snap["bank"].get("model_id") not in CATALOGUE:
            assert f[canbus.ID_LIMITS] == {"charge_voltage_v": 0, "charge_current_a": 0,
                                           "discharge_current_a": 0, "discharge_voltage_v": 0}
        assert f[canbus.ID_NAME]["manufacturer"] == "SMALLBMS"
        t.ok()


def test_values_past_the_float_range_once_scaled_are_clamped() -> None:
    """Regression: 1e308 V (finite) overflowed when scaled and 10**400 could not become a float:
    both raised OverflowError, which stopped the CAN and Instant Readout threads for good."""
    frames = canbus.decode_frames(canbus.frames_from_snapshot(
        {"status": {"min_cell_v": 1e308, "voltage_v": 10**400}}))
    assert frames[canbus.ID_CELLS]["min_cell_v"] == 65.535
    assert frames[canbus.ID_MEASURE]["voltage_v"] == 0  # not a usable number: unknown
    record = ir.decode_bms_record(ir.encode_bms_record(
        ir.values_from_status({"voltage_v": 1e308, "current_a": -(10**400)}, [])))
    assert record.voltage_v == 327.66 and record.current_a == -3276.8
