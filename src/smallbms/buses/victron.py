"""Victron Bluetooth Instant Readout: decrypt and decode with the ``victron-ble`` library.

Two records matter to a BMS (SPEC 19):

- the "Smart Lithium" record (record type 0x05) of a Lithium Battery Smart: per-cell voltages
  (0.01 V, 2.61-3.85 V; below and above are sent as such, see :data:`BELOW_RANGE_V`), the
  battery voltage (0.01 V), the temperature (1 °C) and the balancer status;
- the "battery monitor" record (0x02) of a SmartShunt or BMV: current (1 mA), voltage
  (0.01 V), state of charge (0.1 %).

:func:`decode` turns the manufacturer data of one advertisement (after the company id) into
:class:`~smallbms.buses.gate.BatteryValues` or :class:`~smallbms.buses.gate.ShuntValues`;
anything else is a :class:`DecodeError` with a clear message, never another exception.

For the twin, :func:`encode_smart_lithium` and :func:`encode_battery_monitor` build the same
records (our own bit packing, the inverse of the library's reading) and
:func:`~smallbms.integrations.instant_readout.seal` encrypts them with the device's key.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import cast

from victron_ble.devices import BatteryMonitor, BatteryMonitorData, SmartLithium, SmartLithiumData
from victron_ble.exceptions import AdvertisementKeyMismatchError

# SPEC 19: the record's "below 2.61 V" and "above 3.85 V" cells are real readings at that end;
# the gate's jump filter knows these two values
from smallbms.buses.gate import ABOVE_RANGE_V as ABOVE_RANGE_V
from smallbms.buses.gate import BELOW_RANGE_V as BELOW_RANGE_V
from smallbms.buses.gate import BatteryValues, ShuntValues
from smallbms.integrations.instant_readout import parse_key, seal

RECORD_BATTERY_MONITOR = 0x02
RECORD_SMART_LITHIUM = 0x05
#: product ids the twin announces: a Smart Lithium 12.8 V/100 Ah and a SmartShunt 500 A/50 mV
PRODUCT_SMART_LITHIUM = 0xA0E5
PRODUCT_SMARTSHUNT = 0xA389
CELL_SLOTS = 8
MIN_ADVERT_BYTES = 10


class DecodeError(ValueError):
    """An advertisement that cannot be read (too short, another key, a record we do not use)."""


def _cell(v: float | None) -> float | None:
    if v is None:
        return None
    if v == -math.inf:
        return BELOW_RANGE_V
    if v == math.inf:
        return ABOVE_RANGE_V
    return float(v)


def record_type(data: bytes) -> int:
    """The record type of manufacturer data (DecodeError when it is not a product advert)."""
    if len(data) < MIN_ADVERT_BYTES or data[0] != 0x10:
        raise DecodeError(f"not an Instant Readout advertisement ({len(data)} bytes, "
                          f"starts {data[:1].hex() or 'empty'})")
    return data[4]


def decode(data: bytes, key_hex: str) -> BatteryValues | ShuntValues:
    """Decrypt and decode one advertisement with the device's key (32 hex characters)."""
    try:
        key = parse_key(key_hex)
    except ValueError as e:
        raise DecodeError(str(e)) from None
    kind = record_type(data)
    if data[7] != key[0]:
        raise DecodeError("the advertisement was encrypted with another key (check the key "
                          "in VictronConnect)")
    try:
        if kind == RECORD_SMART_LITHIUM:
            parsed = cast(SmartLithiumData, SmartLithium(key.hex()).parse(bytes(data)))
            cells = [_cell(c) for c in parsed.get_cell_voltages()]
            present = tuple(c for c in cells if c is not None)
            if any(c is None for c in cells[: len(present)]):
                raise DecodeError("cell voltages with a gap (a missing cell before a present one)")
            t = parsed.get_battery_temperature()
            return BatteryValues(cells_v=present, temperature_c=None if t is None else float(t),
                                 voltage_v=parsed.get_battery_voltage())
        if kind == RECORD_BATTERY_MONITOR:
            monitor = cast(BatteryMonitorData, BatteryMonitor(key.hex()).parse(bytes(data)))
            return ShuntValues(current_a=monitor.get_current(), voltage_v=monitor.get_voltage(),
                               soc_pct=monitor.get_soc())
    except AdvertisementKeyMismatchError:
        raise DecodeError("the advertisement was encrypted with another key") from None
    except (ValueError, IndexError, KeyError, struct.error) as e:
        if isinstance(e, DecodeError):
            raise
        raise DecodeError(f"record 0x{kind:02X} cannot be read: {e}") from None
    raise DecodeError(f"record type 0x{kind:02X} is not one a BMS reads (0x05 Smart Lithium, "
                      "0x02 battery monitor)")


