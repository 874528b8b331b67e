"""Benchmark: what the Venus OS D-Bus battery service costs - memory and CPU per tick.

A private dbus-daemon, the device of the manual's first example system (real core, digital
twin) ticked by hand, and the service publishing on that bus while a python3-dbus monitor
(the same client the tests use, subscribed to ItemsChanged/PropertiesChanged as a GX is) listens.

1. RSS of this process: after importing everything, then with the service published.
2. Process CPU time per tick (user + system, all threads) over N ticks, with the service
   running and, as the reference in the same run, without it. The difference is the service's
   cost per tick: snapshot -> path values -> one ItemsChanged.

Run: python bench/venus_footprint.py [--ticks N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from smallbms.core.engine import Core
from smallbms.core.types import Decision
from smallbms.integrations.venus.config import VenusConfig
from smallbms.integrations.venus.service import VenusService
from smallbms.scenario import load_scenario
from smallbms.service.device import Device
from smallbms.simulate import initial_persistent
from smallbms.sources.twin import TwinSource

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "system_solar_batteryprotect.toml"
CLIENT = ROOT / "tests" / "integrations" / "venus_client.py"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def device() -> Device:
    scenario = load_scenario(EXAMPLE)
    source = TwinSource(scenario)
    core = Core(scenario.profile, initial_persistent(scenario))

    def obey(d: Decision, c: Core) -> None:
        source.obey(d)

    return Device(core, source, tick_s=1.0, obey=obey)


def per_tick_ms(dev: Device, ticks: int, t0: float, svc: VenusService | None) -> float:
    c0 = cpu_s()
    for i in range(ticks):
        n = svc.updates if svc is not None else 0
        dev.tick(t0 + i + 1.0)
        if svc is not None:  # the service has taken this tick's snapshot (its CPU counts)
            assert svc.wait_update(n, 10.0)
    return (cpu_s() - c0) / ticks * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=2000)
    args = ap.parse_args()
    if shutil.which("dbus-daemon") is None:
        sys.exit("needs dbus-daemon (apt-get install dbus)")
    print(f"load average {os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as d:
        daemon = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile",
             f"--address=unix:path={d}/bus", "--print-address=1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert daemon.stdout is not None
        address = daemon.stdout.readline().strip()
        try:
            dev = device()
            dev.tick(0.0)
            ref = per_tick_ms(dev, args.ticks, 0.0, None)
            base_rss = rss_mb()
            svc = VenusService(dev, VenusConfig(enabled=True, bus=address))
            svc.start()
            assert svc.wait_published(10.0)
            monitor = subprocess.Popen(
                ["/usr/bin/python3", str(CLIENT), address,
                 "com.victronenergy.battery.smallbms", "monitor"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
            time.sleep(1.0)  # let the monitor subscribe (a bench, not a test)
            start_rss = rss_mb()
            with_svc = per_tick_ms(dev, args.ticks, float(args.ticks), svc)
            svc_rss = rss_mb()
            sent = svc.signals_sent
            svc.stop()
            assert monitor.stdin is not None
            monitor.stdin.close()
            monitor.wait(10)
        finally:
            daemon.terminate()
            daemon.wait(10)
    print(f"RSS: {base_rss:.1f} MB after {args.ticks} ticks without the service, "
          f"{start_rss:.1f} MB once it is published, {svc_rss:.1f} MB after {args.ticks} "
          f"ticks with it (+{svc_rss - base_rss:.1f} MB in all)")
    print(f"CPU per tick: {with_svc:.3f} ms with the service, {ref:.3f} ms without "
          f"(service: {with_svc - ref:.3f} ms per tick; {sent} ItemsChanged for "
          f"{args.ticks} ticks)")


if __name__ == "__main__":
    main()
