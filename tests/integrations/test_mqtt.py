"""The MQTT bridge against a real mosquitto broker and a real Device running the twin.

The broker is started by the fixtures (``/usr/sbin/mosquitto`` on a free 127.0.0.1 port, password
file, no anonymous access). Without mosquitto the broker tests skip, except under CI (env CI set),
where they fail. Every wait is on a condition with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import getpass
import itertools
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("paho.mqtt")

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from smallbms.core.engine import Core
from smallbms.core.types import Decision, SetMode
from smallbms.errors import ConfigError
from smallbms.integrations import mqtt as bridge_module
from smallbms.integrations.mqtt import MqttBridge, MqttConfig, Topics, discovery_configs, state_payload
from smallbms.model.fields import field
from smallbms.scenario import load_scenario
from smallbms.service.device import Device
from smallbms.simulate import initial_persistent
from smallbms.sources.twin import TwinSource
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "system_solar_batteryprotect.toml"
MOSQUITTO = Path("/usr/sbin/mosquitto")
USER, PASSWORD = "bms", "s3cret-pass"
DEADLINE_S = 15.0


def wait_until(pred: Callable[[], bool], timeout_s: float = DEADLINE_S, what: str = "") -> None:
    """Poll ``pred`` until it is true; fail after ``timeout_s``."""
    end = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what or pred}")
        time.sleep(0.02)


# --- the broker ---------------------------------------------------------------------------------


def need_mosquitto() -> None:
    if MOSQUITTO.exists() and shutil.which("mosquitto_passwd"):
        return
    if os.environ.get("CI"):
        pytest.fail("mosquitto is not installed (tools/test.sh installs the Debian package)")
    pytest.skip("mosquitto is not installed (apt-get install mosquitto)")


class Broker:
    """A mosquitto process with password authentication on a fixed 127.0.0.1 port."""

    def __init__(self, tmp: Path, tls: dict[str, Path] | None = None) -> None:
        need_mosquitto()
        self.dir = tmp
        self.port = free_port()
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        passwd = tmp / "passwd"
        subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), USER, PASSWORD], check=True,
                       capture_output=True)
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous false",
                 f"password_file {passwd}", "persistence false",
                 f"log_dest file {tmp / 'mosquitto.log'}", "log_type all",
                 f"user {getpass.getuser()}"]  # as root, stay root so the files stay readable
        if tls:
            lines += [f"cafile {tls['ca']}", f"certfile {tls['cert']}", f"keyfile {tls['key']}"]
        self.conf = tmp / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([str(MOSQUITTO), "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        end = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                pytest.fail(f"mosquitto exited at start: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > end:
                    pytest.fail("mosquitto did not open its port within 10 s")
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def config(self, **kw: Any) -> MqttConfig:
        base: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "username": USER,
                                "password": PASSWORD, "publish_interval_s": 2.0}
        base.update(kw)
        return MqttConfig(**base)


class Listener:
    """A test-side MQTT client that records every message it sees."""

    def __init__(self, broker: Broker, topics: list[str], **tls: Any) -> None:
        self.cond = threading.Condition()
        self.messages: list[tuple[float, str, bytes, bool]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"listener-{id(self)}")
        self.client.username_pw_set(USER, PASSWORD)
        if tls:
            self.client.tls_set(**tls)
        subscribed = threading.Event()

        def on_connect(c: mqtt.Client, u: Any, f: Any, rc: Any, p: Any) -> None:
            c.subscribe([(t, 1) for t in topics])

        def on_subscribe(c: mqtt.Client, u: Any, mid: int, rcs: Any, p: Any) -> None:
            subscribed.set()

        def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
            with self.cond:
                self.messages.append((time.monotonic(), msg.topic, bytes(msg.payload), msg.retain))
                self.cond.notify_all()

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        if not subscribed.wait(DEADLINE_S):
            pytest.fail("the test listener could not subscribe")

    def on(self, topic: str) -> list[bytes]:
        with self.cond:
            return [p for _, t, p, _ in self.messages if t == topic]

    def wait(self, pred: Callable[[], Any], timeout_s: float = DEADLINE_S, what: str = "") -> Any:
        end = time.monotonic() + timeout_s
        with self.cond:
            while True:
                found = pred()
                if found:
                    return found
                left = end - time.monotonic()
                if left <= 0:
                    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
                self.cond.wait(left)

    def wait_payload(self, topic: str, payload: str | None = None, timeout_s: float = DEADLINE_S) -> bytes:
        def found() -> bytes | None:
            for p in reversed(self.on(topic)):
                if payload is None or p.decode() == payload:
                    return p
            return None

        p: bytes = self.wait(found, timeout_s, f"{payload!r} on {topic}")
        return p

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(DEADLINE_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- the device ---------------------------------------------------------------------------------


def make_device() -> Device:
    """The twin of the manual's first system example in a running Device (not started)."""
    scenario = load_scenario(EXAMPLE)
    source = TwinSource(scenario)
    core = Core(scenario.profile, initial_persistent(scenario))

    def obey(d: Decision, c: Core) -> None:
        source.obey(d)

    return Device(core, source, tick_s=0.1, speed=20.0, obey=obey)


