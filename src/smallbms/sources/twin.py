"""The digital-twin source: a physical bank with chargers and loads wired to the BMS outputs.

Physics runs in segments of piecewise-constant bank current. Component currents are solved
again on a grid of ``resolve_s`` steps, at every component's own change time, and whenever a
BMS output changes. While the currents stay put the grid interval doubles, up to 16 steps
("coasting", :func:`next_coast`; capped while a charger charges, off near its charge voltage).
The schedule reads only the physics, so the current profile the cells see does not depend on
how often the BMS is asked: a run that skips BMS calls over quiet stretches and a run that calls
it every second see the same current profile. Not quite the same cells, though: each reading
ends a physics segment, so the every-second run steps the cells in 1 s sub-steps where the
skipping run takes up to 10 s; the two drift apart by ~1e-5 V in half a minute. That is far
below what the BMS resolves, except in a feedback loop sitting on a threshold (the combiner
example's constant-voltage alternator), where the runs part after a few cycles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from smallbms import scenario as sc
from smallbms.core.monitor import ChargeCounter
from smallbms.core.quiet import QuietRegion
from smallbms.core.types import (
    BatteryReport,
    Decision,
    IntervalExtremes,
    Profile,
    Reading,
    RemoteInput,
)
from smallbms.sources import quiet_loop
from smallbms.sources.components import from_scenario
from smallbms.sources.resolve_schedule import RESOLVE_S, coast_after, schedule
from smallbms.sources.script import BusState, battery_serial
from smallbms.twin import components as comp
from smallbms.twin.bank import (
    REPORT_CELL_RESOLUTION_V,
    BankModel,
)
from smallbms.twin.component_table import ComponentTable
from smallbms.twin.snapshots import shallow_copy

#: (P) a physics segment that left the quiet region is stepped again in pieces this long, s, so
#: the runner reads every tick only over the piece that left it (see
#: :meth:`TwinSource.locate_exit`).
EXIT_PIECE_S = 60.0
#: (P) the failing piece is then narrowed down to the second (:data:`EXIT_SECOND_S`), so the
#: BMS reads the tick before and the tick after the exit and nothing in between: event times
#: are those of an every-second run, and the time-remaining filter and the energy counters see
#: few extra ticks. Stepping a 60 s piece second by second costs ~60 compiled kernel steps
#: (:mod:`smallbms.sources.quiet_loop`); reading its ~60 ticks would cost 60 BMS ticks. (Until
#: the quiet loop was compiled only banks of 4 batteries or more did this; see bench/README.md.)
EXIT_SECOND_S = 1.0
#: (P) the quiet checks' margin, in report resolution steps: a little more than the half step by
#: which a raw value and the value the BMS reads can differ.
REPORT_MARGIN = 0.6
#: (P) the temperature checks' guard, °C: a reported temperature counts as inside only if it
#: stays inside with the raw value this much either way. The twin's skipping and every-second
#: runs step the cells in different sub-steps and part by ~1e-5 °C over hours; a battery
#: creeping towards a rounding edge that trips (50.05 °C, ambient 50.0502 °C) turns that into a
#: trip 2 s early when the run skips right up to the edge (guards of 0.001 and 0.01 °C: still
#: 2 s early; 0.03 °C: at the every-second run's second). With 0.03 °C the last 0.03 °C before an
#: edge are read every second, and a battery at its 5.0 °C ambient, on a trip level (charging
#: stops only below 5 °C), still reports 5.0 °C either way and is quiet.
TEMPERATURE_GUARD_C = 0.03
#: the bank current in a reading is rounded to this many decimals of an ampere (1 mA)
CURRENT_DECIMALS = 3
CURRENT_RESOLUTION_A = 10.0 ** -CURRENT_DECIMALS
#: (M) the BMS's own consumption from the bank, A (NG: on / low-cell-voltage or remote off).
BMS_DRAW_ON_A = {"ng": 0.003, "classic": 0.0022}
BMS_DRAW_LOW_A = {"ng": 0.0012, "classic": 0.0012}
#: (P) true SoC of the twin's cells when the scenario gives none (the monitor starts unknown).
DEFAULT_TWIN_SOC_PCT = 80.0


@dataclass
class _Span:
    """Running extremes over the physics since the last reading."""

    min_cell_v: float = math.inf
    max_cell_v: float = -math.inf
    min_bank_v: float = math.inf
    max_bank_v: float = -math.inf
    min_t: float = math.inf
    max_t: float = -math.inf

    def add(self, e: IntervalExtremes) -> None:
        self.min_cell_v = min(self.min_cell_v, e.min_cell_v)
        self.max_cell_v = max(self.max_cell_v, e.max_cell_v)
        self.min_bank_v = min(self.min_bank_v, e.min_bank_v)
        self.max_bank_v = max(self.max_bank_v, e.max_bank_v)
        self.min_t = min(self.min_t, e.min_temperature_c)
        self.max_t = max(self.max_t, e.max_temperature_c)

    def extremes(self) -> IntervalExtremes | None:
        if self.min_cell_v == math.inf:
            return None
        return IntervalExtremes(self.min_cell_v, self.max_cell_v, self.min_bank_v,
                                self.max_bank_v, self.min_t, self.max_t)


@dataclass
class _State:
    """Everything that changes as the twin runs (copied whole for a trial skip)."""

    bank: BankModel
    components: list[comp.Component]
    t_s: float = 0.0
    net_current_a: float = 0.0
    next_resolve_s: float = 0.0
    #: the next re-solve is a grid point (not a component's change time)
    next_on_grid: bool = True
    #: grid re-solve interval, in RESOLVE_S (doubles while the currents stay put)
    coast: int = 1
    load_disconnect: bool = False
    charge_disconnect: bool = False
    bms_draw_a: float = 0.0
    span: _Span = field(default_factory=_Span)
    component_currents_a: tuple[float, ...] = ()
    #: the batteries' coulomb counters, counted the monitor's way (SPEC 9 current threshold)
    counter: ChargeCounter = field(default_factory=ChargeCounter)
    #: when each battery was first seen damaged (a cell below 2.0 V), s: the end of the
    #: physics segment in which it happened, so it does not depend on when the BMS reads
    damaged_at_s: dict[int, float] = field(default_factory=dict)

    def note_damage(self, t_s: float) -> None:
        if self.bank.any_damaged:
            for i, h in enumerate(self.bank.damaged):
                if h and i not in self.damaged_at_s:
                    self.damaged_at_s[i] = t_s



def region_for_reports(region: QuietRegion) -> QuietRegion:
    """``region`` narrowed for the twin's rounding: the core sees cell voltages and the current
    rounded to the report resolution, the quiet checks see the raw values, so those bounds move
    inwards by a little more than half a step (the region is left no later than the value the
    BMS reads reaches a bound). Temperatures are checked as reported
    (:func:`quiet_holds`): a battery that sits at its ambient temperature, on a trip level, would
    otherwise never be quiet."""
    return region.narrowed(REPORT_MARGIN * REPORT_CELL_RESOLUTION_V, 0.0,
                           REPORT_MARGIN * CURRENT_RESOLUTION_A)


def quiet_holds(region: QuietRegion, e: IntervalExtremes, end: IntervalExtremes,
                current_a: float, charged_ah: float, discharged_ah: float,
                guard_c: float = TEMPERATURE_GUARD_C) -> bool:
    """:meth:`QuietRegion.holds` on a physics segment of the twin (``region`` from
    :func:`region_for_reports`), the temperatures as reported with a guard of ``guard_c``
    (:func:`smallbms.sources.quiet_loop.holds_as_reported`, which the compiled loop calls)."""
    return quiet_loop.holds_as_reported(
        region.bounds, guard_c, e.min_cell_v, e.max_cell_v, e.min_bank_v, e.max_bank_v,
        e.min_temperature_c, e.max_temperature_c, end.min_cell_v, end.max_cell_v,
        end.min_temperature_c, end.max_temperature_c, current_a, charged_ah, discharged_ah)


def bms_draw_a(profile: Profile, d: Decision) -> float:
    """The BMS's own draw from the bank in the self-consumption state of ``d`` (SPEC 14)."""
    return (BMS_DRAW_LOW_A if d.self_consumption == "low" else BMS_DRAW_ON_A)[profile]


