"""The BMS firmware logic: composes protection latches, monitor, history, codes and LEDs.

:class:`Core` is a sans-IO state machine in the manner of ``h11``: it never reads a clock and
does no I/O. The caller feeds it readings and commands with the time (monotonic seconds) and
gets a :class:`Decision` back. The same inputs give the same decisions, whatever the interval
between readings: timers run against the time passed in, and :meth:`Core.next_deadline_s` says
when the next one expires so a simulator can skip ahead; :meth:`Core.quiet_region` says which
input ranges leave the decision unchanged (and what the monitor's SoC will be for given counter
deltas).

Within a step the reading of time t comes first, then the commands of time t, then the decision
(SPEC 18). The decision carries everything a system needs to obey it, including the
self-consumption state of SPEC 14. Callers outside the core use only the public methods and
properties (``step``, ``apply``, ``status``, ``snapshot``, ``next_deadline_s``,
``quiet_region``, ``persistent``, ``settings``, ``commissioned_bank``, ``battery_reports``,
``history_dict``, ...); ``p``, ``m``, ``latches`` and the other attributes are the core's own.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Literal

from smallbms.bank import BankProblem, BankTopology, discover
from smallbms.core import history as hist
from smallbms.core import monitor as mon
from smallbms.core import thresholds as th
from smallbms.core.balancer import BalancerStatus, balancer_status
from smallbms.core.latch import ProtectionLatches, ReadbackMonitor
from smallbms.core.leds import NO_LEDS, classic_leds, ng_leds
from smallbms.core.quiet import QuietInputs, QuietRegion, quiet_region
from smallbms.core.readings import aggregate as _aggregate
from smallbms.core.remote import remote_on
from smallbms.core.settings import (
    DEFAULT_SETTINGS,
    SettingError,
    Settings,
    change_setting,
    change_settings,
    reset_to_defaults,
)
from smallbms.core.snapshot import build_snapshot
from smallbms.core.types import (
    FLOATING,
    HIGH,
    OUTPUT_NAMES,
    AcceptBank,
    BatteryReport,
    ChangeSetting,
    ChangeSettings,
    CodeEvent,
    Command,
    CommandResult,
    Decision,
    DischargeAllowed,
    FirmwareUpdateFinished,
    FirmwareUpdateStarted,
    Mode,
    OutputState,
    Profile,
    Reading,
    ResetDefaults,
    ResetHistory,
    SelfConsumption,
    SetMode,
    SetSoc,
    SetWireless,
    SyncSoc,
)
from smallbms.model.codes import CODE_ORDER
from smallbms.model.reasons import Reason, words
from smallbms.model.snapshot import DeviceSnapshot, Status

_BANK_KEY = attrgetter("serial", "model_id", "series_position")
CODE_LOG_KEPT = 500  # (P) code events kept in the core; the store keeps them all


@dataclass(slots=True)
class Persistent:
    """What survives a power cycle: settings, mode, wireless, monitor, history, bank, code log."""

    settings: Settings = DEFAULT_SETTINGS
    mode: Mode = "on"
    wireless_enabled: bool = True
    monitor: mon.MonitorState = field(default_factory=mon.MonitorState)
    history: hist.History = field(default_factory=hist.History)
    commissioned: BankTopology | None = None
    code_log: list[CodeEvent] = field(default_factory=list)


@dataclass(slots=True)
class Measurements:
    """Aggregates of the last reading, kept for status pages and samples."""

    bank_voltage_v: float = math.nan
    current_a: float | None = None
    min_cell_v: float = math.nan
    max_cell_v: float = math.nan
    mean_cell_v: float = math.nan
    min_temperature_c: float = math.nan
    max_temperature_c: float = math.nan
    complete: bool = False
    remote_on: bool = False
    app_connected: bool = False
    reports: tuple[BatteryReport | None, ...] = ()


def _latches() -> ProtectionLatches:
    return ProtectionLatches(
        th.LOW_BANK_DELAY_S, th.COMMS_WARNING_DELAY_S, th.COMMS_ALARM_DELAY_S)


_NAN = math.nan

# reason flags as plain ints: the step combines them with arithmetic on bools (fast), and
# ``words`` turns a combination into the reason words through a cache
_R_NO_DATA = Reason.NO_BATTERY_DATA.value
_R_REMOTE = Reason.REMOTE_OFF.value
_R_MODE = Reason.MODE_OFF.value
_R_INVALID = Reason.CONFIGURATION_INVALID.value
_R_CHANGED = Reason.CONFIGURATION_CHANGED.value
_R_VOLTAGE = Reason.VOLTAGE_NOT_ALLOWED.value
_R_HARDWARE = Reason.HARDWARE_ERROR.value
_R_LOW_CELL = Reason.LOW_CELL_VOLTAGE.value
_R_LOW_BANK = Reason.LOW_BANK_VOLTAGE.value
_R_FLOOR = Reason.DISCHARGE_FLOOR.value
_R_HIGH_CELL = Reason.HIGH_CELL_VOLTAGE.value
_R_LOW_TEMP = Reason.LOW_TEMPERATURE.value
_R_HIGH_TEMP = Reason.HIGH_TEMPERATURE.value
_R_COMMS = Reason.COMMS_LOST.value
_R_FW_FAILED = Reason.FIRMWARE_UPDATE_FAILED.value
_R_FW_UPDATE = Reason.FIRMWARE_UPDATE.value
_NO_POWER = words(Reason.NO_POWER.value)


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or x != x else x


class Core:
    """The smallBMS firmware as a deterministic state machine (see module docstring)."""

    def __init__(
        self, profile: Profile = "ng", persistent: Persistent | None = None,
        settings: Settings | None = None, *,
        readback_debounce_s: float = th.READBACK_DEBOUNCE_S,
    ) -> None:
        """``persistent`` restores what a previous run saved (:meth:`persistent`).

        ``readback_debounce_s``: how long an output's read-back may disagree with its command
        before E-B11 (the I/O layer's relay switching time).
        """
        self.profile: Profile = profile
        self.p = persistent if persistent is not None else Persistent()
        if settings is not None:
            self.p.settings = settings
        self.readback_debounce_s = readback_debounce_s
        self.powered = False
        self._power_up_pending = True
        self._reset_volatile(0.0)

    # --- power ------------------------------------------------------------------------------

    def _reset_volatile(self, now_s: float) -> None:
        self.latches = _latches()
        self.readback = ReadbackMonitor(self.readback_debounce_s, th.READBACK_CLEAR_HOLD_S)
        self.mv = mon.MonitorVolatile()
        self.power_up_s = now_s
        self.last_t_s: float | None = None
        self.ready = False
        self.pre_alarm_since_s: float | None = None
        self.firmware_updating = False
        self.firmware_failed_s: float | None = None
        self.bank_now: BankTopology | BankProblem | None = None
        self._bank_key: tuple[object, ...] | None = None
        self.e_b01 = False
        self.e_b05 = False
        self.active_codes: tuple[str, ...] = ()
        self.m = Measurements()
        self.last_complete_s = now_s  # no data yet: the comms timer runs from power-up
        self.latches.comms_warning.since_s = now_s
        self._decision: Decision | None = None

    def set_readback_debounce(self, seconds: float) -> None:
        """How long an output's read-back may disagree with its command before E-B11."""
        self.readback_debounce_s = seconds
        self.readback.debounce_s = seconds

    def power_up(self, now_s: float) -> None:
        """Start as after a power-up: volatile state gone, outputs floating until valid data."""
        self._reset_volatile(now_s)
        self.powered = True
        self._power_up_pending = False

    # --- commands ---------------------------------------------------------------------------

    def _capacity_ah(self) -> float:
        c = self.p.commissioned
        return c.capacity_ah if c is not None else 0.0

    def apply(self, command: Command, now_s: float) -> CommandResult:
        """Carry out one command; a refused command changes nothing and says why."""
        p = self.p
        ng = self.profile == "ng"
        match command:
            case SetMode(value=v):
                if v not in ("on", "off"):
                    return CommandResult(command, False, f"mode must be 'on' or 'off', got {v!r}")
                p.mode = v
            case SetWireless(enabled=e):
                p.wireless_enabled = bool(e)
            case AcceptBank():
                if not isinstance(self.bank_now, BankTopology):
                    why = self.bank_now.reason if isinstance(self.bank_now, BankProblem) else (
                        "no complete reading of the bank yet")
                    return CommandResult(command, False, f"cannot accept this bank: {why}")
                old = p.commissioned
                if old is not None:
                    if len(self.bank_now.serials) > len(old.serials):
                        p.monitor.battery_added_since_sync = True
                    # keep the SoC in % when the capacity changes (a battery added or removed)
                    if old.capacity_ah > 0:
                        p.monitor.consumed_ah *= self.bank_now.capacity_ah / old.capacity_ah
                p.commissioned = self.bank_now
                self.e_b05 = False
            case FirmwareUpdateStarted():
                self.firmware_updating = True
            case FirmwareUpdateFinished(success=ok):
                self.firmware_updating = False
                if ok:
                    self.firmware_failed_s = None
                elif self.firmware_failed_s is None:
                    self.firmware_failed_s = now_s
            case (ChangeSetting() | ChangeSettings() | SyncSoc() | SetSoc() | ResetDefaults()
                  | ResetHistory()) if not ng:
                return CommandResult(
                    command, False, "the classic smallBMS has no battery monitor or settings")
            case ChangeSetting(name=name, value=value):
                try:
                    p.settings = change_setting(p.settings, name, value)
                except SettingError as e:
                    return CommandResult(command, False, str(e), e.name)
            case ChangeSettings(values=values):
                try:
                    p.settings = change_settings(p.settings, dict(values))
                except SettingError as e:
                    return CommandResult(command, False, str(e), e.name)
            case SyncSoc():
                if self._capacity_ah() <= 0:
                    return CommandResult(command, False, "the bank is not known yet")
                self._sync(now_s, automatic=False)
            case SetSoc(value_pct=v):
                if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 100.0:
                    return CommandResult(command, False, f"SoC must be 0..100 %, got {v!r}")
                if self._capacity_ah() <= 0:
                    return CommandResult(command, False, "the bank is not known yet")
                mon.set_soc(p.monitor, float(v), self._capacity_ah())
            case ResetDefaults():
                p.settings = reset_to_defaults(p.settings)
            case ResetHistory():
                p.history = hist.History()
            case _:
                return CommandResult(command, False, f"unknown command {command!r}")
        return CommandResult(command, True)

    def _sync(self, now_s: float, automatic: bool) -> None:
        mon.synchronise(self.p.monitor)
        hist.record_sync(self.p.history, automatic)
        # a sync to 100 % clears the discharge floor alarm whatever the floor setting (SPEC 6)
        self.latches.floor.reset()

    # --- the step ---------------------------------------------------------------------------

    def step(self, reading: Reading, now_s: float, commands: Iterable[Command] = ()) -> Decision:
        """Process one reading (and any commands) at time ``now_s``; return the decision."""
        v = reading.bank_voltage_v
        if not v >= th.SUPPLY_MIN_V:  # also catches NaN: no supply, nothing runs
            self.powered = False
            self._power_up_pending = True
            return self._unpowered(now_s, tuple(
                CommandResult(c, False, "the BMS has no power") for c in commands))
        if self._power_up_pending:
            self.power_up(now_s)
        dt = 0.0 if self.last_t_s is None else max(0.0, now_s - self.last_t_s)
        self.last_t_s = now_s
        la = self.latches
        p = self.p
        m = self.m
        ng = self.profile == "ng"

        # -- the batteries -------------------------------------------------------------------
        slots = reading.batteries
        complete, mn, mx, mean, tmin, tmax = _aggregate(slots)
        m.bank_voltage_v = v
        m.current_a = reading.current_a
        m.complete = complete
        m.reports = slots
        m.app_connected = reading.app_connected
        have_cells = mn == mn
        if have_cells:
            m.min_cell_v, m.max_cell_v, m.mean_cell_v = mn, mx, mean
            m.min_temperature_c, m.max_temperature_c = tmin, tmax
        self._check_bank(slots, complete)
        if complete:
            self.ready = True
        # SPEC 18: the commands of time t act on the state after the reading of time t (a
        # scenario's set_soc at t = 0 finds the bank it has just discovered)
        results = tuple(self.apply(c, now_s) for c in commands)
        s = p.settings

        # -- protection latches (trip on any valid data; clear only on complete data) ---------
        if have_cells:
            pa = s.pre_alarm_level_v
            la.pre_alarm.update(mn < pa, complete and mn >= pa + th.PRE_ALARM_CLEAR_MARGIN_V, now_s)
            la.undervoltage.update(
                mn < th.CELL_UNDERVOLTAGE_TRIP_V,
                complete and mn >= th.CELL_UNDERVOLTAGE_CLEAR_V, now_s)
            la.overvoltage.update(
                mx >= th.CELL_OVERVOLTAGE_TRIP_V,
                complete and mx <= th.CELL_OVERVOLTAGE_CLEAR_V, now_s)
            la.low_temp.update(
                tmin < th.LOW_CHARGE_TEMP_TRIP_C, complete and tmin >= th.LOW_CHARGE_TEMP_CLEAR_C,
                now_s)
            la.high_temp.update(
                tmax > th.HIGH_TEMP_TRIP_C, complete and tmax <= th.HIGH_TEMP_CLEAR_C, now_s)
        # comms: 5 s after the last complete reading; A-B05 30 s after W-B05 was due
        la.comms_warning.update(not complete, complete, now_s, self.last_complete_s)
        la.comms_alarm.update(la.comms_warning.active, not la.comms_warning.active, now_s,
                              la.comms_warning.active_since_s)
        if complete:
            # a bus keeps values fresh for a while: the data dates from when it arrived
            # (never earlier than the last complete data, so never before power-up)
            age = reading.data_age_s if reading.data_age_s > 0.0 else 0.0  # NaN: none
            self.last_complete_s = max(self.last_complete_s, now_s - age)
        bank = p.commissioned
        if bank is not None:
            n = bank.cells_in_series
            la.low_bank.update(
                v < th.LOW_BANK_TRIP_V_PER_CELL * n, v >= th.LOW_BANK_CLEAR_V_PER_CELL * n, now_s)
        la.e_b09.update(
            v < th.BANK_VOLTAGE_MIN_V or v > th.BANK_VOLTAGE_MAX_V,
            th.BANK_VOLTAGE_MIN_V + th.BANK_VOLTAGE_CLEAR_MARGIN_V <= v
            <= th.BANK_VOLTAGE_MAX_V - th.BANK_VOLTAGE_CLEAR_MARGIN_V, now_s)
        rb = self.readback
        hw_fault = reading.output_fault or (
            rb.update(reading.readback_mismatch, now_s, self._commanded_outputs())
            if reading.readback_mismatch or rb.outputs else False)
        la.e_b11.update(hw_fault, not hw_fault, now_s)

        # -- the battery monitor and history (NG only) ---------------------------------------
        if ng and bank is not None:
            self._monitor(reading, now_s, dt, bank, have_cells and complete)

        # -- undervoltage with the 30 s pre-alarm lead ----------------------------------------
        uv_armed = la.undervoltage.active or la.low_bank.active
        pre_alarm_wanted = (
            la.pre_alarm.active or uv_armed or la.low_soc.active or la.floor.active
            or la.comms_warning.active
        )
        if pre_alarm_wanted:
            if self.pre_alarm_since_s is None:
                # the lead counts from when the output really goes high: this tick
                self.pre_alarm_since_s = now_s
            lead_done = now_s - self.pre_alarm_since_s >= th.PRE_ALARM_LEAD_S
        else:
            self.pre_alarm_since_s = None
            lead_done = False
        a_b01 = la.undervoltage.active and lead_done
        a_b08 = la.low_bank.active and lead_done

        # -- codes ---------------------------------------------------------------------------
        e_b09 = la.e_b09.active
        e_b11 = la.e_b11.active
        firmware_load_off = (
            self.firmware_failed_s is not None
            and now_s - self.firmware_failed_s >= th.FIRMWARE_FAIL_LOAD_OFF_DELAY_S
        )
        codes = self._codes(a_b01, a_b08, e_b09, e_b11) if ng else ()
        events = self._diff_codes(codes, now_s) if codes != self.active_codes else ()

        # -- outputs -------------------------------------------------------------------------
        r_on = remote_on(reading.remote, v)
        m.remote_on = r_on
        common = (
            (not self.ready) * _R_NO_DATA | (not r_on) * _R_REMOTE | (p.mode != "on") * _R_MODE
            | self.e_b01 * _R_INVALID | self.e_b05 * _R_CHANGED | e_b09 * _R_VOLTAGE
            | e_b11 * _R_HARDWARE
        )
        dis = words(common | (
            a_b01 * _R_LOW_CELL | a_b08 * _R_LOW_BANK | la.floor.active * _R_FLOOR
            | la.comms_alarm.active * _R_COMMS | firmware_load_off * _R_FW_FAILED))
        chg = words(common | (
            la.overvoltage.active * _R_HIGH_CELL | la.low_temp.active * _R_LOW_TEMP
            | la.high_temp.active * _R_HIGH_TEMP | la.comms_warning.active * _R_COMMS
            | self.firmware_updating * _R_FW_UPDATE))
        atd: OutputState = FLOATING if dis else HIGH
        atc: OutputState = FLOATING if chg else HIGH
        pre: OutputState = HIGH if pre_alarm_wanted else FLOATING
        allowed: DischargeAllowed = "no" if dis else ("pre-alarm" if pre_alarm_wanted else "yes")
        if ng:
            leds = ng_leds(codes, self.wireless_available(now_s), reading.app_connected)
        else:
            leds = classic_leds(atd, atc)
        # SPEC 14: low self-consumption in the low-cell-voltage state and when remote off, for
        # both profiles (classic: 2.2 mA on, 1.2 mA in either low state)
        consumption: SelfConsumption = "low" if a_b01 or not r_on else "on"
        d = Decision(
            load_disconnect=atd, charge_disconnect=atc, pre_alarm=pre, leds=leds,
            allowed_to_charge=not chg, allowed_to_discharge=allowed,
            charge_reasons=chg, discharge_reasons=dis, active_codes=codes,
            events=events, command_results=results, self_consumption=consumption,
        )
        self._decision = d
        return d

    def _commanded_outputs(self) -> dict[str, OutputState]:
        """The output states the read-backs of this reading are compared against (the last
        decision's; none yet: every output floating)."""
        last = self._decision
        if last is None:
            return {}
        return {n: last.output(n) for n in OUTPUT_NAMES}

    def _unpowered(self, now_s: float, results: tuple[CommandResult, ...]) -> Decision:
        events = self._diff_codes((), now_s) if self.active_codes else ()
        d = Decision(
            load_disconnect=FLOATING, charge_disconnect=FLOATING, pre_alarm=FLOATING, leds=NO_LEDS,
            allowed_to_charge=False, allowed_to_discharge="no", charge_reasons=_NO_POWER,
            discharge_reasons=_NO_POWER, active_codes=(), events=events,
            command_results=results,
        )
        self._decision = d
        return d

    def _check_bank(self, slots: tuple[BatteryReport | None, ...], complete: bool) -> None:
        """E-B01 (invalid bank) and E-B05 (bank changed since commissioning)."""
        commissioned = self.p.commissioned
        if complete:
            key = tuple(map(_BANK_KEY, slots))
            if key != self._bank_key:
                self._bank_key = key
                reports = [r for r in slots if r is not None]
                self.bank_now = discover(reports, self.profile)
                found = self.bank_now
                self.e_b01 = isinstance(found, BankProblem)
                if isinstance(found, BankTopology):
                    if commissioned is None or self.profile == "classic":
                        # the classic BMS has no commissioning: it protects what is wired
                        self.p.commissioned = found
                        self.e_b05 = False
                    else:
                        self.e_b05 = found.serials != commissioned.serials
        elif slots and commissioned is not None and self.profile == "ng":
            known = commissioned.serials
            if len(slots) != len(known) or any(
                r is not None and r.serial not in known for r in slots
            ):
                self.e_b05 = True
                self._bank_key = None

    def _monitor(
        self, reading: Reading, now_s: float, dt: float, bank: BankTopology, fresh: bool
    ) -> None:
        p = self.p
        s = p.settings
        ms = p.monitor
        la = self.latches
        cap = bank.capacity_ah
        i = reading.current_a
        charged, discharged = mon.count_charge(
            ms, self.mv, i, dt, reading.charged_ah_total, reading.discharged_ah_total, cap)
        mon.average_current(ms, self.mv, i, dt)
        v = reading.bank_voltage_v
        h = p.history
        if charged or discharged:
            hist.record_charge(h, charged, discharged, v, ms.consumed_ah)
        if ms.seconds_since_sync is not None:
            ms.seconds_since_sync += dt
        if h.seconds_since_full_charge is not None:
            h.seconds_since_full_charge += dt
        # automatic synchronisation to 100 %
        charged_v = s.charged_voltage_v * bank.nominal_voltage_v / 12.8
        tail_a = s.tail_current_pct / 100.0 * cap
        timer = self.mv.timer(s.charged_detection_time_min * 60.0)
        cond = i is not None and v >= charged_v and i <= tail_a
        if timer.update(cond, not cond, now_s) and timer.active:
            self._sync(now_s, automatic=True)
        soc = mon.soc_pct(ms, cap)
        if soc is None:
            la.low_soc.reset()
            la.floor.reset()
        else:
            hist.record_soc(h, soc)
            lvl = s.low_soc_warning_pct
            la.low_soc.update(soc <= lvl, soc >= th.soc_clear_level(lvl, th.LOW_SOC_CLEAR_MARGIN_PCT), now_s)
            floor = s.discharge_floor_pct
            if floor <= 0:
                la.floor.reset()
            else:
                la.floor.update(
                    soc <= floor, soc >= th.soc_clear_level(floor, th.DISCHARGE_FLOOR_CLEAR_MARGIN_PCT),
                    now_s)
        if fresh:
            ex = reading.extremes
            m = self.m
            if ex is not None:
                hist.record_extremes(
                    h, min(ex.min_cell_v, m.min_cell_v), max(ex.max_cell_v, m.max_cell_v),
                    min(ex.min_bank_v, v), max(ex.max_bank_v, v),
                    min(ex.min_temperature_c, m.min_temperature_c),
                    max(ex.max_temperature_c, m.max_temperature_c))
            else:
                hist.record_extremes(
                    h, m.min_cell_v, m.max_cell_v, v, v, m.min_temperature_c, m.max_temperature_c)

    def _codes(self, a_b01: bool, a_b08: bool, e_b09: bool, e_b11: bool) -> tuple[str, ...]:
        la = self.latches
        out: list[str] = []
        if la.pre_alarm.active or a_b01:
            out.append("W-B01")
        if la.comms_warning.active:
            out.append("W-B05")
        if la.low_soc.active or la.floor.active:
            out.append("W-B07")
        if a_b01:
            out.append("A-B01")
        if la.comms_alarm.active:
            out.append("A-B05")
        if la.floor.active:
            out.append("A-B07")
        if a_b08:
            out.append("A-B08")
        if la.high_temp.active:
            out.append("A-B09")
        if self.e_b01:
            out.append("E-B01")
        if self.e_b05:
            out.append("E-B05")
        if e_b09:
            out.append("E-B09")
        if e_b11:
            out.append("E-B11")
        return tuple(out)

    def _diff_codes(self, codes: tuple[str, ...], now_s: float) -> tuple[CodeEvent, ...]:
        old = set(self.active_codes)
        new = set(codes)
        events = [CodeEvent(now_s, c, "cleared") for c in self.active_codes if c not in new]
        events += [CodeEvent(now_s, c, "active") for c in codes if c not in old]
        events.sort(key=lambda e: (CODE_ORDER[e.code], e.state))
        log = self.p.code_log
        log.extend(events)
        del log[:-CODE_LOG_KEPT]
        for e in events:
            if e.state == "active" and e.code.startswith("E-"):
                hist.record_error(self.p.history, e.code, now_s)
        self.active_codes = codes
        return tuple(events)

    # --- questions the caller may ask --------------------------------------------------------

    def wireless_available(self, now_s: float) -> bool:
        """Wireless access is on when enabled, and always for 30 s after power-up."""
        if not self.powered:
            return False
        return self.p.wireless_enabled or (
            now_s - self.power_up_s < th.WIRELESS_WINDOW_AFTER_POWER_UP_S)

    @property
    def decision(self) -> Decision | None:
        """The last decision, or None before the first step."""
        return self._decision

    # The core's boundary: what the rest of the program may read. Values are immutable or
    # copies, so nothing outside the core can change its state except through ``apply``/``step``.

    @property
    def settings(self) -> Settings:
        """The settings in force (immutable)."""
        return self.p.settings

    @property
    def wireless_enabled(self) -> bool:
        """The user's wireless setting (access is also on for 30 s after power-up)."""
        return self.p.wireless_enabled

    @property
    def commissioned_bank(self) -> BankTopology | None:
        """The bank as commissioned (immutable), or None before the first one is known."""
        return self.p.commissioned

    @property
    def battery_reports(self) -> tuple[BatteryReport | None, ...]:
        """What each battery reported in the last reading (None: missing or invalid)."""
        return self.m.reports

    @property
    def readback_faults(self) -> tuple[str, ...]:
        """Outputs at fault: their read-back disagreed with a command for longer than the
        debounce, and they have not yet followed that command again for the clear hold."""
        return self.readback.faulted_outputs

    def history_dict(self) -> dict[str, Any]:
        """The history of SPEC 11 as plain data (a copy)."""
        return self.p.history.as_dict()

    def persistent(self) -> Persistent:
        """A copy of what survives a power cycle, for a store to save (see core.persist)."""
        p = self.p
        h = dataclasses.replace(p.history, last_errors=list(p.history.last_errors))
        return dataclasses.replace(
            p, monitor=dataclasses.replace(p.monitor), history=h, code_log=list(p.code_log))

    def next_deadline_s(self) -> float | None:
        """When the next timer expires if the inputs stay as they are (None: no timer runs)."""
        cands: list[float] = []
        for latch in self.latches.all():
            d = latch.deadline()
            if d is not None:
                cands.append(d)
        timer = self.mv.sync_timer
        if timer is not None:
            d = timer.deadline()
            if d is not None:
                cands.append(d)
        la = self.latches
        if self.pre_alarm_since_s is not None and (la.undervoltage.active or la.low_bank.active):
            cands.append(self.pre_alarm_since_s + th.PRE_ALARM_LEAD_S)
        if self.firmware_failed_s is not None:
            cands.append(self.firmware_failed_s + th.FIRMWARE_FAIL_LOAD_OFF_DELAY_S)
        if self.powered and not self.p.wireless_enabled:
            cands.append(self.power_up_s + th.WIRELESS_WINDOW_AFTER_POWER_UP_S)
        cands += self.readback.deadlines()
        now = self.last_t_s if self.last_t_s is not None else self.power_up_s
        future = [c for c in cands if c > now]
        return min(future) if future else None

    def quiet_region(self) -> QuietRegion:
        """Open input ranges inside which the next decision equals the last one.

        The region also says what the monitor's SoC will be for given counter deltas
        (:meth:`QuietRegion.soc_inside`), so a runner that skips ahead need not predict it.
        """
        bank = self.p.commissioned
        soc = mon.soc_pct(self.p.monitor, bank.capacity_ah) if bank is not None else None
        return quiet_region(QuietInputs(
            latches=self.latches, settings=self.p.settings, bank=bank, profile=self.profile,
            bank_voltage_v=self.m.bank_voltage_v, sync_timer=self.mv.sync_timer,
            soc_pct=soc, deadline_s=self.next_deadline_s(), powered=self.powered))

    def snapshot(self, decision: Decision, t_s: float, wall_s: float = 0.0) -> DeviceSnapshot:
        """The typed snapshot of the device after ``decision`` (what every client reads)."""
        return build_snapshot(
            st=self.status(), d=decision, profile=self.profile,
            wireless_enabled=self.p.wireless_enabled, bank=self.p.commissioned,
            reports=self.m.reports, history=self.p.history, settings=self.p.settings.as_dict(),
            t_s=t_s, wall_s=wall_s)

    def status(self) -> Status:
        """Values for pages, samples and integrations (computed on demand, not every step)."""
        m = self.m
        ms = self.p.monitor
        bank = self.p.commissioned
        ng = self.profile == "ng"
        cap = bank.capacity_ah if bank is not None else 0.0
        soc = mon.soc_pct(ms, cap) if ng else None
        v = _finite_or_none(m.bank_voltage_v) if self.powered else None
        i = m.current_a if self.powered else None
        balancer: BalancerStatus | None = None
        if ng and bank is not None and m.mean_cell_v == m.mean_cell_v:
            balancer = balancer_status(
                soc_pct=soc, seconds_since_sync=ms.seconds_since_sync,
                battery_added=ms.battery_added_since_sync,
                charging=(i or 0.0) > mon.CURRENT_THRESHOLD_A, mean_cell_v=m.mean_cell_v,
                spread_v=m.max_cell_v - m.min_cell_v,
            )
        fw: Literal["idle", "updating", "failed"] = (
            "updating" if self.firmware_updating
            else "failed" if self.firmware_failed_s is not None else "idle")
        return Status(
            powered=self.powered, mode=self.p.mode, soc_pct=soc, voltage_v=v, current_a=i,
            power_w=(v * i) if v is not None and i is not None else None,
            consumed_ah=ms.consumed_ah if ng and bank is not None else None,
            time_remaining_s=(
                mon.time_remaining_s(ms, cap, self.p.settings.discharge_floor_pct, i)
                if ng and bank is not None else None),
            min_cell_voltage_v=_finite_or_none(m.min_cell_v),
            max_cell_voltage_v=_finite_or_none(m.max_cell_v),
            min_temperature_c=_finite_or_none(m.min_temperature_c),
            max_temperature_c=_finite_or_none(m.max_temperature_c),
            balancer=balancer,
            wireless_available=self.wireless_available(self.last_t_s or self.power_up_s),
            firmware_update=fw,
        )
