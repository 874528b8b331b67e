"""Reliability part "faults": long twin runs with random faults, checked against SPEC 5-7.

    python tools/reliability_faults.py [--days 30] [--seeds 0-23] [--quick] [--jobs 1]
                                       [--json docs/reliability/faults.json] [--keep DIR]

Each run is one of the manual's system examples (rotating with the seed) with two batteries in
parallel, ``--days`` long, with every event action of SPEC 17 injected at random times (see
``tests/reliability/oracle/faults.py``). The invariant checker (``.../invariants.py``) reads the
run's JSON Lines events and a ground-truth trace of the twin and reports every moment an output
was not in its safe state when it had to be. Prints one line per run and the figures at the
end; ``--json`` writes the part file that ``tools/reliability.py`` renders. With violations,
the scenario files of the failing runs are written to ``--keep`` (default: a new temporary
directory) so that ``smallbms simulate FILE`` replays them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.reliability.oracle.campaign import (  # noqa: E402
    ACTION_LABELS,
    SYSTEM_EXAMPLES,
    CampaignResult,
    SeedResult,
    run_seed,
)
from tests.reliability.oracle.faults import FAULTS_PER_DAY, REQUIRED_KINDS  # noqa: E402
from tests.reliability.oracle.invariants import RULES, SAFE  # noqa: E402

from tools.reliability_part import PartTimer  # noqa: E402

DEFAULT_SEEDS = "0-23"
QUICK_SEEDS = "0-2"
QUICK_DAYS = 3.0


def parse_seeds(text: str) -> list[int]:
    """``"0-11"``, ``"3"``, ``"1,4,7"`` or a mix: ``"0-2,9"``."""
    out: list[int] = []
    for part in text.replace(" ", ",").split(","):
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    if not out:
        raise argparse.ArgumentTypeError(f"no seeds in {text!r}")
    return out


def _line(r: SeedResult) -> str:
    rep = r.report
    episodes = sum(s.episodes for s in rep.rules.values())
    return (f"seed {r.seed:3d}  {r.example:36s} {r.days:g} d  faults {sum(r.faults.values()):4d}  "
            f"events {sum(r.actions.values()):4d}  ticks {rep.ticks:6d}  episodes {episodes:5d}  "
            f"violations {len(rep.violations)}  twin {'ok' if r.physics.physical else 'NOT PHYSICAL'}"
            f"  {r.wall_s:5.1f} s")


def _rule_rows(c: CampaignResult) -> list[str]:
    rows = ["| rule | must | episodes | answered | ended before due | worst answer (ticks / s) "
            "| violations |", "|---|---|---:|---:|---:|---:|---:|"]
    for name, st in c.rules().items():
        if st.episodes == 0 and name.startswith("code."):
            continue
        rule = RULES[name]
        must = ", ".join(f"{o.replace('_disconnect', '').replace('_', '-')} {SAFE[o]}"
                         for o in rule.outputs)
        rows.append(f"| `{name}` ({rule.text}) | {must} | {st.episodes} | {st.answered} | "
                    f"{st.ended_before_due} | {st.worst_ticks} / {st.worst_s:.1f} | "
                    f"{st.violations} |")
    return rows


def markdown(c: CampaignResult, seeds: list[int], days: float, per_day: float,
             wall_s: float, jobs: int) -> str:
    runs = len(c.runs)
    violations = c.violations
    missing = c.missing_actions()
    phys = c.physics()
    met = not violations and not missing and phys.physical
    never = [n for n, st in c.rules().items() if st.episodes == 0 and not n.startswith("code.")]
    faults = c.faults()
    actions = c.actions()
    seed_text = f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else (
        ", ".join(map(str, seeds)))
    lines = [
        f"**What ran.** {runs} twin runs (seeds {seed_text}) of {days:g} simulated days each, "
        f"{c.days:g} days in all. Run *i* is the manual's system example "
        f"`{SYSTEM_EXAMPLES[0]}`, `{SYSTEM_EXAMPLES[1]}` or `{SYSTEM_EXAMPLES[2]}` "
        "(rotating), with its bank doubled to two batteries in parallel so a battery can be "
        "removed and one battery's bus can fail alone. Every run gets one fault of each of "
        f"{len(REQUIRED_KINDS)} kinds (every event action of SPEC 17 and its variants) plus "
        f"about {per_day:g} random ones a day, at random, seeded times: {sum(faults.values())} "
        f"faults, {sum(actions.values())} scenario events. One of the kinds is a deep "
        "discharge: a load not on the load disconnect (the manual's warning) empties the bank "
        "until its own BatteryProtect, set too low at 9.5 V, cuts it, then a charger the BMS "
        "does not switch brings it back, so cell undervoltage, low bank voltage (A-B08) and "
        "E-B09 happen by physics, not only by forced values. The BMS refused "
        f"{c.total('refused')} of the commands (invalid settings, commands while it had no "
        "supply): refusing is correct behaviour.",
        "",
        "**How it is checked.** `tests/reliability/oracle/invariants.py` is an oracle written "
        "from SPEC 5-7, independent of the core: it re-states the thresholds and reads only the "
        "public JSON Lines events (`output` and `code` lines) and a ground-truth trace of the "
        "twin recorded at every BMS tick (what each battery reported or that its frames were "
        "missing, supply, remote terminal, output fault, commands, the BMS's SoC and "
        "settings). The invariant is *unsafe ⇒ safe state by the next BMS step* (one tick, "
        "1 s here); hysteresis never matters because it only ever asks for *floating*. The "
        "30 s undervoltage lead is checked both ways: `load.undervoltage` (not later than 30 s "
        "after the pre-alarm went high, plus a tick) and `load.lead` (no load disconnect for "
        "undervoltage, and no A-B01/A-B08, sooner). Where the runner skipped ticks over a "
        "quiet stretch, the physics extremes of the stretch must not have crossed a trip level "
        "while the answering output was high (`*.unsafe_inside_skip`).",
        "",
        "**Target:** zero violations, every action injected in every run, and a twin that "
        f"stays physical. **Result: {len(violations)} violations; "
        + ("every action injected in every run" if not missing
           else f"actions missing in some run: {', '.join(missing)}")
        + ("" if phys.physical else "; the twin left its physical range")
        + f"** — the target is {'met' if met else 'NOT met'}.",
        "",
        f"Checked: {c.ticks()} BMS ticks, {c.lead_checks()} load disconnects and A-B01/A-B08 "
        f"raises checked for the 30 s lead, {c.skipped_intervals()} skipped stretches checked. "
        f"Wall time {wall_s:.0f} s ({jobs} process{'es' if jobs > 1 else ''}).",
        "",
        "### Unsafe episodes and answers",
        "",
        "An episode is a run of ticks in which the condition held; *answered* = every output "
        "it constrains was in its safe state by its deadline; *ended before due* = the "
        "condition went away before a timer or the 30 s lead made it due (no output change "
        "was owed); the worst answer counts ticks after the first tick at or after the due "
        "time, and seconds after the exact due time (a timer that falls due between two 1 s "
        "ticks is answered at the next one, hence fractions of a second).",
        "",
        *_rule_rows(c),
        "",
        "### Faults injected",
        "",
        "| scenario event | count |", "|---|---:|",
        *[f"| `{a}` | {actions[a]} |" for a in ACTION_LABELS],
        "",
        "| fault kind | count |", "|---|---:|",
        *[f"| {k} | {faults[k]} |" for k in REQUIRED_KINDS],
        "",
        "### Findings and limits",
        "",
    ]
    if violations:
        lines.append(f"**Violations** ({len(violations)}; first 20):")
        lines.append("")
        lines += [f"- seed {s}: {v}" for s, v in violations[:20]]
        lines.append("")
    else:
        lines.append("- No violation in any run. The checker's ability to fail is shown by "
                     "`tests/reliability/test_invariants.py` (synthetic logs breaking each rule) "
                     "and `tests/reliability/test_fault_campaign.py` (short campaigns against a "
                     "core broken on purpose: no overvoltage rule, no 30 s lead, late comms "
                     "timer — each is reported).")
    if never:
        lines.append(
            "- Never exercised by these runs: " + ", ".join(f"`{n}`" for n in never)
            + "; those rules are exercised by the synthetic logs of "
            "`tests/reliability/test_invariants.py` only.")
    lines += [
        "- **A weakness of the checker, found and fixed.** The first full run reported one "
        "violation (seed 10, `load.unsafe_inside_skip`): after a restart onto a nearly empty "
        "bank a cell read 2.799 V, then 2.800 V, and the runner skipped the 25 s to the end of "
        "the 30 s lead while the physics went to 2.7996 V. The BMS had seen the undervoltage "
        "and was rightly waiting out the lead; the checker only remembered the previous tick. "
        "It now remembers an undervoltage until SPEC 6's clear level (all cells 3.20 V), and "
        "a regression test covers the case. No BMS fault was involved.",
        f"- **The twin itself stayed physical** (cells from {phys.min_cell_v:.2f} to "
        f"{phys.max_cell_v:.2f} V, temperatures from {phys.min_temperature_c:.1f} to "
        f"{phys.max_temperature_c:.1f} °C, true values at the ticks; a weak cell may be "
        "driven a little below 0 V by its string at the end of the deep discharge): "
        + ("yes." if phys.physical else "**NO** — see the runs' physics ranges.")
        + " **A weakness of the twin, found by this campaign and not fixed here** (the twin "
        "is not part of this work): with the uncontrolled load first left to run the bank far "
        "below 8 V (no cut-off, then a cut-off at 7.8 V), both parallel strings ended at the "
        "bottom of the OCV table (cell SoC "
        "clamped at -1 %) with a constant-current load still drawing, and the explicit "
        "parallel split went unstable: the strings' currents alternated tick by tick with "
        "growing amplitude, cells swung between -0.5 V and +3.6 V and the temperature ran "
        "away to 9e7 °C (seeds 7 and 13 at 24 faults/day). A minimal case: "
        "`BankModel('12.8/100', 1, 2, soc_pct=5, seed=13)` stepped 10 s at a time at -60 A "
        "diverges after about 650 s (at 1 s steps that case stays stable). The BMS side was "
        "safe throughout: reports outside 0-5 V or -60…150 °C count as missing data, so the "
        "comms rules floated both outputs, and the checker found no violation. The campaign "
        "now lets the load's BatteryProtect cut it at 9.5 V, which keeps the twin out of that "
        "region; the fix belongs in `twin/cell.py` (an implicit or adaptive parallel split, "
        "or charge-conserving limits at the ends of the OCV table).",
        "- **Observation (not a violation).** After a power cycle the BMS has forgotten an "
        "undervoltage (latches and the lead are volatile), so on a bank still below 2.8 V the "
        "load disconnect goes high at the first complete reading and floats again 30 s later, "
        "when the restarted lead ends. That is what SPEC 5-6 ask (fail-safe start, then the "
        "30 s lead counted from the pre-alarm); a stricter design could keep the loads off "
        "when the first reading after power-up already shows undervoltage.",
    ]
    lines += [
        "- The twin keeps a removed battery in the physics (only its bus frames go), and an "
        "added battery reports a copy of the last one; the checker therefore judges the "
        "batteries whose data reach the BMS, and the comms rules cover the ones whose data "
        "do not.",
        "- A trip level crossed and left again within one tick (between two readings) is "
        "not seen by any sampling BMS and is not counted; only stretches the runner skipped "
        "are checked for crossings.",
        "- The discharge floor and low-SoC rules use the BMS's own SoC (that is how SPEC 6 "
        "defines them): the campaign shows the BMS acts on its estimate, not that the estimate "
        "is right (`set_soc` makes it wrong on purpose).",
        "- Only the `ng` profile runs (the three system examples are NG).",
        "",
        "Rerun one run: the scenario file of a run is `SeedResult.scenario_text` "
        "(`tests.reliability.oracle.campaign.build_scenario(seed, days).text`); "
        "`smallbms simulate FILE` replays it.",
    ]
    return "\n".join(lines)


def figures(c: CampaignResult, days: float, wall_s: float) -> dict[str, object]:
    rules = c.rules()
    return {
        "runs": len(c.runs),
        "days_per_run": days,
        "simulated_days": c.days,
        "faults_injected": sum(c.faults().values()),
        "scenario_events": sum(c.actions().values()),
        "events_by_action": dict(sorted(c.actions().items())),
        "faults_by_kind": dict(sorted(c.faults().items())),
        "commands_refused": c.total("refused"),
        "ticks_checked": c.ticks(),
        "core_steps": c.total("core_steps"),
        "unsafe_episodes": {n: s.episodes for n, s in rules.items() if s.episodes},
        "episodes_answered": {n: s.answered for n, s in rules.items() if s.episodes},
        "episodes_ended_before_due": {
            n: s.ended_before_due for n, s in rules.items() if s.ended_before_due},
        "worst_response_ticks": max((s.worst_ticks for s in rules.values()), default=0),
        "worst_response_s": round(max((s.worst_s for s in rules.values()), default=0.0), 3),
        "lead_checks": c.lead_checks(),
        "twin_cell_range_v": [round(c.physics().min_cell_v, 3), round(c.physics().max_cell_v, 3)],
        "twin_temperature_range_c": [round(c.physics().min_temperature_c, 1),
                                     round(c.physics().max_temperature_c, 1)],
        "twin_physical": c.physics().physical,
        "skipped_intervals_checked": c.skipped_intervals(),
        "violations": len(c.violations),
        "violations_by_rule": dict(c.violations_by_rule()),
        "actions_missing": c.missing_actions(),
        "wall_s": round(wall_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=float, default=30.0, help="simulated days per run (30)")
    ap.add_argument("--seeds", type=parse_seeds, default=None,
                    help=f"seeds, e.g. 0-11 or 1,5,9 (default {DEFAULT_SEEDS})")
    ap.add_argument("--quick", action="store_true",
                    help=f"seeds {QUICK_SEEDS}, {QUICK_DAYS:g} days each (a smoke run)")
    ap.add_argument("--per-day", type=float, default=FAULTS_PER_DAY,
                    help=f"random faults per simulated day ({FAULTS_PER_DAY:g})")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    ap.add_argument("--json", type=Path, default=None, help="write the part file here")
    ap.add_argument("--keep", type=Path, default=None,
                    help="directory for the scenario files of runs with violations")
    args = ap.parse_args(argv)
    timer = PartTimer()
    days = QUICK_DAYS if args.quick and args.days == 30.0 else args.days
    seeds = args.seeds or parse_seeds(QUICK_SEEDS if args.quick else DEFAULT_SEEDS)
    print(f"fault campaign: {len(seeds)} runs x {days:g} days, ~{args.per_day:g} random "
          f"faults/day + {len(REQUIRED_KINDS)} required kinds", flush=True)
    t0 = time.perf_counter()
    c = CampaignResult()

    def done(r: SeedResult) -> None:
        c.runs.append(r)
        print(_line(r), flush=True)
        for v in r.report.violations[:5]:
            print(f"      {v}", flush=True)

    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(run_seed, s, days, None, args.per_day) for s in seeds]
            for f in futures:
                done(f.result())
    else:
        for s in seeds:
            done(run_seed(s, days, None, args.per_day))
    wall = time.perf_counter() - t0
    c.runs.sort(key=lambda r: r.seed)
    figs = figures(c, days, wall)
    ok = not c.violations and not c.missing_actions() and c.physics().physical
    episodes = sum(s.episodes for s in c.rules().values())
    print(f"simulated {figs['simulated_days']:g} days, {figs['faults_injected']} faults, "
          f"{episodes} unsafe episodes "
          f"(worst answer {figs['worst_response_ticks']} ticks), {figs['violations']} violations, "
          f"twin cells {figs['twin_cell_range_v']} V, temperatures "
          f"{figs['twin_temperature_range_c']} °C, {wall:.0f} s wall", flush=True)
    if c.missing_actions():
        print(f"actions not injected in some run: {', '.join(c.missing_actions())}")
    if c.violations:
        keep = args.keep or Path(tempfile.mkdtemp(prefix="smallbms-faults-"))
        keep.mkdir(parents=True, exist_ok=True)
        for r in c.runs:
            if r.report.violations:
                (keep / f"fault-campaign-seed-{r.seed}.toml").write_text(r.scenario_text)
        print(f"scenario files of the failing runs: {keep}")
    if args.json is not None:
        timer.write(args.json, part="faults", title="Fault campaign and invariant checker",
                    ok=ok, figures=figs, markdown=markdown(c, seeds, days, args.per_day, wall,
                                                          args.jobs))
        print(f"wrote {args.json}")
    print("OK: target met" if ok else "FAILED: target not met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
