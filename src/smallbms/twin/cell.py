"""The vectorised cell kernel: Thevenin equivalent circuit (OCV + R0 + one RC pair) per cell,
lumped thermal model per battery, self-discharge and passive top balancing, for any number of
independent systems stepped together.

Layout. Every array has a leading *system* axis. Cells are flattened per system in the order
``string p → battery s in the string → cell c``: cell ``j = (p * S + s) * C + c`` and battery
``b = p * S + s`` (``S`` batteries in series per string, ``P`` strings, ``C`` cells per battery).
So one 400-cell bank is ``[1, 400]`` and 1,000 single 4-cell batteries are ``[1000, 4]``; the
same kernel serves both.

Sign convention: current positive = charging (SPEC 1). The RC voltage ``v1`` tends to ``R1 * i``.

One sub-step of ``dt`` at constant bank current ``I``:

1. Each string is a Thevenin source for the end of the step. With the exact exponential update of
   the RC pair, ``v1' = a v1 + (1 - a) R1 i`` with ``a = exp(-dt / tau1)``, a string's terminal
   voltage at the end of the step is ``E_p + R_p I_p`` with
   ``E_p = sum(ocv + a v1 - R_eff i_bleed)`` and ``R_p = sum(R_eff)``, ``R_eff = R0 + (1 - a) R1``.
2. Parallel split (closed form): equal terminal voltage ``V`` and ``sum(I_p) = I`` give
   ``V = (I + sum(E_p / R_p)) / sum(1 / R_p)`` and ``I_p = (V - E_p) / R_p``.
3. Each cell carries ``i = I_p - i_bleed``: RC update (exact), coulomb counting and self-discharge,
   SoC clamped to the physical range, new OCV and resistance, cell voltage
   ``v = ocv(soc) + v1 + R0 i``.
4. Per battery: heat ``R0 i^2 + v1 i + i_bleed^2 R_bleed`` (RC term as in PyBaMM's ECM), exact
   exponential update of the lumped thermal model towards ambient, new Arrhenius factor;
   balancing decisions for the next step (bleed a cell above the start voltage and above its
   battery's mean by the margin); damage latch when a cell is below the damage voltage.

Stiff split. Step 2 holds each string's OCV at its start-of-step value, i.e. it integrates the
exchange of charge between strings explicitly. A string whose cells' OCV rises by
``k_p = sum(dOCV/dSoC / capacity)`` per ampere-second relaxes towards the others with rate at
most ``lambda = max_p k_p / R_p``; the explicit step is unstable once ``dt * lambda > 2``. On the
plateau and for the usual sub-steps ``dt * lambda`` is far below 1, but at the knees (up to
200 V per unit SoC in the collapse region below 0 %) a 10 s sub-step reaches 20 and more, and
the split swings with growing amplitude. So a sub-step (of a bank with parallel strings) whose
``dt * lambda`` exceeds ``SPLIT_STIFFNESS_LIMIT`` is taken in micro-steps of at most
``SPLIT_STIFFNESS_MICRO`` each, re-checked after every micro-step; below the limit the
arithmetic is exactly the single step above. A cell held at a SoC clamp and driven further into
it has a fixed OCV and does not count.

Resistances: ``R0 = r0_ref * g(soc) * arr(T)``, ``R1 = r1_ref * g(soc) * arr(T)``, with the SoC
factor ``g = 1 + k (2 soc - 1)^2`` and the Arrhenius factor ``arr``; ``tau1 = R1 C1`` is constant,
so ``C1 = tau1 / R1`` and ``a`` is one number per sub-step.

Two implementations with the same arithmetic: :func:`advance_numpy` (vectorised NumPy, always
available) and a fused Numba kernel (used when ``numba`` is installed; :func:`advance_python`
runs the same loops in the interpreter as the naive reference). The fused kernel
(:func:`_systems`; :func:`_all_systems` runs it on one run of systems per thread) is built for
throughput without changing a result:

- for the duration of a call each system's cells are packed into one record per cell (the
  ``_F_*`` fields), so the loops address every field from one base pointer, and written back
  at the end; indices are unsigned (no negative-index wraparound on every access);
- systems are stepped in blocks of ``BLOCK_SYSTEMS``, and within a block sub-step by
  sub-step in three phases (split; cells and temperatures; Arrhenius,
  balancing and the next sources), one system after the other within a phase, so the
  out-of-order core overlaps the long division/``exp`` chains of independent small systems;
- a step reads each cell twice: the update, and after the battery's thermal step the
  balancing pass, which also sums the string's Thevenin source for the next step (computed
  afresh only when the step length changes); per-cell ``R0 + (1 - a) R1`` is computed once per
  step length; the Arrhenius ``exp`` is skipped when a battery's temperature did not change;
- every sum keeps the order of the NumPy path, and no ``fastmath``: the states are the same to
  the bit as those of the simple per-system loop this replaced;
- the parallel and the serial entry points are different functions: Numba's on-disk cache
  keys an entry by function, not by compiler options, so one function compiled both ways
  loads whichever variant was cached first (the parallel path then ran on one thread).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Columns of the extremes array returned per system.
EXT_MIN_CELL_V, EXT_MAX_CELL_V, EXT_MIN_BANK_V, EXT_MAX_BANK_V, EXT_MIN_T_C, EXT_MAX_T_C = range(6)
N_EXTREMES = 6

#: Stiffness ``dt * lambda`` of the parallel split beyond which one explicit sub-step would be
#: unstable (see the module docstring, "Stiff split"): such a sub-step is redone in micro-steps.
SPLIT_STIFFNESS_LIMIT = 2.0
#: Stiffness of each of those micro-steps, at most: well inside the stable, non-oscillating range.
SPLIT_STIFFNESS_MICRO = 0.5
#: Bound on the micro-steps of one sub-step (only a pathological parameter set gets near it).
SPLIT_MAX_MICRO_STEPS = 1 << 20


@dataclass(frozen=True, slots=True)
class Topology:
    """Shape of one system: ``parallel`` strings of ``series`` batteries of ``cells`` cells."""

    parallel: int
    series: int
    cells: int

    @property
    def batteries(self) -> int:
        return self.parallel * self.series

    @property
    def total_cells(self) -> int:
        return self.batteries * self.cells


@dataclass(frozen=True, slots=True)
class KernelConstants:
    """Scalars of the kernel (units in names). ``ocv_table_v`` is on a uniform SoC grid."""

    ocv_table_v: FloatArray
    soc_min: float
    soc_inv_step: float
    soc_clamp_min: float
    soc_clamp_max: float
    soc_factor_k: float
    tau1_s: float
    ea_over_r_k: float
    reference_temperature_k: float
    balance_start_v: float
    balance_above_mean_v: float
    bleed_resistance_ohm: float
    damage_cell_v: float


@dataclass(slots=True)
class KernelState:
    """Everything the kernel reads and writes, as arrays with a leading system axis.

    Cell arrays are ``[systems, cells]``, battery arrays ``[systems, batteries]``, string arrays
    ``[systems, parallel]``. ``ocv_v``, ``soc_factor`` and ``arrhenius`` are caches consistent
    with ``soc`` and ``temperature_c``; ``bleed_a`` holds the balancing currents decided at the
    end of the previous step.
    """

    # cell state
    soc: FloatArray
    v1_v: FloatArray
    ocv_v: FloatArray
    soc_factor: FloatArray
    cell_v: FloatArray
    bleed_a: FloatArray
    # cell parameters
    inv_capacity_as: FloatArray
    r0_ref_ohm: FloatArray
    r1_ref_ohm: FloatArray
    self_discharge_per_s: FloatArray
    # battery state and parameters
    temperature_c: FloatArray
    arrhenius: FloatArray
    damaged: BoolArray
    heat_capacity_j_per_k: FloatArray
    conductance_w_per_k: FloatArray
    # system inputs and outputs
    ambient_c: FloatArray
    string_current_a: FloatArray
    terminal_v: FloatArray
    extremes: FloatArray


class AdvanceFn(Protocol):
    """Signature shared by the NumPy and Numba implementations."""

    def __call__(
        self, state: KernelState, topo: Topology, k: KernelConstants, dt_s: float,
        n_sub: int, bank_current_a: FloatArray,
    ) -> None: ...


# ------------------------------------------------------------------------------------------------
# helpers shared by both implementations


def ocv_lookup(k: KernelConstants, soc: FloatArray) -> FloatArray:
    """Linear lookup of the OCV table (V) at SoC fraction ``soc`` (vectorised)."""
    return _ocv_and_step(k, soc)[0]


def _ocv_and_step(k: KernelConstants, soc: FloatArray) -> tuple[FloatArray, FloatArray]:
    """OCV (V) at ``soc`` and the OCV rise over the grid step it lies in (V)."""
    table = k.ocv_table_v
    x = (soc - k.soc_min) * k.soc_inv_step
    idx = np.clip(x.astype(np.int64), 0, len(table) - 2)
    frac = x - idx
    lo = table[idx]
    step = table[idx + 1] - lo
    return lo + frac * step, step


def soc_factor(k: KernelConstants, soc: FloatArray) -> FloatArray:
    """Resistance multiplier vs SoC: 1 + k (2 s - 1)^2 with s clipped to [0, 1]."""
    d = 2.0 * np.clip(soc, 0.0, 1.0) - 1.0
    return 1.0 + k.soc_factor_k * d * d


def arrhenius(k: KernelConstants, temperature_c: FloatArray) -> FloatArray:
    """Resistance multiplier vs temperature, 1 at the reference temperature."""
    return np.exp(k.ea_over_r_k * (1.0 / (temperature_c + 273.15) - 1.0 / k.reference_temperature_k))


def refresh_caches(state: KernelState, topo: Topology, k: KernelConstants) -> None:
    """Recompute OCV, SoC factor, Arrhenius factor and cell voltages at zero current."""
    state.ocv_v[:] = ocv_lookup(k, state.soc)
    state.soc_factor[:] = soc_factor(k, state.soc)
    state.arrhenius[:] = arrhenius(k, state.temperature_c)


def string_thevenin(
    state: KernelState, topo: Topology, k: KernelConstants, dt_s: float
) -> tuple[FloatArray, FloatArray]:
    """Per-string source voltage (V) and resistance (Ω) for the end of a step of ``dt_s``.

    Returns arrays ``[systems, parallel]``. ``dt_s = 0`` gives the instantaneous resistance (R0).
    """
    a = math.exp(-dt_s / k.tau1_s)
    sys_n = state.soc.shape[0]
    arr_cell = np.repeat(state.arrhenius, topo.cells, axis=1)
    scale = state.soc_factor * arr_cell
    r_eff = (state.r0_ref_ohm + (1.0 - a) * state.r1_ref_ohm) * scale
    e_cell = state.ocv_v + a * state.v1_v - r_eff * state.bleed_a
    shape = (sys_n, topo.parallel, topo.series * topo.cells)
    return e_cell.reshape(shape).sum(axis=2), r_eff.reshape(shape).sum(axis=2)


def solve_parallel(
    e_v: FloatArray, r_ohm: FloatArray, bank_current_a: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Split the bank current among strings: returns (terminal V [systems], I_p [systems, P])."""
    g = 1.0 / r_ohm
    v = (bank_current_a + (e_v * g).sum(axis=1)) / g.sum(axis=1)
    return v, (v[:, None] - e_v) * g


