"""The invariant checker: did the outputs ever leave the safe state?

An oracle written from SPEC 5-7 (and the project choices in docs/choices.md where the spec is
silent), independent of :mod:`smallbms.core`: it re-states the thresholds below and never calls
the core's latch or threshold code. It reads two things:

- the public JSON Lines event log (``output`` and ``code`` lines): what the BMS decided;
- a ground-truth trace (:class:`~tests.reliability.oracle.truth.TruthTick`, one per BMS tick):
  what the twin really did (cell and temperature values each battery reported, which batteries'
  frames arrived, supply, remote terminal, output fault, commands, the BMS's SoC and settings).

**Unsafe** and the output that must answer (SPEC 5-7):

========================= ======================================================== ============
rule                      condition (on the batteries whose valid data reached the BMS) must float
========================= ======================================================== ============
charge.overvoltage        a cell ≥ 3.75 V                                           charge
charge.low_temperature    a battery < 5 °C                                          charge
charge.high_temperature   a battery > 50 °C                                         charge
charge.comms_lost         no complete valid reading for 5 s                         charge
charge.firmware_update    a firmware update in progress                             charge
load.undervoltage         a cell < 2.80 V; due 30 s after the pre-alarm went high   load
load.low_bank_voltage     bank < 2.50 V × cells in series for 10 s; same 30 s lead  load
load.discharge_floor      BMS SoC ≤ discharge floor (floor > 0)                     load
load.comms_lost           no complete valid reading for 35 s (W-B05 + 30 s)         load
load.firmware_failed      120 s after a failed update (until a success/power loss)  load
both.unpowered            no supply: power cut or bank below 8 V (the same tick)    both
both.no_data_since_power_up  no complete valid reading since power-up (same tick)   both
both.remote_off           remote terminal OFF (SPEC 5 rule, H tolerance 0.5 V)      both
both.mode_off             mode Off accepted while powered                           both
both.hardware_fault       output fault input set (E-B11)                            both
both.voltage_not_allowed  bank voltage outside 9-60 V (E-B09)                       both
both.bank_changed         a complete reading of a bank other than the accepted one  both
pre_alarm.*               cell < pre-alarm level, SoC ≤ low-SoC level, comms 5 s,   pre-alarm
                          low bank voltage 10 s                                     high
code.<X>                  the code X is active in the log: its outputs (SPEC 7)     per code
========================= ======================================================== ============

The invariant is one-directional: *unsafe ⇒ safe state within one tick* ("by the next BMS
step": the output must be in its safe state at every tick at or after due + ``step`` while the
condition holds; ``due`` is the tick the condition is first seen, or when its timer expires).
Hysteresis is therefore no concern: an output may stay floating until its clear level, and the
checker never asks for an output to be high. Two rules have no slack: with no supply and before
the first complete reading after power-up the outputs float at that very tick.

Two more checks look at transitions:

- **the 30 s lead** (``load.lead``): the load disconnect must not float *for undervoltage*
  sooner than 30 s after the pre-alarm output went high. Every high→floating change of the load
  output that no other rule explains at that tick (remote, mode, errors, comms 35 s, floor,
  failed update, no data, no supply) must find the pre-alarm high for 30 s already; likewise
  every A-B01/A-B08 raise. The other direction (not later) is ``load.undervoltage`` above.
- **skips** (``*.unsafe_inside_skip``): where the runner skipped ticks (an interval longer than
  one step), the physics extremes of the interval must not have crossed a trip level while the
  output that answers it was high: the BMS would have slept through the onset. An undervoltage
  the BMS has already seen, and that has not reached its clear level (all cells 3.20 V), may
  wait out its 30 s lead across a skip.

Reading of the spec where it needed one (recorded in docs/architecture.md):

- "valid reading": every battery on the bus reported, values within 0-5 V per cell and
  -60…150 °C (docs/choices.md §1); the comms timer runs from the last complete reading or the
  power-up, whichever is later.
- Commands given while the BMS has no supply are refused (docs/choices.md §6); a firmware update
  is aborted, and a failed one forgotten, when the BMS loses supply (the update and its 120 s
  timer live in the BMS).
- The discharge floor and low-SoC rules are on the BMS's own SoC estimate (that is how SPEC 6
  defines them); the checker reads it from the trace, and checks the thresholds it holds are
  within their SPEC 9 ranges.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.reliability.oracle.truth import BatteryValues, TruthTick

# --- numbers re-stated from SPEC 6 / docs/choices.md (not imported from the core) ---------------
OVERVOLTAGE_TRIP_V = 3.75
UNDERVOLTAGE_TRIP_V = 2.80
UNDERVOLTAGE_CLEAR_V = 3.20  # cells, and the bank per cell in series (A-B01, A-B08)
LOW_CHARGE_TEMP_TRIP_C = 5.0
HIGH_TEMP_TRIP_C = 50.0
LOW_BANK_TRIP_V_PER_CELL = 2.50
LOW_BANK_DELAY_S = 10.0
PRE_ALARM_LEAD_S = 30.0
COMMS_WARNING_S = 5.0
COMMS_ALARM_S = COMMS_WARNING_S + 30.0
FIRMWARE_FAIL_DELAY_S = 120.0
SUPPLY_MIN_V = 8.0
BANK_VOLTAGE_RANGE_V = (9.0, 60.0)
PRE_ALARM_LEVEL_RANGE_V = (2.85, 3.15)
SOC_SETTING_RANGE_PCT = (0.0, 99.0)
CELL_PLAUSIBLE_V = (0.0, 5.0)
TEMPERATURE_PLAUSIBLE_C = (-60.0, 150.0)
REMOTE_L_ON_BELOW_V = 3.5
REMOTE_H_ON_ABOVE_V = 2.9
REMOTE_H_TOLERANCE_V = 0.5

#: slack on time comparisons (the log rounds times to 1 ms)
EPS_S = 1e-3

LOAD = "load_disconnect"
CHARGE = "charge_disconnect"
PRE_ALARM = "pre_alarm"
OUTPUTS = (LOAD, CHARGE, PRE_ALARM)
#: the safe state of each output
SAFE = {LOAD: "floating", CHARGE: "floating", PRE_ALARM: "high"}


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    outputs: tuple[str, ...]
    text: str
    #: one tick of slack (False: the output must be safe at the very tick)
    slack: bool = True


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {r.name: r for r in rules}


BOTH = (LOAD, CHARGE)
#: the outputs each active code must hold in their safe state (SPEC 7)
CODE_OUTPUTS: dict[str, tuple[str, ...]] = {
    "W-B01": (PRE_ALARM,), "W-B05": (CHARGE, PRE_ALARM), "W-B07": (PRE_ALARM,),
    "A-B01": (LOAD,), "A-B05": BOTH, "A-B07": (LOAD,), "A-B08": (LOAD,), "A-B09": (CHARGE,),
    "E-B01": BOTH, "E-B05": BOTH, "E-B09": BOTH, "E-B11": BOTH,
}
RULES: dict[str, Rule] = _rules(
    Rule("charge.overvoltage", (CHARGE,), "a cell at or above 3.75 V"),
    Rule("charge.low_temperature", (CHARGE,), "a battery below 5 °C"),
    Rule("charge.high_temperature", (CHARGE,), "a battery above 50 °C"),
    Rule("charge.comms_lost", (CHARGE,), "no complete valid reading for 5 s"),
    Rule("charge.firmware_update", (CHARGE,), "a firmware update in progress"),
    Rule("load.undervoltage", (LOAD,), "a cell below 2.80 V; due once the pre-alarm is 30 s high"),
    Rule("load.low_bank_voltage", (LOAD,), "bank below 2.50 V per cell for 10 s; 30 s lead"),
    Rule("load.discharge_floor", (LOAD,), "SoC at or below the discharge floor"),
    Rule("load.comms_lost", (LOAD,), "no complete valid reading for 35 s"),
    Rule("load.firmware_failed", (LOAD,), "120 s after a failed firmware update"),
    Rule("both.unpowered", BOTH, "no supply: power cut, or bank below 8 V", slack=False),
    Rule("both.no_data_since_power_up", BOTH, "no complete valid reading since power-up",
         slack=False),
    Rule("both.remote_off", BOTH, "remote terminal OFF"),
    Rule("both.mode_off", BOTH, "mode Off"),
    Rule("both.hardware_fault", BOTH, "output hardware fault"),
    Rule("both.voltage_not_allowed", BOTH, "bank voltage outside 9-60 V"),
    Rule("both.bank_changed", BOTH, "the bank read differs from the accepted bank"),
    Rule("pre_alarm.low_cell", (PRE_ALARM,), "a cell below the pre-alarm level"),
    Rule("pre_alarm.low_soc", (PRE_ALARM,), "SoC at or below the low-SoC warning level"),
    Rule("pre_alarm.comms_lost", (PRE_ALARM,), "no complete valid reading for 5 s"),
    Rule("pre_alarm.low_bank_voltage", (PRE_ALARM,), "bank below 2.50 V per cell for 10 s"),
    *(Rule(f"code.{c}", outs, f"{c} active") for c, outs in CODE_OUTPUTS.items()),
)
#: checks that report violations only (no episodes): the lead on transitions, skips, the
#: settings the BMS holds, and the log itself
LEAD_RULE = "load.lead"
OTHER_CHECKS = (LEAD_RULE, "charge.unsafe_inside_skip", "load.unsafe_inside_skip",
                "pre_alarm.unsafe_inside_skip", "settings.out_of_range", "log.contract")
#: rules that let the load float at once (no 30 s lead), and codes that do
_LOAD_AT_ONCE = frozenset({
    "both.unpowered", "both.no_data_since_power_up", "both.remote_off", "both.mode_off",
    "both.hardware_fault", "both.voltage_not_allowed", "both.bank_changed", "load.comms_lost",
    "load.discharge_floor", "load.firmware_failed"})
_LOAD_AT_ONCE_CODES = frozenset({"A-B05", "A-B07", "E-B01", "E-B05", "E-B09", "E-B11"})


@dataclass(frozen=True, slots=True)
class CheckConfig:
    """What the checker needs to know about the run besides the trace."""

    step_s: float
    #: cells in series of the bank (cells per battery × batteries in series), for A-B08
    cells_in_series: int = 4


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    output: str
    t_s: float
    due_s: float
    detail: str

    def __str__(self) -> str:
        return (f"t={self.t_s:g}s {self.rule}: {self.output} {self.detail} "
                f"(due {self.due_s:g}s)")


@dataclass(slots=True)
class RuleStats:
    """Episodes of one rule: maximal runs of ticks in which its condition held."""

    episodes: int = 0
    #: every output reached its safe state at or after the due tick (or was there already)
    answered: int = 0
    #: the condition went away before it was due (e.g. a cell below 2.8 V for less than the lead)
    ended_before_due: int = 0
    violations: int = 0
    #: slowest answer: ticks after the due tick, and seconds after the due time
    worst_ticks: int = 0
    worst_s: float = 0.0


@dataclass(slots=True)
class CheckReport:
    ticks: int
    rules: dict[str, RuleStats]
    violations: list[Violation]
    lead_checks: int = 0
    skipped_intervals: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass(slots=True)
class _Episode:
    start_t: float
    due_t: float
    due_index: int | None = None
    answered: set[str] = field(default_factory=set)
    violated: set[str] = field(default_factory=set)


def parse_lines(text: str) -> list[dict[str, Any]]:
    """The event log (JSON Lines text) as a list of objects."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def remote_on(bridged: bool, l_v: float | None, h_v: float | None, bank_v: float) -> bool:
    """SPEC 5: ON when bridged, L below 3.5 V, or H above 2.9 V and at most the battery voltage
    (+0.5 V tolerance, docs/choices.md §6)."""
    if bridged:
        return True
    if l_v is not None and l_v < REMOTE_L_ON_BELOW_V:
        return True
    return h_v is not None and REMOTE_H_ON_ABOVE_V < h_v <= bank_v + REMOTE_H_TOLERANCE_V


