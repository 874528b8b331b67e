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


class ProtectionLatches:
    """Every protection condition of SPEC 6, one latch each (volatile: gone at power-up)."""

    __slots__ = (
        "comms_alarm", "comms_warning", "e_b09", "e_b11", "floor", "high_temp",
        "low_bank", "low_soc", "low_temp", "overvoltage", "pre_alarm", "undervoltage",
    )

    def __init__(self, low_bank_delay_s: float, comms_warning_delay_s: float,
                 comms_alarm_delay_s: float) -> None:
        self.pre_alarm = Latch()
        self.undervoltage = Latch()
        self.overvoltage = Latch()
        self.low_temp = Latch()
        self.high_temp = Latch()
        self.low_bank = Latch(low_bank_delay_s)
        self.comms_warning = Latch(comms_warning_delay_s)
        self.comms_alarm = Latch(comms_alarm_delay_s)
        self.low_soc = Latch()
        self.floor = Latch()
        self.e_b09 = Latch()
        self.e_b11 = Latch()

    def all(self) -> tuple[Latch, ...]:
        return tuple(getattr(self, n) for n in self.__slots__)


class ReadbackMonitor:
    """E-B11 from output read-backs (SPEC 6): a debounce per output, then a clear hold.

    An output whose read-back disagrees with its command for ``debounce_s`` is at fault; a new
    command to that output restarts its debounce (the relay gets time to follow) unless it is
    already at fault. The fault is held until every read-back has followed for ``hold_s``, so a
    relay that cannot close does not make E-B11 flap (outputs float, read-back agrees, cleared,
    commanded high, fault again).
    """

    __slots__ = ("agree_since_s", "debounce_s", "fault", "hold_s", "outputs")

    def __init__(self, debounce_s: float, hold_s: float) -> None:
        self.debounce_s = debounce_s
        self.hold_s = hold_s
        self.outputs: dict[str, Latch] = {}
        self.fault = False
        self.agree_since_s: float | None = None

    def update(self, mismatch: frozenset[str], now_s: float) -> bool:
        """Advance with this reading's raw mismatches; return whether E-B11 is due."""
        for name in mismatch:
            if name not in self.outputs:
                self.outputs[name] = Latch(self.debounce_s)
        faulted = False
        for name, latch in self.outputs.items():
            latch.delay_s = self.debounce_s
            bad = name in mismatch
            latch.update(bad, not bad, now_s)
            faulted = faulted or latch.active
        if faulted:
            self.fault = True
            self.agree_since_s = None
        elif self.fault:
            if self.agree_since_s is None:
                self.agree_since_s = now_s
            if now_s - self.agree_since_s >= self.hold_s:
                self.fault = False
                self.agree_since_s = None
        return self.fault

    def commanded(self, changed: tuple[str, ...]) -> None:
        """Outputs whose command changed: their debounce starts again unless at fault."""
        for name in changed:
            latch = self.outputs.get(name)
            if latch is not None and not latch.active:
                latch.since_s = None

    @property
    def faulted_outputs(self) -> tuple[str, ...]:
        return tuple(n for n, latch in self.outputs.items() if latch.active)

    def deadlines(self) -> list[float]:
        out = [d for latch in self.outputs.values() if (d := latch.deadline()) is not None]
        if self.fault and self.agree_since_s is not None:
            out.append(self.agree_since_s + self.hold_s)
        return out
