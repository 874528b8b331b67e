"""The Victron CAN-bus BMS frames: encode → decode field by field, the limit and alarm rules,
extremes, a Hypothesis round trip, the configuration, and the service on python-can's virtual bus
(a receiver on the same channel is the peer; every wait is a receive with a timeout)."""

from __future__ import annotations

import copy
import itertools
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("can")

import can
from hypothesis import given, settings
from hypothesis import strategies as st

from smallbms.catalog import CATALOGUE, get_model
from smallbms.core.engine import Core
from smallbms.core.types import Decision
from smallbms.integrations.canbus import (
    ALARM_FIELD_NAMES,
    CODE_ITEMS,
    FLAG_ACTIVE,
    FLAG_OK,
    FRAME_IDS,
    ID_ALARMS,
    ID_CELLS,
    ID_INFO,
    ID_LIMITS,
    ID_MEASURE,
    ID_MODULES,
    ID_NAME,
    ID_SOC,
    CanBmsService,
    CanConfig,
    decode_frame,
    decode_frames,
    frames_from_snapshot,
)
from smallbms.model.codes import CODE_INFO, CODES
from smallbms.scenario import load_scenario
from smallbms.service.device import Device
from smallbms.simulate import initial_persistent
from smallbms.sources.twin import TwinSource

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "system_solar_batteryprotect.toml"  # one 12.8/200, SoC 60 %, 15 °C
RECV_TIMEOUT_S = 5.0
_channels = itertools.count()


# --- builders ----------------------------------------------------------------------------------

def twin_device() -> tuple[Device, TwinSource]:
    """A real Core on the twin of the manual's first system example, not started: the test
    calls ``tick`` itself (the tick thread is not needed to make snapshots)."""
    scenario = load_scenario(EXAMPLE)
    source = TwinSource(scenario)
    core = Core(scenario.profile, initial_persistent(scenario))

    def obey(d: Decision, c: Core) -> None:
        source.obey(d)

    return Device(core, source, tick_s=1.0, obey=obey), source


def code_entry(code: str) -> dict[str, str]:
    info = CODE_INFO[code]
    return {"code": code, "name": info.name, "kind": info.kind, "effect": info.effect,
            "advice": info.advice}


def crafted(
    *, model_id: str = "12.8/100", series: int = 1, parallel: int = 1,
    soc_pct: float | None = 80.0, voltage_v: float | None = 13.3, current_a: float | None = -12.5,
    min_cell_v: float | None = 3.30, max_cell_v: float | None = 3.32,
    min_temperature_c: float | None = 20.0, max_temperature_c: float | None = 22.5,
    load: str = "high", charge: str = "high", codes: tuple[str, ...] = (),
    charge_reasons: tuple[str, ...] = (), discharge_reasons: tuple[str, ...] = (),
    balancer: str = "balanced", reporting: tuple[bool, ...] | None = None,
) -> dict[str, Any]:
    """A snapshot dict with the shape of smallbms.model.snapshot (only what the frames read, plus
    a few neighbours so the shape stays honest)."""
    model = get_model(model_id)
    n = series * parallel
    rep = reporting if reporting is not None else (True,) * n
    return {
        "t_s": 0.0, "wall_s": 0.0, "profile": "ng",
        "status": {
            "powered": True, "mode": "on", "soc_pct": soc_pct, "voltage_v": voltage_v,
            "current_a": current_a, "power_w": None, "consumed_ah": None,
            "time_remaining_s": None, "min_cell_v": min_cell_v, "max_cell_v": max_cell_v,
            "min_temperature_c": min_temperature_c, "max_temperature_c": max_temperature_c,
            "balancer": balancer, "allowed_to_charge": charge == "high",
            "allowed_to_discharge": "yes" if load == "high" else "no",
            "charge_reasons": list(charge_reasons), "discharge_reasons": list(discharge_reasons),
            "outputs": {"load_disconnect": load, "charge_disconnect": charge,
                        "pre_alarm": "floating"},
        },
        "active_codes": [code_entry(c) for c in codes],
        "bank": {"model_id": model_id, "batteries": n, "series": series, "parallel": parallel,
                 "cells_total": model.cells_in_series * n,
                 "capacity_ah": model.capacity_ah * parallel,
                 "nominal_voltage_v": model.nominal_voltage_v * series,
                 "energy_kwh": model.energy_kwh * n},
        "batteries": [{"index": i, "reporting": r} for i, r in enumerate(rep)],
        "history": {},
    }


