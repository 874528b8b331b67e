"""Bank topology discovery and validation (SPEC 4). Pure functions, no I/O.

The BMS never asks the owner how the batteries are wired: it reads each battery's model and
series position from the bus and works out batteries, cells, series and parallel counts itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from smallbms.catalog import CATALOGUE, BatteryModel
from smallbms.core.types import BatteryReport, Profile

#: Allowed series voltages (nominal, V) and the batteries per string that make them (M).
VALID_SERIES_NOMINAL_V: tuple[float, ...] = (12.8, 25.6, 51.2)
#: Maximum number of batteries per bank (M).
MAX_BATTERIES_NG_12_24 = 50
MAX_BATTERIES_NG_48 = 25
MAX_BATTERIES_CLASSIC = 20
#: Maximum bank energy per system voltage (M), kWh.
MAX_ENERGY_KWH: dict[float, float] = {12.8: 192.0, 25.6: 384.0, 51.2: 128.0}


@dataclass(frozen=True, slots=True)
class BankTopology:
    """A discovered, valid bank."""

    model_id: str
    serials: tuple[str, ...]
    series: int
    parallel: int
    cells_per_battery: int

    @property
    def batteries(self) -> int:
        return self.series * self.parallel

    @property
    def model(self) -> BatteryModel:
        return CATALOGUE[self.model_id]

    @property
    def cells_in_series(self) -> int:
        """Cells in series across one string (bank voltage / cell voltage)."""
        return self.cells_per_battery * self.series

    @property
    def cells_total(self) -> int:
        return self.cells_per_battery * self.batteries

    @property
    def capacity_ah(self) -> float:
        """Nominal Ah x batteries in parallel (M)."""
        return self.model.capacity_ah * self.parallel

    @property
    def nominal_voltage_v(self) -> float:
        return self.model.nominal_voltage_v * self.series

    @property
    def energy_kwh(self) -> float:
        return self.model.energy_kwh * self.batteries


@dataclass(frozen=True, slots=True)
class BankProblem:
    """Why a bank is not valid (E-B01), in words for the owner."""

    reason: str


def discover(reports: Sequence[BatteryReport], profile: Profile = "ng") -> BankTopology | BankProblem:
    """Work out the bank layout from the batteries' reports, or say why it is not allowed."""
    if not reports:
        return BankProblem("no batteries found on the battery bus")
    serials = tuple(r.serial for r in reports)
    if len(set(serials)) != len(serials):
        dup = next(s for s, n in Counter(serials).items() if n > 1)
        return BankProblem(f"two batteries report the same serial number {dup}")
    models = {r.model_id for r in reports}
    if len(models) > 1:
        return BankProblem("batteries of different models in one bank: " + ", ".join(sorted(models)))
    model_id = reports[0].model_id
    model = CATALOGUE.get(model_id)
    if model is None:
        return BankProblem(f"battery model {model_id!r} is not known")
    wanted_family = "ng" if profile == "ng" else "smart"
    if model.family != wanted_family:
        kind = "Lithium NG" if wanted_family == "ng" else "Lithium Battery Smart"
        return BankProblem(f"battery model {model_id} is not a {kind} battery")
    counts = Counter(r.series_position for r in reports)
    series = max(counts) + 1
    if min(counts) < 0 or set(counts) != set(range(series)):
        return BankProblem("battery series positions are not contiguous (a string is incomplete)")
    per_position = set(counts.values())
    if len(per_position) != 1:
        return BankProblem("parallel strings do not have the same number of batteries in series")
    parallel = per_position.pop()
    series_v = round(model.nominal_voltage_v * series, 1)
    if series_v not in VALID_SERIES_NOMINAL_V:
        return BankProblem(
            f"{series} x {model.nominal_voltage_v:g} V in series makes {series_v:g} V; "
            "only 12, 24 or 48 V systems are allowed"
        )
    n = len(reports)
    if profile == "classic":
        limit = MAX_BATTERIES_CLASSIC
    elif model.nominal_voltage_v > 50:
        limit = MAX_BATTERIES_NG_48
    else:
        limit = MAX_BATTERIES_NG_12_24
    if n > limit:
        return BankProblem(f"{n} batteries; at most {limit} of this model are allowed")
    energy = model.energy_kwh * n
    if profile == "ng" and energy > MAX_ENERGY_KWH[model.nominal_voltage_v] + 1e-6:
        return BankProblem(f"bank energy {energy:g} kWh is above the maximum for this system")
    return BankTopology(
        model_id=model_id, serials=tuple(sorted(serials)), series=series, parallel=parallel,
        cells_per_battery=model.cells_in_series,
    )
