"""The Instant Readout envelope: device keys, AES-128-CTR, and the advertisement around a record.

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

The nonce changes with every new record and wraps at 2**16; the same record repeats the last
advertisement unchanged. Each device has its own random 16-byte key (:func:`new_key`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from smallbms.integrations.instant_readout.record import (
    RECORD_TYPE_BMS,
    BmsValues,
    encode_bms_record,
    values_from_status,
)

COMPANY_ID = 0x02E1  #: Victron Energy's Bluetooth company identifier
ADVERT_PREFIX = bytes((0x10, 0x02))  #: "product advertisement" and the byte real devices send next
PRODUCT_ID = 0xA3EC  #: the product id we announce (SPEC 13)
KEY_BYTES = 16  #: AES-128
HEADER_BYTES = 8  #: prefix (2), product id (2), record type, nonce (2), key check byte
NONCE_MODULUS = 1 << 16  #: the nonce is 16 bits and wraps

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

