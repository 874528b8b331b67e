"""Deep discharge of parallel strings stays physical (regression).

Near empty the OCV curve is steep (up to 200 V per unit SoC below 0 %), so the charge the
parallel split moves between strings within one sub-step swings their OCVs by more than the
resistive drop that set the split: explicitly integrated, the split oscillated with growing
amplitude (10 s steps of ``BankModel("12.8/100", 1, 2, soc_pct=5, seed=13)`` at -60 A diverged
after ~550 s: cells swinging between -1 and +7 V, megaamp circulating currents, temperatures
of millions of °C). The kernel now detects a stiff split and takes the sub-step in micro-steps.

A bank discharged at constant current far past empty must stay physical: the string currents
add up to the bank current and keep their sign once the initial equalisation is over, the
terminal voltage never rises, cell voltages stay between the collapsed level (OCV 0.5 V at the
SoC clamp, minus a little IR drop) and where they started, the batteries barely warm (~0.3 K),
and every cell ends collapsed below 2 V with the damage latch set.
"""

from __future__ import annotations

from dataclasses import astuple

import numpy as np
import pytest

from smallbms.twin import cell as kernel
from smallbms.twin.bank import BankModel

AMBIENT_C = 25.0
AMPS_PER_STRING = -30.0
#: 5 % of 100 Ah is gone after ~600 s at 30 A per string; run three times as long.
DURATION_S = 1800.0


def _bank(series: int, parallel: int, **kw: object) -> BankModel:
    return BankModel("12.8/100", series, parallel, soc_pct=5.0, temperature_c=AMBIENT_C,
                     seed=13, **kw)  # type: ignore[arg-type]


def _run(bank: BankModel, dt_s: float) -> dict[str, np.ndarray]:
    current = AMPS_PER_STRING * bank.topology.parallel
    rec: dict[str, list[np.ndarray]] = {"cell_v": [], "term_v": [], "i_p": [], "temp": []}
    for _ in range(round(DURATION_S / dt_s)):
        bank.step(dt_s, current)
        rec["cell_v"].append(bank.cell_voltages_v[0])
        rec["term_v"].append(np.asarray(bank.terminal_voltage_v))
        rec["i_p"].append(bank.string_currents_a[0])
        rec["temp"].append(bank.battery_temperatures_c[0])
    return {name: np.array(values) for name, values in rec.items()}


def _assert_physical(bank: BankModel, rec: dict[str, np.ndarray], start_max_cell_v: float) -> None:
    current = AMPS_PER_STRING * bank.topology.parallel
    for name, values in rec.items():
        assert np.all(np.isfinite(values)), name
    # currents: they add up, stay bounded and do not oscillate in sign
    i_p = rec["i_p"]
    np.testing.assert_allclose(i_p.sum(axis=1), current, rtol=0, atol=1e-6 * abs(current))
    assert np.abs(i_p).max() <= 2.5 * abs(current)
    sign_changes = (np.diff(np.sign(i_p), axis=0) != 0).sum(axis=0)
    assert np.all(sign_changes <= 1), sign_changes  # at most the initial equalisation
    # voltages: the terminal voltage only falls; cells stay between collapse and their start
    assert np.diff(rec["term_v"]).max() <= 1e-3
    assert rec["cell_v"].min() >= 0.4
    assert rec["cell_v"].max() <= start_max_cell_v + 0.02
    # thermal: a few watts of heat in a 100 Ah battery for half an hour
    assert rec["temp"].max() < AMBIENT_C + 2.0
    # the end: every cell collapsed (and stays there), damage latched
    assert rec["cell_v"][-1].max() < 2.0
    assert rec["cell_v"][-round(0.2 * len(rec["cell_v"])):].max() < 2.0
    assert bank.damaged.all()


@pytest.mark.parametrize("dt_s", [10.0, 1.0])
@pytest.mark.parametrize(("series", "parallel"), [(1, 1), (1, 2), (2, 2), (1, 3)])
def test_constant_current_far_past_empty_stays_physical(
    series: int, parallel: int, dt_s: float
) -> None:
    bank = _bank(series, parallel)
    start_max = float(bank.cell_voltages_v.max())
    _assert_physical(bank, _run(bank, dt_s), start_max)


