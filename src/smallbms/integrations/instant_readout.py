"""Instant Readout: the BMS state broadcast in Victron's encrypted BLE advertisement format (SPEC 13).

What goes on the air is the manufacturer-specific data of a BLE advertisement, company id
``0x02E1`` (Victron Energy). After the company id come::

    byte 0      0x10            product advertisement
    byte 1      0x02            second prefix byte (what real Victron devices send; decoders skip it)
    bytes 2-3   product id      little endian (ours: 0xA3EC)
    byte 4      record type     0x0A, the "(Lynx Smart) BMS" record
    bytes 5-6   nonce           data counter, little endian
    byte 7      key[0]          the first byte of the key, so a reader can tell a wrong key
    bytes 8-23  the 16-byte record, AES-128-CTR encrypted

The CTR counter block is the nonce as a 128-bit little-endian integer (the first block is
``nonce_lo, nonce_hi, 0 x 14``; further blocks would count up little endian, exactly as the
public decoders build it). A record is one block, so only the first block is ever used.

The record (bits packed least significant bit first, as Victron documents it)::

    bits  field              unit       not available
    8     error              code       (0 = no error)
    16    time to go         1 min      0xFFFF
    16    battery voltage    0.01 V     0x7FFF (signed)
    16    battery current    0.1 A      0x7FFF (signed; positive = charging)
    16    IO status          2 bits per item: 0 = n/a, 1 = on/allowed, 2 = off/not allowed
    18    warnings/alarms    2 bits per item: 0 = n/a, 1 = ok, 2 = warning, 3 = alarm
    10    state of charge    0.1 %      0x3FF
    20    consumed Ah        0.1 Ah     0xFFFFF (sent as a positive count: consumed = -value)
    7     temperature        1 °C       0x7F (sent as value + 40, range -40..86 °C)
    1     unused

How our codes and outputs map onto the record is documented at :data:`ERROR_NUMBERS`,
:data:`ALARM_SLOTS` and :func:`io_status`. The nonce changes with every new record and wraps
at 2**16; the same record repeats the last advertisement unchanged. Each device has its own
random 16-byte key (:func:`new_key`), kept in the secret store as 32 hex characters.

Nothing here needs a Bluetooth adapter: :class:`LogBroadcaster` keeps the frames, and
:class:`BluezBroadcaster` (optional ``dbus-fast`` or ``dbus-next``, imported only when used)
registers a BlueZ LE advertisement. See docs/instant-readout.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

log = logging.getLogger(__name__)

# --- the envelope ---------------------------------------------------------------------------------

COMPANY_ID = 0x02E1  #: Victron Energy's Bluetooth company identifier
ADVERT_PREFIX = bytes((0x10, 0x02))  #: "product advertisement" and the byte real devices send next
PRODUCT_ID = 0xA3EC  #: the product id we announce (SPEC 13)
RECORD_TYPE_BMS = 0x0A  #: the "(Lynx Smart) BMS" record
KEY_BYTES = 16  #: AES-128
RECORD_BYTES = 16  #: 127 bits of fields + 1 unused bit
HEADER_BYTES = 8  #: prefix (2), product id (2), record type, nonce (2), key check byte
NONCE_MODULUS = 1 << 16  #: the nonce is 16 bits and wraps
KEY_SECRET_NAME = "instant_readout_key"  #: the secret-store name of the per-device key

# --- the record: field widths and "not available" values -----------------------------------------

NA_TIME_TO_GO = 0xFFFF
NA_VOLTAGE = 0x7FFF
NA_CURRENT = 0x7FFF
NA_SOC = 0x3FF
NA_CONSUMED = 0xFFFFF
NA_TEMPERATURE = 0x7F
TEMPERATURE_OFFSET_C = 40

#: (name, bits) in the order they are packed, least significant bit first.
RECORD_LAYOUT: tuple[tuple[str, int], ...] = (
    ("error", 8), ("time_to_go", 16), ("voltage", 16), ("current", 16), ("io_status", 16),
    ("alarms", 18), ("soc", 10), ("consumed", 20), ("temperature", 7),
)

#: 2-bit levels of the warnings/alarms field: 0 = not supervised, 1 = ok, 2 = warning, 3 = alarm.
#: (Venus OS shows raw - 1, its usual 0 ok / 1 warning / 2 alarm; a published real Lynx Smart
#: BMS record has 1 in every supervised item and 0 where the sensor is missing.)
LEVEL_NA, LEVEL_OK, LEVEL_WARNING, LEVEL_ALARM = 0, 1, 2, 3
#: bit offsets of the 2-bit items inside the 18-bit warnings/alarms field (as Venus OS reads it)
SLOT_LOW_CELL_VOLTAGE = 0
SLOT_HIGH_CURRENT = 2
SLOT_HIGH_INTERNAL_TEMPERATURE = 4
SLOT_CONTACTOR = 6
SLOT_BMS_CABLE = 8
SLOT_LOAD_DISCONNECT = 10
SLOT_LOW_SOC = 12
SLOT_HIGH_TEMPERATURE = 16

#: The items this BMS supervises (reported as ok when no code is active); the others stay 0.
#: Low SoC is supervised only while the SoC is known (SPEC 9).
SUPERVISED_SLOTS: tuple[int, ...] = (
    SLOT_LOW_CELL_VOLTAGE, SLOT_BMS_CABLE, SLOT_LOW_SOC, SLOT_HIGH_TEMPERATURE)

#: Our warning/alarm codes as (slot, level). A-B08 (low bank voltage) has no item of its own in
#: the record and is shown as a low-cell-voltage alarm, the nearest meaning.
ALARM_SLOTS: dict[str, tuple[int, int]] = {
    "W-B01": (SLOT_LOW_CELL_VOLTAGE, LEVEL_WARNING),
    "A-B01": (SLOT_LOW_CELL_VOLTAGE, LEVEL_ALARM),
    "A-B08": (SLOT_LOW_CELL_VOLTAGE, LEVEL_ALARM),
    "W-B05": (SLOT_BMS_CABLE, LEVEL_WARNING),
    "A-B05": (SLOT_BMS_CABLE, LEVEL_ALARM),
    "W-B07": (SLOT_LOW_SOC, LEVEL_WARNING),
    "A-B07": (SLOT_LOW_SOC, LEVEL_ALARM),
    "A-B09": (SLOT_HIGH_TEMPERATURE, LEVEL_ALARM),
}

#: Our error codes as Victron BMS error numbers (E-Bnn is BMS error #nn: 1 battery
#: initialisation / configuration, 5 number of batteries, 9 batteries in series, 11 hardware).
#: Only one error fits in the record: the first active one in code-table order.
ERROR_NUMBERS: dict[str, int] = {"E-B01": 1, "E-B05": 5, "E-B09": 9, "E-B11": 11}

#: 2-bit items of the IO status field: bit offsets. 1 = on/allowed, 2 = off/not allowed, 0 = n/a.
IO_ALLOWED_TO_CHARGE = 2
IO_ALLOWED_TO_DISCHARGE = 4
IO_EXTERNAL_RELAY = 6  # we report the pre-alarm output here
IO_ON, IO_OFF, IO_NA = 1, 2, 0


@dataclass(frozen=True, slots=True)
class BmsValues:
    """What one Instant Readout record says. ``None`` = not available (sent as the layout's NA).

    ``consumed_ah`` is negative or zero (SPEC 1); ``error_code``, ``alarm_flags`` and
    ``io_status`` are the record's raw fields (see :func:`values_from_status` for how they are
    made from our codes and outputs).
    """

    voltage_v: float | None = None
    current_a: float | None = None
    soc_pct: float | None = None
    time_remaining_s: float | None = None
    temperature_c: float | None = None
    consumed_ah: float | None = None
    error_code: int = 0
    alarm_flags: int = 0
    io_status: int = 0

    def __post_init__(self) -> None:
        for name, bits in (("error_code", 8), ("alarm_flags", 18), ("io_status", 16)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < (1 << bits):
                raise ValueError(f"{name} must be an integer 0..{(1 << bits) - 1}, got {v!r}")


# --- packing ------------------------------------------------------------------------------------


def _scaled(x: float | None, scale: float, lo: int, hi: int, na: int) -> int:
    """``round(x * scale)`` clamped to lo..hi, or ``na`` for None/NaN."""
    if x is None:
        return na
    try:
        y = float(x) * scale
    except OverflowError:  # an integer no float can hold
        y = math.inf if x > 0 else -math.inf
    if math.isnan(y):
        return na
    if math.isinf(y):  # infinite, or finite but past the float range once scaled
        return hi if y > 0 else lo
    return max(lo, min(hi, round(y)))


def encode_bms_record(values: BmsValues) -> bytes:
    """The 16-byte plaintext record 0x0A for ``values``; out-of-range values are clamped."""
    fields = {
        "error": values.error_code,
        "time_to_go": _scaled(values.time_remaining_s, 1 / 60, 0, NA_TIME_TO_GO - 1, NA_TIME_TO_GO),
        "voltage": _scaled(values.voltage_v, 100, -0x8000, NA_VOLTAGE - 1, NA_VOLTAGE) & 0xFFFF,
        "current": _scaled(values.current_a, 10, -0x8000, NA_CURRENT - 1, NA_CURRENT) & 0xFFFF,
        "io_status": values.io_status,
        "alarms": values.alarm_flags,
        "soc": _scaled(values.soc_pct, 10, 0, 1000, NA_SOC),
        "consumed": _scaled(None if values.consumed_ah is None else -values.consumed_ah, 10, 0,
                            NA_CONSUMED - 1, NA_CONSUMED),
        "temperature": _scaled(None if values.temperature_c is None
                               else values.temperature_c + TEMPERATURE_OFFSET_C, 1, 0,
                               NA_TEMPERATURE - 1, NA_TEMPERATURE),
    }
    acc = 0
    pos = 0
    for name, bits in RECORD_LAYOUT:
        acc |= fields[name] << pos
        pos += bits
    return acc.to_bytes(RECORD_BYTES, "little")


def _signed16(raw: int) -> int:
    return raw - 0x10000 if raw & 0x8000 else raw


def decode_bms_record(record: bytes) -> BmsValues:
    """The inverse of :func:`encode_bms_record` (values at the record's resolution)."""
    if len(record) < RECORD_BYTES:
        raise ValueError(f"a BMS record has {RECORD_BYTES} bytes, got {len(record)}")
    acc = int.from_bytes(record[:RECORD_BYTES], "little")
    raw: dict[str, int] = {}
    for name, bits in RECORD_LAYOUT:
        raw[name] = acc & ((1 << bits) - 1)
        acc >>= bits
    ttg, v, i = raw["time_to_go"], raw["voltage"], raw["current"]
    soc, cah, tmp = raw["soc"], raw["consumed"], raw["temperature"]
    return BmsValues(
        voltage_v=None if v == NA_VOLTAGE else _signed16(v) / 100,
        current_a=None if i == NA_CURRENT else _signed16(i) / 10,
        soc_pct=None if soc == NA_SOC else soc / 10,
        time_remaining_s=None if ttg == NA_TIME_TO_GO else ttg * 60.0,
        temperature_c=None if tmp == NA_TEMPERATURE else float(tmp - TEMPERATURE_OFFSET_C),
        consumed_ah=None if cah == NA_CONSUMED else -cah / 10 + 0.0,
        error_code=raw["error"], alarm_flags=raw["alarms"], io_status=raw["io_status"],
    )


# --- our state -> record fields -------------------------------------------------------------------


def _code_names(active_codes: Iterable[str | Mapping[str, Any]]) -> list[str]:
    """Codes as strings, from a tuple of codes or the snapshot's list of code dicts."""
    return [c if isinstance(c, str) else str(c["code"]) for c in active_codes]


def error_code(codes: Iterable[str]) -> int:
    """The BMS error number for the first active error code, 0 when none."""
    for c in codes:
        if c in ERROR_NUMBERS:
            return ERROR_NUMBERS[c]
    return 0


def alarm_flags(codes: Iterable[str], soc_known: bool = True) -> int:
    """The 18-bit warnings/alarms field: every supervised item ok unless a code raises it (the
    worse level wins per item); low SoC not supervised while the SoC is unknown."""
    levels: dict[int, int] = {
        slot: LEVEL_OK for slot in SUPERVISED_SLOTS if soc_known or slot != SLOT_LOW_SOC}
    for c in codes:
        if c in ALARM_SLOTS:
            slot, level = ALARM_SLOTS[c]
            levels[slot] = max(levels.get(slot, LEVEL_NA), level)
    flags = 0
    for slot, level in levels.items():
        flags |= level << slot
    return flags


def _io_item(on: bool | None) -> int:
    return IO_NA if on is None else (IO_ON if on else IO_OFF)


def io_status(allowed_to_charge: bool | None, allowed_to_discharge: bool | None,
              pre_alarm_on: bool | None) -> int:
    """The IO status field: allowed to charge, allowed to discharge, pre-alarm (external relay)."""
    return ((_io_item(allowed_to_charge) << IO_ALLOWED_TO_CHARGE)
            | (_io_item(allowed_to_discharge) << IO_ALLOWED_TO_DISCHARGE)
            | (_io_item(pre_alarm_on) << IO_EXTERNAL_RELAY))


def _num(x: Any) -> float | None:
    if x is None or isinstance(x, bool) or not isinstance(x, int | float):
        return None
    try:
        return float(x)
    except OverflowError:  # an integer no float can hold: as far out as a float goes
        return math.inf if x > 0 else -math.inf


def values_from_status(status: Mapping[str, Any],
                       active_codes: Iterable[str | Mapping[str, Any]]) -> BmsValues:
    """Record values from a status dict and the active codes.

    ``status`` is either ``snapshot.status_dict(core, decision)`` (the running device) or a
    sample line's fields (``events.sample_fields``); ``active_codes`` is a tuple of code
    strings or the snapshot's list of code dicts. The temperature is the warmest battery's
    (``max_temperature_c``, or ``temperature_c`` of a sample line). The pre-alarm item comes
    from ``outputs.pre_alarm`` when given, else from the active warnings (which drive it).
    """
    codes = _code_names(active_codes)
    temperature = status.get("max_temperature_c", status.get("temperature_c"))
    charge = status.get("allowed_to_charge")
    discharge = status.get("allowed_to_discharge")
    outputs = status.get("outputs")
    if isinstance(outputs, Mapping) and outputs.get("pre_alarm") in ("high", "floating"):
        pre_alarm: bool | None = outputs["pre_alarm"] == "high"
    else:
        pre_alarm = any(c.startswith("W-") for c in codes)
    return BmsValues(
        voltage_v=_num(status.get("voltage_v")),
        current_a=_num(status.get("current_a")),
        soc_pct=_num(status.get("soc_pct")),
        time_remaining_s=_num(status.get("time_remaining_s")),
        temperature_c=_num(temperature),
        consumed_ah=_num(status.get("consumed_ah")),
        error_code=error_code(codes),
        alarm_flags=alarm_flags(codes, soc_known=_num(status.get("soc_pct")) is not None),
        io_status=io_status(
            charge if isinstance(charge, bool) else None,
            None if discharge is None else discharge in ("yes", "pre-alarm", True),
            pre_alarm),
    )


# --- keys and encryption ------------------------------------------------------------------------

_KEY_HEX = re.compile(r"^[0-9a-fA-F]{32}$")


def new_key() -> bytes:
    """A new random 16-byte device key."""
    return secrets.token_bytes(KEY_BYTES)


def parse_key(key_hex: str) -> bytes:
    """A key from its 32 hex characters (ValueError otherwise)."""
    if not isinstance(key_hex, str) or not _KEY_HEX.match(key_hex.strip()):
        raise ValueError("an Instant Readout key is 32 hex characters")
    return bytes.fromhex(key_hex.strip())


def key_for_seed(seed: int | str) -> bytes:
    """A deterministic key for ``smallbms simulate`` runs, so their adverts are reproducible.

    Never use it for a real device: anyone can compute it from the seed.
    """
    return hashlib.sha256(f"smallbms instant readout simulate key\0{seed}".encode()).digest()[:KEY_BYTES]


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise ValueError(f"an Instant Readout key is {KEY_BYTES} bytes")
    return bytes(key)


def _ctr(key: bytes, nonce: int, data: bytes) -> bytes:
    """AES-128-CTR with the counter block = nonce (+ block index) as a little-endian 128-bit int."""
    out = bytearray()
    for n, start in enumerate(range(0, len(data), 16)):
        block = ((nonce + n) % (1 << 128)).to_bytes(16, "little")
        enc = Cipher(algorithms.AES(key), modes.CTR(block)).encryptor()
        out += enc.update(data[start:start + 16]) + enc.finalize()
    return bytes(out)


def seal(key: bytes, nonce: int, record: bytes, product_id: int = PRODUCT_ID,
         record_type: int = RECORD_TYPE_BMS) -> bytes:
    """The manufacturer data (after the company id) carrying ``record`` under ``nonce``."""
    key = _check_key(key)
    if not 0 <= nonce < NONCE_MODULUS:
        raise ValueError(f"nonce must be 0..{NONCE_MODULUS - 1}, got {nonce}")
    if not 0 <= product_id <= 0xFFFF:
        raise ValueError(f"product id must be 0..0xFFFF, got {product_id}")
    return (ADVERT_PREFIX + product_id.to_bytes(2, "little") + bytes((record_type,))
            + nonce.to_bytes(2, "little") + key[:1] + _ctr(key, nonce, record))


@dataclass(frozen=True, slots=True)
class OpenedAdvert:
    """An advertisement taken apart and decrypted by :func:`open_advert`."""

    product_id: int
    record_type: int
    nonce: int
    record: bytes


def open_advert(key: bytes, data: bytes) -> OpenedAdvert:
    """Decrypt manufacturer data (after the company id) of any record type.

    Raises ValueError when it is not a product advertisement or the key check byte differs.
    """
    key = _check_key(key)
    if len(data) < HEADER_BYTES or data[0] != ADVERT_PREFIX[0]:
        raise ValueError("not an Instant Readout advertisement")
    if data[7] != key[0]:
        raise ValueError("the advertisement was made with another key")
    nonce = int.from_bytes(data[5:7], "little")
    return OpenedAdvert(int.from_bytes(data[2:4], "little"), data[4], nonce,
                        _ctr(key, nonce, bytes(data[HEADER_BYTES:])))


class InstantReadout:
    """Makes the advertisements of one device: a key, a product id and the nonce counter.

    ``nonce`` is the one the first record gets; by default a random one, so a restarted
    device does not start where it started last time (simulate passes 0 to be reproducible).
    Thread-safe.
    """

    def __init__(self, key: bytes, product_id: int = PRODUCT_ID, *, nonce: int | None = None) -> None:
        self.key = _check_key(key)
        if not 0 <= product_id <= 0xFFFF:
            raise ValueError(f"product id must be 0..0xFFFF, got {product_id}")
        self.product_id = product_id
        start = secrets.randbelow(NONCE_MODULUS) if nonce is None else nonce
        if not 0 <= start < NONCE_MODULUS:
            raise ValueError(f"nonce must be 0..{NONCE_MODULUS - 1}, got {start}")
        self._next_nonce = start
        self._last_record: bytes | None = None
        self._last_advert = b""
        self._lock = threading.Lock()

    @property
    def key_hex(self) -> str:
        """The key as the owner types it into a decoder: 32 hex characters."""
        return self.key.hex()

    @property
    def next_nonce(self) -> int:
        """The nonce the next new record will get."""
        return self._next_nonce

    def advert(self, values: BmsValues) -> bytes:
        """The manufacturer data for ``values``: a new nonce if the record changed, else the
        previous advertisement again."""
        record = encode_bms_record(values)
        with self._lock:
            if record != self._last_record:
                nonce = self._next_nonce
                self._next_nonce = (nonce + 1) % NONCE_MODULUS
                self._last_record = record
                self._last_advert = seal(self.key, nonce, record, self.product_id)
            return self._last_advert


def advert_hex_for_sample(ir: InstantReadout, status_fields: Mapping[str, Any],
                          active_codes: Iterable[str | Mapping[str, Any]]) -> str:
    """The ``"advert"`` field of a ``sample`` line of ``smallbms simulate --instant-readout``."""
    return ir.advert(values_from_status(status_fields, active_codes)).hex()


# --- where the key lives ----------------------------------------------------------------------------


class SecretStore(Protocol):
    """Where the device key lives (implemented by :class:`smallbms.service.store.Store`)."""

    def get_secret(self, name: str) -> str | None: ...

    def set_secret(self, name: str, value: str) -> None: ...


def ensure_key(store: SecretStore) -> bytes:
    """The device's key from the store; made and stored on first use (or if the stored one is
    unreadable, with a warning: decoders then need the new key)."""
    stored = store.get_secret(KEY_SECRET_NAME)
    if stored is not None:
        try:
            return parse_key(stored)
        except ValueError:
            log.warning("the stored Instant Readout key is unreadable; making a new one")
    return regenerate_key(store)


def regenerate_key(store: SecretStore) -> bytes:
    """Make, store and return a new key (every decoder then needs the new one)."""
    key = new_key()
    store.set_secret(KEY_SECRET_NAME, key.hex())
    return key


# --- configuration ----------------------------------------------------------------------------------

INTERVAL_RANGE_S = (0.1, 60.0)  #: allowed advertisement refresh periods


@dataclass(frozen=True, slots=True)
class InstantReadoutConfig:
    """The ``[instant_readout]`` table of the run configuration.

    ``key_hex`` overrides the stored per-device key (for a key already typed into decoders).
    """

    enabled: bool = False
    interval_s: float = 1.0
    key_hex: str | None = None

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str) -> InstantReadoutConfig:
        """Validate a TOML table; ValueError naming ``where`` and the key for anything wrong."""
        if not isinstance(table, Mapping):
            raise ValueError(f"{where}: instant_readout: must be a table")
        out: dict[str, Any] = {}
        for k, v in table.items():
            if k == "enabled":
                if not isinstance(v, bool):
                    raise ValueError(f"{where}: instant_readout.enabled: must be true or false, "
                                     f"got {v!r}")
                out[k] = v
            elif k == "interval_s":
                lo, hi = INTERVAL_RANGE_S
                if (isinstance(v, bool) or not isinstance(v, int | float)
                        or (isinstance(v, float) and not math.isfinite(v)) or not lo <= v <= hi):
                    raise ValueError(f"{where}: instant_readout.interval_s: must be a number "
                                     f"{lo:g}..{hi:g} s, got {v!r}")
                out[k] = float(v)
            elif k == "key_hex":
                try:
                    parse_key(v)
                except ValueError:
                    raise ValueError(f"{where}: instant_readout.key_hex: must be 32 hex "
                                     f"characters") from None
                out[k] = str(v).strip().lower()
            else:
                raise ValueError(f"{where}: instant_readout.{k}: unknown key "
                                 f"(known: enabled, interval_s, key_hex)")
        return cls(**out)


