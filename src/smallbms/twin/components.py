"""Chargers and loads of the manual's system examples, as small deterministic models (SPEC 16).

Every component answers one question for the system simulator: *what current do you push into
(+) or draw from (-) the battery bank right now?* It sees the time ``t_s`` (seconds from the start
of the run; components never read a clock), the bank's terminal voltage ``bank_v``, whether the
BMS output wired to its remote input is high (``enabled``) and a :class:`BankView`: the bank's
Thevenin equivalent plus its nominal numbers, from which constant-voltage chargers solve their
current.

``enabled`` is the state of the output named by ``controlled_by``. A component that is not wired
to the BMS (``controlled_by = "none"``) ignores it and keeps running: an uncontrolled load keeps
draining the bank after a low-cell shutdown, which is the danger the manual warns about.

Chargers, inverters and BatteryProtects remember a little state between calls, as the real
devices do (charge stage, low-voltage trip, delay timers). Call :meth:`Component.current_a` once
per simulator tick with non-decreasing ``t_s``; :func:`solve_bus` does that for a whole system.

Voltages given "per 12.8 V" are scaled to the bank: x2 for 25.6 V, x4 for 51.2 V nominal.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args

from smallbms.catalog import BatteryModel
from smallbms.twin.profiles import Profile
from smallbms.twin.snapshots import shallow_copy
from smallbms.twin.solar import PvArray

ControlledBy = Literal["load_disconnect", "charge_disconnect", "none"]
ComponentKind = Literal[
    "dc_load", "inverter", "solar", "ac_charger", "alternator", "battery_protect",
]
Role = Literal["load", "charger"]
Stage = Literal["bulk", "absorption", "float"]

CONTROLLED_BY_VALUES: tuple[ControlledBy, ...] = get_args(ControlledBy)
COMPONENT_KINDS: tuple[ComponentKind, ...] = get_args(ComponentKind)

#: Which BMS output each kind belongs on, and the default when a scenario omits ``controlled_by``.
DEFAULT_CONTROLLED_BY: Mapping[ComponentKind, ControlledBy] = {
    "dc_load": "load_disconnect",
    "inverter": "load_disconnect",
    "battery_protect": "load_disconnect",
    "solar": "charge_disconnect",
    "ac_charger": "charge_disconnect",
    "alternator": "charge_disconnect",
}
ROLE_OF_KIND: Mapping[ComponentKind, Role] = {
    kind: ("load" if out == "load_disconnect" else "charger")
    for kind, out in DEFAULT_CONTROLLED_BY.items()
}

#: The nominal voltage that "per 12.8 V" thresholds refer to.
REFERENCE_NOMINAL_V = 12.8
#: Inverter low-voltage shutdown and restart, V per 12.8 V (P, from the brief; Victron inverters
#: let the owner set these).
INVERTER_SHUTDOWN_V = 10.5
INVERTER_RESTART_V = 12.0
#: BatteryProtect low-voltage disconnect and reconnect, V per 12.8 V, and its delays (S: a
#: BatteryProtect drops the load about 90 s after the voltage falls below its threshold and
#: reconnects 30 s after it has risen above the reconnect level; the BMS input acts at once).
BATTERY_PROTECT_DISCONNECT_V = 10.5
BATTERY_PROTECT_RECONNECT_V = 12.0
BATTERY_PROTECT_DISCONNECT_DELAY_S = 90.0
BATTERY_PROTECT_RECONNECT_DELAY_S = 30.0
#: Charger algorithm defaults (P): absorption lasts at most 2 h and ends early when the
#: constant-voltage current falls below 5 % of the bank capacity, but not before 15 min, so that
#: the BMS monitor has time to see the bank as charged (its detection time is 3 min by default).
ABSORPTION_TIME_S = 7_200.0
MIN_ABSORPTION_S = 900.0
TAIL_FRACTION_OF_C = 0.05
#: A charger in float goes back to bulk below this voltage, V per 12.8 V (P).
REBULK_V = 13.2
#: MPPT conversion efficiency (P: typical for Victron MPPTs, 95-98 %).
MPPT_EFFICIENCY = 0.97
#: By day the sun moves continuously: the solar charger asks to be looked at this often, s (P).
SOLAR_DAYLIGHT_STEP_S = 300.0
#: Cyrix-Li-ct thresholds, V per 12.8 V (S, Cyrix-Li-ct datasheet): engage when the BMS input is
#: high and either power terminal is at 13.4 V or more; disengage at once when the input floats
#: or the voltage falls below 13.2 V.
CYRIX_CONNECT_V = 13.4
CYRIX_DISCONNECT_V = 13.2
#: Starter (lead-acid) battery voltage at rest, V per 12.8 V (P), seen by the Cyrix when the
#: engine is off.
STARTER_REST_V = 12.7
#: Below this terminal voltage a device browns out and draws nothing, V (P); also keeps I = P/V
#: finite.
BROWNOUT_V = 1.0


# --- the bank as a component sees it -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BankView:
    """The battery bank as seen from its terminals.

    ``thevenin_v_oc`` (V) and ``thevenin_r_ohm`` (ohm) give terminal voltage
    ``v = v_oc + r * i`` for a current ``i`` (A, + = charging). The simulator may fold the
    currents of other components into ``v_oc`` (see :meth:`after`) so that a charger solves
    against everything else on the bus. ``charge_voltage_v`` and ``float_voltage_v`` are the
    battery's charger settings scaled to the bank (14.2 and 13.5 V per 12.8 V).
    """

    thevenin_v_oc: float
    thevenin_r_ohm: float
    nominal_voltage_v: float = 12.8
    capacity_ah: float = 100.0
    charge_voltage_v: float = 14.2
    float_voltage_v: float = 13.5

    def __post_init__(self) -> None:
        if not self.thevenin_r_ohm > 0:
            raise ValueError(f"thevenin_r_ohm must be > 0 ohm, got {self.thevenin_r_ohm!r}")

    @classmethod
    def for_model(
        cls, model: BatteryModel, series: int, parallel: int, v_oc: float, r_ohm: float,
    ) -> BankView:
        """A view of a bank of ``series`` x ``parallel`` batteries of one catalogue model."""
        return cls(
            thevenin_v_oc=v_oc, thevenin_r_ohm=r_ohm,
            nominal_voltage_v=model.nominal_voltage_v * series,
            capacity_ah=model.capacity_ah * parallel,
            charge_voltage_v=model.charge_voltage_v * series,
            float_voltage_v=model.float_voltage_v * series,
        )

    @property
    def scale(self) -> float:
        """Bank nominal voltage over 12.8 V: multiplies every "per 12.8 V" threshold."""
        return self.nominal_voltage_v / REFERENCE_NOMINAL_V

    def terminal_v(self, current_a: float) -> float:
        """Terminal voltage with ``current_a`` flowing in (+) or out (-), V."""
        return self.thevenin_v_oc + self.thevenin_r_ohm * current_a

    def cv_current_a(self, set_v: float) -> float:
        """The current that holds the terminal exactly at ``set_v``, A (negative if above it)."""
        return (set_v - self.thevenin_v_oc) / self.thevenin_r_ohm

    def after(self, current_a: float) -> BankView:
        """The view a further component has once ``current_a`` already flows into the bank."""
        return BankView(
            self.terminal_v(current_a), self.thevenin_r_ohm, self.nominal_voltage_v,
            self.capacity_ah, self.charge_voltage_v, self.float_voltage_v,
        )


# --- the protocol ---------------------------------------------------------------------------------


class Component(Protocol):
    """What the simulator needs from a charger or a load."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> ComponentKind: ...

    @property
    def role(self) -> Role: ...

    @property
    def controlled_by(self) -> ControlledBy: ...

    def current_a(self, t_s: float, bank_v: float, enabled: bool, bank: BankView) -> float:
        """Current into the bank at ``t_s``, A: + charging, - drawing, 0 when off."""
        ...

    def next_change_s(self, t_s: float) -> float | None:
        """When the demand next changes by itself (strictly after ``t_s``), or ``None``."""
        ...


