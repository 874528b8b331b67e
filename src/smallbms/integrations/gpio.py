"""Raspberry Pi GPIO: the three smallBMS outputs and the remote on/off input on real pins.

:class:`GpioAdapter` is an :class:`~smallbms.service.device.IoAdapter`. Each output (load
disconnect, charge disconnect, pre-alarm) drives a GPIO pin through ``gpiozero``'s
``DigitalOutputDevice``, which in turn drives a relay board or an opto-isolator: the smallBMS
output "high" energises the relay/opto, "floating" de-energises it. ``active_high`` per output
says which pin level energises the board (many cheap relay boards are active-low).

Each output may have a read-back pin: a ``DigitalInputDevice`` with the Pi's pull-up, wired to a
relay contact (or an opto-isolated sense line) that pulls it to ground while the output is on.
When a read-back disagrees with the commanded state on more than ``readback_ticks`` consecutive
ticks, the adapter sets ``Reading.output_fault`` and the core raises E-B11 (hardware error, both
disconnects floating, SPEC 6/7). The fault clears as soon as every read-back follows again.

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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from smallbms.core.types import FLOATING, HIGH, OUTPUT_NAMES, Decision, OutputState, Reading, RemoteInput

log = logging.getLogger(__name__)

PinFactoryName = Literal["default", "mock"]
PIN_FACTORIES: tuple[PinFactoryName, ...] = ("default", "mock")

#: BCM numbers a user may configure: 0 and 1 are reserved for the HAT ID EEPROM.
MIN_BCM_PIN = 2
MAX_BCM_PIN = 27
DEFAULT_READBACK_TICKS = 2
MAX_READBACK_TICKS = 3600

#: (P) ticks a hardware fault is held after the read-backs agree again (anti-flapping).
FAULT_HOLD_TICKS = 30
TOP_KEYS = ("enabled", "pin_factory", "pins", "active_high", "readback_ticks")
PIN_KEYS: tuple[str, ...] = (
    *OUTPUT_NAMES, "remote", *(f"readback_{name}" for name in OUTPUT_NAMES))


class GpioConfigError(ValueError):
    """A bad ``[gpio]`` table; the message names the key."""


# --- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutputPins:
    """One output: the pin that drives the relay/opto, its polarity, and an optional read-back."""

    pin: int
    active_high: bool = True
    readback: int | None = None


@dataclass(frozen=True, slots=True)
class GpioConfig:
    """The ``[gpio]`` table of the run config.

    ``outputs`` maps output names (``load_disconnect``, ``charge_disconnect``, ``pre_alarm``) to
    their pins; an output left out is not driven. ``remote`` is the remote on/off input pin or
    ``None``. Pins are BCM numbers 2-27, all distinct. The constructor checks everything.
    """

    enabled: bool = False
    pin_factory: PinFactoryName = "default"
    outputs: Mapping[str, OutputPins] = field(default_factory=dict)
    remote: int | None = None
    readback_ticks: int = DEFAULT_READBACK_TICKS

    def __post_init__(self) -> None:
        _check_config(self)

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "[gpio]") -> GpioConfig:
        """Parse a ``[gpio]`` TOML table; :class:`GpioConfigError` (a ValueError) names the key.

        ``where`` prefixes every message (e.g. ``"smallbms.toml [gpio]"``).
        """
        if not isinstance(table, Mapping):
            raise GpioConfigError(f"{where}: must be a table")
        _unknown(where, "", table, TOP_KEYS)
        enabled = _bool(where, "enabled", table.get("enabled", False))
        factory = table.get("pin_factory", "default")
        if factory not in PIN_FACTORIES:
            raise GpioConfigError(
                f"{where}: pin_factory: must be one of {', '.join(PIN_FACTORIES)}, got {factory!r}")
        ticks = table.get("readback_ticks", DEFAULT_READBACK_TICKS)
        if isinstance(ticks, bool) or not isinstance(ticks, int):
            raise GpioConfigError(f"{where}: readback_ticks: must be a whole number, got {ticks!r}")

        pins_t = table.get("pins", {})
        if not isinstance(pins_t, Mapping):
            raise GpioConfigError(f"{where}: pins: must be a table")
        _unknown(where, "pins.", pins_t, PIN_KEYS)
        pins = {k: _pin(where, f"pins.{k}", v) for k, v in pins_t.items()}

        ah_t = table.get("active_high", True)
        if isinstance(ah_t, bool):
            active_high = dict.fromkeys(OUTPUT_NAMES, ah_t)
        elif isinstance(ah_t, Mapping):
            _unknown(where, "active_high.", ah_t, OUTPUT_NAMES)
            active_high = {n: _bool(where, f"active_high.{n}", ah_t.get(n, True)) for n in OUTPUT_NAMES}
            for n in ah_t:
                if n not in pins:
                    raise GpioConfigError(
                        f"{where}: active_high.{n}: pins.{n} is not configured")
        else:
            raise GpioConfigError(
                f"{where}: active_high: must be true/false or a table per output, got {ah_t!r}")

        outputs: dict[str, OutputPins] = {}
        for n in OUTPUT_NAMES:
            rb = pins.get(f"readback_{n}")
            if n not in pins:
                if rb is not None:
                    raise GpioConfigError(
                        f"{where}: pins.readback_{n}: pins.{n} is not configured")
                continue
            outputs[n] = OutputPins(pins[n], active_high[n], rb)
        try:
            return cls(enabled=enabled, pin_factory=factory, outputs=outputs,
                       remote=pins.get("remote"), readback_ticks=ticks)
        except GpioConfigError as e:
            raise GpioConfigError(f"{where}: {e}") from None

    def all_pins(self) -> dict[str, int]:
        """Every configured pin by its ``pins.`` key name."""
        out: dict[str, int] = {}
        for n, o in self.outputs.items():
            out[n] = o.pin
            if o.readback is not None:
                out[f"readback_{n}"] = o.readback
        if self.remote is not None:
            out["remote"] = self.remote
        return out


def _check_config(c: GpioConfig) -> None:
    if c.pin_factory not in PIN_FACTORIES:
        raise GpioConfigError(f"pin_factory: must be one of {', '.join(PIN_FACTORIES)}")
    if isinstance(c.readback_ticks, bool) or not 0 <= c.readback_ticks <= MAX_READBACK_TICKS:
        raise GpioConfigError(
            f"readback_ticks: must be 0..{MAX_READBACK_TICKS}, got {c.readback_ticks!r}")
    for n in c.outputs:
        if n not in OUTPUT_NAMES:
            raise GpioConfigError(f"pins.{n}: unknown output (known: {', '.join(OUTPUT_NAMES)})")
    if c.enabled and not c.outputs:
        raise GpioConfigError(f"pins: enabled but no output pin configured "
                              f"(set at least one of {', '.join(OUTPUT_NAMES)})")
    seen: dict[int, str] = {}
    for key, pin in c.all_pins().items():
        _pin("", f"pins.{key}", pin)
        if pin in seen:
            raise GpioConfigError(f"pins.{key}: GPIO{pin} is already used by pins.{seen[pin]}")
        seen[pin] = key


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _unknown(where: str, prefix: str, table: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in table:
        if key not in known:
            raise GpioConfigError(
                f"{_prefix(where)}{prefix}{key}: unknown key (known: {', '.join(known)})")


def _bool(where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise GpioConfigError(f"{_prefix(where)}{key}: must be true or false, got {value!r}")
    return value


def _pin(where: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GpioConfigError(f"{_prefix(where)}{key}: must be a BCM pin number, got {value!r}")
    if not MIN_BCM_PIN <= value <= MAX_BCM_PIN:
        raise GpioConfigError(
            f"{_prefix(where)}{key}: GPIO{value} is out of range {MIN_BCM_PIN}..{MAX_BCM_PIN}")
    return value


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
    mismatch_ticks: int = 0


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
        self._fault = False
        self._hold_left = 0
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

    def adapt_reading(self, reading: Reading) -> Reading:
        """The remote input from its pin (if configured); ``output_fault`` ORed with read-backs."""
        with self._lock:
            if self._closed:
                # the outputs are off and no longer follow any command: a hardware fault
                return reading if reading.output_fault else replace(reading, output_fault=True)
            remote = reading.remote
            if self._remote is not None:
                remote = RemoteInput(bridged=bool(self._remote.is_active))
            fault = self._check_readbacks()
        if remote is reading.remote and (reading.output_fault or not fault):
            return reading
        return replace(reading, remote=remote, output_fault=reading.output_fault or fault)

    def apply(self, decision: Decision) -> None:
        """Set every configured output to the decision's state and remember it."""
        with self._lock:
            if self._closed:
                return
            for ch in self._channels:
                want = decision.output(ch.name) == HIGH
                if want != ch.commanded:
                    if ch.mismatch_ticks <= self.config.readback_ticks:
                        ch.mismatch_ticks = 0  # a new command: the relay gets its debounce again
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
    def output_fault(self) -> bool:
        """True while a read-back has not followed its output for longer than the debounce."""
        return self._fault

    @property
    def faulted_outputs(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(ch.name for ch in self._channels
                         if ch.mismatch_ticks > self.config.readback_ticks)

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

    def _check_readbacks(self) -> bool:
        limit = self.config.readback_ticks
        fault = False
        for ch in self._channels:
            if ch.readback is None:
                continue
            if bool(ch.readback.is_active) == ch.commanded:
                ch.mismatch_ticks = 0
            else:
                ch.mismatch_ticks += 1
                fault = fault or ch.mismatch_ticks > limit
        # hold a fault for FAULT_HOLD_TICKS after the read-backs agree again, so a relay that
        # cannot close does not make E-B11 flap every few ticks (outputs float -> read-back
        # agrees -> cleared -> commanded high -> fault again)
        if fault:
            self._hold_left = FAULT_HOLD_TICKS
        elif self._hold_left > 0:
            self._hold_left -= 1
            fault = True
        if fault != self._fault:
            self._fault = fault
            if fault:
                bad = [ch.name for ch in self._channels if ch.mismatch_ticks > limit]
                log.warning("GPIO read-back does not follow its output: %s", ", ".join(bad))
            else:
                log.warning("GPIO read-backs follow their outputs again")
        return fault

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