@pytest.fixture(scope="module")
def device() -> Iterator[Device]:
    d = make_device()
    d.start()
    assert d.wait_ready(10)
    yield d
    d.stop()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("mosquitto"))
    yield b
    b.stop()


@pytest.fixture(scope="module")
def bridge(broker: Broker, device: Device) -> Iterator[MqttBridge]:
    br = MqttBridge(device, broker.config(client_id="bridge-main"))
    br.start()
    assert br.wait_connected(DEADLINE_S), br.last_error
    yield br
    br.stop()


def kill_connection(bridge: MqttBridge) -> None:
    """Make the bridge's client vanish as in a crash: its network loop stops and the socket is
    shut without an MQTT DISCONNECT, so the broker must send the last will."""
    client = bridge._client
    assert client is not None
    for w in bridge._workers:
        assert w.stop(5)
    client.loop_stop()
    sock = client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    bridge._client = None


# --- configuration ------------------------------------------------------------------------------


def test_config_defaults_and_values(tmp_path: Path) -> None:
    c = MqttConfig.from_table({}, "x.toml")
    assert c.enabled and c.host == "localhost" and c.broker_port == 1883
    assert c.discovery_prefix == "homeassistant" and c.publish_interval_s == 5.0
    assert c.base_topic is None and c.tls is None
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    c = MqttConfig.from_table({
        "enabled": False, "host": "broker.lan", "username": "u", "password": "p",
        "tls": {"ca_file": "ca.crt", "insecure": False}, "base_topic": "home/bms",
        "discovery_prefix": "ha", "publish_interval_s": 10, "client_id": "bms-1",
        "device_id": "ABC", "device_name": "Boat BMS", "keepalive_s": 60,
    }, "x.toml", base=tmp_path)
    assert not c.enabled and c.broker_port == 8883 and c.tls is not None
    assert c.tls.ca_file == ca and c.publish_interval_s == 10.0 and c.base_topic == "home/bms"


