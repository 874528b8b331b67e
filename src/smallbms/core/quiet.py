"""Quiet regions: the input ranges inside which the core's decision cannot change.

A simulator that keeps every quantity strictly inside its range and calls the core again no
later than the region's deadline may skip the ticks in between without missing any output,
code or LED change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from smallbms.bank import BankTopology
from smallbms.core import history as hist
from smallbms.core import thresholds as th
from smallbms.core.latch import Latch, ProtectionLatches
from smallbms.core.monitor import CHARGE_EFFICIENCY, Amount
from smallbms.core.settings import Settings
from smallbms.core.types import IntervalExtremes, Profile


def soc_change_pct(charged_ah: Amount, discharged_ah: Amount, capacity_ah: Amount) -> Amount:
    """How far counter deltas move the monitor's SoC, in points (charge counted with the
    charge efficiency, SPEC 9). Plain arithmetic: works elementwise on numpy arrays too."""
    return (charged_ah * CHARGE_EFFICIENCY - discharged_ah) / capacity_ah * 100.0


@dataclass(frozen=True, slots=True)
class QuietRegion:
    """Input ranges inside which the decision stays the same (open intervals).

    A source that keeps every quantity strictly inside its range, and calls again no later than
    ``deadline_s``, sees no output, code or LED change it would have seen reading every second.
    ``None`` bounds mean unbounded. ``needs_complete`` is True: a missing battery changes things.
    The SoC is the monitor's: :meth:`soc_inside` says whether the counter deltas since the call
    that made the region keep it inside ``soc_pct`` (``soc_start_pct`` None: SoC unknown, no
    bound).
    """

    min_cell_v: tuple[float, float]
    max_cell_v: tuple[float, float]
    min_temperature_c: tuple[float, float]
    max_temperature_c: tuple[float, float]
    bank_voltage_v: tuple[float, float]
    current_a: tuple[float, float]
    soc_pct: tuple[float, float]
    deadline_s: float | None
    soc_start_pct: float | None = None
    capacity_ah: float = 0.0

    def soc_after(self, charged_ah: float, discharged_ah: float) -> float | None:
        """The monitor's SoC after these counter deltas (None while unknown)."""
        if self.soc_start_pct is None:
            return None
        after = self.soc_start_pct + soc_change_pct(charged_ah, discharged_ah, self.capacity_ah)
        return min(100.0, max(0.0, after))

    def soc_inside(self, charged_ah: float, discharged_ah: float) -> bool:
        """True when the SoC after these counter deltas stays strictly inside ``soc_pct``."""
        after = self.soc_after(charged_ah, discharged_ah)
        return after is None or self.soc_pct[0] < after < self.soc_pct[1]

    def narrowed(self, cell_v: float, temperature_c: float, current_a: float) -> QuietRegion:
        """The region with every cell voltage, temperature and current bound moved inwards by
        these margins (V, °C, A; the unbounded sides stay unbounded). A source that compares
        raw values with the region while it reports them rounded passes a little more than half
        its resolution: the region is then left no later than the reported value reaches a
        bound."""
        def inward(r: tuple[float, float], m: float) -> tuple[float, float]:
            return r[0] + m, r[1] - m  # inf +- m is inf

        return QuietRegion(  # built directly: dataclasses.replace costs ~4x as much
            min_cell_v=inward(self.min_cell_v, cell_v),
            max_cell_v=inward(self.max_cell_v, cell_v),
            min_temperature_c=inward(self.min_temperature_c, temperature_c),
            max_temperature_c=inward(self.max_temperature_c, temperature_c),
            bank_voltage_v=self.bank_voltage_v, current_a=inward(self.current_a, current_a),
            soc_pct=self.soc_pct, deadline_s=self.deadline_s, soc_start_pct=self.soc_start_pct,
            capacity_ah=self.capacity_ah)

    @property
    def bounds(self) -> RegionBounds:
        """The region as plain numbers, for :func:`holds_values` (NaN: SoC unknown)."""
        b = (*self.min_cell_v, *self.max_cell_v, *self.min_temperature_c,
             *self.max_temperature_c, *self.bank_voltage_v, *self.current_a, *self.soc_pct,
             math.nan if self.soc_start_pct is None else self.soc_start_pct, self.capacity_ah)
        return tuple(float(x) for x in b)  # type: ignore[return-value]  # 16 floats

    def holds(self, e: IntervalExtremes, end: IntervalExtremes, current_a: float,
              charged_ah: float, discharged_ah: float) -> bool:
        """True when an interval that started inside the region stays strictly inside it: ``e``
        its extremes, ``end`` the values at its end (the extremes of its last instant), this
        (constant) current and these counter deltas since the call that made the region.

        The extremes bound how low the lowest cell and how high the highest cell went. How
        *high* the lowest cell went (A-B01 and W-B01 clear on it) and how low the highest cell
        went (the overvoltage clear), and the same for the temperatures, are checked at the
        interval's end: under a constant current they move one way, and the start was inside.
        """
        return holds_values(self.bounds, e.min_cell_v, e.max_cell_v, e.min_bank_v,
                            e.max_bank_v, e.min_temperature_c, e.max_temperature_c,
                            end.min_cell_v, end.max_cell_v, end.min_temperature_c,
                            end.max_temperature_c, current_a, charged_ah, discharged_ah)


