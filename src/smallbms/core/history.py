"""History counters (SPEC 11), with the definitions used by Victron battery monitors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SYNC_COUNT_BELOW_PCT = 90.0  # a sync counts if SoC had fallen below this since the last one
CYCLE_LOW_PCT = 65.0  # a cycle starts when SoC falls below this ...
CYCLE_HIGH_PCT = 90.0  # ... and is counted when SoC later rises above this
LAST_ERRORS_KEPT = 4


@dataclass(slots=True)
class History:
    deepest_discharge_ah: float = 0.0
    cumulative_ah_drawn: float = 0.0
    discharged_energy_kwh: float = 0.0
    charged_energy_kwh: float = 0.0
    synchronisations: int = 0
    cycles: int = 0
    seconds_since_full_charge: float | None = None
    min_battery_voltage_v: float | None = None
    max_battery_voltage_v: float | None = None
    min_cell_voltage_v: float | None = None
    max_cell_voltage_v: float | None = None
    min_battery_temperature_c: float | None = None
    max_battery_temperature_c: float | None = None
    last_errors: list[tuple[str, float]] = field(default_factory=list)
    # cycle and sync bookkeeping
    fell_below_cycle_low: bool = False
    fell_below_sync_level: bool = False

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["last_errors"] = [{"code": c, "t": t} for c, t in self.last_errors]
        del d["fell_below_cycle_low"], d["fell_below_sync_level"]
        return d


def record_extremes(
    h: History, min_cell_v: float, max_cell_v: float, min_bank_v: float, max_bank_v: float,
    min_temp_c: float, max_temp_c: float,
) -> None:
    """Widen the recorded minima and maxima to include these values."""
    if h.min_cell_voltage_v is None:
        h.min_cell_voltage_v, h.max_cell_voltage_v = min_cell_v, max_cell_v
        h.min_battery_voltage_v, h.max_battery_voltage_v = min_bank_v, max_bank_v
        h.min_battery_temperature_c, h.max_battery_temperature_c = min_temp_c, max_temp_c
        return
    assert h.max_cell_voltage_v is not None and h.min_battery_voltage_v is not None
    assert h.max_battery_voltage_v is not None and h.min_battery_temperature_c is not None
    assert h.max_battery_temperature_c is not None
    if min_cell_v < h.min_cell_voltage_v:
        h.min_cell_voltage_v = min_cell_v
    if max_cell_v > h.max_cell_voltage_v:
        h.max_cell_voltage_v = max_cell_v
    if min_bank_v < h.min_battery_voltage_v:
        h.min_battery_voltage_v = min_bank_v
    if max_bank_v > h.max_battery_voltage_v:
        h.max_battery_voltage_v = max_bank_v
    if min_temp_c < h.min_battery_temperature_c:
        h.min_battery_temperature_c = min_temp_c
    if max_temp_c > h.max_battery_temperature_c:
        h.max_battery_temperature_c = max_temp_c


def record_charge(
    h: History, charged_ah: float, discharged_ah: float, bank_v: float, consumed_ah: float
) -> None:
    if discharged_ah:
        h.cumulative_ah_drawn -= discharged_ah
        h.discharged_energy_kwh += discharged_ah * bank_v / 1000.0
    if charged_ah:
        h.charged_energy_kwh += charged_ah * bank_v / 1000.0
    if consumed_ah < h.deepest_discharge_ah:
        h.deepest_discharge_ah = consumed_ah


def record_soc(h: History, soc_pct: float) -> None:
    if soc_pct < CYCLE_LOW_PCT:
        h.fell_below_cycle_low = True
    elif soc_pct > CYCLE_HIGH_PCT and h.fell_below_cycle_low:
        h.fell_below_cycle_low = False
        h.cycles += 1
    if soc_pct < SYNC_COUNT_BELOW_PCT:
        h.fell_below_sync_level = True


def record_sync(h: History, automatic: bool) -> None:
    if automatic and h.fell_below_sync_level:
        h.synchronisations += 1
    h.fell_below_sync_level = False
    h.seconds_since_full_charge = 0.0


def record_error(h: History, code: str, t_s: float) -> None:
    h.last_errors.append((code, t_s))
    del h.last_errors[:-LAST_ERRORS_KEPT]