def decoded(snap: dict[str, Any], **kw: Any) -> dict[int, dict[str, Any]]:
    frames = frames_from_snapshot(snap, **kw)
    assert [f.arbitration_id for f in frames] == list(FRAME_IDS)
    for f in frames:
        assert not f.is_extended_id and f.arbitration_id <= 0x7FF
        assert f.dlc == 8 and len(f.data) == 8
    return decode_frames(frames)


def active(flags: dict[str, int]) -> set[str]:
    return {k for k, v in flags.items() if v == FLAG_ACTIVE}


# --- every frame, field by field, from a real Core + twin --------------------------------------

def test_real_snapshot_every_frame_field_by_field() -> None:
    device, _ = twin_device()
    device.tick(0.0)
    snap = device.snapshot
    s, bank = snap["status"], snap["bank"]
    model = get_model(bank["model_id"])
    f = decoded(snap)

    assert f[ID_LIMITS] == {
        "charge_voltage_v": pytest.approx(14.2), "charge_current_a": model.cont_charge_a,
        "discharge_current_a": model.cont_discharge_a, "discharge_voltage_v": pytest.approx(11.2)}
    assert f[ID_SOC]["soc_pct"] == round(s["soc_pct"])
    assert f[ID_SOC]["soc_hr_pct"] == pytest.approx(s["soc_pct"], abs=0.005)
    assert f[ID_SOC]["soh_pct"] == 100
    assert f[ID_MEASURE]["voltage_v"] == pytest.approx(s["voltage_v"], abs=0.005)
    assert f[ID_MEASURE]["current_a"] == pytest.approx(s["current_a"], abs=0.05)
    assert f[ID_MEASURE]["temperature_c"] == pytest.approx(s["max_temperature_c"], abs=0.05)
    assert active(f[ID_ALARMS]) == set()
    assert set(f[ID_ALARMS].values()) == {FLAG_OK}
    assert f[ID_NAME] == {"manufacturer": "SMALLBMS"}
    assert f[ID_INFO]["chemistry"] == "LF"
    assert f[ID_INFO]["capacity_ah"] == bank["capacity_ah"] == 200
    assert f[ID_INFO]["software_version"] == (0, 1)
    assert f[ID_MODULES] == {"online": 1, "blocking_charge": 0, "blocking_discharge": 0,
                             "offline": 0}
    assert f[ID_CELLS]["min_cell_v"] == pytest.approx(s["min_cell_v"], abs=0.0005)
    assert f[ID_CELLS]["max_cell_v"] == pytest.approx(s["max_cell_v"], abs=0.0005)
    assert f[ID_CELLS]["min_temperature_k"] == round(s["min_temperature_c"] + 273.15)
    assert f[ID_CELLS]["max_temperature_k"] == round(s["max_temperature_c"] + 273.15)


def test_bytes_are_little_endian_with_the_documented_scales() -> None:
    frames = {m.arbitration_id: bytes(m.data) for m in frames_from_snapshot(crafted(
        voltage_v=13.3, current_a=-12.5, max_temperature_c=-5.5, soc_pct=80.0))}
    assert frames[ID_LIMITS] == struct.pack("<HhhH", 142, 1000, 1000, 112)
    assert frames[ID_LIMITS][:2] == b"\x8e\x00"
    assert frames[ID_SOC] == struct.pack("<HHHH", 80, 100, 8000, 0)
    assert frames[ID_MEASURE] == struct.pack("<hhhH", 1330, -125, -55, 0)
    assert frames[ID_NAME] == b"SMALLBMS"
    assert frames[ID_CELLS] == struct.pack("<HHHH", 3300, 3320, 293, 268)


def test_twin_low_temperature_blocks_charge_only() -> None:
    device, source = twin_device()
    source.force_temperature(0, 2.0)
    device.tick(0.0)
    s = device.snapshot["status"]
    assert s["outputs"]["charge_disconnect"] == "floating" and "low_temperature" in s["charge_reasons"]
    f = decoded(device.snapshot)
    assert f[ID_LIMITS]["charge_current_a"] == 0
    assert f[ID_LIMITS]["discharge_current_a"] == 200
    assert active(f[ID_ALARMS]) == {"general_alarm", "low_temperature_charge_alarm"}
    assert f[ID_MODULES]["blocking_charge"] == 1 and f[ID_MODULES]["blocking_discharge"] == 0
    assert f[ID_CELLS]["min_temperature_k"] == 275


