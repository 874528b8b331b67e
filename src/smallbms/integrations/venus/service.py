"""The battery service on the D-Bus: Victron's ``com.victronenergy.BusItem`` interface with
``dbus-fast``, on its own thread and asyncio loop.

The wire contract (as Venus OS's own services keep it):

- every path answers ``GetValue() -> v``, ``GetText() -> s`` and ``SetValue(v) -> i`` (0
  accepted, 1 not writeable or the wrong type, 2 refused) and emits
  ``PropertiesChanged(a{sv})`` (``Value`` and ``Text``) when a single value is set;
- ``/`` also answers ``GetItems() -> a{sa{sv}}`` (every path with its ``Value`` and ``Text``)
  and emits ``ItemsChanged(a{sa{sv}})`` with all the changes of one snapshot at once; ``/`` and
  every inner node (``/Dc``, ``/Dc/0``, ...) answer ``GetValue`` with their subtree;
- a float is sent as ``d``, an integer as ``i``, text as ``s``; an unknown value as an empty
  ``ai`` array;
- every path is exported before the bus name is claimed.

The service never runs on the tick thread: it follows the device's snapshots through a
subscription, and a bus that is missing, refuses us or goes away only makes it retry. While no
snapshot has arrived for ``stale_after_s`` the current limits are 0 (as on the CAN bus).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from typing import Annotated, Any, Final, Protocol

from dbus_fast import BusType, NameFlag, RequestNameReply, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusDict, DBusInt32, DBusSignature, DBusStr, DBusVariant
from dbus_fast.auth import AuthAnonymous, Authenticator
from dbus_fast.service import ServiceInterface, dbus_method, dbus_signal

from smallbms.core.types import Command, CommandResult, Mode, SetMode
from smallbms.integrations.canbus import STALE_AFTER_S
from smallbms.integrations.ports import WakeableFeed
from smallbms.integrations.venus.config import VenusConfig
from smallbms.integrations.venus.paths import (
    MODE_OFF,
    MODE_ON,
    Identity,
    PathSpec,
    Value,
    cell_count,
    identity_values,
    path_specs,
    snapshot_values,
    text,
)
from smallbms.worker import Worker

log = logging.getLogger(__name__)

IFACE: Final = "com.victronenergy.BusItem"
#: SetValue answers (as velib_python's services give them).
SET_OK, SET_NOT_WRITEABLE, SET_REFUSED = 0, 1, 2
#: How long to wait for the device's first snapshot before the paths are exported anyway (the
#: number of cell-voltage paths comes from it).
FIRST_SNAPSHOT_TIMEOUT_S: Final = 10.0
#: Pause between two attempts to reach the bus.
RETRY_S: Final = 5.0
#: How often the loop looks at the clock when no snapshot comes (staleness, stop).
POLL_S: Final = 0.5
#: The wire value of an unknown value.
INVALID: Final = Variant("ai", [])

DBusItems = Annotated[dict[str, dict[str, Variant]], DBusSignature("a{sa{sv}}")]
_INT_SIGNATURES: Final = frozenset("ynqiuxt")


class VenusDevice(Protocol):
    """What the service needs of the running device (its ``Device`` satisfies it)."""

    @property
    def snapshot(self) -> dict[str, Any]: ...

    def subscribe(self) -> AbstractContextManager[WakeableFeed]: ...

    def command(self, cmd: Command) -> CommandResult: ...


def wire(spec: PathSpec, value: Value) -> Variant:
    """A path's value as it goes on the wire (``d``, ``i``, ``s``, or ``ai`` for invalid)."""
    if value is None:
        return INVALID
    if spec.wire == "d":
        return Variant("d", float(value))
    if spec.wire == "i":
        return Variant("i", int(value))
    return Variant("s", str(value))


def _change(spec: PathSpec, value: Value) -> dict[str, Variant]:
    return {"Value": wire(spec, value), "Text": Variant("s", text(spec, value))}


