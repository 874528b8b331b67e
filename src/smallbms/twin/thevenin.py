"""The bank's Thevenin view for one system in one compiled call, with NumPy's summation order.

The twin source asks the bank for its Thevenin equivalent at every re-solve of the component
currents. :func:`smallbms.twin.cell.string_thevenin` plus the parallel combination in
:meth:`smallbms.twin.bank.BankModel.thevenin_by_system` take a dozen NumPy calls (~40 µs for a
25-string bank). :func:`one_system` does the same arithmetic in one Numba call. To give the
same bits it adds up the way NumPy reduces a contiguous row: :func:`pairwise_sum`, NumPy's
pairwise summation (eight interleaved partial sums for rows of 8 to 128 values, one after the
other below 8). The tests compare it bit for bit with the NumPy path.
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

pairwise_sum: Any  # the compiled _pairwise_sum when Numba is installed

#: NumPy sums rows of up to this many values with eight partial sums, longer ones by halves.
PAIRWISE_BLOCK = 128


def _pairwise_sum(a: Any, first: int, n: int) -> float:
    """``a[first:first + n].sum()`` as NumPy adds up a contiguous row of ``n <= 128`` values."""
    if n < 8:
        total = -0.0
        for i in range(first, first + n):
            total += a[i]
        return total
    r0 = a[first]
    r1 = a[first + 1]
    r2 = a[first + 2]
    r3 = a[first + 3]
    r4 = a[first + 4]
    r5 = a[first + 5]
    r6 = a[first + 6]
    r7 = a[first + 7]
    i = 8
    whole = n - n % 8
    while i < whole:
        q = first + i
        r0 += a[q]
        r1 += a[q + 1]
        r2 += a[q + 2]
        r3 += a[q + 3]
        r4 += a[q + 4]
        r5 += a[q + 5]
        r6 += a[q + 6]
        r7 += a[q + 7]
        i += 8
    res: float = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[first + i]
        i += 1
    return res


def _one_system(ocv: Any, v1: Any, gfac: Any, arr: Any, bleed: Any, r0: Any, r1: Any,
                n_par: int, n_ser: int, n_cell: int, a: float, one_a: float) -> tuple[float, float]:
    n = n_par * n_ser * n_cell
    e_cell = np.empty(n)
    r_eff = np.empty(n)
    for j in range(n):
        r = (r0[j] + one_a * r1[j]) * (gfac[j] * arr[j // n_cell])
        r_eff[j] = r
        e_cell[j] = ocv[j] + a * v1[j] - r * bleed[j]
    per_string = n_ser * n_cell
    g = np.empty(n_par)
    eg = np.empty(n_par)
    for p in range(n_par):
        e_p = pairwise_sum(e_cell, p * per_string, per_string)
        g_p = 1.0 / pairwise_sum(r_eff, p * per_string, per_string)
        g[p] = g_p
        eg[p] = e_p * g_p
    g_sum = pairwise_sum(g, 0, n_par)
    return pairwise_sum(eg, 0, n_par) / g_sum, 1.0 / g_sum


if _numba is not None:  # pragma: no branch
    _options: dict[str, Any] = {"cache": True, "fastmath": False, "error_model": "numpy"}
    pairwise_sum = _numba.njit(**_options)(_pairwise_sum)
    _one_system_jit: Any = _numba.njit(**_options)(_one_system)
else:  # pragma: no cover
    pairwise_sum = _pairwise_sum
    _one_system_jit = None

AVAILABLE: bool = _one_system_jit is not None


def one_system(ocv: FloatArray, v1: FloatArray, soc_factor: FloatArray, arrhenius: FloatArray,
               bleed: FloatArray, r0: FloatArray, r1: FloatArray, topology: tuple[int, int, int],
               a: float) -> tuple[float, float]:
    """(open-circuit V, resistance Ω) of one system's bank: the cells' rows (``[cells]``, chain
    order) and ``arrhenius`` per battery; ``topology`` (parallel, series, cells per battery);
    ``a`` = exp(-dt / tau1). Strings and the parallel count must be at most
    :data:`PAIRWISE_BLOCK` long (NumPy splits longer rows differently); needs Numba."""
    n_par, n_ser, n_cell = topology
    if n_ser * n_cell > PAIRWISE_BLOCK or n_par > PAIRWISE_BLOCK or _one_system_jit is None:
        raise ValueError("one_system needs Numba and strings/parallel count of <= 128")
    v, r = _one_system_jit(ocv, v1, soc_factor, arrhenius, bleed, r0, r1, n_par, n_ser, n_cell,
                           a, 1.0 - a)
    return float(v), float(r)