def is_enabled(controlled_by: ControlledBy, load_disconnect: bool, charge_disconnect: bool) -> bool:
    """Whether a component's remote input is on, given the two BMS outputs (True = high)."""
    if controlled_by == "none":
        return True
    return load_disconnect if controlled_by == "load_disconnect" else charge_disconnect


def _earliest(*times: float | None) -> float | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None


# --- time windows and demands ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeWindows:
    """Half-open ``[from, to)`` windows in seconds; ``None`` spans mean "always on".

    Overlapping or touching windows are merged.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> TimeWindows:
        """Immutable: a deep copy (a twin snapshot) shares it."""
        return self

    edges_s: tuple[float, ...] | None = None

    @classmethod
    def from_spans(cls, spans: Iterable[tuple[float, float]] | None) -> TimeWindows:
        if spans is None:
            return cls(None)
        merged: list[list[float]] = []
        for start, end in sorted(spans):
            if end <= start:
                raise ValueError(f"a time window must end after it starts, got [{start}, {end}]")
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return cls(tuple(t for pair in merged for t in pair))

    def active(self, t_s: float) -> bool:
        """True inside a window."""
        if self.edges_s is None:
            return True
        return bisect_right(self.edges_s, t_s) % 2 == 1

    def next_edge_s(self, t_s: float) -> float | None:
        """The next window start or end strictly after ``t_s``."""
        if self.edges_s is None:
            return None
        index = bisect_right(self.edges_s, t_s)
        return self.edges_s[index] if index < len(self.edges_s) else None


@dataclass(frozen=True, slots=True)
class Demand:
    """A constant value or a :class:`Profile` (A or W, as the owning component says)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Demand:
        """Immutable: a deep copy (a twin snapshot) shares it."""
        return self

    constant: float = 0.0
    profile: Profile | None = None

    def value_at(self, t_s: float) -> float:
        return self.constant if self.profile is None else self.profile.value_at(t_s)

    def next_change_s(self, t_s: float) -> float | None:
        return None if self.profile is None else self.profile.next_change_s(t_s)

    @property
    def max_value(self) -> float:
        return self.constant if self.profile is None else self.profile.max_value


