"""A device whose snapshots a test publishes by hand (what the CAN and Venus services follow),
with the service's real ``Subscription`` queues; commands are recorded and answered at once."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from smallbms.core.types import Command, CommandResult
from smallbms.service.device import Subscription


class FeedDevice:
    def __init__(self, snap: dict[str, Any]) -> None:
        self._snap = snap
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self.commands: list[Command] = []
        self.accept = True

    @property
    def snapshot(self) -> dict[str, Any]:
        return self._snap

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        sub = Subscription()
        with self._lock:
            self._subs.append(sub)
        try:
            yield sub
        finally:
            with self._lock:
                self._subs.remove(sub)

    def publish(self, snap: dict[str, Any]) -> None:
        self._snap = snap
        with self._lock:
            subs = list(self._subs)
        for s in subs:
            s.put(snap)

    def command(self, cmd: Command) -> CommandResult:
        self.commands.append(cmd)
        return CommandResult(cmd, self.accept)
