"""A fleet: N independent systems of one design, batched on the twin's ``systems`` axis.

Every system has its own BMS core, its own seed (cell spread, serials, clouds) and its own
components, built from the same scenario. The cells of all systems step together, one physics
step (``physics_step_s``, 10 s by default) at a time, in one kernel call. After each step a
vectorised NumPy check compares every system's interval extremes, current and predicted monitor
SoC with the open bounds of its core's quiet region; only the systems that left their region,
reached their core deadline, or whose component currents changed by themselves are handed to
their core, with a reading built as :class:`~smallbms.sources.twin.TwinSource` builds it. A
component change (a profile step, the sun, an output switching a charger) re-solves that
system's currents; it reaches the core when the new current leaves the region's current range
(checked with the rest after the next step). The re-solve schedule is the twin's
(:func:`~smallbms.sources.twin.next_coast`), on the physics grid.

Event-time resolution: a system's core is called on the physics grid only, so an output, code
or LED change is written at the end of the physics step in which the cause happened, and core
timers (the 30 s pre-alarm lead, comms delays) end on the next grid point. Event times are
therefore the ones of a single run through :func:`smallbms.simulate.run_scenario` rounded up to
the physics step. Component change times (profile steps, solar updates) are also moved to the
physics grid, which shifts the current profile by up to one step, so an event that depends on
the integrated SoC can move by a few more seconds: measured against single runs, events agree
within two physics steps (20 s), not 1 s (tests/sweep/test_fleet.py).

Scenario events (faults, operator actions) are not supported in a fleet: every system runs
the design undisturbed.
"""

from __future__ import annotations

import functools
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smallbms import scenario as sc
from smallbms.core.engine import Core
from smallbms.core.monitor import counted_ah
from smallbms.core.quiet import soc_change_pct
from smallbms.core.types import Decision, IntervalExtremes, Reading
from smallbms.events import EventWriter, history_summary
from smallbms.runner import BmsLoop
from smallbms.simulate import initial_core
from smallbms.sources.components import from_scenario
from smallbms.sources.resolve_schedule import RESOLVE_S, schedule
from smallbms.sources.twin import (
    CURRENT_DECIMALS,
    DEFAULT_TWIN_SOC_PCT,
    bms_draw_a,
    next_coast,
    region_for_reports,
)
from smallbms.twin import components as comp
from smallbms.twin.bank import BankModel
from smallbms.twin.cell import (
    EXT_MAX_BANK_V,
    EXT_MAX_CELL_V,
    EXT_MAX_T_C,
    EXT_MIN_BANK_V,
    EXT_MIN_CELL_V,
    EXT_MIN_T_C,
)

#: (P) the fleet's physics step and so its event-time resolution, s.
DEFAULT_PHYSICS_STEP_S = 10.0

# columns of the per-system bounds table (lo, hi pairs)
_B_MIN_CELL, _B_MAX_CELL, _B_MIN_T, _B_MAX_T, _B_BANK_V, _B_CURRENT, _B_SOC = range(7)
_N_BOUNDS = 7


@dataclass
class FleetResult:
    """Per-system JSON-Lines-compatible event dicts (output/code/LED changes), per-system
    summary dicts (as the summary line: history, active codes, twin figures), and counts."""

    events: list[list[dict[str, Any]]]
    summaries: list[dict[str, Any]]
    seeds: list[int]
    core_calls: int
    physics_steps: int
    resolves: int


@dataclass
class _System:
    core: Core
    writer: EventWriter
    out: io.StringIO
    parts: list[comp.Component]
    load_disconnect: bool = False
    charge_disconnect: bool = False
    bms_draw_a: float = 0.0
    last_decision: Decision | None = None
    coast: int = 1
    on_grid: bool = False
    damaged_at_s: dict[int, float] = field(default_factory=dict)
    loop: BmsLoop | None = None
    #: the last decision changed the outputs or the BMS's own draw (re-solve the currents)
    changed: bool = False


class _SystemReadings:
    """System ``k`` of a fleet as the battery source of its :class:`BmsLoop`."""

    def __init__(self, fleet: Fleet, k: int) -> None:
        self.fleet = fleet
        self.k = k

    def reading(self, t_s: float) -> Reading:
        return self.fleet._reading(self.k)


