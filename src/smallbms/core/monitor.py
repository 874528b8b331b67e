"""The battery monitor (SPEC 9): consumed Ah, state of charge, synchronisation, time remaining.

Pure functions over a small mutable :class:`MonitorState`. Charge is integrated per reading from
the bank's cumulative coulomb counters when the source gives them (exact for any interval) or
from the reading's current times the time passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from smallbms.core.latch import Latch

CHARGE_EFFICIENCY = 0.99  # (P) share of charged Ah that is stored
PEUKERT_EXPONENT = 1.05  # (P) LiFePO4
CURRENT_THRESHOLD_A = 0.1  # (P) smaller currents count as zero
AVERAGING_TIME_S = 180.0  # (S) time-remaining averaging window
TIME_REMAINING_CAP_S = 10 * 86400  # (P) 10 days
PEUKERT_RATED_HOURS = 20.0  # (S) capacity is rated at the 20 h rate


@dataclass(slots=True)
class MonitorState:
    consumed_ah: float = 0.0
    soc_known: bool = False
    avg_current_a: float = 0.0
    seconds_since_sync: float | None = None
    battery_added_since_sync: bool = False
    last_charged_total_ah: float | None = None
    last_discharged_total_ah: float | None = None
    sync_timer: Latch | None = None

    def timer(self, delay_s: float) -> Latch:
        t = self.sync_timer
        if t is None:
            t = self.sync_timer = Latch(delay_s=delay_s)
        else:
            t.delay_s = delay_s
        return t


def soc_pct(state: MonitorState, capacity_ah: float) -> float | None:
    """State of charge in %, None while unknown."""
    if not state.soc_known or capacity_ah <= 0:
        return None
    return max(0.0, min(100.0, 100.0 * (1.0 + state.consumed_ah / capacity_ah)))


def count_charge(
    state: MonitorState, current_a: float | None, dt_s: float,
    charged_total_ah: float | None, discharged_total_ah: float | None, capacity_ah: float,
) -> tuple[float, float]:
    """Integrate one interval; return (Ah charged, Ah discharged) in it (both >= 0)."""
    charged = discharged = 0.0
    prev_c, prev_d = state.last_charged_total_ah, state.last_discharged_total_ah
    if charged_total_ah is not None and discharged_total_ah is not None:
        if prev_c is not None and prev_d is not None:
            charged = max(0.0, charged_total_ah - prev_c)
            discharged = max(0.0, discharged_total_ah - prev_d)
        state.last_charged_total_ah = charged_total_ah
        state.last_discharged_total_ah = discharged_total_ah
    elif current_a is not None and dt_s > 0 and abs(current_a) >= CURRENT_THRESHOLD_A:
        # without counters, currents below the threshold count as zero (measurement floor);
        # a source with counters applies the same floor as it counts
        if current_a > 0:
            charged = current_a * dt_s / 3600.0
        else:
            discharged = -current_a * dt_s / 3600.0

    if charged or discharged:
        c = state.consumed_ah + charged * CHARGE_EFFICIENCY - discharged
        state.consumed_ah = max(-capacity_ah, min(0.0, c))
    return charged, discharged


def average_current(state: MonitorState, current_a: float | None, dt_s: float) -> None:
    """Exponential average over AVERAGING_TIME_S, independent of the reading interval."""
    if current_a is None or dt_s <= 0:
        return
    alpha = 1.0 - math.exp(-dt_s / AVERAGING_TIME_S)
    state.avg_current_a += alpha * (current_a - state.avg_current_a)


def synchronise(state: MonitorState) -> None:
    """Set SoC to 100 %: consumed Ah back to zero."""
    state.consumed_ah = 0.0
    state.soc_known = True
    state.seconds_since_sync = 0.0
    state.battery_added_since_sync = False


def set_soc(state: MonitorState, value_pct: float, capacity_ah: float) -> None:
    state.consumed_ah = (value_pct / 100.0 - 1.0) * capacity_ah
    state.soc_known = True


def time_remaining_s(
    state: MonitorState, capacity_ah: float, discharge_floor_pct: float,
    present_current_a: float | None,
) -> int | None:
    """Seconds until the discharge floor at the averaged discharge current, None if unknown.

    None (unknown) while SoC is unknown or the bank is not discharging now or on average.
    Uses Peukert's law with the rated 20 h current, so heavy loads shorten the estimate.
    """
    soc = soc_pct(state, capacity_ah)
    i = -state.avg_current_a
    if (soc is None or i < CURRENT_THRESHOLD_A or present_current_a is None
            or present_current_a > -CURRENT_THRESHOLD_A):
        return None
    ah_left = (soc - discharge_floor_pct) / 100.0 * capacity_ah
    if ah_left <= 0:
        return 0
    rated_a = capacity_ah / PEUKERT_RATED_HOURS
    hours = ah_left / i * (rated_a / i) ** (PEUKERT_EXPONENT - 1.0)
    return int(min(TIME_REMAINING_CAP_S, hours * 3600.0))
