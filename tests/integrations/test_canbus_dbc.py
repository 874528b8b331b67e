"""The CAN frames against docs/canbus.dbc, decoded by cantools (not by our own decoder) after a
trip over python-can's virtual bus, every field checked against the snapshot that produced it;
the Pylontech profile; the keepalive read; a Hypothesis round trip through the DBC."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import can
import cantools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallbms import __version__
from smallbms.catalog import get_model
from smallbms.integrations.canbus import (
    ALARM_FIELD_NAMES,
    FRAME_IDS,
    ID_KEEPALIVE,
    ID_PEER_INFO,
    PYLONTECH_FRAME_IDS,
    CanBmsService,
    CanConfig,
    decode_frame,
    frames_from_snapshot,
)
from smallbms.model.codes import CODE_INFO
from tests.integrations.feed_device import FeedDevice
from tests.integrations.test_canbus import crafted, snapshots, twin_device

ROOT = Path(__file__).resolve().parents[2]
DBC = ROOT / "docs" / "canbus.dbc"
RECV_TIMEOUT_S = 5.0
_channels = itertools.count()
db = cantools.database.can.Database()
db.add_dbc_file(str(DBC))


def decode(frame_id: int, data: bytes) -> dict[str, Any]:
    """cantools' decoding of one frame: numbers, not the names of enumerated values."""
    got = db.decode_message(frame_id, data, decode_choices=False)
    assert isinstance(got, dict)
    return dict(got)


def camel(name: str) -> str:
    return "".join(w.capitalize() for w in name.split("_"))


def name_of(value: int) -> bytes:
    """The 0x35E signal (one little-endian 64-bit number) back to its 8 ASCII bytes."""
    return int(value).to_bytes(8, "little")


class Peer:
    """The other end of the virtual channel: receives with timeouts, decodes with cantools."""

    def __init__(self, channel: str) -> None:
        self.bus = can.Bus(interface="virtual", channel=channel)

    def frame(self) -> can.Message:
        msg = self.bus.recv(RECV_TIMEOUT_S)
        assert msg is not None, "no frame within the timeout"
        return msg

    def frame_set(self, ids: tuple[int, ...]) -> dict[int, dict[str, Any]]:
        """cantools' decoding of one whole set, starting at its first frame."""
        while self.frame().arbitration_id != ids[-1]:  # the end of a set: the next one starts
            pass
        got: dict[int, dict[str, Any]] = {}
        for want in ids:
            msg = self.frame()
            assert msg.arbitration_id == want, (hex(msg.arbitration_id), hex(want))
            assert msg.dlc == 8 and not msg.is_extended_id
            got[want] = decode(want, bytes(msg.data))
        return got

    def close(self) -> None:
        self.bus.shutdown()


@contextlib.contextmanager
def service(device: Any, **cfg: Any) -> Iterator[tuple[CanBmsService, Peer]]:
    channel = f"smallbms-dbc-{next(_channels)}"
    peer = Peer(channel)
    svc = CanBmsService(device, CanConfig(enabled=True, interface="virtual", channel=channel,
                                          period_s=cfg.pop("period_s", 0.1), **cfg))
    svc.start()
    try:
        yield svc, peer
    finally:
        svc.stop()
        peer.close()


# --- the DBC itself -------------------------------------------------------------------------------

def test_dbc_describes_every_frame_we_send() -> None:
    ids = {m.frame_id for m in db.messages}
    assert set(FRAME_IDS) | set(PYLONTECH_FRAME_IDS) | {ID_KEEPALIVE, ID_PEER_INFO} == ids
    for m in db.messages:
        assert m.length == 8 and not m.is_extended_frame
    alarms = db.get_message_by_frame_id(0x35A)
    assert {s.name for s in alarms.signals} == {camel(n) for n in ALARM_FIELD_NAMES}


