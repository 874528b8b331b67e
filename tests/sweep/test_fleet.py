"""A small fleet gives, per system, exactly the events of running that system alone, and seeds
make systems differ."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest

from smallbms import scenario as sc
from smallbms.simulate import run_scenario
from smallbms.sweep.fleet import SAMPLE_INTERVAL_S, run_fleet

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def design() -> sc.Scenario:
    """The 3.3.3 camper for 2 days, started at 30 % so each system meets the discharge floor."""
    s = sc.load_scenario(EXAMPLES / "system_phoenix_inverter.toml")
    return dataclasses.replace(s, duration_s=2 * 86400.0,
                               bank=dataclasses.replace(s.bank, soc_pct=30.0))


def alone(s: sc.Scenario, seed: int) -> list[dict[str, Any]]:
    buf = io.StringIO()
    run_scenario(dataclasses.replace(s, seed=seed), buf, SAMPLE_INTERVAL_S, log=lambda _m: None)
    out = [json.loads(x) for x in buf.getvalue().splitlines()]
    return [e for e in out if e["type"] not in ("sample", "summary")]


@pytest.fixture(scope="module")
def fleet_and_design() -> tuple[Any, sc.Scenario]:
    s = design()
    return run_fleet(s, 5, seeds=[11, 12, 13, 14, 15]), s


def test_each_system_matches_a_single_run(fleet_and_design: tuple[Any, sc.Scenario]) -> None:
    fleet, s = fleet_and_design
    for k, seed in enumerate(fleet.seeds):
        single = alone(s, seed)
        mine = fleet.events[k]
        assert mine == single, seed
        assert any(e.get("code") == "A-B07" for e in mine)


def test_seeds_make_systems_differ(fleet_and_design: tuple[Any, sc.Scenario]) -> None:
    fleet, _ = fleet_and_design
    socs = {sm["twin"]["true_soc_pct"] for sm in fleet.summaries}
    assert len(socs) == len(fleet.seeds)
    times = {tuple(e["t"] for e in ev) for ev in fleet.events}
    assert len(times) > 1
    # quiet stretches skipped: far fewer core calls than seconds
    assert fleet.core_calls < 2 * 86400 * len(fleet.seeds) / 100


def test_same_seeds_same_fleet() -> None:
    s = dataclasses.replace(design(), duration_s=6 * 3600.0)
    a, b = run_fleet(s, 3), run_fleet(s, 3)
    assert a.events == b.events and a.summaries == b.summaries


def test_a_fleet_refuses_what_it_cannot_run() -> None:
    s = design()
    with pytest.raises(ValueError, match="seeds for 2 systems"):
        run_fleet(s, 2, seeds=[1])
    with pytest.raises(ValueError, match="systems must be"):
        run_fleet(s, 0)
