"""Balancer status (SPEC 10) from the cell spread, charging state and monitor state."""

from __future__ import annotations

from typing import Literal

BalancerStatus = Literal["unknown", "balancing", "imbalanced", "balanced"]

UNKNOWN_AFTER_NO_FULL_CHARGE_S = 30 * 86400.0  # (M) 30 days
BALANCING_ABOVE_V_PER_CELL = 3.45  # (P) mean cell voltage while charging
BALANCING_SPREAD_V = 0.010  # (P)
IMBALANCED_SPREAD_HIGH_SOC_V = 0.050  # (P) at SoC >= 90 %
IMBALANCED_SPREAD_ANY_V = 0.100  # (P)
HIGH_SOC_PCT = 90.0


def balancer_status(
    *, soc_pct: float | None, seconds_since_sync: float | None, battery_added: bool,
    charging: bool, mean_cell_v: float, spread_v: float,
) -> BalancerStatus:
    if soc_pct is None or battery_added or seconds_since_sync is None:
        return "unknown"
    if seconds_since_sync > UNKNOWN_AFTER_NO_FULL_CHARGE_S:
        return "unknown"
    if charging and mean_cell_v > BALANCING_ABOVE_V_PER_CELL and spread_v > BALANCING_SPREAD_V:
        return "balancing"
    if spread_v > IMBALANCED_SPREAD_ANY_V or (
        soc_pct >= HIGH_SOC_PCT and spread_v > IMBALANCED_SPREAD_HIGH_SOC_V
    ):
        return "imbalanced"
    return "balanced"
