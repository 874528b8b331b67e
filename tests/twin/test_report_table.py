"""twin.report_table: the compiled table pass gives the same bits and the same changed rows as
the NumPy arithmetic it replaces (round half to even, signs of zero included)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from smallbms.twin.bank import _RESOLUTIONS
from smallbms.twin.report_table import numpy_table, quantised_table

VOLTS = st.one_of(st.floats(2.0, 3.8), st.sampled_from([3.2995, 3.3005, 0.0, -0.0, 3.2885]))


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a.view(np.int64), b.view(np.int64)))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n_str=st.integers(1, 4), series=st.integers(1, 3),
       cells=st.integers(1, 8))
def test_compiled_equals_numpy(data: st.DataObject, n_str: int, series: int, cells: int) -> None:
    n_b = n_str * series
    volts = data.draw(hnp.arrays(np.float64, (n_b, cells), elements=VOLTS))
    temps = data.draw(hnp.arrays(np.float64, n_b, elements=st.floats(-20.0, 60.0)))
    amps = data.draw(hnp.arrays(np.float64, n_str, elements=st.floats(-500.0, 500.0)))
    t1, rows1 = quantised_table(volts, temps, amps, series, _RESOLUTIONS, None)
    t2, rows2 = numpy_table(volts, temps, amps, series, _RESOLUTIONS, None)
    assert _same_bits(t1, t2)
    assert rows1.tolist() == rows2.tolist() == list(range(n_b))
    # a second reading with some cells moved: the same rows reported as changed
    moved = volts.copy()
    for b in data.draw(st.sets(st.integers(0, n_b - 1))):
        moved[b, data.draw(st.integers(0, cells - 1))] += data.draw(st.sampled_from([0.0004, 0.002]))
    u1, r1 = quantised_table(moved, temps, amps, series, _RESOLUTIONS, t1)
    u2, r2 = numpy_table(moved, temps, amps, series, _RESOLUTIONS, t2)
    assert _same_bits(u1, u2)
    assert r1.tolist() == r2.tolist()


def test_only_changed_rows_and_signed_zero() -> None:
    volts = np.full((3, 4), 3.3)
    temps = np.array([20.0, 20.0, 20.0])
    amps = np.array([0.001])  # rounds to +0.0
    t0, _ = quantised_table(volts, temps, amps, 3, _RESOLUTIONS, None)
    volts[1, 2] = 3.3016
    t1, rows = quantised_table(volts, temps, amps, 3, _RESOLUTIONS, t0)
    assert rows.tolist() == [1] and t1[1, 2] == 3.302
    _, rows = quantised_table(volts, temps, -amps, 3, _RESOLUTIONS, t1)  # -0.0: a new report
    assert rows.tolist() == [0, 1, 2]
    assert t0[0, 4] == 20.0 and t0[0, 5] == 0.0
