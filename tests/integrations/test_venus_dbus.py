"""The Venus OS battery service on a private dbus-daemon, read by independent clients: busctl
(systemd's) and Debian's python3-dbus (tests/integrations/venus_client.py, run with
/usr/bin/python3) making the calls and signal subscriptions a GX's monitor makes.

Every wait is on a signal line, a process or an event, with a generous timeout."""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dbus_fast")

from smallbms.core.types import SetMode
from smallbms.integrations.venus.config import VenusConfig
from smallbms.integrations.venus.paths import (
    MODE_OFF,
    MODE_ON,
    SPECS,
    cell_count,
    path_specs,
    snapshot_values,
)
from smallbms.integrations.venus.service import VenusService
from tests.integrations.feed_device import FeedDevice
from tests.integrations.test_canbus import twin_device
from tests.integrations.test_venus_paths import full

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "venus_client.py"
SYSTEM_PYTHON = Path("/usr/bin/python3")
TIMEOUT_S = 20.0
SERVICE = "com.victronenergy.battery.smallbms"

if shutil.which("dbus-daemon") is None:
    pytest.skip("dbus-daemon is not installed (apt-get install dbus)", allow_module_level=True)


def _has_python3_dbus() -> bool:
    if not SYSTEM_PYTHON.exists():
        return False
    r = subprocess.run([str(SYSTEM_PYTHON), "-c", "import dbus, gi"], capture_output=True,
                       check=False)
    return r.returncode == 0


needs_python3_dbus = pytest.mark.skipif(
    not _has_python3_dbus(), reason="Debian's python3-dbus and python3-gi are not installed")
needs_busctl = pytest.mark.skipif(shutil.which("busctl") is None, reason="busctl not installed")


# --- a private bus and a device we drive ---------------------------------------------------------