# --- broadcasters ---------------------------------------------------------------------------------


class Broadcaster(Protocol):
    """Puts manufacturer data (after the company id) on the air."""

    def send(self, data: bytes) -> None:
        """Advertise ``data`` from now on (replacing what was advertised)."""

    def withdraw(self) -> None:
        """Stop advertising until the next :meth:`send` (wireless access off)."""

    def close(self) -> None:
        """Stop for good and free the adapter."""


class LogBroadcaster:
    """Keeps the last ``keep`` frames in :attr:`frames` and logs each at debug level."""

    def __init__(self, keep: int = 1000) -> None:
        self.frames: deque[bytes] = deque(maxlen=keep)
        self.advertising = False

    def send(self, data: bytes) -> None:
        self.frames.append(bytes(data))
        self.advertising = True
        log.debug("instant readout %04x:%s", COMPANY_ID, data.hex())

    def withdraw(self) -> None:
        self.advertising = False

    def close(self) -> None:
        self.advertising = False


_ADV_PATH = "/org/smallbms/instant_readout0"
_ADV_IFACE = "org.bluez.LEAdvertisement1"
_PROPS_IFACE = "org.freedesktop.DBus.Properties"


class BluezBroadcaster:
    """A BlueZ LE advertisement over D-Bus (``dbus-fast`` or ``dbus-next``, imported lazily).

    UNTESTED HERE: no adapter on the development machines. It registers a non-connectable
    ("broadcast") advertisement object with ``org.bluez.LEAdvertisingManager1`` on the adapter
    and announces new manufacturer data with ``PropertiesChanged``, which BlueZ picks up. It
    needs the system bus, bluetoothd and the right to advertise (root, or a D-Bus policy).
    Use :meth:`create`, which falls back to a :class:`LogBroadcaster` with a warning.
    """

    def __init__(self, adapter: str = "hci0", timeout_s: float = 5.0) -> None:
        self.adapter_path = f"/org/bluez/{adapter}"
        self.timeout_s = timeout_s
        self._dbus = self._import_dbus()
        self._data = b""
        self._registered = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ir-bluez",
                                        daemon=True)
        self._thread.start()
        self._bus: Any = None
        try:
            self._call(self._connect())
        except BaseException:
            self.close()
            raise

    @classmethod
    def create(cls, adapter: str = "hci0") -> Broadcaster:
        """A BlueZ broadcaster, or a logging one (with a warning) when that is not possible."""
        try:
            return cls(adapter)
        except Exception as e:  # no library, no bus, no adapter, not allowed: all mean "log only"
            log.warning("Instant Readout: cannot advertise over BlueZ (%s); only logging frames", e)
            return LogBroadcaster()

    @staticmethod
    def _import_dbus() -> dict[str, Any]:
        for name in ("dbus_fast", "dbus_next"):
            try:
                return {"Message": importlib.import_module(name).Message,
                        "Variant": importlib.import_module(name).Variant,
                        "MessageType": importlib.import_module(f"{name}.constants").MessageType,
                        "BusType": importlib.import_module(f"{name}.constants").BusType,
                        "MessageBus": importlib.import_module(f"{name}.aio").MessageBus}
            except ImportError:
                continue
        raise RuntimeError("neither dbus-fast nor dbus-next is installed")

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout_s)

    def _props(self) -> dict[str, Any]:
        variant = self._dbus["Variant"]
        return {"Type": variant("s", "broadcast"),
                "ManufacturerData": variant("a{qv}", {COMPANY_ID: variant("ay", self._data)})}

    def _handler(self, msg: Any) -> Any:
        d = self._dbus
        if msg.message_type != d["MessageType"].METHOD_CALL or msg.path != _ADV_PATH:
            return None
        if msg.interface == _PROPS_IFACE and msg.member == "GetAll":
            return d["Message"].new_method_return(msg, "a{sv}", [self._props()])
        if msg.interface == _PROPS_IFACE and msg.member == "Get":
            return d["Message"].new_method_return(msg, "v", [self._props()[msg.body[1]]])
        if msg.interface == _ADV_IFACE and msg.member == "Release":
            self._registered = False
            return d["Message"].new_method_return(msg)
        return None

    async def _connect(self) -> None:
        self._bus = await self._dbus["MessageBus"](bus_type=self._dbus["BusType"].SYSTEM).connect()
        self._bus.add_message_handler(self._handler)

    async def _manager(self, member: str, signature: str, body: list[Any]) -> None:
        d = self._dbus
        reply = await self._bus.call(d["Message"](
            destination="org.bluez", path=self.adapter_path,
            interface="org.bluez.LEAdvertisingManager1", member=member,
            signature=signature, body=body))
        if reply.message_type == d["MessageType"].ERROR:
            raise RuntimeError(f"BlueZ {member}: {reply.error_name} {reply.body}")

    async def _send(self, data: bytes) -> None:
        self._data = data
        if not self._registered:
            await self._manager("RegisterAdvertisement", "oa{sv}", [_ADV_PATH, {}])
            self._registered = True
            return
        await self._bus.send(self._dbus["Message"].new_signal(
            _ADV_PATH, _PROPS_IFACE, "PropertiesChanged", "sa{sv}as",
            [_ADV_IFACE, {"ManufacturerData": self._props()["ManufacturerData"]}, []]))

    async def _withdraw(self) -> None:
        if self._registered:
            self._registered = False
            await self._manager("UnregisterAdvertisement", "o", [_ADV_PATH])

    def send(self, data: bytes) -> None:
        self._call(self._send(bytes(data)))

    def withdraw(self) -> None:
        self._call(self._withdraw())

    def close(self) -> None:
        if self._loop.is_running():
            try:
                if self._bus is not None:
                    self._call(self._withdraw())
                    self._bus.disconnect()
            except Exception as e:  # closing is best effort
                log.debug("Instant Readout: BlueZ close: %s", e)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=self.timeout_s)


