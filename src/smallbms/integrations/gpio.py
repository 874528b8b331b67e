"""Raspberry Pi GPIO: the three smallBMS outputs and the remote on/off input on real pins.

:class:`GpioAdapter` is an :class:`~smallbms.runner.IoAdapter`. Each output (load
disconnect, charge disconnect, pre-alarm) drives a GPIO pin through ``gpiozero``'s
``DigitalOutputDevice``, which in turn drives a relay board or an opto-isolator: the smallBMS
output "high" energises the relay/opto, "floating" de-energises it. ``active_high`` per output
says which pin level energises the board (many cheap relay boards are active-low).

Each output may have a read-back pin: a ``DigitalInputDevice`` with the Pi's pull-up, wired to a
relay contact (or an opto-isolated sense line) that pulls it to ground while the output is on.
The adapter reports, every reading, which read-backs disagree with the last commanded state
(``Reading.readback_mismatch``, raw); the core decides: an output that disagrees for longer than
its debounce raises E-B11 (hardware error, both disconnects floating, SPEC 6/7), held until every
read-back has followed for a while (``smallbms.core.thresholds.READBACK_CLEAR_HOLD_S``). The
debounce is ``readback_ticks`` ticks of the device (:meth:`GpioAdapter.readback_debounce_s`).

The remote on/off input is a ``DigitalInputDevice`` with the Pi's pull-up, active when a switch
connects it to ground. A GPIO pin cannot measure volts, so it stands for the smallBMS's wire loop
between Remote L and Remote H (SPEC 5): switch closed = ``RemoteInput(bridged=True)`` (ON),
switch open or wire broken = ``RemoteInput(bridged=False)`` with no voltages (OFF, both
disconnects floating). Without a remote pin the reading's remote is left as the source gave it.

Fail safe: all outputs are off (floating) from construction until the first decision, and
:meth:`GpioAdapter.close` turns them off before it releases the pins.

``gpiozero`` is imported when an adapter is built, not when this module is imported, so the
configuration can be parsed and checked on a machine without it.
"""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass, replace
from typing import Protocol

from smallbms.config.integrations import GpioConfig as GpioConfig
from smallbms.config.integrations import GpioConfigError as GpioConfigError
from smallbms.config.integrations import OutputPins as OutputPins
from smallbms.core.types import FLOATING, HIGH, OUTPUT_NAMES, Decision, OutputState, Reading, RemoteInput

log = logging.getLogger(__name__)

# The [gpio] table (GpioTable as written, GpioConfig and OutputPins as read here) is a pydantic
# model in smallbms.config.integrations.


# --- the adapter --------------------------------------------------------------------------------


class _Output(Protocol):
    """The part of gpiozero's DigitalOutputDevice the adapter uses."""

    def on(self) -> None: ...

    def off(self) -> None: ...

    def close(self) -> None: ...


class _Input(Protocol):
    """The part of gpiozero's DigitalInputDevice the adapter uses."""

    @property
    def is_active(self) -> bool: ...

    def close(self) -> None: ...


@dataclass
class _Channel:
    name: str
    out: _Output
    readback: _Input | None
    commanded: bool = False  # True = high (energised)


