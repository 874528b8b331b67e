"""What ``smallbms run`` needs from a ``[bus]`` table: the source, the profile, what to start.

``[bus] kind = "twin"`` (the default) is not handled here: the service keeps its twin source.
``twin-ble`` runs the scenario's twin behind the Bluetooth decode path; the live buses and a
replay need no scenario (the profile comes from the batteries' model).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smallbms.buses.build import BusHandle, bus_source
from smallbms.buses.config import BusTable
from smallbms.buses.source import BusSource
from smallbms.core.types import Decision, Profile


@dataclass
class RunBus:
    """The device's source on a bus, its profile, what it obeys, its threads, its name."""

    source: BusSource
    profile: Profile
    description: str
    obey: Callable[[Decision], None] | None = None
    handle: BusHandle | None = None
    #: True when the readings come from the scenario's twin (its settings and SoC apply)
    twin: bool = False

    def start(self) -> None:
        if self.handle is not None:
            self.handle.start()

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.stop()


def run_bus(table: BusTable, scenario: object | None = None, *, speed: float = 1.0,
            base: Path | None = None) -> RunBus:
    """The bus of ``table`` for a running device (``scenario``: the twin's, for twin-ble)."""
    if table.kind == "twin":
        raise ValueError("[bus] kind \"twin\" is the service's own twin source")
    if table.kind == "twin-ble":
        from smallbms.buses.twin_ble import TwinBleSource
        from smallbms.scenario import Scenario
        from smallbms.sources.twin import TwinSource

        if not isinstance(scenario, Scenario) or scenario.bank.source != "twin":
            raise ValueError("[bus] kind \"twin-ble\" needs a twin scenario ([run] scenario)")
        twin = TwinSource(scenario)
        twin.remote = scenario.remote
        src = TwinBleSource(twin, table, seed=scenario.seed)
        return RunBus(src, scenario.profile,
                      f"twin-ble: the twin's {len(src.devices) - 1} batteries and shunt over "
                      "Instant Readout", src.obey, twin=True)
    handle = bus_source(table, speed=speed, base=base)
    return RunBus(handle.source, handle.profile, handle.description, None, handle)
