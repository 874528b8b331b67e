"""The bus source the device ticks: messages in, through a decoder and the gate, a Reading out.

A *feed* says which messages have arrived by a device time (a live radio or broker: what its
thread queued, each stamped with its arrival; a replay: the capture's lines up to that time;
the twin: the adverts it broadcasts at that time). A *decoder* turns one message into values
for the gate (Victron adverts, aiobmsble samples, MQTT payloads). :class:`BusSource` drains the
feed at each tick, feeds the decoder and asks the gate for the reading: only on the tick's
thread, so the gate needs no lock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from smallbms.buses.capture import VICTRON_COMPANY_ID, Advert
from smallbms.buses.gate import BatteryValues, Gate, ShuntValues
from smallbms.buses.victron import DecodeError, decode
from smallbms.core.types import Reading, RemoteInput

log = logging.getLogger(__name__)

#: (P) a live feed keeps at most this many messages between two ticks (the oldest are dropped)
QUEUE_LIMIT = 5000


class Feed(Protocol):
    def due(self, t_s: float) -> Iterable[tuple[float, Any]]:
        """The messages that arrived up to device time ``t_s``, each with its arrival time."""
        ...


class Decoder(Protocol):
    def __call__(self, t_s: float, message: Any, gate: Gate) -> None: ...


class ReplayFeed:
    """A capture played back: every advert whose ``t`` is due, in order."""

    def __init__(self, adverts: Sequence[Advert], offset_s: float = 0.0) -> None:
        self.adverts = adverts
        self.offset_s = offset_s
        self._next = 0

    @property
    def finished(self) -> bool:
        return self._next >= len(self.adverts)

    def due(self, t_s: float) -> Iterator[tuple[float, Any]]:
        ads = self.adverts
        while self._next < len(ads) and ads[self._next].t + self.offset_s <= t_s:
            adv = ads[self._next]
            self._next += 1
            yield adv.t + self.offset_s, adv


class LiveFeed:
    """Messages pushed from another thread (a scanner, an MQTT client), stamped on arrival.

    The device time of a message is worked out at the next tick from how long ago it arrived
    (times the device's speed), so a value's age is known to the clock's resolution.
    """

    def __init__(self, speed: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 limit: int = QUEUE_LIMIT) -> None:
        self.speed = speed
        self.clock = clock
        self.q: queue.Queue[tuple[float, Any]] = queue.Queue(limit)
        self.dropped = 0
        self._lock = threading.Lock()

    def push(self, message: Any) -> None:
        """Any thread: a message has arrived now."""
        item = (self.clock(), message)
        try:
            self.q.put_nowait(item)
        except queue.Full:
            with self._lock:
                self.dropped += 1

    def due(self, t_s: float) -> Iterator[tuple[float, Any]]:
        now = self.clock()
        while True:
            try:
                at, message = self.q.get_nowait()
            except queue.Empty:
                return
            yield t_s - max(0.0, now - at) * self.speed, message


def victron_decoder(t_s: float, message: Any, gate: Gate) -> None:
    """A Victron advert: decrypted with its device's key, into the gate."""
    adv: Advert = message
    dev = gate.device(adv.address)
    if dev is None or adv.manufacturer_id != VICTRON_COMPANY_ID or dev.key is None:
        return  # not one of ours: ignored
    cache = gate.decoded
    hit = cache.get(dev.address)
    if hit is not None and hit[0] == adv.data:
        values = hit[1]  # the same advert again (a device repeats it until its data change)
    else:
        try:
            values = decode(adv.data, dev.key)
        except DecodeError as e:
            gate.refuse(dev.address, t_s, f"decode: {e}")
            return
        cache[dev.address] = (bytes(adv.data), values)
    if isinstance(values, BatteryValues):
        if dev.role != "battery":
            gate.refuse(dev.address, t_s, "role: a battery record from a device configured as the shunt")
            return
        gate.battery(dev.address, t_s, values)
    elif isinstance(values, ShuntValues):
        if dev.role != "shunt":
            gate.refuse(dev.address, t_s, "role: a battery monitor record from a device "
                        "configured as a battery")
            return
        gate.shunt_values(dev.address, t_s, values)


class BusSource:
    """The device's source on a battery bus (``[bus] kind`` other than the twin)."""

    def __init__(self, gate: Gate, feed: Feed, decoder: Decoder,
                 on_reading: Callable[[float], None] | None = None) -> None:
        self.gate = gate
        self.feed = feed
        self.decoder = decoder
        self.on_reading = on_reading
        self.remote = RemoteInput()
        self.messages = 0

    def reading(self, t_s: float) -> Reading:
        if self.on_reading is not None:
            self.on_reading(t_s)
        for at, message in self.feed.due(t_s):
            self.messages += 1
            self.decoder(at, message, self.gate)
        r = self.gate.reading(t_s)
        if self.remote != r.remote:
            from dataclasses import replace

            r = replace(r, remote=self.remote)
        return r
