"""The MQTT bus against the real mosquitto the integration tests start: good readings, malformed
JSON, wrong types, missing fields, out-of-range values and a flood. Waits are on conditions with
deadlines; device time is the test's own monotonic clock (speed 1)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smallbms.buses.build import bus_source
from smallbms.buses.config import BusTable
from smallbms.buses.mqtt import MqttFeed, json_schema
from smallbms.buses.source import BusSource
from smallbms.core.types import Reading
from tests.integrations.test_mqtt import PASSWORD, USER, Broker, Listener

DEADLINE_S = 15.0
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "src" / "smallbms" / "data" / "bus-mqtt.schema.json"
GOOD = {"cells_v": [3.30, 3.31, 3.32, 3.30], "temperature_c": 21.5, "voltage_v": 13.23}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("bus-mosquitto"))
    yield b
    b.stop()


class Rig:
    def __init__(self, broker: Broker, **kw: Any) -> None:
        self.table = BusTable.model_validate({
            "kind": "mqtt", "mqtt_port": broker.port, "mqtt_username": USER,
            "mqtt_password": PASSWORD, "max_rate_hz": kw.pop("max_rate_hz", 10.0),
            "devices": [{"address": "bms-1", "model": "12.8/100"},
                        {"address": "shunt-1", "role": "shunt"}], **kw})
        self.handle = bus_source(self.table)
        self.source: BusSource = self.handle.source
        feed = self.source.feed
        assert isinstance(feed, MqttFeed)
        self.feed = feed
        self.t0 = time.monotonic()
        self.handle.start()
        assert feed.connected.wait(DEADLINE_S), "the bus did not connect to mosquitto"
        self.pub = Listener(broker, ["smallbms/test/unused"])

    def now(self) -> float:
        return time.monotonic() - self.t0

    def publish(self, address: str, payload: Any) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self.pub.publish(f"smallbms/bus/{address}", text)

    def wait(self, pred: Callable[[Reading], bool], what: str) -> Reading:
        end = time.monotonic() + DEADLINE_S
        while True:
            r = self.source.reading(self.now())
            if pred(r):
                return r
            if time.monotonic() > end:
                pytest.fail(f"timed out waiting for {what}; last reading {r}")
            time.sleep(0.02)

    def close(self) -> None:
        self.pub.close()
        self.handle.stop()


@pytest.fixture
def rig(broker: Broker) -> Iterator[Rig]:
    r = Rig(broker)
    yield r
    r.close()


def test_published_schema_file_is_the_one_the_code_checks() -> None:
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == json_schema()


def test_good_readings_make_a_complete_reading(rig: Rig) -> None:
    rig.publish("bms-1", GOOD)
    rig.publish("shunt-1", {"current_a": -7.5, "voltage_v": 13.2, "soc_pct": 80})
    r = rig.wait(lambda r: bool(r.batteries) and r.batteries[0] is not None, "a battery reading")
    b = r.batteries[0]
    assert b is not None and b.cell_voltages_v == (3.30, 3.31, 3.32, 3.30)
    assert b.temperature_c == 21.5
    assert r.current_a == -7.5 and r.bank_voltage_v == 13.2


@pytest.mark.parametrize(("payload", "reason"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "must be a JSON object"),
    ({"cells_v": "3.3", "temperature_c": 20}, "cells_v"),
    ({"cells_v": [3.3, 3.3, 3.3, 3.3], "temperature_c": "warm"}, "temperature_c"),
    ({"cells_v": [3.3, 3.3, 3.3, 3.3]}, "temperature_c: Field required"),
    ({**GOOD, "colour": "red"}, "colour"),
    ({"cells_v": [3.3, 3.3, 3.3, 3.3], "temperature_c": 500}, "temperature_c"),
    ({"cells_v": [3.3, 9.0, 3.3, 3.3], "temperature_c": 20}, "cell 2 at 9.0 V"),
    ({"cells_v": [3.3, 0.0, 3.3, 3.3], "temperature_c": 20}, "cell 2 at 0.0 V"),
    ("{\"cells_v\": [NaN, 3.3, 3.3, 3.3], \"temperature_c\": 20}", "cells_v.0"),
])
def test_bad_messages_are_refused_with_a_logged_reason(
        rig: Rig, payload: Any, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "smallbms.buses"):
        rig.publish("bms-1", payload)
        rig.wait(lambda r: sum(rig.source.gate.refused.values()) >= 1, "the refusal")
    assert rig.source.gate.accepted["bms-1"] == 0
    assert "bms-1" in caplog.text and reason in caplog.text
    assert rig.source.reading(rig.now()).batteries == ()  # counts as no reading


def test_a_flood_is_cut_to_the_rate_and_nothing_crashes(broker: Broker) -> None:
    rig = Rig(broker, max_rate_hz=5.0)
    try:
        start = time.monotonic()
        for n in range(400):
            rig.pub.client.publish("smallbms/bus/bms-1", json.dumps(
                {**GOOD, "temperature_c": 20 + (n % 3) * 0.5}), qos=0)
        rig.publish("shunt-1", {"current_a": 1.0})
        rig.wait(lambda r: rig.feed.flooded > 0 and r.current_a == 1.0, "the flood to be cut")
        elapsed = time.monotonic() - start
        looked_at = rig.source.gate.accepted["bms-1"] + rig.source.gate.refused["bms-1"]
        assert looked_at <= 5.0 * elapsed + 5 + 1  # the rate, plus one second's burst
        assert rig.feed.flooded + looked_at <= 400
        assert rig.handle.source.reading(rig.now()).batteries[0] is not None  # still working
    finally:
        rig.close()