def split_stiffness(
    state: KernelState, topo: Topology, k: KernelConstants
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """OCV stiffness of each string, ``[systems, parallel]`` each: (free, at the lower SoC
    clamp, at the upper SoC clamp).

    The sum over a string's cells of ``dOCV/dSoC * inv_capacity`` per OCV grid step (V per
    A s per grid step), split by where the cell's SoC sits: a clamped cell's OCV does not move
    while it is driven further into its clamp.
    """
    w = _ocv_and_step(k, state.soc)[1] * state.inv_capacity_as
    at_lo = state.soc <= k.soc_clamp_min
    at_hi = ~at_lo & (state.soc >= k.soc_clamp_max)
    free = ~(at_lo | at_hi)
    shape = (state.soc.shape[0], topo.parallel, topo.series * topo.cells)
    return (
        np.where(free, w, 0.0).reshape(shape).sum(axis=2),
        np.where(at_lo, w, 0.0).reshape(shape).sum(axis=2),
        np.where(at_hi, w, 0.0).reshape(shape).sum(axis=2),
    )


def split_lambda(
    k: KernelConstants, dt_s: float, i_p: FloatArray, r_p: FloatArray,
    stiff: tuple[FloatArray, FloatArray, FloatArray],
) -> FloatArray:
    """Stiffness ``dt * lambda`` of the split per system for a step of ``dt_s`` with string
    currents ``i_p`` and resistances ``r_p`` (:func:`string_thevenin`)."""
    k_free, k_lo, k_hi = stiff
    kk = k_free + np.where(i_p > 0.0, k_lo, 0.0) + np.where(i_p < 0.0, k_hi, 0.0)
    out: FloatArray = (kk / r_p).max(axis=1) * (dt_s * k.soc_inv_step)
    return out


def micro_steps(
    k: KernelConstants, dt_s: float, i_p: FloatArray, r_p: FloatArray,
    stiff: tuple[FloatArray, FloatArray, FloatArray],
) -> NDArray[np.int64]:
    """Micro-steps a sub-step of ``dt_s`` starts with, per system (1 = an ordinary step)."""
    lam = split_lambda(k, dt_s, i_p, r_p, stiff)
    n = np.ones(lam.shape, dtype=np.int64)
    over = lam > SPLIT_STIFFNESS_LIMIT
    n[over] = np.ceil(lam[over] / SPLIT_STIFFNESS_MICRO).astype(np.int64)
    return n


# ------------------------------------------------------------------------------------------------
# NumPy implementation


def _numpy_substep(
    state: KernelState, topo: Topology, k: KernelConstants, dt_s: float,
    i_p: FloatArray, decay: FloatArray,
) -> FloatArray:
    """One sub-step with the split ``i_p``; returns the cells' OCV grid-step rise (V) at the
    new SoC (for :func:`split_stiffness`)."""
    sys_n = state.soc.shape[0]
    a = math.exp(-dt_s / k.tau1_s)
    state.string_current_a[:] = i_p
    per_string = topo.series * topo.cells
    i_cell = np.repeat(i_p, per_string, axis=1) - state.bleed_a
    arr_cell = np.repeat(state.arrhenius, topo.cells, axis=1)
    scale = state.soc_factor * arr_cell
    r0 = state.r0_ref_ohm * scale
    r1 = state.r1_ref_ohm * scale
    v1 = a * state.v1_v + (1.0 - a) * r1 * i_cell
    soc = state.soc + i_cell * dt_s * state.inv_capacity_as - state.self_discharge_per_s * dt_s
    np.clip(soc, k.soc_clamp_min, k.soc_clamp_max, out=soc)
    ocv, ocv_step = _ocv_and_step(k, soc)
    g_new = soc_factor(k, soc)
    cell_v = ocv + v1 + state.r0_ref_ohm * g_new * arr_cell * i_cell
    heat_cell = (r0 * i_cell + v1) * i_cell + state.bleed_a * state.bleed_a * k.bleed_resistance_ohm
    heat_b = heat_cell.reshape(sys_n, topo.batteries, topo.cells).sum(axis=2)
    amb = state.ambient_c[:, None]
    temp = amb + (state.temperature_c - amb) * decay + heat_b / state.conductance_w_per_k * (
        1.0 - decay
    )
    state.soc[:] = soc
    state.v1_v[:] = v1
    state.ocv_v[:] = ocv
    state.soc_factor[:] = g_new
    state.cell_v[:] = cell_v
    state.temperature_c[:] = temp
    state.arrhenius[:] = arrhenius(k, temp)
    _numpy_balance_and_damage(state, topo, k)
    string_v = cell_v.reshape(sys_n, topo.parallel, per_string).sum(axis=2)
    state.terminal_v[:] = string_v.mean(axis=1)
    return ocv_step


def _numpy_balance_and_damage(state: KernelState, topo: Topology, k: KernelConstants) -> None:
    sys_n = state.soc.shape[0]
    v = state.cell_v.reshape(sys_n, topo.batteries, topo.cells)
    mean = v.sum(axis=2, keepdims=True) / topo.cells
    bleed = (v > k.balance_start_v) & (v - mean > k.balance_above_mean_v)
    state.bleed_a[:] = np.where(bleed, v / k.bleed_resistance_ohm, 0.0).reshape(sys_n, -1)
    state.damaged |= (v < k.damage_cell_v).any(axis=2)


def _update_extremes(state: KernelState) -> None:
    sys_n = state.soc.shape[0]
    ext = state.extremes
    ext[:, EXT_MIN_CELL_V] = np.minimum(ext[:, EXT_MIN_CELL_V], state.cell_v.min(axis=1))
    ext[:, EXT_MAX_CELL_V] = np.maximum(ext[:, EXT_MAX_CELL_V], state.cell_v.max(axis=1))
    ext[:, EXT_MIN_BANK_V] = np.minimum(ext[:, EXT_MIN_BANK_V], state.terminal_v)
    ext[:, EXT_MAX_BANK_V] = np.maximum(ext[:, EXT_MAX_BANK_V], state.terminal_v)
    t = state.temperature_c.reshape(sys_n, -1)
    ext[:, EXT_MIN_T_C] = np.minimum(ext[:, EXT_MIN_T_C], t.min(axis=1))
    ext[:, EXT_MAX_T_C] = np.maximum(ext[:, EXT_MAX_T_C], t.max(axis=1))


def _row_extremes(cell_v: Any, temperature_c: Any) -> tuple[float, float, float, float]:
    """(lowest cell V, highest cell V, lowest °C, highest °C) of one system's rows."""
    c_lo = c_hi = cell_v[0]
    for v in cell_v:
        c_lo = min(c_lo, v)
        c_hi = max(c_hi, v)
    t_lo = t_hi = temperature_c[0]
    for t in temperature_c:
        t_lo = min(t_lo, t)
        t_hi = max(t_hi, t)
    return c_lo, c_hi, t_lo, t_hi


def row_extremes(cell_v: FloatArray, temperature_c: FloatArray) -> tuple[float, float, float, float]:
    """(lowest cell V, highest cell V, lowest °C, highest °C) of one system's cell voltage and
    battery temperature rows (compiled when Numba is installed: one call, ~1 µs)."""
    lo, hi, t_lo, t_hi = _row_extremes_impl(cell_v, temperature_c)
    return float(lo), float(hi), float(t_lo), float(t_hi)


def thermal_decay(state: KernelState, dt_s: float) -> FloatArray:
    """Exact decay factor of the lumped thermal model over ``dt_s``, per battery."""
    return np.exp(-dt_s * state.conductance_w_per_k / state.heat_capacity_j_per_k)


def reset_extremes(state: KernelState) -> None:
    """Start a new extremes interval (min columns +inf, max columns -inf)."""
    state.extremes[:, 0::2] = np.inf
    state.extremes[:, 1::2] = -np.inf


def advance_numpy(
    state: KernelState, topo: Topology, k: KernelConstants, dt_s: float, n_sub: int,
    bank_current_a: FloatArray,
) -> None:
    """Advance every system by ``n_sub`` sub-steps of ``dt_s`` at constant bank current (NumPy).

    Extremes accumulate into ``state.extremes`` (reset them with :func:`reset_extremes`).
    """
    decay = thermal_decay(state, dt_s)
    ocv_step = _ocv_and_step(k, state.soc)[1] if topo.parallel > 1 else None
    for _ in range(n_sub):
        e_p, r_p = string_thevenin(state, topo, k, dt_s)
        _, i_p = solve_parallel(e_p, r_p, bank_current_a)
        if ocv_step is not None and _may_be_stiff(state, topo, k, dt_s, r_p, ocv_step):
            lam = split_lambda(k, dt_s, i_p, r_p, split_stiffness(state, topo, k))
            stiff = lam > SPLIT_STIFFNESS_LIMIT
            if stiff.any():
                calm = np.flatnonzero(~stiff)
                if calm.size:
                    sub = _take(state, calm)
                    _numpy_substep(sub, topo, k, dt_s, i_p[calm], decay[calm])
                    _update_extremes(sub)
                    for f in KernelState.__slots__:
                        getattr(state, f)[calm] = getattr(sub, f)
                for s in np.flatnonzero(stiff):
                    _numpy_micro_steps(
                        _take(state, slice(s, s + 1)), topo, k, dt_s, bank_current_a[s : s + 1]
                    )
                ocv_step = _ocv_and_step(k, state.soc)[1]
                continue
        new_step = _numpy_substep(state, topo, k, dt_s, i_p, decay)
        _update_extremes(state)
        if ocv_step is not None:
            ocv_step = new_step


def _may_be_stiff(
    state: KernelState, topo: Topology, k: KernelConstants, dt_s: float, r_p: FloatArray,
    ocv_step: FloatArray,
) -> bool:
    """Cheap upper bound of :func:`split_lambda` (every cell counted) above the limit?"""
    w = (ocv_step * state.inv_capacity_as).reshape(r_p.shape[0], topo.parallel, -1).sum(axis=2)
    return bool(((w / r_p).max(axis=1) * (dt_s * k.soc_inv_step) > SPLIT_STIFFNESS_LIMIT).any())


def _take(state: KernelState, systems: NDArray[np.intp] | slice) -> KernelState:
    """The state of some systems: a copy for an index array, a view for a slice."""
    return KernelState(**{f: getattr(state, f)[systems] for f in KernelState.__slots__})


def _numpy_micro_steps(
    state: KernelState, topo: Topology, k: KernelConstants, dt_s: float,
    bank_current_a: FloatArray,
) -> None:
    """One sub-step of one system whose split is stiff, in micro-steps (as the Numba kernel)."""
    h = dt_s
    left = 1
    done = 0
    decay = thermal_decay(state, h)
    while left > 0:
        e_p, r_p = string_thevenin(state, topo, k, h)
        _, i_p = solve_parallel(e_p, r_p, bank_current_a)
        lam = float(split_lambda(k, h, i_p, r_p, split_stiffness(state, topo, k))[0])
        if lam > SPLIT_STIFFNESS_LIMIT:
            n_new = min(math.ceil(left * lam / SPLIT_STIFFNESS_MICRO),
                        SPLIT_MAX_MICRO_STEPS - done)
            if n_new > left:
                h = h * left / n_new
                left = n_new
                decay = thermal_decay(state, h)
                continue
        _numpy_substep(state, topo, k, h, i_p, decay)
        _update_extremes(state)
        left -= 1
        done += 1


# ------------------------------------------------------------------------------------------------
# Numba implementation (optional dependency)

_numba: Any
try:  # pragma: no cover - exercised when numba is installed
    import numba as _numba
except ImportError:  # pragma: no cover
    _numba = None

NUMBA_AVAILABLE: bool = _numba is not None

#: Array indices of the kernel's loops as unsigned integers: Numba then skips the negative-index
#: wraparound on every access (the indices are never negative).
_u = np.uint64


# Packed cell record: during a call each system's cells live in one row of ``cells``, cell after
# cell, ``_NF`` numbers each (fields ``_F_*``), so the loops address every field from one base
# pointer (separate arrays per field need a register or a spill each).
_F_SOC, _F_V1, _F_OCV, _F_G, _F_V, _F_BLEED, _F_INVQ, _F_R0, _F_R1, _F_SD, _F_RR = (
    _u(f) for f in range(11)
)
_NF_INT = 12  # 11 fields, padded
_NF = _u(_NF_INT)

# Scratch row of one system (``work[s]``): the ``_W_*`` scalars, then per string the Thevenin
# source (E, R) and the split stiffness (free, lower clamp, upper clamp), per battery the thermal
# decay and one minus it, for the sub-step and for a micro-step, the sum of its cell voltages
# and whether its temperature changed.
_W_SOURCES_OK = 0  # 1.0 when E, R are the sources of the current state and step length
_W_R_EFF_AT_DT = 1  # 1.0 when the cells' R0 + (1 - a) R1 (at reference factors) are for dt
_W_H = 2  # current step length (dt or a micro-step)
_W_A_H = 3  # exp(-h / tau1)
_W_LEFT = 4  # steps of h still to take in this sub-step
_W_DONE = 5  # steps taken in this sub-step
_W_MICRO = 6  # 1.0 while the step length is a micro-step's
_W_HEAD = 7


def _work_width(n_par: int, n_ser: int) -> int:
    """Scratch elements the kernel needs per system."""
    return _W_HEAD + 5 * n_par + 6 * n_par * n_ser


#: Systems stepped together by one thread, phase by phase (split, cell update, battery and
#: balancing), one system after the other within a phase: a small system's sub-step alone is one
#: long dependency chain of divisions and an ``exp``; interleaved, the out-of-order core
#: overlaps independent systems.
BLOCK_SYSTEMS = 32


def _systems(
    first: int, last: int,
    n_sub: int, dt: float, i_bank: Any, n_par: int, n_ser: int, n_cell: int,
    soc: Any, v1: Any, ocv: Any, gfac: Any, cell_v: Any, bleed: Any,
    inv_q: Any, r0_ref: Any, r1_ref: Any, sd: Any,
    temp: Any, arr: Any, damaged: Any, c_th: Any, g_th: Any, ambient: Any,
    table: Any, soc_min: float, inv_step: float, clamp_lo: float, clamp_hi: float,
    k_soc: float, tau1: float, ea_r: float, t_ref: float,
    bal_v: float, bal_dv: float, r_bleed: float, damage_v: float,
    i_string: Any, v_term: Any, ext: Any,
    work: Any, cells: Any,
) -> None:
    """Systems ``first`` to ``last - 1``, ``n_sub`` sub-steps of ``dt``, in blocks of
    ``BLOCK_SYSTEMS`` systems, on a packed copy of the cells (see ``_NF``; ``cells`` and the
    scratch ``work`` have a row per system) written back at the end of the call.

    A sub-step (in micro-steps when the split is stiff) is the same arithmetic as the NumPy
    path, fused, in rounds: each round every system of the block with steps left takes one
    step of its own length, in three phases. (A) sources and split, shortening the step when
    the split is stiff; (B) the cells (RC, SoC, OCV, voltage; sums of heat, voltage and split
    stiffness) and each battery's temperature; (C) each battery's Arrhenius factor, balancing,
    damage, extremes and the string's Thevenin source for the *next* step. So a step reads
    every cell twice (a third pass computes the sources when the step length changes).
    """
    n_b = n_par * n_ser
    n_cells = n_b * n_cell
    n_tab = table.shape[0]
    a = math.exp(-dt / tau1)
    one_a = 1.0 - a
    o_e = _u(_W_HEAD)
    o_r = _u(_W_HEAD + n_par)
    o_kf = _u(_W_HEAD + 2 * n_par)
    o_kl = _u(_W_HEAD + 3 * n_par)
    o_kh = _u(_W_HEAD + 4 * n_par)
    o_dec = _u(_W_HEAD + 5 * n_par)  # decay for dt, then one minus it
    o_odec = _u(_W_HEAD + 5 * n_par + n_b)
    o_dech = _u(_W_HEAD + 5 * n_par + 2 * n_b)  # the same for a micro-step
    o_odech = _u(_W_HEAD + 5 * n_par + 3 * n_b)
    o_vsum = _u(_W_HEAD + 5 * n_par + 4 * n_b)  # sum of the battery's cell voltages
    o_tnew = _u(_W_HEAD + 5 * n_par + 5 * n_b)  # 1.0 when the battery's temperature changed
    for s0 in range(first, last, BLOCK_SYSTEMS):
        s1 = min(s0 + BLOCK_SYSTEMS, last)
        for s in range(s0, s1):
            # start of the call: pack the cells, thermal decay for dt, split stiffness
            su = _u(s)
            for j in range(_u(n_cells)):
                qj = j * _NF
                cells[su, qj + _F_SOC] = soc[su, j]
                cells[su, qj + _F_V1] = v1[su, j]
                cells[su, qj + _F_OCV] = ocv[su, j]
                cells[su, qj + _F_G] = gfac[su, j]
                cells[su, qj + _F_V] = cell_v[su, j]
                cells[su, qj + _F_BLEED] = bleed[su, j]
                cells[su, qj + _F_INVQ] = inv_q[su, j]
                cells[su, qj + _F_R0] = r0_ref[su, j]
                cells[su, qj + _F_R1] = r1_ref[su, j]
                cells[su, qj + _F_SD] = sd[su, j]
            for b in range(_u(n_b)):
                de = math.exp(-dt * g_th[su, b] / c_th[su, b])
                work[su, o_dec + b] = de
                work[su, o_odec + b] = 1.0 - de
            if n_par > 1:
                for p in range(_u(n_par)):
                    kf = 0.0
                    kl = 0.0
                    kh = 0.0
                    for j in range(p * _u(n_ser * n_cell), (p + _u(1)) * _u(n_ser * n_cell)):
                        so = soc[su, j]
                        ix = int((so - soc_min) * inv_step)
                        ix = min(max(ix, 0), n_tab - 2)
                        w = (table[_u(ix + 1)] - table[_u(ix)]) * inv_q[su, j]
                        if so <= clamp_lo:
                            kl += w
                        elif so >= clamp_hi:
                            kh += w
                        else:
                            kf += w
                    work[su, o_kf + p] = kf
                    work[su, o_kl + p] = kl
                    work[su, o_kh + p] = kh
            work[su, _W_SOURCES_OK] = 0.0
            work[su, _W_R_EFF_AT_DT] = 0.0
        for _step in range(n_sub):
            for s in range(s0, s1):
                su = _u(s)
                work[su, _W_H] = dt
                work[su, _W_A_H] = a
                work[su, _W_LEFT] = 1.0
                work[su, _W_DONE] = 0.0
                work[su, _W_MICRO] = 0.0
                if work[su, _W_R_EFF_AT_DT] == 0.0:
                    for j in range(_u(n_cells)):
                        qj = j * _NF
                        cells[su, qj + _F_RR] = (
                            cells[su, qj + _F_R0] + one_a * cells[su, qj + _F_R1]
                        )
                    work[su, _W_R_EFF_AT_DT] = 1.0
                    work[su, _W_SOURCES_OK] = 0.0
            active = s1 - s0
            while active > 0:
                # (A) sources and split
                for s in range(s0, s1):
                    su = _u(s)
                    left = work[su, _W_LEFT]
                    if left == 0.0:
                        continue
                    h = work[su, _W_H]
                    a_h = work[su, _W_A_H]
                    while True:
                        # string Thevenin sources for the end of this step (normally left by
                        # the last step)
                        if work[su, _W_SOURCES_OK] == 0.0:
                            for p in range(_u(n_par)):
                                e = 0.0
                                r = 0.0
                                for b in range(p * _u(n_ser), (p + _u(1)) * _u(n_ser)):
                                    arr_b = arr[su, b]
                                    for j in range(b * _u(n_cell), (b + _u(1)) * _u(n_cell)):
                                        qj = j * _NF
                                        r_eff = cells[su, qj + _F_RR] * (
                                            cells[su, qj + _F_G] * arr_b
                                        )
                                        e += (cells[su, qj + _F_OCV] + a_h * cells[su, qj + _F_V1]
                                              - r_eff * cells[su, qj + _F_BLEED])
                                        r += r_eff
                                work[su, o_e + p] = e
                                work[su, o_r + p] = r
                            work[su, _W_SOURCES_OK] = 1.0
                        # parallel split
                        g_sum = 0.0
                        eg_sum = 0.0
                        for p in range(_u(n_par)):
                            r = work[su, o_r + p]
                            g_sum += 1.0 / r
                            eg_sum += work[su, o_e + p] / r
                        v_bank = (i_bank[s] + eg_sum) / g_sum
                        if n_par > 1:
                            # too stiff for one explicit step of h: take the rest in shorter
                            # steps
                            lam = 0.0
                            for p in range(_u(n_par)):
                                r = work[su, o_r + p]
                                i_p = (v_bank - work[su, o_e + p]) / r
                                kk = work[su, o_kf + p]
                                if i_p > 0.0:
                                    kk += work[su, o_kl + p]
                                elif i_p < 0.0:
                                    kk += work[su, o_kh + p]
                                lam = max(lam, kk / r)
                            lam *= h * inv_step
                            if lam > SPLIT_STIFFNESS_LIMIT:
                                n_left = int(left)
                                n_new = min(math.ceil(n_left * lam / SPLIT_STIFFNESS_MICRO),
                                            SPLIT_MAX_MICRO_STEPS - int(work[su, _W_DONE]))
                                if n_new > n_left:
                                    h = h * n_left / n_new
                                    left = float(n_new)
                                    a_h = math.exp(-h / tau1)
                                    one_a_h = 1.0 - a_h
                                    for b in range(_u(n_b)):
                                        de = math.exp(-h * g_th[su, b] / c_th[su, b])
                                        work[su, o_dech + b] = de
                                        work[su, o_odech + b] = 1.0 - de
                                    for j in range(_u(n_cells)):
                                        qj = j * _NF
                                        cells[su, qj + _F_RR] = (
                                            cells[su, qj + _F_R0] + one_a_h * cells[su, qj + _F_R1]
                                        )
                                    work[su, _W_H] = h
                                    work[su, _W_A_H] = a_h
                                    work[su, _W_LEFT] = left
                                    work[su, _W_MICRO] = 1.0
                                    work[su, _W_R_EFF_AT_DT] = 0.0
                                    work[su, _W_SOURCES_OK] = 0.0
                                    continue
                        break
                    for p in range(_u(n_par)):
                        i_string[su, p] = (v_bank - work[su, o_e + p]) / work[su, o_r + p]
                # (B) cells and battery temperatures
                for s in range(s0, s1):
                    su = _u(s)
                    if work[su, _W_LEFT] == 0.0:
                        continue
                    h = work[su, _W_H]
                    a_h = work[su, _W_A_H]
                    one_a_h = 1.0 - a_h
                    o_d = o_dec
                    o_od = o_odec
                    if work[su, _W_MICRO] != 0.0:
                        o_d = o_dech
                        o_od = o_odech
                    amb = ambient[s]
                    t_min = ext[su, 4]
                    t_max = ext[su, 5]
                    term = 0.0
                    for p in range(_u(n_par)):
                        i_p = i_string[su, p]
                        kf = 0.0
                        kl = 0.0
                        kh = 0.0
                        for b in range(p * _u(n_ser), (p + _u(1)) * _u(n_ser)):
                            arr_b = arr[su, b]
                            heat = 0.0
                            v_sum = 0.0
                            q0 = b * _u(n_cell) * _NF
                            q1 = q0 + _u(n_cell) * _NF
                            for q in range(q0, q1, _NF):
                                ib = cells[su, q + _F_BLEED]
                                i_c = i_p - ib
                                sc = cells[su, q + _F_G] * arr_b
                                r0_r = cells[su, q + _F_R0]
                                r0 = r0_r * sc
                                r1 = cells[su, q + _F_R1] * sc
                                v1n = a_h * cells[su, q + _F_V1] + one_a_h * r1 * i_c
                                inv_qj = cells[su, q + _F_INVQ]
                                so = (cells[su, q + _F_SOC] + i_c * h * inv_qj
                                      - cells[su, q + _F_SD] * h)
                                so = min(max(so, clamp_lo), clamp_hi)
                                x = (so - soc_min) * inv_step
                                ix = int(x)
                                ix = min(max(ix, 0), n_tab - 2)
                                lo = table[_u(ix)]
                                dv = table[_u(ix + 1)] - lo
                                oc = lo + (x - ix) * dv
                                if n_par > 1:
                                    w = dv * inv_qj
                                    if so <= clamp_lo:
                                        kl += w
                                    elif so >= clamp_hi:
                                        kh += w
                                    else:
                                        kf += w
                                d = 2.0 * min(max(so, 0.0), 1.0) - 1.0
                                gn = 1.0 + k_soc * d * d
                                vc = oc + v1n + r0_r * gn * arr_b * i_c
                                heat += (r0 * i_c + v1n) * i_c + ib * ib * r_bleed
                                cells[su, q + _F_SOC] = so
                                cells[su, q + _F_V1] = v1n
                                cells[su, q + _F_OCV] = oc
                                cells[su, q + _F_G] = gn
                                cells[su, q + _F_V] = vc
                                v_sum += vc
                            # the battery's lumped thermal model
                            t_old = temp[su, b]
                            t = (amb + (t_old - amb) * work[su, o_d + b]
                                 + heat / g_th[su, b] * work[su, o_od + b])
                            work[su, o_tnew + b] = 0.0
                            if t != t_old:  # else the Arrhenius factor is unchanged
                                temp[su, b] = t
                                work[su, o_tnew + b] = 1.0
                            t_min = min(t_min, t)
                            t_max = max(t_max, t)
                            work[su, o_vsum + b] = v_sum
                            term += v_sum
                        work[su, o_kf + p] = kf
                        work[su, o_kl + p] = kl
                        work[su, o_kh + p] = kh
                    term /= n_par
                    v_term[su] = term
                    ext[su, 2] = min(ext[su, 2], term)
                    ext[su, 3] = max(ext[su, 3], term)
                    ext[su, 4] = t_min
                    ext[su, 5] = t_max
                # (C) Arrhenius, balancing, damage, extremes, sources for the next step
                for s in range(s0, s1):
                    su = _u(s)
                    left = work[su, _W_LEFT]
                    if left == 0.0:
                        continue
                    a_h = work[su, _W_A_H]
                    v_min = ext[su, 0]
                    v_max = ext[su, 1]
                    for p in range(_u(n_par)):
                        e_next = 0.0
                        r_next = 0.0
                        for b in range(p * _u(n_ser), (p + _u(1)) * _u(n_ser)):
                            if work[su, o_tnew + b] != 0.0:
                                t = temp[su, b]
                                arr[su, b] = math.exp(ea_r * (1.0 / (t + 273.15) - 1.0 / t_ref))
                            arr_b = arr[su, b]
                            mean = work[su, o_vsum + b] / n_cell
                            hurt = False
                            q0 = b * _u(n_cell) * _NF
                            q1 = q0 + _u(n_cell) * _NF
                            for q in range(q0, q1, _NF):
                                vc = cells[su, q + _F_V]
                                ib = 0.0
                                if vc > bal_v and vc - mean > bal_dv:
                                    ib = vc / r_bleed
                                cells[su, q + _F_BLEED] = ib
                                hurt |= vc < damage_v
                                v_min = min(v_min, vc)
                                v_max = max(v_max, vc)
                                # the string's source for the next step (same order as (A))
                                r_eff = cells[su, q + _F_RR] * (cells[su, q + _F_G] * arr_b)
                                e_next += (cells[su, q + _F_OCV] + a_h * cells[su, q + _F_V1]
                                           - r_eff * ib)
                                r_next += r_eff
                            if hurt:
                                damaged[su, b] = True
                        work[su, o_e + p] = e_next
                        work[su, o_r + p] = r_next
                    ext[su, 0] = v_min
                    ext[su, 1] = v_max
                    work[su, _W_DONE] += 1.0
                    work[su, _W_LEFT] = left - 1.0
                    if left == 1.0:
                        active -= 1
        for s in range(s0, s1):
            # end of the call: unpack the cells' state
            su = _u(s)
            for j in range(_u(n_cells)):
                qj = j * _NF
                soc[su, j] = cells[su, qj + _F_SOC]
                v1[su, j] = cells[su, qj + _F_V1]
                ocv[su, j] = cells[su, qj + _F_OCV]
                gfac[su, j] = cells[su, qj + _F_G]
                cell_v[su, j] = cells[su, qj + _F_V]
                bleed[su, j] = cells[su, qj + _F_BLEED]


def _all_systems(
    n_chunks: int,
    n_sub: int, dt: float, i_bank: Any, n_par: int, n_ser: int, n_cell: int,
    soc: Any, v1: Any, ocv: Any, gfac: Any, cell_v: Any, bleed: Any,
    inv_q: Any, r0_ref: Any, r1_ref: Any, sd: Any,
    temp: Any, arr: Any, damaged: Any, c_th: Any, g_th: Any, ambient: Any,
    table: Any, soc_min: float, inv_step: float, clamp_lo: float, clamp_hi: float,
    k_soc: float, tau1: float, ea_r: float, t_ref: float,
    bal_v: float, bal_dv: float, r_bleed: float, damage_v: float,
    i_string: Any, v_term: Any, ext: Any,
) -> None:
    """Every system: ``n_chunks`` runs of systems in parallel (``prange``), each stepped by
    :func:`_systems`. One allocation of the scratch and the packed cells per call."""
    n_sys = soc.shape[0]
    work = np.empty((n_sys, _work_width_jit(n_par, n_ser)))
    cells = np.empty((n_sys, n_par * n_ser * n_cell * _NF_INT))
    for c in _prange(n_chunks):
        _systems_jit(
            c * n_sys // n_chunks, (c + 1) * n_sys // n_chunks,
            n_sub, dt, i_bank, n_par, n_ser, n_cell, soc, v1, ocv, gfac, cell_v, bleed,
            inv_q, r0_ref, r1_ref, sd, temp, arr, damaged, c_th, g_th, ambient, table, soc_min,
            inv_step, clamp_lo, clamp_hi, k_soc, tau1, ea_r, t_ref, bal_v, bal_dv, r_bleed,
            damage_v, i_string, v_term, ext, work, cells,
        )


def _all_systems_serial(
    n_sub: int, dt: float, i_bank: Any, n_par: int, n_ser: int, n_cell: int,
    soc: Any, v1: Any, ocv: Any, gfac: Any, cell_v: Any, bleed: Any,
    inv_q: Any, r0_ref: Any, r1_ref: Any, sd: Any,
    temp: Any, arr: Any, damaged: Any, c_th: Any, g_th: Any, ambient: Any,
    table: Any, soc_min: float, inv_step: float, clamp_lo: float, clamp_hi: float,
    k_soc: float, tau1: float, ea_r: float, t_ref: float,
    bal_v: float, bal_dv: float, r_bleed: float, damage_v: float,
    i_string: Any, v_term: Any, ext: Any,
) -> None:
    """Every system on the calling thread (as :func:`_all_systems` with one run)."""
    n_sys = soc.shape[0]
    work = np.empty((n_sys, _work_width_jit(n_par, n_ser)))
    cells = np.empty((n_sys, n_par * n_ser * n_cell * _NF_INT))
    _systems_jit(
        0, n_sys,
        n_sub, dt, i_bank, n_par, n_ser, n_cell, soc, v1, ocv, gfac, cell_v, bleed,
        inv_q, r0_ref, r1_ref, sd, temp, arr, damaged, c_th, g_th, ambient, table, soc_min,
        inv_step, clamp_lo, clamp_hi, k_soc, tau1, ea_r, t_ref, bal_v, bal_dv, r_bleed,
        damage_v, i_string, v_term, ext, work, cells,
    )


#: Compiler options of the kernel: no ``fastmath`` (it would reorder the sums and fuse
#: multiply-adds, which moves results); ``error_model="numpy"`` drops the zero-division checks
#: on every division (a zero divisor cannot occur with valid parameters).
_JIT_OPTIONS: dict[str, Any] = {"cache": True, "fastmath": False, "error_model": "numpy"}


if _numba is not None:  # pragma: no branch
    _prange: Any = _numba.prange
    _work_width_jit: Any = _numba.njit(**_JIT_OPTIONS)(_work_width)
    _systems_jit: Any = _numba.njit(**_JIT_OPTIONS)(_systems)
    _all_systems_jit: Any = _numba.njit(parallel=True, **_JIT_OPTIONS)(_all_systems)
    _all_systems_serial_jit: Any = _numba.njit(**_JIT_OPTIONS)(_all_systems_serial)
else:  # pragma: no cover
    _prange = range
    _work_width_jit = _work_width
    _systems_jit = _systems
    _all_systems_jit = _all_systems
    _all_systems_serial_jit = _all_systems_serial

_row_extremes_impl: Any = (
    _numba.njit(**_JIT_OPTIONS)(_row_extremes) if _numba is not None else _row_extremes)

#: Below this many systems the kernel runs on one thread: waking the thread pool for a few
#: microseconds of work costs more than it saves (and stalls when the machine is busy).
PARALLEL_MIN_SYSTEMS = 16


def _kernel_args(
    state: KernelState, topo: Topology, k: KernelConstants, dt_s: float, n_sub: int,
    bank_current_a: FloatArray,
) -> tuple[Any, ...]:
    """The arguments of :func:`_systems` / :func:`_all_systems` after the systems' range."""
    return (
        n_sub, dt_s, bank_current_a, topo.parallel, topo.series, topo.cells,
        state.soc, state.v1_v, state.ocv_v, state.soc_factor, state.cell_v, state.bleed_a,
        state.inv_capacity_as, state.r0_ref_ohm, state.r1_ref_ohm, state.self_discharge_per_s,
        state.temperature_c, state.arrhenius, state.damaged, state.heat_capacity_j_per_k,
        state.conductance_w_per_k, state.ambient_c,
        k.ocv_table_v, k.soc_min, k.soc_inv_step, k.soc_clamp_min, k.soc_clamp_max,
        k.soc_factor_k, k.tau1_s, k.ea_over_r_k, k.reference_temperature_k,
        k.balance_start_v, k.balance_above_mean_v, k.bleed_resistance_ohm, k.damage_cell_v,
        state.string_current_a, state.terminal_v, state.extremes,
    )


def _scratch(state: KernelState, topo: Topology) -> tuple[Any, ...]:
    """Scratch rows and packed cells for :func:`_systems`, a row per system."""
    n_sys = state.soc.shape[0]
    return (np.empty((n_sys, _work_width(topo.parallel, topo.series))),
            np.empty((n_sys, topo.total_cells * _NF_INT)))


def advance_numba(
    state: KernelState, topo: Topology, k: KernelConstants, dt_s: float, n_sub: int,
    bank_current_a: FloatArray,
) -> None:
    """Advance every system by ``n_sub`` sub-steps of ``dt_s`` (fused Numba kernel).

    Parallel over systems (one run of systems per thread) when there are at least
    ``PARALLEL_MIN_SYSTEMS`` of them. Without numba installed this runs the same loops in pure
    Python (slow; use NumPy instead).
    """
    args = _kernel_args(state, topo, k, dt_s, n_sub, bank_current_a)
    n_sys = state.soc.shape[0]
    if n_sys >= PARALLEL_MIN_SYSTEMS and _numba is not None:
        _all_systems_jit(min(_numba.get_num_threads(), n_sys), *args)
    else:
        _all_systems_serial_jit(*args)


def advance_python(
    state: KernelState, topo: Topology, k: KernelConstants, dt_s: float, n_sub: int,
    bank_current_a: FloatArray,
) -> None:
    """The kernel's loops run by the Python interpreter: the naive per-cell reference."""
    args = _kernel_args(state, topo, k, dt_s, n_sub, bank_current_a)
    _systems(0, state.soc.shape[0], *args, *_scratch(state, topo))


def default_advance() -> AdvanceFn:
    """The fastest available implementation: Numba if installed, else NumPy."""
    return advance_numba if NUMBA_AVAILABLE else advance_numpy
