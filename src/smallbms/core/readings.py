"""Aggregation and plausibility of the batteries' reports in one reading."""

from __future__ import annotations

import math

from smallbms.core import thresholds as th
from smallbms.core.types import BatteryReport

_NAN = math.nan


def aggregate(
    slots: tuple[BatteryReport | None, ...],
) -> tuple[bool, float, float, float, float, float]:
    """(complete, min cell, max cell, mean cell, min temp, max temp) over valid reports.

    A report with an implausible or non-finite value counts as missing. NaN aggregates mean
    there were no valid reports at all.
    """
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
