"""Listening to Bluetooth LE advertisements with ``bleak`` (BlueZ on Linux).

:class:`BleListener` runs a passive scan on its own asyncio thread and hands every Victron
advertisement (company id 0x02E1) to a callback as an :class:`~smallbms.buses.capture.Advert`;
``smallbms run`` pushes them into the bus's live feed, ``smallbms scan`` lists and records them.
Nothing here decodes: that is the same code for a radio, a replay and the twin.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smallbms.buses.capture import VICTRON_COMPANY_ID, Advert

log = logging.getLogger(__name__)

RECORD_NAMES = {0x01: "solar charger", 0x02: "battery monitor", 0x03: "inverter",
                0x04: "DC/DC converter", 0x05: "Smart Lithium", 0x08: "AC charger",
                0x09: "Smart BatteryProtect", 0x0A: "(Lynx Smart) BMS", 0x0C: "VE.Bus",
                0x0D: "DC energy meter"}


def record_name(data: bytes) -> str:
    """What kind of Victron record an advertisement carries, in words."""
    if len(data) < 5 or data[0] != 0x10:
        return "not an Instant Readout advert"
    return RECORD_NAMES.get(data[4], f"record 0x{data[4]:02X}")


class BleListener:
    """A passive BLE scan; ``on_advert`` is called on the scan thread for each Victron advert."""

    def __init__(self, on_advert: Callable[[Advert], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.on_advert = on_advert
        self.clock = clock
        self.start_s = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def _seen(self, device: Any, adv: Any) -> None:
        data = (getattr(adv, "manufacturer_data", None) or {}).get(VICTRON_COMPANY_ID)
        if data is None:
            return
        self.on_advert(Advert(self.clock() - self.start_s, str(device.address).upper(),
                              VICTRON_COMPANY_ID, bytes(data), getattr(adv, "rssi", None)))

    async def _main(self) -> None:
        from bleak import BleakScanner

        async with BleakScanner(detection_callback=self._seen):
            while not self._stop.is_set():
                await asyncio.sleep(0.2)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as e:  # no adapter, BlueZ not running, no permission
            self.error = str(e) or type(e).__name__
            log.error("bus: the Bluetooth scan stopped: %s", self.error)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bus-ble", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


@dataclass
class Seen:
    """One device as ``smallbms scan`` lists it."""

    address: str
    kind: str
    rssi: int | None
    key_configured: bool
    adverts: int = 0
    last: bytes = field(default=b"", repr=False)


def tally(seen: dict[str, Seen], adv: Advert, keys: set[str]) -> None:
    """Count one advert into the scan's table."""
    row = seen.get(adv.address)
    if row is None:
        row = seen[adv.address] = Seen(adv.address, record_name(adv.data), adv.rssi,
                                       adv.address in keys)
    row.adverts += 1
    row.rssi = adv.rssi if adv.rssi is not None else row.rssi
    row.last = adv.data
