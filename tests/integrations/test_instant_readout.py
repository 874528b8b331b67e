"""Instant Readout adverts, checked against the public ``victron-ble`` decoder (a test dependency)."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smallbms.integrations import instant_readout as ir
from smallbms.integrations.instant_readout import (
    BmsValues,
    InstantReadout,
    InstantReadoutConfig,
    InstantReadoutService,
    LogBroadcaster,
)
from smallbms.model.codes import CODES

victron_devices = pytest.importorskip("victron_ble.devices")
victron_exceptions = pytest.importorskip("victron_ble.exceptions")
LynxSmartBMS = victron_devices.LynxSmartBMS
detect_device_type = victron_devices.detect_device_type

# Published vectors from the victron-ble test suite (real devices).
BM_KEY = "aff4d0995b7d1e176c0c33ecb9e70dcd"
BM_ADVERT = "100289a302b040af925d09a4d89aa0128bdef48c6298a9"  # SmartShunt, record 0x02
BM_PLAIN = "ffffe50400000000030000f40140df03"  # its decrypted record (padded to 16 bytes)
LYNX_PLAIN = (b"\x00@8\x8b\n\xfa\xff\x95\x15U\x14\x8c\xcf\x02\x00\xff\xb3\xea\xf1t\xd6\xfczHT"
              b"\xb8\xec\x00\x86\t\xe9\xca")  # a Lynx Smart BMS record 0x0A


def _opt(strategy: st.SearchStrategy[float]) -> st.SearchStrategy[float | None]:
    return st.none() | strategy


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


bms_values = st.builds(
    BmsValues,
    voltage_v=_opt(_floats(-327.68, 327.66)),
    current_a=_opt(_floats(-3276.8, 3276.6)),
    soc_pct=_opt(_floats(0.0, 100.0)),
    time_remaining_s=_opt(_floats(0.0, 65534 * 60.0)),
    temperature_c=_opt(_floats(-40.0, 86.0)),
    consumed_ah=_opt(_floats(-104857.4, 0.0)),
    error_code=st.integers(0, 255),
    alarm_flags=st.integers(0, (1 << 18) - 1),
    io_status=st.integers(0, 0xFFFF),
)


def _close(decoded: float | None, sent: float | None, resolution: float) -> bool:
    if sent is None:
        return decoded is None
    return decoded is not None and abs(decoded - sent) <= resolution / 2 + 1e-9


@settings(max_examples=600, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(values=bms_values, key=st.binary(min_size=16, max_size=16), nonce=st.integers(0, 0xFFFF))
def test_victron_ble_decodes_every_state(values: BmsValues, key: bytes, nonce: int) -> None:
    readout = InstantReadout(key, nonce=nonce)
    data = readout.advert(values)
    assert data[:2] == b"\x10\x02"
    assert int.from_bytes(data[2:4], "little") == ir.PRODUCT_ID
    assert data[4] == ir.RECORD_TYPE_BMS
    assert int.from_bytes(data[5:7], "little") == nonce
    assert data[7] == key[0]
    assert len(data) == ir.HEADER_BYTES + ir.RECORD_BYTES
    assert detect_device_type(data) is LynxSmartBMS

    parsed = LynxSmartBMS(key.hex()).parse(data)
    assert _close(parsed.get_voltage(), values.voltage_v, 0.01)
    assert _close(parsed.get_current(), values.current_a, 0.1)
    mins = parsed.get_remaining_mins()
    assert _close(None if mins is None else mins * 60.0, values.time_remaining_s, 60.0)
    assert _close(parsed.get_battery_temperature(), values.temperature_c, 1.0)
    cah = parsed.get_consumed_ah()  # victron-ble reports the positive count
    assert _close(None if cah is None else -cah, values.consumed_ah, 0.1)
    if values.soc_pct is None:
        # the layout's NA is 0x3FF; victron-ble 0.9.3 compares against 0x3FFF and shows 102.3
        assert parsed.get_soc() in (None, ir.NA_SOC / 10)
    else:
        assert _close(parsed.get_soc(), values.soc_pct, 0.1)
    assert parsed.get_error_flags() == values.error_code
    assert parsed.get_alarm_flags() == values.alarm_flags
    assert parsed.get_io_status() == values.io_status

    # our own decoder agrees, and re-encoding what it decoded gives the same record
    opened = ir.open_advert(key, data)
    assert (opened.product_id, opened.record_type, opened.nonce) == (ir.PRODUCT_ID, 0x0A, nonce)
    mine = ir.decode_bms_record(opened.record)
    assert mine.soc_pct == (None if values.soc_pct is None else parsed.get_soc())
    assert ir.encode_bms_record(mine) == opened.record


def test_nonce_changes_with_new_payloads_only_and_wraps() -> None:
    key = bytes(range(16))
    readout = InstantReadout(key, nonce=0xFFFE)
    a = BmsValues(voltage_v=13.2)
    b = BmsValues(voltage_v=13.3)
    first = readout.advert(a)
    assert readout.advert(a) == first  # same payload: the same advert again
    second = readout.advert(b)
    third = readout.advert(a)  # back to a: still a new advert, with a new nonce
    nonces = [int.from_bytes(x[5:7], "little") for x in (first, second, third)]
    assert nonces == [0xFFFE, 0xFFFF, 0]
    assert third != first
    assert readout.next_nonce == 1


def test_default_nonce_start_is_random_but_valid() -> None:
    starts = {InstantReadout(bytes(16)).next_nonce for _ in range(20)}
    assert len(starts) > 1
    assert all(0 <= n < ir.NONCE_MODULUS for n in starts)


def test_wrong_key_gives_garbage_or_is_refused() -> None:
    key = bytes.fromhex("00112233445566778899aabbccddeeff")
    values = BmsValues(voltage_v=26.5, current_a=-12.3, soc_pct=55.5, time_remaining_s=3600,
                       temperature_c=21, consumed_ah=-40.2, io_status=ir.io_status(True, True, False))
    data = InstantReadout(key, nonce=7).advert(values)
    right = LynxSmartBMS(key.hex()).parse(data)
    # same check byte, different key: decodes, but to other values
    other = key[:1] + bytes(15)
    wrong = LynxSmartBMS(other.hex()).parse(data)
    assert wrong._data != right._data
    assert ir.decode_bms_record(ir.open_advert(other, data).record) != ir.decode_bms_record(
        ir.open_advert(key, data).record)
    # a different first byte: refused by the check byte
    with pytest.raises(victron_exceptions.AdvertisementKeyMismatchError):
        LynxSmartBMS("ff" + key.hex()[2:]).parse(data)
    with pytest.raises(ValueError, match="another key"):
        ir.open_advert(b"\xff" + key[1:], data)


def test_our_decoder_reads_victron_ble_published_battery_monitor_vector() -> None:
    opened = ir.open_advert(bytes.fromhex(BM_KEY), bytes.fromhex(BM_ADVERT))
    assert opened.product_id == 0xA389  # SmartShunt 500A/50mV
    assert opened.record_type == 0x02
    assert opened.nonce == 0x40B0
    assert opened.record == bytes.fromhex(BM_PLAIN)[:15]  # the record is 15 bytes on the air
    assert int.from_bytes(opened.record[2:4], "little") / 100 == 12.53  # voltage field


def test_our_decoder_reads_victron_ble_published_lynx_record() -> None:
    v = ir.decode_bms_record(LYNX_PLAIN)
    assert v.voltage_v == 26.99
    assert v.current_a == -0.6
    assert v.soc_pct == 99.5
    assert v.consumed_ah == -4.4
    assert v.temperature_c is None
    assert v.time_remaining_s == 14400 * 60
    assert (v.error_code, v.alarm_flags, v.io_status) == (0, 5205, 5525)


def test_unknowns_use_the_layout_na_values() -> None:
    record = ir.encode_bms_record(BmsValues())
    raw = int.from_bytes(record, "little")
    fields = {}
    for name, bits in ir.RECORD_LAYOUT:
        fields[name] = raw & ((1 << bits) - 1)
        raw >>= bits
    assert fields == {"error": 0, "time_to_go": 0xFFFF, "voltage": 0x7FFF, "current": 0x7FFF,
                      "io_status": 0, "alarms": 0, "soc": 0x3FF, "consumed": 0xFFFFF,
                      "temperature": 0x7F}
    assert ir.decode_bms_record(record) == BmsValues()


def test_out_of_range_values_are_clamped_and_nan_is_unknown() -> None:
    v = ir.decode_bms_record(ir.encode_bms_record(BmsValues(
        voltage_v=400.0, current_a=-5000.0, soc_pct=150.0, time_remaining_s=60 * 86400.0,
        temperature_c=120.0, consumed_ah=5.0)))
    assert (v.voltage_v, v.current_a, v.soc_pct) == (327.66, -3276.8, 100.0)
    assert (v.time_remaining_s, v.temperature_c, v.consumed_ah) == (65534 * 60.0, 86.0, 0.0)
    v = ir.decode_bms_record(ir.encode_bms_record(BmsValues(
        voltage_v=math.nan, temperature_c=-80.0, soc_pct=-3.0, consumed_ah=-1e9)))
    assert v.voltage_v is None
    assert (v.temperature_c, v.soc_pct, v.consumed_ah) == (-40.0, 0.0, -104857.4)
    with pytest.raises(ValueError, match="alarm_flags"):
        BmsValues(alarm_flags=1 << 18)


STATUS: dict[str, Any] = {
    "powered": True, "mode": "on", "soc_pct": 79.6, "voltage_v": 13.21, "current_a": -20.0,
    "power_w": -264.2, "consumed_ah": -20.4, "time_remaining_s": 12870, "min_cell_v": 3.3,
    "max_cell_v": 3.31, "min_temperature_c": 24.0, "max_temperature_c": 25.4,
    "allowed_to_charge": True, "allowed_to_discharge": "pre-alarm",
    "outputs": {"load_disconnect": "high", "charge_disconnect": "high", "pre_alarm": "high"},
    "wireless_available": True,
}


def test_values_from_status_maps_codes_and_outputs() -> None:
    codes = [{"code": "W-B07", "name": "Low SoC"}, {"code": "A-B09"}, {"code": "E-B05"},
             {"code": "E-B11"}]
    v = ir.values_from_status(STATUS, codes)
    assert (v.voltage_v, v.current_a, v.soc_pct) == (13.21, -20.0, 79.6)
    assert (v.time_remaining_s, v.temperature_c, v.consumed_ah) == (12870.0, 25.4, -20.4)
    assert v.error_code == 5  # the first error in code-table order
    assert v.alarm_flags == (ir.LEVEL_OK << ir.SLOT_LOW_CELL_VOLTAGE
                             | ir.LEVEL_OK << ir.SLOT_BMS_CABLE
                             | ir.LEVEL_WARNING << ir.SLOT_LOW_SOC
                             | ir.LEVEL_ALARM << ir.SLOT_HIGH_TEMPERATURE)
    assert v.io_status == (ir.IO_ON << ir.IO_ALLOWED_TO_CHARGE | ir.IO_ON << ir.IO_ALLOWED_TO_DISCHARGE
                           | ir.IO_ON << ir.IO_EXTERNAL_RELAY)
    # warning and alarm on one item: the alarm wins; no codes: all supervised items ok
    assert ir.alarm_flags(["W-B01", "A-B01"]) & 0b11 == ir.LEVEL_ALARM
    assert ir.alarm_flags([]) == sum(ir.LEVEL_OK << s for s in ir.SUPERVISED_SLOTS)


def test_record_items_follow_the_code_table() -> None:
    no_codes = ir.alarm_flags([])
    for info in CODES:
        if info.kind == "error":
            assert ir.error_code([info.code]) == ir.ERROR_NUMBERS[info.code]
            assert ir.alarm_flags([info.code]) == no_codes
        else:
            level = ir.alarm_flags([info.code]) >> ir.CODE_SLOTS[info.code] & 0b11
            assert level == (ir.LEVEL_WARNING if info.kind == "warning" else ir.LEVEL_ALARM)
            assert ir.error_code([info.code]) == 0
        relay = ir.values_from_status({}, [info.code]).io_status >> ir.IO_EXTERNAL_RELAY & 0b11
        assert relay == (ir.IO_ON if info.pre_alarm else ir.IO_OFF), info.code
    # Victron's BMS error numbers, which our error codes carry
    assert ir.ERROR_NUMBERS == {"E-B01": 1, "E-B05": 5, "E-B09": 9, "E-B11": 11}
    assert ir.alarm_flags(["W-B99"]) == no_codes and ir.error_code(["E-B99"]) == 0


def test_values_from_a_sample_line_with_unknown_soc() -> None:
    sample = {"soc_pct": None, "voltage_v": 12.9, "current_a": 0.0, "power_w": 0.0,
              "consumed_ah": None, "time_remaining_s": None, "min_cell_v": 3.2,
              "max_cell_v": 3.3, "temperature_c": None, "allowed_to_charge": False,
              "allowed_to_discharge": "no", "mode": "on"}
    v = ir.values_from_status(sample, ("W-B05", "A-B05"))
    assert (v.soc_pct, v.time_remaining_s, v.temperature_c, v.consumed_ah) == (None,) * 4
    assert (v.alarm_flags >> ir.SLOT_LOW_SOC) & 0b11 == ir.LEVEL_NA  # unknown SoC: not watched
    assert (v.alarm_flags >> ir.SLOT_BMS_CABLE) & 0b11 == ir.LEVEL_ALARM
    assert v.io_status == (ir.IO_OFF << ir.IO_ALLOWED_TO_CHARGE | ir.IO_OFF << ir.IO_ALLOWED_TO_DISCHARGE
                           | ir.IO_ON << ir.IO_EXTERNAL_RELAY)  # a warning holds the pre-alarm


def test_simulate_adverts_are_reproducible_and_decodable() -> None:
    key = ir.key_for_seed(1)
    assert key == ir.key_for_seed(1) != ir.key_for_seed(2)
    assert len(key) == 16
    sample = {"soc_pct": 79.6, "voltage_v": 13.21, "current_a": -20.0, "consumed_ah": -0.33,
              "time_remaining_s": 12870, "temperature_c": 25.0, "allowed_to_charge": True,
              "allowed_to_discharge": "yes", "mode": "on"}
    hexes = [ir.advert_hex_for_sample(InstantReadout(key, nonce=0), sample, ()) for _ in range(2)]
    assert hexes[0] == hexes[1]
    assert hexes[0].startswith("1002eca30a0000")
    parsed = LynxSmartBMS(key.hex()).parse(bytes.fromhex(hexes[0]))
    assert parsed.get_voltage() == 13.21
    assert parsed.get_soc() == 79.6


def test_keys() -> None:
    assert len(ir.new_key()) == 16
    assert ir.new_key() != ir.new_key()
    assert ir.parse_key("00" * 15 + "Ff") == bytes(15) + b"\xff"
    for bad in ("00" * 15, "zz" * 16, "00" * 17):
        with pytest.raises(ValueError):
            ir.parse_key(bad)
    with pytest.raises(ValueError):
        InstantReadout(bytes(15))


class DictStore:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get_secret(self, name: str) -> str | None:
        return self.values.get(name)

    def set_secret(self, name: str, value: str) -> None:
        self.values[name] = value


def test_key_is_made_once_per_device_and_can_be_regenerated(
        caplog: pytest.LogCaptureFixture) -> None:
    store = DictStore()
    key = ir.ensure_key(store)
    assert store.values == {"instant_readout_key": key.hex()}
    assert ir.ensure_key(store) == key
    new = ir.regenerate_key(store)
    assert new != key and ir.ensure_key(store) == new
    store.values["instant_readout_key"] = "garbage"
    fresh = ir.ensure_key(store)
    assert store.values["instant_readout_key"] == fresh.hex()
    assert "unreadable" in caplog.text


def test_config_from_table() -> None:
    assert InstantReadoutConfig.from_table({}, "f.toml") == InstantReadoutConfig()
    cfg = InstantReadoutConfig.from_table(
        {"enabled": True, "interval_s": 2, "key_hex": "AB" * 16}, "f.toml")
    assert cfg == InstantReadoutConfig(True, 2.0, "ab" * 16)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"enabled": 1}, "instant_readout.enabled"),
        ({"interval_s": 0}, "instant_readout.interval_s"),
        ({"interval_s": True}, "instant_readout.interval_s"),
        ({"interval_s": math.inf}, "instant_readout.interval_s"),
        ({"key_hex": "abc"}, "instant_readout.key_hex"),
        ({"key_hex": 5}, "instant_readout.key_hex"),
        ({"colour": "red"}, "instant_readout.colour"),
    ]
    for table, name in bad:
        with pytest.raises(ValueError, match=f"f.toml: {name}"):
            InstantReadoutConfig.from_table(table, "f.toml")


class FakeSub:
    def __init__(self) -> None:
        self.snaps: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def push(self, snap: dict[str, Any]) -> None:
        with self.lock:
            self.snaps.append(snap)

    def get(self, timeout_s: float) -> dict[str, Any] | None:
        with self.lock:
            if self.snaps:
                return self.snaps.pop(0)
        time.sleep(min(timeout_s, 0.01))
        return None


class FakeDevice:
    def __init__(self) -> None:
        self.sub = FakeSub()
        self.subscribers = 0

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[FakeSub]:
        self.subscribers += 1
        try:
            yield self.sub
        finally:
            self.subscribers -= 1


def _wait(cond: Any, timeout_s: float = 5.0) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_service_broadcasts_and_withdraws() -> None:
    device = FakeDevice()
    out = LogBroadcaster()
    key = bytes(range(16))
    service = InstantReadoutService(device, InstantReadout(key, nonce=0), out, interval_s=0.1)
    service.start()
    try:
        assert device.subscribers == 1
        device.sub.push({"profile": "ng", "status": STATUS, "active_codes": []})
        _wait(lambda: service.sent >= 2)
        assert out.advertising
        assert len(set(out.frames)) == 1  # unchanged state: the same advert repeated
        parsed = LynxSmartBMS(key.hex()).parse(out.frames[0])
        assert parsed.get_voltage() == 13.21
        device.sub.push({"profile": "ng", "status": {**STATUS, "wireless_available": False},
                         "active_codes": []})
        _wait(lambda: not out.advertising)
        device.sub.push({"profile": "ng", "status": {**STATUS, "voltage_v": 13.0},
                         "active_codes": [{"code": "W-B01"}]})
        _wait(lambda: out.advertising and len(set(out.frames)) == 2)
        assert int.from_bytes(out.frames[-1][5:7], "little") == 1
    finally:
        service.stop()
    assert device.subscribers == 0
    assert not out.advertising


def test_service_from_config_uses_the_stored_key() -> None:
    store = DictStore()
    out = LogBroadcaster()
    service = InstantReadoutService.from_config(InstantReadoutConfig(True, 0.5), FakeDevice(),
                                                store, out)
    assert service.readout.key_hex == store.values["instant_readout_key"]
    assert service.interval_s == 0.5
    cfg = InstantReadoutConfig(True, 1.0, "11" * 16)
    assert InstantReadoutService.from_config(cfg, FakeDevice(), store, out).readout.key_hex == (
        "11" * 16)


def test_bluez_falls_back_to_logging(monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
    def no_dbus() -> dict[str, Any]:
        raise RuntimeError("neither dbus-fast nor dbus-next is installed")

    monkeypatch.setattr(ir.BluezBroadcaster, "_import_dbus", staticmethod(no_dbus))
    b = ir.BluezBroadcaster.create()
    assert isinstance(b, LogBroadcaster)
    assert "only logging" in caplog.text
