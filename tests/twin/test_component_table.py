"""The component table: every kind of component, solved by the compiled functions and by the
Python models side by side, gives the same currents, the same next change times and the same
state, bit for bit (Hypothesis walks random bus voltages, outputs and times)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallbms.twin import component_table as ctab
from smallbms.twin import components as comp
from smallbms.twin.profiles import BUILTIN_PROFILES, DAY_S, Profile
from smallbms.twin.solar import PvArray

pytestmark = pytest.mark.skipif(not ctab.NUMBA_AVAILABLE, reason="the table is compiled")

NOMINAL_V, CAPACITY_AH, CHARGE_V, FLOAT_V = 12.8, 200.0, 14.2, 13.5


def every_kind() -> list[comp.Component]:
    """One or more components of each kind, with profiles, windows, clouds and thresholds."""
    fridge = comp.Demand(profile=BUILTIN_PROFILES["fridge"])
    once = Profile((0.0, 3_000.0, 9_000.0), (2.0, 0.0, 7.5), None)
    windows = comp.TimeWindows.from_spans([(1_000.0, 20_000.0), (50_000.0, 90_000.0)])
    return [
        comp.DcLoad("fridge", fridge),
        comp.DcLoad("heater", comp.Demand(constant=120.0), "power", "none"),
        comp.DcLoad("once", comp.Demand(profile=once)),
        comp.Inverter("inverter", comp.Demand(profile=BUILTIN_PROFILES["camper_evening"])),
        comp.Inverter("tv", comp.Demand(constant=80.0), 0.9, 4.0, "none", 11.5, 12.5),
        comp.BatteryProtect("bp", comp.DcLoad("bp load", comp.Demand(constant=6.0), "current",
                                              "none"), disconnect_delay_s=30.0),
        comp.SolarCharger("pv", PvArray(400.0, 50.0, 172.0, 0.5, seed=3, stream=1), 25.0),
        comp.SolarCharger("clear", PvArray(200.0, -30.0, 10.0, 0.0), None),
        comp.AcCharger("mains", 30.0, "charge_disconnect", windows,
                       algorithm=comp.ThreeStage(absorption_time_s=3_000.0,
                                                 min_absorption_s=600.0)),
        comp.AcCharger("shore", 10.0, "none", rebulk_v=13.0, absorption_v=14.0),
        comp.Alternator("alt", 60.0, windows),
    ]


def state_of(components: list[comp.Component]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for c in components:
        if isinstance(c, comp.Inverter):
            out.append((c.tripped,))
        elif isinstance(c, comp.AcCharger | comp.SolarCharger):
            out.append((c.algorithm.stage, c.algorithm.absorption_since_s))
        elif isinstance(c, comp.Alternator):
            out.append((c.combiner.connected,))
        elif isinstance(c, comp.BatteryProtect):
            out.append((c.low_voltage_off, c._since_s))
        else:
            out.append(())
    return out


def compiled_solve(table: ctab.ComponentTable, t: float, view: comp.BankView,
                   ld: bool, cd: bool, bank_v: float) -> tuple[list[float], float]:
    ints, floats, state, prof_t, prof_v, _prof_c, win, sun, clouds = table.args()
    currents = np.zeros(ints.shape[0])
    net = ctab.solve_bus(ints, floats, state, prof_t, prof_v, win, sun, clouds, t,
                         view.thevenin_v_oc, view.thevenin_r_ohm, view.nominal_voltage_v,
                         view.capacity_ah, view.charge_voltage_v, view.float_voltage_v, ld, cd,
                         bank_v, currents, ctab.FSUM_NEGATIVE_ZERO)
    return currents.tolist(), float(net)


def compiled_next(table: ctab.ComponentTable, t: float) -> float:
    return float(ctab.next_change_s(*table.args(), t, comp.SOLAR_DAYLIGHT_STEP_S))


#: open-circuit voltages on either side of the thresholds (inverter, BatteryProtect, Cyrix,
#: rebulk, float, charge)
NEAR_THRESHOLDS = [10.4, 10.6, 11.9, 12.1, 13.15, 13.3, 13.45, 13.55, 14.15, 14.25]
STEP = st.tuples(
    st.floats(0.001, 60.0) | st.floats(60.0, 4_000.0),  # time to the next solve, s
    st.floats(9.0, 15.0) | st.sampled_from(NEAR_THRESHOLDS),  # open-circuit voltage
    st.floats(0.0005, 0.05),  # resistance
    st.floats(-0.3, 0.3),  # terminal voltage minus open-circuit voltage
    st.booleans(), st.booleans(),  # load disconnect, charge disconnect
)


@settings(max_examples=120, deadline=None)
@given(t0=st.floats(0.0, 300 * DAY_S), steps=st.lists(STEP, min_size=1, max_size=40))
def test_compiled_solve_equals_the_python_models(t0: float,
                                                 steps: list[tuple[float, ...]]) -> None:
    python = every_kind()
    tabled = every_kind()
    span = sum(s[0] for s in steps)
    table = ctab.ComponentTable.build(tabled, t0, t0 + span)
    assert table is not None
    t = t0
    for dt, v_oc, r, dv, ld, cd in steps:
        view = comp.BankView(v_oc, r, NOMINAL_V, CAPACITY_AH, CHARGE_V, FLOAT_V)
        nxt = comp.next_change_s(python, t)
        assert compiled_next(table, t) == (math.inf if nxt is None else nxt)
        sol = comp.solve_bus(python, t, view, bool(ld), bool(cd), bank_v=v_oc + dv)
        currents, net = compiled_solve(table, t, view, bool(ld), bool(cd), v_oc + dv)
        assert currents == list(sol.currents_a)
        assert net == sol.net_current_a and math.copysign(1, net) == math.copysign(
            1, sol.net_current_a)
        table.write_back(tabled)
        assert state_of(tabled) == state_of(python)
        t += dt


def test_every_state_machine_walked_through_held_voltages() -> None:
    """Each voltage near a threshold held for a while (delays, absorption, trips, the
    combiner), outputs switching, over two days: the same at every step."""
    python = every_kind()
    tabled = every_kind()
    table = ctab.ComponentTable.build(tabled, 0.0, 2 * DAY_S)
    assert table is not None
    t = 0.0
    holds = [1.0, 20.0, 15.0, 40.0, 100.0, 1_000.0, 3_000.0]
    for k, v_oc in enumerate([9.0, *NEAR_THRESHOLDS, 15.0, 13.3, 10.4, 14.25] * 2):
        ld, cd = k % 3 != 0, k % 4 != 1
        for dt in holds:
            view = comp.BankView(v_oc, 0.01, NOMINAL_V, CAPACITY_AH, CHARGE_V, FLOAT_V)
            nxt = comp.next_change_s(python, t)
            assert compiled_next(table, t) == (math.inf if nxt is None else nxt)
            sol = comp.solve_bus(python, t, view, ld, cd, bank_v=v_oc - 0.05)
            assert compiled_solve(table, t, view, ld, cd, v_oc - 0.05) == (
                list(sol.currents_a), sol.net_current_a)
            table.write_back(tabled)
            assert state_of(tabled) == state_of(python), (t, v_oc)
            t += dt
    assert t > DAY_S


def test_state_read_back_into_a_built_table() -> None:
    """A table built once takes up copies' state (the twin restores snapshots)."""
    python = every_kind()
    table = ctab.ComponentTable.build(python, 0.0, DAY_S)
    assert table is not None
    view = comp.BankView(13.0, 0.01, NOMINAL_V, CAPACITY_AH, CHARGE_V, FLOAT_V)
    copies = [comp.copy_component(c) for c in python]
    for t in (1_500.0, 2_000.0, 40_000.0):
        comp.solve_bus(python, t, view, True, True, bank_v=9.0)  # trips, stages, timers
    table.read_state(python)
    table.write_back(copies)
    assert state_of(copies) == state_of(python)


