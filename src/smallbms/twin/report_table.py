"""The bank's bus reports as one table of whole resolution steps, and which rows changed.

:meth:`smallbms.twin.bank.BankModel.reports` quantises every battery's cell voltages,
temperature and string current on every reading and builds report objects only for the rows
that changed bit for bit since the last reading. This module holds that table pass: compiled
with Numba when it is installed (one call instead of a dozen small NumPy calls, ~25 µs → a few
µs for 50 batteries), with a NumPy version of the same arithmetic otherwise. Both divide by the
resolution, round half to even and divide by the steps per unit, so they give the same bits
(the tests compare them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from smallbms.twin.cell import FloatArray

_numba: Any
try:  # pragma: no cover - exercised when numba is installed
    import numba as _numba
except ImportError:  # pragma: no cover
    _numba = None

IntArray = np.ndarray[Any, np.dtype[np.int64]]


def _fill_numpy(volts: FloatArray, temps: FloatArray, currents: FloatArray, series: int,
                v_res: float, v_steps: float, t_res: float, t_steps: float,
                i_res: float, i_steps: float, table: FloatArray) -> None:
    table[:, :-2] = np.rint(volts / v_res) / v_steps
    table[:, -2] = np.rint(temps / t_res) / t_steps
    table[:, -1] = np.repeat(np.rint(currents / i_res) / i_steps, series)


def _changed_numpy(table: FloatArray, previous: FloatArray, changed: IntArray) -> int:
    rows = np.flatnonzero((table.view(np.int64) != previous.view(np.int64)).any(axis=1))
    changed[:rows.size] = rows
    return int(rows.size)


def _fill_and_compare(volts: Any, temps: Any, currents: Any, series: int,
                      v_res: float, v_steps: float, t_res: float, t_steps: float,
                      i_res: float, i_steps: float, table: Any, previous: Any,
                      changed: Any) -> int:
    """Fill ``table`` (a row per battery: cells, temperature, current) and write the indices of
    the rows that differ bit for bit from ``previous`` (same shape) into ``changed``; returns
    how many. An empty ``previous`` counts every row as changed."""
    n_b, n_c = volts.shape
    first = previous.shape[0] == 0
    prev_bits = previous.view(np.int64)
    n = 0
    for b in range(n_b):
        differs = first
        for c in range(n_c):
            v = np.rint(volts[b, c] / v_res) / v_steps
            table[b, c] = v
        t = np.rint(temps[b] / t_res) / t_steps
        table[b, n_c] = t
        i = np.rint(currents[b // series] / i_res) / i_steps
        table[b, n_c + 1] = i
        if not differs:
            row_bits = table[b].view(np.int64)
            for c in range(n_c + 2):
                if row_bits[c] != prev_bits[b, c]:
                    differs = True
                    break
        if differs:
            changed[n] = b
            n += 1
    return n


if _numba is not None:  # pragma: no branch
    _fill_and_compare_jit: Any = _numba.njit(cache=True, fastmath=False,
                                             error_model="numpy")(_fill_and_compare)
else:  # pragma: no cover
    _fill_and_compare_jit = None

_NO_PREVIOUS = np.empty((0, 0))


def quantised_table(volts: FloatArray, temps: FloatArray, currents: FloatArray, series: int,
                    resolutions: tuple[float, float, float, float, float, float],
                    previous: FloatArray | None) -> tuple[FloatArray, IntArray]:
    """(table, indices of the changed rows) for a bank's ``volts`` ``[batteries, cells]``,
    ``temps`` ``[batteries]`` and string ``currents`` ``[strings]`` (``series`` batteries a
    string). ``resolutions``: (cell V, steps per V, °C, steps per °C, A, steps per A)."""
    n_b, n_c = volts.shape
    table = np.empty((n_b, n_c + 2))
    changed = np.empty(n_b, dtype=np.int64)
    if _fill_and_compare_jit is not None:
        n = _fill_and_compare_jit(np.ascontiguousarray(volts), np.ascontiguousarray(temps),
                                  np.ascontiguousarray(currents), series, *resolutions, table,
                                  _NO_PREVIOUS if previous is None else previous, changed)
        return table, changed[:n]
    return numpy_table(volts, temps, currents, series, resolutions, previous)  # pragma: no cover


def numpy_table(volts: FloatArray, temps: FloatArray, currents: FloatArray, series: int,
                resolutions: tuple[float, float, float, float, float, float],
                previous: FloatArray | None) -> tuple[FloatArray, IntArray]:
    """:func:`quantised_table` in NumPy calls (without Numba; the tests' reference)."""
    n_b, n_c = volts.shape
    table = np.empty((n_b, n_c + 2))
    _fill_numpy(volts, temps, currents, series, *resolutions, table)
    if previous is None:
        return table, np.arange(n_b, dtype=np.int64)
    changed = np.empty(n_b, dtype=np.int64)
    n = _changed_numpy(table, previous, changed)
    return table, changed[:n]
