"""Cell physics of the twin: OCV curve, RC pair, charge conservation, clamps, thermal,
self-discharge, and agreement between the kernel implementations."""

from __future__ import annotations

import math
from dataclasses import astuple, replace

import numpy as np
import pytest

from smallbms.twin import cell as kernel
from smallbms.twin.bank import BankModel
from smallbms.twin.params import DEFAULT_PARAMS, build_ocv_table, ideal_params, load_params


def _ocv(soc_pct: float) -> float:
    return float(DEFAULT_PARAMS.ocv.ocv_v(soc_pct / 100.0))


def _ideal_bank(soc_pct: float = 50.0, **kw: object) -> BankModel:
    return BankModel("12.8/100", 1, 1, soc_pct=soc_pct, temperature_c=25.0, seed=0,
                     params=ideal_params(), **kw)  # type: ignore[arg-type]


# --- OCV ---------------------------------------------------------------------------------------


def test_ocv_is_strictly_increasing() -> None:
    assert np.all(np.diff(DEFAULT_PARAMS.ocv.volts) > 0)


def test_ocv_has_flat_plateau_between_the_knees() -> None:
    plateau = DEFAULT_PARAMS.ocv.ocv_v(np.linspace(0.2, 0.95, 76))
    assert plateau.min() >= 3.25 and plateau.max() <= 3.35
    assert 3.30 <= _ocv(50.0) <= 3.34
    assert _ocv(10.0) == pytest.approx(3.2, abs=0.03)


def test_ocv_has_steep_knees_at_both_ends() -> None:
    assert _ocv(0.0) <= 2.5
    assert _ocv(99.0) == pytest.approx(3.45, abs=0.02)
    assert _ocv(100.0) > 3.6
    plateau_slope = (_ocv(80.0) - _ocv(30.0)) / 50.0
    assert (_ocv(100.0) - _ocv(99.0)) > 50 * plateau_slope
    assert (_ocv(2.0) - _ocv(0.0)) / 2.0 > 50 * plateau_slope
    # the abuse regions: collapse below 2.0 V under 0 %, overcharge beyond 3.75 V above 100 %
    assert _ocv(-0.5) < 2.0
    assert _ocv(100.75) > 3.75


def test_packaged_params_load_and_table_contains_anchors() -> None:
    p = load_params()
    assert p.ocv.soc_min == pytest.approx(-0.01)
    assert p.ocv.soc_max == pytest.approx(1.01)
    with pytest.raises(ValueError, match="increasing"):
        build_ocv_table([0.0, 50.0, 100.0], [2.0, 3.3, 3.2], 0.25)
    with pytest.raises(ValueError, match="grid"):
        build_ocv_table([0.0, 50.1, 100.0], [2.0, 3.3, 3.6], 0.25)


# --- RC pair -----------------------------------------------------------------------------------


def test_rc_overpotential_relaxes_with_tau1() -> None:
    bank = _ideal_bank(50.0, max_substep_s=1.0)
    bank.step(600.0, 50.0)
    ocv = float(kernel.ocv_lookup(bank._k, bank._state.soc)[0, 0])
    bank.step(1.0, 0.0)
    over0 = float(bank.cell_voltages_v[0, 0, 0]) - ocv
    bank.step(DEFAULT_PARAMS.tau1_s, 0.0)
    over1 = float(bank.cell_voltages_v[0, 0, 0]) - ocv
    assert over0 > 0
    assert over1 / over0 == pytest.approx(math.exp(-1.0), rel=1e-6)


def test_large_steps_are_stable_and_close_to_small_steps() -> None:
    fine = _ideal_bank(40.0, max_substep_s=1.0)
    coarse = _ideal_bank(40.0, max_substep_s=3600.0)
    for _ in range(3600):
        fine.step(1.0, -20.0)
    coarse.step(3600.0, -20.0)
    assert np.all(np.isfinite(coarse.cell_voltages_v))
    assert coarse.terminal_voltage_v == pytest.approx(fine.terminal_voltage_v, abs=0.005)
    assert coarse.soc_pct == pytest.approx(fine.soc_pct, abs=1e-9)


def test_instantaneous_resistance_is_r0_and_dc_resistance_matches_catalogue() -> None:
    bank = _ideal_bank(50.0)
    _, r_inst = bank.thevenin(dt_s=0.0)
    _, r_dc = bank.thevenin(dt_s=1e6)
    assert r_dc == pytest.approx(0.002, rel=1e-6)  # 12.8/100: 2 mΩ at 25 °C, 50 %
    assert r_inst == pytest.approx(0.4 * 0.002, rel=1e-6)


# --- conservation and clamps -------------------------------------------------------------------


def test_coulomb_counting_conserves_charge() -> None:
    bank = _ideal_bank(50.0)
    rng = np.random.default_rng(3)
    soc0 = bank.cell_soc_pct.copy()
    last = (0.0, 0.0)
    for _ in range(200):
        bank.step(float(rng.uniform(1, 120)), float(rng.uniform(-80, 60)))
        now = (bank.charged_ah_total, bank.discharged_ah_total)
        assert now[0] >= last[0] and now[1] >= last[1]
        last = now
    net_ah = bank.charged_ah_total - bank.discharged_ah_total
    delta_ah = (bank.cell_soc_pct - soc0) / 100.0 * 100.0
    np.testing.assert_allclose(delta_ah, net_ah, atol=1e-9)


def test_empty_cell_collapses_and_soc_is_clamped() -> None:
    bank = _ideal_bank(2.0)
    bank.step(3 * 3600.0, -10.0)  # 30 Ah from a 2 Ah remainder
    assert bank.cell_soc_pct.min() >= 100.0 * DEFAULT_PARAMS.ocv.soc_min - 1e-9
    assert bank.cell_voltages_v.max() < 2.0
    assert bank.damaged.all()