def _plausible(b: BatteryValues) -> bool:
    lo_v, hi_v = CELL_PLAUSIBLE_V
    lo_t, hi_t = TEMPERATURE_PLAUSIBLE_C
    return lo_v <= b[0] and b[1] <= hi_v and lo_t <= b[2] <= hi_t


class Checker:
    """Feed it the ticks in order (:meth:`tick`), then :meth:`finish`. :func:`check` does both."""

    def __init__(self, lines: Iterable[dict[str, Any]], config: CheckConfig) -> None:
        self.config = config
        self.log = [ln for ln in lines if ln.get("type") in ("output", "code")]
        self.pos = 0
        self.out: dict[str, str] = {name: "floating" for name in OUTPUTS}
        self.codes: dict[str, float] = {}  # active code -> since
        self.pa_rise: float | None = None
        self.seen_outputs: set[str] = set()
        self.index = -1
        self.prev_t: float | None = None
        self.prev_tick_t: float | None = None
        #: an undervoltage (cell or bank) the BMS has seen and that has not cleared yet (SPEC 6:
        #: all cells >= 3.20 V on a complete reading, bank >= 3.20 V per cell): it may be
        #: waiting out its 30 s lead
        self.uv_seen = False
        self.low_bank_seen = False
        self.powered_before = False
        # the BMS as the spec describes it, rebuilt from the trace
        self.ready = False
        self.last_complete_t = 0.0
        self.mode = "on"
        self.updating = False
        self.failed_since: float | None = None
        self.commissioned: frozenset[int] | None = None
        self.last_bank: frozenset[int] | None = None
        self.low_bank_since: float | None = None
        self.open: dict[str, _Episode] = {}
        self.stats: dict[str, RuleStats] = {name: RuleStats() for name in RULES}
        self.violations: list[Violation] = []
        self.lead_checks = 0
        self.skipped = 0
        self._settings_flagged: set[str] = set()

    # --- the event log --------------------------------------------------------------------

    def _consume(self, t: float) -> set[str]:
        """Apply the log lines up to tick time ``t``; return the codes raised at this tick."""
        raised: set[str] = set()
        log = self.log
        while self.pos < len(log) and log[self.pos]["t"] <= t + EPS_S / 2:
            ln = log[self.pos]
            self.pos += 1
            if ln["type"] == "output":
                name, state = ln["output"], ln["state"]
                self.seen_outputs.add(name)
                if name == PRE_ALARM and state == "high" and self.out[PRE_ALARM] != "high":
                    self.pa_rise = float(ln["t"])
                self.out[name] = state
            elif ln["state"] == "active":
                self.codes[ln["code"]] = float(ln["t"])
                raised.add(ln["code"])
            else:
                self.codes.pop(ln["code"], None)
        return raised

    # --- one tick -------------------------------------------------------------------------

    def tick(self, k: TruthTick) -> None:
        t = k.t
        prev_out = dict(self.out)
        if self.prev_t is not None and not t > self.prev_t:
            raise ValueError(f"tick times must increase: {t!r} after {self.prev_t!r}")
        raised = self._consume(t)
        self.index += 1
        if self.index == 0 and self.seen_outputs != set(OUTPUTS):
            missing = ", ".join(sorted(set(OUTPUTS) - self.seen_outputs))
            self.violations.append(Violation(
                "log.contract", missing, t, t, "has no output line at the first tick (SPEC 17)"))
        step = self.config.step_s
        if (self.prev_t is not None and t - self.prev_t > step + EPS_S and k.interval is not None
                and self.powered_before):
            self._skip_check(k, prev_out)
        self.prev_tick_t = self.prev_t
        self.prev_t = t
        due: dict[str, float | None] = {}
        supplied = k.powered and k.bank_v >= SUPPLY_MIN_V
        if not supplied:
            self.powered_before = False
            due["both.unpowered"] = None
        else:
            self._powered_tick(k, due)
        for code in self.codes:
            due[f"code.{code}"] = self.codes[code]
        self._episodes(t, due, prev_out)
        floated = supplied and prev_out[LOAD] == "high" and self.out[LOAD] == "floating"
        self._lead_check(t, due, raised & {"A-B01", "A-B08"}, floated)

    def _powered_tick(self, k: TruthTick, due: dict[str, float | None]) -> None:
        t = k.t
        if not self.powered_before:  # power-up: the BMS starts afresh (volatile state gone)
            self.powered_before = True
            self.ready = False
            self.last_complete_t = t
            self.updating = False
            self.failed_since = None
            self.last_bank = None
            self.low_bank_since = None
            self.uv_seen = self.low_bank_seen = False
        for name, value in k.commands:
            if name == "mode" and value in ("on", "off"):
                self.mode = str(value)
            elif name == "firmware_start":
                self.updating = True
            elif name == "firmware_finish":
                self.updating = False
                if value:
                    self.failed_since = None
                elif self.failed_since is None:
                    self.failed_since = t
            elif name == "accept_bank" and self.last_bank is not None:
                self.commissioned = self.last_bank
        valid = [b for b in k.delivered if b is not None and _plausible(b)]
        complete = bool(k.present) and len(valid) == len(k.present)
        if complete:
            self.ready = True
            self.last_complete_t = t
            self.last_bank = frozenset(k.present)
            if self.commissioned is None:
                self.commissioned = self.last_bank
        self._check_settings(k)
        if valid:
            lowest = min(b[0] for b in valid)
            if lowest < UNDERVOLTAGE_TRIP_V:
                self.uv_seen = True
            elif complete and lowest >= UNDERVOLTAGE_CLEAR_V:
                self.uv_seen = False
        n = self.config.cells_in_series
        if k.bank_v < LOW_BANK_TRIP_V_PER_CELL * n:
            self.low_bank_seen = True
        elif k.bank_v >= UNDERVOLTAGE_CLEAR_V * n:
            self.low_bank_seen = False
        # both outputs
        if not self.ready:
            due["both.no_data_since_power_up"] = None
        if not remote_on(k.remote_bridged, k.remote_l_v, k.remote_h_v, k.bank_v):
            due["both.remote_off"] = None
        if self.mode == "off":
            due["both.mode_off"] = None
        if k.output_fault:
            due["both.hardware_fault"] = None
        lo, hi = BANK_VOLTAGE_RANGE_V
        if not lo <= k.bank_v <= hi:
            due["both.voltage_not_allowed"] = None
        if complete and self.commissioned is not None and self.last_bank != self.commissioned:
            due["both.bank_changed"] = None
        # the cells and temperatures the BMS could see
        if valid:
            min_cell = min(b[0] for b in valid)
            if max(b[1] for b in valid) >= OVERVOLTAGE_TRIP_V:
                due["charge.overvoltage"] = None
            if min(b[2] for b in valid) < LOW_CHARGE_TEMP_TRIP_C:
                due["charge.low_temperature"] = None
            if max(b[2] for b in valid) > HIGH_TEMP_TRIP_C:
                due["charge.high_temperature"] = None
            if min_cell < k.pre_alarm_level_v:
                due["pre_alarm.low_cell"] = None
            if min_cell < UNDERVOLTAGE_TRIP_V:
                ep = self.open.get("load.undervoltage")
                due["load.undervoltage"] = self._lead_due(t, t if ep is None else ep.start_t)
        # communication
        if not complete:
            if t >= self.last_complete_t + COMMS_WARNING_S - EPS_S:
                due["charge.comms_lost"] = due["pre_alarm.comms_lost"] = (
                    self.last_complete_t + COMMS_WARNING_S)
            if t >= self.last_complete_t + COMMS_ALARM_S - EPS_S:
                due["load.comms_lost"] = self.last_complete_t + COMMS_ALARM_S
        # firmware
        if self.updating:
            due["charge.firmware_update"] = None
        if self.failed_since is not None and (
                t >= self.failed_since + FIRMWARE_FAIL_DELAY_S - EPS_S):
            due["load.firmware_failed"] = self.failed_since + FIRMWARE_FAIL_DELAY_S
        # the BMS's SoC
        soc = k.soc_pct
        if soc is not None:
            if k.discharge_floor_pct > 0 and soc <= k.discharge_floor_pct:
                due["load.discharge_floor"] = None
            if soc <= k.low_soc_warning_pct:
                due["pre_alarm.low_soc"] = None
        # low bank voltage (backstop)
        if self.commissioned is not None and (
                k.bank_v < LOW_BANK_TRIP_V_PER_CELL * self.config.cells_in_series):
            if self.low_bank_since is None:
                self.low_bank_since = t
            armed = self.low_bank_since + LOW_BANK_DELAY_S
            if t >= armed - EPS_S:
                due["pre_alarm.low_bank_voltage"] = armed
                due["load.low_bank_voltage"] = self._lead_due(t, armed)
        else:
            self.low_bank_since = None

    def _lead_due(self, t: float, armed: float) -> float:
        """Due time of an undervoltage disconnect armed at ``armed``: not before the pre-alarm
        output has been high for 30 s (while it is not high, 30 s from now: not due yet)."""
        rise = self.pa_rise if self.out[PRE_ALARM] == "high" and self.pa_rise is not None else t
        return max(armed, rise + PRE_ALARM_LEAD_S)

    def _check_settings(self, k: TruthTick) -> None:
        lo, hi = PRE_ALARM_LEVEL_RANGE_V
        slo, shi = SOC_SETTING_RANGE_PCT
        bad = []
        if not lo - 1e-9 <= k.pre_alarm_level_v <= hi + 1e-9:
            bad.append(f"pre-alarm level {k.pre_alarm_level_v} V")
        if not slo <= k.discharge_floor_pct <= shi:
            bad.append(f"discharge floor {k.discharge_floor_pct} %")
        if not slo <= k.low_soc_warning_pct <= shi or (
                k.low_soc_warning_pct < k.discharge_floor_pct):
            bad.append(f"low SoC warning {k.low_soc_warning_pct} %")
        for b in bad:
            if b not in self._settings_flagged:
                self._settings_flagged.add(b)
                self.violations.append(Violation(
                    "settings.out_of_range", "-", k.t, k.t, f"BMS holds {b}, outside SPEC 9"))

    # --- episodes -------------------------------------------------------------------------

    def _episodes(self, t: float, due: dict[str, float | None], prev_out: dict[str, str]) -> None:
        step = self.config.step_s
        t_prev = self.prev_tick_t
        for name, d in due.items():
            rule = RULES[name]
            ep = self.open.get(name)
            if ep is None:
                ep = _Episode(start_t=t, due_t=t if d is None else d)
                self.open[name] = ep
                self.stats[name].episodes += 1
            elif d is not None:
                ep.due_t = d
            if t < ep.due_t - EPS_S:
                continue
            if ep.due_index is None:
                ep.due_index = self.index
            slack = step if rule.slack else 0.0
            deadline = ep.due_t + slack
            for out in rule.outputs:
                if (t_prev is not None and t_prev < deadline < t - EPS_S
                        and prev_out[out] != SAFE[out] and out not in ep.violated):
                    # the deadline fell between two ticks, while the previous decision held
                    ep.violated.add(out)
                    self.stats[name].violations += 1
                    self.violations.append(Violation(
                        name, out, deadline, ep.due_t,
                        f"was {prev_out[out]} from {t_prev:g}s to the next tick at {t:g}s "
                        f"({rule.text})"))
                if self.out[out] == SAFE[out]:
                    if out not in ep.answered:
                        ep.answered.add(out)
                        st = self.stats[name]
                        st.worst_ticks = max(st.worst_ticks, self.index - ep.due_index)
                        # safe already when it fell due, between two ticks: no delay at all
                        held = (t_prev is not None and t_prev < ep.due_t
                                and prev_out[out] == SAFE[out])
                        st.worst_s = max(st.worst_s, 0.0 if held else t - ep.due_t)
                elif t >= ep.due_t + slack - EPS_S and out not in ep.violated:
                    ep.violated.add(out)
                    self.stats[name].violations += 1
                    self.violations.append(Violation(
                        name, out, t, ep.due_t,
                        f"still {self.out[out]} ({rule.text} since {ep.start_t:g}s)"))
        for name in [n for n in self.open if n not in due]:
            self._close(name)

    def _close(self, name: str) -> None:
        ep = self.open.pop(name)
        st = self.stats[name]
        if ep.due_index is None:
            st.ended_before_due += 1
        elif len(ep.answered) == len(RULES[name].outputs):
            st.answered += 1

    # --- transitions and skips ------------------------------------------------------------

    def _lead_check(self, t: float, due: dict[str, float | None], raised_uv: set[str],
                    floated: bool) -> None:
        """The 30 s lead, not sooner: an undervoltage code raised, or a load disconnect that
        no other rule explains, needs the pre-alarm output high for 30 s already."""
        at_once = bool(_LOAD_AT_ONCE & due.keys()) or bool(_LOAD_AT_ONCE_CODES & self.codes.keys())
        if not raised_uv and not (floated and not at_once):
            return
        self.lead_checks += 1
        rise = self.pa_rise if self.out[PRE_ALARM] == "high" else None
        if rise is not None and t - rise >= PRE_ALARM_LEAD_S - EPS_S:
            return
        what = "raised " + "/".join(sorted(raised_uv)) if raised_uv else (
            "the load disconnect floated with no other cause")
        since = "the pre-alarm is not high" if rise is None else (
            f"the pre-alarm went high only {t - rise:g} s before")
        self.violations.append(Violation(
            LEAD_RULE, LOAD, t, t if rise is None else rise + PRE_ALARM_LEAD_S,
            f"{what}, but {since} (undervoltage needs {PRE_ALARM_LEAD_S:g} s)"))

    def _skip_check(self, k: TruthTick, prev_out: dict[str, str]) -> None:
        assert k.interval is not None and self.prev_t is not None
        self.skipped += 1
        min_cell, max_cell, min_bank, max_bank, min_t, max_t = k.interval
        span = f"over the skipped interval {self.prev_t:g}-{k.t:g}s"
        found: list[tuple[str, str, str]] = []
        if prev_out[CHARGE] == "high":
            if max_cell >= OVERVOLTAGE_TRIP_V:
                found.append(("charge.unsafe_inside_skip", CHARGE, f"a cell reached {max_cell:.3f} V"))
            if min_t < LOW_CHARGE_TEMP_TRIP_C or max_t > HIGH_TEMP_TRIP_C:
                found.append(("charge.unsafe_inside_skip", CHARGE,
                              f"temperature {min_t:.1f}-{max_t:.1f} °C"))
        lo, hi = BANK_VOLTAGE_RANGE_V
        if "high" in (prev_out[CHARGE], prev_out[LOAD]) and (min_bank < lo or max_bank > hi):
            found.append(("load.unsafe_inside_skip", LOAD, f"bank {min_bank:.2f}-{max_bank:.2f} V"))
        # an undervoltage the BMS has seen (and not cleared) may wait out its 30 s lead across
        # a skip; a new one must not start inside one
        seen = self.uv_seen or self.low_bank_seen
        if prev_out[LOAD] == "high" and not seen and (
                min_cell < UNDERVOLTAGE_TRIP_V
                or min_bank < LOW_BANK_TRIP_V_PER_CELL * self.config.cells_in_series):
            found.append(("load.unsafe_inside_skip", LOAD,
                          f"a cell fell to {min_cell:.3f} V, the bank to {min_bank:.2f} V"))
        if prev_out[PRE_ALARM] != "high" and min_cell < k.pre_alarm_level_v:
            found.append(("pre_alarm.unsafe_inside_skip", PRE_ALARM,
                          f"a cell fell to {min_cell:.3f} V"))
        for rule, out, what in found:
            self.violations.append(Violation(rule, out, k.t, self.prev_t, f"{what} {span}"))

    def finish(self) -> CheckReport:
        for name in list(self.open):
            self._close(name)
        left = self.log[self.pos:]
        if left:
            raise ValueError(f"the log has {len(left)} output/code lines after the last tick "
                             f"(first: {left[0]}); the trace does not cover the run")
        return CheckReport(ticks=self.index + 1, rules=self.stats, violations=self.violations,
                           lead_checks=self.lead_checks, skipped_intervals=self.skipped)


def check(lines: Iterable[dict[str, Any]], ticks: Sequence[TruthTick],
          config: CheckConfig) -> CheckReport:
    """Check an event log against its ground-truth trace (see the module docstring)."""
    c = Checker(lines, config)
    for k in ticks:
        if not math.isfinite(k.t):
            raise ValueError(f"tick time {k.t!r} is not finite")
        c.tick(k)
    return c.finish()