def test_twin_high_temperature_raises_a_b09() -> None:
    device, source = twin_device()
    source.force_temperature(0, 55.0)
    device.tick(0.0)
    assert "A-B09" in [c["code"] for c in device.snapshot["active_codes"]]
    f = decoded(device.snapshot)
    assert f[ID_LIMITS]["charge_current_a"] == 0
    assert {"general_alarm", "high_temperature_alarm", "high_temperature_charge_alarm"} <= active(
        f[ID_ALARMS])


def test_twin_cell_undervoltage_warns_then_blocks_discharge() -> None:
    device, source = twin_device()
    source.force_cell(0, 0, 2.7)
    device.tick(0.0)
    f = decoded(device.snapshot)
    assert "low_voltage_warning" in active(f[ID_ALARMS])
    assert f[ID_LIMITS]["discharge_current_a"] == 200  # the 30 s pre-alarm lead
    for t in range(1, 40):
        device.tick(float(t))
    snap = device.snapshot
    assert snap["status"]["outputs"]["load_disconnect"] == "floating"
    f = decoded(snap)
    assert f[ID_LIMITS]["discharge_current_a"] == 0
    assert {"general_alarm", "low_voltage_alarm", "general_warning",
            "low_voltage_warning"} <= active(f[ID_ALARMS])
    assert f[ID_CELLS]["min_cell_v"] == pytest.approx(2.7, abs=0.0005)
    assert f[ID_MODULES]["blocking_discharge"] == 1


# --- the limit rules ---------------------------------------------------------------------------

@pytest.mark.parametrize(("load", "charge", "ccl", "dcl"), [
    ("high", "high", 100.0, 100.0), ("high", "floating", 0.0, 100.0),
    ("floating", "high", 100.0, 0.0), ("floating", "floating", 0.0, 0.0),
])
def test_current_limits_follow_the_disconnect_outputs(load: str, charge: str, ccl: float,
                                                      dcl: float) -> None:
    f = decoded(crafted(load=load, charge=charge))
    assert f[ID_LIMITS]["charge_current_a"] == ccl
    assert f[ID_LIMITS]["discharge_current_a"] == dcl


@pytest.mark.parametrize("model_id", sorted(CATALOGUE))
def test_limits_scale_with_the_bank(model_id: str) -> None:
    model = get_model(model_id)
    series = 48 // round(model.nominal_voltage_v) if model.nominal_voltage_v < 48 else 1
    snap = crafted(model_id=model_id, series=series, parallel=3)
    f = decoded(snap)[ID_LIMITS]
    assert f["charge_voltage_v"] == pytest.approx(
        round(14.2 * model.nominal_voltage_v * series / 12.8, 1), abs=0.051)
    assert f["discharge_voltage_v"] == pytest.approx(
        round(2.8 * model.cells_in_series * series, 1), abs=0.051)
    assert f["charge_current_a"] == model.cont_charge_a * 3
    assert f["discharge_current_a"] == model.cont_discharge_a * 3
    rec = decoded(snap, charge_limit="recommended")[ID_LIMITS]
    assert rec["charge_current_a"] == pytest.approx(0.3 * model.capacity_ah * 3, abs=0.05)
    assert rec["discharge_current_a"] == model.cont_discharge_a * 3


def test_48v_bank_of_four_12v_batteries() -> None:
    f = decoded(crafted(model_id="12.8/100", series=4, parallel=2))
    assert f[ID_LIMITS] == {"charge_voltage_v": 56.8, "charge_current_a": 200.0,
                            "discharge_current_a": 200.0, "discharge_voltage_v": 44.8}
    assert f[ID_INFO]["capacity_ah"] == 200
    assert f[ID_MODULES]["online"] == 8


