"""Benchmark: one simulated year of the twin with the BMS in the loop (sample interval 1 h).

(b) 1 x 12.8/200 camper (solar, inverter, DC loads): target <= 5 s (issue 14).
(c) 50 x 25.6/300 bank (2 series x 25 parallel) with proportionate solar, loads and an AC
    charger: target <= 60 s (issue 14).
Reference measured in the same run: the same scenario with skip=False (the core called every
second) for 1 simulated day ((b)) or 2 hours ((c), --ref-hours), extrapolated to a year. Also
the published per-cell-step costs of PyBaMM's Thevenin model (~0.8 ms per cell-step, stepped
once per second) and liionpack (~10^3 cell-steps/s), turned into what a year of that bank would cost.

Run: python bench/twin_year.py [--case b|c|both] [--days D]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import time

from smallbms import scenario as sc
from smallbms.simulate import make_runner

YEAR_S = 365 * 86400.0

CAMPER = """
name = "bench: camper year"
duration = "365d"
seed = 1
[bank]
battery = "12.8/200"
soc_pct = 70
temperature_c = 15
source = "twin"
[[component]]
kind = "solar"
peak_w = 300
latitude = 50
start_day = 1
max_current_a = 20
[[component]]
kind = "inverter"
profile = "camper_evening"
[[component]]
kind = "dc_load"
profile = "fridge"
"""

BIG = """
name = "bench: 50 x 25.6/300 year"
duration = "365d"
seed = 2
[bank]
battery = "25.6/300"
series = 2
parallel = 25
soc_pct = 70
temperature_c = 20
source = "twin"
[[component]]
kind = "solar"
peak_w = 60000
latitude = 45
start_day = 1
[[component]]
kind = "inverter"
profile = "cabin_day"
[[component]]
kind = "dc_load"
current_a = 20
[[component]]
kind = "ac_charger"
current_a = 400
on = [["10d", "12d"], ["100d", "101d"], ["300d", "303d"]]
"""
# the built-in cabin_day profile peaks at 400 W; scale it for a 380 kWh bank via a power load
BIG = BIG.replace('profile = "cabin_day"', "power_w = 6000")


def run(s: sc.Scenario, skip: bool) -> tuple[float, int]:
    runner = make_runner(s, io.StringIO(), 3600.0, log=lambda _m: None, skip=skip)
    t0 = time.perf_counter()
    runner.run()
    return time.perf_counter() - t0, runner.core_steps


def bench(label: str, text: str, target_s: float, days: float, ref_hours: float) -> None:
    s = sc.parse_scenario(text)
    s = dataclasses.replace(s, duration_s=days * 86400.0)
    wall, steps = run(s, True)
    scale = YEAR_S / s.duration_s
    year = wall * scale
    cells = s.bank.battery_count * s.bank.model.cells_in_series
    print(f"{label}: {days:g} simulated days in {wall:.1f} s wall "
          f"(year: {year:.1f} s{' extrapolated' if scale != 1 else ''}), "
          f"{s.duration_s / wall:,.0f} simulated s per wall s, core steps {steps}")
    one = dataclasses.replace(s, duration_s=ref_hours * 3600.0)
    dense, dsteps = run(one, False)
    dense_year = dense * YEAR_S / one.duration_s
    print(f"  reference skip=False (core every second), {ref_hours:g} h: {dense:.1f} s "
          f"({dsteps} core steps) -> year {dense_year:,.0f} s; skipping is "
          f"{dense_year / year:.0f}x faster")
    cell_steps = cells * YEAR_S
    print(f"  {cells} cells: PyBaMM Thevenin at ~0.8 ms/cell-step: {cell_steps * 0.8e-3:,.0f} s"
          f" ({cell_steps * 0.8e-3 / 86400:,.0f} days); liionpack at ~1e3 cell-steps/s: "
          f"{cell_steps / 1e3:,.0f} s")
    print(f"  target <= {target_s:g} s: {'met' if year <= target_s else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--case", choices=("b", "c", "both"), default="both")
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--ref-hours", type=float, default=None,
                    help="length of the skip=False reference run (default: 24 h for (b), "
                         "2 h for (c), whose every-second run costs ~4 ms a step)")
    a = ap.parse_args()
    if a.case in ("b", "both"):
        bench("(b) 1 x 12.8/200 camper", CAMPER, 5.0, a.days, a.ref_hours or 24.0)
    if a.case in ("c", "both"):
        bench("(c) 50 x 25.6/300 bank", BIG, 60.0, a.days, a.ref_hours or 2.0)


if __name__ == "__main__":
    main()
