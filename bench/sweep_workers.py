"""Benchmark: the same sweep on a local Dask cluster of 1 and of 2 worker processes, and
serially in this process (the reference), with the speed-up and a check that all three give the
same rows.

The sweep is the manual's system 3.3.1 over battery x solar (``--variants`` combinations of
``--days`` days each). Each Dask run starts its own cluster, and the time includes starting it
(worker processes import smallbms and load the compiled kernel from Numba's cache), as a user
of ``smallbms sweep`` waits for it.

Run: python bench/sweep_workers.py [--days D] [--variants N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from smallbms.sweep.run import run_sweep
from smallbms.sweep.spec import load_sweep

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "system_solar_batteryprotect.toml"
BATTERIES = ["12.8/100", "12.8/150", "12.8/200", "12.8/300"]
SOLAR_W = [100, 200, 300, 400, 600, 800]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--variants", type=int, default=8, help="battery x solar combinations")
    a = ap.parse_args()
    n_solar = max(1, a.variants // len(BATTERIES))
    n_bat = min(len(BATTERIES), a.variants)
    print(f"sweep bench: {n_bat * n_solar} variants x {a.days:g} days; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sweep.toml"
        path.write_text(
            f'base = "{EXAMPLE}"\nduration = {a.days * 86400.0}\n'
            f'[[axis]]\nkey = "battery"\nvalues = {BATTERIES[:n_bat]!r}\n'
            f'[[axis]]\nkey = "peak_w"\nvalues = {SOLAR_W[:n_solar]!r}\n'.replace("'", '"'),
            encoding="utf-8")
        sweep = load_sweep(path)
        walls: dict[str, float] = {}
        rows = {}
        for label, kw in (("serial (reference)", {"serial": True}),
                          ("dask, 1 worker", {"workers": 1}),
                          ("dask, 2 workers", {"workers": 2})):
            t0 = time.perf_counter()
            out = run_sweep(sweep, Path(tmp) / label.replace(" ", "_"), **kw)
            walls[label] = time.perf_counter() - t0
            rows[label] = [{k: v for k, v in r.items()} for r in out.rows]
            print(f"  {label:<20} {walls[label]:7.1f} s")
    same = all(r == rows["serial (reference)"] for r in rows.values())
    print(f"  speed-up 1 -> 2 workers: {walls['dask, 1 worker'] / walls['dask, 2 workers']:.2f}x;"
          f" 2 workers vs serial: {walls['serial (reference)'] / walls['dask, 2 workers']:.2f}x")
    print(f"  rows identical in all three: {same}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
