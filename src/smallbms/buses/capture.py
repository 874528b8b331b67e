"""The capture format: what a bus received, one advertisement a line (JSON Lines).

```json
{"t": 12.5, "address": "C0:3B:12:34:56:78", "manufacturer_id": 737, "data": "1002e5a005..."}
```

``t`` is seconds from the start of the capture, ``address`` the sender, ``manufacturer_id``
the Bluetooth company id (737 = 0x02E1, Victron Energy), ``data`` the hex of the manufacturer
data after the company id (the same bytes as the ``advert`` field of ``smallbms simulate
--instant-readout``). Optional: ``rssi`` (dBm). Lines are in time order; blank lines and lines
starting with ``#`` are skipped. ``smallbms scan --record FILE`` writes it, ``[bus] replay =
"FILE"`` plays it back through the same decode path.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

VICTRON_COMPANY_ID = 0x02E1
MAX_DATA_BYTES = 255
MAX_LINE_CHARS = 4096
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})*$")
_KEYS = {"t", "address", "manufacturer_id", "data", "rssi"}


class CaptureError(ValueError):
    """A capture line that is not in the format; the message names the line and the problem."""


@dataclass(frozen=True, slots=True)
class Advert:
    """One received advertisement."""

    t: float
    address: str
    manufacturer_id: int
    data: bytes
    rssi: int | None = None

    def line(self) -> str:
        d: dict[str, Any] = {"t": round(self.t, 3), "address": self.address,
                             "manufacturer_id": self.manufacturer_id, "data": self.data.hex()}
        if self.rssi is not None:
            d["rssi"] = self.rssi
        return json.dumps(d, separators=(", ", ": "))


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def parse_line(text: str, where: str = "line") -> Advert:
    """One capture line to an :class:`Advert` (CaptureError naming ``where`` otherwise)."""
    if len(text) > MAX_LINE_CHARS:
        raise CaptureError(f"{where}: longer than {MAX_LINE_CHARS} characters")
    try:
        d = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise CaptureError(f"{where}: not JSON: {e}") from None
    if not isinstance(d, dict):
        raise CaptureError(f"{where}: must be a JSON object, got {type(d).__name__}")
    unknown = sorted(set(d) - _KEYS)
    if unknown:
        raise CaptureError(f"{where}: unknown key {unknown[0]!r}; keys: t, address, "
                           "manufacturer_id, data, rssi")
    for key in ("t", "address", "manufacturer_id", "data"):
        if key not in d:
            raise CaptureError(f"{where}: missing {key!r}")
    t = d["t"]
    if not _number(t) or not math.isfinite(t) or t < 0:
        raise CaptureError(f"{where}: t must be a number of seconds >= 0, got {t!r}")
    address = d["address"]
    if not isinstance(address, str) or not 1 <= len(address) <= 64:
        raise CaptureError(f"{where}: address must be a text of 1-64 characters")
    mid = d["manufacturer_id"]
    if not isinstance(mid, int) or isinstance(mid, bool) or not 0 <= mid <= 0xFFFF:
        raise CaptureError(f"{where}: manufacturer_id must be an integer 0-65535, got {mid!r}")
    data = d["data"]
    if not isinstance(data, str) or not _HEX.match(data) or len(data) > 2 * MAX_DATA_BYTES:
        raise CaptureError(f"{where}: data must be hex bytes (at most {MAX_DATA_BYTES})")
    rssi = d.get("rssi")
    if rssi is not None and (not isinstance(rssi, int) or isinstance(rssi, bool)
                             or not -150 <= rssi <= 50):
        raise CaptureError(f"{where}: rssi must be an integer in dBm, got {rssi!r}")
    return Advert(float(t), address.upper() if ":" in address else address, mid,
                  bytes.fromhex(data), rssi)


def parse_lines(lines: Iterable[str], name: str = "capture") -> Iterator[Advert]:
    """Every advert of a capture, checked: a bad line or time going back is a CaptureError."""
    last = -math.inf
    for n, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        adv = parse_line(text, f"{name} line {n}")
        if adv.t < last:
            raise CaptureError(f"{name} line {n}: t {adv.t:g} is before the previous line's "
                               f"{last:g} (lines must be in time order)")
        last = adv.t
        yield adv


def read_capture(path: Path) -> list[Advert]:
    """A whole capture file (CaptureError on the first bad line, or when it cannot be read)."""
    try:
        with path.open(encoding="utf-8") as f:
            return list(parse_lines(f, str(path)))
    except OSError as e:
        raise CaptureError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise CaptureError(f"{path}: not UTF-8 text: {e}") from None


class CaptureWriter:
    """Writes adverts as capture lines, ``t`` counted from the first call's clock value."""

    def __init__(self, out: IO[str], start_s: float) -> None:
        self.out = out
        self.start_s = start_s
        self.count = 0

    def write(self, at_s: float, address: str, manufacturer_id: int, data: bytes,
              rssi: int | None = None) -> Advert:
        adv = Advert(max(0.0, at_s - self.start_s), address, manufacturer_id, bytes(data), rssi)
        self.out.write(adv.line() + "\n")
        self.out.flush()
        self.count += 1
        return adv