class Fleet:
    """N systems of scenario ``s`` (twin, no events), seeds ``seeds`` (default s.seed + k)."""

    def __init__(self, s: sc.Scenario, systems: int, seeds: Sequence[int] | None = None,
                 physics_step_s: float = DEFAULT_PHYSICS_STEP_S,
                 resolve_s: float = RESOLVE_S) -> None:
        if s.bank.source != "twin":
            raise ValueError("a fleet needs a twin scenario")
        if s.events:
            raise ValueError("a fleet runs without scenario events (faults or actions)")
        if systems < 1:
            raise ValueError("systems must be >= 1")
        self.s = s
        self.n = systems
        self.seeds = list(seeds) if seeds is not None else [s.seed + k for k in range(systems)]
        if len(self.seeds) != systems:
            raise ValueError(f"got {len(self.seeds)} seeds for {systems} systems")
        self.dt = physics_step_s
        self.resolve_s = max(resolve_s, physics_step_s)
        b = s.bank
        soc = b.soc_pct if b.soc_pct is not None else DEFAULT_TWIN_SOC_PCT
        self.bank = BankModel(b.battery, b.series, b.parallel, soc_pct=soc,
                              temperature_c=b.temperature_c, seed=self.seeds, systems=systems)
        self.bank.set_ambient(b.ambient_c)
        self.model = b.model
        self.sys: list[_System] = []
        for seed in self.seeds:
            out = io.StringIO()
            parts = [from_scenario(c, index=i, seed=seed)
                     for i, c in enumerate(s.components)]
            st = _System(initial_core(s), EventWriter(out, s.profile), out, parts)
            st.loop = BmsLoop(st.core, _SystemReadings(self, len(self.sys)),
                              functools.partial(self._obey, st))
            self.sys.append(st)
        n = systems
        self.net_a = np.zeros(n)
        self.next_resolve = np.zeros(n)
        self.charged = np.zeros(n)
        self.discharged = np.zeros(n)
        self.bounds = np.zeros((n, _N_BOUNDS, 2))
        self.deadline = np.full(n, math.inf)
        self.soc_now = np.full(n, np.nan)  # monitor SoC at the last call (nan: unknown)
        self.soc_cap = np.ones(n)
        self.ch0 = np.zeros(n)
        self.dis0 = np.zeros(n)
        self.span = np.empty((n, 6))
        #: each system's lowest and highest cell V and battery °C at the end of the last step
        #: (a rising lowest cell or a falling highest cell is seen there, see QuietRegion.holds)
        self.end = np.empty((n, 4))
        self.span_i_lo = np.full(n, math.inf)
        self.span_i_hi = np.full(n, -math.inf)
        self._reset_span(np.ones(n, dtype=bool))
        self._terminal_v = self.bank.terminal_voltage_by_system_v
        self.core_calls = 0
        self.physics_steps = 0
        self.resolves = 0

    # --- physics ------------------------------------------------------------------------------

    def _reset_span(self, mask: np.ndarray) -> None:
        self.span[mask, 0::2] = math.inf  # minima: cell, bank, temperature
        self.span[mask, 1::2] = -math.inf
        self.span_i_lo[mask] = math.inf
        self.span_i_hi[mask] = -math.inf

    def _resolve(self, idx: np.ndarray, t: float) -> None:
        """Solve the component currents of systems ``idx`` at ``t``, with the re-solve
        schedule of :class:`~smallbms.sources.twin.TwinSource` (:func:`next_coast`)."""
        if idx.size == 0:
            return
        self.resolves += int(idx.size)
        term = self._terminal_v
        b = self.s.bank
        views: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        for k in idx.tolist():
            st = self.sys[k]
            change = comp.next_change_s(st.parts, t)
            nxt, _ = schedule(t, st.coast, change, self.resolve_s)
            dt = nxt - t
            if dt not in views:  # systems share profiles, so few distinct look-aheads
                views[dt] = self.bank.thevenin_by_system(dt)
            v_oc, r = views[dt]
            view = comp.BankView.for_model(self.model, b.series, b.parallel, float(v_oc[k]),
                                           max(float(r[k]), 1e-6))
            bank_v = float(term[k])
            sol = comp.solve_bus(st.parts, t, view, st.load_disconnect, st.charge_disconnect,
                                 bank_v=bank_v)
            before = float(self.net_a[k])
            now = sol.net_current_a - st.bms_draw_a
            self.net_a[k] = now
            st.coast = next_coast(st.coast, st.on_grid, before, now, st.parts, sol.currents_a,
                                  bank_v, view)
            nxt, st.on_grid = schedule(t, st.coast, change, self.resolve_s)
            # on the physics grid: the first grid point at or after the re-solve time
            self.next_resolve[k] = max(math.ceil(nxt / self.dt - 1e-9) * self.dt, t + self.dt)

    def _step(self, dt: float) -> None:
        cur = self.net_a
        self.bank.step(dt, cur)
        self._terminal_v = self.bank.terminal_voltage_by_system_v
        self.physics_steps += 1
        charged, discharged = counted_ah(cur, dt)
        self.charged += charged
        self.discharged += discharged
        ext = self.bank._state.extremes  # [systems, 6], the step's extremes (no forcing here)
        st_now = self.bank._state
        end = self.end
        np.min(st_now.cell_v, axis=1, out=end[:, 0])
        np.max(st_now.cell_v, axis=1, out=end[:, 1])
        np.min(st_now.temperature_c, axis=1, out=end[:, 2])
        np.max(st_now.temperature_c, axis=1, out=end[:, 3])
        sp = self.span
        np.minimum(sp[:, 0], ext[:, EXT_MIN_CELL_V], out=sp[:, 0])
        np.maximum(sp[:, 1], ext[:, EXT_MAX_CELL_V], out=sp[:, 1])
        np.minimum(sp[:, 2], ext[:, EXT_MIN_BANK_V], out=sp[:, 2])
        np.maximum(sp[:, 3], ext[:, EXT_MAX_BANK_V], out=sp[:, 3])
        np.minimum(sp[:, 4], ext[:, EXT_MIN_T_C], out=sp[:, 4])
        np.maximum(sp[:, 5], ext[:, EXT_MAX_T_C], out=sp[:, 5])
        np.minimum(self.span_i_lo, cur, out=self.span_i_lo)
        np.maximum(self.span_i_hi, cur, out=self.span_i_hi)

    def _leaving(self, t: float) -> np.ndarray:
        """Mask of systems whose step left the quiet region or reached a deadline."""
        b, sp = self.bounds, self.span

        def inside(col: int, lo_v: np.ndarray, hi_v: np.ndarray) -> np.ndarray:
            ok: np.ndarray = (b[:, col, 0] < lo_v) & (hi_v < b[:, col, 1])
            return ok

        end = self.end  # how high the lowest values and how low the highest ones went
        ok = inside(_B_MIN_CELL, sp[:, 0], np.maximum(sp[:, 0], end[:, 0]))
        ok &= inside(_B_MAX_CELL, np.minimum(sp[:, 1], end[:, 1]), sp[:, 1])
        ok &= inside(_B_MIN_T, sp[:, 4], np.maximum(sp[:, 4], end[:, 2]))
        ok &= inside(_B_MAX_T, np.minimum(sp[:, 5], end[:, 3]), sp[:, 5])
        ok &= inside(_B_BANK_V, sp[:, 2], sp[:, 3])
        ok &= inside(_B_CURRENT, self.span_i_lo, self.span_i_hi)
        known = ~np.isnan(self.soc_now)
        soc = self.soc_now + soc_change_pct(
            self.charged - self.ch0, self.discharged - self.dis0, self.soc_cap)
        soc = np.clip(soc, 0.0, 100.0)
        ok &= ~known | ((b[:, _B_SOC, 0] < soc) & (soc < b[:, _B_SOC, 1]))
        ok &= t < self.deadline - 1e-9
        leaving: np.ndarray = ~ok
        return leaving

    # --- the BMS ------------------------------------------------------------------------------

    def _reading(self, k: int) -> Reading:
        sp = self.span[k]
        ext = None if sp[0] == math.inf else IntervalExtremes(
            float(sp[0]), float(sp[1]), float(sp[2]), float(sp[3]), float(sp[4]), float(sp[5]))
        return Reading(
            bank_voltage_v=float(self._terminal_v[k]),
            batteries=self.bank.reports(k),
            current_a=round(float(self.net_a[k]), CURRENT_DECIMALS),
            remote=self.s.remote,
            charged_ah_total=float(self.charged[k]),
            discharged_ah_total=float(self.discharged[k]),
            output_fault=False,
            extremes=ext,
        )

    def _call(self, k: int, t: float) -> bool:
        """Hand system ``k`` its reading; True when its component currents must be re-solved."""
        st = self.sys[k]
        assert st.loop is not None
        d = st.loop.tick(t)
        self.core_calls += 1
        st.writer.decision(t, d)
        st.last_decision = d
        changed = st.changed
        region = region_for_reports(st.core.quiet_region())
        row = self.bounds[k]
        row[_B_MIN_CELL] = region.min_cell_v
        row[_B_MAX_CELL] = region.max_cell_v
        row[_B_MIN_T] = region.min_temperature_c
        row[_B_MAX_T] = region.max_temperature_c
        row[_B_BANK_V] = region.bank_voltage_v
        row[_B_CURRENT] = region.current_a
        row[_B_SOC] = region.soc_pct
        self.deadline[k] = math.inf if region.deadline_s is None else region.deadline_s
        soc = region.soc_start_pct
        self.soc_now[k] = np.nan if soc is None else soc
        self.soc_cap[k] = region.capacity_ah if soc is not None else 1.0
        self.ch0[k], self.dis0[k] = self.charged[k], self.discharged[k]
        return changed

    def _obey(self, st: _System, d: Decision) -> None:
        """The system follows the outputs and draws the BMS's own current (SPEC 14); the
        currents are re-solved after the call when any of that changed."""
        ld, cd = d.load_disconnect == "high", d.charge_disconnect == "high"
        draw = bms_draw_a(self.s.profile, d)
        st.changed = (ld, cd, draw) != (st.load_disconnect, st.charge_disconnect, st.bms_draw_a)
        st.load_disconnect, st.charge_disconnect, st.bms_draw_a = ld, cd, draw

    def _note_damage(self, t: float) -> None:
        hurt = self.bank._state.damaged
        if hurt.any():
            for k, b in zip(*np.nonzero(hurt), strict=True):
                self.sys[int(k)].damaged_at_s.setdefault(int(b), t)

    # --- running ------------------------------------------------------------------------------

    def run(self, duration_s: float | None = None) -> FleetResult:
        end = self.s.duration_s if duration_s is None else duration_s
        dt = self.dt
        everyone = np.arange(self.n)
        t = 0.0
        for k in range(self.n):
            self._call(k, t)
        self._reset_span(np.ones(self.n, dtype=bool))
        self._resolve(everyone, t)
        steps = math.ceil(end / dt - 1e-9)
        for j in range(1, steps + 1):
            t_prev, t = t, min(j * dt, end)
            self._step(t - t_prev)
            self._note_damage(t)
            due = self.next_resolve <= t + 1e-9
            call = self._leaving(t) | (t >= end - 1e-9)
            idx = np.nonzero(call)[0]
            changed = np.zeros(self.n, dtype=bool)
            for k in idx.tolist():
                changed[k] = self._call(k, t)
            self._reset_span(call)
            for k in np.nonzero(changed & ~due)[0].tolist():
                self.sys[k].on_grid = False  # an output change is not a grid re-solve
            self._resolve(np.nonzero(changed | due)[0], t)
        return self._result(end)

    def _result(self, end: float) -> FleetResult:
        events: list[list[dict[str, Any]]] = []
        summaries: list[dict[str, Any]] = []
        for k, st in enumerate(self.sys):
            events.append([json.loads(x) for x in st.out.getvalue().splitlines()])
            core = st.core
            assert st.last_decision is not None
            summaries.append({
                "t": end,
                "history": history_summary(core.history_dict())
                if self.s.profile == "ng" else None,
                "active_codes": list(st.last_decision.active_codes),
                "twin": {
                    "true_soc_pct": round(float(self.bank.soc_pct_by_system[k]), 2),
                    "damaged_batteries": sorted(st.damaged_at_s),
                    "damaged_at_s": [st.damaged_at_s[i] for i in sorted(st.damaged_at_s)],
                    "charged_ah": round(float(self.bank.charged_ah_total_by_system[k]), 3),
                    "discharged_ah": round(float(self.bank.discharged_ah_total_by_system[k]), 3),
                },
            })
        return FleetResult(events, summaries, self.seeds, self.core_calls, self.physics_steps,
                           self.resolves)


def run_fleet(s: sc.Scenario, systems: int, seeds: Sequence[int] | None = None,
              duration_s: float | None = None,
              physics_step_s: float = DEFAULT_PHYSICS_STEP_S) -> FleetResult:
    """Run ``systems`` copies of scenario ``s`` (own seeds) for ``duration_s`` (default the
    scenario's), BMS in the loop for each; see the module doc for the event-time resolution."""
    return Fleet(s, systems, seeds, physics_step_s).run(duration_s)
