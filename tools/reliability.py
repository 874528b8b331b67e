"""Run the reliability and security campaign and write docs/reliability.md.

    python tools/reliability.py                 # every part, full size (about 90 minutes)
    python tools/reliability.py --only faults,crashes
    python tools/reliability.py --quick         # every part, small (a few minutes; a smoke run)
    python tools/reliability.py --render        # only rebuild the page from the stored results

Each part is a program of its own that writes its result as JSON (tools/reliability_part.py)
into docs/reliability/<part>.json; this program runs the parts one after the other, then renders
docs/reliability.md from every stored result, so the page shows the figures of real runs and
says when, where and with which command each was measured. A part that fails to run leaves its
previous result in place and is reported as not run; the exit status is 1 when a part did not run
or missed a target.

A quick run writes to docs/reliability/quick/ and never replaces the full results.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.reliability_part import PARTS, read_part

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "reliability"
PAGE = ROOT / "docs" / "reliability.md"
#: the findings across parts, kept by hand beside the results and placed after the summary
FINDINGS = "findings.md"

#: part -> (program, full-size arguments, quick arguments)
PROGRAMS: dict[str, tuple[str, list[str], list[str]]] = {
    "faults": ("tools/reliability_faults.py", [], ["--quick"]),
    "crashes": ("tools/reliability_crash.py", ["--cycles", "100"], ["--cycles", "5"]),
    "fuzz": ("tools/reliability_fuzz.py", ["--examples", "2000"], ["--examples", "50"]),
    "load": ("bench/service_load.py", ["--clients", "200", "--seconds", "60", "--tick", "0.1"],
             ["--clients", "200", "--seconds", "10", "--tick", "0.1"]),
    "soak": ("bench/service_soak.py", ["--minutes", "60"], ["--minutes", "2"]),
    "security": ("tools/reliability_security.py", [], []),
}
assert set(PROGRAMS) == set(PARTS)

INTRO = """\
# Reliability and security: measured

This page is written by `python tools/reliability.py` from the results of a real run of each
part of the campaign (stored beside it in `docs/reliability/*.json`). Every section names the
command that produced it, when and on what machine; rerun that command to check a figure. The
bounded versions of the same checks run in CI as `tests/reliability/` (fewer seeds and cycles,
same assertions).

Nothing here is a timing assertion in a test: speed and memory figures come from the benchmark
programs in `bench/`, each with a reference measured in the same run.
"""


def run_part(part: str, quick: bool, out: Path) -> tuple[bool, float]:
    """Run one part's program; True when it wrote a fresh result file."""
    program, full, small = PROGRAMS[part]
    args = [sys.executable, str(ROOT / program), *(small if quick else full), "--json", str(out)]
    before = out.stat().st_mtime if out.exists() else None
    print(f"\n=== {part}: {' '.join(args[1:])}", flush=True)
    t0 = time.monotonic()
    proc = subprocess.run(args, cwd=ROOT, check=False)
    took = time.monotonic() - t0
    fresh = out.exists() and out.stat().st_mtime != before
    print(f"=== {part}: exit {proc.returncode}, {took:.0f} s, "
          f"{'result written' if fresh else 'NO RESULT WRITTEN'}", flush=True)
    return fresh, took


#: the figures the summary table shows for each part (dotted paths into ``figures``)
HEADLINES: dict[str, tuple[str, ...]] = {
    "faults": ("simulated_days", "faults_injected", "ticks_checked", "violations"),
    "crashes": ("cycles", "acknowledged_settings_lost", "corrupt_stores",
                "restarts_outputs_not_floating_first", "max_samples_lost"),
    "fuzz": ("parser_inputs", "parser_failures", "api_cases", "api_failures",
             "bugs_found_and_fixed"),
    "load": ("clients_planned", "load.missed", "load.tick_latency_ms.p99",
             "load.requests_served"),
    "soak": ("wall_minutes", "bank_days", "missed", "memory.rss_growth_pct",
             "memory.rss_slope_mb_per_h"),
    "security": ("tests_passed", "tests_run", "tries_per_day_device_wide"),
}


