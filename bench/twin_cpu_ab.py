"""A/B benchmark of the twin with the BMS in the loop: CPU seconds of the same runs with this
tree's ``src`` and with another copy of the package (the baseline), alternated so that both see
the same machine load, plus a hash of the event log of each run (the two must be equal: a speed
change must not move an event).

CPU time (``time.process_time``) rather than wall time, because this 2-core machine is shared:
at a load average of 8 a run waits for a core four times as long as it computes.

Cases: (b) the 1 x 12.8/200 camper and (c) the 50 x 25.6/300 bank of ``twin_year.py``.

Make a baseline with, for example, ``git archive HEAD src | tar -x -C /tmp/base`` (or a copy of
``src`` with the files under test put back), then:

    python bench/twin_cpu_ab.py --baseline /tmp/base/src [--days-b 10] [--days-c 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
YEAR_DAYS = 365.0

CHILD = r"""
import dataclasses, hashlib, io, sys, time
sys.path.insert(0, {root!r})
from bench.twin_year import BIG, CAMPER
from smallbms import scenario as sc
from smallbms.simulate import make_runner
for label, text, days in (("b", CAMPER, {days_b}), ("c", BIG, {days_c})):
    s = dataclasses.replace(sc.parse_scenario(text), duration_s=days * 86400.0)
    warm = dataclasses.replace(s, duration_s=3600.0)
    make_runner(warm, io.StringIO(), 3600.0, log=lambda m: None).run()
    out = io.StringIO()
    r = make_runner(s, out, 3600.0, log=lambda m: None)
    t = time.process_time()
    r.run()
    cpu = time.process_time() - t
    print(label, cpu, hashlib.sha1(out.getvalue().encode()).hexdigest()[:12])
"""


def _run(src: Path, days_b: float, days_c: float) -> dict[str, tuple[float, str]]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = CHILD.format(root=str(ROOT), days_b=days_b, days_c=days_c)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    res: dict[str, tuple[float, str]] = {}
    for line in out.splitlines():
        label, cpu, digest = line.split()
        res[label] = (float(cpu), digest)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--baseline", type=Path, required=True, help="the baseline's src directory")
    ap.add_argument("--days-b", type=float, default=10.0)
    ap.add_argument("--days-c", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--candidate", type=Path, default=ROOT / "src",
                    help="the src directory under test (default: this tree's)")
    a = ap.parse_args()
    here = a.candidate
    print(f"twin A/B, CPU seconds; load average {os.getloadavg()[0]:.1f}")
    cpu: dict[tuple[str, str], list[float]] = {}
    digests: dict[tuple[str, str], set[str]] = {}
    for _ in range(a.rounds):
        for name, src in (("baseline", a.baseline), ("candidate", here)):
            for label, (t, digest) in _run(src, a.days_b, a.days_c).items():
                cpu.setdefault((name, label), []).append(t)
                digests.setdefault((name, label), set()).add(digest)
    for label, days in (("b", a.days_b), ("c", a.days_c)):
        base = statistics.median(cpu[("baseline", label)])
        now = statistics.median(cpu[("candidate", label)])
        same = digests[("baseline", label)] == digests[("candidate", label)]
        print(f"  ({label}) {days:g} days: baseline {base:.2f} s, candidate {now:.2f} s "
              f"({base / now:.2f}x); a year: {base * YEAR_DAYS / days:.0f} s -> "
              f"{now * YEAR_DAYS / days:.0f} s CPU; same events: {same}")
    print(f"  load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
