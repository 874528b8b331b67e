"""``smallbms run`` on a battery bus: the [bus] table through the service's own wiring.

In process (device time, no wall clock): the twin-ble device's API values equal the twin's
within the records' resolution, and a replayed capture drives the API. As a real process: the
command starts on twin-ble, serves the bus's batteries and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from smallbms.buses.capture import VICTRON_COMPANY_ID, Advert
from smallbms.buses.run import RunBus, run_bus
from smallbms.buses.twin_ble import TwinBleSource
from smallbms.scenario import load_scenario
from smallbms.service.config import load_config
from smallbms.service.main import build_device
from tests.buses.helpers import BATTERY, BATTERY_KEY, SHUNT, SHUNT_KEY, VECTORS
from tests.buses.test_victron import sealed
from tests.ports import free_port

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from smallbms.service.api import create_app  # noqa: E402
from smallbms.service.auth import Auth, ensure_pin  # noqa: E402
from smallbms.service.store import Store  # noqa: E402

BANK = Path(__file__).parent / "data" / "twin_ble_bank.toml"


def write_config(tmp: Path, bus: str) -> Path:
    cfg = tmp / "run.toml"
    cfg.write_text(f'[run]\nscenario = "{BANK}"\ntick_s = 0.5\n\n{bus}', encoding="utf-8")
    return cfg


class Api:
    def __init__(self, tmp: Path, cfg_path: Path) -> None:
        cfg = load_config(cfg_path, {"data_dir": tmp / "data"})
        scenario = load_scenario(BANK)
        self.bus: RunBus = run_bus(cfg.bus, scenario, speed=cfg.speed)
        self.store = Store(tmp / "smallbms.sqlite3")
        pin = ensure_pin(self.store)
        assert pin is not None
        self.device = build_device(cfg, scenario, None, self.store, bus=self.bus)
        self.client = TestClient(create_app(self.device, self.store, Auth(self.store)))
        self.device.tick(0.0)  # the API answers once there is a first snapshot
        r = self.client.post("/api/login", json={"pin": pin})
        assert r.status_code == 200, r.text
        self.headers = {"Authorization": f"Bearer {r.json()['token']}"}

    def get(self, path: str) -> Any:
        r = self.client.get(path, headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()

    def close(self) -> None:
        self.client.close()
        self.store.flush()
        self.store.close()


def test_twin_ble_api_values_equal_the_twins(tmp_path: Path) -> None:
    api = Api(tmp_path, write_config(tmp_path, '[bus]\nkind = "twin-ble"\n'))
    try:
        src = api.bus.source
        assert isinstance(src, TwinBleSource)
        for n in range(1, 41):
            api.device.tick(n * 0.5)
        truth = src.twin.reading(20.0)
        bank = api.get("/api/bank")
        status = api.get("/api/status")["status"]
        assert len(bank["batteries"]) == 2
        for shown, real in zip(bank["batteries"], truth.batteries, strict=True):
            assert real is not None and shown["reporting"]
            for a, b in zip(shown["cell_voltages_v"], real.cell_voltages_v, strict=True):
                assert abs(a - b) <= 0.005 + 1e-3  # record 0.01 V; the API shows 3 decimals
            assert abs(shown["temperature_c"] - real.temperature_c) <= 0.5 + 0.05
        assert truth.current_a is not None
        assert abs(status["current_a"] - truth.current_a) <= 0.001 + 0.05
        assert status["outputs"]["load_disconnect"] == "high"
        assert src.gate.refused == {}
    finally:
        api.close()


def test_replayed_capture_drives_the_api(tmp_path: Path) -> None:
    cap = tmp_path / "boat.jsonl"
    lines = []
    for n in range(10):
        lines.append(Advert(n + 0.2, BATTERY, VICTRON_COMPANY_ID,
                            sealed(VECTORS["smart_lithium"][n % 3]["decrypted"], nonce=n)).line())
        lines.append(Advert(n + 0.4, SHUNT, VICTRON_COMPANY_ID,
                            bytes.fromhex(VECTORS["battery_monitor"][0]["advert"])).line())
    cap.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bus = (f'[bus]\nkind = "victron-ble"\nreplay = "{cap.name}"\n'
           f'[[bus.devices]]\naddress = "{BATTERY}"\nkey = "{BATTERY_KEY}"\nmodel = "smart-12.8/100"\n'
           f'[[bus.devices]]\naddress = "{SHUNT}"\nrole = "shunt"\nkey = "{SHUNT_KEY}"\n')
    api = Api(tmp_path, write_config(tmp_path, bus))
    try:
        assert api.bus.profile == "classic"
        # the first tick (at 0 s) had received nothing: a silent bus, outputs floating
        assert api.get("/api/status")["status"]["outputs"]["load_disconnect"] == "floating"
        for n in range(1, 9):
            api.device.tick(float(n))
        bank = api.get("/api/bank")
        (b,) = bank["batteries"]
        assert b["cell_voltages_v"] == VECTORS["smart_lithium"][7 % 3]["cells_v"]
        assert b["temperature_c"] == VECTORS["smart_lithium"][7 % 3]["temperature_c"]
        status = api.get("/api/status")["status"]
        assert status["voltage_v"] == 12.53 and status["current_a"] == 0.0
    finally:
        api.close()


def test_smallbms_run_on_twin_ble_as_a_process(tmp_path: Path) -> None:
    port = free_port()
    cfg = write_config(tmp_path, '[bus]\nkind = "twin-ble"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "smallbms.cli", "run", "--config", str(cfg), "--data-dir",
         str(tmp_path / "data"), "--port", str(port), "--speed", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    out: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            out.put(line)

    threading.Thread(target=pump, daemon=True).start()

    def until(pattern: str, deadline_s: float = 60.0) -> str:
        end = time.monotonic() + deadline_s
        seen: list[str] = []
        while True:
            try:
                line = out.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; got {seen!r}") from None
            seen.append(line)
            if re.search(pattern, line):
                return line

    try:
        until(r"smallbms is running")
        until(r"integration: battery bus: twin-ble")
        pin_line = until(r"PIN")
        m = re.search(r"(\d{6})\s*$", pin_line)
        assert m, pin_line
        from smallbms.service import client

        url = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 30
        while True:  # the line comes before the server listens
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                    break
            except OSError:
                assert time.monotonic() < end, "the server did not listen within 30 s"
                time.sleep(0.05)
        token = client.login(url, m.group(1))
        end = time.monotonic() + 30
        while True:
            bank = client.request("GET", url, "/api/bank", token)
            reporting = [b["reporting"] for b in bank["batteries"]]
            if reporting == [True, True]:
                break
            assert time.monotonic() < end, json.dumps(bank)[:500]
            time.sleep(0.1)
        assert all(3.0 < c < 3.6 for b in bank["batteries"] for c in b["cell_voltages_v"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        until(r"stopped .*outputs floating, state saved", 5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
