"""Benchmark: what the store costs the tick thread, and how fast the writer empties its queue.

1. The enqueue cost of ``append_sample`` + ``save_state`` (what a tick pays), printed next to
   a reference measured in the same run: a bare ``deque.append`` of the same objects.
2. Writer throughput, one status-sized sample per tick handed over in bursts, with
   ``synchronous=FULL`` (the default) and ``NORMAL``, as a ratio FULL/NORMAL.

Run: python bench/store_write.py [--samples N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any, Literal

from smallbms.core.engine import Persistent
from smallbms.core.persist import persistent_to_dict
from smallbms.service.store import Store


def status(i: int) -> dict[str, Any]:
    return {"powered": True, "mode": "on", "soc_pct": 50.0 + i % 50, "voltage_v": 13.21,
            "current_a": -4.2, "power_w": -55.5, "consumed_ah": -80.1, "time_remaining_s": 36000,
            "min_cell_v": 3.301, "max_cell_v": 3.305, "min_temperature_c": 20.1,
            "max_temperature_c": 20.3, "balancer": "balanced", "allowed_to_charge": True,
            "allowed_to_discharge": True, "charge_reasons": [], "discharge_reasons": [],
            "outputs": {"load_disconnect": "high", "charge_disconnect": "high",
                        "pre_alarm": "floating"}}


def enqueue_ns(n: int) -> tuple[float, float]:
    state = persistent_to_dict(Persistent())
    samples = [status(i) for i in range(n)]
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "b.db", max_queued_samples=n)
        t0 = time.perf_counter_ns()
        for i, s in enumerate(samples):
            store.append_sample(1e9 + i, s)
            store.save_state(state)
        t1 = time.perf_counter_ns()
        store.close()
    ref: deque[Any] = deque()
    t2 = time.perf_counter_ns()
    for i, s in enumerate(samples):
        ref.append((1e9 + i, s))
        ref.append(state)
    t3 = time.perf_counter_ns()
    return (t1 - t0) / n, (t3 - t2) / n


def write_rate(n: int, sync: Literal["NORMAL", "FULL"], burst: int) -> float:
    state = persistent_to_dict(Persistent())
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "b.db", synchronous=sync, max_queued_samples=n)
        t0 = time.perf_counter()
        for i in range(n):
            store.append_sample(1e9 + i, status(i))
            if i % burst == 0:
                store.save_state(state)
                store.flush()  # one transaction per burst, as when the writer keeps up
        store.flush()
        dt = time.perf_counter() - t0
        store.close()
    return n / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=20_000)
    a = ap.parse_args()
    per, ref = enqueue_ns(a.samples)
    print(f"enqueue (sample + state): {per:.0f} ns/tick; bare deque.append: {ref:.0f} ns "
          f"(ratio {per / ref:.1f})")
    for burst in (1, 10):
        full = write_rate(a.samples // (10 if burst == 1 else 1), "FULL", burst)
        normal = write_rate(a.samples // (10 if burst == 1 else 1), "NORMAL", burst)
        print(f"writer, 1 transaction per {burst} sample(s): FULL {full:,.0f}/s, "
              f"NORMAL {normal:,.0f}/s (FULL/NORMAL {full / normal:.2f})")


if __name__ == "__main__":
    main()