def test_stale_or_bankless_snapshot_sends_zero_current_limits() -> None:
    f = decoded(crafted(), stale=True)
    assert f[ID_LIMITS]["charge_current_a"] == 0 and f[ID_LIMITS]["discharge_current_a"] == 0
    assert {"general_alarm", "internal_failure_alarm"} <= active(f[ID_ALARMS])
    assert f[ID_MODULES]["blocking_charge"] == f[ID_MODULES]["blocking_discharge"] == 1
    nobank = crafted()
    nobank["bank"] = None
    f = decoded(nobank)
    assert f[ID_LIMITS] == {"charge_voltage_v": 0, "charge_current_a": 0,
                            "discharge_current_a": 0, "discharge_voltage_v": 0}


def test_empty_snapshot_is_all_zero_and_fails_safe() -> None:
    f = decoded({})
    assert f[ID_LIMITS]["charge_current_a"] == 0 and f[ID_LIMITS]["discharge_current_a"] == 0
    assert f[ID_SOC]["soc_pct"] == 0
    assert f[ID_MEASURE] == {"voltage_v": 0, "current_a": 0, "temperature_c": 0}
    assert f[ID_CELLS] == {"min_cell_v": 0, "max_cell_v": 0, "min_temperature_k": 0,
                           "max_temperature_k": 0}
    assert "internal_failure_alarm" in active(f[ID_ALARMS])


# --- alarm bits for each code --------------------------------------------------------------------

CODE_BITS: dict[str, set[str]] = {
    "W-B01": {"general_warning", "low_voltage_warning"},
    "W-B05": {"general_warning", "internal_failure_warning"},
    "W-B07": {"general_warning"},
    "A-B01": {"general_alarm", "low_voltage_alarm"},
    "A-B05": {"general_alarm", "internal_failure_alarm"},
    "A-B07": {"general_alarm"},
    "A-B08": {"general_alarm", "low_voltage_alarm"},
    "A-B09": {"general_alarm", "high_temperature_alarm", "high_temperature_charge_alarm"},
    "E-B01": {"general_alarm", "internal_failure_alarm"},
    "E-B05": {"general_alarm", "internal_failure_alarm"},
    "E-B09": {"general_alarm", "internal_failure_alarm"},
    "E-B11": {"general_alarm", "internal_failure_alarm"},
}


def test_every_code_has_a_mapping() -> None:
    assert set(CODE_BITS) == set(CODE_INFO)


@pytest.mark.parametrize("code", sorted(CODE_BITS))
def test_alarm_bits_for_each_code(code: str) -> None:
    flags = decoded(crafted(codes=(code,)))[ID_ALARMS]
    assert active(flags) == CODE_BITS[code]
    assert set(flags.values()) <= {FLAG_ACTIVE, FLAG_OK}


def test_alarm_or_warning_follows_the_code_table_kind() -> None:
    for info in CODES:
        bits = active(decoded(crafted(codes=(info.code,)))[ID_ALARMS])
        warning = info.kind == "warning"
        assert ("general_warning" if warning else "general_alarm") in bits, info.code
        assert all(b.endswith("_warning") == warning for b in bits), (info.code, bits)
        if info.kind == "error":
            assert "internal_failure_alarm" in bits


def test_code_items_name_fields_of_the_alarm_frame() -> None:
    for code, items in CODE_ITEMS.items():
        assert code in CODE_INFO
        for item in items:
            assert {f"{item}_alarm", f"{item}_warning"} <= set(ALARM_FIELD_NAMES), item


def test_a_code_missing_from_the_code_table_raises_nothing() -> None:
    snap = crafted()
    snap["active_codes"] = [{"code": "W-B99"}, "A-X"]
    assert active(decoded(snap)[ID_ALARMS]) == set()


@pytest.mark.parametrize(("reason", "bits"), [
    ("high_cell_voltage", {"general_alarm", "high_voltage_alarm"}),
    ("low_temperature", {"general_alarm", "low_temperature_charge_alarm"}),
    ("remote_off", set()),
])
def test_alarm_bits_for_charge_reasons(reason: str, bits: set[str]) -> None:
    flags = decoded(crafted(charge="floating", charge_reasons=(reason,)))[ID_ALARMS]
    assert active(flags) == bits


def test_imbalance_is_a_warning_and_codes_combine() -> None:
    flags = decoded(crafted(balancer="imbalanced", codes=("W-B01", "E-B11")))[ID_ALARMS]
    assert active(flags) == {"cell_imbalance_warning", "general_warning", "low_voltage_warning",
                             "general_alarm", "internal_failure_alarm"}


