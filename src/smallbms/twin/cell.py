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
available) and a fused Numba kernel (used when ``numba`` is installed).
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


def _system_kernel(
    s: int, n_sub: int, dt: float, i_bank: float, n_par: int, n_ser: int, n_cell: int,
    soc: Any, v1: Any, ocv: Any, gfac: Any, cell_v: Any, bleed: Any,
    inv_q: Any, r0_ref: Any, r1_ref: Any, sd: Any,
    temp: Any, arr: Any, damaged: Any, c_th: Any, g_th: Any, ambient: Any,
    table: Any, soc_min: float, inv_step: float, clamp_lo: float, clamp_hi: float,
    k_soc: float, tau1: float, ea_r: float, t_ref: float,
    bal_v: float, bal_dv: float, r_bleed: float, damage_v: float,
    i_string: Any, v_term: Any, ext: Any,
) -> None:
    """One system, ``n_sub`` sub-steps: the same arithmetic as the NumPy path, fused."""
    a = math.exp(-dt / tau1)
    one_a = 1.0 - a
    n_b = n_par * n_ser
    per_string = n_ser * n_cell
    n_tab = table.shape[0]
    work = np.zeros(5 * n_par + 2 * n_b)  # one allocation per call
    e_p = work[:n_par]
    r_p = work[n_par : 2 * n_par]
    # OCV stiffness of each string (see split_stiffness), kept current by the cell loop below
    k_free = work[2 * n_par : 3 * n_par]
    k_lo = work[3 * n_par : 4 * n_par]
    k_hi = work[4 * n_par : 5 * n_par]
    decay = work[5 * n_par : 5 * n_par + n_b]
    decay_h = work[5 * n_par + n_b :]
    for b in range(n_b):
        decay[b] = math.exp(-dt * g_th[s, b] / c_th[s, b])
    amb = ambient[s]
    if n_par > 1:
        for p in range(n_par):
            for j in range(p * per_string, (p + 1) * per_string):
                so = soc[s, j]
                ix = int((so - soc_min) * inv_step)
                ix = min(max(ix, 0), n_tab - 2)
                w = (table[ix + 1] - table[ix]) * inv_q[s, j]
                if so <= clamp_lo:
                    k_lo[p] += w
                elif so >= clamp_hi:
                    k_hi[p] += w
                else:
                    k_free[p] += w
    for _step in range(n_sub):
        h = dt
        a_h = a
        one_a_h = one_a
        dec = decay
        left = 1  # steps of h still to take in this sub-step
        done = 0
        while left > 0:
            # 1. string Thevenin sources for the end of this step
            g_sum = 0.0
            eg_sum = 0.0
            for p in range(n_par):
                e = 0.0
                r = 0.0
                for j in range(p * per_string, (p + 1) * per_string):
                    sc = gfac[s, j] * arr[s, j // n_cell]
                    r_eff = (r0_ref[s, j] + one_a_h * r1_ref[s, j]) * sc
                    e += ocv[s, j] + a_h * v1[s, j] - r_eff * bleed[s, j]
                    r += r_eff
                e_p[p] = e
                r_p[p] = r
                g_sum += 1.0 / r
                eg_sum += e / r
            # 2. parallel split
            v_bank = (i_bank + eg_sum) / g_sum
            if n_par > 1:
                # too stiff for one explicit step of h: take the rest in shorter steps
                lam = 0.0
                for p in range(n_par):
                    i_p = (v_bank - e_p[p]) / r_p[p]
                    kk = k_free[p]
                    if i_p > 0.0:
                        kk += k_lo[p]
                    elif i_p < 0.0:
                        kk += k_hi[p]
                    lam = max(lam, kk / r_p[p])
                lam *= h * inv_step
                if lam > SPLIT_STIFFNESS_LIMIT:
                    n_new = min(math.ceil(left * lam / SPLIT_STIFFNESS_MICRO),
                                SPLIT_MAX_MICRO_STEPS - done)
                    if n_new > left:
                        h = h * left / n_new
                        left = n_new
                        a_h = math.exp(-h / tau1)
                        one_a_h = 1.0 - a_h
                        for b in range(n_b):
                            decay_h[b] = math.exp(-h * g_th[s, b] / c_th[s, b])
                        dec = decay_h
                        continue
            term = 0.0
            for p in range(n_par):
                i_p = (v_bank - e_p[p]) / r_p[p]
                i_string[s, p] = i_p
                kf = 0.0
                kl = 0.0
                kh = 0.0
                for bs in range(n_ser):
                    b = p * n_ser + bs
                    arr_b = arr[s, b]
                    heat = 0.0
                    v_sum = 0.0
                    # 3. cells
                    for j in range(b * n_cell, (b + 1) * n_cell):
                        i_c = i_p - bleed[s, j]
                        sc = gfac[s, j] * arr_b
                        r0 = r0_ref[s, j] * sc
                        r1 = r1_ref[s, j] * sc
                        v1n = a_h * v1[s, j] + one_a_h * r1 * i_c
                        so = soc[s, j] + i_c * h * inv_q[s, j] - sd[s, j] * h
                        so = min(max(so, clamp_lo), clamp_hi)
                        x = (so - soc_min) * inv_step
                        ix = int(x)
                        ix = min(max(ix, 0), n_tab - 2)
                        lo = table[ix]
                        dv = table[ix + 1] - lo
                        o = lo + (x - ix) * dv
                        if n_par > 1:
                            w = dv * inv_q[s, j]
                            if so <= clamp_lo:
                                kl += w
                            elif so >= clamp_hi:
                                kh += w
                            else:
                                kf += w
                        d = 2.0 * min(max(so, 0.0), 1.0) - 1.0
                        gn = 1.0 + k_soc * d * d
                        vc = o + v1n + r0_ref[s, j] * gn * arr_b * i_c
                        ib = bleed[s, j]
                        heat += (r0 * i_c + v1n) * i_c + ib * ib * r_bleed
                        soc[s, j] = so
                        v1[s, j] = v1n
                        ocv[s, j] = o
                        gfac[s, j] = gn
                        cell_v[s, j] = vc
                        v_sum += vc
                    # 4. battery: thermal, Arrhenius, balancing, damage
                    t = temp[s, b]
                    de = dec[b]
                    t = amb + (t - amb) * de + heat / g_th[s, b] * (1.0 - de)
                    temp[s, b] = t
                    arr[s, b] = math.exp(ea_r * (1.0 / (t + 273.15) - 1.0 / t_ref))
                    mean = v_sum / n_cell
                    for j in range(b * n_cell, (b + 1) * n_cell):
                        vc = cell_v[s, j]
                        if vc > bal_v and vc - mean > bal_dv:
                            bleed[s, j] = vc / r_bleed
                        else:
                            bleed[s, j] = 0.0
                        if vc < damage_v:
                            damaged[s, b] = True
                        ext[s, 0] = min(ext[s, 0], vc)
                        ext[s, 1] = max(ext[s, 1], vc)
                    ext[s, 4] = min(ext[s, 4], t)
                    ext[s, 5] = max(ext[s, 5], t)
                    term += v_sum
                k_free[p] = kf
                k_lo[p] = kl
                k_hi[p] = kh
            term /= n_par
            v_term[s] = term
            ext[s, 2] = min(ext[s, 2], term)
            ext[s, 3] = max(ext[s, 3], term)
            left -= 1
            done += 1


def _all_systems(
    n_sub: int, dt: float, i_bank: Any, n_par: int, n_ser: int, n_cell: int,
    soc: Any, v1: Any, ocv: Any, gfac: Any, cell_v: Any, bleed: Any,
    inv_q: Any, r0_ref: Any, r1_ref: Any, sd: Any,
    temp: Any, arr: Any, damaged: Any, c_th: Any, g_th: Any, ambient: Any,
    table: Any, soc_min: float, inv_step: float, clamp_lo: float, clamp_hi: float,
    k_soc: float, tau1: float, ea_r: float, t_ref: float,
    bal_v: float, bal_dv: float, r_bleed: float, damage_v: float,
    i_string: Any, v_term: Any, ext: Any,
) -> None:
    """Every system, in parallel over the system axis (``prange`` under Numba)."""
    for s in _prange(soc.shape[0]):
        _system_kernel_jit(
            s, n_sub, dt, i_bank[s], n_par, n_ser, n_cell, soc, v1, ocv, gfac, cell_v, bleed,
            inv_q, r0_ref, r1_ref, sd, temp, arr, damaged, c_th, g_th, ambient,
            table, soc_min, inv_step, clamp_lo, clamp_hi, k_soc, tau1, ea_r, t_ref,
            bal_v, bal_dv, r_bleed, damage_v, i_string, v_term, ext,
        )


if _numba is not None:  # pragma: no branch
    _prange: Any = _numba.prange
    _system_kernel_jit: Any = _numba.njit(cache=True, fastmath=False)(_system_kernel)
    _all_systems_jit: Any = _numba.njit(parallel=True, cache=True, fastmath=False)(_all_systems)
    _all_systems_serial_jit: Any = _numba.njit(cache=True, fastmath=False)(_all_systems)
else:  # pragma: no cover
    _prange = range
    _system_kernel_jit = _system_kernel
    _all_systems_jit = _all_systems
    _all_systems_serial_jit = _all_systems

#: Below this many systems the kernel runs on one thread: waking the thread pool for a few
#: microseconds of work costs more than it saves (and stalls when the machine is busy).
PARALLEL_MIN_SYSTEMS = 16


def advance_numba(
    state: KernelState, topo: Topology, k: KernelConstants, dt_s: float, n_sub: int,
    bank_current_a: FloatArray,
) -> None:
    """Advance every system by ``n_sub`` sub-steps of ``dt_s`` (fused Numba kernel).

    Parallel over systems when there are at least ``PARALLEL_MIN_SYSTEMS`` of them. Without
    numba installed this runs the same loops in pure Python (slow; use NumPy instead).
    """
    fn = _all_systems_jit if state.soc.shape[0] >= PARALLEL_MIN_SYSTEMS else _all_systems_serial_jit
    fn(
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


def advance_python(
    state: KernelState, topo: Topology, k: KernelConstants, dt_s: float, n_sub: int,
    bank_current_a: FloatArray,
) -> None:
    """The kernel's loops run by the Python interpreter: the naive per-cell reference."""
    for s in range(state.soc.shape[0]):
        _system_kernel(
            s, n_sub, dt_s, float(bank_current_a[s]), topo.parallel, topo.series, topo.cells,
            state.soc, state.v1_v, state.ocv_v, state.soc_factor, state.cell_v, state.bleed_a,
            state.inv_capacity_as, state.r0_ref_ohm, state.r1_ref_ohm,
            state.self_discharge_per_s, state.temperature_c, state.arrhenius, state.damaged,
            state.heat_capacity_j_per_k, state.conductance_w_per_k, state.ambient_c,
            k.ocv_table_v, k.soc_min, k.soc_inv_step, k.soc_clamp_min, k.soc_clamp_max,
            k.soc_factor_k, k.tau1_s, k.ea_over_r_k, k.reference_temperature_k,
            k.balance_start_v, k.balance_above_mean_v, k.bleed_resistance_ohm,
            k.damage_cell_v, state.string_current_a, state.terminal_v, state.extremes,
        )


def default_advance() -> AdvanceFn:
    """The fastest available implementation: Numba if installed, else NumPy."""
    return advance_numba if NUMBA_AVAILABLE else advance_numpy
