"""``smallbms scan``: list the Victron devices in range and, with ``--record``, capture them."""

from __future__ import annotations

import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from smallbms.buses.ble import BleListener, Seen, tally
from smallbms.buses.capture import Advert, CaptureWriter
from smallbms.buses.config import BusTable
from smallbms.errors import ConfigError
from smallbms.schema import first_problem


def configured_keys(config: Path | None) -> set[str]:
    """The addresses that have a key in the ``[bus]`` table of a run configuration."""
    if config is None:
        return set()
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{config}: cannot read: {e}") from None
    try:
        table = BusTable.model_validate(data.get("bus", {}))
    except ValidationError as exc:
        key, message = first_problem(exc)
        raise ConfigError(f"{config}: bus.{key}: {message}") from None
    return {d.address for d in table.devices if d.key is not None}


def rows(seen: dict[str, Seen]) -> list[str]:
    """The scan's table as lines of text, strongest signal first."""
    out = [f"{'address':<18} {'kind':<24} {'signal':>7} {'adverts':>7}  key"]
    for s in sorted(seen.values(), key=lambda s: -(s.rssi if s.rssi is not None else -999)):
        signal = f"{s.rssi} dBm" if s.rssi is not None else "?"
        out.append(f"{s.address:<18} {s.kind:<24} {signal:>7} {s.adverts:>7}  "
                   f"{'configured' if s.key_configured else 'not configured'}")
    return out


def scan(seconds: float, keys: set[str], record: IO[str] | None,
         echo: Callable[[str], None]) -> dict[str, Seen]:
    """Listen for ``seconds`` (until Ctrl-C when 0), then print what was heard."""
    seen: dict[str, Seen] = {}
    lock = threading.Lock()
    writer = CaptureWriter(record, 0.0) if record is not None else None

    def got(adv: Advert) -> None:
        with lock:
            tally(seen, adv, keys)
            if writer is not None:
                writer.write(adv.t, adv.address, adv.manufacturer_id, adv.data, adv.rssi)

    listener = BleListener(got)
    listener.start()
    try:
        end = time.monotonic() + seconds if seconds > 0 else float("inf")
        while time.monotonic() < end and listener.error is None:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        listener.stop()
    if listener.error is not None:
        raise ConfigError(f"Bluetooth scan failed: {listener.error} (is BlueZ running and the "
                          "adapter powered? `bluetoothctl show`)")
    with lock:
        for line in rows(seen):
            echo(line)
        if writer is not None:
            echo(f"recorded {writer.count} adverts")
    return seen