@pytest.mark.parametrize("profile", ["victron", "pylontech"])
def test_every_field_over_the_virtual_bus_matches_the_state(profile: str) -> None:
    snap = crafted(model_id="12.8/200", series=2, parallel=2, soc_pct=63.47, voltage_v=26.61,
                   current_a=-41.3, min_cell_v=3.287, max_cell_v=3.311, min_temperature_c=-2.5,
                   max_temperature_c=31.4, load="high", charge="floating",
                   codes=("W-B01", "A-B09"), balancer="imbalanced",
                   reporting=(True, True, True, False))
    s, bank = snap["status"], snap["bank"]
    model = get_model("12.8/200")
    device = FeedDevice(snap)
    ids = FRAME_IDS if profile == "victron" else PYLONTECH_FRAME_IDS
    with service(device, profile=profile) as (_, peer):
        device.publish(snap)  # fresh: not stale
        for _ in range(100):  # the sets sent before the service had it are stale: skip them
            f = peer.frame_set(ids)
            if f[0x35A]["InternalFailureAlarm"] == 2:
                break
        else:
            raise AssertionError("never a set made from the fresh snapshot")
    lim = f[0x351]
    assert lim["ChargeVoltageLimit"] == pytest.approx(28.4)  # 14.2 V per 12.8 V, 2 in series
    assert lim["ChargeCurrentLimit"] == 0  # the charge disconnect is floating
    assert lim["DischargeCurrentLimit"] == pytest.approx(model.cont_discharge_a * 2)
    assert lim["DischargeVoltageLimit"] == pytest.approx(2.8 * 8)
    assert f[0x355] == {"Soc": 63, "Soh": 100, "SocHighRes": pytest.approx(63.47)}
    assert f[0x356]["BatteryVoltage"] == pytest.approx(s["voltage_v"])
    assert f[0x356]["BatteryCurrent"] == pytest.approx(s["current_a"])
    assert f[0x356]["BatteryTemperature"] == pytest.approx(s["max_temperature_c"])
    a = f[0x35A]
    active = {k for k, v in a.items() if v == 1}
    assert active == {"GeneralAlarm", "GeneralWarning", "LowVoltageWarning",
                      "HighTemperatureAlarm", "HighTemperatureChargeAlarm",
                      "CellImbalanceWarning"}
    assert set(a.values()) == {1, 2}
    want_name = b"SMALLBMS" if profile == "victron" else b"PYLON   "
    assert name_of(f[0x35E]["Name"]) == want_name
    info = f[0x35F]
    assert name_of(info["Chemistry"])[:2] == b"LF"
    assert info["Capacity"] == bank["capacity_ah"] == 400
    major, minor = (int(p) for p in __version__.split(".")[:2])
    assert (info["SoftwareVersionMajor"], info["SoftwareVersionMinor"]) == (major, minor)
    assert f[0x372] == {"ModulesOnline": 3, "ModulesBlockingCharge": 3,
                        "ModulesBlockingDischarge": 0, "ModulesOffline": 1}
    cells = f[0x373]
    assert cells["MinCellVoltage"] == pytest.approx(3.287)
    assert cells["MaxCellVoltage"] == pytest.approx(3.311)
    assert cells["MinTemperature"] == round(-2.5 + 273.15)
    assert cells["MaxTemperature"] == round(31.4 + 273.15)
    assert f[0x379] == {"InstalledCapacity": 400}
    if profile == "pylontech":
        p = f[0x359]
        assert {k for k, v in p.items() if v == 1 and k not in ("ModuleCount",)} == {
            "HighTemperatureProtection", "LowVoltageWarning"}
        assert p["ModuleCount"] == 3
        assert bytes([p["PnFirst"], p["PnSecond"]]) == b"PN"
        assert f[0x35C] == {"ChargeEnable": 0, "DischargeEnable": 1, "ForceCharge1": 0,
                            "ForceCharge2": 0, "FullChargeRequest": 0}
    else:
        assert 0x359 not in f and 0x35C not in f


def test_pylontech_requests_a_full_charge_while_the_soc_is_unknown() -> None:
    f = {m.arbitration_id: decode(m.arbitration_id, bytes(m.data))
         for m in frames_from_snapshot(crafted(soc_pct=None), profile="pylontech")}
    assert f[0x35C]["FullChargeRequest"] == 1


def test_pylontech_stale_snapshot_disables_both_and_flags_a_system_error() -> None:
    f = {m.arbitration_id: decode(m.arbitration_id, bytes(m.data))
         for m in frames_from_snapshot(crafted(), stale=True, profile="pylontech")}
    assert f[0x35C]["ChargeEnable"] == 0 and f[0x35C]["DischargeEnable"] == 0
    assert f[0x359]["SystemErrorProtection"] == 1
    assert f[0x351]["ChargeCurrentLimit"] == 0 and f[0x351]["DischargeCurrentLimit"] == 0


