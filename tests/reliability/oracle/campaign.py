"""The fault campaign: long twin runs of the manual's system examples with random faults, each
checked by the invariant checker against a ground-truth trace.

Run ``i`` uses seed ``i`` and the system example ``SYSTEM_EXAMPLES[i % 3]`` with its bank
doubled to two batteries in parallel (so a battery can be removed and put back, and one
battery's bus can fail while the other still reports), for the given number of days, with the
schedule of :func:`~tests.reliability.oracle.faults.fault_schedule`. The scenario is written out as
TOML and read back with the scenario parser, so it is a valid scenario file and can be run again
with ``smallbms simulate`` (:attr:`SeedResult.scenario_text`).
"""

from __future__ import annotations

import io
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from smallbms import scenario as sc
from smallbms.catalog import get_model
from smallbms.simulate import make_runner
from tests.reliability.oracle.faults import (
    FAULTS_PER_DAY,
    Fault,
    component_tables,
    event_tables,
    fault_schedule,
)
from tests.reliability.oracle.invariants import (
    RULES,
    CheckConfig,
    CheckReport,
    RuleStats,
    Violation,
    check,
    parse_lines,
)
from tests.reliability.oracle.toml_out import dumps
from tests.reliability.oracle.truth import PhysicsRange, TruthRecorder

SYSTEM_EXAMPLES = (
    "system_solar_batteryprotect.toml",
    "system_cyrix_combiner.toml",
    "system_phoenix_inverter.toml",
)
#: (P) batteries in parallel in every campaign bank
CAMPAIGN_PARALLEL = 2


def default_examples_dir() -> Path:
    """``examples/`` of the source tree this package runs from."""
    d = Path(__file__).resolve().parents[3] / "examples"
    if not (d / SYSTEM_EXAMPLES[0]).is_file():
        raise FileNotFoundError(f"the system examples are not in {d}: pass examples_dir")
    return d


def action_label(ev: sc.Event) -> str:
    """An event's action, with the variant the issue asks to cover."""
    match ev:
        case sc.CommsLost(battery=None):
            return "comms_lost (whole bus)"
        case sc.CommsLost():
            return "comms_lost (one battery)"
        case sc.FirmwareUpdate(result=r):
            return f"firmware_update ({r})"
        case sc.AddBattery(battery=None):
            return "add_battery (new)"
        case sc.AddBattery():
            return "add_battery (put back)"
    return ev.action


#: every label :func:`action_label` gives: SPEC 17's actions and the variants
ACTION_LABELS: tuple[str, ...] = tuple(sorted(
    {a for a in sc.ACTIONS if a not in ("comms_lost", "firmware_update", "add_battery")}
    | {"comms_lost (whole bus)", "comms_lost (one battery)", "firmware_update (success)",
       "firmware_update (fail)", "add_battery (new)", "add_battery (put back)"}))


@dataclass(frozen=True)
class CampaignScenario:
    seed: int
    example: str
    text: str
    scenario: sc.Scenario
    faults: list[Fault]


def build_scenario(seed: int, days: float, examples_dir: Path | None = None,
                   per_day: float = FAULTS_PER_DAY) -> CampaignScenario:
    """The scenario of run ``seed``: a system example, ``days`` long, with random faults."""
    example = SYSTEM_EXAMPLES[seed % len(SYSTEM_EXAMPLES)]
    base = (examples_dir or default_examples_dir()) / example
    doc = tomllib.loads(base.read_text(encoding="utf-8"))
    duration_s = round(days * 86400.0, 3)
    doc["name"] = f"fault campaign, seed {seed}: {doc['name']}"
    doc["duration"] = duration_s
    doc["seed"] = seed
    doc["sample_interval"] = "15m"
    bank = dict(doc["bank"])
    bank["parallel"] = CAMPAIGN_PARALLEL
    doc["bank"] = bank
    series = int(bank.get("series", 1))
    model = get_model(bank["battery"])
    faults = fault_schedule(seed, duration_s, series * CAMPAIGN_PARALLEL, model.cells_in_series,
                            model.capacity_ah * CAMPAIGN_PARALLEL, per_day,
                            scale=series * model.nominal_voltage_v / 12.8)
    doc["component"] = list(doc.get("component", [])) + component_tables(faults)
    doc["event"] = list(doc.get("event", [])) + event_tables(faults)
    text = (f"# Fault campaign run (tests/reliability/oracle): {example}, {days:g} days,\n"
            f"# {CAMPAIGN_PARALLEL} batteries in parallel, {len(faults)} random faults.\n"
            + dumps(doc))
    scenario = sc.parse_scenario(text, source=f"fault-campaign-seed-{seed}.toml")
    return CampaignScenario(seed, example, text, scenario, faults)


