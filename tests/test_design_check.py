"""`smallbms check`: findings for good and bad system designs, and Appendix A as data."""

from __future__ import annotations

import tomllib

import pytest

from smallbms.design_check import (
    SUGGESTED_SUPPLY_FUSE_A,
    SYSTEM_EXAMPLES,
    DesignComponent,
    DesignError,
    Finding,
    SystemDesign,
    check_design,
)
from smallbms.twin.appendix_a import (
    APPENDIX_A,
    family,
    family_for_kind,
    lookup,
    rating_from_name,
)
from smallbms.twin.components import COMPONENT_KINDS

FUSE = SUGGESTED_SUPPLY_FUSE_A


def codes(findings: list[Finding], severity: str | None = None) -> list[str]:
    return [f.code for f in findings if severity is None or f.severity == severity]


def design(*components: DesignComponent, **kw: object) -> SystemDesign:
    kw.setdefault("supply_fuse_a", FUSE)
    return SystemDesign(components=components, **kw)  # type: ignore[arg-type]


def only(findings: list[Finding], code: str) -> Finding:
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, findings
    return matching[0]


# --- the manual's system examples ------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(SYSTEM_EXAMPLES))
def test_system_examples_pass_without_errors_or_warnings(key: str) -> None:
    findings = check_design(SYSTEM_EXAMPLES[key])
    assert codes(findings, "error") == []
    assert codes(findings, "warning") == []
    assert all(f.severity == "info" for f in findings)


def test_solar_example_says_which_cable_the_mppt_needs() -> None:
    findings = check_design(SYSTEM_EXAMPLES["solar_battery_protect"])
    cable = only(findings, "needs-cable")
    assert cable.component == "solar"
    assert "ASS030550320" in cable.message and "charge disconnect" in cable.message
    wiring = only(findings, "wiring")
    assert "pin H" in wiring.message and "load disconnect" in wiring.message


def test_cyrix_example_wires_pin_85_to_the_charge_disconnect() -> None:
    findings = check_design(SYSTEM_EXAMPLES["cyrix_combiner"])
    messages = [f.message for f in findings if f.component == "alternator"]
    assert any("pin 85" in m and "charge disconnect" in m for m in messages)


def test_inverter_example_uses_terminal_h() -> None:
    findings = check_design(SYSTEM_EXAMPLES["inverter_ve_direct"])
    inverter = [f for f in findings if f.component == "inverter"]
    assert [f.code for f in inverter] == ["wiring"]
    assert "terminal H" in inverter[0].message


# --- wiring to the right output ------------------------------------------------------------------


def test_uncontrolled_load_is_a_warning_with_the_time_to_damage() -> None:
    findings = check_design(design(
        DesignComponent("dc_load", "alarm", controlled_by="none", current_a=0.01),
        DesignComponent("ac_charger", "ip43", "Phoenix Smart Charger IP43", current_a=15),
    ))
    warning = only(findings, "uncontrolled-load")
    assert warning.severity == "warning" and warning.component == "alarm"
    assert "4.2 days" in warning.message  # 1 Ah reserve of a 100 Ah bank at 10 mA = 100 h
    assert codes(findings, "error") == []


def test_uncontrolled_charger_is_an_error() -> None:
    findings = check_design(design(DesignComponent("solar", "pv", controlled_by="none",
                                                   peak_w=200)))
    error = only(findings, "charger-not-controlled")
    assert error.severity == "error" and error.component == "pv"


@pytest.mark.parametrize(
    ("kind", "wired"),
    [("solar", "load_disconnect"), ("ac_charger", "load_disconnect"),
     ("alternator", "load_disconnect"), ("dc_load", "charge_disconnect"),
     ("inverter", "charge_disconnect"), ("battery_protect", "charge_disconnect")],
)
def test_wrong_output_is_an_error(kind: str, wired: str) -> None:
    comp = DesignComponent(kind, "x", controlled_by=wired, current_a=5, power_w=50,  # type: ignore[arg-type]
                           peak_w=100)
    findings = check_design(design(comp))
    assert only(findings, "wrong-output").severity == "error"


def test_default_wiring_follows_the_kind() -> None:
    findings = check_design(design(
        DesignComponent("dc_load", "lights", current_a=3),
        DesignComponent("solar", "pv", peak_w=100),
    ))
    assert codes(findings, "error") == [] and codes(findings, "warning") == []


