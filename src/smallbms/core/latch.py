"""A protection condition with separate trip and clear tests and a trip delay.

Modelled on LibreSolar's BMS firmware: every condition is a small latch; outputs are computed
from the set of active latches. The latch is evaluated against the time passed in, so readings
may arrive at any interval: a delayed trip fires at the first reading at or after
``since + delay``, and :meth:`deadline` tells the caller when that is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from smallbms.core.types import FLOATING, OutputState


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


@dataclass(slots=True)
class _OutputWatch:
    """One output's read-back: the debounce while healthy, the fault and its clear hold."""

    debounce: Latch
    fault_under: OutputState | None = None  # the command the output faulted under
    follows_since_s: float | None = None  # since when it follows that command again
    last_command: OutputState | None = field(default=None)


class ReadbackMonitor:
    """E-B11 from output read-backs (SPEC 6): a debounce per output, then a fault per output.

    An output whose read-back disagrees with its command for ``debounce_s`` is at fault, and the
    monitor remembers the command it faulted under; a new command to a healthy output restarts
    its debounce (the relay gets time to follow). The fault is gone only once the output has
    been seen following *that same command* again, without a break, for ``hold_s``. E-B11 is
    active while any output is at fault.

    So a relay that cannot close (faulted under "high") is never seen gone while E-B11 floats
    it: E-B11 holds until the next power-up resets the volatile state, instead of switching the
    outputs back on every half minute to retry (fail-safe). A welded contact (faulted under
    "floating") is seen gone once its read-back drops and stays down for the hold time.
    """

    __slots__ = ("debounce_s", "hold_s", "outputs")

    def __init__(self, debounce_s: float, hold_s: float) -> None:
        self.debounce_s = debounce_s
        self.hold_s = hold_s
        self.outputs: dict[str, _OutputWatch] = {}

    @property
    def fault(self) -> bool:
        return any(w.fault_under is not None for w in self.outputs.values())

    def update(self, mismatch: frozenset[str], now_s: float,
               commands: Mapping[str, OutputState]) -> bool:
        """Advance with this reading's raw mismatches; return whether E-B11 is due.

        ``commands`` are the states the read-backs were compared against (the last decision's
        outputs; an output not in it is floating, as after power-up).
        """
        for name in mismatch:
            if name not in self.outputs:
                self.outputs[name] = _OutputWatch(Latch(self.debounce_s))
        for name, w in self.outputs.items():
            command = commands.get(name, FLOATING)
            bad = name in mismatch
            if w.fault_under is None:
                if w.last_command is not None and command != w.last_command:
                    w.debounce.since_s = None  # a new command: the relay gets time again
                w.debounce.delay_s = self.debounce_s
                w.debounce.update(bad, not bad, now_s)
                if w.debounce.active:
                    w.fault_under = command
                    w.follows_since_s = None
                    w.debounce.reset()
            elif bad or command != w.fault_under:
                w.follows_since_s = None
            else:
                if w.follows_since_s is None:
                    w.follows_since_s = now_s
                if now_s - w.follows_since_s >= self.hold_s:
                    w.fault_under = None
                    w.follows_since_s = None
            w.last_command = command
        return self.fault

    @property
    def faulted_outputs(self) -> tuple[str, ...]:
        return tuple(n for n, w in self.outputs.items() if w.fault_under is not None)

    def deadlines(self) -> list[float]:
        out: list[float] = []
        for w in self.outputs.values():
            if w.fault_under is None:
                d = w.debounce.deadline()
                if d is not None:
                    out.append(d)
            elif w.follows_since_s is not None:
                out.append(w.follows_since_s + self.hold_s)
        return out