def test_overcharged_cell_rises_above_cutoff_and_soc_is_clamped() -> None:
    bank = _ideal_bank(98.0)
    bank.step(3 * 3600.0, 10.0)
    assert bank.cell_soc_pct.max() <= 100.0 * DEFAULT_PARAMS.ocv.soc_max + 1e-9
    assert bank.cell_voltages_v.min() > 3.75


# --- thermal, temperature, self-discharge ------------------------------------------------------


def test_current_heats_the_battery_and_it_cools_to_ambient() -> None:
    bank = BankModel("12.8/100", 1, 1, soc_pct=50, temperature_c=25.0, seed=1)
    bank.step(1800.0, -100.0)
    hot = float(bank.battery_temperatures_c[0, 0])
    assert hot > 25.3
    bank.step(48 * 3600.0, 0.0)
    assert float(bank.battery_temperatures_c[0, 0]) == pytest.approx(25.0, abs=0.01)
    bank.set_ambient(5.0)
    bank.step(48 * 3600.0, 0.0)
    assert float(bank.battery_temperatures_c[0, 0]) == pytest.approx(5.0, abs=0.01)


def test_cold_battery_has_higher_resistance() -> None:
    warm = BankModel("12.8/100", 1, 1, soc_pct=50, temperature_c=25.0, seed=1)
    cold = BankModel("12.8/100", 1, 1, soc_pct=50, temperature_c=0.0, seed=1)
    assert cold.thevenin(0.0)[1] > 1.8 * warm.thevenin(0.0)[1]


def test_self_discharge_is_a_few_percent_per_month() -> None:
    p = replace(DEFAULT_PARAMS, balance_start_cell_v=math.inf)
    bank = BankModel("12.8/100", 1, 1, soc_pct=60, temperature_c=25.0, seed=2, params=p,
                     max_substep_s=3600.0)
    start = bank.soc_pct
    bank.step(30 * 86400.0, 0.0)
    assert 2.0 <= start - bank.soc_pct <= 3.0


# --- implementations agree ---------------------------------------------------------------------


def _run(kernel_name: str) -> BankModel:
    p = replace(DEFAULT_PARAMS, initial_soc_sigma_pct=1.0)
    bank = BankModel("12.8/100", 2, 2, soc_pct=95.0, temperature_c=20.0, seed=9, systems=2,
                     params=p, kernel_name=kernel_name)  # type: ignore[arg-type]
    bank.age_cell(1, 2, 0.9, 1.5)
    for k in range(30):
        bank.step(60.0, np.array([40.0, -30.0]) if k % 3 else np.array([5.0, 2.0]))
    return bank


@pytest.mark.parametrize("other", ["numpy", "python"])
def test_kernel_implementations_agree(other: str) -> None:
    ref = _run("auto")
    alt = _run(other)
    np.testing.assert_allclose(alt.cell_voltages_v, ref.cell_voltages_v, rtol=0, atol=1e-9)
    np.testing.assert_allclose(alt.cell_soc_pct, ref.cell_soc_pct, rtol=0, atol=1e-9)
    np.testing.assert_allclose(alt.battery_temperatures_c, ref.battery_temperatures_c, atol=1e-9)
    np.testing.assert_array_equal(alt.balancing, ref.balancing)
    assert astuple(alt.extremes(1)) == pytest.approx(astuple(ref.extremes(1)))


def _copy_state(state: kernel.KernelState) -> kernel.KernelState:
    return kernel.KernelState(**{f: getattr(state, f).copy() for f in kernel.KernelState.__slots__})


def test_numba_blocks_with_some_systems_in_micro_steps_agree_with_numpy() -> None:
    """More systems than one block of the fused kernel (the last block partial, the parallel
    path), some near empty and discharged hard enough for micro-steps while the others take
    ordinary steps in the same rounds: the result is the NumPy path's."""
    n_sys = kernel.BLOCK_SYSTEMS + 5
    p = replace(DEFAULT_PARAMS, initial_soc_sigma_pct=1.0)
    bank = BankModel("12.8/100", 1, 3, soc_pct=50.0, temperature_c=20.0, seed=5, systems=n_sys,
                     params=p)
    st = bank._state
    low = np.arange(n_sys) % 3 == 0
    st.soc[low] -= 0.49  # about 1 %, on the lower knee
    kernel.refresh_caches(st, bank.topology, bank._k)
    current = np.where(low, -150.0, 40.0)
    dt = 10.0
    e_p, r_p = kernel.string_thevenin(st, bank.topology, bank._k, dt)
    _, i_p = kernel.solve_parallel(e_p, r_p, current)
    stiff = kernel.micro_steps(
        bank._k, dt, i_p, r_p, kernel.split_stiffness(st, bank.topology, bank._k)) > 1
    assert stiff.any() and not stiff.all()  # the premise: mixed blocks
    ref = _copy_state(st)
    kernel.reset_extremes(st)
    kernel.reset_extremes(ref)
    for _ in range(3):
        kernel.advance_numba(st, bank.topology, bank._k, dt, 20, current)
        kernel.advance_numpy(ref, bank.topology, bank._k, dt, 20, current)
    for f in ("soc", "v1_v", "cell_v", "temperature_c", "string_current_a", "terminal_v",
              "extremes"):
        np.testing.assert_allclose(getattr(st, f), getattr(ref, f), rtol=0, atol=1e-9, err_msg=f)
    np.testing.assert_array_equal(st.bleed_a > 0, ref.bleed_a > 0)
    np.testing.assert_array_equal(st.damaged, ref.damaged)
