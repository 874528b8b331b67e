"""The bank's quick paths give what the general ones give: whole-bank report quantisation equals
the per-battery readout (forcing included), the extremes without forcing equal the general
formula, and a single system's scalar bookkeeping equals the same system stepped in a batch."""

from __future__ import annotations

import numpy as np
import pytest

from smallbms.twin.bank import REPORT_CURRENT_RESOLUTION_A, BankModel, _quantise
from smallbms.twin.thevenin import PAIRWISE_BLOCK, pairwise_sum


def busy_bank(systems: int = 1) -> BankModel:
    bank = BankModel("25.6/100", 2, 3, soc_pct=55, temperature_c=21.37, seed=11,
                     systems=systems)
    for k in range(8):
        bank.step(37.0 + k, np.linspace(-40.0, 25.0, systems) + 3.3 * k)
    return bank


def test_reports_equal_the_per_battery_readout_with_and_without_forcing() -> None:
    bank = busy_bank()
    for forced in (False, True):
        if forced:
            bank.force_cell(4, 2, 2.71234)
            bank.force_temperature(1, -3.456)
        reports = bank.reports()
        currents = bank.battery_currents_a[0]
        assert len(reports) == 6
        for b, r in enumerate(reports):
            assert r.cell_voltages_v == bank.reported_cell_voltages_v(b)
            assert r.temperature_c == bank.reported_temperature_c(b)
            assert r.current_a == _quantise(float(currents[b]), REPORT_CURRENT_RESOLUTION_A)
            assert r.series_position == b % 2
    assert reports[4].cell_voltages_v[2] == 2.712
    assert reports[1].temperature_c == -3.5


def test_reports_of_one_system_of_a_batch_equal_its_own_readout() -> None:
    bank = busy_bank(systems=3)
    bank.force_cell(0, 0, 3.0004, system=2)
    for s in range(3):
        for b, r in enumerate(bank.reports(s)):
            assert r.cell_voltages_v == bank.reported_cell_voltages_v(b, s)
            assert r.temperature_c == bank.reported_temperature_c(b, s)


def test_extremes_without_forcing_are_the_kernels_columns_and_forcing_widens_them() -> None:
    bank = busy_bank()
    ext = bank.extremes()
    row = bank._state.extremes[0]
    assert (ext.min_cell_v, ext.max_cell_v, ext.min_bank_v, ext.max_bank_v,
            ext.min_temperature_c, ext.max_temperature_c) == tuple(float(x) for x in row)
    assert ext.min_cell_v <= ext.max_cell_v
    bank.force_cell(0, 0, 1.5)
    assert bank.extremes().min_cell_v == 1.5
    bank.release_all()
    assert bank.extremes() == ext


def test_a_single_systems_bookkeeping_equals_the_batch_arithmetic() -> None:
    one = BankModel("12.8/200", 1, 1, soc_pct=50, temperature_c=20, seed=[5])
    batch = BankModel("12.8/200", 1, 1, soc_pct=50, temperature_c=20, seed=[5, 6],
                      systems=2)
    for k, current in enumerate([12.3, -7.77, 0.0, -0.013, 55.5]):
        one.step(61.0 + k, current)
        batch.step(61.0 + k, np.array([current, 1.0]))
        assert one.charged_ah_total == batch.charged_ah_total_by_system[0]
        assert one.discharged_ah_total == batch.discharged_ah_total_by_system[0]
        assert one.terminal_voltage_v == batch.terminal_voltage_by_system_v[0]
        assert one.bank_current_a == current
    assert one.charged_ah_total > 0 and one.discharged_ah_total > 0


def test_whole_step_rounding_equals_the_scalar_rounding_for_every_step_count() -> None:
    """The reports divide whole steps by the steps per unit; the scalar readout rounds
    ``k * step`` to 6 decimals. They agree for every whole k the bus can carry."""
    k = np.arange(-2_000_000, 2_000_001, dtype=np.float64)
    for step, per_unit in ((0.001, 1000.0), (0.1, 10.0), (0.01, 100.0)):
        fast = (k / per_unit).tolist()
        slow = [round(x * step, 6) for x in k.tolist()]
        assert fast == slow


def test_the_compiled_thevenin_of_one_short_string_equals_the_array_path() -> None:
    """Bit for bit, balancing and ageing included: the twin's re-solves must not move."""
    rng = np.random.default_rng(7)
    for model in ("12.8/100", "12.8/200", "12.8/300"):
        bank = BankModel(model, 1, 1, soc_pct=60, temperature_c=4.0, seed=int(rng.integers(99)))
        assert bank._compiled_view
        bank.age_cell(0, 2, 0.9, 1.3)
        for _ in range(30):
            bank.step(float(rng.uniform(0.5, 900.0)), float(rng.uniform(-120.0, 60.0)))
            for dt in (0.0, 1.0, 60.0, 960.0):
                v_oc, r = bank.thevenin_by_system(dt)
                assert bank.thevenin(dt) == (float(v_oc[0]), float(r[0]))
        full = BankModel(model, 1, 1, soc_pct=99, temperature_c=20.0, seed=3)
        full.step(300.0, 10.0)
        assert full.balancing.any()  # bleed currents enter the source voltage
        v_oc, r = full.thevenin_by_system(60.0)
        assert full.thevenin(60.0) == (float(v_oc[0]), float(r[0]))


