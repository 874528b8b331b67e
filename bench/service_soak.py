"""Soak: does the running device's memory stay flat over an hour of accelerated operation?

The real service (built-in twin, SQLite store with ``synchronous=FULL``, PIN sessions, the
FastAPI app under uvicorn, start-up heap frozen as ``serve()`` does) runs in a CHILD PROCESS at
``--speed`` (default 240: an hour of wall time is ten days of bank time, with every tick a
stored sample) and a 100 ms tick, while a handful of clients use it the whole time from a
load-generator process: SSE streams, pollers that ask every second, and a writer that changes a
setting now and then. Every ``--sample-every`` seconds the parent records the child's resident
memory (VmRSS from /proc), its thread count and open file descriptors, the database files' size
and row counts, and asks the child for Python-level counts: objects the collector tracks outside
the frozen start-up heap (``len(gc.get_objects())``), pymalloc blocks in use
(``sys.getallocatedblocks()``, which also counts untracked objects such as floats) and the
tick counters.

"Memory flat": after the warm-up (the first ``--warmup-fraction`` of the run), a least-squares
line through RSS against time gives the slope in MB per hour, and the growth is the RSS at the
end minus the RSS at the end of the warm-up. Targets: slope < 5 MB/h and growth < 5 % of the
RSS at the end of the warm-up (see ``TARGET_*`` for why).

Run: python bench/service_soak.py [--minutes 60] [--speed 240] [--json FILE]
     (``--json`` writes the reliability part "soak")
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import ctypes.util
import gc
import json
import math
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.reliability_part import PartTimer  # noqa: E402

from bench.service_load import (  # noqa: E402
    Child,
    ClientSummary,
    Generators,
    finite,
    login,
    pct,
    start_server,
)

# Why these targets: the soak's hour holds 36,000 ticks (ten hours of ticks at the product's
# 1 s default), 36,000 stored samples (ten days at one per 10 s is 86,400: the same order) and
# tens of thousands of requests and stream events. A leak of 150 bytes per tick, or per
# request, would show as 5 MB/h; the known bounded growth (TickStats keeps up to 100,000 tick
# latencies, about 3 MB; SQLite's page caches, 2 MB per connection) stays below it. 5 % of RSS
# is the same bound as a share: on a 512 MB board the service may use ~100 MB and must not
# double in a month of real time.
TARGET_SLOPE_MB_PER_H = 5.0
TARGET_GROWTH_PCT = 5.0
#: the web server's worker threads come and go; one client connection per client may be
#: between a close and a reconnect when a sample is taken
THREADS_SLACK = 2
DEFAULT_SPEED = 240.0
DEFAULT_TICK_S = 0.1
TOP_TYPES = 8
#: how long a probe waits for the rows the parent counted in the file to be in the counters
PROBE_WAIT_S = 30.0


# --- the server process ---------------------------------------------------------------------


def type_counts() -> dict[str, int]:
    """Objects the collector tracks outside the frozen heap, by type name."""
    c = collections.Counter(type(o).__name__ for o in gc.get_objects())
    return dict(c.most_common(200))


def sqlite_memory_used() -> Callable[[], int] | None:
    """SQLite's own count of the heap memory it holds in this process (page caches,
    statements), from the library the ``sqlite3`` module is linked against; None if it cannot
    be found."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
        fn = lib.sqlite3_memory_used
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_int64
    fn.argtypes = []
    return lambda: int(fn())


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def malloc_info() -> Callable[[], tuple[float, float]] | None:
    """glibc's heap (all arenas): (MB in use, MB free but kept), or None off glibc. RSS that
    grows while "in use" does not is memory malloc keeps after transient peaks, not a leak."""
    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    fn.argtypes = []

    def read() -> tuple[float, float]:
        m = fn()
        return (m.uordblks + m.hblkhd) / 1e6, m.fordblks / 1e6

    return read


#: bytes one kept tick latency takes: a float object (24) and its list slot (8)
LATENCY_BYTES = 32