class PrivateBus:
    """A dbus-daemon of our own on a unix socket in a temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.socket = folder / "bus"
        self.proc: subprocess.Popen[str] | None = None
        self.address = ""

    def start(self) -> PrivateBus:
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile",
             f"--address=unix:path={self.socket}", "--print-address=1"],
            stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().strip()  # printed once it listens
        assert self.address.startswith("unix:"), self.address
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(TIMEOUT_S)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None


@pytest.fixture
def private_bus(tmp_path: Path) -> Iterator[PrivateBus]:
    bus = PrivateBus(tmp_path).start()
    try:
        yield bus
    finally:
        bus.stop()


@contextlib.contextmanager
def running(device: Any, address: str, **kw: Any) -> Iterator[VenusService]:
    svc = VenusService(device, VenusConfig(enabled=True, bus=address, device_instance=42), **kw)
    svc.start()
    try:
        assert svc.wait_published(TIMEOUT_S), "the service never claimed its name"
        if isinstance(device, FeedDevice):  # a first fresh snapshot (the one at start is old)
            n = svc.updates
            device.publish(device.snapshot)
            assert svc.wait_update(n, TIMEOUT_S)
        yield svc
    finally:
        svc.stop()


# --- the independent clients ---------------------------------------------------------------------

def client(address: str, *args: str) -> list[dict[str, Any]]:
    r = subprocess.run([str(SYSTEM_PYTHON), str(CLIENT), address, SERVICE, *args],
                       capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def set_value(address: str, path: str, sig: str, value: Any) -> int:
    (line,) = client(address, "set", path, sig, str(value))
    return int(line["answer"])


class Monitor:
    """The python3-dbus client in monitor mode: every signal it receives, as parsed lines."""

    def __init__(self, address: str) -> None:
        self.proc = subprocess.Popen(
            [str(SYSTEM_PYTHON), str(CLIENT), address, SERVICE, "monitor"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        ready = self.next()
        assert ready == {"ready": True}, ready

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def next(self) -> dict[str, Any]:
        try:
            return self.lines.get(timeout=TIMEOUT_S)
        except queue.Empty:
            raise AssertionError("no signal within the timeout") from None

    def until(self, pred: Any) -> dict[str, Any]:
        while True:
            line = self.next()
            if pred(line):
                return line

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(TIMEOUT_S)


def busctl(address: str, *args: str) -> str:
    r = subprocess.run(["busctl", f"--address={address}", *args], capture_output=True,
                       text=True, timeout=TIMEOUT_S, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def wire_of(value: Any, path: str) -> str:
    return "ai" if value is None else SPECS[path].wire


# --- tests ---------------------------------------------------------------------------------------

@needs_python3_dbus
def test_every_path_wire_type_value_text_and_sign(private_bus: PrivateBus) -> None:
    snap = full(soc_pct=None)  # one invalid value among them
    device = FeedDevice(snap)
    with running(device, private_bus.address):
        items, root, per_path, node = (line for line in client(private_bus.address, "dump"))
    expected = snapshot_values(snap, cells=cell_count(snap))
    paths = [s.path for s in path_specs(cell_count(snap))]
    got = items["items"]
    assert sorted(got) == sorted(paths)  # every path, and only those
    for path in paths:
        want = expected.get(path, "identity")
        value = got[path]["Value"]
        if want is None:
            assert value == {"t": "ai", "v": []}, path  # invalid: an empty array of int32
            assert got[path]["Text"]["v"] == "---"
        elif want != "identity":
            assert value["t"] == wire_of(want, path), path
            assert value["v"] == pytest.approx(want), path
            unit = SPECS[path].unit
            if unit:  # the text carries the unit
                assert got[path]["Text"]["v"].endswith(" " + unit), path
        assert got[path]["Text"]["t"] == "s"
        assert per_path["paths"][path]["value"] == value  # GetValue on the path agrees
        assert per_path["paths"][path]["text"] == got[path]["Text"]["v"]
    # read straight from the snapshot, not through the path map: values, units, signs
    s = snap["status"]
    assert got["/Dc/0/Current"]["Value"] == {"t": "d", "v": s["current_a"]}
    assert got["/Dc/0/Current"]["Value"]["v"] < 0  # discharging is negative on Venus OS
    assert got["/Dc/0/Power"]["Value"]["v"] < 0
    assert got["/ConsumedAmphours"]["Value"]["v"] < 0
    assert got["/History/DeepestDischarge"]["Value"]["v"] < 0
    assert got["/Dc/0/Voltage"]["Text"]["v"] == f"{s['voltage_v']:.2f} V"
    assert got["/Dc/0/Temperature"]["Text"]["v"].endswith("°C")
    assert got["/Soc"]["Value"] == {"t": "ai", "v": []}
    assert got["/DeviceInstance"]["Value"] == {"t": "i", "v": 42}
    assert got["/Connected"]["Value"] == {"t": "i", "v": 1}
    assert got["/Mgmt/ProcessName"]["Value"] == {"t": "s", "v": "smallbms"}
    assert got["/Mode"]["Value"] == {"t": "i", "v": MODE_ON}
    # GetValue on / and on an inner node: the subtree, keys relative to the node
    assert root["root_value"]["t"] == "a{sv}"
    assert root["root_value"]["v"]["Dc/0/Voltage"] == got["/Dc/0/Voltage"]["Value"]
    assert set(node["node_value"]["v"]) == {"Voltage", "Current", "Power", "Temperature"}


@needs_python3_dbus
def test_every_path_exists_when_the_name_appears(private_bus: PrivateBus) -> None:
    snap = full()
    watcher = subprocess.Popen(
        [str(SYSTEM_PYTHON), str(CLIENT), private_bus.address, SERVICE, "appear"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout is not None
        assert json.loads(watcher.stdout.readline()) == {"ready": True}
        with running(FeedDevice(snap), private_bus.address):
            line = json.loads(watcher.stdout.readline())
        watcher.wait(TIMEOUT_S)
    finally:
        watcher.kill()
        watcher.wait(TIMEOUT_S)
    assert line["appeared"] is True
    assert line["paths"] == sorted(s.path for s in path_specs(cell_count(snap)))


@needs_busctl
def test_busctl_sees_the_name_types_and_invalid(private_bus: PrivateBus) -> None:
    device = FeedDevice(full(soc_pct=None))
    with running(device, private_bus.address):
        names = busctl(private_bus.address, "list", "--no-pager")
        assert SERVICE in names
        assert busctl(private_bus.address, "call", SERVICE, "/Soc",
                      "com.victronenergy.BusItem", "GetValue") == "v ai 0"
        assert busctl(private_bus.address, "call", SERVICE, "/Dc/0/Voltage",
                      "com.victronenergy.BusItem", "GetValue") == "v d 13.3"
        assert busctl(private_bus.address, "call", SERVICE, "/Connected",
                      "com.victronenergy.BusItem", "GetValue") == "v i 1"
        assert busctl(private_bus.address, "call", SERVICE, "/Dc/0/Voltage",
                      "com.victronenergy.BusItem", "GetText") == 's "13.30 V"'
        # not writeable: a measured value, and the root
        assert busctl(private_bus.address, "call", SERVICE, "/Dc/0/Voltage",
                      "com.victronenergy.BusItem", "SetValue", "v", "d", "12") == "i 1"
        assert busctl(private_bus.address, "call", SERVICE, "/",
                      "com.victronenergy.BusItem", "SetValue", "v", "i", "1") == "i 1"
        tree = busctl(private_bus.address, "tree", SERVICE, "--list", "--no-pager")
        assert "/Dc/0/Voltage" in tree and "/Alarms/LowSoc" in tree


@needs_python3_dbus
def test_set_value_answers(private_bus: PrivateBus) -> None:
    snap = full()
    device = FeedDevice(snap)
    addr = private_bus.address
    with running(device, addr):
        mon = Monitor(addr)
        try:
            assert set_value(addr, "/Soc", "d", 50) == 1  # read-only
            assert set_value(addr, "/CustomName", "i", 5) == 1  # wrong type
            assert set_value(addr, "/CustomName", "s", "House bank") == 0
            line = mon.until(lambda x: x.get("signal") == "PropertiesChanged")
            assert line["path"] == "/CustomName"
            assert line["changes"]["Value"] == {"t": "s", "v": "House bank"}
            assert set_value(addr, "/Mode", "s", "off") == 1  # wrong type
            assert set_value(addr, "/Mode", "i", 9) == 1  # no such mode
            assert device.commands == []
            assert set_value(addr, "/Mode", "i", MODE_OFF) == 0
            assert device.commands == [SetMode("off")]
            device.accept = False
            assert set_value(addr, "/Mode", "i", MODE_ON) == 2  # the core refused
            device.accept = True
            off = full()
            off["status"]["wireless_available"] = False
            device.publish(off)
            mon.until(lambda x: x.get("signal") == "ItemsChanged")  # the service has it
            assert set_value(addr, "/Mode", "i", MODE_ON) == 2  # wireless access is off
            assert device.commands == [SetMode("off"), SetMode("on")]
        finally:
            mon.close()
        dump = client(addr, "dump")
        assert dump[0]["items"]["/CustomName"]["Value"]["v"] == "House bank"


@needs_python3_dbus
def test_one_update_is_one_items_changed_with_only_its_changes(private_bus: PrivateBus) -> None:
    snap = full()
    device = FeedDevice(snap)
    addr = private_bus.address
    with running(device, addr) as svc:
        mon = Monitor(addr)
        try:
            nxt = copy_snap(snap)
            nxt["status"].update(voltage_v=13.1, current_a=-20.0, soc_pct=79.5)
            sent, updates = svc.signals_sent, svc.updates
            device.publish(nxt)
            line = mon.until(lambda x: x.get("signal") == "ItemsChanged")
            assert line["path"] == "/"
            changes = line["changes"]
            assert set(changes) == {"/Dc/0/Voltage", "/Dc/0/Current", "/Soc", "/Capacity"}
            assert changes["/Dc/0/Current"]["Value"] == {"t": "d", "v": -20.0}
            assert changes["/Soc"]["Text"] == {"t": "s", "v": "79.5 %"}
            # an identical snapshot changes nothing: no signal at all
            device.publish(copy_snap(nxt))
            nxt2 = copy_snap(nxt)
            nxt2["status"]["soc_pct"] = None
            device.publish(nxt2)
            line = mon.until(lambda x: x.get("signal") == "ItemsChanged")
            assert set(line["changes"]) == {"/Soc", "/Capacity"}
            assert line["changes"]["/Soc"]["Value"] == {"t": "ai", "v": []}
            assert svc.wait_update(updates + 2, TIMEOUT_S)  # all three taken
            assert svc.signals_sent == sent + 2  # the identical one sent nothing
        finally:
            mon.close()


def copy_snap(snap: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(snap))
    return out


@needs_python3_dbus
def test_spec20_limits_drop_to_zero_in_the_update_of_the_tick_that_floats(
        private_bus: PrivateBus) -> None:
    device, _ = twin_device()
    device.tick(0.0)
    addr = private_bus.address
    with running(device, addr):
        mon = Monitor(addr)
        try:
            setter = subprocess.Popen(
                [str(SYSTEM_PYTHON), str(CLIENT), addr, SERVICE, "set", "/Mode", "i",
                 str(MODE_OFF)], stdout=subprocess.PIPE, text=True)
            t = 0.0
            while setter.poll() is None:  # the command is applied by the next tick
                t += 1.0
                device.tick(t)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    setter.wait(0.05)
                assert t < 200, "the /Mode command was never answered"
            out, _ = setter.communicate()
            assert json.loads(out)["answer"] == 0
            assert device.snapshot["status"]["outputs"]["load_disconnect"] == "floating"
            line = mon.until(lambda x: x.get("signal") == "ItemsChanged"
                             and x["changes"].get("/Io/AllowToDischarge", {}).get("Value")
                             == {"t": "i", "v": 0})
            ch = line["changes"]
            # the same update (from the same snapshot) that says "not allowed" carries limit 0
            assert ch["/Io/AllowToDischarge"]["Value"] == {"t": "i", "v": 0}
            assert ch["/Info/MaxDischargeCurrent"]["Value"] == {"t": "d", "v": 0.0}
            assert ch["/Info/MaxChargeCurrent"]["Value"] == {"t": "d", "v": 0.0}
        finally:
            mon.close()


@needs_python3_dbus
def test_stale_snapshots_drop_the_limits(private_bus: PrivateBus) -> None:
    now = [0.0]
    device = FeedDevice(full())
    addr = private_bus.address
    with running(device, addr, clock=lambda: now[0], stale_after_s=5.0) as svc:
        mon = Monitor(addr)
        try:
            n = svc.updates
            device.publish(full())  # fresh as of clock 0
            assert svc.wait_update(n, TIMEOUT_S)
            now[0] = 100.0  # and then nothing for a long time
            line = mon.until(lambda x: x.get("signal") == "ItemsChanged"
                             and "/Info/MaxChargeCurrent" in x["changes"])
            assert line["changes"]["/Info/MaxChargeCurrent"]["Value"]["v"] == 0.0
            assert line["changes"]["/Info/MaxDischargeCurrent"]["Value"]["v"] == 0.0
            assert line["changes"]["/Alarms/InternalFailure"]["Value"]["v"] == 2
            device.publish(full())  # snapshots again: limits back
            line = mon.until(lambda x: x.get("signal") == "ItemsChanged"
                             and "/Info/MaxChargeCurrent" in x["changes"])
            assert line["changes"]["/Info/MaxChargeCurrent"]["Value"]["v"] > 0
        finally:
            mon.close()


@needs_busctl
def test_no_bus_then_bus_loss_never_disturbs_the_tick(tmp_path: Path) -> None:
    bus = PrivateBus(tmp_path)
    address = f"unix:path={bus.socket}"
    device, _ = twin_device()
    device.tick(0.0)
    svc = VenusService(device, VenusConfig(enabled=True, bus=address), retry_s=0.1)
    svc.start()  # nothing listens yet
    try:
        assert not svc.published and svc.connect_failures >= 1
        device.tick(1.0)  # the tick goes on
        bus.start()
        assert svc.wait_published(TIMEOUT_S)
        assert SERVICE in busctl(bus.address, "list", "--no-pager")
        bus.stop()  # the bus goes away under the service
        for t in range(2, 6):
            device.tick(float(t))
        assert svc.running
        bus.start()
        assert svc.wait_published(TIMEOUT_S)
        assert busctl(bus.address, "call", SERVICE, "/Connected",
                      "com.victronenergy.BusItem", "GetValue") == "v i 1"
    finally:
        svc.stop()
        bus.stop()
    assert not svc.running


@needs_busctl
def test_name_taken_is_retried_not_fatal(private_bus: PrivateBus) -> None:
    device = FeedDevice(full())
    with running(device, private_bus.address) as first:
        second = VenusService(device, VenusConfig(enabled=True, bus=private_bus.address),
                              retry_s=0.1)
        second.start()
        try:
            assert not second.published and second.connect_failures >= 1
            assert second.running
        finally:
            second.stop()
        assert first.published


def test_stop_right_after_start_ends_the_thread(tmp_path: Path) -> None:
    device = FeedDevice(full())
    for _ in range(5):  # whatever point of its start-up the stop reaches it at
        svc = VenusService(device, VenusConfig(enabled=True,
                                               bus=f"unix:path={tmp_path}/nothing"))
        svc.start(timeout_s=0.0)  # no wait for the first attempt
        svc.stop()
        assert not svc.running
