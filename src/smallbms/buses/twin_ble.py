"""``[bus] kind = "twin-ble"``: the twin's batteries and shunt broadcast Instant Readout records,
each encrypted with its own key, into the same decode path as real devices.

Each battery of the twin sends a Smart Lithium record (its cells, voltage and temperature) and a
SmartShunt sends the bank's current and voltage, at every tick, as real devices do about once a
second. The adverts go through :func:`~smallbms.buses.source.victron_decoder` and the gate exactly
as a radio's would, so the whole path (encryption, victron-ble's decoding, freshness,
plausibility) runs with no radio. :meth:`TwinBleSource.silence` stops one device's adverts (a
battery out of range), :meth:`TwinBleSource.resume` brings them back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from smallbms.buses.capture import VICTRON_COMPANY_ID, Advert
from smallbms.buses.config import BusDevice, BusTable
from smallbms.buses.gate import Gate
from smallbms.buses.source import BusSource, victron_decoder
from smallbms.buses.victron import (
    CELL_SLOTS,
    PRODUCT_SMART_LITHIUM,
    PRODUCT_SMARTSHUNT,
    RECORD_BATTERY_MONITOR,
    RECORD_SMART_LITHIUM,
    advert,
    encode_battery_monitor,
    encode_smart_lithium,
)
from smallbms.core.types import Decision
from smallbms.sources.twin import TwinSource

SHUNT_ADDRESS = "C0:DE:00:00:FF:00"


def battery_address(index: int) -> str:
    """The twin's battery ``index`` on the air (a static random address)."""
    return f"C0:DE:00:00:{index // 256:02X}:{index % 256:02X}"


def device_key(seed: int, address: str) -> bytes:
    """A deterministic key per twin device (never use one for a real device)."""
    return hashlib.sha256(f"smallbms twin-ble key\0{seed}\0{address}".encode()).digest()[:16]


class TwinBleFeed:
    """What the twin broadcasts at a device time."""

    def __init__(self, twin: TwinSource, devices: list[BusDevice]) -> None:
        self.twin = twin
        self.devices = devices
        self.silenced: set[str] = set()
        self._nonce = 0
        self.sent = 0

    def _advert(self, address: str, key_hex: str, record: bytes, kind: int, product: int,
                t_s: float) -> tuple[float, Advert]:
        self._nonce = (self._nonce + 1) % (1 << 16)
        data = advert(bytes.fromhex(key_hex), self._nonce, record, kind, product)
        self.sent += 1
        return t_s, Advert(t_s, address, VICTRON_COMPANY_ID, data)

    def due(self, t_s: float) -> Iterator[tuple[float, Any]]:
        r = self.twin.reading(t_s)
        batteries = [d for d in self.devices if d.role == "battery"]
        for dev, rep in zip(batteries, r.batteries, strict=False):
            if rep is None or dev.address in self.silenced or dev.key is None:
                continue
            record = encode_smart_lithium(rep.cell_voltages_v, sum(rep.cell_voltages_v),
                                          rep.temperature_c)
            yield self._advert(dev.address, dev.key, record, RECORD_SMART_LITHIUM,
                               PRODUCT_SMART_LITHIUM, t_s)
        shunt = next((d for d in self.devices if d.role == "shunt"), None)
        if (shunt is not None and shunt.key is not None and r.current_a is not None
                and shunt.address not in self.silenced):
            record = encode_battery_monitor(r.current_a, r.bank_voltage_v, None)
            yield self._advert(shunt.address, shunt.key, record, RECORD_BATTERY_MONITOR,
                               PRODUCT_SMARTSHUNT, t_s)


class TwinBleSource(BusSource):
    """The twin on the air: its adverts through the real decode path and the gate."""

    def __init__(self, twin: TwinSource, table: BusTable | None = None, seed: int = 0) -> None:
        model = twin.bank.model
        if model.cells_in_series > CELL_SLOTS:
            raise ValueError(f"twin-ble: the Smart Lithium record holds {CELL_SLOTS} cells; the "
                             f"{model.model_id} battery has {model.cells_in_series}")
        first = twin.reading(0.0)
        devices: list[BusDevice] = []
        for i, rep in enumerate(first.batteries):
            address = battery_address(i)
            devices.append(BusDevice(
                address=address, role="battery", key=device_key(seed, address).hex(),
                model=model.model_id, name=f"twin battery {i + 1}",
                series_position=rep.series_position if rep is not None else 0))
        devices.append(BusDevice(address=SHUNT_ADDRESS, role="shunt",
                                 key=device_key(seed, SHUNT_ADDRESS).hex(), name="twin shunt"))
        stale = table.stale_after_s if table is not None else BusTable().stale_after_s
        self.table = BusTable.model_construct(
            kind="twin-ble", replay=None, stale_after_s=stale, devices=devices, custom=None)
        self.twin = twin
        self.ble = TwinBleFeed(twin, devices)
        super().__init__(Gate(self.table, model), self.ble, victron_decoder)
        self.remote = twin.remote

    @property
    def devices(self) -> list[BusDevice]:
        return self.ble.devices

    def silence(self, address: str) -> None:
        """Stop the adverts of one device (its address)."""
        self.ble.silenced.add(address)

    def resume(self, address: str) -> None:
        self.ble.silenced.discard(address)

    def obey(self, d: Decision) -> None:
        self.twin.obey(d)
