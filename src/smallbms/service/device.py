"""The running device: the core ticking in real time against a battery source.

One tick thread owns the core and the source. Nothing else touches them: the web layer and
other clients read immutable snapshots (plain dicts, replaced whole every tick) and send
commands through a queue that the tick thread drains at the start of the next tick. Storage
happens on a separate writer thread fed by a queue, so neither a slow disk nor a busy web
server can delay a tick. The tick thread measures its own lateness (missed ticks, latency from
reading to outputs) for the benchmarks.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from smallbms.core.engine import Core
from smallbms.core.types import Command, CommandResult, Decision
from smallbms.runner import BmsLoop, IoAdapter, Source
from smallbms.worker import Worker

log = logging.getLogger(__name__)

MIN_TICK_S = 0.1  # the fastest tick the loop accepts, s


@runtime_checkable
class ReadbackTiming(Protocol):
    """An adapter with output read-backs says how long the core should let them disagree."""

    def readback_debounce_s(self, tick_s: float) -> float: ...


class StateSink(Protocol):
    """Where the device persists what it must not lose (see service/store.py)."""

    def save_state(self, state: dict[str, Any]) -> None: ...

    def append_sample(self, wall_s: float, sample: dict[str, Any]) -> None: ...

    def append_codes(self, events: list[dict[str, Any]]) -> None: ...


@runtime_checkable
class DurableSink(Protocol):
    """A sink that can say when what it was handed is on disk (the store does)."""

    def wait_saved(self, timeout_s: float = ...) -> bool: ...


@dataclass
class TickStats:
    """How well the loop keeps time."""

    ticks: int = 0
    missed: int = 0
    latencies_s: list[float] = field(default_factory=list)
    max_latencies_kept: int = 100_000

    def record(self, latency_s: float) -> None:
        self.ticks += 1
        if len(self.latencies_s) < self.max_latencies_kept:
            self.latencies_s.append(latency_s)


class Subscription:
    """A live feed of snapshots for one client; the oldest are dropped when it lags."""

    def __init__(self, maxsize: int = 16) -> None:
        self.q: queue.Queue[dict[str, Any]] = queue.Queue(maxsize)

    def put(self, snap: dict[str, Any]) -> None:
        while True:
            try:
                self.q.put_nowait(snap)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.q.get_nowait()

    def get(self, timeout_s: float) -> dict[str, Any] | None:
        try:
            return self.q.get(timeout=timeout_s)
        except queue.Empty:
            return None


class Device:
    """The BMS running in real time (or ``speed`` times faster) against a source."""

    def __init__(
        self, core: Core, source: Source, *, tick_s: float = 1.0, speed: float = 1.0,
        sink: StateSink | None = None, sample_every_s: float = 10.0,
        obey: Callable[[Decision, Core], None] | None = None,
        clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
        io: list[IoAdapter] | None = None,
    ) -> None:
        if tick_s < MIN_TICK_S:
            raise ValueError(f"tick must be at least {MIN_TICK_S} s, got {tick_s}")
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.core = core
        self.source = source
        self.tick_s = tick_s
        self.speed = speed
        self.sink = sink
        self.sample_every_s = sample_every_s
        self.obey = obey
        self.io = list(io or [])
        for adapter in self.io:
            if isinstance(adapter, ReadbackTiming):  # the core debounces read-backs (E-B11)
                core.set_readback_debounce(adapter.readback_debounce_s(tick_s * speed))
        self._loop = BmsLoop(core, source, self._obey, self.io)
        #: the exception that ended the tick loop (its outputs were floated), if one did
        self.failure: BaseException | None = None
        #: called on the tick thread after a failed tick floated the outputs
        self.on_failure: Callable[[BaseException], None] | None = None
        self.clock = clock
        self.wall = wall
        self.stats = TickStats()
        self._commands: queue.Queue[tuple[list[Command], Future[list[CommandResult]]]] = (
            queue.Queue())
        self._clients = 0
        self._subs: list[Subscription] = []
        self._subs_lock = threading.Lock()
        self._worker = Worker("bms-tick", self._run)
        self._stop = self._worker.stopping
        self._snapshot: dict[str, Any] = {}
        self._sim_t = 0.0
        self._wall_start = wall()
        self._next_sample = 0.0
        self._ready = threading.Event()

    # --- what clients use (any thread) --------------------------------------------------------

    @property
    def snapshot(self) -> dict[str, Any]:
        """The latest status, batteries, history and settings, as an immutable-by-convention dict."""
        return self._snapshot

    def wait_ready(self, timeout_s: float = 10.0) -> bool:
        """True once the first tick has produced a snapshot."""
        return self._ready.wait(timeout_s)

    def command(self, cmd: Command, timeout_s: float = 10.0) -> CommandResult:
        """Queue a command for the next tick and wait for its result.

        A refused command changes nothing and says why (several settings at once:
        ``ChangeSettings``, all or nothing). With a sink that can tell (:class:`DurableSink`),
        an accepted command returns only once the state saved after it is committed, so an acknowledged
        change survives a crash; TimeoutError if that takes longer than ``timeout_s`` (the
        change is then applied, but not known to be saved).
        """
        return self.commands([cmd], timeout_s)[0]

    def commands(self, cmds: Sequence[Command], timeout_s: float = 10.0) -> list[CommandResult]:
        """Queue several commands for the same tick (in order) and wait for their results."""
        deadline = time.monotonic() + timeout_s
        fut: Future[list[CommandResult]] = Future()
        self._commands.put((list(cmds), fut))
        results = fut.result(timeout=timeout_s)
        if (isinstance(self.sink, DurableSink) and any(r.accepted for r in results)
                and not self.sink.wait_saved(max(0.0, deadline - time.monotonic()))):
            raise TimeoutError("the command was applied but its state is not saved yet")
        return results

    def client_connected(self, delta: int) -> None:
        """Count live app sessions (the Bluetooth LED is on while there is one)."""
        with self._subs_lock:
            self._clients = max(0, self._clients + delta)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        sub = Subscription()
        with self._subs_lock:
            self._subs.append(sub)
        try:
            yield sub
        finally:
            with self._subs_lock:
                self._subs.remove(sub)

    # --- the loop -----------------------------------------------------------------------------

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop(timeout_s=10)
        if self.sink is not None:
            self.sink.save_state(self._persistent())

    def _obey(self, d: Decision) -> None:
        if self.obey is not None:
            self.obey(d, self.core)

    def _persistent(self) -> dict[str, Any]:
        from smallbms.core.persist import persistent_to_dict

        return persistent_to_dict(self.core.persistent())

    def _run(self) -> None:
        start = self.clock()
        n = 0
        while not self._stop.is_set():
            due = start + n * self.tick_s
            now = self.clock()
            if now < due:
                self._stop.wait(due - now)
                continue
            late_ticks = int((now - due) / self.tick_s)
            if late_ticks:
                self.stats.missed += late_ticks
                n += late_ticks
            self._sim_t = n * self.tick_s * self.speed
            try:
                self.tick(self._sim_t)
            except Exception as e:
                # nothing may keep the outputs where the last good tick left them (SPEC 21)
                log.exception("the tick failed: every output floating, the device stops")
                self._loop.fail_safe()
                self.failure = e
                if self.on_failure is not None:
                    self.on_failure(e)
                return
            self.stats.record(self.clock() - now)
            n += 1

    def tick(self, sim_t: float) -> Decision:
        """One tick: commands, reading, core step, outputs, snapshot, hand-off to storage."""
        batches: list[tuple[list[Command], Future[list[CommandResult]]]] = []
        while True:
            try:
                batches.append(self._commands.get_nowait())
            except queue.Empty:
                break
        # an app session counts as a connected client (the Bluetooth LED, SPEC 8)
        d = self._loop.step(sim_t, [c for cmds, _ in batches for c in cmds],
                            app_connected=bool(self._clients))
        try:
            self._loop.act(d)
            wall_now = self._wall_start + sim_t / self.speed
            snap = self.core.snapshot(d, sim_t, wall_now).as_dict()
            self._snapshot = snap
            self._ready.set()
            with self._subs_lock:
                subs = list(self._subs)
            for sub in subs:
                sub.put(snap)
            self._hand_off(d, sim_t, wall_now, snap)
        finally:
            # answered last: the state holding the commands' effect is already with the sink
            results = iter(d.command_results)
            for cmds, fut in batches:
                fut.set_result([next(results) for _ in cmds])
        return d

    def _hand_off(self, d: Decision, sim_t: float, wall_now: float, snap: dict[str, Any]) -> None:
        """Give the sink the code events, the state (after events and commands) and samples."""
        if self.sink is None:
            return
        if d.events:
            self.sink.append_codes([
                {"t_s": e.t_s, "wall_s": self._wall_start + e.t_s / self.speed,
                 "code": e.code, "state": e.state} for e in d.events])
        if d.events or d.command_results or sim_t >= self._next_sample:
            self.sink.save_state(self._persistent())
        if sim_t >= self._next_sample:
            self.sink.append_sample(wall_now, snap["status"])
            self._next_sample = sim_t + self.sample_every_s
