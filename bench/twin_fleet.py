"""Benchmark (d): a fleet of 1,000 single-battery campers (the 3.3.3 design) for 30 days, BMS in
the loop for every system, physics batched (smallbms.sweep.fleet). Target <= 60 s.

Reference measured in the same run: 10 of the systems run one by one through the normal runner
(smallbms.simulate, quiet stretches skipped), extrapolated to 1,000.

Run: python bench/twin_fleet.py [--systems N] [--days D] [--reference R]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import time
from pathlib import Path

from smallbms import scenario as sc
from smallbms.simulate import make_runner
from smallbms.sweep.fleet import run_fleet

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "system_phoenix_inverter.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--systems", type=int, default=1000)
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--reference", type=int, default=10)
    a = ap.parse_args()
    s = dataclasses.replace(sc.load_scenario(EXAMPLE), duration_s=a.days * 86400.0)
    run_fleet(s, 2, duration_s=600.0)  # warm-up: kernel compile/cache load
    t0 = time.perf_counter()
    r = run_fleet(s, a.systems)
    wall = time.perf_counter() - t0
    events = sum(len(e) for e in r.events)
    print(f"fleet: {a.systems} systems x {a.days:g} days: wall {wall:.1f} s, core calls "
          f"{r.core_calls} ({r.core_calls / a.systems:.0f}/system), physics steps "
          f"{r.physics_steps}, component solves {r.resolves}, events {events}")
    t0 = time.perf_counter()
    calls = 0
    for k in range(a.reference):
        one = dataclasses.replace(s, seed=r.seeds[k])
        runner = make_runner(one, io.StringIO(), 3600.0, log=lambda _m: None)
        runner.run()
        calls += runner.core_steps
    ref = (time.perf_counter() - t0) / a.reference * a.systems
    print(f"reference: {a.reference} systems one by one through the runner "
          f"({calls / a.reference:.0f} core calls each), extrapolated to {a.systems}: {ref:.1f} s"
          f"; fleet is {ref / wall:.1f}x faster")
    full = 1000 * 30.0 / (a.systems * a.days)
    if full != 1.0:
        print(f"1,000 systems x 30 days, extrapolated linearly from this run: {wall * full:.0f} s")
    print(f"target <= 60 s for 1,000 x 30 days: {'met' if wall * full <= 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