# --- loads ---------------------------------------------------------------------------------------


@dataclass(eq=False)
class DcLoad:
    """A DC load drawing a current (A) or a constant power (W, I = P / V).

    ``mode`` says what ``demand`` holds. Off when its remote input is off, unless it is not
    wired to the BMS at all.
    """

    name: str
    demand: Demand
    mode: Literal["current", "power"] = "current"
    controlled_by: ControlledBy = "load_disconnect"

    @property
    def kind(self) -> ComponentKind:
        return "dc_load"

    @property
    def role(self) -> Role:
        return "load"

    def current_a(self, t_s: float, bank_v: float, enabled: bool, bank: BankView) -> float:
        if not (enabled or self.controlled_by == "none") or bank_v < BROWNOUT_V:
            return 0.0
        value = max(0.0, self.demand.value_at(t_s))
        return -(value / bank_v if self.mode == "power" else value)

    def next_change_s(self, t_s: float) -> float | None:
        return self.demand.next_change_s(t_s)


@dataclass(eq=False)
class Inverter:
    """A DC to AC inverter (e.g. Phoenix Inverter VE.Direct 12/375).

    ``demand`` is the AC output power (W). DC draw = (P_ac / efficiency + idle_w) / V while on.
    It stops when its remote input is off, and trips by itself below ``shutdown_v`` (default
    10.5 V per 12.8 V), restarting at ``restart_v`` (12 V per 12.8 V). Voltages are absolute
    bank volts when given.
    """

    name: str
    demand: Demand
    efficiency: float = 0.92
    idle_w: float = 6.0
    controlled_by: ControlledBy = "load_disconnect"
    shutdown_v: float | None = None
    restart_v: float | None = None
    tripped: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.efficiency <= 1.0:
            raise ValueError(f"inverter efficiency must be within (0, 1], got {self.efficiency!r}")

    @property
    def kind(self) -> ComponentKind:
        return "inverter"

    @property
    def role(self) -> Role:
        return "load"

    def current_a(self, t_s: float, bank_v: float, enabled: bool, bank: BankView) -> float:
        scale = bank.scale
        shutdown = INVERTER_SHUTDOWN_V * scale if self.shutdown_v is None else self.shutdown_v
        restart = INVERTER_RESTART_V * scale if self.restart_v is None else self.restart_v
        if self.tripped and bank_v >= restart:
            self.tripped = False
        elif not self.tripped and bank_v < shutdown:
            self.tripped = True
        if self.tripped or not (enabled or self.controlled_by == "none") or bank_v < BROWNOUT_V:
            return 0.0
        ac_w = max(0.0, self.demand.value_at(t_s))
        return -(ac_w / self.efficiency + self.idle_w) / bank_v

    def next_change_s(self, t_s: float) -> float | None:
        return self.demand.next_change_s(t_s)