def test_vebus_inverter_charger_is_not_suitable() -> None:
    findings = check_design(design(
        DesignComponent("inverter", "multi", "MultiPlus (VE.Bus)", power_w=1600),
    ))
    error = only(findings, "not-suitable")
    assert error.severity == "error" and "VE.Bus BMS" in error.message


def test_vebus_inverter_needs_the_inverting_cable() -> None:
    findings = check_design(design(
        DesignComponent("inverter", "inv", "Phoenix Inverter 12/1200 VE.Bus", power_w=1000),
        DesignComponent("solar", "pv", "SmartSolar MPPT 150/45", peak_w=600),
    ))
    cable = only(findings, "needs-cable")
    assert "ASS030550100" in cable.message and "ASS030550120" in cable.message
    assert "inverting" in cable.message


def test_device_that_does_not_fit_its_kind() -> None:
    findings = check_design(design(
        DesignComponent("dc_load", "pv?", "SmartSolar MPPT 100/20", current_a=2),
    ))
    assert only(findings, "device-kind-mismatch").severity == "warning"


def test_unknown_device_gets_advice() -> None:
    findings = check_design(design(DesignComponent("dc_load", "pump", "Bilge pump", current_a=4)))
    info = only(findings, "unknown-device")
    assert info.severity == "info" and "BatteryProtect" in info.message


def test_relay_coil_on_an_output_is_a_warning() -> None:
    findings = check_design(design(
        DesignComponent("dc_load", "k1", "12 V automotive relay", current_a=0.2),
    ))
    assert only(findings, "relay-coil").severity == "warning"


def test_plain_dc_load_gets_wiring_advice() -> None:
    info = only(check_design(design(DesignComponent("dc_load", "tv", current_a=2))), "wiring")
    assert "remote input" in info.message


# --- currents ------------------------------------------------------------------------------------


def test_discharge_over_the_continuous_limit() -> None:
    findings = check_design(design(DesignComponent("dc_load", "winch", current_a=120)))
    assert only(findings, "discharge-over-limit").severity == "error"


def test_discharge_over_the_recommended_half_c() -> None:
    findings = check_design(design(DesignComponent("dc_load", "heater", power_w=800)))
    finding = only(findings, "discharge-over-recommended")
    assert finding.severity == "warning" and "0.5C" in finding.message


def test_parallel_batteries_raise_the_limits_series_do_not() -> None:
    heavy = DesignComponent("dc_load", "winch", current_a=120)
    assert "discharge-over-limit" not in codes(check_design(design(heavy, parallel=2)))
    assert "discharge-over-limit" in codes(check_design(design(heavy, series=2)))


def test_inverter_surge_over_the_pulse_limit() -> None:
    findings = check_design(design(
        DesignComponent("inverter", "inv", "Phoenix Inverter Smart 12/2000", power_w=1100),
    ))
    # 1100 W -> about 94 A continuous; surge 2 x 1100 W -> about 187 A (< 200 A pulse).
    assert "discharge-over-pulse" not in codes(findings)
    findings = check_design(design(
        DesignComponent("inverter", "inv", power_w=1100, surge_w=2600),
    ))
    assert only(findings, "discharge-over-pulse").severity == "error"


def test_combined_loads_add_up() -> None:
    loads = [DesignComponent("dc_load", f"l{i}", current_a=30) for i in range(4)]
    assert "discharge-over-limit" in codes(check_design(design(*loads)))


def test_charge_current_from_the_mppt_rating_in_its_name() -> None:
    findings = check_design(design(
        DesignComponent("solar", "pv", "SmartSolar MPPT 150/45", peak_w=2_000),
    ))
    finding = only(findings, "charge-over-recommended")
    assert "45 A" in finding.message and "0.3C" in finding.message


def test_charge_over_the_continuous_limit() -> None:
    findings = check_design(design(
        DesignComponent("ac_charger", "a", "Skylla-i 24/100", current_a=80),
        DesignComponent("alternator", "alt", current_a=40),
    ))
    assert only(findings, "charge-over-limit").severity == "error"
    assert "needs-cable" in codes(findings)  # the Skylla-i cable


