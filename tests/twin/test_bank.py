"""Batteries and banks of the twin: current sharing, Thevenin view, balancing, damage,
determinism, batching, reports and fault injection."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from smallbms.core.types import BatteryReport
from smallbms.twin.bank import BankModel
from smallbms.twin.params import DEFAULT_PARAMS, ideal_params


def _bank(series: int = 1, parallel: int = 1, **kw: object) -> BankModel:
    args: dict[str, object] = {"soc_pct": 60.0, "temperature_c": 25.0, "seed": 4}
    args.update(kw)
    return BankModel("12.8/100", series, parallel, **args)  # type: ignore[arg-type]


# --- current sharing ---------------------------------------------------------------------------


def test_parallel_split_sums_to_bank_current() -> None:
    bank = _bank(2, 3)
    for current in (-150.0, -20.0, 0.0, 45.0):
        bank.step(5.0, current)
        assert bank.string_currents_a.sum() == pytest.approx(current, abs=1e-9)


def test_lower_resistance_string_takes_more_current() -> None:
    bank = _bank(1, 2, params=ideal_params())
    for cell in range(4):
        bank.age_cell(1, cell, capacity_factor=1.0, resistance_factor=2.0)
    bank.step(1.0, -90.0)
    i_fresh, i_aged = bank.string_currents_a[0]
    assert i_fresh + i_aged == pytest.approx(-90.0)
    assert abs(i_fresh) > 1.5 * abs(i_aged)


def test_series_batteries_carry_the_same_current() -> None:
    bank = _bank(4, 2)
    bank.step(30.0, -70.0)
    currents = bank.battery_currents_a[0].reshape(2, 4)
    for string in currents:
        assert np.all(string == string[0])
    assert bank.battery_currents_a[0].sum() == pytest.approx(-70.0 * 4)


def test_string_terminal_voltages_agree() -> None:
    bank = _bank(2, 3, params=ideal_params(), max_substep_s=1.0)
    bank.step(60.0, -120.0)
    strings = bank.cell_voltages_v[0].reshape(3, -1).sum(axis=1)
    assert np.ptp(strings) < 2e-4  # equal terminal voltage (OCV change within a step aside)
    assert bank.terminal_voltage_v == pytest.approx(strings.mean())


def test_thevenin_predicts_the_terminal_voltage_after_a_step() -> None:
    bank = _bank(2, 2)
    v_oc, r = bank.thevenin(dt_s=2.0)
    bank.step(2.0, -80.0)
    assert bank.terminal_voltage_v == pytest.approx(v_oc + r * -80.0, abs=2e-3)


def test_charger_in_constant_voltage_holds_its_voltage() -> None:
    bank = _bank(1, 2, soc_pct=70.0)
    for _ in range(60):
        current = bank.current_for_voltage(14.0, dt_s=1.0)
        bank.step(1.0, current)
        assert bank.terminal_voltage_v == pytest.approx(14.0, abs=2e-3)
    assert current > 0


def test_constant_power_load_gets_its_power() -> None:
    bank = _bank()
    current = bank.current_for_power(-1200.0, dt_s=1.0)
    bank.step(1.0, current)
    assert current < 0
    assert bank.terminal_voltage_v * current == pytest.approx(-1200.0, rel=1e-3)


# --- balancing and damage ----------------------------------------------------------------------


def _spread_mv(bank: BankModel) -> float:
    return 1000.0 * float(np.ptp(bank.cell_voltages_v[0, 0]))


def test_top_balancing_reduces_spread_over_a_long_absorption() -> None:
    params = replace(DEFAULT_PARAMS, initial_soc_sigma_pct=1.0, self_discharge_pct_per_month=0.0)
    bank = BankModel("12.8/100", 1, 1, soc_pct=97.0, temperature_c=25.0, seed=11, params=params)

    def absorb(hours: float) -> None:
        for _ in range(int(hours * 360)):
            bank.step(10.0, min(30.0, bank.current_for_voltage(14.2, dt_s=10.0)))

    absorb(1.0)
    soc_spread_1h = float(np.ptp(bank.cell_soc_pct))
    spread_1h = _spread_mv(bank)
    assert bank.balancing.any()
    absorb(48.0)
    assert float(np.ptp(bank.cell_soc_pct)) < 0.5 * soc_spread_1h
    assert _spread_mv(bank) < 0.5 * spread_1h


def test_no_balancing_below_the_start_voltage() -> None:
    bank = _bank(soc_pct=50.0)
    bank.step(3600.0, 0.0)
    assert not bank.balancing.any()


def test_damage_flag_latches_when_a_cell_falls_below_2v() -> None:
    bank = _bank(2, 1, soc_pct=1.5)
    bank.step(3600.0, -0.01)
    assert not bank.damaged.any()
    bank.step(30 * 86400.0, -0.01)  # a residual 10 mA draw for a month
    assert bank.damaged.all()
    assert bank.cell_voltages_v.min() < DEFAULT_PARAMS.damage_cell_v
    bank.step(3600.0, 50.0)
    assert bank.damaged.all()


# --- determinism and batching ------------------------------------------------------------------


def _profile(bank: BankModel, currents: np.ndarray | float) -> None:
    for k in range(40):
        bank.step(30.0 if k % 2 else 7.0, currents if k % 3 else np.multiply(currents, -0.5))


def test_same_seed_same_run_and_different_seed_differs() -> None:
    a, b, c = _bank(2, 2, seed=21), _bank(2, 2, seed=21), _bank(2, 2, seed=22)
    for bank in (a, b, c):
        _profile(bank, -60.0)
    np.testing.assert_array_equal(a.cell_voltages_v, b.cell_voltages_v)
    assert a.serials() == b.serials()
    assert a.reports() == b.reports()
    assert not np.array_equal(a.cell_voltages_v, c.cell_voltages_v)
    assert a.serials() != c.serials()


def test_batched_systems_equal_single_runs() -> None:
    currents = np.array([-40.0, 25.0, -10.0])
    batch = _bank(1, 2, seed=5, systems=3)
    _profile(batch, currents)
    for k in range(3):
        single = _bank(1, 2, seed=5 + k)
        _profile(single, float(currents[k]))
        np.testing.assert_allclose(batch.cell_voltages_v[k], single.cell_voltages_v[0], atol=1e-12)
        assert batch.terminal_voltage_by_system_v[k] == pytest.approx(single.terminal_voltage_v)
        assert batch.charged_ah_total_by_system[k] == pytest.approx(single.charged_ah_total)
        assert batch.reports(k) == single.reports()


def test_explicit_seed_list_per_system() -> None:
    batch = _bank(seed=[7, 3], systems=2)
    assert batch.serials(1) == _bank(seed=3).serials()
    with pytest.raises(ValueError, match="seeds"):
        _bank(seed=[1, 2, 3], systems=2)


def test_large_bank_and_fleet_shapes() -> None:
    bank = BankModel("25.6/100", 2, 25, soc_pct=50, temperature_c=25, seed=1)
    bank.step(10.0, -500.0)
    assert bank.cell_voltages_v.shape == (1, 50, 8)
    assert bank.string_currents_a.sum() == pytest.approx(-500.0)
    fleet = _bank(systems=1000)
    fleet.step(10.0, -20.0)
    assert fleet.cell_voltages_v.shape == (1000, 1, 4)
    assert np.all(np.abs(fleet.string_currents_a + 20.0) < 1e-9)


# --- reports, forcing, ageing, extremes --------------------------------------------------------


def test_reports_describe_each_battery() -> None:
    bank = _bank(2, 2)
    bank.step(10.0, -40.0)
    reports = bank.reports()
    assert len(reports) == 4
    assert all(isinstance(r, BatteryReport) for r in reports)
    assert [r.series_position for r in reports] == [0, 1, 0, 1]
    assert len({r.serial for r in reports}) == 4
    for r in reports:
        assert re.fullmatch(r"HQ\d{4}[A-Z]{5}", r.serial)
        assert r.model_id == "12.8/100" and r.firmware == "v1.08"
        assert len(r.cell_voltages_v) == 4
        assert min(r.cell_voltages_v) > 3.0 and max(r.cell_voltages_v) < 3.5
        assert r.current_a == pytest.approx(-20.0, abs=2.0)
        assert r.temperature_c == pytest.approx(25.0, abs=0.2)


def test_forcing_overrides_reports_and_extremes_until_released() -> None:
    bank = _bank(2, 1)
    bank.force_cell(1, 2, 3.80)
    bank.force_temperature(0, 55.0)
    bank.step(5.0, 0.0)
    assert bank.reports()[1].cell_voltages_v[2] == 3.80
    assert bank.reports()[0].temperature_c == 55.0
    assert bank.cell_voltages_v[0, 1, 2] < 3.5  # the physics is untouched
    ext = bank.extremes()
    assert ext.max_cell_v == 3.80 and ext.max_temperature_c == 55.0
    bank.force_cell(1, 2, None)
    bank.force_temperature(0, None)
    assert bank.reports()[1].cell_voltages_v[2] < 3.5
    assert bank.reports()[0].temperature_c < 30.0
    with pytest.raises(IndexError):
        bank.force_cell(2, 0, 3.0)
    with pytest.raises(IndexError):
        bank.force_cell(0, 4, 3.0)


def test_aged_cell_empties_first() -> None:
    bank = _bank(soc_pct=30.0, params=ideal_params())
    bank.age_cell(0, 1, capacity_factor=0.8, resistance_factor=1.0)
    bank.step(3600.0, -20.0)
    soc = bank.cell_soc_pct[0, 0]
    assert soc[1] < soc[0] - 4.0
    with pytest.raises(ValueError):
        bank.age_cell(0, 1, 0.0, 1.0)


def test_advance_returns_interval_extremes() -> None:
    bank = _bank(soc_pct=40.0)
    start_v = bank.terminal_voltage_v
    ext = bank.advance(600.0, -100.0)
    assert ext.min_bank_v <= bank.terminal_voltage_v <= ext.max_bank_v
    assert ext.max_bank_v < start_v  # voltage under discharge is below rest
    assert ext.min_cell_v <= bank.cell_voltages_v.min()
    assert ext.max_cell_v >= bank.cell_voltages_v.max()
    assert ext.min_temperature_c <= ext.max_temperature_c
    assert bank.discharged_ah_total == pytest.approx(100.0 / 6.0)


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        _bank(0, 1)
    with pytest.raises(KeyError):
        BankModel("12.8/999", 1, 1, soc_pct=50, temperature_c=25, seed=1)
    bank = _bank()
    with pytest.raises(ValueError):
        bank.step(-1.0, 0.0)
    with pytest.raises(ValueError):
        bank.step(1.0, float("nan"))
    assert bank.nominal_capacity_ah == 100.0
    assert bank.battery_count == 1