@dataclass(eq=False)
class BatteryProtect:
    """A (Smart) BatteryProtect switching a load that has no remote input of its own.

    The load is cut at once when the remote input is off (the BMS load disconnect floats), and
    by the BatteryProtect itself when the bank stays below ``disconnect_v`` for
    ``disconnect_delay_s``; it comes back ``reconnect_delay_s`` after the bank is above
    ``reconnect_v`` again. The wrapped ``load`` is asked with its input on: it sits behind the
    switch.
    """

    name: str
    load: Component
    controlled_by: ControlledBy = "load_disconnect"
    disconnect_v: float | None = None
    reconnect_v: float | None = None
    disconnect_delay_s: float = BATTERY_PROTECT_DISCONNECT_DELAY_S
    reconnect_delay_s: float = BATTERY_PROTECT_RECONNECT_DELAY_S
    low_voltage_off: bool = field(default=False, init=False)
    _since_s: float | None = field(default=None, init=False, repr=False)

    @property
    def kind(self) -> ComponentKind:
        return "battery_protect"

    @property
    def role(self) -> Role:
        return "load"

    def _update_low_voltage(self, t_s: float, bank_v: float, bank: BankView) -> None:
        low = self.disconnect_v if self.disconnect_v is not None else (
            BATTERY_PROTECT_DISCONNECT_V * bank.scale
        )
        high = self.reconnect_v if self.reconnect_v is not None else (
            BATTERY_PROTECT_RECONNECT_V * bank.scale
        )
        crossing = bank_v >= high if self.low_voltage_off else bank_v < low
        if not crossing:
            self._since_s = None
            return
        if self._since_s is None:
            self._since_s = t_s
        delay = self.reconnect_delay_s if self.low_voltage_off else self.disconnect_delay_s
        if t_s - self._since_s >= delay:
            self.low_voltage_off = not self.low_voltage_off
            self._since_s = None

    def current_a(self, t_s: float, bank_v: float, enabled: bool, bank: BankView) -> float:
        self._update_low_voltage(t_s, bank_v, bank)
        if self.low_voltage_off or not (enabled or self.controlled_by == "none"):
            return 0.0
        return min(0.0, self.load.current_a(t_s, bank_v, True, bank))

    def next_change_s(self, t_s: float) -> float | None:
        pending: float | None = None
        if self._since_s is not None:
            delay = self.reconnect_delay_s if self.low_voltage_off else self.disconnect_delay_s
            pending = max(self._since_s + delay, math.nextafter(t_s, math.inf))
        return _earliest(self.load.next_change_s(t_s), pending)


# --- chargers ------------------------------------------------------------------------------------


@dataclass(eq=False)
class ThreeStage:
    """Bulk / absorption / float, as Victron chargers run it, against a Thevenin bank.

    Bulk pushes all it can until that would lift the terminal above the absorption voltage;
    absorption holds that voltage (constant voltage, current solved from the Thevenin
    equivalent) for ``absorption_time_s`` or until the current falls below the tail (after
    ``min_absorption_s``); float holds the float voltage, back to bulk when the terminal falls
    below ``rebulk_v`` (``None``: never). :meth:`restart` returns to bulk.
    """

    absorption_time_s: float = ABSORPTION_TIME_S
    min_absorption_s: float = MIN_ABSORPTION_S
    tail_fraction_of_c: float = TAIL_FRACTION_OF_C
    stage: Stage = "bulk"
    absorption_since_s: float | None = None

    def restart(self) -> None:
        self.stage = "bulk"
        self.absorption_since_s = None

    def current_a(
        self, t_s: float, available_a: float, bank: BankView,
        absorption_v: float, float_v: float, rebulk_v: float | None,
    ) -> float:
        """Charge current (A, >= 0) with up to ``available_a`` to give; advances the stage."""
        available_a = max(0.0, available_a)
        if self.stage == "float":
            current = min(available_a, max(0.0, bank.cv_current_a(float_v)))
            if rebulk_v is None or bank.terminal_v(current) >= rebulk_v:
                return current
            self.restart()
        cv_a = bank.cv_current_a(absorption_v)
        if self.stage == "bulk":
            if cv_a > available_a:
                return available_a
            self.stage = "absorption"
            self.absorption_since_s = t_s
        since = t_s if self.absorption_since_s is None else self.absorption_since_s
        elapsed = t_s - since
        tail_a = self.tail_fraction_of_c * bank.capacity_ah
        tail_reached = elapsed >= self.min_absorption_s and cv_a < tail_a
        if elapsed >= self.absorption_time_s or tail_reached:
            self.stage = "float"
            self.absorption_since_s = None
            return min(available_a, max(0.0, bank.cv_current_a(float_v)))
        return min(available_a, max(0.0, cv_a))

    def next_change_s(self, t_s: float) -> float | None:
        """The end of absorption by time, if absorbing."""
        if self.stage != "absorption" or self.absorption_since_s is None:
            return None
        return max(self.absorption_since_s + self.absorption_time_s, math.nextafter(t_s, math.inf))