@pytest.mark.parametrize(("table", "key"), [
    ({"hots": "x"}, "mqtt.hots"),
    ({"port": 0}, "mqtt.port"),
    ({"port": "1883"}, "mqtt.port"),
    ({"port": True}, "mqtt.port"),
    ({"enabled": "yes"}, "mqtt.enabled"),
    ({"host": ""}, "mqtt.host"),
    ({"password": "p"}, "mqtt.password"),
    ({"publish_interval_s": 0}, "mqtt.publish_interval_s"),
    ({"publish_interval_s": float("nan")}, "mqtt.publish_interval_s"),
    ({"base_topic": "a/#"}, "mqtt.base_topic"),
    ({"base_topic": "/a"}, "mqtt.base_topic"),
    ({"discovery_prefix": ""}, "mqtt.discovery_prefix"),
    ({"tls": "yes"}, "mqtt.tls"),
    ({"tls": {"ca_file": "missing.crt"}}, "mqtt.tls.ca_file"),
    ({"tls": {"insecure": 1}}, "mqtt.tls.insecure"),
    ({"tls": {"cafile": "x"}}, "mqtt.tls.cafile"),
])
def test_config_refuses_bad_values(table: dict[str, Any], key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        MqttConfig.from_table(table, "x.toml", base=tmp_path)
    assert isinstance(e.value, ValueError)
    assert str(e.value).startswith(f"x.toml: {key}:"), str(e.value)


# --- discovery from the field table -------------------------------------------------------------


def test_discovery_sensors_follow_the_field_table(device: Device) -> None:
    topics = Topics("smallbms/t", "homeassistant", "t")
    configs = discovery_configs(topics, {"name": "t"}, 1)
    state = state_payload(device.snapshot)
    pairs = (*bridge_module.STATUS_SENSORS, *bridge_module.HISTORY_SENSORS)
    for object_id, field_id in pairs:
        f = field(field_id)
        cfg = configs[topics.config("sensor", object_id)]
        assert cfg["name"] == bridge_module.ENTITY_NAMES.get(object_id, f.label)
        assert cfg.get("unit_of_measurement") == f.unit
        assert cfg.get("device_class") == f.ha_device_class
        assert cfg.get("state_class") == f.ha_state_class
        numeric = f.kind in ("float", "int")
        assert cfg.get("suggested_display_precision") == (f.precision if numeric else None)
        assert cfg.get("entity_category") == (
            "diagnostic" if f.group == "history"
            and object_id not in bridge_module.ENERGY_DASHBOARD_SENSORS else None)
        # the template reads the field under its public key, and the state carries that key
        path = cfg["value_template"].removeprefix("{{ value_json.").removesuffix(" }}")
        assert path == f"{f.group}.{f.key}"
        assert f.key in state[f.group], path
    battery = configs[topics.config("sensor", "battery_1_voltage")]
    assert battery["name"] == "Battery 1 voltage"
    assert battery["suggested_display_precision"] == field("battery.voltage_v").precision
    assert ".voltage_v | default(None)" in battery["value_template"]
    assert len(pairs) == len({oid for oid, _ in pairs})


# --- against the broker -------------------------------------------------------------------------


def test_discovery_configs_are_retained_and_complete(broker: Broker, bridge: MqttBridge,
                                                     device: Device) -> None:
    topics = bridge.topics
    assert topics is not None
    serial = device.snapshot["batteries"][0]["serial"]
    assert bridge.device_id == serial and topics.base == f"smallbms/{topics.node}"
    n_batteries = device.snapshot["bank"]["batteries"]
    expected = 6 + 1 + 3 + 21 + 2 * n_batteries  # binary sensors, switch, buttons, sensors

    def discovery(lis: Listener) -> list[tuple[str, bytes, bool]]:
        return [(t, p, r) for _, t, p, r in lis.messages if t.startswith("homeassistant/")]

    first = Listener(broker, ["homeassistant/#"])  # may connect while the configs go out
    try:
        first.wait(lambda: len(discovery(first)) >= expected, what="all discovery configs")
    finally:
        first.close()
    # a client that connects later gets every config at once, as retained messages
    lis = Listener(broker, ["homeassistant/#", f"{topics.base}/availability"])
    try:
        lis.wait(lambda: len(discovery(lis)) >= expected, what="all retained discovery configs")
        lis.wait_payload(topics.availability, "online")
        assert all(r for _, _, r in discovery(lis))
        configs = {t: json.loads(p) for t, p, _ in discovery(lis)}
    finally:
        lis.close()
    assert len(configs) == expected
    ids = set()
    for t, cfg in configs.items():
        prefix, component, node, object_id, last = t.split("/")
        assert (prefix, node, last) == ("homeassistant", topics.node, "config")
        assert component in ("sensor", "binary_sensor", "switch", "button")
        assert cfg["unique_id"] == f"{topics.node}_{object_id}"
        ids.add(cfg["unique_id"])
        assert cfg["availability_topic"] == f"{topics.base}/availability"
        assert cfg["device"] == {
            "identifiers": [f"smallbms_{topics.node}"], "name": "smallBMS", "manufacturer": "smallbms",
            "model": "smallBMS NG (software)", "sw_version": cfg["device"]["sw_version"]}
        if component != "button":
            assert cfg["state_topic"] == f"{topics.base}/state"
            assert cfg["value_template"].startswith("{{")
    assert len(ids) == len(configs)
    sensor = {t.split("/")[3]: c for t, c in configs.items() if t.split("/")[1] == "sensor"}
    soc = sensor["soc"]
    assert (soc["device_class"], soc["unit_of_measurement"], soc["state_class"]) == (
        "battery", "%", "measurement")
    assert "status.soc_pct" in soc["value_template"]
    assert (sensor["voltage"]["device_class"], sensor["voltage"]["unit_of_measurement"]) == ("voltage", "V")
    assert (sensor["current"]["device_class"], sensor["current"]["unit_of_measurement"]) == ("current", "A")
    assert (sensor["power"]["device_class"], sensor["power"]["unit_of_measurement"]) == ("power", "W")
    assert (sensor["time_remaining"]["device_class"],
            sensor["time_remaining"]["unit_of_measurement"]) == ("duration", "s")
    assert sensor["min_temperature"]["unit_of_measurement"] == "°C"
    for name in ("charged_energy", "discharged_energy"):
        assert (sensor[name]["device_class"], sensor[name]["unit_of_measurement"],
                sensor[name]["state_class"]) == ("energy", "kWh", "total_increasing")
    assert sensor["discharge_state"]["options"] == ["yes", "no", "pre-alarm"]
    assert sensor["battery_1_voltage"]["json_attributes_topic"] == f"{topics.base}/state"
    switch = configs[f"homeassistant/switch/{topics.node}/mode/config"]
    assert (switch["command_topic"], switch["payload_on"], switch["payload_off"]) == (
        f"{topics.base}/mode/set", "ON", "OFF")
    for b in ("sync_soc", "reset_history", "reset_defaults"):
        button = configs[f"homeassistant/button/{topics.node}/{b}/config"]
        assert button["command_topic"] == f"{topics.base}/{b}/press"
    binary = {t.split("/")[3] for t in configs if t.split("/")[1] == "binary_sensor"}
    assert binary == {"load_output", "charge_output", "pre_alarm", "allowed_to_charge",
                      "allowed_to_discharge", "alarm"}


def test_state_matches_the_device_and_is_rate_limited(broker: Broker, bridge: MqttBridge,
                                                      device: Device,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    topics = bridge.topics
    assert topics is not None
    snaps: dict[float, dict[str, Any]] = {}
    stop = threading.Event()
    # when the bridge hands each state to the client: the broker and the listener add delays
    # of their own that say nothing about the bridge's rate limit
    sent: list[tuple[float, dict[str, Any]]] = []
    publish = bridge._publish

    def timed_publish(topic: str, payload: str, retain: bool = True) -> None:
        if topic == topics.state:
            sent.append((time.monotonic(), json.loads(payload)))
        publish(topic, payload, retain)

    monkeypatch.setattr(bridge, "_publish", timed_publish)

    def collect() -> None:
        with device.subscribe() as sub:
            while not stop.is_set():
                s = sub.get(0.1)
                if s is not None:
                    snaps[s["t_s"]] = s

    collector = threading.Thread(target=collect, daemon=True)
    collector.start()
    lis = Listener(broker, [topics.state])
    try:
        # the retained state at once, then at least two more published live
        lis.wait(lambda: len([m for m in lis.messages if not m[3]]) >= 2, 10, "live states")
        states = [(at, json.loads(p)) for at, _t, p, retained in lis.messages if not retained]
    finally:
        lis.close()
        stop.set()
        collector.join(5)
    matched = 0
    for _, st in states:
        snap = snaps.get(st["t_s"])
        if snap is None:
            continue
        matched += 1
        assert st == json.loads(json.dumps(state_payload(snap)))
        assert st["status"] == snap["status"]
        assert st["active_codes"] == [c["code"] for c in snap["active_codes"]]
        assert st["history"] == snap["history"] and st["batteries"] == snap["batteries"]
    assert matched >= 1
    # while nothing that forces a state out changes, the bridge sends one per publish interval
    interval = bridge.config.publish_interval_s
    assert len(sent) >= 2

    def key(st: dict[str, Any]) -> tuple[Any, ...]:
        s = st["status"]
        return (s["mode"], s["powered"], s["allowed_to_charge"], s["allowed_to_discharge"],
                sorted(s["outputs"].items()), st["active_codes"])

    for (a_at, a), (b_at, b) in itertools.pairwise(list(sent)):  # the bridge still adds
        if key(a) == key(b):
            assert b_at - a_at >= 0.9 * interval, (b_at - a_at, interval)


def test_mode_switch_and_buttons(broker: Broker, bridge: MqttBridge, device: Device) -> None:
    topics = bridge.topics
    assert topics is not None
    lis = Listener(broker, [topics.state, topics.command_result])
    try:
        assert device.snapshot["status"]["mode"] == "on"
        lis.publish(topics.mode_set, "OFF")

        def off_state() -> bool:
            return any(json.loads(p)["status"]["mode"] == "off" for p in lis.on(topics.state))

        lis.wait(off_state, what="a state with mode off")
        assert device.snapshot["status"]["mode"] == "off"
        result = json.loads(lis.wait_payload(topics.command_result))
        assert result == {"topic": topics.mode_set, "command": "SetMode", "accepted": True,
                          "message": result["message"]}
        off = json.loads(lis.on(topics.state)[-1])
        assert off["status"]["outputs"]["load_disconnect"] == "floating"
        assert off["status"]["allowed_to_discharge"] == "no"

        lis.publish(topics.press("sync_soc"), "PRESS")
        lis.wait(lambda: len(lis.on(topics.command_result)) >= 2, what="sync result")
        assert json.loads(lis.on(topics.command_result)[-1])["accepted"] is True
        wait_until(lambda: device.snapshot["status"]["soc_pct"] == 100.0, what="SoC synced")

        lis.publish(topics.press("reset_history"), "PRESS")
        lis.wait(lambda: len(lis.on(topics.command_result)) >= 3, what="reset result")
        assert json.loads(lis.on(topics.command_result)[-1])["command"] == "ResetHistory"
    finally:
        device.command(SetMode("on"))
        lis.close()


def test_a_change_goes_out_at_once_not_at_the_next_interval(broker: Broker, device: Device) -> None:
    # a bridge whose publish interval is an hour: a state with the new mode can only come from
    # the publish-at-once rule (its own topics, so the module's bridge is not disturbed)
    slow = MqttBridge(device, broker.config(client_id="bridge-slow", publish_interval_s=3600,
                                            base_topic="slowbms/x", discovery_prefix="slow-ha"))
    slow.start()
    try:
        assert slow.wait_connected(DEADLINE_S), slow.last_error
        topics = slow.topics
        assert topics is not None
        lis = Listener(broker, [topics.state])
        try:
            device.command(SetMode("on"))
            lis.wait(lambda: lis.on(topics.state), what="the state sent on connect")
            device.command(SetMode("off"))
            lis.wait(lambda: any(json.loads(p)["status"]["mode"] == "off" for p in lis.on(topics.state)),
                     what="a state with mode off")
            device.command(SetMode("on"))
            lis.wait(lambda: json.loads(lis.on(topics.state)[-1])["status"]["mode"] == "on",
                     what="a state with mode on again")
        finally:
            lis.close()
    finally:
        device.command(SetMode("on"))
        slow.stop()


def test_commands_on_other_topics_and_bad_payloads_are_ignored(broker: Broker, bridge: MqttBridge,
                                                               device: Device) -> None:
    topics = bridge.topics
    assert topics is not None
    device.command(SetMode("on"))
    lis = Listener(broker, [topics.command_result])
    try:
        for topic, payload in [
            (f"{topics.base}/mode/other", "OFF"), (f"{topics.base}/mode/set/x", "OFF"),
            (f"{topics.base}/mode", "OFF"), (f"{topics.base}/state", "OFF"),
            ("smallbms/elsewhere/mode/set", "OFF"), (f"{topics.base}/reset_history/set", "PRESS"),
            (topics.mode_set, "MAYBE"), (topics.mode_set, ""), (topics.mode_set, "\xff"),
            (topics.press("reset_defaults"), "NOW"), (topics.press("sync_soc"), "ON"),
        ]:
            lis.publish(topic, payload)
        lis.client.publish(topics.mode_set, b"\xff\xfe", qos=1).wait_for_publish(DEADLINE_S)
        # then one valid command: the only one answered
        lis.publish(topics.mode_set, "on")
        lis.wait(lambda: lis.on(topics.command_result), what="the valid command's result")
        results = [json.loads(p) for p in lis.on(topics.command_result)]
        assert [(r["topic"], r["command"]) for r in results] == [(topics.mode_set, "SetMode")]
        assert device.snapshot["status"]["mode"] == "on"
    finally:
        lis.close()


def test_home_assistant_birth_message_triggers_a_new_announcement(broker: Broker,
                                                                  bridge: MqttBridge) -> None:
    wait_until(lambda: bridge.syncs >= 1, what="the first announcement")
    before = bridge.syncs
    lis = Listener(broker, ["homeassistant/status"])
    try:
        lis.publish("homeassistant/status", "offline")
        lis.publish("homeassistant/status", "online")
        lis.wait(lambda: len(lis.on("homeassistant/status")) >= 2, what="the birth message")
    finally:
        lis.close()
    wait_until(lambda: bridge.syncs == before + 1, what="a new announcement")


def test_last_will_marks_the_device_offline(broker: Broker, device: Device) -> None:
    br = MqttBridge(device, broker.config(client_id="bridge-lwt", base_topic="test/lwt",
                                          discovery_prefix="lwt-discovery"))
    br.start()
    lis = None
    try:
        assert br.wait_connected(DEADLINE_S), br.last_error
        wait_until(lambda: br.syncs >= 1, what="the first announcement")
        lis = Listener(broker, ["test/lwt/availability"])
        lis.wait_payload("test/lwt/availability", "online")
        n = len(lis.on("test/lwt/availability"))
        kill_connection(br)
        lis.wait(lambda: lis.on("test/lwt/availability")[n:], what="the last will")
        assert lis.on("test/lwt/availability")[n:] == [b"offline"]
    finally:
        if lis is not None:
            lis.close()
        br.stop()
    # the will is retained: a late client sees the device offline
    late = Listener(broker, ["test/lwt/availability"])
    try:
        assert late.wait_payload("test/lwt/availability") == b"offline"
    finally:
        late.close()


def test_clean_stop_says_offline(broker: Broker, device: Device) -> None:
    br = MqttBridge(device, broker.config(client_id="bridge-stop", base_topic="test/stop",
                                          discovery_prefix="stop-discovery"))
    br.start()
    try:
        assert br.wait_connected(DEADLINE_S), br.last_error
    finally:
        br.stop()
    assert not br.connected
    lis = Listener(broker, ["test/stop/availability"])
    try:
        assert lis.wait_payload("test/stop/availability") == b"offline"
    finally:
        lis.close()


def test_wrong_password_is_refused_and_retried(broker: Broker, device: Device) -> None:
    br = MqttBridge(device, broker.config(client_id="bridge-bad", password="wrong",
                                          base_topic="test/bad"))
    br.start()
    try:
        wait_until(lambda: br.connect_failures >= 2, what="two refused attempts")
        assert not br.connected and br.connects == 0
        assert br.last_error is not None and "refused" in br.last_error
    finally:
        br.stop()
    lis = Listener(broker, ["test/bad/#"])
    try:
        # retained messages arrive right after the subscription, before this probe: there are none
        lis.publish("test/bad/probe", "x")
        lis.wait(lambda: lis.on("test/bad/probe"), what="the probe")
        assert [t for _, t, _, _ in lis.messages] == ["test/bad/probe"]
    finally:
        lis.close()


def test_reconnects_after_a_broker_restart(tmp_path: Path, device: Device) -> None:
    b = Broker(tmp_path)
    br = MqttBridge(device, b.config(client_id="bridge-restart", base_topic="test/restart"))
    try:
        br.start()
        assert br.wait_connected(DEADLINE_S), br.last_error
        wait_until(lambda: br.syncs >= 1, what="the first announcement")
        assert br.topics is not None
        soc_config = f"homeassistant/sensor/{br.topics.node}/soc/config"
        b.stop()  # no persistence: the broker forgets every retained message
        wait_until(lambda: not br.connected, what="the bridge to notice")
        b.start()
        wait_until(lambda: br.connects >= 2 and br.syncs >= 2, what="the bridge to reconnect")
        lis = Listener(b, ["homeassistant/#", "test/restart/#"])
        try:
            lis.wait_payload("test/restart/availability", "online")
            config = json.loads(lis.wait_payload(soc_config))
            assert config["state_topic"] == "test/restart/state"
            state = json.loads(lis.wait_payload("test/restart/state"))
            assert state["status"]["mode"] in ("on", "off") and "history" in state
            # and live states keep coming
            lis.wait(lambda: [m for m in lis.messages if m[1] == "test/restart/state" and not m[3]],
                     what="a live state after the restart")
        finally:
            lis.close()
    finally:
        br.stop()
        b.stop()


def _make_tls_files(d: Path) -> dict[str, Path]:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=smallbms test CA")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid,issuer\nsubjectKeyIdentifier=hash\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")
    return {"ca": d / "ca.crt", "cert": d / "server.crt", "key": d / "server.key"}


def test_tls_with_a_private_ca(tmp_path: Path, device: Device) -> None:
    need_mosquitto()
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    files = _make_tls_files(tmp_path)
    b = Broker(tmp_path, tls=files)
    cfg = MqttConfig.from_table({
        "host": "127.0.0.1", "port": b.port, "username": USER, "password": PASSWORD,
        "base_topic": "test/tls", "client_id": "bridge-tls", "tls": {"ca_file": str(files["ca"])},
    }, "test")
    br = MqttBridge(device, cfg)
    try:
        br.start()
        assert br.wait_connected(DEADLINE_S), br.last_error
        lis = Listener(b, ["test/tls/#"], ca_certs=str(files["ca"]))
        try:
            lis.wait_payload("test/tls/availability", "online")
            lis.wait_payload("test/tls/state")
        finally:
            lis.close()
    finally:
        br.stop()
        b.stop()
    # without the CA the broker's certificate is not trusted: the bridge never connects
    again = tmp_path / "again"
    again.mkdir()
    b2 = Broker(again, tls=files)
    assert cfg.tls is not None
    assert cfg.tls is not None
    untrusted = MqttBridge(device, cfg.replace(port=b2.port, client_id="bridge-tls-2",
                                               tls=cfg.tls.replace(ca_file=None)))
    try:
        untrusted.start()
        wait_until(lambda: untrusted.connect_failures >= 1, what="a failed TLS handshake")
        assert not untrusted.connected and untrusted.connects == 0
    finally:
        untrusted.stop()
        b2.stop()
