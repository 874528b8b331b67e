"""`smallbms run` as a real child process, for the reliability tests that need the real thing.

The child's stdout and stderr are read by a thread into a list (every line is kept, so a test
can search the whole log afterwards) and a queue (so a test can wait for a line with a
deadline instead of sleeping).
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
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.ports import free_port

SMALLBMS = [sys.executable, "-m", "smallbms.cli"]
START_TIMEOUT_S = 90.0  # numpy/numba imports on a cold, busy 2-core machine


class RunningService:
    """One ``smallbms run`` process: its URL, its PIN (first start only) and everything it said."""

    def __init__(self, data_dir: Path, *extra: str, speed: float = 20.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [*SMALLBMS, "run", "--data-dir", str(data_dir), "--port", str(self.port),
             "--speed", str(speed), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: list[str] = []
        self._q: queue.Queue[str] = queue.Queue()
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()
        self.pin: str | None = None
        try:
            self.until(r"smallbms is running", START_TIMEOUT_S)
            line = self.until(r"PIN", 30.0)
            m = re.search(r"(\d{6})\s*$", line)
            self.pin = m.group(1) if m else None
            self._wait_listening(30.0)
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self._q.put(line)

    def until(self, pattern: str, deadline_s: float) -> str:
        """The next output line matching ``pattern``; AssertionError after ``deadline_s``."""
        end = time.monotonic() + deadline_s
        while True:
            try:
                line = self._q.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern!r} within {deadline_s} s; output so far: "
                    f"{''.join(self.lines)[-3000:]}") from None
            if re.search(pattern, line):
                return line

    def _wait_listening(self, deadline_s: float) -> None:
        end = time.monotonic() + deadline_s
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > end or self.proc.poll() is not None:
                    raise

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request; returns (status, headers with lower-case names, body) for every
        status, errors included."""
        data = None if body is None else json.dumps(body).encode()
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def login(self, pin: str) -> dict[str, Any]:
        """Log in; returns the login body plus the Set-Cookie headers under ``cookies``."""
        req = urllib.request.Request(
            self.url + "/api/login", data=json.dumps({"pin": pin}).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body: dict[str, Any] = json.loads(r.read())
            body["cookies"] = r.headers.get_all("Set-Cookie") or []
        return body

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        """SIGINT (a clean stop), then SIGKILL if it does not end; waits for the output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._pump.join(timeout=10)
