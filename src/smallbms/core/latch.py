"""A protection condition with separate trip and clear tests and a trip delay.

Modelled on LibreSolar's BMS firmware: every condition is a small latch; outputs are computed
from the set of active latches. The latch is evaluated against the time passed in, so readings
may arrive at any interval: a delayed trip fires at the first reading at or after
``since + delay``, and :meth:`deadline` tells the caller when that is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Latch:
    delay_s: float = 0.0
    active: bool = False
    since_s: float | None = None  # when the trip condition was first seen while inactive
    active_since_s: float | None = None

    def update(
        self, tripping: bool, clearing: bool, now_s: float, started_s: float | None = None
    ) -> bool:
        """Advance with this reading; return True when the latch changed state.

        ``started_s`` is when the trip condition began if the caller knows better than "now"
        (comms: the last valid reading). The latch records the moment it became due
        (``since + delay``) as ``active_since_s``, so a reading that arrives late does not
        delay a timer that depends on this one.
        """
        if self.active:
            if clearing:
                self.active = False
                self.since_s = None
                self.active_since_s = None
                return True
            return False
        if not tripping:
            self.since_s = None
            return False
        if self.since_s is None:
            self.since_s = now_s if started_s is None else min(started_s, now_s)
        due = self.since_s + self.delay_s
        if now_s >= due:
            self.active = True
            self.active_since_s = due
            return True
        return False

    def deadline(self) -> float | None:
        """When a pending trip fires if its condition holds; None if nothing is pending."""
        if self.active or self.since_s is None:
            return None
        return self.since_s + self.delay_s

    def reset(self) -> None:
        self.active = False
        self.since_s = None
        self.active_since_s = None