def test_every_single_system_takes_the_compiled_view() -> None:
    for model, series, parallel in (("25.6/100", 1, 1), ("12.8/100", 1, 2), ("12.8/100", 2, 1)):
        bank = BankModel(model, series, parallel, soc_pct=50, temperature_c=20, seed=1)
        assert bank._compiled_view
    batch = BankModel("12.8/100", 2, 1, soc_pct=50, temperature_c=20, seed=1, systems=2)
    assert not batch._compiled_view  # batches keep the array path


@pytest.mark.parametrize(("model", "series", "parallel"), [
    ("12.8/100", 1, 2), ("12.8/200", 2, 1), ("25.6/300", 2, 25), ("25.6/100", 1, 1),
    ("12.8/100", 4, 3), ("12.8/300", 1, 50), ("25.6/200", 4, 1), ("12.8/100", 3, 7),
])
def test_the_compiled_thevenin_equals_the_array_path(model: str, series: int,
                                                     parallel: int) -> None:
    """Bit for bit (NumPy's pairwise sums reproduced), balancing and ageing included: the
    twin's re-solves must not move."""
    rng = np.random.default_rng(series * 100 + parallel)
    bank = BankModel(model, series, parallel, soc_pct=60, temperature_c=4.0, seed=5)
    assert bank._compiled_view
    bank.age_cell(0, 2, 0.9, 1.3)
    bank.age_cell(series * parallel - 1, 0, 0.8, 1.7)
    for soc_pct in (60, 99.5):
        if soc_pct > 90:
            bank = BankModel(model, series, parallel, soc_pct=soc_pct, temperature_c=20.0,
                             seed=6)
            bank.step(300.0, 10.0 * parallel)
            assert bank.balancing.any()  # bleed currents enter the source voltage
        for _ in range(12):
            bank.step(float(rng.uniform(0.5, 900.0)), float(rng.uniform(-80.0, 40.0)) * parallel)
            for dt in (0.0, 1.0, 60.0, 960.0):
                v_oc, r = bank.thevenin_by_system(dt)
                assert bank.thevenin(dt) == (float(v_oc[0]), float(r[0]))


def test_the_compiled_pairwise_sum_is_numpys_for_every_row_length() -> None:
    rng = np.random.default_rng(3)
    for n in range(1, PAIRWISE_BLOCK + 1):
        for _ in range(20):
            row = rng.standard_normal(n + 5) * 10.0 ** rng.integers(-4, 5, size=n + 5)
            assert pairwise_sum(row, 5, n) == row[5:].sum()


def test_a_copy_of_the_bank_runs_on_its_own_and_equals_the_original_run() -> None:
    bank = busy_bank()
    twin = bank.copy()
    bank.step(120.0, -30.0)
    assert twin.terminal_voltage_v != bank.terminal_voltage_v  # the copy did not move
    twin.step(120.0, -30.0)
    assert np.array_equal(twin._state.cell_v, bank._state.cell_v)
    assert twin.discharged_ah_total == bank.discharged_ah_total
    # ageing one replaces its parameter arrays: the other keeps its own
    twin.age_cell(0, 0, 0.5, 2.0)
    assert bank._state.r0_ref_ohm[0, 0] != twin._state.r0_ref_ohm[0, 0]
    twin.force_cell(1, 1, 2.5)
    assert bank.extremes().min_cell_v > 2.5


def test_an_unchanged_battery_report_is_handed_on_and_a_changed_one_is_new() -> None:
    bank = busy_bank()
    first = bank.reports()
    again = bank.reports()
    assert all(a is b for a, b in zip(first, again, strict=True))
    bank.force_cell(3, 1, 2.9)
    forced = bank.reports()
    assert forced[3] is not first[3] and forced[3].cell_voltages_v[1] == 2.9
    assert forced[0] is first[0]
    for b, r in enumerate(forced):  # what is handed on is still what the readout says
        assert r.cell_voltages_v == bank.reported_cell_voltages_v(b)


def test_a_report_of_zero_current_keeps_the_sign_it_comes_with() -> None:
    bank = BankModel("12.8/100", 1, 1, soc_pct=50, temperature_c=20, seed=1)
    bank.step(10.0, 0.001)
    plus = bank.reports()[0]
    bank.step(10.0, -0.001)
    minus = bank.reports()[0]
    assert plus.current_a == 0.0 and minus.current_a == 0.0
    assert str(plus.current_a) == "0.0" and str(minus.current_a) == "-0.0"