@dataclass(eq=False)
class AcCharger:
    """A mains charger (e.g. Phoenix Smart Charger IP43) with a remote input.

    Charges with up to ``max_current_a`` while mains is present (``windows``), CC/CV then float.
    ``absorption_v``/``float_v``/``rebulk_v`` are absolute bank volts; ``None`` takes the
    battery's values from the :class:`BankView` (rebulk: 13.2 V per 12.8 V). Switching it off
    (remote input or mains) restarts it in bulk, as the real charger does.
    """

    name: str
    max_current_a: float
    controlled_by: ControlledBy = "charge_disconnect"
    windows: TimeWindows = field(default_factory=TimeWindows)
    absorption_v: float | None = None
    float_v: float | None = None
    rebulk_v: float | None = None
    algorithm: ThreeStage = field(default_factory=ThreeStage)

    @property
    def kind(self) -> ComponentKind:
        return "ac_charger"

    @property
    def role(self) -> Role:
        return "charger"

    def current_a(self, t_s: float, bank_v: float, enabled: bool, bank: BankView) -> float:
        if not (enabled or self.controlled_by == "none") or not self.windows.active(t_s):
            self.algorithm.restart()
            return 0.0
        return self.algorithm.current_a(
            t_s, self.max_current_a, bank,
            self.absorption_v if self.absorption_v is not None else bank.charge_voltage_v,
            self.float_v if self.float_v is not None else bank.float_voltage_v,
            self.rebulk_v if self.rebulk_v is not None else REBULK_V * bank.scale,
        )

    def next_change_s(self, t_s: float) -> float | None:
        return _earliest(self.windows.next_edge_s(t_s), self.algorithm.next_change_s(t_s))


@dataclass(eq=False)
class SolarCharger:
    """An MPPT solar charger (e.g. SmartSolar MPPT 75/15) fed by a :class:`PvArray`.

    Bulk at the power the array offers (times ``efficiency``, as current P / V, capped at
    ``max_current_a`` when given), absorption at the battery's charge voltage, then float until
    the sun sets; every morning starts in bulk again. Nothing at night.
    """

    name: str
    array: PvArray
    max_current_a: float | None = None
    efficiency: float = MPPT_EFFICIENCY
    controlled_by: ControlledBy = "charge_disconnect"
    absorption_v: float | None = None
    float_v: float | None = None
    algorithm: ThreeStage = field(default_factory=ThreeStage)

    @property
    def kind(self) -> ComponentKind:
        return "solar"

    @property
    def role(self) -> Role:
        return "charger"

    def available_a(self, t_s: float, bank_v: float) -> float:
        """What the array could deliver now, A, before any voltage limit."""
        if bank_v < BROWNOUT_V:
            return 0.0
        amps = self.array.power_w(t_s) * self.efficiency / bank_v
        return amps if self.max_current_a is None else min(amps, self.max_current_a)

    def current_a(self, t_s: float, bank_v: float, enabled: bool, bank: BankView) -> float:
        available = self.available_a(t_s, bank_v)
        if not (enabled or self.controlled_by == "none") or available <= 0.0:
            self.algorithm.restart()
            return 0.0
        return self.algorithm.current_a(
            t_s, available, bank,
            self.absorption_v if self.absorption_v is not None else bank.charge_voltage_v,
            self.float_v if self.float_v is not None else bank.float_voltage_v,
            None,
        )

    def next_change_s(self, t_s: float) -> float | None:
        return _earliest(
            self.array.next_change_s(t_s, SOLAR_DAYLIGHT_STEP_S), self.algorithm.next_change_s(t_s),
        )


@dataclass(eq=False)
class CyrixLiCt:
    """The Cyrix-Li-ct battery combiner between a starter battery and the lithium bank.

    It closes when its BMS input (pin 85, from the charge disconnect) is high and either side
    is at ``connect_v`` or more (13.4 V per 12.8 V); it opens at once when the input floats or
    when the voltage falls below ``disconnect_v`` (13.2 V per 12.8 V). ``scale`` multiplies both
    for 24 V systems. :meth:`update` returns whether it is closed.
    """

    connect_v: float = CYRIX_CONNECT_V
    disconnect_v: float = CYRIX_DISCONNECT_V
    connected: bool = False

    def update(self, starter_v: float, lithium_v: float, bms_input_high: bool,
               scale: float = 1.0) -> bool:
        sensed = max(starter_v, lithium_v)
        if not bms_input_high:
            self.connected = False
        elif self.connected:
            self.connected = sensed >= self.disconnect_v * scale
        else:
            self.connected = sensed >= self.connect_v * scale
        return self.connected


