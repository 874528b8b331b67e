"""A fleet: N independent systems of one design, each with its own seed (cell spread, serials,
clouds) and its own BMS core, each run as the single run it is.

Each system is :func:`smallbms.simulate.run_scenario` on the design with the system's seed, so
its events are exactly the ones of running that system alone (tests/sweep/test_fleet.py), and
it skips its quiet stretches in the twin's compiled quiet loop
(:mod:`smallbms.sources.quiet_loop`).

Until that loop existed, this module batched the systems' cells along the twin's ``systems``
axis and stepped them together on a 10 s grid, handing a system to its core when it left its
quiet region. That moved event times by up to two grid steps (20 s), and once quiet stretches
ran compiled it was also the slower way: 100 campers for 10 days took 33.0 s batched against
11.3 s one by one (bench/README.md). A fleet too big for one process is a sweep over seeds
(``smallbms sweep``, on Dask).

Scenario events (faults, operator actions) are not supported in a fleet: every system runs
the design undisturbed.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smallbms import scenario as sc
from smallbms.simulate import make_runner

#: Samples are not kept: the sample interval of a fleet's runs, s (a tick at least daily; an
#: hourly one made half the ticks of a camper's year, 15,005 against 7,165, and 2x its time).
SAMPLE_INTERVAL_S = 86_400.0


@dataclass
class FleetResult:
    """Per-system JSON-Lines-compatible event dicts (output/code/LED changes, in order), the
    per-system summary lines, the seeds, and the core calls of all systems together."""

    events: list[list[dict[str, Any]]]
    summaries: list[dict[str, Any]]
    seeds: list[int]
    core_calls: int


def run_fleet(s: sc.Scenario, systems: int, seeds: Sequence[int] | None = None,
              duration_s: float | None = None) -> FleetResult:
    """Run ``systems`` copies of twin scenario ``s`` (seeds ``seeds``, default ``s.seed + k``)
    for ``duration_s`` (default the scenario's), BMS in the loop for each."""
    if s.bank.source != "twin":
        raise ValueError("a fleet needs a twin scenario")
    if s.events:
        raise ValueError("a fleet runs without scenario events (faults or actions)")
    if systems < 1:
        raise ValueError("systems must be >= 1")
    chosen = list(seeds) if seeds is not None else [s.seed + k for k in range(systems)]
    if len(chosen) != systems:
        raise ValueError(f"got {len(chosen)} seeds for {systems} systems")
    if duration_s is not None:
        s = dataclasses.replace(s, duration_s=duration_s)
    events: list[list[dict[str, Any]]] = []
    summaries: list[dict[str, Any]] = []
    calls = 0
    for seed in chosen:
        out = io.StringIO()
        runner = make_runner(dataclasses.replace(s, seed=seed), out, SAMPLE_INTERVAL_S,
                             log=lambda _m: None)
        runner.run()
        calls += runner.core_steps
        lines = [json.loads(x) for x in out.getvalue().splitlines()]
        events.append([e for e in lines if e["type"] not in ("sample", "summary")])
        summaries.append(lines[-1])
    return FleetResult(events, summaries, chosen, calls)