def test_battery_protect_over_its_rating() -> None:
    findings = check_design(design(
        DesignComponent("battery_protect", "bp", "Smart BatteryProtect 12/24V 65A", current_a=80),
        parallel=2,
    ))
    assert only(findings, "over-device-rating").severity == "error"


def test_profile_loads_count_their_peak() -> None:
    watts = DesignComponent("dc_load", "camper", profile="camper_evening")
    amps = DesignComponent("dc_load", "steps", profile=[[0, 1], ["6h", 60]])
    findings = check_design(design(watts, amps))
    assert "discharge-over-recommended" in codes(findings)  # 250 W / 12.8 V + 60 A
    with pytest.raises(DesignError):
        check_design(design(DesignComponent("dc_load", "x", profile="no such profile")))


# --- voltages, fuse, bank -------------------------------------------------------------------------


@pytest.mark.parametrize(("volts", "flagged"), [(14.6, True), (14.2, False), (14.0, False),
                                                 (13.8, True)])
def test_charge_voltage_window(volts: float, flagged: bool) -> None:
    findings = check_design(design(
        DesignComponent("ac_charger", "c", "Phoenix Smart Charger IP43 12/30", current_a=30,
                        absorption_v=volts),
    ))
    assert ("charge-voltage" in codes(findings)) is flagged


def test_charge_voltage_scales_with_the_bank() -> None:
    comp = DesignComponent("alternator", "alt", current_a=30, charge_v=28.4)
    assert "charge-voltage" not in codes(check_design(design(comp, battery="25.6/100")))
    assert "charge-voltage" in codes(check_design(design(comp)))


@pytest.mark.parametrize(("fuse", "flagged"), [(None, True), (0.2, True), (0.3, False),
                                               (1.0, False), (2.5, False), (5.0, True)])
def test_supply_fuse(fuse: float | None, flagged: bool) -> None:
    findings = check_design(design(DesignComponent("solar", "pv", peak_w=100),
                                   supply_fuse_a=fuse))
    assert ("fuse" in codes(findings)) is flagged
    if flagged:
        assert only(findings, "fuse").severity == "warning"


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"battery": "12.8/999"}, "catalogue"),
        ({"battery": "12.8/100", "series": 3}, "12, 24 or 48"),
        ({"battery": "12.8/100", "profile": "classic"}, "Lithium Battery Smart"),
        ({"battery": "12.8/100", "parallel": 0}, "at least one"),
        ({"battery": "12.8/300", "parallel": 60}, "at most"),
    ],
)
def test_bank_problems(kw: dict[str, object], fragment: str) -> None:
    error = only(check_design(design(DesignComponent("solar", "pv", peak_w=100), **kw)), "bank")
    assert error.severity == "error" and fragment in error.message


def test_classic_profile_with_a_smart_battery_is_fine() -> None:
    findings = check_design(design(DesignComponent("solar", "pv", peak_w=100),
                                   battery="smart-12.8/100", profile="classic"))
    assert codes(findings, "error") == []


def test_no_charger_is_noted() -> None:
    findings = check_design(design(DesignComponent("dc_load", "l", current_a=1)))
    assert only(findings, "no-charger").severity == "info"


def test_findings_come_errors_first() -> None:
    findings = check_design(SystemDesign(components=(
        DesignComponent("dc_load", "l", controlled_by="none", current_a=1),
        DesignComponent("solar", "pv", controlled_by="none", peak_w=100),
    )))
    order = {"error": 0, "warning": 1, "info": 2}
    ranks = [order[f.severity] for f in findings]
    assert ranks == sorted(ranks) and ranks[0] == 0


# --- reading a design from TOML ------------------------------------------------------------------


