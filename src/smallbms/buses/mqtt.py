"""``[bus] kind = "mqtt"``: readings published as JSON by anything (a home-made reader, another
BMS bridge), one topic per device: ``<mqtt_topic_prefix>/<address>``.

A battery publishes ``{"cells_v": [3.31, 3.30, 3.31, 3.32], "temperature_c": 21.5}`` (optional
``voltage_v``, ``current_a``); the shunt ``{"current_a": -12.3}`` (optional ``voltage_v``,
``soc_pct``). The payload's JSON Schema is published in ``smallbms/data/bus-mqtt.schema.json``
(:func:`json_schema` makes it; a test keeps the file equal). A message arrives at the time the
broker hands it over: that is its age. Malformed JSON, wrong types, missing or unknown fields,
out-of-range or implausible values are refused with a logged reason and count as no reading.
A flood is cut: at most ``max_rate_hz`` messages a second per device are looked at, the rest are
dropped and counted.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smallbms.buses.config import BusTable
from smallbms.buses.gate import BatteryValues, Gate, ShuntValues
from smallbms.buses.source import LiveFeed

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 4096
SCHEMA_ID = "https://smallbms.invalid/schemas/bus-mqtt.schema.json"


class _Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class BatteryMessage(_Message):
    """What a battery publishes."""

    cells_v: Annotated[list[Annotated[float, Field(ge=0.0, le=10.0)]],
                       Field(min_length=1, max_length=16,
                             description="cell voltages in V, from the battery's minus")]
    temperature_c: Annotated[float, Field(ge=-100.0, le=200.0, description="battery temperature, °C")]
    voltage_v: Annotated[float, Field(ge=0.0, le=100.0, description="battery voltage, V")] | None = None
    current_a: Annotated[float, Field(ge=-10000.0, le=10000.0,
                                      description="battery current, A, positive = charging")] | None = None


class ShuntMessage(_Message):
    """What a shunt (battery monitor) publishes."""

    current_a: Annotated[float, Field(ge=-10000.0, le=10000.0,
                                      description="bank current, A, positive = charging")]
    voltage_v: Annotated[float, Field(ge=0.0, le=100.0, description="bank voltage, V")] | None = None
    soc_pct: Annotated[float, Field(ge=0.0, le=100.0, description="state of charge, %")] | None = None


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of the payloads (a battery's or the shunt's)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "smallbms MQTT bus reading",
        "description": "One reading of one device, published on <mqtt_topic_prefix>/<address>.",
        "oneOf": [BatteryMessage.model_json_schema(), ShuntMessage.model_json_schema()],
    }


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(x) for x in err["loc"]) or "payload"
    return f"{where}: {err['msg']}"


def parse_payload(payload: bytes, role: str) -> BatteryValues | ShuntValues:
    """A payload to values; ValueError with the reason otherwise."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload: longer than {MAX_PAYLOAD_BYTES} bytes")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"payload: not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"payload: must be a JSON object, got {type(data).__name__}")
    try:
        if role == "battery":
            b = BatteryMessage.model_validate(data)
            return BatteryValues(cells_v=tuple(b.cells_v), temperature_c=b.temperature_c,
                                 voltage_v=b.voltage_v, current_a=b.current_a)
        s = ShuntMessage.model_validate(data)
        return ShuntValues(current_a=s.current_a, voltage_v=s.voltage_v, soc_pct=s.soc_pct)
    except ValidationError as e:
        raise ValueError(_first_error(e)) from None
    except RecursionError:
        raise ValueError("payload: nested too deeply") from None


@dataclass(frozen=True, slots=True)
class Parsed:
    """A message taken apart on the MQTT thread: values, or why not."""

    address: str
    values: BatteryValues | ShuntValues | None
    problem: str = ""


def mqtt_decoder(t_s: float, message: Any, gate: Gate) -> None:
    m: Parsed = message
    if m.values is None:
        gate.refuse(m.address, t_s, m.problem)
    elif isinstance(m.values, BatteryValues):
        gate.battery(m.address, t_s, m.values)
    else:
        gate.shunt_values(m.address, t_s, m.values)


class RateLimit:
    """At most ``rate_hz`` events a second per key (a token bucket of one second's worth)."""

    def __init__(self, rate_hz: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_hz = rate_hz
        self.burst = max(1.0, rate_hz)
        self.clock = clock
        self._tokens: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        now = self.clock()
        tokens, at = self._tokens.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate_hz)
        if tokens < 1.0:
            self._tokens[key] = (tokens, now)
            return False
        self._tokens[key] = (tokens - 1.0, now)
        return True


class MqttFeed(LiveFeed):
    """The broker's messages on ``<prefix>/+``, parsed and rate-limited on paho's thread."""

    def __init__(self, table: BusTable, speed: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(speed, clock)
        self.table = table
        self.prefix = table.mqtt_topic_prefix.rstrip("/")
        self.roles = {d.address: d.role for d in table.devices}
        self.limit = RateLimit(table.max_rate_hz, clock)
        self.flooded = 0
        self.ignored = 0
        self.connected = threading.Event()
        self._last_flood_log = -math.inf
        self._client: Any = None

    def handle(self, topic: str, payload: bytes) -> None:
        """One message (paho's thread, or a test)."""
        if not topic.startswith(self.prefix + "/"):
            return
        address = topic[len(self.prefix) + 1:]
        role = self.roles.get(address) or self.roles.get(address.upper())
        if role is None:
            self.ignored += 1
            return
        if not self.limit.allow(address):
            self.flooded += 1
            now = self.clock()
            if now - self._last_flood_log >= 10.0:
                self._last_flood_log = now
                log.warning("bus: %s sends more than %g messages a second; the extra ones are "
                            "dropped (%d so far)", address, self.table.max_rate_hz, self.flooded)
            return
        try:
            values: BatteryValues | ShuntValues | None = parse_payload(payload, role)
            why = ""
        except ValueError as e:
            values, why = None, str(e)
        self.push(Parsed(address, values, why))

    def start(self) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        t = self.table
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"smallbms-bus-{id(self):x}",
                             clean_session=True, reconnect_on_failure=True)
        if t.mqtt_username is not None:
            client.username_pw_set(t.mqtt_username, t.mqtt_password)

        def on_connect(c: Any, u: Any, f: Any, rc: Any, p: Any) -> None:
            if not rc.is_failure:
                c.subscribe(f"{self.prefix}/+", qos=0)
                self.connected.set()
            else:
                log.warning("bus: MQTT broker refused the connection: %s", rc)

        def on_message(c: Any, u: Any, msg: Any) -> None:
            try:
                self.handle(msg.topic, bytes(msg.payload))
            except Exception:  # never let one message end the client's thread
                log.exception("bus: MQTT message on %s could not be handled", msg.topic)

        client.on_connect = on_connect
        client.on_message = on_message
        client.reconnect_delay_set(1, 30)
        client.connect_async(t.mqtt_host, t.mqtt_port, keepalive=30)
        client.loop_start()
        self._client = client

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
