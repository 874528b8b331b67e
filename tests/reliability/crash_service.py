"""``smallbms run`` as a process to kill, and the HTTP clients that keep it busy meanwhile.

Used by the crash campaign (tests/reliability/crash_campaign.py):

- :class:`Service` starts ``smallbms run`` and reads its output through a thread and a queue
  (lines are waited for with deadlines); :meth:`Service.kill` sends SIGKILL exactly once;
  :func:`started` guarantees the process is killed and reaped whatever happens;
- :class:`Activity` drives the running service from three threads: settings changes (one to
  four settings at a time, values from :data:`SETTING_CHOICES`, sometimes "reset to
  defaults"), actions (SoC sync, SoC set, rarely a history reset) and a status/history poller.
  It records what was acknowledged, what was in flight and what was seen, and it can kill the
  service at a chosen moment: right after an acknowledged settings change (from the thread that
  got the answer), while a settings request is in flight (checked under the same lock the
  settings thread takes when its answer arrives), or at once.

Nothing here sleeps to synchronise: the threads' sleeps are their own pace, and waits for a
state (a request in flight, an answer) use a condition with a deadline.
"""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from smallbms.core.settings import (
    SETTING_SPECS,
    SettingError,
    Settings,
    change_settings,
    reset_to_defaults,
)
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]

REQUEST_TIMEOUT_S = 20.0

#: The values the campaign writes, per setting (the defaults are written too, by reset_defaults).
SETTING_CHOICES: dict[str, tuple[float, ...]] = {
    "charged_voltage_v": (13.8, 14.0, 14.2, 14.4),
    "tail_current_pct": (2.0, 4.0, 6.0),
    "charged_detection_time_min": (2.0, 3.0, 5.0),
    "low_soc_warning_pct": (15.0, 20.0, 30.0, 40.0),
    "discharge_floor_pct": (5.0, 10.0, 20.0, 30.0),
    "pre_alarm_level_v": (3.0, 3.05, 3.1),
}
KNOWN_VALUES: dict[str, frozenset[float]] = {
    s.name: frozenset(SETTING_CHOICES[s.name]) | {s.default} for s in SETTING_SPECS}

# --- the service process ------------------------------------------------------------------------


class Service:
    """One ``smallbms run`` process; its output is read by a thread into a queue."""

    def __init__(self, config_file: Path, data_dir: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.started_wall = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smallbms.cli", "run", "--config", str(config_file),
             "--data-dir", str(data_dir), "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, cwd=ROOT,
            start_new_session=True)
        out = self.proc.stdout
        assert out is not None

        def pump() -> None:
            for line in out:
                self.lines.put(line)
            out.close()

        self._pump = threading.Thread(target=pump, name="service-stdout", daemon=True)
        self._pump.start()
        self._kill_lock = threading.Lock()
        self.kill_wall: float | None = None

    def until(self, pattern: str, deadline: float) -> str:
        """The first output line matching ``pattern`` before the monotonic ``deadline``."""
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"smallbms run printed no line matching {pattern!r} in time; "
                                     f"output so far: {self.tail()}") from None
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def tail(self) -> str:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                break
        return "".join(self.seen[-40:])

    def wait_listening(self, deadline: float) -> None:
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"smallbms run exited with {self.proc.returncode}: "
                                     f"{self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"port {self.port} never answered: {self.tail()}") from None
                # nothing to wait on but the port itself: poll it at a modest pace
                time.sleep(0.05)

    def kill(self) -> float:
        """SIGKILL once (later calls return the first kill's wall time)."""
        with self._kill_lock:
            if self.kill_wall is None:
                self.kill_wall = time.time()
                os.kill(self.proc.pid, signal.SIGKILL)
            return self.kill_wall

    def reap(self) -> None:
        """Kill if still running and wait for the process and its output thread."""
        if self.proc.poll() is None:
            self.kill()
        self.proc.wait(timeout=30)
        self._pump.join(timeout=10)


@contextmanager
def started(config_file: Path, data_dir: Path) -> Iterator[Service]:
    """A running service that is killed and reaped on the way out, whatever happens."""
    svc = Service(config_file, data_dir, free_port())
    try:
        yield svc
    finally:
        svc.reap()


# --- what the threads record ----------------------------------------------------------------------


@dataclass
class Observation:
    sent_mono: float
    t_s: float
    wall_s: float  # the snapshot's tick time, device clock
    consumed_ah: float | None
    synchronisations: int
    outputs: dict[str, str]
    reasons: list[str]


@dataclass
class PendingChange:
    before: Settings
    after: Settings
    kind: str  # "put" or "reset_defaults"
    sent_mono: float

    def is_mix(self, s: Settings) -> bool:
        """Neither before nor after, but each value from one of them: applied in part."""
        b, a, x = asdict(self.before), asdict(self.after), asdict(s)
        return s not in (self.before, self.after) and all(x[n] in (b[n], a[n]) for n in x)