def test_unsupported_fields_are_zero() -> None:
    data = bytes(next(m for m in frames_from_snapshot(crafted()) if m.arbitration_id == ID_ALARMS)
                 .data)
    # byte 1 bits 6-7 (discharge over-current), byte 2 bits 0-5 (charge over-current,
    # contactor, short circuit) and byte 3 bits 2-7 are not reported.
    assert data[1] >> 6 == 0 and data[2] & 0x3F == 0 and data[3] >> 2 == 0
    assert data[5] >> 6 == 0 and data[6] & 0x3F == 0 and data[7] >> 2 == 0


# --- extremes ----------------------------------------------------------------------------------

def test_negative_current_and_sub_zero_temperatures() -> None:
    f = decoded(crafted(current_a=-250.37, min_temperature_c=-20.0, max_temperature_c=-0.4))
    assert f[ID_MEASURE]["current_a"] == pytest.approx(-250.4)
    assert f[ID_MEASURE]["temperature_c"] == pytest.approx(-0.4)
    assert f[ID_CELLS]["min_temperature_k"] == 253 and f[ID_CELLS]["max_temperature_k"] == 273


def test_unknown_soc_sends_last_known_else_zero() -> None:
    snap = crafted(soc_pct=None)
    assert decoded(snap)[ID_SOC] == {"soc_pct": 0, "soh_pct": 100, "soc_hr_pct": 0}
    assert decoded(snap, last_soc_pct=57.26)[ID_SOC] == {"soc_pct": 57, "soh_pct": 100,
                                                         "soc_hr_pct": 57.26}
    # a known SoC wins over the remembered one
    assert decoded(crafted(soc_pct=12.0), last_soc_pct=57.0)[ID_SOC]["soc_pct"] == 12


def test_out_of_range_values_are_clamped_not_wrapped() -> None:
    f = decoded(crafted(current_a=-5000.0, voltage_v=400.0, soc_pct=104.0, max_cell_v=70.0,
                        min_temperature_c=-300.0))
    assert f[ID_MEASURE]["current_a"] == -3276.8
    assert f[ID_MEASURE]["voltage_v"] == 327.67
    assert f[ID_SOC]["soc_pct"] == 100
    assert f[ID_CELLS]["max_cell_v"] == 65.535
    assert f[ID_CELLS]["min_temperature_k"] == 0
    big = decoded(crafted(model_id="12.8/300", parallel=50))[ID_LIMITS]
    assert big["discharge_current_a"] == 3276.7  # 15000 A does not fit int16 × 0.1 A


def test_missing_batteries_count_offline() -> None:
    f = decoded(crafted(parallel=3, reporting=(True, False, True)))
    assert f[ID_MODULES] == {"online": 2, "blocking_charge": 0, "blocking_discharge": 0,
                             "offline": 1}
    snap = crafted(parallel=3)
    snap["batteries"] = snap["batteries"][:1]
    assert decoded(snap)[ID_MODULES]["offline"] == 2


def test_pure_function_same_snapshot_same_bytes() -> None:
    snap = crafted(codes=("W-B01",))
    before = copy.deepcopy(snap)
    a = [bytes(m.data) for m in frames_from_snapshot(snap)]
    b = [bytes(m.data) for m in frames_from_snapshot(snap)]
    assert a == b and snap == before


def test_decode_refuses_foreign_frames() -> None:
    with pytest.raises(ValueError):
        decode_frame(can.Message(arbitration_id=0x123, is_extended_id=False, data=bytes(8)))
    with pytest.raises(ValueError):
        decode_frame(can.Message(arbitration_id=ID_LIMITS, is_extended_id=True, data=bytes(8)))


# --- Hypothesis round trip ------------------------------------------------------------------------

