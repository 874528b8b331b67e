"""Benchmark: median cost of one core step, for a 1-battery bank and a 50-battery (400-cell) bank.

Targets on the project's 2-core machine: <= 20 us (1 battery) and <= 100 us (50 batteries).
Printed next to a reference measured in the same run: the bare cost of scanning the same cell
voltages with min/max/sum in Python, the least any Python core must do with a reading.

Run: python bench/core_step.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from smallbms.core.engine import Core
from smallbms.core.types import BatteryReport, Reading


def make_readings(model: str, cells: int, series: int, parallel: int, n: int) -> list[Reading]:
    out = []
    nominal = cells * 3.3 * series
    for k in range(n):
        dv = 0.001 * (k % 7)
        reports = tuple(
            BatteryReport(
                serial=f"HQ{i:08d}", model_id=model, firmware="v1.08", series_position=i % series,
                cell_voltages_v=tuple(3.30 + dv + 0.001 * c for c in range(cells)),
                temperature_c=25.0 + 0.1 * (k % 3), current_a=-10.0 - k % 5,
            )
            for i in range(series * parallel)
        )
        out.append(Reading(bank_voltage_v=nominal + dv, batteries=reports,
                           current_a=(-10.0 - k % 5) * parallel))
    return out


def median_us(fn, n: int, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for k in range(n):
            fn(k)
        samples.append((time.perf_counter_ns() - t0) / n / 1000.0)
    return statistics.median(samples)


def bench(label: str, model: str, cells: int, series: int, parallel: int, target_us: float,
          repeat: int) -> None:
    readings = make_readings(model, cells, series, parallel, 64)
    core = Core("ng")
    core.step(readings[0], 0.0)
    t = [1.0]

    def step(k: int) -> None:
        core.step(readings[k & 63], t[0])
        t[0] += 1.0

    def reference(k: int) -> None:
        for r in readings[k & 63].batteries:
            assert r is not None
            c = r.cell_voltages_v
            min(c), max(c), sum(c)

    n = 20000 if series * parallel == 1 else 2000
    step_us = median_us(step, n, repeat)
    ref_us = median_us(reference, n, repeat)
    ok = "meets" if step_us <= target_us else "MISSES"
    print(f"{label:<28} step {step_us:8.2f} us   reference scan {ref_us:7.2f} us   "
          f"ratio {step_us / ref_us:5.1f}x   target <= {target_us:g} us: {ok}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    bench("1 x 12.8/100 (4 cells)", "12.8/100", 4, 1, 1, 20.0, a.repeat)
    bench("50 x 25.6/300 (400 cells)", "25.6/300", 8, 2, 25, 100.0, a.repeat)


if __name__ == "__main__":
    main()
