"""MQTT bridge: publishes the device's state to an MQTT broker, with Home Assistant discovery, and
accepts a handful of commands on fixed topics.

The bridge runs on its own threads and never on the tick thread: paho's network thread (connects,
reconnects with backoff, receives commands), a publisher thread that follows the device's snapshot
feed, and a command thread that hands accepted commands to the device's ``command`` (which waits for
the next tick, so it must not block paho's network thread). The device is anything that satisfies
:class:`~smallbms.integrations.ports.CommandTarget` (the service's ``Device`` does).

Topics, with ``<base>`` = ``base_topic`` (default ``smallbms/<device id>``):

- ``<base>/availability``  ``online`` / ``offline`` (retained; ``offline`` is also the last will)
- ``<base>/state``         JSON state, retained, at most every ``publish_interval_s`` and at once when
                           an output, the mode, the allowed states or the active codes change
- ``<base>/command_result`` JSON answer to each accepted command (not retained)
- ``<base>/mode/set``       ``ON`` / ``OFF``                       (switch)
- ``<base>/sync_soc/press``, ``<base>/reset_history/press``, ``<base>/reset_defaults/press``
                           ``PRESS``                                (buttons)
- ``<discovery_prefix>/<component>/<node id>/<object id>/config``  Home Assistant discovery

See docs/mqtt.md for the configuration and the behaviour on broker restarts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import queue
import re
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from smallbms import __version__
from smallbms.config.integrations import MqttConfig as MqttConfig
from smallbms.core.types import Command, ResetDefaults, ResetHistory, SetMode, SyncSoc
from smallbms.integrations.ports import CommandTarget
from smallbms.model.fields import Field
from smallbms.model.fields import field as model_field
from smallbms.worker import Worker

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 1  # paho's reconnect backoff: first wait ...
RECONNECT_MAX_S = 30  # ... doubling up to this
QOS = 1
AVAILABLE = "online"
NOT_AVAILABLE = "offline"
PRESS = "PRESS"
MANUFACTURER = "smallbms"
MODELS = {"ng": "smallBMS NG (software)", "classic": "smallBMS with pre-alarm (software)"}
_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


# --- configuration ------------------------------------------------------------------------------
# The [mqtt] table (MqttConfig, TlsConfig) is a pydantic model in smallbms.config.integrations.


# --- what is published --------------------------------------------------------------------------


def node_id(device_id: str) -> str:
    """A device id made safe for topics and Home Assistant ids."""
    return _ID_CHARS.sub("_", device_id) or "smallbms"


def device_id_from(snapshot: Mapping[str, Any]) -> str | None:
    """The serial number of the bank's first battery that reports, if any."""
    for b in snapshot.get("batteries") or []:
        if b.get("reporting") and b.get("serial"):
            return str(b["serial"])
    return None


