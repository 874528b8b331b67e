"""The load and soak benchmarks, run for a few seconds each: they start the real service, drive
real clients, write their reliability part, and every counter in it adds up.

These check structure and consistency only. Speed and memory figures are the benchmarks' job
(run them in full: bench/README.md); nothing here asserts a latency, a rate or a size.
"""

from __future__ import annotations

import itertools
import math
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tools.reliability_part import read_part

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120.0


def run_both(tmp_path: Path) -> dict[str, tuple[int, dict[str, Any], str]]:
    """Both programs side by side (to keep the test short); (exit code, part, output) each."""
    cmds = {
        "load": [sys.executable, str(ROOT / "bench" / "service_load.py"), "--clients", "12",
                 "--writers", "2", "--generators", "2", "--seconds", "3",
                 "--json", str(tmp_path / "load.json")],
        "soak": [sys.executable, str(ROOT / "bench" / "service_soak.py"), "--minutes", "0.2",
                 "--sample-every", "1", "--warmup-fraction", "0.2", "--write-pause", "2",
                 "--json", str(tmp_path / "soak.json")],
    }
    procs: dict[str, subprocess.Popen[str]] = {}
    out: dict[str, tuple[int, dict[str, Any], str]] = {}
    try:
        for name, cmd in cmds.items():
            procs[name] = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True)
        for name, p in procs.items():
            text, _ = p.communicate(timeout=TIMEOUT_S)
            assert p.returncode in (0, 1), f"{name} crashed:\n{text}"
            out[name] = (p.returncode, read_part(tmp_path / f"{name}.json"), text)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)
    return out


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, dict[str, Any], str]]:
    return run_both(tmp_path_factory.mktemp("bench"))


def check_clients(f: dict[str, Any], kinds: dict[str, int]) -> None:
    """The per-client tallies add up to the totals, and each attempt ended exactly one way."""
    per, tot = f["per_client"], f["clients"]
    assert len(per) == tot["clients"] == sum(kinds.values())
    assert tot["clients_by_kind"] == kinds
    assert sorted(c["kind"] for c in per) == sorted(k for k, n in kinds.items() for _ in range(n))
    for c in per:
        assert c["attempts"] == c["ok"] + sum(c["non_200"].values()) + c["bad_body"] + c["errors"]
        assert c["events"] >= 0 and (c["kind"] == "stream" or c["events"] == 0)
    for key in ("attempts", "ok", "bad_body", "errors", "idle_reconnects"):
        assert tot[key] == sum(c[key] for c in per), key
    non_200: dict[str, int] = {}
    for c in per:
        for k, v in c["non_200"].items():
            non_200[k] = non_200.get(k, 0) + v
    assert tot["non_200"] == non_200
    silent = [c for c in per if (c["events"] if c["kind"] == "stream" else c["ok"]) == 0]
    assert tot["silent_clients"] == len(silent)
    assert tot["silent_kinds"] == sorted({c["kind"] for c in silent})


def check_targets(rc: int, doc: dict[str, Any]) -> None:
    targets = doc["figures"]["targets"]
    assert targets and all(set(t) == {"target", "measured", "met"} for t in targets)
    assert doc["ok"] == all(t["met"] for t in targets)
    assert rc == (0 if doc["ok"] else 1)
    for t in targets:  # the section shows every target with its verdict
        assert t["target"] in doc["markdown"]