def test_pylontech_sends_at_least_every_second() -> None:
    device = FeedDevice(crafted())
    with service(device, profile="pylontech", period_s=5.0) as (svc, peer):
        assert svc.period_s == 1.0
        peer.frame_set(PYLONTECH_FRAME_IDS)
    cfg = CanConfig(enabled=True, interface="virtual", channel="x", period_s=5.0)
    assert CanBmsService(device, cfg).period_s == 5.0  # the victron profile keeps its period


def test_real_core_snapshot_decodes_with_the_dbc() -> None:
    device, _ = twin_device()
    device.tick(0.0)
    snap = device.snapshot
    for msg in frames_from_snapshot(snap, profile="pylontech"):
        ours = decode_frame(msg)
        theirs = decode(msg.arbitration_id, bytes(msg.data))
        assert len(ours) >= 1 and len(theirs) >= 1
    lim = decode(0x351, bytes(frames_from_snapshot(snap)[0].data))
    assert lim["ChargeVoltageLimit"] == pytest.approx(14.2)


# --- the peer's keepalive -------------------------------------------------------------------------

def test_keepalive_and_identification_are_read_and_reported() -> None:
    device = FeedDevice(crafted())
    channel = f"smallbms-dbc-{next(_channels)}"
    peer = Peer(channel)
    svc = CanBmsService(device, CanConfig(enabled=True, interface="virtual", channel=channel,
                                          period_s=0.1, profile="pylontech"))
    svc.start()
    try:
        assert svc.keepalives == 0 and not svc.peer_present and svc.peer_text is None
        peer.bus.send(can.Message(arbitration_id=ID_KEEPALIVE, is_extended_id=False,
                                  data=bytes(8)))
        peer.bus.send(can.Message(arbitration_id=ID_PEER_INFO, is_extended_id=False,
                                  data=b"GRW\x00\x00\x00\x00\x00"))
        # what came in is read after each frame set: wait on the sets going by
        deadline = time.monotonic() + RECV_TIMEOUT_S
        while svc.keepalives == 0 or svc.peer_info is None:
            assert time.monotonic() < deadline, "the keepalive was never read"
            peer.frame()
        assert svc.keepalives == 1
        assert svc.peer_present
        assert svc.peer_text == "GRW"
        svc.clock = lambda: time.monotonic() + 60.0  # a minute of silence
        assert not svc.peer_present
    finally:
        svc.stop()
        peer.close()


# --- Hypothesis: every frame through the DBC and back ---------------------------------------------

@settings(max_examples=300, deadline=None)
@given(snap=snapshots(), stale=st.booleans(), profile=st.sampled_from(["victron", "pylontech"]))
def test_round_trip_through_the_dbc(snap: dict[str, Any], stale: bool, profile: Any) -> None:
    for msg in frames_from_snapshot(snap, stale=stale, profile=profile):
        data = bytes(msg.data)
        decoded = decode(msg.arbitration_id, data)
        # cantools encodes what it decoded into exactly our bytes: the DBC is the format
        assert bytes(db.encode_message(msg.arbitration_id, decoded)) == data
        ours = decode_frame(msg)
        if msg.arbitration_id == 0x351:
            assert decoded["ChargeCurrentLimit"] == pytest.approx(ours["charge_current_a"])
            assert decoded["DischargeCurrentLimit"] == pytest.approx(
                ours["discharge_current_a"])
        elif msg.arbitration_id == 0x356:
            assert decoded["BatteryCurrent"] == pytest.approx(ours["current_a"])
        elif msg.arbitration_id == 0x35A:
            assert {camel(k): v for k, v in ours.items()} == decoded
        elif msg.arbitration_id == 0x359:
            codes = {c["code"] for c in snap["active_codes"]}
            assert decoded["SystemErrorProtection"] == int(
                stale or any(CODE_INFO[c].kind == "error" for c in codes) or "A-B05" in codes)
            assert decoded["ModuleCount"] == min(
                sum(b["reporting"] for b in snap["batteries"]), 255)
        elif msg.arbitration_id == 0x35C:
            out = snap["status"]["outputs"]
            assert decoded["ChargeEnable"] == int(not stale and out["charge_disconnect"] == "high")
            assert decoded["DischargeEnable"] == int(
                not stale and out["load_disconnect"] == "high")