class TwinSource:
    """Readings from the physical model; obeys the BMS outputs through the wired components."""

    def __init__(self, s: sc.Scenario, resolve_s: float = RESOLVE_S) -> None:
        b = s.bank
        soc = b.soc_pct if b.soc_pct is not None else DEFAULT_TWIN_SOC_PCT
        bank = BankModel(b.battery, b.series, b.parallel, soc_pct=soc,
                         temperature_c=b.temperature_c, seed=s.seed)
        bank.set_ambient(b.ambient_c)
        parts = [from_scenario(c, index=i, seed=s.seed) for i, c in enumerate(s.components)]
        self.st = _State(bank=bank, components=parts)
        self.profile = s.profile
        self.model = b.model
        self.series = b.series
        self.parallel = b.parallel
        self.seed = s.seed
        self.resolve_s = resolve_s
        #: the bank's nominal numbers every BankView carries (see BankView.for_model)
        ratings = comp.BankView.for_model(b.model, b.series, b.parallel, 0.0, 1.0)
        self._view_ratings = (ratings.nominal_voltage_v, ratings.capacity_ah,
                              ratings.charge_voltage_v, ratings.float_voltage_v)
        self.bus = BusState()
        self.remote = RemoteInput()
        self.output_fault = False
        self.bms_powered = True
        #: after a failed quiet_until: length of the stretch, from the returned time, in which
        #: the region was left (the caller reads every tick over it)
        self.exit_window_s = resolve_s
        #: quiet stretches in one compiled call where it covers them (:mod:`quiet_loop`)
        self.compiled_quiet = True
        #: see TEMPERATURE_GUARD_C (an attribute so the compiled loop is handed the same value)
        self.temperature_guard_c = TEMPERATURE_GUARD_C
        #: the components as arrays for the compiled call (built on first use)
        self.component_table: ComponentTable | None = None
        #: how finely locate_exit narrows a region exit down, s
        self.exit_resolution_s = EXIT_SECOND_S
        #: the coulomb counters where the last quiet_until started (its region's SoC bound
        #: counts from them; locate_exit goes on counting from there)
        self._quiet_from = (0.0, 0.0)
        #: where the last quiet_until left its region (None: it did not, or locate_exit has
        #: searched it since)
        self._left_at: float | None = None
        self._resolve()

    # --- physics ------------------------------------------------------------------------------

    @property
    def bank(self) -> BankModel:
        return self.st.bank

    @property
    def damaged_at_s(self) -> dict[int, float]:
        """When each battery was first damaged (a cell below 2.0 V), s, to one physics segment."""
        return self.st.damaged_at_s

    def _view(self, dt_s: float) -> comp.BankView:
        v_oc, r = self.st.bank.thevenin(dt_s)
        return comp.BankView(v_oc, max(r, 1e-6), *self._view_ratings)

    def _resolve(self, on_grid: bool = False) -> None:
        """Solve the component currents at ``st.t_s`` and schedule the next re-solve
        (see :func:`next_coast` and :func:`schedule`)."""
        st = self.st
        t = st.t_s
        before = st.net_current_a
        change = comp.next_change_s(st.components, t)
        coast = st.coast
        nxt, _ = schedule(t, coast, change, self.resolve_s)
        view = self._view(nxt - t)
        terminal_v = st.bank.terminal_voltage_v
        sol = comp.solve_bus(st.components, t, view, st.load_disconnect, st.charge_disconnect,
                             bank_v=terminal_v)
        st.component_currents_a = sol.currents_a
        draw = st.bms_draw_a if self.bms_powered else 0.0
        st.net_current_a = sol.net_current_a - draw
        st.coast = next_coast(coast, on_grid, before, st.net_current_a, st.components,
                              sol.currents_a, terminal_v, view)
        st.next_resolve_s, st.next_on_grid = schedule(t, st.coast, change, self.resolve_s)

    def advance_to(self, t_s: float) -> None:
        """Run the physics up to ``t_s`` in segments of constant current."""
        if (self.compiled_quiet and t_s - self.st.t_s >= self.resolve_s
                and quiet_loop.run(self, t_s, None) is not None):
            return
        st = self.st
        while st.t_s < t_s - 1e-9:
            end = min(t_s, st.next_resolve_s)
            dt = end - st.t_s
            if dt > 0:
                st.bank.step(dt, st.net_current_a)
                st.counter.add(st.net_current_a, dt)
                st.span.add(st.bank.extremes())
                st.note_damage(end)
            st.t_s = end
            if st.t_s >= st.next_resolve_s - 1e-9:
                self._resolve(st.next_on_grid)

    def obey(self, d: Decision) -> None:
        """Apply the BMS outputs to the wired components and the BMS's own draw in the
        self-consumption state the core decided (SPEC 14), re-solving the currents if changed."""
        st = self.st
        ld = d.load_disconnect == "high"
        cd = d.charge_disconnect == "high"
        draw = bms_draw_a(self.profile, d)
        if (ld, cd, draw) != (st.load_disconnect, st.charge_disconnect, st.bms_draw_a):
            st.load_disconnect, st.charge_disconnect, st.bms_draw_a = ld, cd, draw
            self._resolve()

    # --- trial skips --------------------------------------------------------------------------

    def snapshot(self) -> _State:
        return _copy_state(self.st)

    def restore(self, snap: _State) -> None:
        self.st = snap

    def _quiet_step(self, dt_s: float, region: QuietRegion, c0: float, d0: float) -> bool:
        """Step ``dt_s`` at the present current; False when the step left ``region`` (the
        region's SoC bound counts the coulomb counters from ``c0``/``d0``), and the step is
        then undone: the twin stays where it was still quiet."""
        st = self.st
        current = st.net_current_a
        bank_before = st.bank.copy()
        counted_before = st.counter.charged_ah, st.counter.discharged_ah
        st.bank.step(dt_s, current)
        st.counter.add(current, dt_s)
        e = st.bank.extremes()
        if not quiet_holds(region, e, st.bank.extremes_now(), current,
                           st.counter.charged_ah - c0, st.counter.discharged_ah - d0,
                           self.temperature_guard_c):
            st.bank = bank_before
            st.counter.charged_ah, st.counter.discharged_ah = counted_before
            return False
        st.span.add(e)
        return True

    def quiet_until(self, t_end: float, region: QuietRegion) -> float:
        """Advance towards ``t_end`` while everything stays inside ``region``.

        Returns the time reached (``t_end`` when all of the stretch was quiet). On leaving the
        region the twin stays at the returned time, the start of the physics segment in which
        the region was left (that segment is undone), and ``exit_window_s`` is the segment's
        length; :meth:`locate_exit` narrows it down from there. The BMS's SoC is the region's
        own prediction from the coulomb counters (:meth:`QuietRegion.soc_inside`), counted
        from where this call started (kept for :meth:`locate_exit`).
        """
        st = self.st
        c0, d0 = st.counter.charged_ah, st.counter.discharged_ah
        self._quiet_from = (c0, d0)
        self._left_at = None
        if self.compiled_quiet:
            reached = quiet_loop.run(self, t_end, region, c0, d0)
            if reached is not None:
                if reached < t_end - 1e-9:
                    self._left_at = reached
                return reached
        while st.t_s < t_end - 1e-9:
            start = st.t_s
            end = min(t_end, st.next_resolve_s)
            if not self._quiet_step(end - start, region, c0, d0):
                self.exit_window_s = end - start
                self._left_at = start
                return start
            st.note_damage(end)
            st.t_s = end
            if st.t_s >= st.next_resolve_s - 1e-9:
                self._resolve(st.next_on_grid)
        return t_end

    def locate_exit(self, region: QuietRegion) -> float:
        """Narrow down where the last :meth:`quiet_until` left ``region``: the twin is at the
        start of the segment in which it left, ``exit_window_s`` long.

        Steps that segment in :data:`EXIT_PIECE_S` pieces and, when :attr:`exit_resolution_s`
        is finer (by default), the failing piece again second by second; each failing piece is
        undone, so the search goes on from its start. Returns the start of the first piece
        that left the region and sets ``exit_window_s`` to its length (the caller then reads
        every tick over only that stretch); a segment no longer than the resolution, or quiet
        in pieces (sub-step rounding), keeps the whole segment or piece. The twin is left as
        it was at the segment's start, so a reading from there steps the physics the way an
        uninterrupted run would.
        """
        start_s = self.st.t_s
        if self._left_at != start_s:
            raise RuntimeError("locate_exit needs the twin where the last quiet_until left the "
                               "region (at the start of the segment that left it)")
        self._left_at = None  # searched once
        window_s = self.exit_window_s
        end = start_s + window_s
        fine = self.exit_resolution_s
        if window_s <= fine + 1e-9:
            return start_s
        at_start = _copy_state(self.st)
        try:
            if self.compiled_quiet and quiet_loop.covers(self):
                found = self._locate_exit_compiled(region, start_s, end)
                if found is not None:
                    return found
                self.st = _copy_state(at_start)
                self.exit_window_s = window_s
            return self._locate_exit_interpreted(region, start_s, end)
        finally:
            self.st = at_start

    def _locate_exit_interpreted(self, region: QuietRegion, start_s: float, end: float) -> float:
        """:meth:`locate_exit`'s search, stepped by :meth:`_quiet_step`."""
        fine = self.exit_resolution_s
        c0, d0 = self._quiet_from
        t = start_s
        while t < end - 1e-9:
            piece_end = min(end, t + EXIT_PIECE_S)
            if not self._quiet_step(piece_end - t, region, c0, d0):
                self.exit_window_s = piece_end - t
                if piece_end - t > fine + 1e-9:
                    u = t
                    while u < piece_end - 1e-9:
                        step_end = min(piece_end, u + fine)
                        if not self._quiet_step(step_end - u, region, c0, d0):
                            self.exit_window_s = step_end - u
                            return u
                        u = step_end
                return t
            t = piece_end
        return start_s

    def _locate_exit_compiled(self, region: QuietRegion, start_s: float,
                              end: float) -> float | None:
        """:meth:`locate_exit`'s search with the pieces stepped by the compiled loop: the same
        pieces in the same order, so the same answer. None: hand back to the interpreted
        search."""
        fine = self.exit_resolution_s
        c0, d0 = self._quiet_from
        reached = quiet_loop.run(self, end, region, c0, d0, piece_s=EXIT_PIECE_S)
        if reached is None:  # pragma: no cover - an invalid step: the interpreted path raises
            return None
        if reached >= end - 1e-9:  # quiet in pieces (sub-step rounding): the whole segment
            return start_s
        t = reached  # the failing piece was undone: the twin is at its start
        piece_end = min(end, t + EXIT_PIECE_S)
        if piece_end - t <= fine + 1e-9:
            return t
        inner = quiet_loop.run(self, piece_end, region, c0, d0, piece_s=fine)
        if inner is None:  # pragma: no cover
            return None
        if inner >= piece_end - 1e-9:  # quiet second by second: the whole piece
            self.exit_window_s = piece_end - t
            return t
        return inner

    # --- what the BMS reads -------------------------------------------------------------------

    def reading(self, t_s: float) -> Reading:
        self.advance_to(t_s)
        st = self.st
        bank = st.bank
        bus = self.bus
        reports = bank.reports()
        slots: tuple[BatteryReport | None, ...] = reports
        if bus.added or bus.removed or bus.cut or bus.cut_all:
            listed: list[BatteryReport | None] = []
            n = len(reports)
            for i in range(n + bus.added):
                if i in bus.removed:
                    continue
                if i < n:
                    r = reports[i]
                else:  # an added battery: reports like the last one, under its own serial
                    r = _renamed(reports[-1], battery_serial(self.seed + 1, i), i % self.series)
                listed.append(None if (bus.cut_all or i in bus.cut) else r)
            slots = tuple(listed)
        cut = bus.cut_all or bool(bus.cut)
        ext = st.span.extremes()
        st.span = _Span()
        return Reading(
            bank_voltage_v=bank.terminal_voltage_v,
            batteries=() if bus.cut_all else slots,
            current_a=None if cut else round(st.net_current_a, CURRENT_DECIMALS),
            remote=self.remote,
            charged_ah_total=None if cut else st.counter.charged_ah,
            discharged_ah_total=None if cut else st.counter.discharged_ah,
            output_fault=self.output_fault,
            extremes=ext,
        )

    def summary(self) -> dict[str, object]:
        """The twin's own view at the end: true SoC, temperatures, damage (for the summary line)."""
        bank = self.st.bank
        return {
            "true_soc_pct": round(bank.soc_pct, 2),
            "damaged_batteries": sorted(self.damaged_at_s),
            "damaged_at_s": [round(self.damaged_at_s[i], 3) for i in sorted(self.damaged_at_s)],
            "charged_ah": round(bank.charged_ah_total, 3),
            "discharged_ah": round(bank.discharged_ah_total, 3),
        }

    # --- fault injection ----------------------------------------------------------------------

    def force_cell(self, battery: int, cell: int, volts: float) -> None:
        self.st.bank.force_cell(battery, cell, volts)

    def force_temperature(self, battery: int, celsius: float) -> None:
        self.st.bank.force_temperature(battery, celsius)

    def release(self, battery: int | None) -> None:
        bank = self.st.bank
        if battery is None:
            bank.release_all()
            return
        for c in range(bank.model.cells_in_series):
            bank.force_cell(battery, c, None)
        bank.force_temperature(battery, None)


