"""The Instant Readout service inside ``smallbms run``: follows the device's snapshots and hands
the newest advertisement to a broadcaster every ``interval_s``, on its own thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from smallbms.integrations.instant_readout.bluez import BluezBroadcaster
from smallbms.integrations.instant_readout.broadcaster import Broadcaster
from smallbms.integrations.instant_readout.config import INTERVAL_RANGE_S, InstantReadoutConfig
from smallbms.integrations.instant_readout.crypto import InstantReadout, parse_key
from smallbms.integrations.instant_readout.keystore import SecretStore, ensure_key
from smallbms.integrations.instant_readout.record import values_from_status
from smallbms.integrations.ports import SnapshotFeed, Subscribable
from smallbms.worker import Worker

log = logging.getLogger(__name__)


_POLL_S = 0.5  # the longest the service thread waits before looking at the stop flag again


class InstantReadoutService:
    """Broadcasts the device's state every ``interval_s`` on its own thread.

    It subscribes to the device's snapshots, keeps the newest, and every ``interval_s`` hands
    the advertisement for it to the broadcaster. Nothing is sent before the first snapshot,
    and the advertisement is withdrawn while wireless access is off (SPEC 13) or the profile
    has no Bluetooth (classic).
    """

    def __init__(self, device: Subscribable, readout: InstantReadout, broadcaster: Broadcaster,
                 interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        lo, hi = INTERVAL_RANGE_S
        if not lo <= interval_s <= hi:
            raise ValueError(f"interval_s must be {lo:g}..{hi:g}, got {interval_s}")
        self.device = device
        self.readout = readout
        self.broadcaster = broadcaster
        self.interval_s = interval_s
        self.clock = clock
        self.sent = 0
        self._worker = Worker("instant-readout", self._run)
        self._subscribed = threading.Event()

    @classmethod
    def from_config(cls, cfg: InstantReadoutConfig, device: Subscribable, store: SecretStore,
                    broadcaster: Broadcaster | None = None) -> InstantReadoutService:
        """The service for a run configuration: the configured key, else the stored one (made
        on first use); BlueZ unless a broadcaster is given."""
        key = parse_key(cfg.key_hex) if cfg.key_hex is not None else ensure_key(store)
        return cls(device, InstantReadout(key), broadcaster or BluezBroadcaster.create(),
                   cfg.interval_s)

    def start(self) -> None:
        self._subscribed.clear()
        self._worker.start()
        self._subscribed.wait(5.0)

    def stop(self) -> None:
        self._worker.stop(timeout_s=10)
        self.broadcaster.close()

    def _run(self) -> None:
        try:
            with self.device.subscribe() as sub:
                self._subscribed.set()
                self._loop(sub)
        except Exception:  # a broadcaster failure must not pass silently, nor kill the device
            log.exception("Instant Readout stopped")
        finally:
            self._subscribed.set()

    def _loop(self, sub: SnapshotFeed) -> None:
        latest: dict[str, Any] | None = None
        due = self.clock()
        advertising = False
        while not self._worker.stopping.is_set():
            wait = self.interval_s if latest is None else due - self.clock()
            snap = sub.get(max(0.0, min(wait, _POLL_S)))
            if snap is not None:
                latest = snap
            if latest is None or self.clock() < due:
                continue
            due += self.interval_s
            if self.clock() > due:  # fell behind (slow broadcaster): do not send a burst
                due = self.clock() + self.interval_s
            status = latest.get("status", {})
            if latest.get("profile", "ng") != "ng" or not status.get("wireless_available", True):
                if advertising:
                    self.broadcaster.withdraw()
                    advertising = False
                continue
            values = values_from_status(status, latest.get("active_codes", ()))
            self.broadcaster.send(self.readout.advert(values))
            advertising = True
            self.sent += 1