@dataclass(eq=False)
class Alternator:
    """An engine alternator charging the lithium bank through a :class:`CyrixLiCt`.

    While the engine runs (``running`` windows) the starter side sits at ``charge_v`` (default
    the battery's charge voltage, 14.2 V per 12.8 V); when the combiner is closed the bank gets
    up to ``max_current_a``, limited so the terminal stays at or below ``charge_v``. With the
    engine off the starter side rests at 12.7 V per 12.8 V and nothing flows (the small current
    that a closed combiner lets the lithium bank give to the starter battery is left out).
    """

    name: str
    max_current_a: float
    windows: TimeWindows = field(default_factory=TimeWindows)
    controlled_by: ControlledBy = "charge_disconnect"
    charge_v: float | None = None
    combiner: CyrixLiCt = field(default_factory=CyrixLiCt)

    @property
    def kind(self) -> ComponentKind:
        return "alternator"

    @property
    def role(self) -> Role:
        return "charger"

    def current_a(self, t_s: float, bank_v: float, enabled: bool, bank: BankView) -> float:
        running = self.windows.active(t_s)
        set_v = self.charge_v if self.charge_v is not None else bank.charge_voltage_v
        starter_v = set_v if running else STARTER_REST_V * bank.scale
        bms_high = enabled or self.controlled_by == "none"
        if not self.combiner.update(starter_v, bank_v, bms_high, bank.scale) or not running:
            return 0.0
        return min(self.max_current_a, max(0.0, bank.cv_current_a(set_v)))

    def next_change_s(self, t_s: float) -> float | None:
        return self.windows.next_edge_s(t_s)


# --- a whole bus ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BusSolution:
    """Per-component currents (A, in the order given), their sum and the terminal voltage (V)."""

    currents_a: tuple[float, ...]
    net_current_a: float
    terminal_v: float


def solve_bus(
    components: Sequence[Component], t_s: float, bank: BankView,
    load_disconnect: bool, charge_disconnect: bool, bank_v: float | None = None,
) -> BusSolution:
    """Ask every component once for its current at ``t_s``.

    Loads go first, at ``bank_v`` (the terminal voltage the simulator last saw; default the
    open-circuit voltage). Chargers follow one by one, each solving against the bank with the
    loads and the chargers before it already folded in, so that no constant-voltage charger
    lifts the terminal above its own set voltage.
    """
    seen_v = bank.thevenin_v_oc if bank_v is None else bank_v
    currents = [0.0] * len(components)
    load_total = 0.0
    chargers: list[tuple[int, Component, bool]] = []
    for i, comp in enumerate(components):
        wired = comp.controlled_by
        on = True if wired == "none" else (
            load_disconnect if wired == "load_disconnect" else charge_disconnect)
        if comp.role == "load":
            current = comp.current_a(t_s, seen_v, on, bank)
            currents[i] = current
            load_total += current
        else:
            chargers.append((i, comp, on))
    if chargers:
        view = bank.after(load_total)
        for i, comp, on in chargers:
            current = comp.current_a(t_s, view.thevenin_v_oc, on, view)
            currents[i] = current
            view = view.after(current)
    net = math.fsum(currents)
    return BusSolution(tuple(currents), net, bank.terminal_v(net))


def copy_component(c: Component) -> Component:
    """An independent copy of a component's changing state (a twin snapshot).

    Components are dataclasses whose fields are immutable values, frozen parts shared by every
    copy (:class:`Demand`, :class:`PvArray`, :class:`TimeWindows`) or small mutable parts
    (:class:`ThreeStage`, :class:`CyrixLiCt`, the load behind a :class:`BatteryProtect`), which
    are copied the same way. ~10x cheaper than ``copy.deepcopy``.
    """
    new = shallow_copy(c)
    for name, value in vars(c).items():
        params = getattr(type(value), "__dataclass_params__", None)
        if params is not None and not params.frozen:
            setattr(new, name, copy_component(value))
    return new


def next_change_s(components: Iterable[Component], t_s: float) -> float | None:
    """The earliest time any component's demand changes by itself, or ``None``."""
    first: float | None = None
    for c in components:
        t = c.next_change_s(t_s)
        if t is not None and (first is None or t < first):
            first = t
    return first