class _Tree:
    """The exported values: one store shared by every interface object of the service."""

    def __init__(self, specs: tuple[PathSpec, ...], values: Mapping[str, Value]) -> None:
        self.specs = {s.path: s for s in specs}
        self.values: dict[str, Value] = {p: values.get(p) for p in self.specs}

    def subtree(self, node: str, texts: bool) -> dict[str, Any]:
        prefix = node.rstrip("/") + "/"
        out: dict[str, Any] = {}
        for path, spec in self.specs.items():
            if path.startswith(prefix):
                v = self.values[path]
                out[path[len(prefix):]] = text(spec, v) if texts else wire(spec, v)
        return out

    def items(self) -> dict[str, dict[str, Variant]]:
        return {p: _change(s, self.values[p]) for p, s in self.specs.items()}

    def update(self, values: Mapping[str, Value]) -> dict[str, dict[str, Variant]]:
        """Take the new values; the changes, ready for ItemsChanged."""
        changes: dict[str, dict[str, Variant]] = {}
        for path, v in values.items():
            spec = self.specs.get(path)
            if spec is None:
                continue
            old = self.values[path]
            if v != old or type(v) is not type(old):
                self.values[path] = v
                changes[path] = _change(spec, v)
        return changes


class _Node(ServiceInterface):
    """``/`` or an inner node: its subtree on GetValue/GetText; nothing to set."""

    def __init__(self, tree: _Tree, path: str) -> None:
        super().__init__(IFACE)
        self._tree = tree
        self._path = path

    @dbus_method()
    def GetValue(self) -> DBusVariant:
        return Variant("a{sv}", self._tree.subtree(self._path, texts=False))

    @dbus_method()
    def GetText(self) -> DBusVariant:
        return Variant("a{ss}", self._tree.subtree(self._path, texts=True))

    @dbus_method()
    def SetValue(self, value: DBusVariant) -> DBusInt32:
        return SET_NOT_WRITEABLE


class _Root(_Node):
    @dbus_method()
    def GetItems(self) -> DBusItems:
        return self._tree.items()

    @dbus_signal()
    def ItemsChanged(self, changes: dict[str, dict[str, Variant]]) -> DBusItems:
        return changes


class _Item(ServiceInterface):
    """One path."""

    def __init__(self, tree: _Tree, spec: PathSpec,
                 on_set: Callable[[_Item, Variant], Awaitable[int]]) -> None:
        super().__init__(IFACE)
        self._tree = tree
        self.spec = spec
        self._on_set = on_set

    @dbus_method()
    def GetValue(self) -> DBusVariant:
        return wire(self.spec, self._tree.values[self.spec.path])

    @dbus_method()
    def GetText(self) -> DBusStr:
        return text(self.spec, self._tree.values[self.spec.path])

    @dbus_method()
    async def SetValue(self, value: DBusVariant) -> DBusInt32:
        if not self.spec.writable:
            return SET_NOT_WRITEABLE
        return await self._on_set(self, value)

    @dbus_signal()
    def PropertiesChanged(self, changes: dict[str, Variant]) -> DBusDict:
        return changes

    def set_local(self, value: Value) -> None:
        """Store a value set by a client and announce it on this path."""
        if self._tree.update({self.spec.path: value}):
            self.PropertiesChanged(_change(self.spec, value))


def inner_nodes(paths: list[str]) -> list[str]:
    """Every proper prefix of the paths (``/Dc``, ``/Dc/0`` for ``/Dc/0/Voltage``)."""
    out: dict[str, None] = {}
    for p in paths:
        parts = p.split("/")
        for i in range(2, len(parts)):
            out["/".join(parts[:i])] = None
    return [n for n in out if n not in paths]