def serve_child(tick_s: float, speed: float, data: Path, out: IO[str]) -> None:
    """The device and API with nothing recorded per request or per tick beyond what the
    product keeps (unlike the load bench's child, whose lists would grow over an hour).

    stdin lines: ``probe N`` answers the counters once at least N samples are counted as
    written (N is the row count the parent has just read from the file), ``types`` the
    tracked objects by type, ``quit`` (or end of input) stops everything.
    """

    def say(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    srv = start_server(tick_s, speed, data, heap_freeze=True)
    device, store, auth = srv.device, srv.store, srv.auth
    sqlite_used = sqlite_memory_used()
    malloc_now = malloc_info()
    say({"port": srv.port, "pin": srv.pin, "pid": os.getpid()})
    lat_index = 0
    try:
        for line in sys.stdin:
            cmd, _, arg = line.strip().partition(" ")
            if cmd == "probe":
                # a batch the parent has already seen in the file may still be on its way into
                # the counters (committed, not yet counted): wait for it, report a timeout
                seen = int(arg or 0)
                deadline = time.monotonic() + PROBE_WAIT_S
                while store.stats.samples_written < seen and time.monotonic() < deadline:
                    time.sleep(0.005)
                counted = store.stats.samples_written >= seen
                st = device.stats
                lat = st.latencies_s[lat_index:]
                slow = [(lat_index + i, round(x * 1e3, 1)) for i, x in enumerate(lat) if x > tick_s]
                lat_index += len(lat)
                ss = store.stats
                say({
                    "ticks": st.ticks, "missed": st.missed, "sim_t_s": device.snapshot.get("t_s"),
                    "tick_p99_ms": pct(lat, 99) * 1e3 if lat else None,
                    "tick_max_ms": max(lat) * 1e3 if lat else None, "tick_latencies": len(lat),
                    "slow_ticks": slow[:20],
                    "gc_objects": len(gc.get_objects()), "gc_frozen": gc.get_freeze_count(),
                    "allocated_blocks": sys.getallocatedblocks(),
                    "sqlite_mb": sqlite_used() / 1e6 if sqlite_used is not None else None,
                    "latencies_mb": len(st.latencies_s) * LATENCY_BYTES / 1e6,
                    "malloc_mb": malloc_now() if malloc_now is not None else (None, None),
                    "store_queue": ss.queue_depth, "rows_counted": counted,
                    "samples_written": ss.samples_written,
                    "samples_dropped": ss.samples_dropped, "states_written": ss.states_written,
                    "codes_written": ss.codes_written, "write_errors": ss.write_errors,
                    "sessions": auth.session_count, "streams": len(getattr(device, "_subs", ())),
                    "active_codes": [c["code"] for c in device.snapshot.get("active_codes", [])],
                })
            elif cmd == "types":
                say(type_counts())
            elif cmd == "quit":
                break
    finally:
        srv.stop()


# --- what the parent reads ------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (MB) and Threads of a process, from /proc/PID/status."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024.0
        elif key == "Threads":
            out[key] = int(value)
    return out


def db_figures(db: Path) -> dict[str, float]:
    """Size of the database and its WAL (MB), and the row counts, read-only from outside."""
    size = sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())
    out: dict[str, float] = {"db_mb": size / 1e6}
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as c:
        out["raw_rows"] = c.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        out["hourly_rows"] = c.execute("SELECT COUNT(*) FROM samples_hourly").fetchone()[0]
    return out


