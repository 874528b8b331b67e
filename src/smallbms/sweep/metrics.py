"""One variant of a sweep, run with the BMS in the loop, boiled down to one row of figures.

The run is :mod:`smallbms.simulate`'s ordinary runner on the twin (quiet stretches skipped, as
``smallbms simulate`` does), with an observer that sees every BMS tick. Between two ticks the
BMS outputs hold, so the time without load, the days with a load-cut alarm and the energy the
loads would have drawn are exact sums over the ticks. The true SoC is read at every tick, and
the runner ticks at least once per ``sample_interval``, so the lowest true SoC and the daily SoC
band are as fine as that interval.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smallbms.core.engine import Core
from smallbms.core.types import Decision
from smallbms.scenario import Scenario
from smallbms.scenario.types import BatteryProtect, DcLoad, Inverter, LoadProfile
from smallbms.simulate import make_runner
from smallbms.sweep.spec import Sweep, Variant
from smallbms.twin.profiles import Profile, get_builtin

#: Alarms that open the load disconnect for an empty battery: low cell voltage, low SoC (the
#: discharge floor) and low bank voltage (SPEC 5).
LOAD_CUT_CODES = frozenset({"A-B01", "A-B07", "A-B08"})
DAY_S = 86400.0

#: The figures of one row, in column order, with their units in the names.
METRICS = (
    "days_loads_cut", "hours_without_load", "lowest_true_soc_pct", "energy_not_served_kwh",
    "cycles", "charge_disconnects", "min_cell_v", "damaged_batteries",
)


@dataclass
class _Demand:
    """What one load on the load disconnect would draw from the bank, in watts, over time."""

    constant_w: float | None
    profile: Profile | None
    factor: float  # profile value -> W
    idle_w: float = 0.0

    def power_w(self, t_s: float) -> float:
        if self.profile is None:
            assert self.constant_w is not None
            return self.constant_w
        return self.profile.value_at(t_s) * self.factor + self.idle_w

    def next_change_s(self, t_s: float) -> float | None:
        return None if self.profile is None else self.profile.next_change_s(t_s)


def _profile(spec: LoadProfile) -> Profile:
    if spec.name is not None:
        return get_builtin(spec.name)
    return Profile(tuple(p.t_s for p in spec.points), tuple(p.value for p in spec.points),
                   spec.repeat_s)


def load_demands(s: Scenario) -> list[_Demand]:
    """The loads the BMS can cut, as power drawn from the bank at its nominal voltage."""
    v_nom = s.bank.model.nominal_voltage_v * s.bank.series
    out: list[_Demand] = []
    for c in s.components:
        if c.controlled_by != "load_disconnect":
            continue
        if isinstance(c, DcLoad | BatteryProtect):
            if c.current_a is not None:
                out.append(_Demand(c.current_a * v_nom, None, 1.0))
            elif c.power_w is not None:
                out.append(_Demand(c.power_w, None, 1.0))
            elif c.profile is not None:
                prof = _profile(c.profile)
                out.append(_Demand(None, prof, 1.0 if prof.unit == "W" else v_nom))
        elif isinstance(c, Inverter):
            if c.power_w is not None:
                out.append(_Demand(c.power_w / c.efficiency + c.idle_w, None, 1.0))
            elif c.profile is not None:
                out.append(_Demand(None, _profile(c.profile), 1.0 / c.efficiency, c.idle_w))
    return out


def energy_wh(demands: list[_Demand], t0: float, t1: float) -> float:
    """Energy the loads would draw between ``t0`` and ``t1`` (Wh)."""
    total = 0.0
    for d in demands:
        t = t0
        while t < t1:
            nxt = d.next_change_s(t)
            end = t1 if nxt is None else min(t1, nxt)
            total += d.power_w(t) * (end - t)
            t = end
    return total / 3600.0


@dataclass
class Tally:
    """The observer's running sums (see the module doc)."""

    demands: list[_Demand]
    days: int
    last_t: float = 0.0
    load_off: bool = False
    cut: bool = False
    charge_on: bool = True
    off_s: float = 0.0
    unserved_wh: float = 0.0
    cut_days: set[int] = field(default_factory=set)
    charge_disconnects: int = 0
    soc_min: dict[int, float] = field(default_factory=dict)
    soc_max: dict[int, float] = field(default_factory=dict)

    def tick(self, t: float, d: Decision, true_soc_pct: float) -> None:
        if t > self.last_t:
            if self.load_off:
                self.off_s += t - self.last_t
                self.unserved_wh += energy_wh(self.demands, self.last_t, t)
            if self.cut:
                self.cut_days.update(range(self._day(self.last_t), _day_of_end(t, self.days) + 1))
        self.last_t = t
        self.load_off = d.load_disconnect != "high"
        self.cut = not LOAD_CUT_CODES.isdisjoint(d.active_codes)
        if self.cut:
            self.cut_days.add(self._day(t))
        charge_on = d.charge_disconnect == "high"
        if self.charge_on and not charge_on:
            self.charge_disconnects += 1
        self.charge_on = charge_on
        day = self._day(t)
        self.soc_min[day] = min(self.soc_min.get(day, math.inf), true_soc_pct)
        self.soc_max[day] = max(self.soc_max.get(day, -math.inf), true_soc_pct)

    def _day(self, t: float) -> int:
        """The day ``t`` falls in (the end of the run counts to the last day)."""
        return min(int(t // DAY_S), self.days - 1)


def _day_of_end(t: float, days: int) -> int:
    """The last day an interval ending at ``t`` touches (an interval ending at midnight does
    not reach into the next day)."""
    return min(math.ceil(t / DAY_S) - 1, days - 1)


def run_variant(sweep: Sweep, variant: Variant,
                progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Run one variant (one seed) and return its row: the variant's axis values, the bank and
    solar sizes, the figures of :data:`METRICS`, and the daily true-SoC band as two lists."""
    s = sweep.scenario(variant)
    runner = make_runner(s, io.StringIO(), log=lambda _msg: None, progress=progress)
    twin = runner.twin
    assert twin is not None
    n_days = max(1, math.ceil(s.duration_s / DAY_S - 1e-9))
    tally = Tally(load_demands(s), n_days)

    def observe(t: float, d: Decision, core: Core) -> None:
        tally.tick(t, d, twin.bank.soc_pct)

    runner.observers.append(observe)
    result = runner.run()
    summary = twin.summary()
    history = result.core.history_dict() if s.profile == "ng" else {}
    bank = s.bank
    capacity_ah = bank.model.capacity_ah * bank.parallel
    days = range(n_days)
    band_lo = [round(tally.soc_min.get(d, math.nan), 2) for d in days]
    band_hi = [round(tally.soc_max.get(d, math.nan), 2) for d in days]
    min_cell = history.get("min_cell_voltage_v")
    row: dict[str, Any] = {"variant": variant.index, "seed": variant.seed}
    row.update(dict(variant.values))
    row.update({
        "bank_kwh": round(bank.model.nominal_voltage_v * bank.series * capacity_ah / 1000.0, 3),
        "solar_w": round(sum(getattr(c, "peak_w", 0.0) for c in s.components), 1),
        "days_loads_cut": len(tally.cut_days),
        "hours_without_load": round(tally.off_s / 3600.0, 3),
        "lowest_true_soc_pct": round(min(tally.soc_min.values()), 2),
        "energy_not_served_kwh": round(tally.unserved_wh / 1000.0, 3),
        "cycles": round(float(str(summary["discharged_ah"])) / capacity_ah, 2),
        "charge_disconnects": tally.charge_disconnects,
        "min_cell_v": math.nan if min_cell is None else round(float(min_cell), 3),
        "damaged_batteries": len(twin.damaged_at_s),
        "soc_day_min": band_lo,
        "soc_day_max": band_hi,
    })
    return row


def run_chunk(sweep: Sweep, variants: list[Variant]) -> list[dict[str, Any]]:
    """Run some variants one after the other (one unit of work for a Dask worker)."""
    return [run_variant(sweep, v) for v in variants]
