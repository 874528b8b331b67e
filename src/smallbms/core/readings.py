"""Aggregation and plausibility of the batteries' reports in one reading."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain, repeat
from operator import attrgetter, is_not

from smallbms.core import thresholds as th
from smallbms.core.types import BatteryReport

_NAN = math.nan


_CELLS = attrgetter("cell_voltages_v")
_TEMP = attrgetter("temperature_c")


def _aggregate_all_valid(
    slots: tuple[BatteryReport | None, ...],
) -> tuple[bool, float, float, float, float, float] | None:
    """The common case in C-speed passes over the whole bank: every battery reported and every
    value plausible. None when anything is missing or wrong (the careful path then decides
    battery by battery which reports count)."""
    # identity tests at C speed: `None in slots` would call each report's __eq__
    if not slots or not all(map(is_not, slots, repeat(None))):
        return None
    if len(slots) == 1:
        r = slots[0]
        assert r is not None
        cells: Sequence[float] = r.cell_voltages_v
        temps: Sequence[float] = (r.temperature_c,)
        if not cells:
            return None
    else:
        groups = list(map(_CELLS, slots))
        if not all(groups):
            return None
        cells = list(chain.from_iterable(groups))
        temps = list(map(_TEMP, slots))
    total = sum(cells)
    t_total = sum(temps)
    mn, mx = min(cells), max(cells)
    tmin, tmax = min(temps), max(temps)
    lo_v, hi_v = th.CELL_V_PLAUSIBLE
    lo_t, hi_t = th.TEMPERATURE_PLAUSIBLE_C
    # a NaN anywhere makes the sums NaN (min/max alone may step over it)
    if not (total == total and t_total == t_total and lo_v <= mn and mx <= hi_v
            and lo_t <= tmin and tmax <= hi_t):
        return None
    return True, mn, mx, total / len(cells), tmin, tmax


def aggregate(
    slots: tuple[BatteryReport | None, ...],
) -> tuple[bool, float, float, float, float, float]:
    """(complete, min cell, max cell, mean cell, min temp, max temp) over valid reports.

    A report with an implausible or non-finite value counts as missing. NaN aggregates mean
    there were no valid reports at all.
    """
    fast = _aggregate_all_valid(slots)
    if fast is not None:
        return fast
    complete = bool(slots)
    mn = mx = tmin = tmax = _NAN
    total = 0.0
    count = 0
    lo_v, hi_v = th.CELL_V_PLAUSIBLE
    lo_t, hi_t = th.TEMPERATURE_PLAUSIBLE_C
    for r in slots:
        if r is None:
            complete = False
            continue
        cells = r.cell_voltages_v
        t = r.temperature_c
        if not cells:
            complete = False
            continue
        cmin = min(cells)
        cmax = max(cells)
        csum = sum(cells)
        if not (lo_v <= cmin and cmax <= hi_v and csum == csum and lo_t <= t <= hi_t):
            complete = False
            continue
        if count == 0:
            mn, mx, tmin, tmax = cmin, cmax, t, t
        else:
            if cmin < mn:
                mn = cmin
            if cmax > mx:
                mx = cmax
            if t < tmin:
                tmin = t
            if t > tmax:
                tmax = t
        total += csum
        count += len(cells)
    mean = total / count if count else _NAN
    return complete, mn, mx, mean, tmin, tmax
