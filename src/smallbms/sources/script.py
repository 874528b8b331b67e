"""The scripted battery source: readings given as points in a scenario, no physics.

Values are piecewise-linear in time between the points. The source keeps the battery bus state
the scenario's events change (comms cut, forced cells, batteries added or removed) and builds a
:class:`~smallbms.core.types.Reading` for any time, so the core can be driven at any interval.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from smallbms.catalog import get_model
from smallbms.core.monitor import ChargeCounter
from smallbms.core.types import BatteryReport, Reading, RemoteInput

FIRMWARE_VERSION = "v1.08"


def battery_serial(seed: int, index: int) -> str:
    """A deterministic, plausible serial number for simulated battery ``index``."""
    return f"HQ{(seed * 7919 + index * 104729) % 10**8:08d}"


@dataclass(frozen=True, slots=True)
class ScriptPoint:
    """One scripted reading: per-cell voltages of every battery, temperatures, current."""

    at_s: float
    cells_v: NDArray[np.float64]  # shape (batteries, cells per battery)
    temperatures_c: NDArray[np.float64]  # shape (batteries,)
    current_a: float
    voltage_v: float | None


@dataclass
class BusState:
    """What the events did to the battery bus and the batteries' reported values."""

    cut_all: bool = False
    cut: set[int] = field(default_factory=set)
    forced_cells: dict[tuple[int, int], float] = field(default_factory=dict)
    forced_temps: dict[int, float] = field(default_factory=dict)
    removed: set[int] = field(default_factory=set)
    added: int = 0


class ScriptSource:
    """Readings from scenario points, with the bus faults applied."""

    def __init__(
        self, model_id: str, series: int, parallel: int, points: list[ScriptPoint], seed: int,
    ) -> None:
        model = get_model(model_id)
        self.model_id = model_id
        self.series = series
        self.parallel = parallel
        self.cells = model.cells_in_series
        self.points = points
        self._times = [p.at_s for p in points]
        self.seed = seed
        self.bus = BusState()
        self.remote = RemoteInput()
        self.output_fault = False
        self.counter = ChargeCounter()
        self._last_t: float | None = None
        self._last_i = 0.0

    def force_cell(self, battery: int, cell: int, volts: float) -> None:
        self.bus.forced_cells[(battery, cell)] = volts

    def force_temperature(self, battery: int, celsius: float) -> None:
        self.bus.forced_temps[battery] = celsius

    def release(self, battery: int | None) -> None:
        bus = self.bus
        if battery is None:
            bus.forced_cells.clear()
            bus.forced_temps.clear()
            return
        for key in [k for k in bus.forced_cells if k[0] == battery]:
            del bus.forced_cells[key]
        bus.forced_temps.pop(battery, None)

    @property
    def batteries(self) -> int:
        return self.series * self.parallel

    def _at(self, t_s: float) -> tuple[NDArray[np.float64], NDArray[np.float64], float, float | None]:
        pts = self.points
        k = bisect.bisect_right(self._times, t_s) - 1
        if k < 0:
            k = 0
        a = pts[k]
        if k + 1 >= len(pts):
            return a.cells_v, a.temperatures_c, a.current_a, a.voltage_v
        b = pts[k + 1]
        w = (t_s - a.at_s) / (b.at_s - a.at_s)
        cells = a.cells_v + w * (b.cells_v - a.cells_v)
        temps = a.temperatures_c + w * (b.temperatures_c - a.temperatures_c)
        cur = a.current_a + w * (b.current_a - a.current_a)
        if a.voltage_v is not None and b.voltage_v is not None:
            volt: float | None = a.voltage_v + w * (b.voltage_v - a.voltage_v)
        else:
            volt = a.voltage_v if w < 1 else b.voltage_v
        return cells, temps, cur, volt

    def reading(self, t_s: float) -> Reading:
        cells, temps, current, volt = self._at(t_s)
        # coulomb counters: the mean current between readings (the trapezoid, exact for linear
        # segments), counted the monitor's way (SPEC 9 current threshold)
        if self._last_t is not None and t_s > self._last_t:
            self.counter.add((self._last_i + current) / 2.0, t_s - self._last_t)
        self._last_t = t_s
        self._last_i = current
        bus = self.bus
        slots: list[BatteryReport | None] = []
        battery_v: list[float] = []
        n_base = self.batteries
        for i in range(n_base + bus.added):
            if i in bus.removed:
                continue
            src = min(i, n_base - 1)
            vals = [float(x) for x in cells[src]]
            for (b, c), volts in bus.forced_cells.items():
                if b == i:
                    vals[c] = volts
            temp = bus.forced_temps.get(i, float(temps[src]))
            battery_v.append(sum(vals))
            if bus.cut_all or i in bus.cut:
                slots.append(None)
                continue
            slots.append(BatteryReport(
                serial=battery_serial(self.seed, i), model_id=self.model_id,
                firmware=FIRMWARE_VERSION, series_position=i % self.series,
                cell_voltages_v=tuple(vals), temperature_c=temp,
                current_a=current / self.parallel,
            ))
        if volt is None:
            # the bank voltage: a string's battery voltages in series (the first string)
            volt = sum(battery_v[: self.series]) if battery_v else 0.0
        return Reading(
            bank_voltage_v=volt,
            batteries=() if bus.cut_all else tuple(slots),
            current_a=None if (bus.cut_all or bus.cut) else current,
            remote=self.remote,
            charged_ah_total=None if (bus.cut_all or bus.cut) else self.counter.charged_ah,
            discharged_ah_total=None if (bus.cut_all or bus.cut) else self.counter.discharged_ah,
            output_fault=self.output_fault,
        )