class GpioAdapter:
    """Drives the smallBMS outputs and reads the remote input and read-backs on GPIO pins.

    ``pin_factory`` overrides ``config.pin_factory`` (pass a ``gpiozero`` pin factory, e.g. a
    ``MockFactory``); otherwise ``"mock"`` makes a fresh ``MockFactory`` and ``"default"`` lets
    gpiozero choose (lgpio, RPi.GPIO, pigpio, native). The ``enabled`` flag is for whoever builds
    the adapter: the adapter drives its pins whatever it says.
    """

    def __init__(self, config: GpioConfig, pin_factory: object | None = None) -> None:
        gz = importlib.import_module("gpiozero")
        if pin_factory is None and config.pin_factory == "mock":
            pin_factory = importlib.import_module("gpiozero.pins.mock").MockFactory()
        self.config = config
        self.pin_factory: object | None = pin_factory
        self._lock = threading.Lock()
        self._closed = False
        self._mismatch: frozenset[str] = frozenset()
        self._channels: list[_Channel] = []
        self._remote: _Input | None = None
        try:
            for name in OUTPUT_NAMES:
                o = config.outputs.get(name)
                if o is None:
                    continue
                out: _Output = gz.DigitalOutputDevice(
                    o.pin, active_high=o.active_high, initial_value=False, pin_factory=pin_factory)
                ch = _Channel(name, out, None)
                self._channels.append(ch)
                if o.readback is not None:
                    ch.readback = gz.DigitalInputDevice(
                        o.readback, pull_up=True, pin_factory=pin_factory)
            if config.remote is not None:
                self._remote = gz.DigitalInputDevice(
                    config.remote, pull_up=True, pin_factory=pin_factory)
        except BaseException:
            self._release()
            raise

    # --- IoAdapter --------------------------------------------------------------------------

    def readback_debounce_s(self, tick_s: float) -> float:
        """The read-back debounce the core should use, in the core's seconds per tick."""
        return self.config.readback_ticks * tick_s

    def adapt_reading(self, reading: Reading) -> Reading:
        """The remote input from its pin (if configured); the outputs whose read-back does not
        show their last command added to ``readback_mismatch`` (the core debounces them)."""
        with self._lock:
            if self._closed:
                # the outputs are off and no longer follow any command: a hardware fault
                return reading if reading.output_fault else replace(reading, output_fault=True)
            remote = reading.remote
            if self._remote is not None:
                remote = RemoteInput(bridged=bool(self._remote.is_active))
            mismatch = self._check_readbacks()
        if remote is reading.remote and not mismatch:
            return reading
        return replace(reading, remote=remote,
                       readback_mismatch=reading.readback_mismatch | mismatch)

    def apply(self, decision: Decision) -> None:
        """Set every configured output to the decision's state and remember it."""
        with self._lock:
            if self._closed:
                return
            for ch in self._channels:
                want = decision.output(ch.name) == HIGH
                ch.commanded = want
                if want:
                    ch.out.on()
                else:
                    ch.out.off()

    # --- status -----------------------------------------------------------------------------

    @property
    def commanded(self) -> dict[str, OutputState]:
        """The last commanded state of every configured output."""
        with self._lock:
            return {ch.name: HIGH if ch.commanded else FLOATING for ch in self._channels}

    def readback(self) -> dict[str, OutputState | None]:
        """What each read-back pin shows now (``None`` = no read-back for that output)."""
        with self._lock:
            return {ch.name: None if ch.readback is None or self._closed
                    else (HIGH if ch.readback.is_active else FLOATING) for ch in self._channels}

    @property
    def mismatched_outputs(self) -> frozenset[str]:
        """Outputs whose read-back did not show the last command at the last reading (raw:
        whether that is a fault is the core's decision, ``Core.readback_faults``)."""
        return self._mismatch

    @property
    def closed(self) -> bool:
        return self._closed

    # --- shutdown ---------------------------------------------------------------------------

    def close(self) -> None:
        """Turn every output off (floating), then release all pins. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._release()

    def __enter__(self) -> GpioAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals --------------------------------------------------------------------------

    def _check_readbacks(self) -> frozenset[str]:
        mismatch = frozenset(
            ch.name for ch in self._channels
            if ch.readback is not None and bool(ch.readback.is_active) != ch.commanded)
        if mismatch != self._mismatch:
            self._mismatch = mismatch
            log.debug("GPIO read-backs not (yet) following: %s", ", ".join(sorted(mismatch)))
        return mismatch

    def _release(self) -> None:
        for ch in self._channels:
            try:
                ch.out.off()
            except Exception:  # keep going: every other output must still be turned off
                log.exception("GPIO: could not turn %s off", ch.name)
        devices: list[_Output | _Input] = []
        for ch in self._channels:
            devices.append(ch.out)
            if ch.readback is not None:
                devices.append(ch.readback)
        if self._remote is not None:
            devices.append(self._remote)
        for dev in devices:
            try:
                dev.close()
            except Exception:
                log.exception("GPIO: could not release a pin")
