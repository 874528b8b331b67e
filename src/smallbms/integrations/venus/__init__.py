"""Venus OS: smallbms as the battery (and the controlling BMS) of a Victron GX device.

What it holds: the ``[venus]`` table (:mod:`.config`), the map from a device snapshot to the
D-Bus paths a GX reads from a battery service (:mod:`.paths`, pure), and the D-Bus service that
exports those paths with Victron's ``com.victronenergy.BusItem`` interface using ``dbus-fast``
(:mod:`.service`, on its own thread and asyncio loop). See docs/venus-os.md.

Importing this package does not import ``dbus-fast``: only :mod:`.service` does.

May import: :mod:`smallbms.model`, :mod:`smallbms.core.types`, :mod:`smallbms.catalog`,
:mod:`smallbms.config` (the table's base), :mod:`smallbms.errors`, :mod:`smallbms.worker`,
:mod:`smallbms.integrations.canbus` (the limits shared with the CAN frames, SPEC 20); never
:mod:`smallbms.service`.
"""

from __future__ import annotations

from smallbms.integrations.venus.config import VenusConfig

__all__ = ["VenusConfig"]