def next_coast(coast: int, on_grid: bool, before_a: float, now_a: float,
               components: Sequence[comp.Component], currents_a: Sequence[float],
               terminal_v: float, view: comp.BankView) -> int:
    """The grid re-solve interval (in RESOLVE_S) after a re-solve.

    It doubles (up to MAX_COAST) each time a grid re-solve finds the net current where it was
    (within COAST_TOLERANCE, or 1 mA) and drops back to 1 when it moved. A component's own
    change keeps the pace. While a charger charges it is capped at MAX_COAST_CHARGING, and at
    1 within COAST_KNEE_MARGIN_V of the charge voltage, so its bulk -> absorption switch comes on
    time. The rule reads only the physics, never when the BMS reads, so skipping BMS calls
    leaves the current profile unchanged.
    """
    charging = any(i > 0.0 for i, c in zip(currents_a, components, strict=True)
                   if c.role == "charger")
    return coast_after(coast, on_grid, before_a, now_a, charging, terminal_v,
                       view.charge_voltage_v, view.scale)


def _copy_state(st: _State) -> _State:
    """An independent copy of the twin's changing state: the bank and the components copied
    the fast way, the small mutable parts one by one (everything else is immutable)."""
    snap = shallow_copy(st)
    snap.bank = st.bank.copy()
    snap.components = [comp.copy_component(c) for c in st.components]
    snap.span = shallow_copy(st.span)
    snap.counter = shallow_copy(st.counter)
    snap.damaged_at_s = dict(st.damaged_at_s)
    return snap


def _renamed(r: BatteryReport, serial: str, position: int) -> BatteryReport:
    return BatteryReport(serial, r.model_id, r.firmware, position, r.cell_voltages_v,
                         r.temperature_c, r.current_a)
