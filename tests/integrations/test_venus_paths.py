"""The Venus OS path map (pure): values, signs, wire types, texts, the alarm mapping from the code
table, and the DVCC limits shared with the CAN frames (SPEC 20)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from smallbms.config.record import Record
from smallbms.errors import ConfigError
from smallbms.integrations.canbus import limits_from_snapshot
from smallbms.integrations.venus.config import VenusConfig
from smallbms.integrations.venus.paths import (
    ALARM_NAMES,
    CODE_ALARMS,
    MAX_CELL_PATHS,
    MODE_OFF,
    MODE_ON,
    PRODUCT_ID,
    SPECS,
    Identity,
    alarm_levels,
    cell_count,
    identity_values,
    path_specs,
    snapshot_values,
    text,
)
from smallbms.model.codes import CODE_INFO, CODES
from tests.integrations.test_canbus import code_entry, crafted, twin_device


def full(**kw: Any) -> dict[str, Any]:
    """A crafted snapshot with every value the paths read, discharging."""
    snap = crafted(current_a=-12.5, **kw)
    snap["status"].update(power_w=-166.3, consumed_ah=-20.5, time_remaining_s=14400,
                          wireless_available=True)
    snap["history"] = {"deepest_discharge_ah": -50.25, "cumulative_ah_drawn": -300.0,
                       "charged_energy_kwh": 4.321, "discharged_energy_kwh": 3.5,
                       "synchronisations": 3, "cycles": 7, "seconds_since_full_charge": 3600,
                       "min_battery_voltage_v": 12.1, "max_battery_voltage_v": 14.1,
                       "min_cell_voltage_v": 3.0, "max_cell_voltage_v": 3.6}
    snap["settings"] = {"values": {"discharge_floor_pct": 20.0}, "specs": []}
    snap["batteries"][0].update(cell_voltages_v=[3.3, 3.31, 3.32, 3.33])
    return snap


def test_every_path_is_listed_once_with_a_wire_type() -> None:
    specs = path_specs(4)
    paths = [s.path for s in specs]
    assert len(paths) == len(set(paths))
    assert {s.wire for s in specs} <= {"d", "i", "s"}
    for required in ("/Mgmt/ProcessName", "/ProductId", "/DeviceInstance", "/Connected",
                     "/Dc/0/Voltage", "/Soc", "/Info/MaxChargeVoltage", "/Io/AllowToCharge",
                     "/System/NrOfCellsPerBattery", "/History/DischargedEnergy", "/Mode",
                     "/Settings/DischargeFloor", "/Balancer", "/Voltages/Cell4"):
        assert required in paths
    assert {p.removeprefix("/Alarms/") for p in paths if p.startswith("/Alarms/")} == set(
        ALARM_NAMES)
    assert [s.path for s in specs if s.writable] == ["/CustomName", "/Mode"]


def test_values_and_signs_follow_venus_os() -> None:
    snap = full()
    v = snapshot_values(snap, cells=4)
    assert v["/Dc/0/Voltage"] == 13.3
    assert v["/Dc/0/Current"] == -12.5 and v["/Dc/0/Power"] == -166.3  # discharging: negative
    assert v["/ConsumedAmphours"] == -20.5
    assert v["/History/DeepestDischarge"] == -50.25
    assert v["/History/TotalAhDrawn"] == -300.0
    assert v["/TimeToGo"] == 14400 and isinstance(v["/TimeToGo"], int)
    assert v["/Soc"] == 80.0
    assert v["/Capacity"] == 80.0 and v["/InstalledCapacity"] == 100.0
    assert v["/Dc/0/Temperature"] == 22.5
    assert v["/System/MinCellTemperature"] == 20.0 and v["/System/MaxCellTemperature"] == 22.5
    assert v["/System/NrOfCellsPerBattery"] == 4
    assert v["/System/NrOfModulesOnline"] == 1 and v["/System/NrOfModulesOffline"] == 0
    assert v["/History/ChargeCycles"] == 7 and v["/History/AutomaticSyncs"] == 3
    assert v["/History/ChargedEnergy"] == 4.321 and v["/History/DischargedEnergy"] == 3.5
    assert v["/Settings/DischargeFloor"] == 20.0
    assert v["/Mode"] == MODE_ON
    assert [v[f"/Voltages/Cell{k}"] for k in range(1, 5)] == [3.3, 3.31, 3.32, 3.33]
    for path, value in v.items():  # every value has its path's Python type
        want = {"d": float, "i": int, "s": str}[SPECS[path].wire]
        assert value is None or type(value) is want, path


def test_a_depth_given_positive_is_still_shown_negative() -> None:
    snap = full()
    snap["status"]["consumed_ah"] = 20.5
    snap["history"]["deepest_discharge_ah"] = 50.0
    v = snapshot_values(snap)
    assert v["/ConsumedAmphours"] == -20.5 and v["/History/DeepestDischarge"] == -50.0


def test_charging_current_and_power_are_positive() -> None:
    snap = full()
    snap["status"].update(current_a=30.0, power_w=400.0)
    v = snapshot_values(snap)
    assert v["/Dc/0/Current"] == 30.0 and v["/Dc/0/Power"] == 400.0


def test_unknown_values_are_none() -> None:
    v = snapshot_values(full(soc_pct=None, voltage_v=None, min_cell_v=None), cells=6)
    assert v["/Soc"] is None and v["/Capacity"] is None and v["/Dc/0/Voltage"] is None
    assert v["/System/MinCellVoltage"] is None
    assert v["/Voltages/Cell5"] is None and v["/Voltages/Cell6"] is None


def test_empty_snapshot_fails_safe() -> None:
    v = snapshot_values({}, cells=0)
    assert v["/Info/MaxChargeCurrent"] == 0.0 and v["/Info/MaxDischargeCurrent"] == 0.0
    assert v["/Info/MaxChargeVoltage"] == 0.0  # valid (the GX keeps us as its BMS), and 0
    assert v["/Io/AllowToCharge"] == 0 and v["/Io/AllowToDischarge"] == 0
    assert v["/Alarms/InternalFailure"] == 2


# --- SPEC 20: one limits function for CAN and D-Bus ---------------------------------------------

@pytest.mark.parametrize(("load", "charge"), [("high", "high"), ("floating", "high"),
                                              ("high", "floating"), ("floating", "floating")])
@pytest.mark.parametrize("charge_limit", ["continuous", "recommended"])
def test_spec20_limits_are_the_can_limits_and_zero_while_an_output_floats(
        load: str, charge: str, charge_limit: Any) -> None:
    snap = full(load=load, charge=charge, model_id="12.8/200", parallel=2)
    v = snapshot_values(snap, charge_limit=charge_limit)
    lim = limits_from_snapshot(snap, charge_limit=charge_limit)
    assert v["/Info/MaxChargeVoltage"] == pytest.approx(lim.charge_voltage_v)
    assert v["/Info/MaxChargeCurrent"] == lim.charge_current_a
    assert v["/Info/MaxDischargeCurrent"] == lim.discharge_current_a
    assert v["/Info/BatteryLowVoltage"] == pytest.approx(lim.discharge_voltage_v)
    assert (v["/Info/MaxChargeCurrent"] == 0) == (charge == "floating")
    assert (v["/Info/MaxDischargeCurrent"] == 0) == (load == "floating")
    assert v["/Io/AllowToCharge"] == int(charge == "high")
    assert v["/Io/AllowToDischarge"] == int(load == "high")
    assert v["/System/NrOfModulesBlockingCharge"] == (2 if charge == "floating" else 0)


def test_spec20_stale_snapshot_limits_zero_and_nothing_allowed() -> None:
    v = snapshot_values(full(), stale=True)
    assert v["/Info/MaxChargeCurrent"] == 0.0 and v["/Info/MaxDischargeCurrent"] == 0.0
    assert v["/Io/AllowToCharge"] == 0 and v["/Io/AllowToDischarge"] == 0
    assert v["/Alarms/InternalFailure"] == 2


def test_real_twin_snapshot_limits_match_the_catalogue() -> None:
    device, _ = twin_device()
    device.tick(0.0)
    snap = device.snapshot
    v = snapshot_values(snap, cells=cell_count(snap))
    assert v["/Info/MaxChargeVoltage"] == pytest.approx(14.2)
    assert v["/Info/MaxChargeCurrent"] == float(snap["bank"]["parallel"] * 200)
    assert v["/Info/MaxDischargeCurrent"] == float(snap["bank"]["parallel"] * 200)
    assert v["/Dc/0/Voltage"] == snap["status"]["voltage_v"]
    assert v["/Voltages/Cell1"] == snap["batteries"][0]["cell_voltages_v"][0]


# --- SPEC 20: alarm levels from the code table --------------------------------------------------

def test_every_code_maps_to_an_alarm_path() -> None:
    assert set(CODE_ALARMS) == {c.code for c in CODES}
    assert all(set(names) <= set(ALARM_NAMES) for names in CODE_ALARMS.values())


@pytest.mark.parametrize("code", [str(c.code) for c in CODES])
def test_spec20_alarm_level_warning_is_1_alarm_or_error_is_2(code: str) -> None:
    levels = alarm_levels(full(codes=(code,)))
    want = 1 if CODE_INFO[code].kind == "warning" else 2
    raised = {n for n, lv in levels.items() if lv}
    assert raised == set(CODE_ALARMS[CODE_INFO[code].code])
    assert all(levels[n] == want for n in raised)


def test_alarm_takes_the_highest_level_of_its_codes() -> None:
    levels = alarm_levels(full(codes=("W-B01", "A-B01")))
    assert levels["LowCellVoltage"] == 2


def test_imbalance_is_a_warning() -> None:
    assert alarm_levels(full(balancer="imbalanced"))["CellImbalance"] == 1
    assert alarm_levels(full(balancer="balanced"))["CellImbalance"] == 0


def test_unknown_code_raises_nothing() -> None:
    snap = full()
    snap["active_codes"] = [{"code": "X-999"}, code_entry("W-B07")]
    assert {n for n, lv in alarm_levels(snap).items() if lv} == {"LowSoc"}


# --- texts, identity, cells, config -------------------------------------------------------------

def test_texts_have_units_and_invalid_is_dashes() -> None:
    assert text(SPECS["/Dc/0/Voltage"], 13.3) == "13.30 V"
    assert text(SPECS["/Soc"], None) == "---"
    assert text(SPECS["/Mode"], MODE_OFF) == "off"
    assert text(SPECS["/Alarms/LowSoc"], 1) == "warning"
    assert text(SPECS["/TimeToGo"], 60) == "60 s"


def test_identity_paths() -> None:
    v = identity_values(Identity(7, "smallbms", "Boat"))
    assert v["/DeviceInstance"] == 7 and v["/ProductId"] == PRODUCT_ID
    assert v["/Connected"] == 1 and v["/CustomName"] == "Boat"
    assert v["/Mgmt/ProcessName"] == "smallbms"


def test_cell_paths_only_where_they_fit() -> None:
    snap = full()
    assert cell_count(snap) == 4
    snap["bank"]["cells_total"] = MAX_CELL_PATHS + 1
    assert cell_count(snap) == 0
    assert cell_count({}) == 0


def test_silent_battery_keeps_its_cells_places() -> None:
    snap = full(series=2, reporting=(False, True))
    snap["batteries"][1]["cell_voltages_v"] = [3.4] * 4
    v = snapshot_values(snap, cells=8)
    assert [v[f"/Voltages/Cell{k}"] for k in range(1, 9)] == [None] * 4 + [3.4] * 4


def test_config_defaults_and_errors() -> None:
    cfg = VenusConfig()
    assert isinstance(cfg, Record)
    assert cfg.bus == "system" and not cfg.enabled
    assert cfg.service_name == "com.victronenergy.battery.smallbms"
    cfg = VenusConfig.from_table({"enabled": True, "bus": "tcp:host=10.0.0.2,port=78",
                                  "suffix": "_2", "device_instance": 3}, "run.toml")
    assert cfg.service_name == "com.victronenergy.battery.smallbms_2"
    for bad, key in (({"bus": "usb"}, "venus.bus"), ({"suffix": "a-b"}, "venus.suffix"),
                     ({"device_instance": 5000}, "venus.device_instance"),
                     ({"enabeld": True}, "venus.enabeld")):
        with pytest.raises(ConfigError, match=key):
            VenusConfig.from_table(copy.deepcopy(bad), "run.toml")


def test_run_configuration_reads_the_venus_table(tmp_path: Any) -> None:
    from smallbms.service.config import load_config
    from smallbms.service.main import _services

    p = tmp_path / "run.toml"
    p.write_text('[venus]\nenabled = true\nbus = "session"\ndevice_instance = 7\n'
                 'custom_name = "Boat"\n')
    cfg = load_config(p, {})
    venus = cfg.integration("venus")
    assert isinstance(venus, VenusConfig)
    assert venus.device_instance == 7 and venus.custom_name == "Boat"
    device, _ = twin_device()
    (name, svc), = _services(cfg, device, None)  # built, not started
    assert "com.victronenergy.battery.smallbms" in name
    assert type(svc).__name__ == "VenusService"
    p.write_text('[venus]\nbus = "serial"\n')
    with pytest.raises(ConfigError, match=r"venus\.bus"):
        load_config(p, {})