def test_reported_reproduction_stays_bounded() -> None:
    """The colleague's reproduction: 10 s steps at -60 A on a 1x2 bank from 5 %."""
    bank = _bank(1, 2)
    for _ in range(120):  # 1,200 s; it diverged after ~550 s
        bank.step(10.0, -60.0)
        ext = bank.extremes()
        assert ext.min_cell_v >= -0.5 and ext.max_cell_v <= 3.6
        assert ext.max_temperature_c < 150.0
        assert np.abs(bank.string_currents_a).max() < 120.0


def test_one_long_step_far_past_empty_stays_physical() -> None:
    """Skip-ahead: one 1,800 s sub-step through the knee is micro-stepped, not extrapolated."""
    bank = _bank(1, 2, max_substep_s=DURATION_S)
    bank.step(DURATION_S, 2 * AMPS_PER_STRING)
    ext = bank.extremes()
    assert ext.min_cell_v >= 0.4 and ext.max_cell_v <= 3.2
    assert ext.max_temperature_c < AMBIENT_C + 2.0
    assert bank.string_currents_a.sum() == pytest.approx(2 * AMPS_PER_STRING)
    assert np.all(bank.string_currents_a < 0)
    assert bank.cell_voltages_v.max() < 2.0


@pytest.mark.parametrize("other", ["numpy", "python"])
def test_kernel_implementations_agree_through_the_knee(other: str) -> None:
    ref = _bank(2, 2)
    alt = _bank(2, 2, kernel_name=other)
    for bank in (ref, alt):
        for _ in range(90):  # 900 s at 10 s: through the knee into the collapse
            bank.step(10.0, np.array([-60.0]))
    np.testing.assert_allclose(alt.cell_voltages_v, ref.cell_voltages_v, rtol=0, atol=1e-9)
    np.testing.assert_allclose(alt.cell_soc_pct, ref.cell_soc_pct, rtol=0, atol=1e-9)
    np.testing.assert_allclose(alt.string_currents_a, ref.string_currents_a, rtol=0, atol=1e-6)
    np.testing.assert_allclose(alt.battery_temperatures_c, ref.battery_temperatures_c, atol=1e-9)
    assert astuple(alt.extremes()) == pytest.approx(astuple(ref.extremes()))


def test_micro_steps_engage_only_where_the_split_is_stiff() -> None:
    """On the plateau a sub-step is taken as before; near empty it is split up."""

    def n_micro(soc_pct: float, dt_s: float, current_a: float) -> int:
        bank = BankModel("12.8/100", 1, 2, soc_pct=soc_pct, temperature_c=AMBIENT_C, seed=13)
        st, topo, k = bank._state, bank.topology, bank._k
        e_p, r_p = kernel.string_thevenin(st, topo, k, dt_s)
        _, i_p = kernel.solve_parallel(e_p, r_p, np.array([current_a]))
        stiff = kernel.split_stiffness(st, topo, k)
        return int(kernel.micro_steps(k, dt_s, i_p, r_p, stiff)[0])

    for soc_pct in (20.0, 50.0, 90.0):
        assert n_micro(soc_pct, 10.0, -100.0) == 1
        assert n_micro(soc_pct, 10.0, 100.0) == 1
    assert n_micro(0.5, 1.0, -60.0) == 1
    assert n_micro(0.5, 10.0, -60.0) > 1
    assert n_micro(-0.8, 10.0, -60.0) > 1


def test_a_clamped_bank_under_load_is_not_stiff() -> None:
    """Cells held at the lower SoC clamp and still discharged have a fixed OCV: no micro-steps
    (so a bank left collapsed under load costs what it did)."""
    bank = _bank(1, 2)
    bank.step(3600.0, -60.0)
    st, topo, k = bank._state, bank.topology, bank._k
    assert np.all(st.soc == k.soc_clamp_min)
    e_p, r_p = kernel.string_thevenin(st, topo, k, 10.0)
    _, i_p = kernel.solve_parallel(e_p, r_p, np.array([-60.0]))
    assert np.all(i_p < 0)
    assert kernel.micro_steps(k, 10.0, i_p, r_p, kernel.split_stiffness(st, topo, k))[0] == 1
