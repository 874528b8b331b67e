"""The bus decode path under load: 50 batteries and a shunt on Victron Instant Readout.

``python bench/bus_decode.py [--seconds S]``

1. Throughput: encrypted adverts (Smart Lithium records under 50 per-device keys, and the
   shunt's battery monitor records) are pushed through exactly what ``smallbms run`` does with a
   received advert: look the device up, decrypt and decode with victron-ble, check freshness
   and plausibility in the gate. Adverts per second on one core, against the rate the real
   devices send (a Victron device puts out about one new record a second; BlueZ may report the
   same advert several times, so the ratio is also given for 10 a second per device).
2. Added latency from advert to decision: one tick's work with the 51 adverts that arrived
   since the last one (decode, gate, reading) plus the core's step on the 50-battery reading,
   median and p99. An advert also waits for the next tick, at most one tick period (1 s by
   default, 0.1 s at the fastest), which this bench does not add.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from smallbms.buses.capture import VICTRON_COMPANY_ID, Advert
from smallbms.buses.config import BusTable
from smallbms.buses.gate import Gate
from smallbms.buses.source import BusSource, ReplayFeed, victron_decoder
from smallbms.buses.twin_ble import SHUNT_ADDRESS, battery_address, device_key
from smallbms.buses.victron import (
    PRODUCT_SMART_LITHIUM,
    PRODUCT_SMARTSHUNT,
    RECORD_BATTERY_MONITOR,
    RECORD_SMART_LITHIUM,
    advert,
    encode_battery_monitor,
    encode_smart_lithium,
)
from smallbms.catalog import get_model
from smallbms.core.engine import Core, Persistent

BATTERIES = 50
MODEL = "12.8/100"  # 50 x 12.8/100 in parallel: a valid NG bank (SPEC 4)


def table() -> BusTable:
    devices = [{"address": battery_address(i), "key": device_key(0, battery_address(i)).hex(),
                "model": MODEL} for i in range(BATTERIES)]
    devices.append({"address": SHUNT_ADDRESS, "role": "shunt",
                    "key": device_key(0, SHUNT_ADDRESS).hex()})
    return BusTable.model_validate({"kind": "victron-ble", "devices": devices})


def adverts(rounds: int) -> list[Advert]:
    """``rounds`` seconds of adverts, one per device a second, values varying."""
    out = []
    for r in range(rounds):
        t = float(r)
        for i in range(BATTERIES):
            cells = [3.30 + 0.01 * ((r + i + c) % 5) for c in range(4)]
            rec = encode_smart_lithium(cells, sum(cells), 20 + (r + i) % 3)
            a = battery_address(i)
            out.append(Advert(t, a, VICTRON_COMPANY_ID,
                              advert(device_key(0, a), r, rec, RECORD_SMART_LITHIUM, PRODUCT_SMART_LITHIUM)))
        rec = encode_battery_monitor(-20.0 + r % 7, 13.2, 80.0)
        out.append(Advert(t, SHUNT_ADDRESS, VICTRON_COMPANY_ID,
                          advert(device_key(0, SHUNT_ADDRESS), r, rec, RECORD_BATTERY_MONITOR,
                                 PRODUCT_SMARTSHUNT)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=60, help="seconds of adverts to decode")
    args = ap.parse_args()
    tab = table()
    model = get_model(MODEL)
    ads = adverts(args.seconds)
    print(f"load average: {os.getloadavg()[0]:.2f}; {len(ads)} adverts "
          f"({BATTERIES} batteries + shunt, {args.seconds} s)")

    victron_decoder(0.0, ads[0], Gate(tab, model))  # warm up (imports, first cipher)
    gate = Gate(tab, model)
    t0 = time.perf_counter()
    for a in ads:
        victron_decoder(a.t, a, gate)
    dt = time.perf_counter() - t0
    assert sum(gate.refused.values()) == 0, gate.refused
    rate = len(ads) / dt
    real = BATTERIES + 1
    print(f"decode path: {rate:,.0f} adverts/s ({dt / len(ads) * 1e6:.1f} µs each)")
    print(f"  real devices: ~{real} adverts/s (1 a second each): ratio {rate / real:,.0f}x")
    print(f"  with every advert reported 10 times a second: ratio {rate / (10 * real):,.0f}x")

    # the same adverts again, as BlueZ reports a device's unchanged advert: not decrypted again
    rep = Gate(tab, model)
    for a in ads[: BATTERIES + 1]:
        victron_decoder(0.0, a, rep)
    repeats = [a for a in ads[: BATTERIES + 1] for _ in range(20)]
    t0 = time.perf_counter()
    for a in repeats:
        victron_decoder(1.0, a, rep)
    dt_rep = time.perf_counter() - t0
    print(f"repeated (unchanged) adverts: {len(repeats) / dt_rep:,.0f} adverts/s "
          f"({dt_rep / len(repeats) * 1e6:.1f} µs each)")

    source = BusSource(Gate(tab, model), ReplayFeed(ads), victron_decoder)
    core = Core("ng", Persistent())
    lat: list[float] = []
    for r in range(args.seconds):
        t1 = time.perf_counter()
        reading = source.reading(float(r))
        core.step(reading, float(r))
        lat.append(time.perf_counter() - t1)
    lat.sort()
    med = statistics.median(lat) * 1e3
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1e3
    print(f"advert to decision (51 adverts decoded + gate + core step, per tick): "
          f"median {med:.2f} ms, p99 {p99:.2f} ms; plus the wait for the next tick (<= tick_s)")


if __name__ == "__main__":
    main()
