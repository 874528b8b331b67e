"""One BMS tick in a system, the same for the scenario runner and the running device.

A tick takes the source's reading of time t, lets the I/O adapters change it (a GPIO remote
input, output read-backs), steps the core with the commands of time t, then carries the decision
out: the system obeys it (the twin's chargers and loads follow the outputs and the BMS draws
its own current in the self-consumption state the core decided, SPEC 14) and the adapters drive
the outputs. :class:`smallbms.simulate.Runner` (also for each system of a fleet) and
:class:`smallbms.service.device.Device` tick through :class:`BmsLoop`. When to tick stays the
caller's: the device every tick of its clock, the runner on its step grid and skipping quiet
stretches (``Core.quiet_region``).

May import the core and nothing that does I/O.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from smallbms.core.engine import Core
from smallbms.core.types import FLOATING, Command, Decision, Leds, Reading

log = logging.getLogger(__name__)

#: what the BMS measures with no supply: nothing (SPEC 5; the core floats every output)
NO_SUPPLY = Reading(bank_voltage_v=0.0, batteries=())

#: every output in its safe state (SPEC 21), for the adapters when the tick itself failed
FAIL_SAFE = Decision(
    load_disconnect=FLOATING, charge_disconnect=FLOATING, pre_alarm=FLOATING, leds=Leds(),
    allowed_to_charge=False, allowed_to_discharge="no", charge_reasons=("hardware_error",),
    discharge_reasons=("hardware_error",), active_codes=(),
)


class Source(Protocol):
    """Where readings come from (the scripted source, the twin, hardware adapters)."""

    def reading(self, t_s: float) -> Reading: ...


class IoAdapter(Protocol):
    """Hardware in the tick path (e.g. GPIO): it may change the reading (remote input, output
    read-backs) and drives the outputs. Both calls run on the tick's thread: keep them fast."""

    def adapt_reading(self, reading: Reading) -> Reading: ...

    def apply(self, decision: Decision) -> None: ...


class BmsLoop:
    """The core, its source, what obeys its decisions, and the I/O adapters: one tick at a time.

    ``obey`` is the system's reaction to a decision (e.g. ``TwinSource.obey``); it runs before
    the adapters drive the outputs.
    """

    def __init__(self, core: Core, source: Source,
                 obey: Callable[[Decision], None] | None = None,
                 io: Sequence[IoAdapter] = ()) -> None:
        self.core = core
        self.source = source
        self.obey = obey
        self.io = list(io)
        self.steps = 0

    def read(self, t_s: float, *, powered: bool = True, app_connected: bool = False) -> Reading:
        """The reading of time ``t_s`` as the BMS sees it. The source is read even without
        supply (its physics runs on); the BMS then sees :data:`NO_SUPPLY`."""
        reading = self.source.reading(t_s)
        if not powered:
            return NO_SUPPLY
        for adapter in self.io:
            reading = adapter.adapt_reading(reading)
        if app_connected and not reading.app_connected:
            reading = dataclasses.replace(reading, app_connected=True)
        return reading

    def step(self, t_s: float, commands: Iterable[Command] = (), *, powered: bool = True,
             app_connected: bool = False) -> Decision:
        """Read and step the core (SPEC 18: the reading of time t, then the commands of t)."""
        reading = self.read(t_s, powered=powered, app_connected=app_connected)
        d = self.core.step(reading, t_s, commands)
        self.steps += 1
        return d

    def act(self, d: Decision) -> None:
        """Carry the decision out: the system obeys, then the adapters drive the outputs (even
        when obeying failed: the outputs must follow the decision)."""
        try:
            if self.obey is not None:
                self.obey(d)
        finally:
            for adapter in self.io:
                adapter.apply(d)

    def fail_safe(self) -> None:
        """Drive every adapter's outputs to their safe state (all floating); an adapter that
        fails to do so does not stop the others."""
        for adapter in self.io:
            try:
                adapter.apply(FAIL_SAFE)
            except Exception:
                log.exception("could not float the outputs of %r", adapter)

    def tick(self, t_s: float, commands: Iterable[Command] = (), *, powered: bool = True,
             app_connected: bool = False) -> Decision:
        """:meth:`step` then :meth:`act`."""
        d = self.step(t_s, commands, powered=powered, app_connected=app_connected)
        self.act(d)
        return d
