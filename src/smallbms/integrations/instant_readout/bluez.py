"""The BlueZ broadcaster: the advertisement as a BlueZ LE advertisement over D-Bus.

``dbus-fast`` or ``dbus-next`` is optional and imported only when a broadcaster is made.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any

from smallbms.integrations.instant_readout.broadcaster import Broadcaster, LogBroadcaster
from smallbms.integrations.instant_readout.crypto import COMPANY_ID
from smallbms.worker import Worker

log = logging.getLogger(__name__)

_ADV_PATH = "/org/smallbms/instant_readout0"
_ADV_IFACE = "org.bluez.LEAdvertisement1"
_PROPS_IFACE = "org.freedesktop.DBus.Properties"


class BluezBroadcaster:
    """A BlueZ LE advertisement over D-Bus (``dbus-fast`` or ``dbus-next``, imported lazily).

    UNTESTED HERE: no adapter on the development machines. It registers a non-connectable
    ("broadcast") advertisement object with ``org.bluez.LEAdvertisingManager1`` on the adapter
    and announces new manufacturer data with ``PropertiesChanged``, which BlueZ picks up. It
    needs the system bus, bluetoothd and the right to advertise (root, or a D-Bus policy).
    Use :meth:`create`, which falls back to a :class:`LogBroadcaster` with a warning.
    """

    def __init__(self, adapter: str = "hci0", timeout_s: float = 5.0) -> None:
        self.adapter_path = f"/org/bluez/{adapter}"
        self.timeout_s = timeout_s
        self._dbus = self._import_dbus()
        self._data = b""
        self._registered = False
        self._loop = asyncio.new_event_loop()
        self._worker = Worker("ir-bluez", self._loop.run_forever)
        self._worker.start()
        self._bus: Any = None
        try:
            self._call(self._connect())
        except BaseException:
            self.close()
            raise

    @classmethod
    def create(cls, adapter: str = "hci0") -> Broadcaster:
        """A BlueZ broadcaster, or a logging one (with a warning) when that is not possible."""
        try:
            return cls(adapter)
        except Exception as e:  # no library, no bus, no adapter, not allowed: all mean "log only"
            log.warning("Instant Readout: cannot advertise over BlueZ (%s); only logging frames", e)
            return LogBroadcaster()

    @staticmethod
    def _import_dbus() -> dict[str, Any]:
        for name in ("dbus_fast", "dbus_next"):
            try:
                return {"Message": importlib.import_module(name).Message,
                        "Variant": importlib.import_module(name).Variant,
                        "MessageType": importlib.import_module(f"{name}.constants").MessageType,
                        "BusType": importlib.import_module(f"{name}.constants").BusType,
                        "MessageBus": importlib.import_module(f"{name}.aio").MessageBus}
            except ImportError:
                continue
        raise RuntimeError("neither dbus-fast nor dbus-next is installed")

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout_s)

    def _props(self) -> dict[str, Any]:
        variant = self._dbus["Variant"]
        return {"Type": variant("s", "broadcast"),
                "ManufacturerData": variant("a{qv}", {COMPANY_ID: variant("ay", self._data)})}

    def _handler(self, msg: Any) -> Any:
        d = self._dbus
        if msg.message_type != d["MessageType"].METHOD_CALL or msg.path != _ADV_PATH:
            return None
        if msg.interface == _PROPS_IFACE and msg.member == "GetAll":
            return d["Message"].new_method_return(msg, "a{sv}", [self._props()])
        if msg.interface == _PROPS_IFACE and msg.member == "Get":
            return d["Message"].new_method_return(msg, "v", [self._props()[msg.body[1]]])
        if msg.interface == _ADV_IFACE and msg.member == "Release":
            self._registered = False
            return d["Message"].new_method_return(msg)
        return None

    async def _connect(self) -> None:
        self._bus = await self._dbus["MessageBus"](bus_type=self._dbus["BusType"].SYSTEM).connect()
        self._bus.add_message_handler(self._handler)

    async def _manager(self, member: str, signature: str, body: list[Any]) -> None:
        d = self._dbus
        reply = await self._bus.call(d["Message"](
            destination="org.bluez", path=self.adapter_path,
            interface="org.bluez.LEAdvertisingManager1", member=member,
            signature=signature, body=body))
        if reply.message_type == d["MessageType"].ERROR:
            raise RuntimeError(f"BlueZ {member}: {reply.error_name} {reply.body}")

    async def _send(self, data: bytes) -> None:
        self._data = data
        if not self._registered:
            await self._manager("RegisterAdvertisement", "oa{sv}", [_ADV_PATH, {}])
            self._registered = True
            return
        await self._bus.send(self._dbus["Message"].new_signal(
            _ADV_PATH, _PROPS_IFACE, "PropertiesChanged", "sa{sv}as",
            [_ADV_IFACE, {"ManufacturerData": self._props()["ManufacturerData"]}, []]))

    async def _withdraw(self) -> None:
        if self._registered:
            self._registered = False
            await self._manager("UnregisterAdvertisement", "o", [_ADV_PATH])

    def send(self, data: bytes) -> None:
        self._call(self._send(bytes(data)))

    def withdraw(self) -> None:
        self._call(self._withdraw())

    def close(self) -> None:
        if self._loop.is_running():
            try:
                if self._bus is not None:
                    self._call(self._withdraw())
                    self._bus.disconnect()
            except Exception as e:  # closing is best effort
                log.debug("Instant Readout: BlueZ close: %s", e)
            self._worker.stop(self.timeout_s,
                              wake=lambda: self._loop.call_soon_threadsafe(self._loop.stop))


