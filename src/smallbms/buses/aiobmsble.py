"""``[bus] kind = "aiobmsble"``: BMS boards (JK, JBD, Daly, Seplos and more) read over Bluetooth
with the ``aiobmsble`` library.

The library connects to each board and returns a sample dict (``cell_voltages``,
``temp_values``, ``temperature``, ``voltage``, ``current``, ...). :func:`sample_values` turns one
sample into :class:`~smallbms.buses.gate.BatteryValues`; :class:`AiobmsblePoller` polls every
configured board on its own asyncio thread and pushes the samples into a live feed, stamped
with their arrival. These are not Victron batteries: the bank uses the ``custom`` battery of
``[bus.custom]`` (docs/bus-aiobmsble.md says which SPEC rules then apply).

aiobmsble needs Python 3.12 or later; it is imported only when this bus is used.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, SupportsFloat

from smallbms.buses.config import BusDevice
from smallbms.buses.gate import BatteryValues, Gate
from smallbms.buses.source import LiveFeed

log = logging.getLogger(__name__)

#: (P) how often each board is asked, s (real boards answer within a few hundred ms)
POLL_S = 1.0
#: the temperature the choice of a battery's one temperature is measured from, °C
COMFORT_C = 25.0


class SampleError(ValueError):
    """A sample that does not give what a battery report needs."""


def _number(x: Any) -> float | None:
    """A plain number as a float; None for anything else (an int too large for a float too)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    try:
        return float(x)
    except OverflowError:
        return None


def _sensor(x: Any) -> float | None:
    """One entry of ``temp_values``: a number, or (newer aiobmsble versions) a sensor object
    holding the value and the sensor's kind, which converts with ``float()``."""
    v = _number(x)
    if v is not None or isinstance(x, bool | str | bytes) or not isinstance(x, SupportsFloat):
        return v
    try:
        return float(x)
    except (TypeError, ValueError, OverflowError):
        return None


def sample_values(sample: Mapping[str, Any]) -> BatteryValues:
    """One aiobmsble sample to battery values.

    The cells are ``cell_voltages``; the battery's one temperature is, of ``temp_values`` (or
    ``temperature`` when the board gives no list), the one farthest from 25 °C, so both the hot
    and the cold limits see the worst sensor. SampleError when cells or temperature are missing
    or not numbers, and when any entry of ``temp_values`` is unreadable or NaN: a broken sensor
    must not leave the others to speak for a battery it may be the hot spot of (the message is
    refused, so the battery goes quiet and the comms-lost rules apply).
    """
    if not isinstance(sample, Mapping):
        raise SampleError(f"a sample is a mapping, got {type(sample).__name__}")
    cells_raw = sample.get("cell_voltages")
    if not isinstance(cells_raw, list | tuple) or not cells_raw:
        raise SampleError("the sample has no cell voltages")
    cells: list[float] = []
    for c in cells_raw:
        v = _number(c)
        if v is None:
            raise SampleError(f"cell voltage {c!r} is not a number")
        cells.append(v)
    temps_raw = sample.get("temp_values")
    temps: list[float] = []
    if isinstance(temps_raw, list | tuple):
        for x in temps_raw:
            t = _sensor(x)
            if t is None or math.isnan(t):
                raise SampleError(f"temperature sensor value {x!r} is not a number")
            temps.append(t)
    if not temps:
        t = _number(sample.get("temperature"))
        if t is not None:
            temps = [t]
    if not temps:
        raise SampleError("the sample has no temperature")
    temperature = max(temps, key=lambda t: abs(t - COMFORT_C))
    return BatteryValues(cells_v=tuple(cells), temperature_c=temperature,
                         voltage_v=_number(sample.get("voltage")),
                         current_a=_number(sample.get("current")))


@dataclass(frozen=True, slots=True)
class Sample:
    address: str
    sample: Mapping[str, Any]


def aiobmsble_decoder(t_s: float, message: Any, gate: Gate) -> None:
    m: Sample = message
    try:
        values = sample_values(m.sample)
    except SampleError as e:
        gate.refuse(m.address, t_s, f"sample: {e}")
        return
    gate.battery(m.address, t_s, values)


def bms_class(module: str) -> Any:
    """aiobmsble's BMS class for a board type (its module name, e.g. ``"jbd_bms"``)."""
    if not module.replace("_", "").isalnum():
        raise ValueError(f"not an aiobmsble BMS module name: {module!r}")
    try:
        mod = importlib.import_module(f"aiobmsble.bms.{module}")
    except ModuleNotFoundError as e:
        raise ValueError(f"aiobmsble has no BMS module {module!r} (or aiobmsble is not "
                         f"installed: it needs Python 3.12+): {e}") from None
    return mod.BMS


class AiobmsblePoller:
    """Polls every configured board on one asyncio thread; samples go to ``feed``."""

    def __init__(self, devices: list[BusDevice], feed: LiveFeed, poll_s: float = POLL_S) -> None:
        self.devices = devices
        self.feed = feed
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def _poll_one(self, dev: BusDevice) -> None:
        from bleak import BleakScanner

        cls = bms_class(dev.bms or "")
        while not self._stop.is_set():
            try:
                ble = await BleakScanner.find_device_by_address(dev.address, timeout=10.0)
                if ble is None:
                    await asyncio.sleep(self.poll_s)
                    continue
                bms = cls(ble)
                try:
                    while not self._stop.is_set():
                        sample = await bms.async_update()
                        self.feed.push(Sample(dev.address, dict(sample)))
                        await asyncio.sleep(self.poll_s)
                finally:
                    await bms.disconnect()
            except Exception as e:  # a radio error: log, wait, try again; never end the thread
                log.warning("bus: %s: %s; retrying", dev.label, e)
                await asyncio.sleep(self.poll_s)

    async def _main(self) -> None:
        await asyncio.gather(*(self._poll_one(d) for d in self.devices if d.role == "battery"))

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()),
                                        name="bus-aiobmsble", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
