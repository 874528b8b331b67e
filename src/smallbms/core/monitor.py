"""The battery monitor (SPEC 9): consumed Ah, state of charge, synchronisation, time remaining.

Pure functions over a small mutable :class:`MonitorState`. Charge is integrated per reading from
the bank's cumulative coulomb counters when the source gives them (exact for any interval) or
from the reading's current times the time passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from smallbms.core.latch import Latch

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

#: a float, or a numpy array of them (plain arithmetic that works on many systems at once)
Amount = TypeVar("Amount", float, "NDArray[np.float64]")

CHARGE_EFFICIENCY = 0.99  # (P) share of charged Ah that is stored
PEUKERT_EXPONENT = 1.05  # (P) LiFePO4
CURRENT_THRESHOLD_A = 0.1  # (P) smaller currents count as zero
AVERAGING_TIME_S = 180.0  # (S) time-remaining averaging window
TIME_REMAINING_CAP_S = 10 * 86400  # (P) 10 days
PEUKERT_RATED_HOURS = 20.0  # (S) capacity is rated at the 20 h rate


@dataclass(slots=True)
class MonitorState:
    """What the monitor keeps across power cycles (persisted)."""

    consumed_ah: float = 0.0
    soc_known: bool = False
    avg_current_a: float = 0.0
    seconds_since_sync: float | None = None
    battery_added_since_sync: bool = False


@dataclass(slots=True)
class MonitorVolatile:
    """What the monitor forgets at power-up: the counters' last totals, the automatic-sync
    timer, and whether the averaged current has been seeded since the start."""

    last_charged_total_ah: float | None = None
    last_discharged_total_ah: float | None = None
    sync_timer: Latch | None = None
    average_seeded: bool = False

    def timer(self, delay_s: float) -> Latch:
        t = self.sync_timer
        if t is None:
            t = self.sync_timer = Latch(delay_s=delay_s)
        else:
            t.delay_s = delay_s
        return t


def counted_ah(current_a: Amount, dt_s: float) -> tuple[Amount, Amount]:
    """(Ah charged, Ah discharged) a coulomb counter adds for ``dt_s`` at ``current_a``, with
    SPEC 9's current threshold: smaller currents count as zero. Plain arithmetic, so it works
    elementwise on numpy arrays too, and the twin's compiled quiet loop compiles it as it is."""
    ah = current_a * dt_s / 3600.0
    return ah * (current_a >= CURRENT_THRESHOLD_A), -ah * (current_a <= -CURRENT_THRESHOLD_A)


@dataclass(slots=True)
class ChargeCounter:
    """The cumulative coulomb counters a source hands the core (``Reading.charged_ah_total``,
    ``discharged_ah_total``), counted the monitor's way (:func:`counted_ah`)."""

    charged_ah: float = 0.0
    discharged_ah: float = 0.0

    def add(self, current_a: float, dt_s: float) -> None:
        c, d = counted_ah(current_a, dt_s)
        self.charged_ah += c
        self.discharged_ah += d


def soc_pct(state: MonitorState, capacity_ah: float) -> float | None:
    """State of charge in %, None while unknown."""
    if not state.soc_known or capacity_ah <= 0:
        return None
    return max(0.0, min(100.0, 100.0 * (1.0 + state.consumed_ah / capacity_ah)))


def count_charge(
    state: MonitorState, vol: MonitorVolatile, current_a: float | None, dt_s: float,
    charged_total_ah: float | None, discharged_total_ah: float | None, capacity_ah: float,
) -> tuple[float, float]:
    """Integrate one interval; return (Ah charged, Ah discharged) in it (both >= 0).

    SPEC 9's current threshold: a reading's current below CURRENT_THRESHOLD_A counts as zero.
    Counter deltas are taken as they are: the threshold is a floor on the instantaneous current,
    and the mean current of an interval cannot stand for it (ten minutes at 1 A followed by six
    hours at 3 mA average 30 mA), so counters must be counted with :class:`ChargeCounter`,
    which applies the threshold at the source's own integration step.
    """
    charged = discharged = 0.0
    prev_c, prev_d = vol.last_charged_total_ah, vol.last_discharged_total_ah
    if charged_total_ah is not None and discharged_total_ah is not None:
        if prev_c is not None and prev_d is not None:
            charged = max(0.0, charged_total_ah - prev_c)
            discharged = max(0.0, discharged_total_ah - prev_d)
        vol.last_charged_total_ah = charged_total_ah
        vol.last_discharged_total_ah = discharged_total_ah
    elif current_a is not None and dt_s > 0 and abs(current_a) >= CURRENT_THRESHOLD_A:
        if current_a > 0:
            charged = current_a * dt_s / 3600.0
        else:
            discharged = -current_a * dt_s / 3600.0

    if charged or discharged:
        c = state.consumed_ah + charged * CHARGE_EFFICIENCY - discharged
        state.consumed_ah = max(-capacity_ah, min(0.0, c))
    return charged, discharged


def average_current(
    state: MonitorState, vol: MonitorVolatile, current_a: float | None, dt_s: float,
) -> None:
    """Exponential average over AVERAGING_TIME_S, independent of the reading interval.

    The average starts at the first current that counts (at least the 0.1 A threshold) after
    every power-up, so time remaining is right as soon as the bank is discharging instead of
    climbing from 0 A for minutes - also when the loads only come on a few seconds after the
    start (the outputs float until the first complete reading).
    """
    if current_a is None:
        return
    if not vol.average_seeded and abs(current_a) < CURRENT_THRESHOLD_A:
        return
    if not vol.average_seeded:
        vol.average_seeded = True
        state.avg_current_a = current_a
        return
    if dt_s <= 0:
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
    """Set SoC by hand (or from a scenario's initial SoC): consumed Ah from the capacity."""
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