def test_load_part_is_complete_and_adds_up(parts: dict[str, tuple[int, dict[str, Any], str]]) -> None:
    rc, doc, text = parts["load"]
    f = doc["figures"]
    assert doc["part"] == "load" and "service_load.py" in doc["command"]
    assert f["clients_planned"] == 12 and f["tick_s"] == 0.1 and f["seconds"] == 3
    assert f["issue_settings"] is False and "this run differs" in doc["markdown"]
    check_clients(f, {"poll": 5, "stream": 5, "write": 2})
    check_targets(rc, doc)
    streams = [c for c in f["per_client"] if c["kind"] == "stream"]
    ev = f["stream_events_per_client"]
    assert ev["total"] == sum(c["events"] for c in streams)
    assert ev["min"] == min(c["events"] for c in streams)
    assert ev["max"] == max(c["events"] for c in streams)
    assert ev["median"] == statistics.median(c["events"] for c in streams)
    load = f["load"]
    # every response a client received was served (and counted) by the server in the window
    answered = sum(c["ok"] + sum(c["non_200"].values()) + c["bad_body"]
                   for c in f["per_client"] if c["kind"] != "stream")
    sent = sum(c["attempts"] + c["idle_reconnects"] for c in f["per_client"] if c["kind"] != "stream")
    assert answered <= load["requests_served"] <= sent
    assert sum(load["http_statuses"].values()) == load["requests_served"]
    assert f["client_request_ms"]["count"] + f["write_ms"]["count"] == answered
    assert 0 <= load["streams_open_max"] <= len(streams)
    assert f["reference"]["requests_served"] == 0  # nobody asked anything in the reference
    assert len(f["generator_cpu_pct"]) == f["generators"] == 2
    for w in (f["reference"], f["load"]):
        lat = w["tick_latency_ms"]
        assert w["ticks"] > 0 and w["missed"] >= 0
        assert lat["median"] <= lat["p99"] <= lat["max"]
    assert f"{load['ticks']} / {load['missed']}" in doc["markdown"]
    assert "targets (load window)" in text


def test_soak_part_is_complete_and_adds_up(parts: dict[str, tuple[int, dict[str, Any], str]]) -> None:
    rc, doc, _ = parts["soak"]
    f = doc["figures"]
    assert doc["part"] == "soak" and "service_soak.py" in doc["command"]
    check_clients(f, {"poll": 2, "stream": 2, "write": 1})
    check_targets(rc, doc)
    cols, rows = f["sample_columns"], f["sample_rows"]
    assert f["samples"] == len(rows) >= 2 and all(len(r) == len(cols) for r in rows)
    s = [dict(zip(cols, r, strict=True)) for r in rows]
    assert all(a["t_s"] < b["t_s"] for a, b in itertools.pairwise(s))
    for key in ("ticks", "missed", "raw_rows"):
        assert all(a[key] <= b[key] for a, b in itertools.pairwise(s)), key
    assert all(r["rss_mb"] > 0 and r["threads"] > 0 and r["fds"] > 0 for r in s)
    assert f["ticks"] == s[-1]["ticks"] and f["missed"] == s[-1]["missed"]
    # each probe reads the file first, then the counters once those rows are counted
    assert f["probes_uncounted"] == 0
    assert f["samples_written"] >= s[-1]["raw_rows"] > 0
    assert f["stream_events_total"] == sum(c["events"] for c in f["per_client"])
    # the memory figures are what the samples give: recompute the fit after the warm-up
    m = f["memory"]
    after = [r for r in s if r["t_s"] >= f["warmup_s"]]
    assert m["samples_after_warmup"] == len(after)
    ts, ys = [r["t_s"] / 3600.0 for r in after], [r["rss_mb"] for r in after]
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    slope = sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / sum((t - mt) ** 2 for t in ts)
    assert math.isclose(m["rss_slope_mb_per_h"], slope, rel_tol=1e-3, abs_tol=1e-3)
    assert m["rss_mb_at_warmup_end"] == pytest.approx(after[0]["rss_mb"], abs=0.01)
    assert m["rss_growth_mb"] == pytest.approx(s[-1]["rss_mb"] - after[0]["rss_mb"], abs=0.02)
    assert m["rss_mb_max"] == pytest.approx(max(r["rss_mb"] for r in s), abs=0.01)
    assert m["missed_after_warmup"] == s[-1]["missed"] - after[0]["missed"]
    assert m["threads_min_max"] == [min(r["threads"] for r in after), max(r["threads"] for r in after)]
    assert f"{m['rss_slope_mb_per_h']}" in doc["markdown"]
