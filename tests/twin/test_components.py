"""Chargers and loads of the system examples: current in each state, CV limits, the Cyrix-Li-ct."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallbms import scenario as sc
from smallbms.catalog import get_model
from smallbms.sources.components import from_scenario
from smallbms.twin.components import (
    AcCharger,
    Alternator,
    BankView,
    BatteryProtect,
    Component,
    CyrixLiCt,
    DcLoad,
    Demand,
    Inverter,
    SolarCharger,
    ThreeStage,
    TimeWindows,
    is_enabled,
    next_change_s,
    solve_bus,
)
from smallbms.twin.profiles import ProfileError, make_profile
from smallbms.twin.solar import PvArray

H = 3_600.0
DAY = 86_400.0


def stage(charger: AcCharger | SolarCharger) -> str:
    """The charge stage, read through a function so the type checker does not pin it."""
    return charger.algorithm.stage


def bank(v_oc: float = 13.2, r_ohm: float = 0.002, **kw: float) -> BankView:
    return BankView(v_oc, r_ohm, **kw)


# --- the bank view --------------------------------------------------------------------------------


def test_bank_view_thevenin_arithmetic() -> None:
    b = bank(13.0, 0.01)
    assert b.terminal_v(10.0) == pytest.approx(13.1)
    assert b.terminal_v(-20.0) == pytest.approx(12.8)
    assert b.cv_current_a(13.5) == pytest.approx(50.0)
    assert b.after(10.0).thevenin_v_oc == pytest.approx(13.1)
    assert b.after(10.0).thevenin_r_ohm == b.thevenin_r_ohm
    assert b.scale == 1.0


def test_bank_view_for_a_catalogue_bank() -> None:
    view = BankView.for_model(get_model("12.8/200"), series=2, parallel=3, v_oc=26.5, r_ohm=0.002)
    assert view.nominal_voltage_v == pytest.approx(25.6)
    assert view.capacity_ah == 600.0
    assert view.charge_voltage_v == pytest.approx(28.4)
    assert view.float_voltage_v == pytest.approx(27.0)
    assert view.scale == pytest.approx(2.0)


def test_bank_view_needs_a_resistance() -> None:
    with pytest.raises(ValueError):
        BankView(13.0, 0.0)


@pytest.mark.parametrize(
    ("controlled_by", "load", "charge", "expected"),
    [
        ("load_disconnect", True, False, True),
        ("load_disconnect", False, True, False),
        ("charge_disconnect", False, True, True),
        ("charge_disconnect", True, False, False),
        ("none", False, False, True),
    ],
)
def test_is_enabled(controlled_by: str, load: bool, charge: bool, expected: bool) -> None:
    assert is_enabled(controlled_by, load, charge) is expected  # type: ignore[arg-type]


# --- loads ---------------------------------------------------------------------------------------


def test_dc_load_draws_its_current_when_enabled_and_nothing_when_disabled() -> None:
    load = DcLoad("lights", Demand(20.0))
    assert load.current_a(0, 13.2, True, bank()) == -20.0
    assert load.current_a(0, 13.2, False, bank()) == 0.0
    assert load.next_change_s(0) is None


def test_uncontrolled_load_ignores_the_output() -> None:
    load = DcLoad("alarm", Demand(0.01), controlled_by="none")
    assert load.current_a(0, 12.0, False, bank()) == -0.01
    assert load.current_a(0, 12.0, True, bank()) == -0.01


def test_constant_power_load_draws_more_at_lower_voltage() -> None:
    load = DcLoad("heater", Demand(240.0), mode="power")
    assert load.current_a(0, 12.0, True, bank()) == pytest.approx(-20.0)
    assert load.current_a(0, 13.33, True, bank()) == pytest.approx(-240 / 13.33)
    assert load.current_a(0, 0.5, True, bank()) == 0.0  # browned out


def test_profile_load_follows_its_steps() -> None:
    load = DcLoad("fridge", Demand(profile=make_profile([[0, 0], ["1h", 5]])))
    assert load.current_a(0.5 * H, 13.0, True, bank()) == 0.0
    assert load.current_a(1.5 * H, 13.0, True, bank()) == -5.0
    assert load.next_change_s(0) == H
    assert load.next_change_s(H) == DAY


def test_inverter_dc_draw() -> None:
    inv = Inverter("inverter", Demand(375.0))
    expected = -(375.0 / 0.92 + 6.0) / 12.8
    assert inv.current_a(0, 12.8, True, bank()) == pytest.approx(expected)
    assert inv.current_a(0, 12.8, False, bank()) == 0.0
    idle = Inverter("idle", Demand(0.0))
    assert idle.current_a(0, 12.0, True, bank()) == pytest.approx(-0.5)


def test_inverter_low_voltage_shutdown_and_restart() -> None:
    inv = Inverter("inverter", Demand(200.0))
    assert inv.current_a(0, 10.6, True, bank()) < 0
    assert inv.current_a(1, 10.4, True, bank()) == 0.0
    assert inv.tripped
    assert inv.current_a(2, 11.9, True, bank()) == 0.0  # hysteresis: needs 12 V
    assert inv.current_a(3, 12.0, True, bank()) < 0
    assert not inv.tripped


def test_inverter_thresholds_scale_with_the_bank() -> None:
    inv = Inverter("inverter", Demand(200.0))
    b24 = bank(26.0, nominal_voltage_v=25.6)
    assert inv.current_a(0, 21.5, True, b24) < 0
    assert inv.current_a(1, 20.9, True, b24) == 0.0


def test_inverter_rejects_a_bad_efficiency() -> None:
    with pytest.raises(ValueError):
        Inverter("x", Demand(1.0), efficiency=0.0)


def test_battery_protect_follows_its_remote_input_at_once() -> None:
    bp = BatteryProtect("bp", DcLoad("loads", Demand(20.0), controlled_by="none"))
    assert bp.current_a(0, 13.2, True, bank()) == -20.0
    assert bp.current_a(1, 13.2, False, bank()) == 0.0
    assert bp.current_a(2, 13.2, True, bank()) == -20.0


def test_battery_protect_low_voltage_disconnect_after_90_s_and_reconnect_after_30_s() -> None:
    bp = BatteryProtect("bp", DcLoad("loads", Demand(10.0), controlled_by="none"))
    assert bp.current_a(0, 10.4, True, bank()) == -10.0
    assert bp.next_change_s(0) == 90.0
    assert bp.current_a(89, 10.4, True, bank()) == -10.0
    assert bp.current_a(90, 10.4, True, bank()) == 0.0
    assert bp.low_voltage_off
    assert bp.current_a(100, 11.9, True, bank()) == 0.0
    assert bp.current_a(110, 12.1, True, bank()) == 0.0
    assert bp.next_change_s(110) == 140.0
    assert bp.current_a(139, 12.1, True, bank()) == 0.0
    assert bp.current_a(140, 12.1, True, bank()) == -10.0


def test_battery_protect_ignores_a_short_dip() -> None:
    bp = BatteryProtect("bp", DcLoad("loads", Demand(10.0), controlled_by="none"))
    bp.current_a(0, 10.0, True, bank())  # engine crank
    bp.current_a(60, 12.5, True, bank())
    assert bp.current_a(120, 10.4, True, bank()) == -10.0
    assert bp.current_a(200, 10.4, True, bank()) == -10.0  # 80 s below: not yet
    assert bp.next_change_s(200) == 210.0


def test_battery_protect_scales_and_takes_absolute_thresholds() -> None:
    bp = BatteryProtect("bp", DcLoad("l", Demand(1.0), controlled_by="none"), disconnect_v=11.0)
    bp.current_a(0, 10.9, True, bank())
    assert bp.current_a(90, 10.9, True, bank()) == 0.0
    bp24 = BatteryProtect("bp", DcLoad("l", Demand(1.0), controlled_by="none"))
    b24 = bank(25.0, nominal_voltage_v=25.6)
    bp24.current_a(0, 20.9, True, b24)
    assert bp24.current_a(90, 20.9, True, b24) == 0.0


# --- chargers ------------------------------------------------------------------------------------


def test_ac_charger_bulk_then_absorption_at_the_charge_voltage() -> None:
    charger = AcCharger("ip43", 30.0)
    assert charger.current_a(0, 13.3, True, bank(13.3, 0.01)) == 30.0
    assert stage(charger) == "bulk"
    near_full = bank(14.15, 0.01)
    i = charger.current_a(60, 14.15, True, near_full)
    assert i == pytest.approx(5.0)
    assert near_full.terminal_v(i) == pytest.approx(14.2)
    assert stage(charger) == "absorption"


def test_ac_charger_float_after_the_absorption_time() -> None:
    charger = AcCharger("ip43", 30.0)
    b = bank(14.1, 0.002)  # CV current 50 A > 30 A: still bulk
    assert charger.current_a(0, 14.1, True, b) == 30.0
    b = bank(14.18, 0.002)  # CV current 10 A: absorption, above the 5 A tail
    charger.current_a(10, 14.18, True, b)
    assert stage(charger) == "absorption"
    assert charger.next_change_s(10) == 10 + 7_200.0
    charger.current_a(7_209, 14.18, True, b)
    assert stage(charger) == "absorption"
    i = charger.current_a(7_210, 14.18, True, b)
    assert stage(charger) == "float"
    assert i == 0.0  # above 13.5 V already: nothing in float
    resting = bank(13.45, 0.002)
    assert resting.terminal_v(charger.current_a(7_220, 13.45, True, resting)) == pytest.approx(13.5)


def test_ac_charger_tail_current_ends_absorption_early_but_not_too_early() -> None:
    charger = AcCharger("ip43", 30.0)
    b = bank(14.195, 0.002)  # CV current 2.5 A < 5 % of 100 Ah
    charger.current_a(0, 14.195, True, b)
    assert stage(charger) == "absorption"
    charger.current_a(899, 14.195, True, b)
    assert stage(charger) == "absorption"
    charger.current_a(900, 14.195, True, b)
    assert stage(charger) == "float"


def test_ac_charger_back_to_bulk_when_the_bank_sags_in_float() -> None:
    charger = AcCharger("ip43", 10.0)
    charger.algorithm.stage = "float"
    assert charger.current_a(0, 13.4, True, bank(13.4, 0.002)) == 10.0  # float, current-limited
    assert stage(charger) == "float"
    assert charger.current_a(1, 13.0, True, bank(13.0, 0.002)) == 10.0
    assert stage(charger) == "bulk"  # terminal 13.02 V < 13.2 V


def test_ac_charger_off_outside_its_windows_and_when_disabled() -> None:
    charger = AcCharger("shore", 20.0, windows=TimeWindows.from_spans([(H, 2 * H)]))
    assert charger.current_a(0, 13.0, True, bank(13.0)) == 0.0
    assert charger.current_a(H, 13.0, True, bank(13.0)) == 20.0
    assert charger.current_a(H + 1, 13.0, False, bank(13.0)) == 0.0
    assert charger.current_a(2 * H, 13.0, True, bank(13.0)) == 0.0
    assert charger.next_change_s(0) == H
    assert charger.next_change_s(H) == 2 * H
    assert charger.next_change_s(2 * H) is None


def test_disabling_a_charger_restarts_it_in_bulk() -> None:
    charger = AcCharger("ip43", 30.0)
    charger.current_a(0, 14.19, True, bank(14.19))
    assert stage(charger) == "absorption"
    charger.current_a(1, 14.19, False, bank(14.19))
    assert stage(charger) == "bulk"


def test_ac_charger_uses_given_voltages() -> None:
    charger = AcCharger("ip43", 50.0, absorption_v=14.0)
    b = bank(13.95, 0.002)
    assert b.terminal_v(charger.current_a(0, 13.95, True, b)) == pytest.approx(14.0)


def test_uncontrolled_charger_keeps_charging() -> None:
    charger = AcCharger("old charger", 20.0, controlled_by="none")
    assert charger.current_a(0, 13.0, False, bank(13.0)) == 20.0


@settings(max_examples=200, deadline=None)
@given(
    v_ocs=st.lists(st.floats(min_value=10.0, max_value=15.0), min_size=1, max_size=20),
    r_ohm=st.floats(min_value=0.0005, max_value=0.05),
    max_a=st.floats(min_value=0.5, max_value=300.0),
)
def test_cv_chargers_never_lift_the_terminal_above_their_set_voltage(
    v_ocs: list[float], r_ohm: float, max_a: float
) -> None:
    charger = AcCharger("ac", max_a)
    alternator = Alternator("alt", max_a)
    solar = SolarCharger("pv", PvArray(5_000.0, cloudiness=0.0), max_current_a=max_a)
    for step, v_oc in enumerate(v_ocs):
        b = bank(v_oc, r_ohm)
        t = 12 * H + step * 600.0
        for comp in (charger, alternator, solar):
            i = comp.current_a(t, v_oc, True, b)
            assert 0.0 <= i <= max_a + 1e-9
            assert b.terminal_v(i) <= 14.2 + 1e-9 or i == 0.0


def test_three_stage_restart() -> None:
    algo = ThreeStage(stage="float")
    algo.restart()
    assert algo.stage == "bulk" and algo.absorption_since_s is None


# --- solar charger -------------------------------------------------------------------------------


def test_solar_charger_day_and_night() -> None:
    mppt = SolarCharger("mppt", PvArray(220.0, cloudiness=0.0), max_current_a=15.0)
    assert mppt.current_a(1 * H, 13.2, True, bank()) == 0.0
    noon = mppt.current_a(12 * H, 13.2, True, bank())
    assert noon == pytest.approx(220 * 0.894 * 0.97 / 13.2, rel=5e-3)
    assert mppt.current_a(12 * H, 13.2, False, bank()) == 0.0
    assert mppt.current_a(DAY + 1 * H, 13.2, True, bank()) == 0.0


def test_solar_charger_is_capped_by_its_rating() -> None:
    mppt = SolarCharger("mppt", PvArray(1_000.0, cloudiness=0.0), max_current_a=15.0)
    assert mppt.current_a(12 * H, 13.2, True, bank()) == 15.0


def test_solar_charger_absorbs_at_the_charge_voltage_and_restarts_every_morning() -> None:
    mppt = SolarCharger("mppt", PvArray(1_000.0, cloudiness=0.0), max_current_a=40.0)
    full = bank(14.19, 0.002)
    i = mppt.current_a(10 * H, 14.19, True, full)
    assert full.terminal_v(i) == pytest.approx(14.2)
    assert stage(mppt) == "absorption"
    mppt.current_a(12 * H, 14.19, True, full)
    assert stage(mppt) == "float"
    assert mppt.current_a(23 * H, 13.3, True, bank(13.3)) == 0.0  # night
    assert stage(mppt) == "bulk"


def test_solar_charger_next_change() -> None:
    mppt = SolarCharger("mppt", PvArray(220.0, cloudiness=0.0))
    assert mppt.next_change_s(0.0) == mppt.array.next_sunrise_s(0.0)
    assert mppt.next_change_s(12 * H) == 12 * H + 300.0


# --- Cyrix-Li-ct and alternator ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connected", "starter_v", "lithium_v", "bms_high", "expected"),
    [
        (False, 14.2, 13.0, True, True),  # engine running: connects
        (False, 14.2, 13.0, False, False),  # BMS says no charging
        (True, 14.2, 13.0, False, False),  # opens at once when the input floats
        (False, 12.7, 13.0, True, False),  # engine off, lithium not charged
        (False, 12.7, 13.4, True, True),  # lithium side charged (solar) also connects
        (False, 13.3, 13.0, True, False),  # 13.3 V is not enough to connect...
        (True, 13.3, 13.0, True, True),  # ...but keeps it connected (hysteresis)
        (True, 12.7, 13.1, True, False),  # below 13.2 V: opens
    ],
)
def test_cyrix_li_ct_logic(
    connected: bool, starter_v: float, lithium_v: float, bms_high: bool, expected: bool
) -> None:
    cyrix = CyrixLiCt(connected=connected)
    assert cyrix.update(starter_v, lithium_v, bms_high) is expected
    assert cyrix.connected is expected


def test_cyrix_li_ct_scales_for_24_v() -> None:
    cyrix = CyrixLiCt()
    assert not cyrix.update(26.7, 25.0, True, scale=2.0)
    assert cyrix.update(26.8, 25.0, True, scale=2.0)


def test_alternator_charges_through_the_cyrix_only_when_running_and_allowed() -> None:
    alt = Alternator("alt", 60.0, windows=TimeWindows.from_spans([(H, 2 * H)]))
    b = bank(13.1, 0.002)
    assert alt.current_a(0, 13.1, True, b) == 0.0
    assert not alt.combiner.connected
    assert alt.current_a(H, 13.1, True, b) == 60.0
    assert alt.combiner.connected
    assert alt.current_a(H + 1, 13.1, False, b) == 0.0
    assert not alt.combiner.connected
    assert alt.current_a(2 * H, 13.1, True, b) == 0.0  # engine stopped
    assert alt.next_change_s(0) == H


def test_alternator_is_cv_limited() -> None:
    alt = Alternator("alt", 100.0)
    b = bank(14.15, 0.002)
    i = alt.current_a(0, 14.15, True, b)
    assert i == pytest.approx(25.0)
    assert b.terminal_v(i) == pytest.approx(14.2)
    assert alt.current_a(1, 14.3, True, bank(14.3)) == 0.0


# --- time windows --------------------------------------------------------------------------------


def test_time_windows_merge_and_are_half_open() -> None:
    w = TimeWindows.from_spans([(10, 20), (15, 30), (40, 50)])
    assert w.edges_s == (10, 30, 40, 50)
    assert not w.active(9.9) and w.active(10) and w.active(29.9) and not w.active(30)
    assert w.next_edge_s(0) == 10 and w.next_edge_s(10) == 30 and w.next_edge_s(50) is None
    assert TimeWindows().active(1e9) and TimeWindows().next_edge_s(0) is None
    with pytest.raises(ValueError):
        TimeWindows.from_spans([(5, 5)])


# --- a whole bus ---------------------------------------------------------------------------------


class Counting:
    """Wraps a component and counts the calls, to show each is asked once per solve."""

    def __init__(self, inner: Component) -> None:
        self.inner = inner
        self.calls = 0
        self.name, self.kind, self.role = inner.name, inner.kind, inner.role
        self.controlled_by = inner.controlled_by

    def current_a(self, t_s: float, bank_v: float, enabled: bool, bank: BankView) -> float:
        self.calls += 1
        return self.inner.current_a(t_s, bank_v, enabled, bank)

    def next_change_s(self, t_s: float) -> float | None:
        return self.inner.next_change_s(t_s)


def test_solve_bus_with_everything_allowed() -> None:
    comps: list[Component] = [
        DcLoad("lights", Demand(10.0)),
        AcCharger("ip43", 30.0),
        Alternator("alt", 60.0),
    ]
    b = bank(14.15, 0.002)
    sol = solve_bus(comps, 0.0, b, load_disconnect=True, charge_disconnect=True)
    assert sol.currents_a[0] == -10.0
    assert sol.net_current_a == pytest.approx(sum(sol.currents_a))
    assert sol.terminal_v == pytest.approx(14.2)  # two CV chargers share the limit
    assert sol.currents_a[1] == 30.0


def test_solve_bus_with_both_outputs_floating_only_uncontrolled_parts_run() -> None:
    comps: list[Component] = [
        DcLoad("alarm", Demand(0.5), controlled_by="none"),
        DcLoad("lights", Demand(10.0)),
        AcCharger("ip43", 30.0),
    ]
    sol = solve_bus(comps, 0.0, bank(12.0), load_disconnect=False, charge_disconnect=False)
    assert sol.currents_a == (-0.5, 0.0, 0.0)


def test_solve_bus_asks_each_component_once() -> None:
    wrapped = [Counting(DcLoad("l", Demand(1.0))), Counting(AcCharger("c", 5.0))]
    solve_bus(wrapped, 0.0, bank(), True, True, bank_v=13.1)
    assert [w.calls for w in wrapped] == [1, 1]


def test_next_change_over_components() -> None:
    comps: list[Component] = [
        DcLoad("l", Demand(profile=make_profile([[0, 1], ["2h", 2]]))),
        AcCharger("c", 5.0, windows=TimeWindows.from_spans([(H, 3 * H)])),
    ]
    assert next_change_s(comps, 0.0) == H
    assert next_change_s([DcLoad("c", Demand(1.0))], 0.0) is None


# --- from a parsed scenario ----------------------------------------------------------------------


def test_from_scenario_builds_every_kind() -> None:
    profile = sc.LoadProfile(points=(sc.ProfilePoint(0, 2.0), sc.ProfilePoint(3600, 4.0)))
    specs: list[sc.Component] = [
        sc.DcLoad(name="a", controlled_by="load_disconnect", current_a=5.0),
        sc.DcLoad(name="b", controlled_by="none", profile=profile),
        sc.DcLoad(name="c", controlled_by="load_disconnect", profile=sc.LoadProfile(name="cabin_day")),
        sc.Inverter(name="d", controlled_by="load_disconnect", power_w=375.0),
        sc.BatteryProtect(name="e", controlled_by="load_disconnect", power_w=120.0, cutoff_v=11.0),
        sc.Solar(name="f", controlled_by="charge_disconnect", peak_w=220.0, cloudiness=0.0),
        sc.AcCharger(name="g", controlled_by="charge_disconnect", current_a=15.0,
                     on=(sc.TimeWindow(0, 3600),)),
        sc.Alternator(name="h", controlled_by="charge_disconnect", current_a=30.0),
    ]
    built = [from_scenario(s, index=i, seed=1) for i, s in enumerate(specs)]
    kinds = [c.kind for c in built]
    assert kinds == ["dc_load", "dc_load", "dc_load", "inverter", "battery_protect", "solar",
                     "ac_charger", "alternator"]
    assert [c.name for c in built] == list("abcdefgh")
    b = bank(13.2)
    assert built[0].current_a(0, 12.0, True, b) == -5.0
    assert built[1].current_a(3600, 12.0, False, b) == -4.0
    assert built[2].current_a(12 * H, 12.0, True, b) == pytest.approx(-300.0 / 12.0)  # watts
    assert built[4].current_a(0, 12.0, True, b) == pytest.approx(-10.0)
    assert built[6].current_a(0, 13.0, True, bank(13.0)) == 15.0
    assert built[6].current_a(3600, 13.0, True, bank(13.0)) == 0.0
    assert built[5].current_a(12 * H, 13.2, True, b) > 0


def test_from_scenario_refuses_amp_profiles_for_inverters_and_unknown_names() -> None:
    fridge = sc.Inverter(name="x", controlled_by="none", profile=sc.LoadProfile(name="fridge"))
    with pytest.raises(ProfileError, match="watts"):
        from_scenario(fridge)
    unknown = sc.DcLoad(name="y", controlled_by="none", profile=sc.LoadProfile(name="nope"))
    with pytest.raises(ProfileError, match="unknown profile"):
        from_scenario(unknown)


def test_from_scenario_gives_each_solar_array_its_own_clouds() -> None:
    spec = sc.Solar(name="s", controlled_by="charge_disconnect", peak_w=220.0)
    a = from_scenario(spec, index=0, seed=4)
    b = from_scenario(spec, index=1, seed=4)
    assert isinstance(a, SolarCharger) and isinstance(b, SolarCharger)
    times = [i * 1_200.0 for i in range(200)]
    assert [a.array.cloud_factor(t) for t in times] != [b.array.cloud_factor(t) for t in times]


def test_a_copied_component_keeps_its_own_state_and_shares_its_immutable_parts() -> None:
    from smallbms.twin.components import copy_component

    charger = AcCharger("mains", 30.0)
    charger.algorithm.stage = "absorption"
    charger.algorithm.absorption_since_s = 100.0
    copied = copy_component(charger)
    assert isinstance(copied, AcCharger)
    charger.algorithm.restart()
    assert copied.algorithm.stage == "absorption" and copied.algorithm.absorption_since_s == 100.0
    assert copied.windows is charger.windows  # frozen: shared
    protect = BatteryProtect("bp", DcLoad("lamp", Demand(constant=2.0)))
    protect.low_voltage_off = True
    protected = copy_component(protect)
    assert isinstance(protected, BatteryProtect)
    assert protected.load is not protect.load
    protect.low_voltage_off = False
    assert protected.low_voltage_off
