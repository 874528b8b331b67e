"""When the twin solves its component currents again: the re-solve grid and its coasting.

Plain arithmetic on numbers, used by :class:`smallbms.sources.twin.TwinSource` and compiled as
they are by its quiet loop (:mod:`smallbms.sources.quiet_loop`), so both re-solve at the same
times.
"""

from __future__ import annotations

import math

#: (P) component currents are solved again at least this often while they move, s.
RESOLVE_S = 60.0
#: (P) while the currents stay put (constant-current loads, a charger in bulk, power loads on a
#: flat voltage), the grid re-solve interval doubles up to this many RESOLVE_S.
MAX_COAST = 16
#: (P) "stay put": the net current moved by no more than this (relative, or 1 mA) since the
#: last grid re-solve.
COAST_TOLERANCE = 5e-4
#: (P) with a charger charging, coasting stops this close (V per 12.8 V) below its charge
#: voltage, and is capped at MAX_COAST_CHARGING below that.
COAST_KNEE_MARGIN_V = 0.5
MAX_COAST_CHARGING = 4
COAST_FLOOR_A = 1e-3


def coast_after(coast: int, on_grid: bool, before_a: float, now_a: float, charging: bool,
                terminal_v: float, charge_voltage_v: float, scale: float) -> int:
    """:func:`~smallbms.sources.twin.next_coast` on plain numbers (``charging``: a charger pushes current;
    ``charge_voltage_v`` and ``scale`` of the bank's view). Compiled by the quiet loop."""
    steady = abs(now_a - before_a) <= max(COAST_FLOOR_A, COAST_TOLERANCE * abs(before_a))
    near_top = terminal_v >= charge_voltage_v - COAST_KNEE_MARGIN_V * scale
    cap = 1 if charging and near_top else (MAX_COAST_CHARGING if charging else MAX_COAST)
    if not on_grid:
        return min(coast, cap)
    return min(coast * 2, cap) if steady else 1


def schedule(t_s: float, coast: int, change_s: float | None,
             resolve_s: float = RESOLVE_S) -> tuple[float, bool]:
    """The next re-solve after ``t_s``: (time, whether it is a grid point rather than a
    component's change time)."""
    grid = (math.floor(t_s / resolve_s + 1e-9) + coast) * resolve_s
    if change_s is None or grid <= change_s:
        return grid, True
    return max(change_s, t_s + 1e-3), False