maybe = st.none() | st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def snapshots(draw: st.DrawFn) -> dict[str, Any]:
    model_id = draw(st.sampled_from(sorted(CATALOGUE)))
    nominal = CATALOGUE[model_id].nominal_voltage_v
    series = draw(st.sampled_from([s for s in (1, 2, 4) if nominal * s <= 51.2]))
    parallel = draw(st.integers(1, 10))
    n = series * parallel
    t_lo = draw(st.none() | st.floats(-40.0, 80.0))
    t_hi = None if t_lo is None else draw(st.floats(t_lo, 80.0))
    v_lo = draw(st.none() | st.floats(2.0, 4.0))
    v_hi = None if v_lo is None else draw(st.floats(v_lo, 4.2))
    return crafted(
        model_id=model_id, series=series, parallel=parallel,
        soc_pct=draw(st.none() | st.floats(0.0, 100.0)),
        voltage_v=draw(st.none() | st.floats(0.0, 70.0)),
        current_a=draw(st.none() | st.floats(-3000.0, 3000.0)),
        min_cell_v=v_lo, max_cell_v=v_hi, min_temperature_c=t_lo, max_temperature_c=t_hi,
        load=draw(st.sampled_from(["high", "floating"])),
        charge=draw(st.sampled_from(["high", "floating"])),
        codes=tuple(draw(st.lists(st.sampled_from(sorted(CODE_INFO)), unique=True, max_size=4))),
        balancer=draw(st.sampled_from(["unknown", "balanced", "balancing", "imbalanced"])),
        reporting=tuple(draw(st.lists(st.booleans(), min_size=n, max_size=n))),
    )


def _close(got: float, want: float | None, resolution: float) -> bool:
    return got == 0 if want is None else abs(got - want) <= resolution / 2 + 1e-9


@settings(max_examples=400, deadline=None)
@given(snap=snapshots(), stale=st.booleans())
def test_round_trip_within_resolution(snap: dict[str, Any], stale: bool) -> None:
    s, bank = snap["status"], snap["bank"]
    model = get_model(bank["model_id"])
    f = decoded(snap, stale=stale)

    lim = f[ID_LIMITS]
    assert _close(lim["charge_voltage_v"], 14.2 * model.nominal_voltage_v * bank["series"] / 12.8,
                  0.1)
    assert _close(lim["discharge_voltage_v"], 2.8 * model.cells_in_series * bank["series"], 0.1)
    ccl = 0 if stale or s["outputs"]["charge_disconnect"] != "high" else (
        model.cont_charge_a * bank["parallel"])
    dcl = 0 if stale or s["outputs"]["load_disconnect"] != "high" else (
        model.cont_discharge_a * bank["parallel"])
    assert _close(lim["charge_current_a"], min(ccl, 3276.7), 0.1)
    assert _close(lim["discharge_current_a"], min(dcl, 3276.7), 0.1)

    assert _close(f[ID_SOC]["soc_hr_pct"], s["soc_pct"], 0.01)
    assert _close(f[ID_SOC]["soc_pct"], s["soc_pct"], 1.0)
    assert _close(f[ID_MEASURE]["voltage_v"], s["voltage_v"], 0.01)
    assert _close(f[ID_MEASURE]["current_a"], s["current_a"], 0.1)
    assert _close(f[ID_MEASURE]["temperature_c"], s["max_temperature_c"], 0.1)
    assert _close(f[ID_CELLS]["min_cell_v"], s["min_cell_v"], 0.001)
    assert _close(f[ID_CELLS]["max_cell_v"], s["max_cell_v"], 0.001)
    for k in ("min", "max"):
        c = s[f"{k}_temperature_c"]
        assert _close(f[ID_CELLS][f"{k}_temperature_k"], None if c is None else c + 273.15, 1.0)
    assert f[ID_INFO]["capacity_ah"] == bank["capacity_ah"]

    online = sum(b["reporting"] for b in snap["batteries"])
    m = f[ID_MODULES]
    assert m["online"] == online and m["online"] + m["offline"] == bank["batteries"]
    assert m["blocking_charge"] in (0, online) and m["blocking_discharge"] in (0, online)

    flags = f[ID_ALARMS]
    assert set(flags) == set(ALARM_FIELD_NAMES)
    assert set(flags.values()) <= {FLAG_ACTIVE, FLAG_OK}
    codes = {c["code"] for c in snap["active_codes"]}
    assert (flags["general_alarm"] == FLAG_ACTIVE) >= any(c[0] in "AE" for c in codes)
    assert (flags["internal_failure_alarm"] == FLAG_ACTIVE) == (
        stale or any(c[0] == "E" for c in codes) or "A-B05" in codes)


# --- configuration -----------------------------------------------------------------------------