def test_a_component_the_table_does_not_know_means_no_table() -> None:
    class Odd(comp.DcLoad):
        pass

    assert ctab.ComponentTable.build([Odd("odd", comp.Demand(constant=1.0))], 0.0, 60.0) is None


def test_the_next_sunrise_beyond_the_table_is_not_guessed() -> None:
    """In a polar night the table cannot see the next sunrise: NaN, and the twin falls back."""
    polar = [comp.SolarCharger("pv", PvArray(300.0, 85.0, 355.0, 0.3))]
    table = ctab.ComponentTable.build(polar, 0.0, 3_600.0)
    assert table is not None
    assert math.isnan(compiled_next(table, 1_800.0))
    sunny = ctab.ComponentTable.build(every_kind(), 0.0, 3_600.0)
    assert sunny is not None and not math.isnan(compiled_next(sunny, 1_800.0))


FINITE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)


@settings(max_examples=300, deadline=None)
@given(st.lists(FINITE | st.sampled_from([0.0, -0.0, 1e-16, -1e-16, 1.0]), max_size=12))
def test_fsum_equals_math_fsum(values: list[float]) -> None:
    got = float(ctab.fsum(np.array(values, dtype=np.float64), len(values),
                          ctab.FSUM_NEGATIVE_ZERO))
    want = math.fsum(values)
    assert got == want and math.copysign(1, got) == math.copysign(1, want)