#: :attr:`QuietRegion.bounds`: lower and upper bounds of the lowest cell, the highest cell, the
#: lowest and the highest temperature, the bank voltage, the current and the SoC, then the SoC
#: at the start (NaN: unknown) and the capacity.
RegionBounds = tuple[float, float, float, float, float, float, float, float, float, float,
                     float, float, float, float, float, float]


def holds_values(b: RegionBounds, min_cell_v: float, max_cell_v: float, min_bank_v: float,
                 max_bank_v: float, min_t: float, max_t: float, end_min_cell_v: float,
                 end_max_cell_v: float, end_min_t: float, end_max_t: float, current_a: float,
                 charged_ah: float, discharged_ah: float) -> bool:
    """:meth:`QuietRegion.holds` on plain numbers (``b`` the region's :attr:`~QuietRegion.bounds`,
    then the interval's extremes, the extremes of its last instant, the current and the counter
    deltas). Plain arithmetic, so a simulator may compile it (the twin's quiet loop does)."""
    if not (b[0] < min_cell_v < b[1] and end_min_cell_v < b[1]
            and b[2] < max_cell_v < b[3] and b[2] < end_max_cell_v
            and b[4] < min_t < b[5] and end_min_t < b[5]
            and b[6] < max_t < b[7] and b[6] < end_max_t
            and b[8] < min_bank_v and max_bank_v < b[9]
            and b[10] < current_a < b[11]):
        return False
    start = b[14]
    if math.isnan(start):  # SoC unknown: no bound
        return True
    after = min(100.0, max(0.0, start + soc_change_pct(charged_ah, discharged_ah, b[15])))
    return b[12] < after < b[13]


@dataclass(frozen=True, slots=True)
class QuietInputs:
    """What the region is worked out from: the core's latches, settings, bank and monitor."""

    latches: ProtectionLatches
    settings: Settings
    bank: BankTopology | None
    profile: Profile
    bank_voltage_v: float
    sync_timer: Latch | None
    soc_pct: float | None
    deadline_s: float | None
    #: False while the BMS has no supply (the bank below SUPPLY_MIN_V)
    powered: bool = True


