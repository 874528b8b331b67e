"""End to end on ``twin-ble``: the twin's batteries and shunt broadcast encrypted records with
their own keys, victron-ble decodes them, the gate builds the reading, the real core decides.
Device time only (the device's tick is called with simulated times; no wall clock)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smallbms.buses.twin_ble import SHUNT_ADDRESS, TwinBleSource, battery_address
from smallbms.core.engine import Core
from smallbms.core.types import Decision
from smallbms.scenario import load_scenario
from smallbms.service.device import Device
from smallbms.simulate import initial_persistent
from smallbms.sources.twin import TwinSource

BANK = Path(__file__).parent / "data" / "twin_ble_bank.toml"
TICK = 0.5


def rig() -> tuple[Device, TwinBleSource, TwinSource]:
    scenario = load_scenario(BANK)
    twin = TwinSource(scenario)
    source = TwinBleSource(twin, seed=scenario.seed)
    core = Core(scenario.profile, initial_persistent(scenario))

    def obey(d: Decision, c: Core) -> None:
        source.obey(d)

    return Device(core, source, tick_s=TICK, obey=obey), source, twin


def codes(snap: dict[str, Any]) -> set[str]:
    return {c["code"] for c in snap["active_codes"]}


def run_until(dev: Device, t0: float, t1: float) -> list[tuple[float, Decision]]:
    out = []
    n = round(t0 / TICK)
    while n * TICK <= t1 + 1e-9:
        out.append((n * TICK, dev.tick(n * TICK)))
        n += 1
    return out


def test_each_device_has_its_own_key() -> None:
    _, source, _ = rig()
    keys = [d.key for d in source.devices]
    assert len(set(keys)) == len(keys) == 3
    assert {d.address for d in source.devices} == {battery_address(0), battery_address(1), SHUNT_ADDRESS}


def test_values_on_the_device_equal_the_twins_within_the_records_resolution() -> None:
    dev, source, twin = rig()
    run_until(dev, 0.0, 20.0)
    snap = dev.snapshot
    truth = twin.reading(20.0)  # the twin at the last tick's time (no further advance)
    assert len(snap["batteries"]) == 2
    for shown, real in zip(snap["batteries"], truth.batteries, strict=True):
        assert real is not None
        assert shown["reporting"]
        for a, b in zip(shown["cell_voltages_v"], real.cell_voltages_v, strict=True):
            assert abs(a - b) <= 0.005 + 1e-6  # 0.01 V steps
        assert abs(shown["temperature_c"] - real.temperature_c) <= 0.5 + 1e-6  # 1 °C steps
    assert truth.current_a is not None
    assert abs(snap["status"]["current_a"] - truth.current_a) <= 0.0005 + 0.05  # 1 mA, shown 0.1 A
    assert source.gate.refused == {}
    assert codes(snap) == set()
    assert snap["status"]["outputs"]["load_disconnect"] == "high"


def test_w_b05_5_s_after_the_last_message_and_a_b05_30_s_later_on_a_bus() -> None:
    # SPEC 6 and 19: the gate keeps the last message fresh for 3 s, but the comms-lost timer
    # runs from the message itself (Reading.data_age_s), so the 3 s are not added to the 5 s
    dev, source, _ = rig()
    run_until(dev, 0.0, 20.0)
    assert codes(dev.snapshot) == set()
    source.silence(battery_address(1))
    last_advert = 20.0  # its last advert went out at the tick at 20 s
    ticks = run_until(dev, 20.5, 80.0)
    incomplete = next(t for t, _ in ticks if source.gate.fresh_batteries(t)[1] is None)
    assert last_advert + 3.0 < incomplete <= last_advert + 3.0 + TICK  # stale after 3 s
    raised = {e.code: e.t_s for _, d in ticks for e in d.events if e.state == "active"}
    assert raised["W-B05"] == last_advert + 5.0  # not 5 s after the last fresh tick
    assert raised["A-B05"] == last_advert + 35.0
    after = {t: d for t, d in ticks}
    assert after[raised["A-B05"]].load_disconnect == "floating"
    source.resume(battery_address(1))
    back = run_until(dev, 80.5, 90.0)
    cleared = {e.code for _, d in back for e in d.events if e.state == "cleared"}
    assert {"W-B05", "A-B05"} <= cleared
    assert codes(dev.snapshot) == set()
    assert back[-1][1].load_disconnect == "high"


def test_silent_shunt_makes_the_reading_incomplete() -> None:
    dev, source, _ = rig()
    run_until(dev, 0.0, 10.0)
    source.silence(SHUNT_ADDRESS)
    ticks = run_until(dev, 10.5, 20.0)
    raised = {e.code for _, d in ticks for e in d.events if e.state == "active"}
    assert "W-B05" in raised
