"""A device process for the kill -9 test: ``python tests/service/crash_child.py DATA_DIR [SEED]``.

Opens the store in DATA_DIR, loads the saved state (or starts from the scenario
``examples/system_solar_batteryprotect.toml`` via ``initial_persistent``), builds a Core, a
TwinSource (its cells set to the SoC the BMS believes, so the twin and the monitor agree) and a
Device (tick 0.1 s, speed 200, the store as sink, a sample every simulated second), then runs
until killed. On the way it changes the discharge floor and the low-SoC warning level between
the pairs in :data:`SETTING_PAIRS` (in an order that keeps warning ≥ floor at every step, so
every intermediate state is valid too) and, rarely, resets the history. Before a reset it
appends a line to ``DATA_DIR/resets.log`` (fsynced), so the test knows a reset may have happened.

stdout: ``READY`` once the first tick is done, then one status line per action:
``S <sim_t_s> <consumed_ah> <samples_enqueued> <synchronisations>``.
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from smallbms.core.engine import Core
from smallbms.core.persist import persistent_from_dict
from smallbms.core.types import ChangeSetting, Decision, ResetHistory
from smallbms.scenario import load_scenario
from smallbms.service.device import Device
from smallbms.service.store import Store
from smallbms.simulate import initial_persistent
from smallbms.sources.twin import TwinSource

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "system_solar_batteryprotect.toml"
DB_NAME = "smallbms.db"
RESETS_LOG = "resets.log"
TICK_S = 0.1
SPEED = 200.0
SAMPLE_EVERY_S = 1.0
#: (discharge floor, low SoC warning) pairs the child switches between, %.
SETTING_PAIRS = ((5.0, 15.0), (10.0, 20.0), (20.0, 30.0))
FLOORS = {f for f, _ in SETTING_PAIRS}
WARNINGS = {w for _, w in SETTING_PAIRS}
RESET_CHANCE = 0.02  # per action


class CountingSink:
    """The store, counting what the device hands it (read by the main thread for reports)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.samples = 0

    def save_state(self, state: dict[str, Any]) -> None:
        self.store.save_state(state)

    def append_sample(self, wall_s: float, sample: dict[str, Any]) -> None:
        self.samples += 1
        self.store.append_sample(wall_s, sample)

    def append_codes(self, events: list[dict[str, Any]]) -> None:
        self.store.append_codes(events)


def change_pair(device: Device, floor: float, warning: float) -> None:
    """Move to (floor, warning) in an order that is valid at every step."""
    cur_floor = device.core.p.settings.discharge_floor_pct
    steps = [("low_soc_warning_pct", warning), ("discharge_floor_pct", floor)]
    if warning < cur_floor:
        steps.reverse()
    for name, value in steps:
        res = device.command(ChangeSetting(name, value))
        if not res.accepted:
            raise SystemExit(f"setting {name}={value} refused: {res.message}")


def main(argv: list[str]) -> int:
    data = Path(argv[1])
    rng = random.Random(int(argv[2]) if len(argv) > 2 else os.getpid())
    scenario = load_scenario(SCENARIO)
    store = Store(data / DB_NAME)
    saved = store.load_state()
    persistent = persistent_from_dict(saved) if saved is not None else initial_persistent(scenario)
    core = Core(scenario.profile, persistent)
    capacity = scenario.bank.model.capacity_ah * scenario.bank.parallel
    if persistent.monitor.soc_known:  # the twin's cells where the monitor believes they are
        soc = min(100.0, max(0.0, 100.0 + persistent.monitor.consumed_ah / capacity * 100.0))
        scenario = dataclasses.replace(scenario, bank=dataclasses.replace(scenario.bank, soc_pct=soc))
    twin = TwinSource(scenario)

    def obey(d: Decision, c: Core) -> None:
        twin.obey(d)

    sink = CountingSink(store)
    device = Device(core, twin, tick_s=TICK_S, speed=SPEED, sink=sink,
                    sample_every_s=SAMPLE_EVERY_S, obey=obey)
    device.start()
    if not device.wait_ready(30.0):
        print("device never became ready", file=sys.stderr)
        return 1
    print("READY", flush=True)
    while True:
        time.sleep(rng.uniform(0.02, 0.2))  # this program's own pace, not synchronisation
        if rng.random() < RESET_CHANCE:
            with open(data / RESETS_LOG, "a") as f:
                f.write(f"{time.time()}\n")
                f.flush()
                os.fsync(f.fileno())
            device.command(ResetHistory())
        else:
            change_pair(device, *rng.choice(SETTING_PAIRS))
        snap = device.snapshot
        print(f"S {snap['t_s']} {snap['status']['consumed_ah']} {sink.samples} "
              f"{snap['history']['synchronisations']}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