def fit_slope(ts: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys against ts; NaN with fewer than two distinct times."""
    if len(ts) < 2:
        return math.nan
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    den = sum((t - mt) ** 2 for t in ts)
    if den == 0:
        return math.nan
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / den


SAMPLE_COLUMNS = ("t_s", "rss_mb", "gc_objects", "allocated_blocks", "threads", "fds", "db_mb",
                  "raw_rows", "ticks", "missed", "sqlite_mb", "latencies_mb", "malloc_in_use_mb",
                  "malloc_free_mb")


def opt_round(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def analyse(samples: list[dict[str, Any]], warmup_s: float) -> dict[str, Any]:
    """Slopes and growth after the warm-up (the figures the targets are checked on)."""
    after = [s for s in samples if s["t_s"] >= warmup_s] or samples[-1:]
    ts = [s["t_s"] / 3600.0 for s in after]
    first, last = after[0], samples[-1]

    def slope(key: str) -> float:
        return fit_slope(ts, [float(s[key]) for s in after])

    rss0 = float(first["rss_mb"])
    growth = float(last["rss_mb"]) - rss0
    return {
        "samples_after_warmup": len(after),
        "rss_mb_at_warmup_end": round(rss0, 2), "rss_mb_at_end": round(float(last["rss_mb"]), 2),
        "rss_mb_max": round(max(float(s["rss_mb"]) for s in samples), 2),
        "rss_growth_mb": round(growth, 2),
        "rss_growth_pct": finite(100.0 * growth / rss0 if rss0 > 0 else math.nan, 2),
        "rss_slope_mb_per_h": finite(slope("rss_mb")),
        # bounded growth (caches filling up) slows down; a leak keeps its pace
        "rss_slope_last_half_mb_per_h": finite(fit_slope(
            ts[len(ts) // 2:], [float(s["rss_mb"]) for s in after[len(ts) // 2:]])),
        "gc_objects_slope_per_h": whole(slope("gc_objects")),
        "allocated_blocks_slope_per_h": whole(slope("allocated_blocks")),
        "gc_objects_at_warmup_end": first["gc_objects"], "gc_objects_at_end": last["gc_objects"],
        "allocated_blocks_at_warmup_end": first["allocated_blocks"],
        "allocated_blocks_at_end": last["allocated_blocks"],
        "db_mb_slope_per_h": finite(slope("db_mb")),
        # two parts of the RSS that grow by design up to a bound: SQLite's page caches (about
        # 2 MB per connection) and the tick latencies TickStats keeps (up to 100,000)
        "sqlite_mb_at_warmup_end_and_end": [first["sqlite_mb"], last["sqlite_mb"]],
        "sqlite_mb_slope_per_h": finite(slope("sqlite_mb")) if last["sqlite_mb"] is not None else None,
        "latencies_mb_slope_per_h": finite(slope("latencies_mb")),
        "malloc_in_use_mb_at_warmup_end_and_end": [first["malloc_in_use_mb"], last["malloc_in_use_mb"]],
        "malloc_free_mb_at_warmup_end_and_end": [first["malloc_free_mb"], last["malloc_free_mb"]],
        "malloc_in_use_mb_slope_per_h": (finite(slope("malloc_in_use_mb"))
                                         if last["malloc_in_use_mb"] is not None else None),
        "threads_min_max": [min(s["threads"] for s in after), max(s["threads"] for s in after)],
        "fds_min_max": [min(s["fds"] for s in after), max(s["fds"] for s in after)],
        # worker threads and client connections come and go; a leak shows as a higher
        # ceiling in the second half of the run than in the first
        "threads_max_first_last_half": halves_max(after, "threads"),
        "fds_max_first_last_half": halves_max(after, "fds"),
        "missed_after_warmup": last["missed"] - first["missed"],
        "ticks_after_warmup": last["ticks"] - first["ticks"],
    }


def whole(x: float) -> int | None:
    return round(x) if math.isfinite(x) else None


def halves_max(rows: list[dict[str, Any]], key: str) -> list[int]:
    """The maximum of ``key`` over the first and over the second half of ``rows``."""
    mid = max(1, len(rows) // 2)
    return [max(int(r[key]) for r in rows[:mid]), max(int(r[key]) for r in rows[mid:] or rows[-1:])]


def type_growth(a: dict[str, int], b: dict[str, int]) -> list[tuple[str, int]]:
    """The types whose tracked-object count grew most from ``a`` to ``b``."""
    d = [(k, b.get(k, 0) - a.get(k, 0)) for k in set(a) | set(b)]
    return sorted((x for x in d if x[1] != 0), key=lambda x: -abs(x[1]))[:TOP_TYPES]


def markdown(args: argparse.Namespace, f: dict[str, Any]) -> str:
    an, cl = f["memory"], f["clients"]
    days = f["bank_days"]
    lines = [
        f"`python bench/service_soak.py --minutes {args.minutes:g} --speed {args.speed:g}`.",
        "",
        f"The real `smallbms run` stack (built-in twin, SQLite store with `synchronous=FULL`, PIN "
        f"sessions, FastAPI under uvicorn, start-up heap frozen) ran in its own process for "
        f"{f['wall_minutes']:.1f} min at speed {args.speed:g} with a {args.tick * 1e3:g} ms tick: "
        f"{days:.1f} days of bank time, {f['ticks']} ticks ({f['missed']} missed, "
        f"{an['missed_after_warmup']} of them after the warm-up), "
        f"{f['samples_written']} stored samples and {f['codes_written']} code events. Throughout, "
        f"{cl['clients']} clients used it ({cl['clients_by_kind']['stream']} SSE streams, "
        f"{cl['clients_by_kind']['poll']} pollers asking every {args.poll_pause:g} s, "
        f"{cl['clients_by_kind']['write']} writer changing a setting every {args.write_pause:g} s): "
        f"{cl['attempts']} requests/connections, {cl['ok']} answered correctly, "
        f"{cl['attempts'] - cl['ok']} failed, {cl['silent_clients']} clients that got nothing; "
        f"{f['stream_events_total']} stream events. Every {args.sample_every:g} s the server's "
        f"RSS (`/proc/PID/status`), threads, open files, database size and Python-level counts "
        f"were sampled ({f['samples']} samples); the first {100 * args.warmup_fraction:g} % of the "
        "run is warm-up.",
        "",
        f"Load average {f['load_average_before'][0]:.2f} before, {f['load_average_after'][0]:.2f} "
        "after (2 CPUs, other work running).",
        "",
        "| measured after the warm-up | at the end of the warm-up | at the end of the run | "
        "slope per hour |",
        "|---|---|---|---|",
        f"| RSS, MB | {an['rss_mb_at_warmup_end']} | {an['rss_mb_at_end']} | "
        f"{an['rss_slope_mb_per_h']} (last half: {an['rss_slope_last_half_mb_per_h']}) |",
        f"| objects tracked by the GC (outside the frozen heap) | {an['gc_objects_at_warmup_end']} | "
        f"{an['gc_objects_at_end']} | {an['gc_objects_slope_per_h']} |",
        f"| pymalloc blocks in use | {an['allocated_blocks_at_warmup_end']} | "
        f"{an['allocated_blocks_at_end']} | {an['allocated_blocks_slope_per_h']} |",
        f"| threads (min-max) | {an['threads_min_max'][0]} | {an['threads_min_max'][1]} | |",
        f"| open file descriptors (min-max) | {an['fds_min_max'][0]} | {an['fds_min_max'][1]} | |",
        f"| database + WAL, MB | {f['db_mb_at_warmup_end']} | {f['db_mb_at_end']} | "
        f"{an['db_mb_slope_per_h']} |",
        f"| SQLite's heap (page caches, statements), MB | {an['sqlite_mb_at_warmup_end_and_end'][0]} | "
        f"{an['sqlite_mb_at_warmup_end_and_end'][1]} | {an['sqlite_mb_slope_per_h']} |",
        f"| tick latencies kept by `TickStats`, MB (est.) | | | {an['latencies_mb_slope_per_h']} |",
        f"| malloc heap in use (glibc, all arenas), MB | {an['malloc_in_use_mb_at_warmup_end_and_end'][0]} | "
        f"{an['malloc_in_use_mb_at_warmup_end_and_end'][1]} | {an['malloc_in_use_mb_slope_per_h']} |",
        f"| malloc heap free but kept, MB | {an['malloc_free_mb_at_warmup_end_and_end'][0]} | "
        f"{an['malloc_free_mb_at_warmup_end_and_end'][1]} | |",
        "",
        f"Tick latency over the soak: worst p99 of a {args.sample_every:g} s interval "
        f"{f['tick_p99_ms_worst_interval']} ms, longest tick {f['tick_max_ms']} ms.",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    for t in f["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {'met' if t['met'] else '**not met**'} |")
    if f["type_growth"]:
        lines += ["", "Tracked objects that changed most from the end of the warm-up to the end: "
                  + ", ".join(f"{k} {v:+d}" for k, v in f["type_growth"]) + "."]
    lines += ["", f"Database: {f['db_bytes_per_sample']:.0f} bytes per stored sample. "
              "Samples are time-stamped with the wall clock (not bank time), so the 7-day "
              "retention does not engage within an hour and the file grows with every sample; "
              f"at the product's one sample per 10 s, 7 days of raw samples would take about "
              f"{f['db_mb_at_7_days']:.0f} MB before pruning holds it there.", "", TARGET_WHY]
    return "\n".join(lines)


TARGET_WHY = """\
Why these targets: the soak's hour holds as many ticks as ten hours at the product's 1 s
default tick, a sample per tick, and tens of thousands of requests and stream events. A leak
of about 150 bytes per tick or per request would show as 5 MB/h; the growth that is bounded
by design (the tick thread keeps up to 100,000 tick latencies for the benchmarks, about
3 MB; SQLite's page cache, up to 2 MB per connection) stays below it. 5 % of the RSS is the
same bound as a share of the process."""


def main(argv: list[str] | None = None) -> int:
    timer = PartTimer()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the soak, wall minutes")
    ap.add_argument("--speed", type=float, default=DEFAULT_SPEED,
                    help="simulated seconds per wall second (bank time runs this much faster)")
    ap.add_argument("--tick", type=float, default=DEFAULT_TICK_S, help="device tick, wall s")
    ap.add_argument("--sample-every", type=float, default=10.0, help="sampling period, s")
    ap.add_argument("--warmup-fraction", type=float, default=0.1,
                    help="share of the run before the memory figures are taken")
    ap.add_argument("--streams", type=int, default=2, help="SSE clients")
    ap.add_argument("--pollers", type=int, default=2, help="polling clients")
    ap.add_argument("--poll-pause", type=float, default=1.0, help="pause between two polls, s")
    ap.add_argument("--writers", type=int, default=1, help="clients changing a setting")
    ap.add_argument("--write-pause", type=float, default=10.0, help="pause between two writes, s")
    ap.add_argument("--json", type=Path, default=None,
                    help="write the reliability part 'soak' (tools/reliability_part.py) here")
    ap.add_argument("--serve-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.serve_child:
        serve_child(args.tick, args.speed, args.data, sys.stdout)
        return 0
    if not 0 < args.minutes <= 24 * 60 or not 0 < args.sample_every <= 600:
        ap.error("--minutes must be in (0, 1440], --sample-every in (0, 600]")
    if not 0 <= args.warmup_fraction < 1:
        ap.error("--warmup-fraction must be in [0, 1)")

    duration_s = args.minutes * 60.0
    warmup_s = args.warmup_fraction * duration_s
    load_before = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average before the run "
          f"{' '.join(f'{x:.2f}' for x in load_before)}; Python {sys.version.split()[0]}")
    print(f"soak: {args.minutes:g} min at speed {args.speed:g} ({duration_s * args.speed / 86400:.1f} "
          f"days of bank time), tick {args.tick:g} s; sampling every {args.sample_every:g} s; "
          f"warm-up {warmup_s:.0f} s", flush=True)
    plan = ([("write", i) for i in range(args.writers)] + [("stream", i) for i in range(args.streams)]
            + [("poll", i) for i in range(args.pollers)])
    samples: list[dict[str, Any]] = []
    probes: list[dict[str, Any]] = []
    types_start: dict[str, int] = {}
    types_end: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="smallbms-soak-") as tmp:
        db = Path(tmp) / "smallbms.sqlite3"
        child = Child([sys.executable, str(Path(__file__).resolve()), "--serve-child", "--tick",
                       str(args.tick), "--speed", str(args.speed), "--data", tmp])
        try:
            pid, port = int(child.hello["pid"]), int(child.hello["port"])
            token = login(f"http://127.0.0.1:{port}", str(child.hello["pin"]))
            gens = Generators(1, plan, "127.0.0.1", port, token, duration_s, args.poll_pause,
                              args.write_pause)
            try:
                gens.go()
                t0 = time.monotonic()
                k = 0
                while True:
                    k += 1
                    due = t0 + min(k * args.sample_every, duration_s)
                    time.sleep(max(0.0, due - time.monotonic()))
                    t = time.monotonic() - t0
                    dbf = db_figures(db)  # before the probe: the probe's counters cover these rows
                    pr = child.ask(f"probe {dbf['raw_rows']}")
                    ps = proc_status(pid)
                    row = {"t_s": round(t, 2), "rss_mb": round(ps["VmRSS"], 2),
                           "hwm_mb": round(ps["VmHWM"], 2), "threads": int(ps["Threads"]),
                           "fds": len(os.listdir(f"/proc/{pid}/fd")), **dbf,
                           "gc_objects": pr["gc_objects"], "allocated_blocks": pr["allocated_blocks"],
                           "ticks": pr["ticks"], "missed": pr["missed"],
                           "sqlite_mb": opt_round(pr["sqlite_mb"]),
                           "latencies_mb": round(pr["latencies_mb"], 3),
                           "malloc_in_use_mb": opt_round(pr["malloc_mb"][0]),
                           "malloc_free_mb": opt_round(pr["malloc_mb"][1])}
                    row["db_mb"] = round(row["db_mb"], 3)
                    samples.append(row)
                    probes.append(pr)
                    if not types_start and t >= warmup_s:
                        types_start = child.ask("types")
                    if k == 1 or k % max(1, round(60 / args.sample_every)) == 0 or t >= duration_s:
                        print(f"  {t / 60:6.1f} min: RSS {row['rss_mb']:.1f} MB, GC objects "
                              f"{row['gc_objects']}, blocks {row['allocated_blocks']}, threads "
                              f"{row['threads']}, fds {row['fds']}, DB {row['db_mb']:.1f} MB "
                              f"({row['raw_rows']} samples), ticks {row['ticks']} ({row['missed']} "
                              f"missed), bank day {(pr['sim_t_s'] or 0) / 86400:.1f}", flush=True)
                    if t >= duration_s:
                        break
                types_end = child.ask("types")
                results = gens.results()
            finally:
                gens.close()
        finally:
            child.close()
    load_after = os.getloadavg()

    an = analyse(samples, warmup_s)
    cs = ClientSummary.merge(results)
    tot = cs.totals()
    last = probes[-1]
    first_after = next((s for s in samples if s["t_s"] >= warmup_s), samples[-1])
    p99s = [p["tick_p99_ms"] for p in probes if p["tick_p99_ms"] is not None]
    maxes = [p["tick_max_ms"] for p in probes if p["tick_max_ms"] is not None]
    ev = [c["events"] for c in cs.of("stream")]
    # database bytes per stored sample: the slope of size against rows (the WAL fills and is
    # checkpointed in steps, so two end points alone would depend on where it stood)
    bytes_per_sample = fit_slope([float(r["raw_rows"]) for r in samples],
                                 [float(r["db_mb"]) for r in samples]) * 1e6
    if not math.isfinite(bytes_per_sample):
        bytes_per_sample = 0.0
    tg = type_growth(types_start or types_end, types_end)
    slope, growth_pct = an["rss_slope_mb_per_h"], an["rss_growth_pct"]
    th, fd = an["threads_max_first_last_half"], an["fds_max_first_last_half"]
    targets = [
        {"target": f"RSS slope after the warm-up < {TARGET_SLOPE_MB_PER_H:g} MB/h",
         "measured": f"{slope} MB/h", "met": slope is not None and abs(slope) < TARGET_SLOPE_MB_PER_H},
        {"target": f"RSS growth from warm-up end to end < {TARGET_GROWTH_PCT:g} %",
         "measured": f"{an['rss_growth_mb']:+.2f} MB ({growth_pct} %)",
         "met": growth_pct is not None and growth_pct < TARGET_GROWTH_PCT},
        {"target": f"threads and open files do not grow (most in the 2nd half <= most in the 1st, "
                   f"+{THREADS_SLACK} threads and +{len(plan)} files for workers and reconnecting clients)",
         "measured": f"threads {th[0]} / {th[1]}, fds {fd[0]} / {fd[1]}",
         "met": th[1] <= th[0] + THREADS_SLACK and fd[1] <= fd[0] + len(plan)},
        {"target": "every client answered, no failed request, no store write error",
         "measured": f"{tot['silent_clients']} silent, {tot['attempts'] - tot['ok']} failed, "
                     f"{last['write_errors']} write errors",
         "met": tot["silent_clients"] == 0 and tot["attempts"] == tot["ok"] and last["write_errors"] == 0},
    ]
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in load_after)}")
    print(f"\nticks {last['ticks']}, missed {last['missed']} ({an['missed_after_warmup']} of them after the "
          f"warm-up); tick latency worst interval p99 "
          f"{max(p99s, default=math.nan):.2f} ms, longest {max(maxes, default=math.nan):.2f} ms; "
          f"bank time {(last['sim_t_s'] or 0) / 86400:.2f} days; samples stored {last['samples_written']} "
          f"(dropped {last['samples_dropped']}), code events {last['codes_written']}")
    print(f"clients: {tot['attempts']} requests/connections, {tot['ok']} answered correctly, "
          f"non-200 {tot['non_200'] or 0}, bad body {tot['bad_body']}, errors {tot['errors']}; "
          f"silent clients {tot['silent_clients']}; stream events {sum(ev)}")
    for e in tot["last_errors"]:
        print(f"  error seen: {e}")
    print(f"memory after the warm-up ({an['samples_after_warmup']} samples): RSS "
          f"{an['rss_mb_at_warmup_end']} -> {an['rss_mb_at_end']} MB (max {an['rss_mb_max']}), "
          f"slope {slope} MB/h ({an['rss_slope_last_half_mb_per_h']} MB/h over the last half), growth "
          f"{an['rss_growth_mb']:+.2f} MB ({growth_pct} %); GC objects {an['gc_objects_at_warmup_end']} -> "
          f"{an['gc_objects_at_end']} ({an['gc_objects_slope_per_h']}/h); pymalloc blocks "
          f"{an['allocated_blocks_at_warmup_end']} -> {an['allocated_blocks_at_end']} "
          f"({an['allocated_blocks_slope_per_h']}/h); threads {an['threads_min_max']}, "
          f"fds {an['fds_min_max']}")
    print(f"bounded by design: SQLite's heap {an['sqlite_mb_at_warmup_end_and_end']} MB "
          f"({an['sqlite_mb_slope_per_h']} MB/h), TickStats latencies {an['latencies_mb_slope_per_h']} MB/h; "
          f"malloc in use {an['malloc_in_use_mb_at_warmup_end_and_end']} MB "
          f"({an['malloc_in_use_mb_slope_per_h']} MB/h), free but kept "
          f"{an['malloc_free_mb_at_warmup_end_and_end']} MB")
    print(f"database: {first_after['db_mb']:.1f} -> {samples[-1]['db_mb']:.1f} MB, {bytes_per_sample:.0f} "
          f"bytes per sample; raw rows {samples[-1]['raw_rows']}, hourly rows {samples[-1]['hourly_rows']}")
    if tg:
        print("tracked objects that changed most: " + ", ".join(f"{k} {v:+d}" for k, v in tg))
    print("\ntargets")
    for tgt in targets:
        print(f"  {tgt['target']:<62} {tgt['measured']:>34}  {'met' if tgt['met'] else 'NOT MET'}")
    ok = all(tgt["met"] for tgt in targets)

    if args.json is not None:
        figures: dict[str, Any] = {
            "minutes": args.minutes, "speed": args.speed, "tick_s": args.tick,
            "sample_every_s": args.sample_every, "warmup_s": warmup_s,
            "wall_minutes": round(samples[-1]["t_s"] / 60.0, 2),
            "bank_days": round((last["sim_t_s"] or 0) / 86400.0, 2),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
            "ticks": last["ticks"], "missed": last["missed"],
            "tick_p99_ms_worst_interval": finite(max(p99s, default=math.nan)),
            "tick_max_ms": finite(max(maxes, default=math.nan)),
            "samples_written": last["samples_written"], "samples_dropped": last["samples_dropped"],
            "probes_uncounted": sum(1 for p in probes if not p["rows_counted"]),
            "codes_written": last["codes_written"], "store_write_errors": last["write_errors"],
            "memory": an, "type_growth": tg, "targets": targets,
            "db_mb_at_warmup_end": first_after["db_mb"], "db_mb_at_end": samples[-1]["db_mb"],
            "db_bytes_per_sample": round(bytes_per_sample, 1),
            "db_mb_at_7_days": round(bytes_per_sample * 7 * 8640 / 1e6, 1),
            "clients": tot, "stream_events_total": sum(ev), "per_client": cs.tallies,
            "samples": len(samples), "sample_columns": list(SAMPLE_COLUMNS),
            "sample_rows": [[s[c] for c in SAMPLE_COLUMNS] for s in samples],
        }
        timer.write(args.json, part="soak", ok=ok, figures=figures, markdown=markdown(args, figures),
                    title=f"Soak: {args.minutes:g} minutes at speed {args.speed:g} with clients")
        print(f"\nwrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