# --- the twin's side: the same records, packed ---------------------------------------------------


class _Bits:
    def __init__(self) -> None:
        self.acc = 0
        self.pos = 0

    def put(self, value: int, bits: int) -> None:
        self.acc |= (value & ((1 << bits) - 1)) << self.pos
        self.pos += bits

    def bytes(self, n: int = 16) -> bytes:
        return self.acc.to_bytes(n, "little")


def _clamped(x: float | None, scale: float, lo: int, hi: int, na: int) -> int:
    if x is None or not math.isfinite(x):
        return na
    return max(lo, min(hi, round(x * scale)))


def _cell_raw(v: float | None) -> int:
    if v is None or not math.isfinite(v):
        return 0x7F
    raw = round(v * 100) - 260
    if raw <= 0:
        return 0x00  # below 2.61 V
    if raw >= 0x7E:
        return 0x7E  # above 3.85 V
    return raw


def encode_smart_lithium(cells_v: Sequence[float], voltage_v: float | None,
                         temperature_c: float | None, balancer: int = 1) -> bytes:
    """The 16-byte plaintext Smart Lithium record (fields as the library reads them)."""
    if len(cells_v) > CELL_SLOTS:
        raise ValueError(f"a Smart Lithium record holds at most {CELL_SLOTS} cells")
    b = _Bits()
    b.put(0x06000000, 32)  # BMS flags as the published records carry them
    b.put(0, 16)  # error flags
    for n in range(CELL_SLOTS):
        b.put(_cell_raw(cells_v[n]) if n < len(cells_v) else 0x7F, 7)
    b.put(_clamped(voltage_v, 100, 0, 0xFFE, 0xFFF), 12)
    b.put(balancer & 0xF, 4)
    b.put(_clamped(None if temperature_c is None else temperature_c + 40, 1, 0, 0x7E, 0x7F), 7)
    return b.bytes()


def encode_battery_monitor(current_a: float | None, voltage_v: float | None,
                           soc_pct: float | None, consumed_ah: float | None = None) -> bytes:
    """The 16-byte plaintext battery monitor record (aux input disabled)."""
    b = _Bits()
    b.put(0xFFFF, 16)  # time to go: not available
    b.put(_clamped(voltage_v, 100, -0x8000, 0x7FFE, 0x7FFF), 16)
    b.put(0, 16)  # no alarm
    b.put(0, 16)  # aux value
    b.put(3, 2)  # aux mode: disabled
    b.put(_clamped(current_a, 1000, -0x200000, 0x1FFFFF, 0x3FFFFF), 22)
    b.put(_clamped(None if consumed_ah is None else -consumed_ah, 10, 0, 0xFFFFE, 0xFFFFF), 20)
    b.put(_clamped(soc_pct, 10, 0, 1000, 0x3FF), 10)
    return b.bytes()


def advert(key: bytes, nonce: int, record: bytes, kind: int, product_id: int) -> bytes:
    """The manufacturer data carrying ``record`` (our Instant Readout envelope)."""
    return seal(key, nonce % (1 << 16), record, product_id=product_id, record_type=kind)
