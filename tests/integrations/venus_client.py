"""An independent D-Bus client for the Venus OS tests, run with Debian's /usr/bin/python3 and its
python3-dbus (not the project's venv, not dbus-fast): it reads a battery service the way a GX's
monitor does and prints what it saw as JSON lines, each value with its D-Bus wire type.

    venus_client.py ADDRESS SERVICE dump          GetItems, then GetValue/GetText on / and every path
    venus_client.py ADDRESS SERVICE set PATH SIG VALUE   SetValue (SIG: i, d or s) -> its answer
    venus_client.py ADDRESS SERVICE monitor       ItemsChanged/PropertiesChanged, one line each,
                                                  after a first {"ready": true}; ends when stdin closes
    venus_client.py ADDRESS SERVICE appear        after {"ready": true}, waits for the name to
                                                  appear and at once lists what GetItems has
"""

import json
import sys
from typing import Any

import dbus  # type: ignore[import-not-found, unused-ignore]
import dbus.mainloop.glib  # type: ignore[import-not-found, unused-ignore]
from gi.repository import GLib  # type: ignore[import-not-found, unused-ignore]

IFACE = "com.victronenergy.BusItem"


def enc(v: Any) -> Any:
    """A D-Bus value as JSON: {"t": wire type, "v": value}."""
    if isinstance(v, dbus.Boolean):
        return {"t": "b", "v": bool(v)}
    if isinstance(v, dbus.Double):
        return {"t": "d", "v": float(v)}
    if isinstance(v, dbus.Int32):
        return {"t": "i", "v": int(v)}
    if isinstance(v, (dbus.Int16, dbus.Int64, dbus.UInt16, dbus.UInt32, dbus.UInt64, dbus.Byte)):
        return {"t": "other-int", "v": int(v)}
    if isinstance(v, dbus.String):
        return {"t": "s", "v": str(v)}
    if isinstance(v, dbus.Dictionary):
        return {"t": "a{" + str(v.signature) + "}", "v": {str(k): enc(x) for k, x in v.items()}}
    if isinstance(v, dbus.Array):
        return {"t": "a" + str(v.signature), "v": [enc(x) for x in v]}
    return {"t": type(v).__name__, "v": repr(v)}


def out(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    address, service, mode = sys.argv[1:4]
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(address)
    if mode == "dump":
        root = bus.get_object(service, "/", introspect=False)
        items = root.GetItems(dbus_interface=IFACE)
        out({"signature": "GetItems", "items": {str(p): {k: enc(x) for k, x in d.items()}
                                                for p, d in items.items()}})
        out({"root_value": enc(root.GetValue(dbus_interface=IFACE))})
        per_path = {}
        for p in items:
            obj = bus.get_object(service, str(p), introspect=False)
            per_path[str(p)] = {"value": enc(obj.GetValue(dbus_interface=IFACE)),
                                "text": str(obj.GetText(dbus_interface=IFACE))}
        out({"paths": per_path})
        dc = bus.get_object(service, "/Dc/0", introspect=False)
        out({"node_value": enc(dc.GetValue(dbus_interface=IFACE))})
    elif mode == "set":
        path, sig, raw = sys.argv[4:7]
        # wrapped in a variant, as a GX's clients send it (SetValue takes a "v")
        value = {"i": lambda s: dbus.Int32(int(s), variant_level=1),
                 "d": lambda s: dbus.Double(float(s), variant_level=1),
                 "s": lambda s: dbus.String(s, variant_level=1)}[sig](raw)
        obj = bus.get_object(service, path, introspect=False)
        out({"set": path, "answer": int(obj.SetValue(value, dbus_interface=IFACE))})
    elif mode == "monitor":
        loop = GLib.MainLoop()

        def items_changed(changes: Any, path: Any = None) -> None:
            out({"signal": "ItemsChanged", "path": str(path),
                 "changes": {str(p): {k: enc(x) for k, x in d.items()}
                             for p, d in changes.items()}})

        def properties_changed(changes: Any, path: Any = None) -> None:
            out({"signal": "PropertiesChanged", "path": str(path),
                 "changes": {str(k): enc(x) for k, x in changes.items()}})

        bus.add_signal_receiver(items_changed, signal_name="ItemsChanged", dbus_interface=IFACE,
                                bus_name=service, path_keyword="path")
        bus.add_signal_receiver(properties_changed, signal_name="PropertiesChanged",
                                dbus_interface=IFACE, bus_name=service, path_keyword="path")

        def stdin_closed(*_: Any) -> bool:
            loop.quit()
            return False

        GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_HUP | GLib.IO_IN, stdin_closed)
        # a round trip to the bus daemon: our match rules are in place once it answers
        bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus").GetId(
            dbus_interface="org.freedesktop.DBus")
        out({"ready": True})
        loop.run()
    elif mode == "appear":
        loop = GLib.MainLoop()

        def owner_changed(owner: Any) -> None:
            if not owner:
                return
            root = bus.get_object(service, "/", introspect=False)
            items = root.GetItems(dbus_interface=IFACE)  # the very first call a GX makes
            out({"appeared": True, "paths": sorted(str(p) for p in items)})
            loop.quit()

        bus.watch_name_owner(service, owner_changed)
        bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus").GetId(
            dbus_interface="org.freedesktop.DBus")
        out({"ready": True})
        loop.run()
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
