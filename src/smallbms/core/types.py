"""The typed data dictionary at the core's boundary: what goes in (Reading, commands) and what
comes out (Decision). Units are in every field name. Everything here is immutable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from smallbms.core.frozen import quick_init
from smallbms.model.snapshot import Leds as Leds
from smallbms.model.snapshot import LedState as LedState
from smallbms.model.snapshot import Mode as Mode
from smallbms.model.snapshot import OutputState as OutputState

HIGH: OutputState = "high"
FLOATING: OutputState = "floating"

Profile = Literal["ng", "classic"]
DischargeAllowed = Literal["yes", "no", "pre-alarm"]
#: SPEC 14: which self-consumption state the BMS is in. ``low``: low-cell-voltage shutdown
#: (A-B01) or remote off; ``on`` otherwise. A source that models the BMS's own draw reads it.
SelfConsumption = Literal["on", "low"]

OUTPUT_NAMES: tuple[str, ...] = ("load_disconnect", "charge_disconnect", "pre_alarm")


@quick_init
@dataclass(frozen=True, slots=True)
class BatteryReport:
    """What one battery reports on the battery bus in one frame set.

    ``series_position`` is the battery's place in its string counted from bank minus (0 = the
    battery whose minus is on the bank's minus); batteries sense it from their terminal potential,
    and the BMS derives the series/parallel layout from it (SPEC 4).
    """

    serial: str
    model_id: str
    firmware: str
    series_position: int
    cell_voltages_v: tuple[float, ...]
    temperature_c: float
    current_a: float = 0.0


@dataclass(frozen=True, slots=True)
class RemoteInput:
    """The remote on/off terminal (SPEC 5). ``None`` volts = terminal not connected."""

    bridged: bool = True
    l_volts: float | None = None
    h_volts: float | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class IntervalExtremes:
    """Extremes seen since the previous reading, for history, when readings are sparse.

    A source that skips ahead (the twin over a quiet stretch) passes these so that history minima
    and maxima stay exact; a source that reads every tick leaves them out.
    """

    min_cell_v: float
    max_cell_v: float
    min_bank_v: float
    max_bank_v: float
    min_temperature_c: float
    max_temperature_c: float


@quick_init
@dataclass(frozen=True, slots=True)
class Reading:
    """Everything the BMS measures in one tick.

    ``batteries`` holds one entry per battery the bus enumerates, in chain order; ``None`` marks a
    battery whose frames were missing or invalid this tick. An empty tuple means the bus answers
    nothing at all (cut). ``bank_voltage_v`` is measured by the BMS at its own Bat+ terminal and
    is also its supply. ``current_a`` is the bank current (positive = charging) or ``None`` when
    unknown. ``charged_ah_total`` / ``discharged_ah_total`` are optional cumulative coulomb
    counters (both >= 0, never decreasing); when given, the monitor integrates their deltas and
    is exact whatever the interval between readings; the monitor applies SPEC 9's current
    threshold to them itself, so a source passes what its counters count.

    ``output_fault`` is a fault the I/O layer has already decided on (an internal fault, a
    closed adapter): E-B11 at once. ``readback_mismatch`` names the outputs whose read-back does
    not show the state the core commanded last, raw, this reading: the core debounces it and
    holds the fault until the output has followed the command it failed under again (E-B11,
    SPEC 6).

    ``data_age_s`` is how old, at this reading's time, the oldest value it was built from is
    (s, >= 0). A bus source keeps a device's last value fresh for a while (SPEC 19), so a
    complete reading may stand for data received earlier; the core starts its comms-lost timer
    (W-B05, A-B05) from when that data arrived, not from the reading's time. Sources that
    measure at the reading's time (the twin, scripts) leave it 0.
    """

    bank_voltage_v: float
    batteries: tuple[BatteryReport | None, ...]
    current_a: float | None = None
    remote: RemoteInput = RemoteInput()
    charged_ah_total: float | None = None
    discharged_ah_total: float | None = None
    output_fault: bool = False
    app_connected: bool = False
    extremes: IntervalExtremes | None = None
    readback_mismatch: frozenset[str] = frozenset()
    data_age_s: float = 0.0


# --- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetMode:
    value: Mode


@dataclass(frozen=True, slots=True)
class ChangeSetting:
    name: str
    value: float


@dataclass(frozen=True, slots=True)
class ChangeSettings:
    """Change several settings at once, all or nothing: the consistency rules (warning level at
    or above the floor) are checked on the result, so the order of the values does not matter.
    A refused change changes nothing."""

    values: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))


@dataclass(frozen=True, slots=True)
class SyncSoc:
    """Synchronise SoC to 100 % now (user request)."""


@dataclass(frozen=True, slots=True)
class SetSoc:
    value_pct: float


@dataclass(frozen=True, slots=True)
class ResetDefaults:
    pass


@dataclass(frozen=True, slots=True)
class ResetHistory:
    pass


@dataclass(frozen=True, slots=True)
class AcceptBank:
    """Accept the bank as it is now as the commissioned bank (clears E-B05)."""


@dataclass(frozen=True, slots=True)
class FirmwareUpdateStarted:
    pass


@dataclass(frozen=True, slots=True)
class FirmwareUpdateFinished:
    success: bool


@dataclass(frozen=True, slots=True)
class SetWireless:
    enabled: bool


Command = (
    SetMode | ChangeSetting | ChangeSettings | SyncSoc | SetSoc | ResetDefaults | ResetHistory | AcceptBank
    | FirmwareUpdateStarted | FirmwareUpdateFinished | SetWireless
)


@dataclass(frozen=True, slots=True)
class CommandResult:
    """``setting`` names the setting a refused settings change is about (else None)."""

    command: Command
    accepted: bool
    message: str = ""
    setting: str | None = None


# --- outputs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodeEvent:
    """A code raised (``active``) or cleared (``cleared``) at time ``t_s``."""

    t_s: float
    code: str
    state: Literal["active", "cleared"]


class Decision(NamedTuple):
    """What the core decides for one tick (immutable; a NamedTuple because it is made every tick)."""

    load_disconnect: OutputState
    charge_disconnect: OutputState
    pre_alarm: OutputState
    leds: Leds
    allowed_to_charge: bool
    allowed_to_discharge: DischargeAllowed
    charge_reasons: tuple[str, ...]
    discharge_reasons: tuple[str, ...]
    active_codes: tuple[str, ...]
    events: tuple[CodeEvent, ...] = ()
    command_results: tuple[CommandResult, ...] = ()
    self_consumption: SelfConsumption = "on"

    def output(self, name: str) -> OutputState:
        state: OutputState = getattr(self, name)
        return state