def _lookup(figures: dict[str, Any], path: str) -> Any:
    value: Any = figures
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _figure_line(doc: dict[str, Any], limit: int = 4) -> str:
    keys = HEADLINES.get(doc["part"])
    if keys is None:
        keys = tuple(k for k, v in doc["figures"].items()
                     if isinstance(v, int | float | str) and not isinstance(v, bool))[:limit]
    items = []
    for key in keys:
        v = _lookup(doc["figures"], key)
        if v is not None:
            shown = f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)
            items.append(f"{key.replace('.', ' ').replace('_', ' ')} {shown}")
    return "; ".join(items)


def render(results: Path, page: Path, not_run: list[str]) -> bool:
    """Write the page from every stored result; True when every part is present and met."""
    docs = {}
    for part in PARTS:
        f = results / f"{part}.json"
        if f.exists():
            docs[part] = read_part(f)
    lines = [INTRO, "## Summary", "",
             "| part | targets met | measured | key figures |", "|---|---|---|---|"]
    for part in PARTS:
        d = docs.get(part)
        if d is None:
            lines.append(f"| {part} | not run | | |")
            continue
        met = "yes" if d["ok"] else "**no**"
        stale = " (this run failed; older result)" if part in not_run else ""
        lines.append(f"| [{d['title']}](#{_anchor(d['title'])}) | {met}{stale} | "
                     f"{d['started_utc']}, {d['duration_s']:.0f} s | {_figure_line(d)} |")
    lines.append("")
    findings = results / FINDINGS
    if findings.exists():  # written by hand: what the campaign found and what was done
        lines += [findings.read_text().rstrip(), ""]
    for part in PARTS:
        d = docs.get(part)
        if d is None:
            continue
        lines += [f"## {d['title']}", "",
                  f"Command: `{_relative(d['command'])}` — run {d['started_utc']}, took "
                  f"{d['duration_s']:.0f} s on {d['machine']}.", "", d["markdown"].rstrip(), ""]
    page.write_text("\n".join(lines).rstrip() + "\n")
    return len(docs) == len(PARTS) and all(d["ok"] for d in docs.values())


def _relative(command: str) -> str:
    return command.replace(str(ROOT) + "/", "").replace(sys.executable, "python")


def _anchor(title: str) -> str:
    keep = "".join(c for c in title.lower() if c.isalnum() or c in " -")
    return keep.replace(" ", "-")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--only", default=",".join(PARTS),
                    help=f"comma-separated parts to run (of {', '.join(PARTS)})")
    ap.add_argument("--quick", action="store_true",
                    help="small runs, written to docs/reliability/quick/ (a smoke run)")
    ap.add_argument("--render", action="store_true", help="only rebuild the page")
    a = ap.parse_args(argv)
    wanted = [p.strip() for p in a.only.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in PARTS]
    if unknown:
        ap.error(f"unknown part(s): {', '.join(unknown)}; the parts are {', '.join(PARTS)}")
    results = RESULTS / "quick" if a.quick else RESULTS
    page = results / "README.md" if a.quick else PAGE
    results.mkdir(parents=True, exist_ok=True)
    not_run: list[str] = []
    if not a.render:
        for part in wanted:
            fresh, _ = run_part(part, a.quick, results / f"{part}.json")
            if not fresh:
                not_run.append(part)
    ok = render(results, page, not_run)
    print(f"\nwrote {page.relative_to(ROOT)}; "
          f"{'every part present and every target met' if ok else 'NOT every target met'}"
          + (f"; failed to run: {', '.join(not_run)}" if not_run else ""))
    return 0 if ok and not not_run else 1


if __name__ == "__main__":
    sys.exit(main())