@dataclass
class Action:
    kind: str  # sync_soc, set_soc, reset_history
    value: float | None
    sent_mono: float
    acked_mono: float | None = None


def random_change(rng: random.Random, current: Settings) -> dict[str, float]:
    """One to four settings with new values from the known set, valid as a whole."""
    while True:
        names = rng.sample(list(SETTING_CHOICES), rng.randint(1, 4))
        values = {n: rng.choice(SETTING_CHOICES[n]) for n in names}
        values = {n: v for n, v in values.items() if getattr(current, n) != v}
        if not values:
            continue
        try:
            change_settings(current, values)
        except SettingError:
            continue
        return values


class Activity:
    """The three client threads of one run, and what they saw."""

    def __init__(self, svc: Service, token: str, settings: Settings, rng: random.Random,
                 capacity_ah: float) -> None:
        self.svc = svc
        self.headers = {"Authorization": f"Bearer {token}"}
        self.rng = rng
        self.seeds = [rng.randrange(1 << 30) for _ in range(3)]
        self.capacity_ah = capacity_ah
        self.lock = threading.Condition()
        self.stop = threading.Event()
        # settings (guarded by lock)
        self.acked = settings
        self.pending: PendingChange | None = None
        self.acks = 0
        self.ack_latencies_s: list[float] = []
        self.last_ack_mono: float | None = None
        self.kill_after_ack = False
        self.kill_reason: str | None = None
        self.kill_in_flight: PendingChange | None = None
        self.kill_since_ack_s: float | None = None
        # actions and observations
        self.actions: list[Action] = []
        self.observations: list[Observation] = []
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=f, name=f.__name__, daemon=True)
                        for f in (self._settings_loop, self._actions_loop, self._poll_loop)]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.svc.url, headers=self.headers,
                            timeout=REQUEST_TIMEOUT_S)

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=REQUEST_TIMEOUT_S + 5)
            if t.is_alive():
                self.errors.append(f"thread {t.name} did not end")

    def _gone(self) -> bool:
        return self.stop.is_set() or self.svc.kill_wall is not None

    def _unexpected(self, what: str) -> None:
        if not self._gone():
            self.errors.append(what)

    # --- kills (called with self.lock held) -------------------------------------------------------

    def _kill(self, reason: str) -> None:
        self.kill_reason = reason
        self.kill_in_flight = self.pending
        self.kill_since_ack_s = (None if self.last_ack_mono is None
                                 else time.monotonic() - self.last_ack_mono)
        self.svc.kill()

    def kill_now(self) -> None:
        with self.lock:
            if self.svc.kill_wall is None:
                self._kill("random")

    def kill_when_in_flight(self, rng: random.Random, deadline: float) -> bool:
        """Kill while a settings request is in flight: sent, not answered."""
        while time.monotonic() < deadline:
            with self.lock:
                while self.pending is None and time.monotonic() < deadline:
                    if self.svc.kill_wall is not None or self.stop.is_set():
                        return False
                    self.lock.wait(deadline - time.monotonic())
                if self.pending is None:
                    return False
                target = self.pending
            # a random moment inside the request (it waits for the next tick, up to tick_s)
            time.sleep(rng.uniform(0.0, 0.2))
            with self.lock:
                if self.pending is target and self.svc.kill_wall is None:
                    self._kill("in_flight")
                    return True
        return False

    def kill_after_next_ack(self, deadline: float) -> bool:
        with self.lock:
            self.kill_after_ack = True
            while self.svc.kill_wall is None and time.monotonic() < deadline:
                self.lock.wait(deadline - time.monotonic())
            self.kill_after_ack = False
            return self.kill_reason == "after_ack"

    # --- the threads ------------------------------------------------------------------------------

    def _settings_loop(self) -> None:
        rng = random.Random(self.seeds[0])
        with self.client() as c:
            while not self._gone():
                with self.lock:
                    before = self.acked
                if rng.random() < 0.08:
                    after = reset_to_defaults(before)
                    change = PendingChange(before, after, "reset_defaults", time.monotonic())
                    req: tuple[str, str, dict[str, float] | None] = (
                        "POST", "/api/actions/reset_defaults", None)
                else:
                    values = random_change(rng, before)
                    after = change_settings(before, values)
                    change = PendingChange(before, after, "put", time.monotonic())
                    req = ("PUT", "/api/settings", values)
                with self.lock:
                    if self._gone():
                        return
                    self.pending = change
                    self.lock.notify_all()
                try:
                    r = c.request(req[0], req[1], json=req[2])
                except httpx.HTTPError as e:
                    self._unexpected(f"{req[0]} {req[1]}: {type(e).__name__}: {e}")
                    return
                with self.lock:
                    if self.svc.kill_wall is not None:
                        return  # answered, but after the kill: neither acked nor lost
                    if r.status_code != 200:
                        self.errors.append(f"{req[0]} {req[1]} {req[2]}: {r.status_code} {r.text}")
                        self.pending = None
                        return
                    if req[0] == "PUT":
                        shown = r.json()["values"]
                        if shown != after.as_dict():
                            self.errors.append(f"PUT answered {shown}, expected {after.as_dict()}")
                    self.acked = after
                    self.pending = None
                    self.acks += 1
                    self.last_ack_mono = time.monotonic()
                    self.ack_latencies_s.append(self.last_ack_mono - change.sent_mono)
                    if self.kill_after_ack:
                        self._kill("after_ack")
                    self.lock.notify_all()
                time.sleep(rng.uniform(0.0, 0.15))  # this client's own pace

    def _actions_loop(self) -> None:
        rng = random.Random(self.seeds[1])
        with self.client() as c:
            while not self._gone():
                time.sleep(rng.uniform(0.1, 0.5))  # this client's own pace
                x = rng.random()
                if x < 0.06:
                    a = Action("reset_history", None, time.monotonic())
                    path, body = "/api/actions/reset_history", None
                elif x < 0.45:
                    a = Action("sync_soc", None, time.monotonic())
                    path, body = "/api/actions/sync_soc", None
                else:
                    a = Action("set_soc", float(rng.choice((20, 35, 50, 65, 80, 95))),
                               time.monotonic())
                    path, body = "/api/actions/set_soc", {"value_pct": a.value}
                with self.lock:
                    if self._gone():
                        return
                    self.actions.append(a)
                try:
                    r = c.post(path, json=body)
                except httpx.HTTPError as e:
                    self._unexpected(f"POST {path}: {type(e).__name__}: {e}")
                    return
                with self.lock:
                    if self.svc.kill_wall is not None:
                        return
                    if r.status_code != 200:
                        self.errors.append(f"POST {path} {body}: {r.status_code} {r.text}")
                        return
                    a.acked_mono = time.monotonic()

    def _poll_loop(self) -> None:
        rng = random.Random(self.seeds[2])
        with self.client() as c:
            while not self._gone():
                try:
                    obs = observe(c)
                except httpx.HTTPError as e:
                    self._unexpected(f"GET status: {type(e).__name__}: {e}")
                    return
                except AssertionError as e:
                    self._unexpected(str(e))
                    return
                with self.lock:
                    if self.svc.kill_wall is not None:
                        return
                    self.observations.append(obs)
                time.sleep(rng.uniform(0.02, 0.08))  # this client's own pace

    # --- what the SoC may legitimately be after the kill ------------------------------------------

    def soc_candidates(self) -> tuple[Observation | None, list[float]]:
        """The last observation, and every consumed Ah an action sent around or after it set."""
        last = self.observations[-1] if self.observations else None
        since = (last.sent_mono if last is not None else 0.0) - 1.0
        out: list[float] = []
        for a in self.actions:
            if a.acked_mono is not None and a.acked_mono < since:
                continue
            if a.kind == "sync_soc":
                out.append(0.0)
            elif a.kind == "set_soc" and a.value is not None:
                out.append((a.value / 100.0 - 1.0) * self.capacity_ah)
        return last, out


def observe(c: httpx.Client) -> Observation:
    sent = time.monotonic()
    # history first: the synchronisations it counts then happened no later than the status
    # read after it, so the pair never claims a synchronisation newer than its time stamp
    h = c.get("/api/history")
    if h.status_code != 200:
        raise AssertionError(f"GET /api/history: {h.status_code} {h.text}")
    r = c.get("/api/status")
    if r.status_code != 200:
        raise AssertionError(f"GET /api/status: {r.status_code} {r.text}")
    s = r.json()
    st = s["status"]
    return Observation(sent, float(s["t_s"]), float(s["wall_s"]), st["consumed_ah"],
                       int(h.json()["synchronisations"]), dict(st["outputs"]),
                       list(st["discharge_reasons"]))


def login(url: str, pin: str, deadline: float) -> str:
    """A bearer token; the server may answer 503 until its first tick."""
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as c:
        while True:
            r = c.post("/api/login", json={"pin": pin})
            if r.status_code == 200:
                token: str = r.json()["token"]
                return token
            if r.status_code != 503 or time.monotonic() > deadline:
                raise AssertionError(f"login: {r.status_code} {r.text}")
            time.sleep(0.05)  # nothing else to wait on: the device's first tick