def test_design_from_toml() -> None:
    text = """
    name = "camper"
    profile = "ng"
    duration = "2h"        # scenario keys the check does not use are ignored
    [bank]
    battery = "12.8/200"
    parallel = 1
    soc_pct = 80
    [bms]
    supply_fuse_a = 1
    [[component]]
    kind = "solar"
    device = "SmartSolar MPPT 100/30"
    peak_w = 400
    latitude = 45
    [[component]]
    kind = "inverter"
    device = "Phoenix Inverter VE.Direct 12/800"
    power_w = 650
    [[component]]
    kind = "dc_load"
    name = "fridge"
    profile = "fridge"
    controlled_by = "none"
    """
    d = SystemDesign.from_mapping(tomllib.loads(text))
    assert d.battery == "12.8/200" and d.supply_fuse_a == 1.0 and len(d.components) == 3
    assert d.components[0].device == "SmartSolar MPPT 100/30"
    findings = check_design(d)
    assert codes(findings, "error") == []
    assert codes(findings, "warning") == ["uncontrolled-load"]
    assert "needs-cable" in codes(findings)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"component": [{"kind": "toaster"}]}, "component[0].kind: unknown value 'toaster'; one of"),
        ({"component": [{"kind": "dc_load", "controlled_by": "maybe"}]},
         "component[0].controlled_by: unknown value 'maybe'; one of 'load_disconnect'"),
        ({"component": [{"kind": "dc_load", "current_a": "lots"}]},
         "component[0].current_a: must be a number, got 'lots'"),
        ({"component": [{"kind": "dc_load", "current_a": True}]},
         "component[0].current_a: must be a number, got true"),
        ({"component": [{"kind": "dc_load", "profile_unit": "kW"}]},
         "component[0].profile_unit: unknown value 'kW' (did you mean 'W'?)"),
        ({"component": "x"}, "component: must be an array of tables (write [[component]])"),
        ({"component": [3]}, "component[0]: must be a table (write [[component]]), got 3"),
        ({"bank": 3}, "bank: must be a table ([bank]), got 3"),
        ({"profile": "xl"}, "profile: unknown value 'xl'; one of 'ng', 'classic'"),
        ({"bms": {"supply_fuse_a": "1A"}}, "bms.supply_fuse_a: must be a number, got '1A'"),
        ({"bank": {"series": 1.5}}, "bank.series: must be a whole number, got 1.5"),
    ],
)
def test_bad_design_files_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(DesignError) as info:
        SystemDesign.from_mapping(data)
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"bank": {"paralel": 2}},
         "bank.paralel: unknown key 'paralel' (did you mean 'parallel'?) in [bank]; allowed keys: "
         "battery, series, parallel,"),
        ({"component": [{"kind": "dc_load", "curent_a": 5}]},
         "component[0].curent_a: unknown key 'curent_a' (did you mean 'current_a'?) in a dc_load "
         "component; allowed keys: kind, name, controlled_by, current_a,"),
        ({"component": [{"kind": "solar", "peak_w": 100, "power_w": 5}]},
         "component[0].power_w: unknown key 'power_w' (did you mean 'peak_w'?) in a solar"),
        ({"nmae": "x"}, "nmae: unknown key 'nmae' (did you mean 'name'?) in the top level"),
        ({"bank": {"battery": "12.8/100", "series": 0}},
         "bank.series: 0 is out of range: must be between 1 and 100"),
    ],
)
def test_design_keys_are_checked_like_scenario_keys(data: dict[str, object], message: str) -> None:
    """Issue 15 item 3: a design file is read with the scenario's model, so a mistyped key is
    refused (with the key path and "did you mean") instead of being silently ignored."""
    with pytest.raises(DesignError) as info:
        SystemDesign.from_mapping(data)
    assert str(info.value).startswith(message), str(info.value)


def test_design_files_may_leave_out_run_keys_and_describe_devices() -> None:
    d = SystemDesign.from_mapping({
        "component": [
            {"kind": "inverter", "device": "Phoenix Inverter VE.Direct 12/375", "power_w": 375,
             "surge_w": 700},
            {"kind": "ac_charger", "device": "Phoenix Smart Charger IP43", "charge_v": 14.2},
            {"kind": "dc_load", "profile": [[0, 1], ["6h", 4]], "profile_unit": "A"},
        ],
    })
    assert (d.battery, d.series, d.parallel, d.name, d.supply_fuse_a) == ("12.8/100", 1, 1, "", None)
    inverter, charger, load = d.components
    assert (inverter.surge_w, inverter.power_w, inverter.device) == (
        700.0, 375.0, "Phoenix Inverter VE.Direct 12/375")
    assert charger.current_a is None and charger.charge_v == 14.2
    assert load.profile == [[0.0, 1.0], [21600.0, 4.0]] and load.profile_unit == "A"