def test_config_defaults_and_values() -> None:
    assert CanConfig.from_table({}, "run.toml") == CanConfig()
    cfg = CanConfig.from_table({"enabled": True, "interface": "virtual", "channel": "vcan0",
                                "bitrate": 250000, "period_s": 2,
                                "charge_limit": "recommended"}, "run.toml")
    assert cfg == CanConfig(True, "virtual", "vcan0", 250000, 2.0, "recommended")
    assert CanConfig().bitrate == 500000 and CanConfig().period_s == 1.0


@pytest.mark.parametrize(("table", "key"), [
    ({"enabled": "yes"}, "enabled"), ({"interface": ""}, "interface"), ({"channel": 3}, "channel"),
    ({"bitrate": 500.5}, "bitrate"), ({"bitrate": True}, "bitrate"), ({"bitrate": 5}, "bitrate"),
    ({"period_s": 0}, "period_s"), ({"period_s": float("nan")}, "period_s"),
    ({"period_s": "1s"}, "period_s"), ({"charge_limit": "max"}, "charge_limit"),
    ({"speed": 1}, "speed"),
])
def test_config_errors_name_the_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=rf"^run\.toml: can\.{key}: "):
        CanConfig.from_table(table, "run.toml")


# --- the service on a virtual bus -------------------------------------------------------------

def virtual_config(period_s: float = 0.1) -> CanConfig:
    return CanConfig(enabled=True, interface="virtual", channel=f"smallbms-test-{next(_channels)}",
                     period_s=period_s)


class Receiver:
    """The peer on the same virtual channel: receives with timeouts, decodes."""

    def __init__(self, channel: str) -> None:
        self.bus = can.Bus(interface="virtual", channel=channel)

    def next_frame(self, timeout_s: float = RECV_TIMEOUT_S) -> can.Message:
        msg = self.bus.recv(timeout_s)
        assert msg is not None, "no frame within the timeout"
        return msg

    def frame_set(self) -> dict[int, dict[str, Any]]:
        """Frames until every id of the set has been seen (starting anywhere in a set)."""
        got: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + RECV_TIMEOUT_S
        while set(got) != set(FRAME_IDS):
            assert time.monotonic() < deadline, f"only {sorted(map(hex, got))}"
            msg = self.next_frame()
            got[msg.arbitration_id] = decode_frame(msg)
        return got

    def until_limits(self, pred: Any) -> dict[str, Any]:
        deadline = time.monotonic() + RECV_TIMEOUT_S
        while time.monotonic() < deadline:
            msg = self.next_frame()
            if msg.arbitration_id == ID_LIMITS:
                lim = decode_frame(msg)
                if pred(lim):
                    return lim
        raise AssertionError("limits never matched")

    def close(self) -> None:
        self.bus.shutdown()


def test_service_sends_the_full_set_periodically_with_a_running_device() -> None:
    device, _ = twin_device()
    device.tick_s, device.speed = 0.1, 10.0
    cfg = virtual_config()
    rx = Receiver(cfg.channel)
    device.start()
    try:
        assert device.wait_ready(10)
        with CanBmsService(device, cfg) as svc:
            assert svc.running
            lim = rx.until_limits(lambda x: x["charge_current_a"] > 0)
            assert lim["discharge_current_a"] == 200
            first = rx.frame_set()
            second = rx.frame_set()
            assert set(first) == set(second) == set(FRAME_IDS)
            assert first[ID_NAME]["manufacturer"] == "SMALLBMS"
            assert second[ID_MODULES]["online"] == 1
        assert not svc.running
        assert svc.frame_sets_sent >= 2 and svc.send_errors == 0
    finally:
        device.stop()
        rx.close()


def test_service_sends_from_its_own_thread_in_id_order() -> None:
    device, _ = twin_device()
    cfg = virtual_config()
    rx = Receiver(cfg.channel)
    senders: set[str] = set()

    def factory(c: CanConfig) -> Any:
        bus = can.Bus(interface="virtual", channel=c.channel)
        send = bus.send

        def recording_send(msg: Any, timeout: float | None = None) -> None:
            senders.add(threading.current_thread().name)
            send(msg, timeout)

        bus.send = recording_send  # type: ignore[method-assign]
        return bus

    try:
        with CanBmsService(device, cfg, bus_factory=factory):
            device.tick(0.0)  # the tick runs here, on the test thread
            ids: list[int] = []
            while len(ids) < 2 * len(FRAME_IDS):
                ids.append(rx.next_frame().arbitration_id)
            start = ids.index(FRAME_IDS[0])
            assert ids[start:start + len(FRAME_IDS)] == list(FRAME_IDS)
        assert senders == {"bms-canbus"}
    finally:
        rx.close()


