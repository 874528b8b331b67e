"""The twin's quiet stretch in one compiled call.

:meth:`smallbms.sources.twin.TwinSource.quiet_until` steps the physics segment by segment while
everything stays inside the core's quiet region: step the bank, count the charge, check the
region, re-solve the component currents, schedule the next re-solve. For one battery a segment
is a few microseconds of arithmetic wrapped in ~60 µs of Python calls, and a simulated year
holds ~300,000 of them. :func:`run` does the same loop in one Numba call: the bank's own fused
kernel (:func:`smallbms.twin.cell._systems`), the compiled Thevenin view, the component table
(:mod:`smallbms.twin.component_table`), the core's own region check
(:func:`smallbms.core.quiet.holds_values`) and coulomb counter
(:func:`smallbms.core.monitor.counted_ah`), and the twin's own re-solve schedule
(:mod:`smallbms.sources.resolve_schedule`), all
compiled from the same Python functions the interpreted path calls. Each step is the same
arithmetic in the same order, so a run gives the same events byte for byte with or without it
(tests/twin/test_quiet_loop.py).

:func:`run` answers ``None`` when the stretch is not one it covers (Numba missing, several
systems, a forced cell or temperature, a bank beyond the compiled view, a component type the
table does not know); the twin then takes the interpreted path. It may also stop early, at a
clean point (a next sunrise beyond its sun table: a polar night), and leave the rest to the
interpreted loop.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from smallbms.core.monitor import counted_ah
from smallbms.core.quiet import QuietRegion, RegionBounds, holds_values, soc_change_pct
from smallbms.sources.resolve_schedule import coast_after, schedule
from smallbms.twin import cell as kernel
from smallbms.twin import component_table as ctab
from smallbms.twin import thevenin as compiled_thevenin
from smallbms.twin.bank import reported_temperature_c
from smallbms.twin.components import SOLAR_DAYLIGHT_STEP_S

_numba: Any
try:  # pragma: no cover - exercised when numba is installed
    import numba as _numba
    import numba.extending  # noqa: F401 - register_jitable below
except ImportError:  # pragma: no cover
    _numba = None

class Twin(Protocol):
    """What the loop reads and writes of :class:`smallbms.sources.twin.TwinSource` (its changing
    state ``st`` is stepped in place)."""

    st: Any
    component_table: ctab.ComponentTable | None
    compiled_quiet: bool
    resolve_s: float
    bms_powered: bool
    exit_window_s: float
    temperature_guard_c: float
    _view_ratings: tuple[float, float, float, float]

    def _resolve(self, on_grid: bool = False) -> None: ...


#: the sun and cloud tables cover at least this far ahead of a stretch's start, s (built once a
#: week rather than for every stretch)
TABLE_AHEAD_S = 7 * 86_400.0
#: the bounds passed when no region is checked
_NO_REGION = QuietRegion((-math.inf, math.inf), (-math.inf, math.inf), (-math.inf, math.inf),
                         (-math.inf, math.inf), (-math.inf, math.inf), (-math.inf, math.inf),
                         (-math.inf, math.inf), None).bounds
#: outcomes of the compiled loop
DONE, LEFT_REGION, HAND_BACK = 0, 1, 2
#: slots of the float results
R_T, R_NEXT_RESOLVE, R_CURRENT, R_WINDOW = range(4)
#: slots of the integer results
I_STATUS, I_COAST, I_ON_GRID, I_RESOLVE_PENDING, I_RESOLVED, I_DAMAGED = range(6)


def holds_as_reported(b: RegionBounds, guard_c: float, min_cell_v: float, max_cell_v: float,
                      min_bank_v: float, max_bank_v: float, min_t: float, max_t: float,
                      end_min_cell_v: float, end_max_cell_v: float, end_min_t: float,
                      end_max_t: float, current_a: float, charged_ah: float,
                      discharged_ah: float) -> bool:
    """The twin's quiet check of a physics segment (:func:`holds_values` on the region's
    ``b``ounds): cell voltages, bank voltage and current raw (the region is narrowed for their
    rounding, :func:`smallbms.sources.twin.region_for_reports`), the temperatures as the
    batteries report them, rounded, with the raw values moved ``guard_c`` either way first
    (rounding is monotonic, so the reported extremes are the rounded raw ones; checked once
    moved down and once moved up, each bound is met by the value moved towards it). The
    interpreted and the compiled path both call this."""
    for shift in (-guard_c, guard_c):
        if not holds_values(b, min_cell_v, max_cell_v, min_bank_v, max_bank_v,
                            reported_temperature_c(min_t + shift),
                            reported_temperature_c(max_t + shift), end_min_cell_v,
                            end_max_cell_v, reported_temperature_c(end_min_t + shift),
                            reported_temperature_c(end_max_t + shift), current_a, charged_ah,
                            discharged_ah):
            return False
    return True


def _copy1(dst: Any, src: Any) -> None:
    """``dst[:] = src`` for a small 1-D array, as a plain loop (a slice assignment costs
    ~25 ns of set-up in compiled code; the loop copies its state once per segment)."""
    for i in range(src.shape[0]):
        dst[i] = src[i]


def _copy2(dst: Any, src: Any) -> None:
    """``dst[:, :] = src`` for a small 2-D array (see :func:`_copy1`)."""
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]


def _copy_bank(dst: Any, src: Any) -> None:
    """The loop's changing state, tuple ``src`` into tuple ``dst`` (see :func:`_stretch`):
    eleven 2-D arrays, then four 1-D ones."""
    _copy2(dst[0], src[0])
    _copy2(dst[1], src[1])
    _copy2(dst[2], src[2])
    _copy2(dst[3], src[3])
    _copy2(dst[4], src[4])
    _copy2(dst[5], src[5])
    _copy2(dst[6], src[6])
    _copy2(dst[7], src[7])
    _copy2(dst[8], src[8])
    _copy2(dst[9], src[9])
    _copy2(dst[10], src[10])
    _copy1(dst[11], src[11])
    _copy1(dst[12], src[12])
    _copy1(dst[13], src[13])
    _copy1(dst[14], src[14])


def _stretch(
    t: float, t_end: float, resolve_s: float, bms_draw_a: float, load_disconnect: bool,
    charge_disconnect: bool, region: Any, c0: float, d0: float,
    counter: Any, span: Any, damaged_at: Any, fres: Any, ires: Any,
    kargs: Any, work: Any, cells: Any, max_substep_s: float, bank_ah: Any,
    n_par: int, n_ser: int, n_cell: int, tau1: float,
    ratings: Any, tab: Any, currents: Any, negative_zero: bool, check_region: bool,
    piece_s: float, guard_c: float,
) -> None:
    """:meth:`TwinSource.quiet_until` (see the module doc). The changing state comes in and goes
    out through ``fres``/``ires`` (time, next re-solve, net current, exit window; status,
    coast, whether the next re-solve is a grid point), ``counter`` (charged, discharged Ah),
    ``span`` (the running extremes), ``damaged_at`` (NaN: not damaged), ``bank_ah`` (the
    bank's own totals), ``currents`` (the components' currents) and the arrays of the bank and
    the component table, which are stepped in place.

    Without ``check_region`` this is :meth:`TwinSource.advance_to` (an empty segment is
    skipped rather than looked at). A finite ``piece_s`` steps the present segment in pieces of
    at most that length, without re-solving (:meth:`TwinSource.locate_exit`)."""
    (i_bank, k_par, k_ser, k_cell, soc, v1, ocv, gfac, cell_v, bleed, inv_q, r0, r1, sd, temp,
     arr, damaged, c_th, g_th, ambient, table, soc_min, inv_step, clamp_lo, clamp_hi, k_soc,
     tau, ea_r, t_ref, bal_v, bal_dv, r_bleed, damage_v, i_string, v_term, ext) = kargs
    n_sys = soc.shape[0]  # typed as the kernel's own serial entry point calls it (one compile)
    ints, floats, state, prof_t, prof_v, prof_c, win, sun, clouds = tab
    nominal_v, capacity_ah, charge_v, float_v = ratings
    n_b = damaged.shape[1]
    net = fres[R_CURRENT]
    next_resolve = fres[R_NEXT_RESOLVE]
    coast = ires[I_COAST]
    on_grid = ires[I_ON_GRID] != 0
    status = DONE
    # with the region checked, the bank and the counters as they were at the start of the
    # present segment: a segment that leaves the region is undone, and the twin stays where
    # it was still quiet
    now = (soc, v1, ocv, gfac, cell_v, bleed, temp, arr, damaged, i_string, ext,
           v_term, bank_ah, counter, i_bank)
    kept = (soc.copy(), v1.copy(), ocv.copy(), gfac.copy(), cell_v.copy(), bleed.copy(),
            temp.copy(), arr.copy(), damaged.copy(), i_string.copy(), ext.copy(),
            v_term.copy(), bank_ah.copy(), counter.copy(), i_bank.copy())
    while t < t_end - 1e-9:
        start = t
        end = min(t_end, t + piece_s) if piece_s < math.inf else min(t_end, next_resolve)
        dt = end - start
        if check_region:
            _copy_bank(kept, now)
        if not check_region and not dt > 0.0:
            t = end
            if t >= next_resolve - 1e-9 and piece_s == math.inf:
                ires[I_RESOLVE_PENDING] = 1  # rare: the interpreted path re-solves
                status = HAND_BACK
                break
            continue
        if not 0.0 <= dt < math.inf:
            status = HAND_BACK  # the interpreted path raises the bank's error
            break
        # BankModel.step(dt, net)
        i_bank[0] = net
        ext[0, 0] = math.inf
        ext[0, 1] = -math.inf
        ext[0, 2] = math.inf
        ext[0, 3] = -math.inf
        ext[0, 4] = math.inf
        ext[0, 5] = -math.inf
        if dt == 0.0:
            for j in range(cell_v.shape[1]):
                ext[0, 0] = min(ext[0, 0], cell_v[0, j])
                ext[0, 1] = max(ext[0, 1], cell_v[0, j])
            ext[0, 2] = min(ext[0, 2], v_term[0])
            ext[0, 3] = max(ext[0, 3], v_term[0])
            for b in range(n_b):
                ext[0, 4] = min(ext[0, 4], temp[0, b])
                ext[0, 5] = max(ext[0, 5], temp[0, b])
        else:
            n_sub = max(1, math.ceil(dt / max_substep_s - 1e-9))
            _systems(0, n_sys, n_sub, dt / n_sub, i_bank, k_par, k_ser, k_cell, soc, v1, ocv,
                     gfac, cell_v, bleed, inv_q, r0, r1, sd, temp, arr, damaged, c_th, g_th,
                     ambient, table, soc_min, inv_step, clamp_lo, clamp_hi, k_soc, tau, ea_r,
                     t_ref, bal_v, bal_dv, r_bleed, damage_v, i_string, v_term, ext, work, cells)
            ah = i_bank[0] * dt / 3600.0
            bank_ah[0] += max(ah, 0.0)
            bank_ah[1] += max(-ah, 0.0)
        # the coulomb counter, the region
        c, d = _counted(net, dt)
        counter[0] += c
        counter[1] += d
        lo, hi, t_lo, t_hi = _row_extremes(cell_v[0], temp[0])
        if check_region and not _holds_as_reported(
                region, guard_c, ext[0, 0], ext[0, 1], ext[0, 2], ext[0, 3], ext[0, 4],
                ext[0, 5], lo, hi, t_lo, t_hi, net, counter[0] - c0, counter[1] - d0):
            fres[R_WINDOW] = end - start
            _copy_bank(now, kept)
            t = start
            status = LEFT_REGION
            break
        span[0] = min(span[0], ext[0, 0])
        span[1] = max(span[1], ext[0, 1])
        span[2] = min(span[2], ext[0, 2])
        span[3] = max(span[3], ext[0, 3])
        span[4] = min(span[4], ext[0, 4])
        span[5] = max(span[5], ext[0, 5])
        for b in range(n_b):
            if damaged[0, b] and math.isnan(damaged_at[b]):
                damaged_at[b] = end
                ires[I_DAMAGED] = 1
        t = end
        if t >= next_resolve - 1e-9 and piece_s == math.inf:
            # TwinSource._resolve(on_grid)
            change = ctab.next_change_s(ints, floats, state, prof_t, prof_v, prof_c, win, sun,
                                        clouds, t, SOLAR_DAYLIGHT_STEP_S)
            if math.isnan(change):  # beyond the sun table: the interpreted path re-solves
                ires[I_RESOLVE_PENDING] = 1
                status = HAND_BACK
                break
            before = net
            nxt, _grid = _schedule(t, coast, change, resolve_s)
            a = math.exp(-max(nxt - t, 0.0) / tau1)
            v_oc, r = _one_system(ocv[0], v1[0], gfac[0], arr[0], bleed[0], r0[0], r1[0],
                                  n_par, n_ser, n_cell, a, 1.0 - a)
            r = max(r, 1e-6)
            terminal_v = v_term[0]
            total = ctab.solve_bus(ints, floats, state, prof_t, prof_v, win, sun, clouds, t,
                                   v_oc, r, nominal_v, capacity_ah, charge_v, float_v,
                                   load_disconnect, charge_disconnect, terminal_v, currents,
                                   negative_zero)
            net = total - bms_draw_a
            charging = False
            for i in range(ints.shape[0]):
                if ints[i, ctab.K_CHARGER] == 1 and currents[i] > 0.0:
                    charging = True
            coast = _coast_after(coast, on_grid, before, net, charging, terminal_v, charge_v,
                                 nominal_v / 12.8)
            next_resolve, on_grid = _schedule(t, coast, change, resolve_s)
            ires[I_RESOLVED] = 1
            if not math.isfinite(net):
                status = HAND_BACK  # the interpreted path raises the bank's error
                break
    fres[R_T] = t
    fres[R_NEXT_RESOLVE] = next_resolve
    fres[R_CURRENT] = net
    ires[I_STATUS] = status
    ires[I_COAST] = coast
    ires[I_ON_GRID] = 1 if on_grid else 0


if _numba is not None:  # pragma: no branch
    _jit = _numba.njit(cache=True, error_model="numpy")
    # the core's plain helpers, callable from compiled code as they are
    _numba.extending.register_jitable(soc_change_pct)
    _systems = kernel._systems_jit
    _row_extremes = kernel._row_extremes_impl
    _one_system = compiled_thevenin._one_system_jit
    _counted = _jit(counted_ah)
    _numba.extending.register_jitable(holds_values)
    _numba.extending.register_jitable(reported_temperature_c)
    _holds_as_reported = _jit(holds_as_reported)
    _schedule = _jit(schedule)
    _coast_after = _jit(coast_after)
    _numba.extending.register_jitable(_copy1)
    _numba.extending.register_jitable(_copy2)
    _numba.extending.register_jitable(inline="always")(_copy_bank)
    _stretch_jit: Any = _jit(_stretch)


def covers(twin: Twin) -> bool:
    """Whether :func:`run` can take this twin's stretches (see the module doc)."""
    bank = twin.st.bank
    return (_numba is not None and bank.systems == 1 and bank._compiled_view
            and bank._advance is kernel.advance_numba and not bank._forced_cell_v
            and not bank._forced_temperature_c)


