"""`smallbms run` as a real process, and the `status` / `settings` clients talking to it."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ports import free_port

SMALLBMS = [sys.executable, "-m", "smallbms.cli"]


class _Lines:
    """The child's stdout lines, read by a thread into a queue (no select on a buffered pipe)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.q: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        out = proc.stdout
        def pump() -> None:
            for line in out:
                self.q.put(line)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, pattern: str, deadline_s: float) -> str:
        seen: list[str] = []
        end = time.monotonic() + deadline_s
        while True:
            try:
                line = self.q.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; got {seen!r}") from None
            seen.append(line)
            if re.search(pattern, line):
                return line


def _wait_listening(port: int, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > end:
                raise


class Running:
    def __init__(self, proc: subprocess.Popen[str], url: str, pin: str) -> None:
        self.proc, self.url, self.pin = proc, url, pin


def _start(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], str | None]:
    proc, pin, _ = _start_with_lines(data_dir, port)
    return proc, pin


def _start_with_lines(data_dir: Path, port: int
                      ) -> tuple[subprocess.Popen[str], str | None, _Lines]:
    proc = subprocess.Popen(
        [*SMALLBMS, "run", "--data-dir", str(data_dir), "--port", str(port), "--speed", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
    )
    lines = _Lines(proc)
    lines.until(r"smallbms is running", 60)
    lines.until(r"bank:", 10)
    line = lines.until(r"PIN", 10)
    m = re.search(r"(\d{6})\s*$", line)
    return proc, m.group(1) if m else None, lines


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    port = free_port()
    proc, pin = _start(tmp_path / "data", port)
    try:
        assert pin is not None, "the first start must print the PIN"
        _wait_listening(port, 30)
        yield Running(proc, f"http://127.0.0.1:{port}", pin)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cli(*args: str, pin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("SMALLBMS_PIN", None)
    if pin is not None:
        env["SMALLBMS_PIN"] = pin
    return subprocess.run([*SMALLBMS, *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def test_status_client_reads_the_running_device(running: Running) -> None:
    r = _cli("status", "--url", running.url, pin=running.pin)
    assert r.returncode == 0, r.stderr
    # words and units as on the pages (issue 15.12): no raw names, temperatures and cells shown
    assert re.search(r"^State of charge\s+\d+\.\d %$", r.stdout, re.M), r.stdout
    assert re.search(r"^Load disconnect\s+high \(loads on\)$", r.stdout, re.M), r.stdout
    assert re.search(r"^Highest battery temperature\s+-?\d+\.\d °C$", r.stdout, re.M)
    assert re.search(r"^Lowest cell voltage\s+\d\.\d{3} V$", r.stdout, re.M)
    assert "_" not in r.stdout and "-0.0" not in r.stdout
    j = _cli("status", "--url", running.url, "--json", pin=running.pin)
    data = json.loads(j.stdout)
    assert data["status"]["outputs"]["charge_disconnect"] == "high"


def test_settings_client_changes_and_refuses(running: Running) -> None:
    ok = _cli("settings", "--url", running.url, "discharge_floor_pct=12", pin=running.pin)
    assert ok.returncode == 0, ok.stderr
    assert re.search(r"discharge_floor_pct\s+12 ", ok.stdout)
    bad = _cli("settings", "--url", running.url, "discharge_floor_pct=150", pin=running.pin)
    assert bad.returncode == 1
    assert "discharge_floor_pct" in bad.stderr and "out of range" in bad.stderr
    shown = _cli("settings", "--url", running.url, pin=running.pin)
    assert re.search(r"discharge_floor_pct\s+12 ", shown.stdout)


def test_wrong_pin_is_refused(running: Running) -> None:
    wrong = "000000" if running.pin != "000000" else "111111"
    r = _cli("status", "--url", running.url, pin=wrong)
    assert r.returncode == 1
    assert "401" in r.stderr or "PIN" in r.stderr


def test_pin_is_printed_on_first_start_only_and_settings_survive(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc, pin = _start(data, port)
    try:
        assert pin is not None
        _wait_listening(port, 30)
        url = f"http://127.0.0.1:{port}"
        assert _cli("settings", "--url", url, "low_soc_warning_pct=30", pin=pin).returncode == 0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    port2 = free_port()
    proc2, pin2 = _start(data, port2)
    try:
        assert pin2 is None  # the PIN is shown once, at the first start
        _wait_listening(port2, 30)
        shown = _cli("settings", "--url", f"http://127.0.0.1:{port2}", pin=pin)
        assert re.search(r"low_soc_warning_pct\s+30 ", shown.stdout), shown.stdout
    finally:
        proc2.send_signal(signal.SIGINT)
        proc2.wait(timeout=20)


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bms.toml"
    cfg.write_text("[run]\ntick_s = 0.01\n")
    r = _cli("run", "--config", str(cfg), "--data-dir", str(tmp_path / "d"))
    assert r.returncode == 2
    assert "tick_s" in r.stderr and str(cfg) in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_spec21_run_stops_on_a_signal_while_a_stream_is_open(tmp_path: Path, sig: int) -> None:
    """SPEC 21: with a live stream open, a signal ends the stream, saves, says so and exits."""
    from smallbms.service import client

    port = free_port()
    proc, pin, lines = _start_with_lines(tmp_path / "data", port)
    try:
        assert pin is not None
        _wait_listening(port, 30)
        token = client.login(f"http://127.0.0.1:{port}", pin)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/stream", headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        assert resp.status == 200
        while not resp.readline().startswith(b"data: "):  # the stream is live
            pass
        proc.send_signal(sig)
        rest = resp.read().decode()  # returns at the end of the stream (times out otherwise)
        assert "event: closed" in rest and "stopping" in rest
        assert proc.wait(timeout=30) == 0
        lines.until(r"smallbms stopped .*outputs floating, state saved", 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_refuses_a_port_in_use_before_showing_the_pin(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        r = _cli("run", "--data-dir", str(data), "--port", str(port))
    assert r.returncode == 2
    assert f"port {port}" in r.stderr and "already in use" in r.stderr and "--port" in r.stderr
    assert "Traceback" not in r.stderr and "Errno" not in r.stderr
    assert "PIN" not in r.stdout and "running" not in r.stdout
    port2 = free_port()
    proc, pin = _start(data, port2)  # the one-time PIN display was not used up
    try:
        assert pin is not None
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_pin_reset_needs_the_machine_keeps_settings_and_refuses_while_running(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    none = _cli("pin", "reset", "--data-dir", str(tmp_path / "empty"))
    assert none.returncode == 2 and "first `smallbms run`" in none.stderr
    port = free_port()
    proc, pin = _start(data, port)
    try:
        assert pin is not None
        _wait_listening(port, 30)
        url = f"http://127.0.0.1:{port}"
        assert _cli("settings", "--url", url, "low_soc_warning_pct=30", pin=pin).returncode == 0
        busy = _cli("pin", "reset", "--data-dir", str(data))
        assert busy.returncode == 1
        assert "smallbms is running on" in busy.stderr and "stop it first" in busy.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    r = _cli("pin", "reset", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    m = re.search(r"New device PIN.*: (\d{6})$", r.stdout, re.M)
    assert m is not None
    new = m.group(1)
    assert "PIN reset" in r.stderr and new not in r.stderr  # logged, never the PIN itself
    port2 = free_port()
    proc2, shown = _start(data, port2)
    try:
        assert shown is None  # not a first start: the store, history and settings are kept
        _wait_listening(port2, 30)
        url2 = f"http://127.0.0.1:{port2}"
        kept = _cli("settings", "--url", url2, pin=new)
        assert kept.returncode == 0 and re.search(r"low_soc_warning_pct\s+30 ", kept.stdout)
        if new != pin:
            assert _cli("status", "--url", url2, pin=pin).returncode == 1
    finally:
        proc2.send_signal(signal.SIGINT)
        proc2.wait(timeout=30)
