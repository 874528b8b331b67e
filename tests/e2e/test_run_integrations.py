"""`smallbms run` with every integration switched on in its config file, as a real process:
MQTT to a real mosquitto, the CAN-bus BMS on python-can's virtual bus, GPIO on gpiozero's mock
pins and Instant Readout (logged: no Bluetooth adapter here)."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_run_cli import SMALLBMS, _Lines
from tests.integrations.test_mqtt import PASSWORD, USER, Broker, Listener
from tests.ports import free_port


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    d = tmp_path / "broker"
    d.mkdir()
    b = Broker(d)
    try:
        yield b
    finally:
        b.stop()


def test_run_starts_every_configured_integration(tmp_path: Path, broker: Broker) -> None:
    cfg = tmp_path / "bms.toml"
    cfg.write_text(f"""
[run]
port = {free_port()}
speed = 20
tick_s = 0.2
data_dir = "data"

[mqtt]
host = "127.0.0.1"
port = {broker.port}
username = "{USER}"
password = "{PASSWORD}"
base_topic = "test/bms"
publish_interval_s = 1.0

[can]
enabled = true
interface = "virtual"
channel = "vcan-test"

[gpio]
enabled = true
pin_factory = "mock"
[gpio.pins]
load_disconnect = 17
charge_disconnect = 27
pre_alarm = 22

[instant_readout]
enabled = true
interval_s = 1.0
""")
    listener = Listener(broker, ["test/bms/#"])
    proc = subprocess.Popen([*SMALLBMS, "run", "--config", str(cfg)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    try:
        lines = _Lines(proc)
        lines.until(r"smallbms is running", 60)
        seen = [lines.until(r"integration: MQTT", 10), lines.until(r"integration: CAN-bus", 10),
                lines.until(r"integration: Instant Readout", 10),
                lines.until(r"integration: GPIO", 10)]
        assert all(seen)
        assert listener.wait_payload("test/bms/availability", "online")
        state = json.loads(listener.wait_payload("test/bms/state"))
        assert state["profile"] == "ng"
        assert state["bank"]["model_id"] == "12.8/200"
        assert state["status"]["outputs"]["charge_disconnect"] == "high"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # a clean stop says offline
    assert listener.wait_payload("test/bms/availability", "offline")
    listener.close()
    assert (tmp_path / "data" / "smallbms.sqlite3").exists()
