"""A bank of LiFePO4 batteries for the twin: ``series`` batteries per string × ``parallel``
strings, each battery ``cells_in_series`` cells from the catalogue, stepped by the kernel of
:mod:`smallbms.twin.cell`. Independent *systems* (same topology, different seeds) are batched
along a leading array axis, so 1,000 single-battery systems step in one call.

Units are in every name; bank current positive = charging. Scalar properties describe system 0;
the ``*_by_system`` variants return one value per system.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from itertools import repeat
from typing import Literal

import numpy as np

from smallbms.catalog import BatteryModel, get_model
from smallbms.core.types import BatteryReport, IntervalExtremes
from smallbms.twin import cell as kernel
from smallbms.twin import thevenin as compiled_thevenin
from smallbms.twin.cell import (
    EXT_MAX_BANK_V,
    EXT_MAX_CELL_V,
    EXT_MAX_T_C,
    EXT_MIN_BANK_V,
    EXT_MIN_CELL_V,
    EXT_MIN_T_C,
    N_EXTREMES,
    AdvanceFn,
    BoolArray,
    FloatArray,
    KernelConstants,
    KernelState,
    Topology,
)
from smallbms.twin.params import DEFAULT_PARAMS, LfpParams
from smallbms.twin.report_table import quantised_table
from smallbms.twin.snapshots import shallow_copy

KernelName = Literal["auto", "numba", "numpy", "python"]

#: Firmware version every twin battery reports.
FIRMWARE_VERSION = "v1.08"
#: Resolution of what a battery reports on the bus: cell voltage (V), temperature (°C), current (A).
REPORT_CELL_RESOLUTION_V = 0.001
REPORT_TEMPERATURE_RESOLUTION_C = 0.1
REPORT_CURRENT_RESOLUTION_A = 0.01
#: The kernel-state arrays that change as the bank runs (the others are parameters).
_CHANGING = (
    "soc", "v1_v", "ocv_v", "soc_factor", "cell_v", "bleed_a", "temperature_c", "arrhenius",
    "damaged", "ambient_c", "string_current_a", "terminal_v", "extremes",
)
#: The same resolutions as whole steps per unit (for the vectorised reports).
_CELL_STEPS_PER_V = float(round(1.0 / REPORT_CELL_RESOLUTION_V))
_TEMPERATURE_STEPS_PER_C = float(round(1.0 / REPORT_TEMPERATURE_RESOLUTION_C))
_CURRENT_STEPS_PER_A = float(round(1.0 / REPORT_CURRENT_RESOLUTION_A))
_RESOLUTIONS = (REPORT_CELL_RESOLUTION_V, _CELL_STEPS_PER_V,
                REPORT_TEMPERATURE_RESOLUTION_C, _TEMPERATURE_STEPS_PER_C,
                REPORT_CURRENT_RESOLUTION_A, _CURRENT_STEPS_PER_A)


def reported_temperature_c(celsius: float) -> float:
    """A battery temperature as the bus reports it, °C (what the BMS reads): the report table's
    arithmetic. Plain arithmetic, so compiled code can call it as it is."""
    return float(np.rint(celsius / REPORT_TEMPERATURE_RESOLUTION_C) / _TEMPERATURE_STEPS_PER_C)


#: Default largest internal sub-step (s); the RC and thermal updates are exact for any step,
#: sub-steps keep SoC-dependent OCV/resistance, balancing and extremes accurate.
DEFAULT_MAX_SUBSTEP_S = 10.0
#: Spread draws are clipped to this many sigmas so no cell gets a non-physical value.
SPREAD_CLIP_SIGMAS = 4.0
#: One row of the extremes array at the start of an interval: minima +inf, maxima -inf.
_EXTREMES_RESET = np.array([np.inf, -np.inf] * (N_EXTREMES // 2))


def _quantise(value: float, step: float) -> float:
    return round(round(value / step) * step, 6)


def _system_seeds(seed: int | Sequence[int], systems: int) -> list[int]:
    """One seed per system: a sequence is used as given, an int ``n`` gives n, n+1, …"""
    if isinstance(seed, int):
        return [seed + k for k in range(systems)]
    seeds = [int(s) for s in seed]
    if len(seeds) != systems:
        raise ValueError(f"got {len(seeds)} seeds for {systems} systems")
    return seeds


def _serials(seed: int, batteries: int) -> list[str]:
    """Deterministic, unique serial numbers like ``HQ2310ABCDE`` (own random stream)."""
    rng = np.random.default_rng([seed, 0x5E51A1])
    letters = np.array(list(string.ascii_uppercase))
    out: list[str] = []
    while len(out) < batteries:
        year = int(rng.integers(21, 26))
        week = int(rng.integers(1, 53))
        tail = "".join(str(c) for c in rng.choice(letters, size=5))
        serial = f"HQ{year:02d}{week:02d}{tail}"
        if serial not in out:
            out.append(serial)
    return out


def _kernel_constants(p: LfpParams) -> KernelConstants:
    table = p.ocv
    return KernelConstants(
        ocv_table_v=np.ascontiguousarray(table.volts, dtype=np.float64),
        soc_min=table.soc_min,
        soc_inv_step=1.0 / table.soc_step,
        soc_clamp_min=table.soc_min,
        soc_clamp_max=table.soc_max,
        soc_factor_k=p.soc_factor_at_ends,
        tau1_s=p.tau1_s,
        ea_over_r_k=p.ea_over_r_k,
        reference_temperature_k=p.reference_temperature_k,
        balance_start_v=p.balance_start_cell_v,
        balance_above_mean_v=p.balance_above_mean_v,
        bleed_resistance_ohm=p.bleed_resistance_ohm,
        damage_cell_v=p.damage_cell_v,
    )


def _select_kernel(name: KernelName) -> AdvanceFn:
    if name == "auto":
        return kernel.default_advance()
    if name == "numba":
        if not kernel.NUMBA_AVAILABLE:
            raise RuntimeError("kernel='numba' requested but numba is not installed")
        return kernel.advance_numba
    if name == "numpy":
        return kernel.advance_numpy
    return kernel.advance_python


def _spread(rng: np.random.Generator, sigma: float, n: int) -> FloatArray:
    """Multiplicative factors ~ N(1, sigma), clipped to ±SPREAD_CLIP_SIGMAS sigma and > 0."""
    z = np.clip(rng.standard_normal(n), -SPREAD_CLIP_SIGMAS, SPREAD_CLIP_SIGMAS)
    return np.maximum(1.0 + sigma * z, 0.05)


class BankModel:
    """``series`` × ``parallel`` batteries of catalogue model ``model_id``, per system.

    ``soc_pct`` is the initial true SoC of every cell (before the seeded spread) and
    ``temperature_c`` the initial and ambient temperature. ``seed`` is one int (system ``k`` uses
    ``seed + k``) or one seed per system, so system ``k`` of a batch equals a single run with
    that system's seed. ``max_substep_s`` bounds the internal step; ``kernel`` picks the
    implementation (``auto`` = Numba if installed, else NumPy).
    """

    def __init__(
        self, model_id: str, series: int, parallel: int, *, soc_pct: float,
        temperature_c: float, seed: int | Sequence[int], systems: int = 1,
        params: LfpParams | None = None, max_substep_s: float = DEFAULT_MAX_SUBSTEP_S,
        kernel_name: KernelName = "auto",
    ) -> None:
        if series < 1 or parallel < 1 or systems < 1:
            raise ValueError("series, parallel and systems must be >= 1")
        if max_substep_s <= 0:
            raise ValueError("max_substep_s must be > 0")
        self.model: BatteryModel = get_model(model_id)
        self.params: LfpParams = params or DEFAULT_PARAMS
        self.topology = Topology(parallel=parallel, series=series, cells=self.model.cells_in_series)
        self.systems = systems
        self.seeds = _system_seeds(seed, systems)
        self.max_substep_s = max_substep_s
        self._k = _kernel_constants(self.params)
        self._advance: AdvanceFn = _select_kernel(kernel_name)
        self._state = self._build_state(soc_pct, temperature_c)
        self._serials = [_serials(s, self.topology.batteries) for s in self.seeds]
        self._charged_ah = np.zeros(systems)
        self._discharged_ah = np.zeros(systems)
        self._bank_current_a = np.zeros(systems)
        self._forced_cell_v: dict[tuple[int, int, int], float] = {}
        self._forced_temperature_c: dict[tuple[int, int], float] = {}
        #: the last reports per system: a battery whose report did not change is handed on
        #: as the same (immutable) object
        self._last_reports: dict[int, tuple[FloatArray, tuple[BatteryReport, ...]]] = {}
        #: a single system within NumPy's one-block sums: the compiled Thevenin view
        self._compiled_view = (
            systems == 1 and compiled_thevenin.AVAILABLE
            and series * self.model.cells_in_series <= compiled_thevenin.PAIRWISE_BLOCK
            and parallel <= compiled_thevenin.PAIRWISE_BLOCK)
        self._settle_outputs()

    # ------------------------------------------------------------------ construction

    def _build_state(self, soc_pct: float, temperature_c: float) -> KernelState:
        topo, p, m = self.topology, self.params, self.model
        n_sys, n_c, n_b = self.systems, topo.total_cells, topo.batteries
        cap = np.empty((n_sys, n_c))
        res = np.empty((n_sys, n_c))
        soc = np.empty((n_sys, n_c))
        sd = np.empty((n_sys, n_c))
        for k, seed in enumerate(self.seeds):
            rng = np.random.default_rng(seed)
            cap[k] = _spread(rng, p.capacity_relative_sigma, n_c)
            res[k] = _spread(rng, p.resistance_relative_sigma, n_c)
            offset = np.clip(rng.standard_normal(n_c), -SPREAD_CLIP_SIGMAS, SPREAD_CLIP_SIGMAS)
            soc[k] = np.clip(soc_pct + p.initial_soc_sigma_pct * offset, 0.0, 100.0) / 100.0
            sd[k] = _spread(rng, p.self_discharge_relative_spread, n_c)
        r_cell = m.internal_resistance_mohm / 1000.0 / m.cells_in_series
        energy_wh = m.nominal_voltage_v * m.capacity_ah
        state = KernelState(
            soc=soc, v1_v=np.zeros((n_sys, n_c)), ocv_v=np.zeros((n_sys, n_c)),
            soc_factor=np.ones((n_sys, n_c)), cell_v=np.zeros((n_sys, n_c)),
            bleed_a=np.zeros((n_sys, n_c)),
            inv_capacity_as=1.0 / (3600.0 * m.capacity_ah * cap),
            r0_ref_ohm=r_cell * p.r0_fraction * res,
            r1_ref_ohm=r_cell * (1.0 - p.r0_fraction) * res,
            self_discharge_per_s=p.self_discharge_per_s * sd,
            temperature_c=np.full((n_sys, n_b), float(temperature_c)),
            arrhenius=np.ones((n_sys, n_b)), damaged=np.zeros((n_sys, n_b), dtype=np.bool_),
            heat_capacity_j_per_k=np.full((n_sys, n_b), p.battery_heat_capacity_j_per_k(energy_wh)),
            conductance_w_per_k=np.full((n_sys, n_b), p.battery_conductance_w_per_k(energy_wh)),
            ambient_c=np.full(n_sys, float(temperature_c)),
            string_current_a=np.zeros((n_sys, topo.parallel)), terminal_v=np.zeros(n_sys),
            extremes=np.zeros((n_sys, N_EXTREMES)),
        )
        kernel.refresh_caches(state, topo, self._k)
        return state

    def _settle_outputs(self) -> None:
        """Cell and terminal voltages at rest (zero current) from the present state."""
        st, topo = self._state, self.topology
        kernel.refresh_caches(st, topo, self._k)
        arr_cell = np.repeat(st.arrhenius, topo.cells, axis=1)
        i_cell = np.repeat(st.string_current_a, topo.series * topo.cells, axis=1) - st.bleed_a
        st.cell_v[:] = st.ocv_v + st.v1_v + st.r0_ref_ohm * st.soc_factor * arr_cell * i_cell
        strings = st.cell_v.reshape(self.systems, topo.parallel, -1).sum(axis=2)
        st.terminal_v[:] = strings.mean(axis=1)
        kernel.reset_extremes(st)
        kernel._update_extremes(st)

    def copy(self) -> BankModel:
        """An independent copy of the bank's changing state (a twin snapshot). The cell and
        battery parameters are shared: nothing writes them in place (:meth:`age_cell`
        replaces them)."""
        new = shallow_copy(self)
        state = shallow_copy(self._state)
        for name in _CHANGING:
            setattr(state, name, getattr(self._state, name).copy())
        new._state = state
        new._charged_ah = self._charged_ah.copy()
        new._discharged_ah = self._discharged_ah.copy()
        new._bank_current_a = self._bank_current_a.copy()
        new._forced_cell_v = dict(self._forced_cell_v)
        new._forced_temperature_c = dict(self._forced_temperature_c)
        new._last_reports = dict(self._last_reports)
        return new

    # ------------------------------------------------------------------ stepping

    def _currents(self, bank_current_a: float | FloatArray) -> FloatArray:
        cur = np.empty(self.systems, dtype=np.float64)  # writable and contiguous: one
        cur[:] = bank_current_a  # compiled kernel signature whatever the caller passes
        return cur

    def step(self, dt_s: float, bank_current_a: float | FloatArray) -> None:
        """Advance ``dt_s`` seconds at constant bank current (A, + = charging; one per system).

        Sub-steps internally (at most ``max_substep_s`` each); extremes of the interval are
        available afterwards from :meth:`extremes`.
        """
        if not 0.0 <= dt_s < math.inf:
            raise ValueError(f"dt_s must be finite and >= 0, got {dt_s}")
        if type(bank_current_a) is float and self.systems == 1:  # the twin's every segment
            if not math.isfinite(bank_current_a):
                raise ValueError("bank current must be finite")
            current = self._bank_current_a  # this bank's own array (copies copy it)
            current[0] = bank_current_a
        else:
            current = self._currents(bank_current_a)  # a fresh array: kept as the last current
            if not np.all(np.isfinite(current)):
                raise ValueError("bank current must be finite")
            self._bank_current_a = current
        st = self._state
        st.extremes[:] = _EXTREMES_RESET
        if dt_s == 0:
            kernel._update_extremes(st)
            return
        n_sub = max(1, math.ceil(dt_s / self.max_substep_s - 1e-9))
        self._advance(st, self.topology, self._k, dt_s / n_sub, n_sub, current)
        if self.systems == 1:  # the same arithmetic as below, without the array calls
            ah = float(current[0]) * dt_s / 3600.0
            self._charged_ah[0] += max(ah, 0.0)
            self._discharged_ah[0] += max(-ah, 0.0)
            return
        ah_all = current * dt_s / 3600.0
        self._charged_ah += np.maximum(ah_all, 0.0)
        self._discharged_ah += np.maximum(-ah_all, 0.0)

    def advance(
        self, dt_s: float, bank_current_a: float | FloatArray, system: int = 0
    ) -> IntervalExtremes:
        """Skip ahead ``dt_s`` at constant current and return the interval's extremes."""
        self.step(dt_s, bank_current_a)
        return self.extremes(system)

    def extremes(self, system: int = 0) -> IntervalExtremes:
        """Extremes over the last step's sub-steps, as the batteries report them (forcing
        included): cell voltage, bank terminal voltage, battery temperature."""
        ext = self._state.extremes[system].tolist()
        if not self._forced_cell_v and not self._forced_temperature_c:
            return IntervalExtremes(*ext)  # columns in IntervalExtremes' field order
        forced_v = [v for (s, _, _), v in self._forced_cell_v.items() if s == system]
        forced_t = [t for (s, _), t in self._forced_temperature_c.items() if s == system]
        return IntervalExtremes(
            min_cell_v=float(min([ext[EXT_MIN_CELL_V], *forced_v])),
            max_cell_v=float(max([ext[EXT_MAX_CELL_V], *forced_v])),
            min_bank_v=float(ext[EXT_MIN_BANK_V]),
            max_bank_v=float(ext[EXT_MAX_BANK_V]),
            min_temperature_c=float(min([ext[EXT_MIN_T_C], *forced_t])),
            max_temperature_c=float(max([ext[EXT_MAX_T_C], *forced_t])),
        )

    def extremes_now(self, system: int = 0) -> IntervalExtremes:
        """The values at the end of the last step, as the batteries report them (forcing
        included): the extremes of that instant (lowest and highest cell, the terminal voltage
        twice, lowest and highest battery temperature)."""
        volts, temps = self._reported_rows(system)
        cell_lo, cell_hi, t_lo, t_hi = kernel.row_extremes(volts.reshape(-1), temps)
        v = float(self._state.terminal_v[system])
        return IntervalExtremes(cell_lo, cell_hi, v, v, t_lo, t_hi)

    def _reported_rows(self, system: int) -> tuple[FloatArray, FloatArray]:
        """One system's cell voltages ``[batteries, cells]`` and battery temperatures with the
        forced values in: views of the state when nothing is forced, copies otherwise."""
        st = self._state
        volts = st.cell_v[system].reshape(self.topology.batteries, self.topology.cells)
        temps = st.temperature_c[system]
        if self._forced_cell_v or self._forced_temperature_c:
            volts = volts.copy()
            temps = temps.copy()
            for (s, b, c), v in self._forced_cell_v.items():
                if s == system:
                    volts[b, c] = v
            for (s, b), t in self._forced_temperature_c.items():
                if s == system:
                    temps[b] = t
        return volts, temps

    # ------------------------------------------------------------------ Thevenin view

    def thevenin_by_system(self, dt_s: float = 1.0) -> tuple[FloatArray, FloatArray]:
        """Bank Thevenin equivalent per system for a step of ``dt_s``: (V_oc [V], R [Ω]).

        The terminal voltage at the end of a step of ``dt_s`` at bank current ``I`` is
        ``V_oc + R I`` (+ = charging), SoC change during the step neglected. ``dt_s = 0`` gives
        the instantaneous resistance (R0 only); long steps include R1.
        """
        e_p, r_p = kernel.string_thevenin(self._state, self.topology, self._k, max(dt_s, 0.0))
        g = 1.0 / r_p
        g_sum = g.sum(axis=1)
        return (e_p * g).sum(axis=1) / g_sum, 1.0 / g_sum

    def thevenin(self, dt_s: float = 1.0, system: int = 0) -> tuple[float, float]:
        """Bank Thevenin equivalent of one system: (open-circuit V, resistance Ω)."""
        if self._compiled_view:
            st, topo = self._state, self.topology
            return compiled_thevenin.one_system(
                st.ocv_v[0], st.v1_v[0], st.soc_factor[0], st.arrhenius[0], st.bleed_a[0],
                st.r0_ref_ohm[0], st.r1_ref_ohm[0], (topo.parallel, topo.series, topo.cells),
                math.exp(-max(dt_s, 0.0) / self._k.tau1_s))
        v_oc, r = self.thevenin_by_system(dt_s)
        return float(v_oc[system]), float(r[system])

    def current_for_voltage(self, terminal_v: float, dt_s: float = 1.0, system: int = 0) -> float:
        """Bank current (A, + = charging) that holds the terminals at ``terminal_v``."""
        v_oc, r = self.thevenin(dt_s, system)
        return (terminal_v - v_oc) / r

    def current_for_power(self, power_w: float, dt_s: float = 1.0, system: int = 0) -> float:
        """Bank current (A) for a constant terminal power (W, + = charging, − = load).

        Solves ``(V_oc + R I) I = P``; for a load beyond the bank's maximum power the current
        at maximum power (``-V_oc / 2R``) is returned.
        """
        v_oc, r = self.thevenin(dt_s, system)
        disc = v_oc * v_oc + 4.0 * r * power_w
        if disc <= 0:
            return -v_oc / (2.0 * r)
        return (-v_oc + math.sqrt(disc)) / (2.0 * r)

    # ------------------------------------------------------------------ state views

    @property
    def battery_count(self) -> int:
        return self.topology.batteries

    @property
    def nominal_capacity_ah(self) -> float:
        """Nominal bank capacity: battery Ah × strings."""
        return self.model.capacity_ah * self.topology.parallel

    @property
    def terminal_voltage_by_system_v(self) -> FloatArray:
        return self._state.terminal_v.copy()

    @property
    def terminal_voltage_v(self) -> float:
        """Bank terminal voltage (V) after the last step, system 0."""
        return float(self._state.terminal_v[0])

    @property
    def bank_current_a(self) -> float:
        """Bank current (A) of the last step, system 0."""
        return float(self._bank_current_a[0])

    @property
    def cell_voltages_v(self) -> FloatArray:
        """True cell voltages (V), ``[systems, batteries, cells]`` (forcing not applied)."""
        return self._state.cell_v.reshape(self.systems, self.topology.batteries, -1).copy()

    @property
    def cell_soc_pct(self) -> FloatArray:
        """True cell SoC (%), ``[systems, batteries, cells]`` (may leave 0…100 under abuse)."""
        return 100.0 * self._state.soc.reshape(self.systems, self.topology.batteries, -1)

    @property
    def soc_pct_by_system(self) -> FloatArray:
        """True mean SoC (%) per system: cell SoC clipped to 0…100, capacity-weighted."""
        st = self._state
        cap = 1.0 / st.inv_capacity_as
        soc = np.clip(st.soc, 0.0, 1.0)
        return np.asarray(100.0 * (soc * cap).sum(axis=1) / cap.sum(axis=1))

    @property
    def soc_pct(self) -> float:
        return float(self.soc_pct_by_system[0])

    @property
    def battery_temperatures_c(self) -> FloatArray:
        """True battery temperatures (°C), ``[systems, batteries]``."""
        return self._state.temperature_c.copy()

    @property
    def battery_currents_a(self) -> FloatArray:
        """Current through each battery (A, + = charging), ``[systems, batteries]``."""
        return np.repeat(self._state.string_current_a, self.topology.series, axis=1)

    @property
    def string_currents_a(self) -> FloatArray:
        """Current of each parallel string (A), ``[systems, parallel]``."""
        return self._state.string_current_a.copy()

    @property
    def balancing(self) -> BoolArray:
        """Bleed resistor on, per cell, ``[systems, batteries, cells]``."""
        on: BoolArray = self._state.bleed_a > 0
        out: BoolArray = on.reshape(self.systems, self.topology.batteries, -1)
        return out

    @property
    def damaged_by_system(self) -> BoolArray:
        """Damage latch per battery (a cell went below the damage voltage), ``[systems, batteries]``."""
        return self._state.damaged.copy()

    @property
    def any_damaged(self) -> bool:
        """Whether any battery of system 0 is damaged (no copy)."""
        return 1 in self._state.damaged[0].tobytes()  # one byte per battery: 0 or 1

    @property
    def damaged(self) -> BoolArray:
        """Damage latch per battery of system 0."""
        out: BoolArray = self._state.damaged[0].copy()
        return out

    @property
    def charged_ah_total_by_system(self) -> FloatArray:
        return self._charged_ah.copy()

    @property
    def discharged_ah_total_by_system(self) -> FloatArray:
        return self._discharged_ah.copy()

    @property
    def charged_ah_total(self) -> float:
        """Cumulative Ah into the bank terminals (>= 0, never decreases), system 0."""
        return float(self._charged_ah[0])

    @property
    def discharged_ah_total(self) -> float:
        """Cumulative Ah out of the bank terminals (>= 0, never decreases), system 0."""
        return float(self._discharged_ah[0])

    def serials(self, system: int = 0) -> tuple[str, ...]:
        return tuple(self._serials[system])

    # ------------------------------------------------------------------ what the bus sees

    def reported_cell_voltages_v(self, battery: int, system: int = 0) -> tuple[float, ...]:
        """Cell voltages battery ``battery`` reports (forcing applied, 1 mV resolution)."""
        true_v = self.cell_voltages_v[system, battery]
        out = []
        for c, v in enumerate(true_v):
            forced = self._forced_cell_v.get((system, battery, c))
            out.append(_quantise(float(v) if forced is None else forced, REPORT_CELL_RESOLUTION_V))
        return tuple(out)

    def reported_temperature_c(self, battery: int, system: int = 0) -> float:
        forced = self._forced_temperature_c.get((system, battery))
        t = float(self._state.temperature_c[system, battery]) if forced is None else forced
        return _quantise(t, REPORT_TEMPERATURE_RESOLUTION_C)

    def reports(self, system: int = 0) -> tuple[BatteryReport, ...]:
        """One :class:`BatteryReport` per battery, in chain order (string by string).

        Quantised as :meth:`reported_cell_voltages_v` and :meth:`reported_temperature_c` do,
        with the divisions and roundings to whole steps done for the whole bank at once.
        """
        topo = self.topology
        st = self._state
        volts, temps = self._reported_rows(system)
        # whole steps, then back to volts: k / (steps per unit) equals round(k * step, 6), the
        # scalar path's rounding, for every whole k (checked for |k| <= 2e6 in the tests)
        last = self._last_reports.get(system)
        table, changed = quantised_table(volts, temps, st.string_current_a[system], topo.series,
                                         _RESOLUTIONS, None if last is None else last[0])
        rows: list[int] = changed.tolist()
        # batteries whose report is unchanged, bit for bit (signs of zero included), are
        # handed on as the same (immutable) objects; the first reading fills every row
        out: list[BatteryReport] = (
            [None] * topo.batteries if last is None  # type: ignore[list-item]
            else list(last[1]))
        if rows:
            serials = self._serials[system]
            series = topo.series
            picked = table[changed]
            new = map(BatteryReport, [serials[b] for b in rows], repeat(self.model.model_id),
                      repeat(FIRMWARE_VERSION), [b % series for b in rows],
                      map(tuple, picked[:, :-2].tolist()), picked[:, -2].tolist(),
                      picked[:, -1].tolist())
            for b, report in zip(rows, new, strict=True):
                out[b] = report
        reports = tuple(out)
        self._last_reports[system] = (table, reports)
        return reports

    # ------------------------------------------------------------------ fault injection

    def _check_battery(self, battery: int, system: int) -> None:
        if not 0 <= battery < self.topology.batteries:
            raise IndexError(f"battery {battery} out of range 0..{self.topology.batteries - 1}")
        if not 0 <= system < self.systems:
            raise IndexError(f"system {system} out of range 0..{self.systems - 1}")

    def _check_cell(self, battery: int, cell: int, system: int) -> None:
        self._check_battery(battery, system)
        if not 0 <= cell < self.topology.cells:
            raise IndexError(f"cell {cell} out of range 0..{self.topology.cells - 1}")

    def force_cell(self, battery: int, cell: int, volts: float | None, system: int = 0) -> None:
        """Override the voltage a battery reports for one cell (None releases)."""
        self._check_cell(battery, cell, system)
        if volts is None:
            self._forced_cell_v.pop((system, battery, cell), None)
        else:
            self._forced_cell_v[(system, battery, cell)] = float(volts)

    def force_temperature(self, battery: int, celsius: float | None, system: int = 0) -> None:
        """Override the temperature a battery reports (None releases)."""
        self._check_battery(battery, system)
        if celsius is None:
            self._forced_temperature_c.pop((system, battery), None)
        else:
            self._forced_temperature_c[(system, battery)] = float(celsius)

    def release_all(self) -> None:
        """End all forcing."""
        self._forced_cell_v.clear()
        self._forced_temperature_c.clear()

    def age_cell(
        self, battery: int, cell: int, capacity_factor: float, resistance_factor: float,
        system: int = 0,
    ) -> None:
        """Age one cell: multiply its capacity and its resistances (R0, R1) by the factors.

        The cell keeps its SoC fraction (its stored charge scales with the capacity).
        """
        self._check_cell(battery, cell, system)
        if capacity_factor <= 0 or resistance_factor <= 0:
            raise ValueError("ageing factors must be > 0")
        j = battery * self.topology.cells + cell
        st = self._state
        # new arrays rather than writes in place: copies of the bank share these (see copy())
        st.inv_capacity_as = st.inv_capacity_as.copy()
        st.r0_ref_ohm = st.r0_ref_ohm.copy()
        st.r1_ref_ohm = st.r1_ref_ohm.copy()
        st.inv_capacity_as[system, j] /= capacity_factor
        st.r0_ref_ohm[system, j] *= resistance_factor
        st.r1_ref_ohm[system, j] *= resistance_factor

    def set_ambient(self, celsius: float, system: int | None = None) -> None:
        """Set the ambient temperature (°C) of one system, or of all (``None``)."""
        if system is None:
            self._state.ambient_c[:] = celsius
        else:
            self._state.ambient_c[system] = celsius