def run(twin: Twin, t_end: float, region: QuietRegion | None, c0: float = 0.0,
        d0: float = 0.0, piece_s: float = math.inf) -> float | None:
    """:meth:`TwinSource.quiet_until` compiled, the region's SoC bound counting the coulomb
    counters from ``c0``/``d0``: the time reached (``exit_window_s`` set when the region was
    left), or ``None`` when this stretch is not covered (nothing changed) or the loop handed
    back early; the twin is then at a clean point and the caller's interpreted loop goes on
    from there.

    ``region`` None: :meth:`TwinSource.advance_to` (no region). A finite ``piece_s``: the
    present segment in pieces (see :func:`_stretch`; for :meth:`TwinSource.locate_exit`)."""
    if not covers(twin):
        return None
    st = twin.st
    table = twin.component_table
    if table is not None and table.covers(st.t_s, t_end):
        table.read_state(st.components)
    else:
        table = ctab.ComponentTable.build(st.components, st.t_s,
                                          max(t_end, st.t_s + TABLE_AHEAD_S))
        if table is None:  # a component the table does not know: interpreted from now on
            twin.compiled_quiet = False
            return None
        twin.component_table = table
    fn = _stretch_jit
    bank = st.bank
    topo = bank.topology
    k = bank._k
    kargs = kernel._kernel_args(bank._state, topo, k, 1.0, 1, bank._bank_current_a)[2:]
    work, cells = kernel._scratch(bank._state, topo)
    sp = st.span
    span = np.array([sp.min_cell_v, sp.max_cell_v, sp.min_bank_v, sp.max_bank_v, sp.min_t,
                     sp.max_t])
    counter = np.array([st.counter.charged_ah, st.counter.discharged_ah])
    n_b = topo.batteries
    damaged_at = np.full(n_b, math.nan)
    for i, at in st.damaged_at_s.items():
        damaged_at[i] = at
    fres = np.array([st.t_s, st.next_resolve_s, st.net_current_a, twin.exit_window_s])
    ires = np.array([DONE, st.coast, 1 if st.next_on_grid else 0, 0, 0, 0], dtype=np.int64)
    bank_ah = np.array([bank._charged_ah[0], bank._discharged_ah[0]])
    currents = np.array(st.component_currents_a, dtype=np.float64)
    draw = st.bms_draw_a if twin.bms_powered else 0.0
    fn(st.t_s, t_end, twin.resolve_s, draw, st.load_disconnect, st.charge_disconnect,
       _NO_REGION if region is None else region.bounds, c0, d0, counter, span,
       damaged_at, fres, ires, kargs, work, cells, bank.max_substep_s, bank_ah,
       topo.parallel, topo.series, topo.cells, k.tau1_s, twin._view_ratings, table.args(),
       currents, ctab.FSUM_NEGATIVE_ZERO, region is not None, piece_s, twin.temperature_guard_c)
    # the state back into the twin (the components change only when re-solved)
    status, coast, on_grid, pending, resolved, damaged = ires.tolist()
    if resolved:
        table.write_back(st.components)
        st.component_currents_a = tuple(currents.tolist())
    st.t_s, st.next_resolve_s, st.net_current_a = fres[:3].tolist()
    st.coast = coast
    st.next_on_grid = on_grid != 0
    sp.min_cell_v, sp.max_cell_v, sp.min_bank_v, sp.max_bank_v, sp.min_t, sp.max_t = (
        span.tolist())
    st.counter.charged_ah, st.counter.discharged_ah = counter.tolist()
    bank._charged_ah[0], bank._discharged_ah[0] = bank_ah
    if damaged:
        at = damaged_at.tolist()
        new = [i for i in range(n_b) if not math.isnan(at[i]) and i not in st.damaged_at_s]
        for i in sorted(new, key=lambda i: (at[i], i)):  # in the order seen
            st.damaged_at_s[i] = at[i]
    if status == LEFT_REGION:
        twin.exit_window_s = float(fres[R_WINDOW])
        return float(fres[R_T])
    if status == HAND_BACK:
        if pending:
            twin._resolve(st.next_on_grid)
        return None
    return t_end