def test_stale_snapshot_sends_zero_limits_then_recovers() -> None:
    device, _ = twin_device()
    cfg = virtual_config()
    rx = Receiver(cfg.channel)
    try:
        with CanBmsService(device, cfg, stale_after_s=0.5) as svc:
            # before any snapshot: fail safe
            lim = rx.until_limits(lambda x: True)
            assert lim["charge_current_a"] == 0 and lim["discharge_current_a"] == 0
            device.tick(0.0)
            rx.until_limits(lambda x: x["charge_current_a"] == 200)
            # no more ticks: after stale_after_s the limits drop to zero
            stale = rx.until_limits(lambda x: x["charge_current_a"] == 0)
            assert stale["discharge_current_a"] == 0
            assert stale["charge_voltage_v"] == pytest.approx(14.2)
            device.tick(1.0)
            rx.until_limits(lambda x: x["charge_current_a"] == 200)
            assert svc.running
    finally:
        rx.close()


def test_unknown_soc_uses_the_last_known_value_in_the_service() -> None:
    class Feed:
        def __init__(self) -> None:
            import queue
            self.q: queue.Queue[dict[str, Any]] = queue.Queue()

        def get(self, timeout_s: float) -> dict[str, Any] | None:
            import queue
            try:
                return self.q.get(timeout=timeout_s)
            except queue.Empty:
                return None

        def put(self, snap: dict[str, Any]) -> None:
            self.q.put(snap)

    class FakeDevice:
        def __init__(self) -> None:
            self.feed = Feed()
            self.snapshot: dict[str, Any] = {}

        def subscribe(self) -> Any:
            import contextlib

            return contextlib.nullcontext(self.feed)

    dev = FakeDevice()
    cfg = virtual_config()
    rx = Receiver(cfg.channel)
    try:
        with CanBmsService(dev, cfg):
            dev.feed.put(crafted(soc_pct=42.0))
            dev.feed.put(crafted(soc_pct=None))
            deadline = time.monotonic() + RECV_TIMEOUT_S
            seen = []
            while time.monotonic() < deadline:
                msg = rx.next_frame()
                if msg.arbitration_id == ID_SOC:
                    seen.append(decode_frame(msg)["soc_hr_pct"])
                    if seen[-1] == 42.0 and len(seen) >= 3:
                        break
            assert seen[-1] == 42.0 and 0.0 not in seen[1:]
    finally:
        rx.close()


def test_stop_is_clean_and_prompt_with_a_long_period() -> None:
    device, _ = twin_device()
    cfg = virtual_config(period_s=10.0)
    svc = CanBmsService(device, cfg)
    svc.start()
    assert svc.running
    t0 = time.monotonic()
    svc.stop()
    assert not svc.running
    assert time.monotonic() - t0 < 5.0  # woken, not left waiting out the 10 s period
    svc.stop()  # idempotent


def test_stopping_the_service_sends_a_last_frame_set_with_zero_current_limits() -> None:
    """SPEC 20/21: when smallbms stops, the last limits an inverter or GX hears are 0 A, so
    nothing keeps charging or discharging on the limits of the last good tick."""
    device, _ = twin_device()
    device.tick_s, device.speed = 0.1, 10.0
    cfg = virtual_config()
    rx = Receiver(cfg.channel)
    device.start()
    try:
        assert device.wait_ready(10)
        with CanBmsService(device, cfg):
            lim = rx.until_limits(lambda x: x["charge_current_a"] > 0)
            assert lim["discharge_current_a"] > 0
        # after stop(): drain what was sent; the last limits frame must be the zero one
        last: dict[str, Any] | None = None
        while (msg := rx.bus.recv(0.0)) is not None:
            if msg.arbitration_id == ID_LIMITS:
                last = decode_frame(msg)
        assert last is not None, "no limits frame after the stop"
        assert last["charge_current_a"] == 0 and last["discharge_current_a"] == 0
    finally:
        device.stop()
        rx.close()