class VenusService:
    """Publishes the device as ``com.victronenergy.battery.smallbms<suffix>``.

    ``start()`` starts the thread (and returns once the first attempt to publish has been made,
    or after a few seconds); ``stop()`` releases the name and ends the thread.
    """

    def __init__(
        self, device: VenusDevice, config: VenusConfig, *,
        stale_after_s: float = STALE_AFTER_S, clock: Callable[[], float] = time.monotonic,
        first_snapshot_timeout_s: float = FIRST_SNAPSHOT_TIMEOUT_S, retry_s: float = RETRY_S,
    ) -> None:
        if stale_after_s <= 0:
            raise ValueError(f"stale_after_s must be > 0, got {stale_after_s}")
        self.device = device
        self.config = config
        self.stale_after_s = stale_after_s
        self.clock = clock
        self.first_snapshot_timeout_s = first_snapshot_timeout_s
        self.retry_s = retry_s
        #: snapshots turned into path values (whether or not a bus was there to hear them)
        self.updates = 0
        #: ItemsChanged signals sent
        self.signals_sent = 0
        self.connect_failures = 0
        self.custom_name = config.custom_name
        self._worker = Worker("bms-venus", self._thread)
        self._first_attempt = threading.Event()
        self._published = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_async: asyncio.Event | None = None
        self._feed: WakeableFeed | None = None
        self._wake: dict[str, Any] = {}
        self._tree: _Tree | None = None
        self._root: _Root | None = None
        self._latest: dict[str, Any] = {}
        self._last_rx: float | None = None
        self._stale = True
        self._have_snapshot: asyncio.Event | None = None
        self._lock = threading.Lock()
        self._updated = threading.Condition(self._lock)
        self._values: dict[str, Value] = {}
        self._cells = 0
        self._bus: MessageBus | None = None

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def service_name(self) -> str:
        return self.config.service_name

    @property
    def published(self) -> bool:
        """True while the name is ours on the bus."""
        return self._published.is_set()

    @property
    def running(self) -> bool:
        return self._worker.running

    def values(self) -> dict[str, Value]:
        """A copy of the values as last computed (for tests and the footprint bench)."""
        with self._lock:
            return dict(self._values)

    def wait_update(self, after: int, timeout_s: float) -> bool:
        """Wait until more than ``after`` snapshots have been turned into values."""
        with self._updated:
            return self._updated.wait_for(lambda: self.updates > after, timeout_s)

    def start(self, timeout_s: float = 5.0) -> None:
        if self._worker.started:
            raise RuntimeError("Venus service already started")
        self._first_attempt.clear()
        self._worker.start()
        self._first_attempt.wait(timeout_s)

    def wait_published(self, timeout_s: float) -> bool:
        return self._published.wait(timeout_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._worker.stop(timeout_s, wake=self._wake_up)

    def _wake_up(self) -> None:
        feed, loop, ev = self._feed, self._loop, self._stop_async
        if feed is not None:
            feed.put(self._wake)
        if loop is not None and ev is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(ev.set)

    def __enter__(self) -> VenusService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the thread -----------------------------------------------------------------------

    def _thread(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # pragma: no cover - logged, the thread must not die silently
            log.exception("Venus OS D-Bus service stopped by an error")
        finally:
            self._published.clear()
            self._first_attempt.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_async = asyncio.Event()
        self._have_snapshot = asyncio.Event()
        if self._worker.stopping.is_set():
            return
        with self.device.subscribe() as feed:
            self._feed = feed
            first = dict(self.device.snapshot or {})
            if first:
                self._latest = first
                self._have_snapshot.set()
            self._refresh()
            pump = asyncio.create_task(self._pump(feed))
            link = asyncio.create_task(self._link())
            try:
                await self._stop_async.wait()
            finally:
                for task in (pump, link):
                    task.cancel()
                await asyncio.gather(pump, link, return_exceptions=True)
                self._feed = None
                bus, self._bus = self._bus, None
                self._published.clear()
                if bus is not None:
                    bus.disconnect()  # gives the name back

    async def _pump(self, feed: WakeableFeed) -> None:
        """Follow the snapshots; refresh the values on each one and when staleness changes."""
        loop = asyncio.get_running_loop()
        stopping = self._worker.stopping
        try:
            while not stopping.is_set():
                snap = await loop.run_in_executor(None, feed.get, POLL_S)
                if snap is self._wake or stopping.is_set():
                    break
                now = self.clock()
                if snap is not None:
                    self._latest, self._last_rx = snap, now
                    assert self._have_snapshot is not None
                    self._have_snapshot.set()
                stale = self._last_rx is None or now - self._last_rx > self.stale_after_s
                if snap is not None or stale != self._stale:
                    self._stale = stale
                    self._refresh()
        finally:  # asked to stop before the stop could reach the loop: end the service too
            if self._stop_async is not None:
                self._stop_async.set()

    def _current(self) -> dict[str, Value]:
        ident = Identity(self.config.device_instance, self.config.product_name,
                         self.custom_name)
        out = identity_values(ident)
        out.update(snapshot_values(self._latest, stale=self._stale,
                                   charge_limit=self.config.charge_limit,
                                   cells=self._cells))
        return out

    def _refresh(self) -> None:
        values = self._current()
        tree, root = self._tree, self._root
        if tree is not None:  # exported (or being exported): its values are always current
            changes = tree.update(values)
            if changes and root is not None and self.published:
                root.ItemsChanged(changes)
                self.signals_sent += 1
        with self._updated:
            self._values = values
            self.updates += 1
            self._updated.notify_all()

    # --- the bus --------------------------------------------------------------------------

    def _new_bus(self) -> MessageBus:
        where = self.config.bus
        if where == "system":
            return MessageBus(bus_type=BusType.SYSTEM)
        if where == "session":
            return MessageBus(bus_type=BusType.SESSION)
        # A GX's D-Bus over TCP takes anonymous clients; a unix socket knows who we are.
        auth: Authenticator | None = AuthAnonymous() if where.startswith("tcp:") else None
        return MessageBus(bus_address=where, auth=auth)

    async def _link(self) -> None:
        """Publish, wait for the bus to go away, and publish again, until stopped."""
        assert self._have_snapshot is not None and self._stop_async is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._have_snapshot.wait(), self.first_snapshot_timeout_s)
        while not self._worker.stopping.is_set():
            bus: MessageBus | None = None
            try:
                bus = await self._publish()
            except Exception as e:  # no bus, refused, name taken: try again later
                self.connect_failures += 1
                if self.connect_failures == 1 or self.connect_failures % 60 == 0:
                    log.warning("Venus OS D-Bus service: cannot publish on %s: %s",
                                self.config.bus, e)
                if bus is not None:
                    bus.disconnect()
                bus = None
            self._first_attempt.set()
            self._bus = bus
            if bus is not None:
                log.info("published %s on the %s bus", self.service_name, self.config.bus)
                try:
                    await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
                except Exception as e:
                    log.warning("Venus OS D-Bus connection lost: %s", e)
                finally:
                    self._published.clear()
                    self._root = None
                    self._bus = None
                if self._worker.stopping.is_set():
                    return
                log.warning("Venus OS D-Bus connection lost; publishing again in %.0f s",
                            self.retry_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_async.wait(), self.retry_s)

    async def _publish(self) -> MessageBus:
        bus = self._new_bus()
        await bus.connect()
        try:
            self._cells = cell_count(self._latest)
            specs = path_specs(self._cells)
            tree = _Tree(specs, {})
            self._tree = tree
            tree.update(self._current())
            root = _Root(tree, "/")
            bus.export("/", root)
            paths = [s.path for s in specs]
            for node in inner_nodes(paths):
                bus.export(node, _Node(tree, node))
            for spec in specs:
                bus.export(spec.path, _Item(tree, spec, self._on_set))
            # every path exists now: only now may clients find the name
            reply = await bus.request_name(self.service_name, NameFlag.DO_NOT_QUEUE)
            if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
                raise RuntimeError(f"the name {self.service_name} is taken ({reply.name})")
        except BaseException:
            bus.disconnect()
            raise
        self._root = root
        self._published.set()
        return bus

    # --- writes ---------------------------------------------------------------------------

    async def _on_set(self, item: _Item, value: Variant) -> int:
        path = item.spec.path
        if path == "/CustomName":
            if value.signature != "s":
                return SET_NOT_WRITEABLE
            name = str(value.value)
            if len(name) > 64:
                return SET_REFUSED
            self.custom_name = name
            item.set_local(name)
            return SET_OK
        if path == "/Mode":
            return await self._set_mode(item, value)
        return SET_NOT_WRITEABLE  # pragma: no cover - every writable path is handled above

    async def _set_mode(self, item: _Item, value: Variant) -> int:
        if value.signature not in _INT_SIGNATURES or value.value not in (MODE_ON, MODE_OFF):
            return SET_NOT_WRITEABLE
        status = self._latest.get("status")
        if not isinstance(status, dict) or status.get("wireless_available") is not True:
            return SET_REFUSED  # remote access is switched off on the device
        mode: Mode = "on" if value.value == MODE_ON else "off"
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(None, self.device.command, SetMode(mode))
        except Exception as e:  # the device is stopping, or did not answer in time
            log.warning("Venus OS: /Mode %s not applied: %s", mode, e)
            return SET_REFUSED
        if not result.accepted:
            return SET_REFUSED
        item.set_local(int(value.value))
        return SET_OK