@dataclass
class SeedResult:
    seed: int
    example: str
    days: float
    faults: Counter[str]
    actions: Counter[str]
    refused: int
    report: CheckReport
    core_steps: int
    wall_s: float
    scenario_text: str
    physics: PhysicsRange


def run_seed(seed: int, days: float, examples_dir: Path | None = None,
             per_day: float = FAULTS_PER_DAY) -> SeedResult:
    """Build, run and check one campaign run."""
    t0 = time.perf_counter()
    cs = build_scenario(seed, days, examples_dir, per_day)
    s = cs.scenario
    out = io.StringIO()
    runner = make_runner(s, out, log=lambda _msg: None)
    recorder = TruthRecorder(runner)
    result = runner.run()
    config = CheckConfig(step_s=s.step_s,
                         cells_in_series=s.bank.model.cells_in_series * s.bank.series)
    report = check(parse_lines(out.getvalue()), recorder.ticks, config)
    return SeedResult(
        seed=seed, example=cs.example, days=days,
        faults=Counter(f.kind for f in cs.faults),
        actions=Counter(action_label(ev) for ev in s.events),
        refused=len(result.refused), report=report, core_steps=runner.core_steps,
        wall_s=time.perf_counter() - t0, scenario_text=cs.text,
        physics=recorder.physics,
    )


@dataclass
class CampaignResult:
    runs: list[SeedResult] = field(default_factory=list)

    @property
    def days(self) -> float:
        return sum(r.days for r in self.runs)

    @property
    def violations(self) -> list[tuple[int, Violation]]:
        return [(r.seed, v) for r in self.runs for v in r.report.violations]

    def total(self, attr: str) -> int:
        return sum(int(getattr(r, attr)) for r in self.runs)

    def faults(self) -> Counter[str]:
        c: Counter[str] = Counter()
        for r in self.runs:
            c.update(r.faults)
        return c

    def actions(self) -> Counter[str]:
        c: Counter[str] = Counter()
        for r in self.runs:
            c.update(r.actions)
        return c

    def missing_actions(self) -> list[str]:
        """Action labels some run did not inject (the target is none)."""
        return [a for a in ACTION_LABELS if any(r.actions[a] == 0 for r in self.runs)]

    def rules(self) -> dict[str, RuleStats]:
        out = {name: RuleStats() for name in RULES}
        for r in self.runs:
            for name, st in r.report.rules.items():
                o = out[name]
                o.episodes += st.episodes
                o.answered += st.answered
                o.ended_before_due += st.ended_before_due
                o.violations += st.violations
                o.worst_ticks = max(o.worst_ticks, st.worst_ticks)
                o.worst_s = max(o.worst_s, st.worst_s)
        return out

    def lead_checks(self) -> int:
        return sum(r.report.lead_checks for r in self.runs)

    def skipped_intervals(self) -> int:
        return sum(r.report.skipped_intervals for r in self.runs)

    def ticks(self) -> int:
        return sum(r.report.ticks for r in self.runs)

    def physics(self) -> PhysicsRange:
        """The twin's true extremes over every run."""
        out = PhysicsRange()
        for r in self.runs:
            out = out.widen(r.physics)
        return out

    def violations_by_rule(self) -> Counter[str]:
        return Counter(v.rule for _, v in self.violations)


def run_campaign(seeds: Iterable[int], days: float, examples_dir: Path | None = None,
                 per_day: float = FAULTS_PER_DAY,
                 progress: Callable[[SeedResult], None] | None = None) -> CampaignResult:
    """Run and check every seed, one after the other."""
    result = CampaignResult()
    for seed in seeds:
        r = run_seed(seed, days, examples_dir, per_day)
        result.runs.append(r)
        if progress is not None:
            progress(r)
    return result