def state_payload(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON published on ``<base>/state``: the snapshot's status, bank, batteries and history
    unchanged, the active codes as a list of codes (details in ``codes``), plus a few derived
    fields for Home Assistant. Settings specs are left out (values only)."""
    codes = list(snapshot.get("active_codes") or [])
    settings = snapshot.get("settings") or {}
    return {
        "t_s": snapshot.get("t_s"),
        "wall_s": snapshot.get("wall_s"),
        "profile": snapshot.get("profile"),
        "status": snapshot.get("status"),
        "active_codes": [c["code"] for c in codes],
        "active_codes_text": ", ".join(c["code"] for c in codes) or "none",
        "codes": codes,
        "alarm_active": any(c["kind"] in ("alarm", "error") for c in codes),
        "warning_active": any(c["kind"] == "warning" for c in codes),
        "bank": snapshot.get("bank"),
        "batteries": snapshot.get("batteries"),
        "history": snapshot.get("history"),
        "settings": settings.get("values"),
    }


def _change_key(snapshot: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes the state go out at once rather than at the next interval."""
    st = snapshot.get("status") or {}
    outputs = st.get("outputs") or {}
    return (
        st.get("mode"), st.get("powered"), st.get("allowed_to_charge"), st.get("allowed_to_discharge"),
        tuple(sorted(outputs.items())), tuple(c["code"] for c in snapshot.get("active_codes") or []),
    )


@dataclass(frozen=True)
class Topics:
    base: str
    discovery_prefix: str
    node: str

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def command_result(self) -> str:
        return f"{self.base}/command_result"

    @property
    def mode_set(self) -> str:
        return f"{self.base}/mode/set"

    def press(self, button: str) -> str:
        return f"{self.base}/{button}/press"

    def config(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.node}/{object_id}/config"

    @property
    def ha_status(self) -> str:
        """Home Assistant's own birth/last-will topic: 'online' after HA (re)starts."""
        return f"{self.discovery_prefix}/status"


BUTTONS: dict[str, tuple[str, Command, str | None]] = {
    # object id: (name, command, entity category)
    "sync_soc": ("Synchronise SoC to 100 %", SyncSoc(), None),
    "reset_history": ("Reset history", ResetHistory(), "config"),
    "reset_defaults": ("Reset settings to defaults", ResetDefaults(), "config"),
}


def _v(path: str) -> str:
    return "{{ value_json." + path + " }}"


def _on_if(expr: str) -> str:
    return "{{ 'ON' if " + expr + " else 'OFF' }}"


@dataclass(frozen=True)
class _Sensor:
    object_id: str
    name: str
    template: str
    device_class: str | None = None
    unit: str | None = None
    state_class: str | None = "measurement"
    category: str | None = None
    precision: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# Home Assistant sensors come from the field table (smallbms.model.fields): name, unit, device
# class, state class and display precision are the field's. The tables below are the one place
# where MQTT names them: the object id (public - part of the unique id and of the config topic)
# and the field it shows. The state payload carries each field under its public snapshot key
# (``Field.key``, e.g. ``status.min_cell_v``), which the value template reads.

#: (object id, field id) of the bank-wide sensors, in announcement order.
STATUS_SENSORS: tuple[tuple[str, str], ...] = (
    ("soc", "status.soc_pct"),
    ("voltage", "status.voltage_v"),
    ("current", "status.current_a"),
    ("power", "status.power_w"),
    ("consumed_ah", "status.consumed_ah"),
    ("time_remaining", "status.time_remaining_s"),
    ("min_cell_voltage", "status.min_cell_voltage_v"),
    ("max_cell_voltage", "status.max_cell_voltage_v"),
    ("min_temperature", "status.min_temperature_c"),
    ("max_temperature", "status.max_temperature_c"),
    ("balancer", "status.balancer"),
    ("discharge_state", "status.allowed_to_discharge"),
)
#: (object id, field id) of the history sensors (entity category "diagnostic").
HISTORY_SENSORS: tuple[tuple[str, str], ...] = (
    ("charged_energy", "history.charged_energy_kwh"),
    ("discharged_energy", "history.discharged_energy_kwh"),
    ("cycles", "history.cycles"),
    ("synchronisations", "history.synchronisations"),
    ("deepest_discharge", "history.deepest_discharge_ah"),
    ("cumulative_ah_drawn", "history.cumulative_ah_drawn"),
    ("since_full_charge", "history.seconds_since_full_charge"),
)
#: History sensors meant for Home Assistant's Energy dashboard: energy, kWh, total_increasing
#: (from the field table) and not in the diagnostic category, so the energy picker offers them.
ENERGY_DASHBOARD_SENSORS: frozenset[str] = frozenset({"charged_energy", "discharged_energy"})
#: The power sensor signed as the Energy dashboard's battery power expects: positive while the
#: battery discharges (the "power" sensor keeps the Victron sign: positive while charging).
DASHBOARD_POWER_ID = "power_discharging_positive"
#: (object id suffix, field id) of the sensors of each battery: ``battery_<n>_<suffix>``.
BATTERY_SENSORS: tuple[tuple[str, str], ...] = (
    ("voltage", "battery.voltage_v"),
    ("temperature", "battery.temperature_c"),
)
#: Entity names Home Assistant has known since before the field table, where they differ from
#: the field's label (kept: renaming an entity surprises its owner).
ENTITY_NAMES: dict[str, str] = {
    "discharge_state": "Allowed to discharge",
    "since_full_charge": "Time since last full charge",
}
_STATE_ATTRIBUTES = "<state>"  # replaced by the state topic in a config
#: Further discovery keys of some sensors (enum options, attributes from the state).
SENSOR_EXTRAS: dict[str, dict[str, Any]] = {
    "balancer": {"options": ["unknown", "balancing", "imbalanced", "balanced"]},
    "discharge_state": {
        "options": ["yes", "no", "pre-alarm"],
        "json_attributes_topic": _STATE_ATTRIBUTES,
        "json_attributes_template": "{{ {'reasons': value_json.status.discharge_reasons} | tojson }}"},
}


def _json_path(field_id: str) -> str:
    """Where the state payload carries a field: ``<group>.<public key>``."""
    f = model_field(field_id)
    return f"{f.group}.{f.key}"


def _field_sensor(object_id: str, f: Field, template: str, name: str | None = None,
                  category: str | None = None, extra: dict[str, Any] | None = None) -> _Sensor:
    return _Sensor(object_id, name or ENTITY_NAMES.get(object_id, f.label), template,
                   f.ha_device_class, f.unit, f.ha_state_class, category,
                   f.precision if f.kind in ("float", "int") else None,
                   extra if extra is not None else SENSOR_EXTRAS.get(object_id, {}))


def _sensors(batteries: int) -> list[_Sensor]:
    out = [_field_sensor(oid, model_field(fid), _v(_json_path(fid))) for oid, fid in STATUS_SENSORS]
    power = model_field("status.power_w")
    p = "value_json." + _json_path("status.power_w")
    out.append(_Sensor(
        DASHBOARD_POWER_ID, "Battery power (positive = discharging)",
        "{{ none if " + p + " is none else (0 - " + p + ") | round(" + str(power.precision) + ") }}",
        power.ha_device_class, power.unit, power.ha_state_class, precision=power.precision))
    out.append(_Sensor("active_codes", "Active codes", _v("active_codes_text"), None, None, None,
                       extra={"icon": "mdi:alert-circle-outline",
                              "json_attributes_topic": _STATE_ATTRIBUTES,
                              "json_attributes_template":
                                  "{{ {'codes': value_json.codes} | tojson }}"}))
    out += [_field_sensor(oid, model_field(fid), _v(_json_path(fid)),
                          category=None if oid in ENERGY_DASHBOARD_SENSORS else "diagnostic")
            for oid, fid in HISTORY_SENSORS]
    for i in range(batteries):
        item = f"(value_json.batteries[{i}] | default({{}}, true))"
        for suffix, fid in BATTERY_SENSORS:
            f = model_field(fid)
            extra = ({"json_attributes_topic": _STATE_ATTRIBUTES,
                      "json_attributes_template": "{{ " + item + " | tojson }}"}
                     if suffix == BATTERY_SENSORS[0][0] else {})
            out.append(_field_sensor(
                f"battery_{i + 1}_{suffix}", f, "{{ " + item + f".{f.key} | default(None) }}}}",
                name=f"Battery {i + 1} {f.label.lower()}", extra=extra))
    return out


BINARY_SENSORS: tuple[tuple[str, str, str, str | None], ...] = (
    # object id, name, value template, device class
    ("load_output", "Load disconnect output", _on_if("value_json.status.outputs.load_disconnect == 'high'"),
     "power"),
    ("charge_output", "Charge disconnect output",
     _on_if("value_json.status.outputs.charge_disconnect == 'high'"), "power"),
    ("pre_alarm", "Pre-alarm output", _on_if("value_json.status.outputs.pre_alarm == 'high'"),
     "problem"),
    ("allowed_to_charge", model_field("status.allowed_to_charge").label,
     _on_if("value_json." + _json_path("status.allowed_to_charge")), None),
    ("allowed_to_discharge", model_field("status.allowed_to_discharge").label,
     _on_if("value_json." + _json_path("status.allowed_to_discharge") + " != 'no'"), None),
    ("alarm", "Alarm active", _on_if("value_json.alarm_active"), "problem"),
)


def discovery_configs(
    topics: Topics, device_block: dict[str, Any], batteries: int,
) -> dict[str, dict[str, Any]]:
    """Every Home Assistant discovery config, by config topic."""
    common = {
        "availability_topic": topics.availability,
        "payload_available": AVAILABLE,
        "payload_not_available": NOT_AVAILABLE,
        "device": device_block,
        "origin": {"name": "smallbms", "sw_version": __version__},
    }
    out: dict[str, dict[str, Any]] = {}

    def add(component: str, object_id: str, name: str, cfg: dict[str, Any]) -> None:
        out[topics.config(component, object_id)] = {
            "name": name, "unique_id": f"{topics.node}_{object_id}", **cfg, **common}

    for s in _sensors(batteries):
        cfg: dict[str, Any] = {"state_topic": topics.state, "value_template": s.template}
        if s.device_class:
            cfg["device_class"] = s.device_class
        if s.unit:
            cfg["unit_of_measurement"] = s.unit
        if s.state_class:
            cfg["state_class"] = s.state_class
        if s.precision is not None:
            cfg["suggested_display_precision"] = s.precision
        if s.category:
            cfg["entity_category"] = s.category
        for k, v in s.extra.items():
            cfg[k] = topics.state if v == _STATE_ATTRIBUTES else v
        add("sensor", s.object_id, s.name, cfg)
    for object_id, name, template, device_class in BINARY_SENSORS:
        cfg = {"state_topic": topics.state, "value_template": template,
               "payload_on": "ON", "payload_off": "OFF"}
        if device_class:
            cfg["device_class"] = device_class
        add("binary_sensor", object_id, name, cfg)
    add("switch", "mode", model_field("status.mode").label, {
        "state_topic": topics.state, "value_template": _v(_json_path("status.mode")),
        "state_on": "on", "state_off": "off",
        "command_topic": topics.mode_set, "payload_on": "ON", "payload_off": "OFF",
        "device_class": "switch", "qos": QOS,
    })
    for object_id, (name, _cmd, category) in BUTTONS.items():
        cfg = {"command_topic": topics.press(object_id), "payload_press": PRESS, "qos": QOS}
        if category:
            cfg["entity_category"] = category
        add("button", object_id, name, cfg)
    return out


def battery_slots(snapshot: Mapping[str, Any]) -> int:
    """How many per-battery entity sets to announce: the commissioned bank's size (stable while
    batteries stop reporting), else the batteries the bus enumerates."""
    bank = snapshot.get("bank")
    if bank and bank.get("batteries"):
        return int(bank["batteries"])
    return len(snapshot.get("batteries") or [])


# --- the bridge ---------------------------------------------------------------------------------


class MqttBridge:
    """Publishes a Device to an MQTT broker and forwards the configured commands to it."""

    def __init__(self, device: CommandTarget, config: MqttConfig, *, ready_timeout_s: float = 10.0) -> None:
        self.device = device
        self.config = config
        self.ready_timeout_s = ready_timeout_s
        self.topics: Topics | None = None
        self.device_id: str | None = None
        self.last_error: str | None = None  # why the last connection attempt failed or dropped
        self.connects = 0  # successful connections since start()
        self.connect_failures = 0  # refused or failed attempts since start()
        self.last_state: dict[str, Any] | None = None  # the last state published
        self.syncs = 0  # completed announcements (discovery and state) after a (re)connect
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._resync = threading.Event()
        self._stop = threading.Event()
        self._commands: queue.Queue[tuple[str, Command]] = queue.Queue()
        self._workers = [Worker("mqtt-publish", self._publisher, stopping=self._stop),
                         Worker("mqtt-commands", self._command_worker, stopping=self._stop)]
        self._published_configs: set[str] = set()
        self._lock = threading.Lock()

    # --- public ------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def start(self) -> None:
        """Connect in the background (retrying forever with backoff) and start publishing."""
        if not self.config.enabled:
            log.info("mqtt: disabled in the configuration")
            return
        if self._client is not None:
            raise RuntimeError("the MQTT bridge is already running")
        cfg = self.config
        if not self.device.wait_ready(self.ready_timeout_s):
            log.warning("mqtt: the device has no snapshot yet; using what there is")
        snap = self.device.snapshot
        self.device_id = cfg.device_id or device_id_from(snap) or "smallbms"
        node = node_id(self.device_id)
        self.topics = Topics(cfg.base_topic or f"smallbms/{node}", cfg.discovery_prefix, node)
        self._stop.clear()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id or f"smallbms-{node}",
                             clean_session=True, reconnect_on_failure=True)
        client.enable_logger(logging.getLogger(__name__ + ".paho"))
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls is not None:
            client.tls_set(
                ca_certs=str(cfg.tls.ca_file) if cfg.tls.ca_file else None,
                certfile=str(cfg.tls.certfile) if cfg.tls.certfile else None,
                keyfile=str(cfg.tls.keyfile) if cfg.tls.keyfile else None,
                cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(cfg.tls.insecure)
        client.will_set(self.topics.availability, NOT_AVAILABLE, qos=QOS, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        client.connect_async(cfg.host, cfg.broker_port, keepalive=cfg.keepalive_s)
        client.loop_start()
        for w in self._workers:
            w.start()
        log.info("mqtt: connecting to %s:%d as %s, base topic %s", cfg.host, cfg.broker_port,
                 cfg.username or "anonymous", self.topics.base)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Say 'offline', disconnect cleanly and stop the threads."""
        client = self._client
        if client is None:
            return
        for w in self._workers:  # they share one stop flag: the first stop signals both
            w.stop(timeout_s)
        if self.connected and self.topics is not None:
            info = client.publish(self.topics.availability, NOT_AVAILABLE, qos=QOS, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout_s)
        client.disconnect()
        client.loop_stop()
        self._connected.clear()
        self._client = None

    # --- paho callbacks (paho's network thread) ----------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, properties: Properties | None) -> None:
        if reason.is_failure:
            self.connect_failures += 1
            self.last_error = f"connection refused: {reason}"
            log.warning("mqtt: broker refused the connection: %s (retrying)", reason)
            return
        assert self.topics is not None
        self.connects += 1
        self.last_error = None
        client.subscribe([(self.topics.mode_set, QOS), *((self.topics.press(b), QOS) for b in BUTTONS),
                          (self.topics.ha_status, QOS)])
        client.publish(self.topics.availability, AVAILABLE, qos=QOS, retain=True)
        self._connected.set()
        self._resync.set()
        log.info("mqtt: connected to %s:%d", self.config.host, self.config.broker_port)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self.connect_failures += 1
        self.last_error = "cannot reach the broker"
        log.debug("mqtt: cannot reach %s:%d (retrying)", self.config.host, self.config.broker_port)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags,
                       reason: ReasonCode, properties: Properties | None) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._stop.is_set():
            self.last_error = f"connection lost: {reason}"
            log.warning("mqtt: connection lost (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        assert self.topics is not None
        topic = msg.topic
        try:
            payload = msg.payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            log.warning("mqtt: ignoring a payload on %s that is not UTF-8 text", topic)
            return
        if topic == self.topics.ha_status:
            if payload == AVAILABLE:
                self._resync.set()  # Home Assistant restarted: announce everything again
            return
        if msg.retain:
            # a retained command would be replayed on every reconnect: never act on one
            log.warning("mqtt: ignoring a retained message on %s (commands must not be retained)",
                        topic)
            return
        value = payload.upper()
        cmd: Command | None
        if topic == self.topics.mode_set:
            cmd = {"ON": SetMode("on"), "OFF": SetMode("off")}.get(value)
        else:
            button = next((b for b in BUTTONS if topic == self.topics.press(b)), None)
            if button is None:
                log.debug("mqtt: ignoring a message on %s", topic)
                return
            cmd = BUTTONS[button][1] if value == PRESS else None
        if cmd is None:
            log.warning("mqtt: ignoring invalid payload %r on %s", payload[:40], topic)
            return
        self._commands.put((topic, cmd))

    # --- worker threads ----------------------------------------------------------------------

    def _command_worker(self) -> None:
        while not self._stop.is_set():
            try:
                topic, cmd = self._commands.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                result = self.device.command(cmd)
                accepted, message = result.accepted, result.message
            except Exception as e:  # a stopped device times out: report, keep serving
                accepted, message = False, f"{type(e).__name__}: {e}"
            log.info("mqtt: %s on %s: %s %s", type(cmd).__name__, topic,
                     "accepted" if accepted else "refused", message)
            self._publish(self._topics().command_result, json.dumps(
                {"topic": topic, "command": type(cmd).__name__, "accepted": accepted,
                 "message": message}), retain=False)

    def _publisher(self) -> None:
        interval = self.config.publish_interval_s
        last_key: tuple[Any, ...] | None = None
        last_at = -math.inf
        slots = 0
        with self.device.subscribe() as sub:
            while not self._stop.is_set():
                snap = sub.get(0.2)
                latest = snap if snap is not None else self.device.snapshot
                if not latest:
                    continue
                now = time.monotonic()
                force = False
                if self._resync.is_set() and self.connected:
                    self._resync.clear()
                    slots = battery_slots(latest)
                    self._publish_discovery(latest, slots)
                    force = True
                elif battery_slots(latest) != slots and self.connected:
                    slots = battery_slots(latest)
                    self._publish_discovery(latest, slots)
                if snap is None and not force:
                    continue
                key = _change_key(latest)
                if force or key != last_key or now - last_at >= interval:
                    if not self.connected:
                        continue  # the latest state goes out on reconnect
                    state = state_payload(latest)
                    self._publish(self._topics().state, json.dumps(state, separators=(",", ":")))
                    self.last_state = state
                    last_key, last_at = key, now
                    if force:
                        self.syncs += 1

    # --- helpers -----------------------------------------------------------------------------

    def _topics(self) -> Topics:
        assert self.topics is not None
        return self.topics

    def _publish(self, topic: str, payload: str, retain: bool = True) -> None:
        client = self._client
        if client is None:
            return
        info = client.publish(topic, payload, qos=QOS, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.debug("mqtt: publish to %s not sent now (%s)", topic, mqtt.error_string(info.rc))

    def device_block(self, snapshot: Mapping[str, Any]) -> dict[str, Any]:
        """The Home Assistant device all entities belong to."""
        node = self._topics().node
        return {
            "identifiers": [f"smallbms_{node}"],
            "name": self.config.device_name,
            "manufacturer": MANUFACTURER,
            "model": MODELS.get(str(snapshot.get("profile")), MODELS["ng"]),
            "sw_version": __version__,
        }

    def _publish_discovery(self, snapshot: Mapping[str, Any], slots: int) -> None:
        topics = self._topics()
        configs = discovery_configs(topics, self.device_block(snapshot), slots)
        with self._lock:
            for gone in self._published_configs - set(configs):
                self._publish(gone, "")  # an empty retained config removes the entity
            for topic, cfg in configs.items():
                self._publish(topic, json.dumps(cfg, ensure_ascii=False))
            self._published_configs = set(configs)