# --- the service inside `smallbms run` -----------------------------------------------------------


class SubscriptionLike(Protocol):
    def get(self, timeout_s: float) -> dict[str, Any] | None: ...


class SnapshotSource(Protocol):
    """What the service needs from :class:`smallbms.service.device.Device`."""

    def subscribe(self) -> AbstractContextManager[SubscriptionLike]: ...


_POLL_S = 0.5  # the longest the service thread waits before looking at the stop flag again


class InstantReadoutService:
    """Broadcasts the device's state every ``interval_s`` on its own thread.

    It subscribes to the device's snapshots, keeps the newest, and every ``interval_s`` hands
    the advertisement for it to the broadcaster. Nothing is sent before the first snapshot,
    and the advertisement is withdrawn while wireless access is off (SPEC 13) or the profile
    has no Bluetooth (classic).
    """

    def __init__(self, device: SnapshotSource, readout: InstantReadout, broadcaster: Broadcaster,
                 interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        lo, hi = INTERVAL_RANGE_S
        if not lo <= interval_s <= hi:
            raise ValueError(f"interval_s must be {lo:g}..{hi:g}, got {interval_s}")
        self.device = device
        self.readout = readout
        self.broadcaster = broadcaster
        self.interval_s = interval_s
        self.clock = clock
        self.sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscribed = threading.Event()

    @classmethod
    def from_config(cls, cfg: InstantReadoutConfig, device: SnapshotSource, store: SecretStore,
                    broadcaster: Broadcaster | None = None) -> InstantReadoutService:
        """The service for a run configuration: the configured key, else the stored one (made
        on first use); BlueZ unless a broadcaster is given."""
        key = parse_key(cfg.key_hex) if cfg.key_hex is not None else ensure_key(store)
        return cls(device, InstantReadout(key), broadcaster or BluezBroadcaster.create(),
                   cfg.interval_s)

    def start(self) -> None:
        self._stop.clear()
        self._subscribed.clear()
        self._thread = threading.Thread(target=self._run, name="instant-readout", daemon=True)
        self._thread.start()
        self._subscribed.wait(5.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.broadcaster.close()

    def _run(self) -> None:
        try:
            with self.device.subscribe() as sub:
                self._subscribed.set()
                self._loop(sub)
        except Exception:  # a broadcaster failure must not pass silently, nor kill the device
            log.exception("Instant Readout stopped")
        finally:
            self._subscribed.set()

    def _loop(self, sub: SubscriptionLike) -> None:
        latest: dict[str, Any] | None = None
        due = self.clock()
        advertising = False
        while not self._stop.is_set():
            wait = self.interval_s if latest is None else due - self.clock()
            snap = sub.get(max(0.0, min(wait, _POLL_S)))
            if snap is not None:
                latest = snap
            if latest is None or self.clock() < due:
                continue
            due += self.interval_s
            if self.clock() > due:  # fell behind (slow broadcaster): do not send a burst
                due = self.clock() + self.interval_s
            status = latest.get("status", {})
            if latest.get("profile", "ng") != "ng" or not status.get("wireless_available", True):
                if advertising:
                    self.broadcaster.withdraw()
                    advertising = False
                continue
            values = values_from_status(status, latest.get("active_codes", ()))
            self.broadcaster.send(self.readout.advert(values))
            advertising = True
            self.sent += 1