def test_a_missing_fuse_says_what_to_add_to_the_file() -> None:
    finding = only(check_design(design(supply_fuse_a=None)), "fuse")
    assert finding.severity == "warning"
    assert "[bms] table with supply_fuse_a = 1" in finding.message


# --- Appendix A ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "key", "output", "cable", "articles"),
    [
        ("SmartSolar MPPT 75/15", "mppt_ve_direct_cable", "charge_disconnect",
         "ve_direct_non_inverting", ("ASS030550320",)),
        ("SmartSolar MPPT 150/35", "mppt_ve_direct_cable", "charge_disconnect",
         "ve_direct_non_inverting", ("ASS030550320",)),
        ("SmartSolar MPPT 150/45", "smartsolar_remote_port", "charge_disconnect", "none", ()),
        ("SmartSolar MPPT 250/100", "smartsolar_remote_port", "charge_disconnect", "none", ()),
        ("BlueSolar MPPT 150/70 CAN-bus", "mppt_can_bus", "charge_disconnect", "none", ()),
        ("BlueSolar MPPT 100/50", "mppt_ve_direct_cable", "charge_disconnect",
         "ve_direct_non_inverting", ("ASS030550320",)),
        ("Phoenix Inverter VE.Direct 12/375", "inverter_ve_direct", "load_disconnect", "none", ()),
        ("Phoenix Inverter Smart 12/2000", "inverter_ve_direct", "load_disconnect", "none", ()),
        ("Phoenix Inverter Compact 12/1600 VE.Bus", "vebus_inverter", "load_disconnect",
         "inverting", ("ASS030550100", "ASS030550120")),
        ("MultiPlus (VE.Bus)", "vebus_inverter_charger", None, "not_suitable", ()),
        ("Quattro 48/5000", "vebus_inverter_charger", None, "not_suitable", ()),
        ("Smart BatteryProtect 12/24V 65A", "smart_battery_protect", "load_disconnect", "none",
         ()),
        ("BatteryProtect 12/24V-220A", "battery_protect", "load_disconnect", "none", ()),
        ("Cyrix-Li-Load 12/24V-120A", "cyrix_li_load", "load_disconnect", "none", ()),
        ("Cyrix-Li-ct", "cyrix_li_ct", "charge_disconnect", "none", ()),
        ("Orion-Tr 12/24-15", "dc_dc_converter", "load_disconnect", "none", ()),
        ("Orion XS 12/12-50", "dc_dc_converter", "load_disconnect", "none", ()),
        ("Phoenix Smart Charger IP43", "smart_ip43_charger", "charge_disconnect", "none", ()),
        ("Skylla-TG 24/50", "skylla_tg", "charge_disconnect", "non_inverting", ("ASS030550200",)),
        ("Skylla-i 24/80 (1+1)", "skylla_i", "charge_disconnect", "skylla_i", ("ASS030550400",)),
        ("Blue Smart IP65 Charger 12/15", "other_charger", "charge_disconnect",
         "cyrix_li_charge", ()),
    ],
)
def test_appendix_a_lookup(
    device: str, key: str, output: str | None, cable: str, articles: tuple[str, ...]
) -> None:
    fam = lookup(device)
    assert fam is not None and fam.key == key
    assert fam.output == output
    assert fam.cable.kind == cable
    assert fam.cable.article_numbers == articles
    assert fam.terminal


def test_appendix_a_unknown_device() -> None:
    assert lookup("Bilge pump") is None
    assert lookup("Phoenix Inverter Compact 12/800 VE.Bus") is None  # below 1200 VA: not listed


def test_appendix_a_table_is_consistent() -> None:
    keys = [f.key for f in APPENDIX_A]
    assert len(keys) == len(set(keys))
    for fam in APPENDIX_A:
        assert family(fam.key) is fam
        assert set(fam.kinds) <= set(COMPONENT_KINDS)
        assert (fam.output is None) == (fam.cable.kind == "not_suitable")
    for kind in COMPONENT_KINDS:
        default = family_for_kind(kind)
        assert default is None or kind in default.kinds


def test_rating_from_name() -> None:
    assert rating_from_name("SmartSolar MPPT 75/15") == (75, 15)
    assert rating_from_name("Phoenix Inverter 12/1200 VE.Bus") == (12, 1200)
    assert rating_from_name("Bilge pump") is None