def quiet_region(q: QuietInputs) -> QuietRegion:
    """Open input ranges inside which the next decision equals the last one (see class doc)."""
    la = q.latches
    s = q.settings
    inf = math.inf
    if not q.powered:  # nothing runs: only the supply coming back (8 V or more) changes things
        wide = (-inf, inf)
        return QuietRegion(min_cell_v=wide, max_cell_v=wide, min_temperature_c=wide,
                           max_temperature_c=wide, bank_voltage_v=(-inf, th.SUPPLY_MIN_V),
                           current_a=wide, soc_pct=wide, deadline_s=q.deadline_s)
    # minimum cell voltage: pre-alarm and undervoltage
    lo, hi = -inf, inf
    pa = s.pre_alarm_level_v
    for latch, trip, clear in (
        (la.pre_alarm, pa, pa + th.PRE_ALARM_CLEAR_MARGIN_V),
        (la.undervoltage, th.CELL_UNDERVOLTAGE_TRIP_V, th.CELL_UNDERVOLTAGE_CLEAR_V),
    ):
        if latch.active:
            hi = min(hi, clear)
        else:
            lo = max(lo, trip)
    min_cell = (lo, hi)
    max_cell = (
        (th.CELL_OVERVOLTAGE_CLEAR_V, inf) if la.overvoltage.active
        else (-inf, th.CELL_OVERVOLTAGE_TRIP_V))
    # the temperature trips are strict (below 5 °C, above 50 °C): a battery exactly at the trip
    # temperature (one at a 5 °C ambient) is inside, so the open bound sits one ulp outside it
    min_t = (
        (-inf, th.LOW_CHARGE_TEMP_CLEAR_C) if la.low_temp.active
        else (math.nextafter(th.LOW_CHARGE_TEMP_TRIP_C, -inf), inf))
    max_t = (
        (th.HIGH_TEMP_CLEAR_C, inf) if la.high_temp.active
        else (-inf, math.nextafter(th.HIGH_TEMP_TRIP_C, inf)))
    vlo, vhi = th.BANK_VOLTAGE_MIN_V, th.BANK_VOLTAGE_MAX_V
    if la.e_b09.active:  # stay on the side of the window we are on
        if q.bank_voltage_v < th.BANK_VOLTAGE_MIN_V + th.BANK_VOLTAGE_CLEAR_MARGIN_V:
            # and powered: below SUPPLY_MIN_V the BMS has no power (at it, it still runs)
            vlo = math.nextafter(th.SUPPLY_MIN_V, -inf)
            vhi = th.BANK_VOLTAGE_MIN_V + th.BANK_VOLTAGE_CLEAR_MARGIN_V
        else:
            vlo, vhi = th.BANK_VOLTAGE_MAX_V - th.BANK_VOLTAGE_CLEAR_MARGIN_V, inf
    bank = q.bank
    ilo, ihi = -inf, inf
    soc_lo, soc_hi = -inf, inf
    soc_start: float | None = None
    capacity = 0.0
    if bank is not None:
        n = bank.cells_in_series
        if la.low_bank.active:
            vhi = min(vhi, th.LOW_BANK_CLEAR_V_PER_CELL * n)
        elif la.low_bank.since_s is not None:  # timer running: stay below the trip level
            vhi = min(vhi, th.LOW_BANK_TRIP_V_PER_CELL * n)
        else:
            vlo = max(vlo, th.LOW_BANK_TRIP_V_PER_CELL * n)
        if q.profile == "ng":
            charged_v = s.charged_voltage_v * bank.nominal_voltage_v / 12.8
            tail_a = s.tail_current_pct / 100.0 * bank.capacity_ah
            timer = q.sync_timer
            running = timer is not None and (timer.active or timer.since_s is not None)
            vb = q.bank_voltage_v
            if running:
                vlo = max(vlo, charged_v)
                ihi = tail_a
            elif vb < charged_v:
                vhi = min(vhi, charged_v)
            else:
                ilo = tail_a
            soc = q.soc_pct
            if soc is not None:
                soc_lo, soc_hi = _soc_bounds(soc, s, la.low_soc.active, la.floor.active)
                soc_start, capacity = soc, bank.capacity_ah
    return QuietRegion(
        min_cell_v=min_cell, max_cell_v=max_cell, min_temperature_c=min_t,
        max_temperature_c=max_t, bank_voltage_v=(vlo, vhi), current_a=(ilo, ihi),
        soc_pct=(soc_lo, soc_hi), deadline_s=q.deadline_s, soc_start_pct=soc_start,
        capacity_ah=capacity,
    )


def _soc_bounds(
    soc: float, s: Settings, low_soc_active: bool, floor_active: bool
) -> tuple[float, float]:
    """SoC range keeping W-B07/A-B07 and the history cycle/sync thresholds unchanged."""
    lo, hi = -math.inf, math.inf
    lvl = s.low_soc_warning_pct
    if low_soc_active:
        hi = min(hi, th.soc_clear_level(lvl, th.LOW_SOC_CLEAR_MARGIN_PCT))
    else:
        lo = max(lo, lvl)
    if s.discharge_floor_pct > 0:
        if floor_active:
            hi = min(hi, th.soc_clear_level(s.discharge_floor_pct,
                                             th.DISCHARGE_FLOOR_CLEAR_MARGIN_PCT))
        else:
            lo = max(lo, s.discharge_floor_pct)
    for edge in (hist.CYCLE_LOW_PCT, hist.CYCLE_HIGH_PCT, hist.SYNC_COUNT_BELOW_PCT):
        if soc >= edge:
            lo = max(lo, edge)
        else:
            hi = min(hi, edge)
    return lo, hi
