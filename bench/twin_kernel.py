"""Throughput of the twin's physics kernel, in cell-steps per second.

Two shapes: (i) one 400-cell bank (25.6/100, 2 in series × 25 in parallel = 50 batteries of 8
cells) and (ii) 1,000 independent single 12.8/100 systems (4 cells each). For each: the fused
Numba kernel stepping many sub-steps per call (the skip-ahead path), the vectorised NumPy kernel,
``BankModel.step`` called once per 1 s tick from Python (the real-time path, Python overhead
included), and as the reference measured in the same run a naive pure-Python per-cell loop
(the same arithmetic run by the interpreter). Run: ``python bench/twin_kernel.py``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

from smallbms.twin import cell as kernel
from smallbms.twin.bank import BankModel

TARGET_CELL_STEPS_PER_S = 4e8
REPEATS = 3


def _best_time(fn: Callable[[], None], repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _shapes() -> dict[str, Callable[[], BankModel]]:
    return {
        "one bank, 400 cells (50 x 8)": lambda: BankModel(
            "25.6/100", 2, 25, soc_pct=50, temperature_c=25, seed=1, max_substep_s=1.0
        ),
        "1,000 systems x 4 cells": lambda: BankModel(
            "12.8/100", 1, 1, soc_pct=50, temperature_c=25, seed=1, systems=1000,
            max_substep_s=1.0,
        ),
    }


def _kernel_rate(make: Callable[[], BankModel], fn: kernel.AdvanceFn, n_sub: int) -> float:
    bank = make()
    cells = bank.systems * bank.topology.total_cells
    current = np.full(bank.systems, -0.2 * bank.nominal_capacity_ah)
    fn(bank._state, bank.topology, bank._k, 1.0, 1, current)  # warm-up / compile

    def run() -> None:
        fn(bank._state, bank.topology, bank._k, 1.0, n_sub, current)

    return cells * n_sub / _best_time(run)


def _step_rate(make: Callable[[], BankModel], n_calls: int) -> float:
    bank = make()
    cells = bank.systems * bank.topology.total_cells
    current = -0.2 * bank.nominal_capacity_ah
    bank.step(1.0, current)

    def run() -> None:
        for _ in range(n_calls):
            bank.step(1.0, current)

    return cells * n_calls / _best_time(run)


def main() -> None:
    print(f"twin kernel benchmark — {os.cpu_count()} CPUs, numba: {kernel.NUMBA_AVAILABLE}")
    print(f"target: {TARGET_CELL_STEPS_PER_S:.1e} cell-steps/s\n")
    for name, make in _shapes().items():
        cells = make().systems * make().topology.total_cells
        naive = _kernel_rate(make, kernel.advance_python, max(1, 20_000 // cells))
        rows: list[tuple[str, float]] = []
        if kernel.NUMBA_AVAILABLE:
            rows.append(("numba fused kernel (many sub-steps per call)",
                         _kernel_rate(make, kernel.advance_numba, max(1, 200_000_000 // cells))))
        rows.append(("numpy vectorised kernel",
                     _kernel_rate(make, kernel.advance_numpy, max(1, 4_000_000 // cells))))
        rows.append(("BankModel.step(1 s) per call from Python",
                     _step_rate(make, max(1, 8_000_000 // cells))))
        rows.append(("naive pure-Python per-cell loop (reference)", naive))
        print(f"{name}  ({cells} cells)")
        for label, rate in rows:
            print(f"  {label:<46} {rate:12.3e} cell-steps/s  x{rate / naive:10.1f} vs naive")
        print()


if __name__ == "__main__":
    main()
