"""The crash campaign: start the real ``smallbms run``, drive it, SIGKILL it, check what it left.

The driver behind ``tests/reliability/test_crash_service.py`` (nine cycles in CI) and
``tools/reliability_crash.py`` (the full campaign, 100+ cycles). Every cycle:

1. starts ``smallbms run`` on a free port with a data directory that lives across the cycles,
   accelerated (``speed``) so the bank moves, and with ``[run] bus_delay_s`` so every start
   begins without battery data, as a real bus does after a power-up;
2. waits for it to answer and logs in with the PIN printed at the first start (a restart must
   not print it again); checks the restart: the settings it shows are the ones found on disk
   after the previous kill, its consumed Ah continues from the loaded state, and both
   disconnects are floating while it has no battery data;
3. drives it through the HTTP API (:class:`~tests.reliability.crash_service.Activity`) while the
   store writes a sample and the state at every tick;
4. SIGKILLs it: right after an acknowledged settings change, while a settings request is in
   flight, or at a random moment (the first cycles take each kind in turn, then at random);
5. with the service down, copies the SQLite file and its WAL aside and checks the copy:
   ``PRAGMA integrity_check``; the newest saved state row loads (``persistent_from_dict``); the
   settings are exactly the acknowledged ones or, with a request in flight, those it asked for,
   never a mix; history counters only move forward unless a reset was sent; the consumed Ah is
   within what the bank's largest current could move in the lost window (from the last value
   seen to the kill, plus the age of the saved state); the first decision of the run (the
   sample the device stores at its first tick) had both disconnects floating.

Every problem is recorded against its cycle and counted; the CI test asserts there are none,
the part program reports them.
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from smallbms.catalog import CATALOGUE
from smallbms.core.persist import persistent_from_dict
from smallbms.core.settings import DEFAULT_SETTINGS, Settings
from smallbms.scenario import load_scenario
from smallbms.service.main import default_scenario_path
from smallbms.service.store import Store
from tests.reliability.crash_service import (
    KNOWN_VALUES,
    REQUEST_TIMEOUT_S,
    Activity,
    Observation,
    PendingChange,
    Service,
    login,
    observe,
    started,
)

DB_NAME = "smallbms.sqlite3"
START_TIMEOUT_S = 120.0  # numpy/numba imports on a busy 2-core machine
KILL_ARM_TIMEOUT_S = 30.0  # how long a kill waits for the moment it wants
ROUNDING_AH = 0.02  # consumed Ah is shown rounded to 0.01 Ah

#: history counters that only grow, or (negative Ah, minima) only shrink, until a reset
GROWING = ("discharged_energy_kwh", "charged_energy_kwh", "synchronisations", "cycles",
           "max_battery_voltage_v", "max_cell_voltage_v", "max_battery_temperature_c")
SHRINKING = ("cumulative_ah_drawn", "deepest_discharge_ah", "min_battery_voltage_v",
             "min_cell_voltage_v", "min_battery_temperature_c")

KILL_MODES = ("after_ack", "in_flight", "random")


@dataclass(frozen=True)
class CampaignConfig:
    """How the service runs during the campaign."""

    tick_s: float = 0.25
    speed: float = 200.0  # 50 simulated seconds per tick: the twin's loads and sun move the bank
    sample_every_s: float = 50.0  # simulated: one sample (and one saved state) per tick
    bus_delay_s: float = 100.0  # simulated: the first two ticks of a start have no battery data
    run_min_s: float = 0.5  # real seconds of activity before a kill is armed
    run_max_s: float = 2.5


# --- the checks with the service down --------------------------------------------------------------


@dataclass
class DiskState:
    integrity: str
    newest_row_problem: str | None
    state: dict[str, Any] | None
    saved_wall_s: float | None
    samples: int
    newest_sample_wall_s: float | None
    first_sample_of_run: dict[str, Any] | None
    outputs_high_in_run: bool


def read_disk(data_dir: Path, scratch: Path, run_started_wall: float) -> DiskState:
    """Copy the store (and its WAL) aside and read the copy: the original stays as the kill left it.

    The copy is read directly (``PRAGMA integrity_check``, the newest state row, which
    ``Store.load_state`` would silently skip if damaged) and then opened the way the service
    opens it (``Store``, which replays the WAL and validates the kept states).
    """
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    src = data_dir / DB_NAME
    for suffix in ("", "-wal"):
        f = Path(str(src) + suffix)
        if f.exists():
            shutil.copy2(f, Path(str(scratch / DB_NAME) + suffix))
    db = scratch / DB_NAME
    c = sqlite3.connect(db)
    try:
        integrity = "\n".join(str(r[0]) for r in c.execute("PRAGMA integrity_check"))
        row = c.execute("SELECT saved_wall_s, body FROM state ORDER BY id DESC LIMIT 1").fetchone()
        problem: str | None = None
        state: dict[str, Any] | None = None
        saved: float | None = None
        if row is None:
            problem = "no saved state"
        else:
            try:
                state = json.loads(row[1])
                persistent_from_dict(state)
                saved = float(row[0])
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                problem = f"{type(e).__name__}: {e}"
                state = None
        n, newest = c.execute("SELECT COUNT(*), MAX(wall_s) FROM samples").fetchone()
        # the device stamps samples with its own start time plus simulated time / speed, so
        # every sample of this run is later than the moment the process was started
        first = c.execute("SELECT body FROM samples WHERE wall_s >= ? ORDER BY wall_s LIMIT 1",
                          (run_started_wall,)).fetchone()
        high = c.execute(
            "SELECT COUNT(*) FROM samples WHERE wall_s >= ? AND "
            "(json_extract(body, '$.outputs.load_disconnect') = 'high' OR "
            "json_extract(body, '$.outputs.charge_disconnect') = 'high')",
            (run_started_wall,)).fetchone()[0]
    finally:
        c.close()
    with Store(db) as store:
        again = store.integrity_check()
        if again != "ok":
            integrity += f" (through Store: {again})"
        store.load_state_entry()  # StoreError if every kept row is damaged
    return DiskState(integrity, problem, state, saved, int(n), newest,
                     json.loads(first[0]) if first else None, bool(high))


# --- what the campaign records ------------------------------------------------------------------


@dataclass
class CycleRecord:
    """What one cycle did and found."""

    index: int
    mode: str  # how the kill was meant: after_ack, in_flight, random
    start_s: float = 0.0
    run_s: float = 0.0
    killed: str | None = None  # how it landed (random when the wanted moment never came)
    in_flight: str | None = None  # kind of the settings request in flight at the kill
    in_flight_applied: bool | None = None  # did the in-flight request's change survive?
    since_ack_s: float | None = None
    ack_latencies_s: list[float] = field(default_factory=list)
    actions: int = 0
    state_age_s: float | None = None
    samples_lost: int | None = None
    soc_jump_ah: float | None = None
    soc_bound_ah: float | None = None
    restart_jump_ah: float | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class CampaignResult:
    seed: int
    config: CampaignConfig
    cycles: list[CycleRecord] = field(default_factory=list)
    wall_s: float = 0.0
    acked_settings_lost: int = 0
    torn_settings: int = 0
    corrupt_stores: int = 0
    not_floating_first: int = 0
    first_decision_missing: int = 0
    outputs_high_later: int = 0
    soc_violations: int = 0
    history_violations: int = 0
    other_problems: int = 0
    samples_stored: int = 0

    @property
    def problems(self) -> list[str]:
        return [f"cycle {r.index}: {p}" for r in self.cycles for p in r.problems]

    def count(self, mode: str) -> int:
        return sum(1 for r in self.cycles if r.killed == mode)

    def figures(self) -> dict[str, Any]:
        """The measured numbers, most important first (units in the names)."""
        def mx(xs: list[float | None], digits: int = 3) -> float | None:
            vals = [x for x in xs if x is not None]
            return round(max(vals), digits) if vals else None

        cyc = self.cycles
        bounds = [r.soc_bound_ah for r in cyc if r.soc_bound_ah is not None]
        lat = sorted(x for r in cyc for x in r.ack_latencies_s)
        return {
            "cycles": len(cyc),
            "acknowledged_settings_lost": self.acked_settings_lost,
            "corrupt_stores": self.corrupt_stores,
            "restarts_outputs_not_floating_first": self.not_floating_first,
            "max_samples_lost": max((r.samples_lost or 0 for r in cyc), default=0),
            "max_saved_state_age_at_kill_s": mx([r.state_age_s for r in cyc]),
            "max_consumed_ah_jump": mx([r.soc_jump_ah for r in cyc]),
            "min_consumed_ah_bound": round(min(bounds), 3) if bounds else None,
            "max_restart_consumed_ah_jump": mx([r.restart_jump_ah for r in cyc]),
            "torn_settings": self.torn_settings,
            "soc_bound_violations": self.soc_violations,
            "history_violations": self.history_violations,
            "restarts_first_decision_not_found": self.first_decision_missing,
            "runs_with_outputs_high_later": self.outputs_high_later,
            "other_problems": self.other_problems,
            "kills_after_acknowledged_change": self.count("after_ack"),
            "kills_during_settings_request": self.count("in_flight"),
            "kills_at_random_moment": self.count("random"),
            "random_kills_with_settings_request_in_flight": sum(
                1 for r in cyc if r.killed == "random" and r.in_flight is not None),
            "in_flight_changes_applied": sum(1 for r in cyc if r.in_flight_applied),
            "in_flight_changes_not_applied": sum(1 for r in cyc if r.in_flight_applied is False),
            "settings_changes_acknowledged": len(lat),
            "settings_ack_latency_median_s": round(lat[len(lat) // 2], 3) if lat else None,
            "settings_ack_latency_max_s": round(lat[-1], 3) if lat else None,
            "actions_sent": sum(r.actions for r in cyc),
            "samples_stored": self.samples_stored,
            "max_start_s": mx([r.start_s for r in cyc], 1),
            "seed": self.seed,
            "tick_s": self.config.tick_s,
            "speed": self.config.speed,
            "wall_s": round(self.wall_s, 1),
        }


# --- one cycle ---------------------------------------------------------------------------------


@dataclass
class Bank:
    """What the bounds need to know about the campaign's bank."""

    max_current_a: float  # the largest pulse current the bank may carry, either way
    capacity_ah: float

    @classmethod
    def default(cls) -> Bank:
        with default_scenario_path() as p:
            s = load_scenario(p)
        m = CATALOGUE[s.bank.model.model_id]
        return cls(max(m.pulse_discharge_a, m.pulse_charge_a) * s.bank.parallel,
                   s.bank.model.capacity_ah * s.bank.parallel)

    def ah_in(self, sim_s: float) -> float:
        """The most charge the bank can move in ``sim_s`` simulated seconds, plus rounding."""
        return self.max_current_a * sim_s / 3600.0 + ROUNDING_AH


def write_config(root: Path, cfg: CampaignConfig) -> Path:
    f = root / "crash-run.toml"
    f.write_text(
        "[run]\n"
        f"tick_s = {cfg.tick_s}\n"
        f"speed = {cfg.speed}\n"
        f"sample_every_s = {cfg.sample_every_s}\n"
        f"bus_delay_s = {cfg.bus_delay_s}\n")
    return f


def start_and_login(svc: Service, pin: str | None) -> tuple[str, str]:
    """Wait for the service, log in; (PIN, token). Only the first start may print the PIN."""
    deadline = time.monotonic() + START_TIMEOUT_S
    svc.until(r"smallbms is running", deadline)
    line = svc.until(r"^(Your device PIN|PIN:)", deadline)
    m = re.search(r"(\d{6,12})\s*$", line)
    if pin is None:
        if m is None:
            raise AssertionError(f"the first start printed no PIN: {line!r}")
        pin = m.group(1)
    elif m is not None:
        raise AssertionError(f"a restart printed a PIN again: {line!r}")
    svc.wait_listening(deadline)
    return pin, login(svc.url, pin, deadline)


def check_restart(svc: Service, token: str, rec: CycleRecord, res: CampaignResult,
                  settings: Settings, loaded: dict[str, Any] | None, cfg: CampaignConfig,
                  bank: Bank) -> Observation:
    """What the restarted service shows before anything is changed; returns the first
    observation with battery data (the activity starts from it)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(base_url=svc.url, timeout=REQUEST_TIMEOUT_S,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        first = observe(c)
        shown = c.get("/api/settings").json()["values"]
        ready = first
        while "no_battery_data" in ready.reasons:  # the bus answers after bus_delay_s
            if time.monotonic() > deadline:
                raise AssertionError(f"no battery data in time: {svc.tail()}")
            time.sleep(0.02)  # nothing to wait on but the next tick's snapshot
            ready = observe(c)
    if shown != settings.as_dict():
        rec.problems.append(f"after the restart the service shows settings {shown}, the store "
                            f"held {settings.as_dict()}")
        res.acked_settings_lost += 1
    if "no_battery_data" in first.reasons and (
            first.outputs["load_disconnect"] != "floating"
            or first.outputs["charge_disconnect"] != "floating"):
        rec.problems.append(f"outputs {first.outputs} at t={first.t_s} s with no battery data")
        res.not_floating_first += 1
    if loaded is not None and first.consumed_ah is not None:
        was = float(loaded["monitor"]["consumed_ah"])
        rec.restart_jump_ah = round(abs(first.consumed_ah - was), 4)
        bound = bank.ah_in(first.t_s + cfg.tick_s * cfg.speed)
        if rec.restart_jump_ah > bound:
            rec.problems.append(f"consumed Ah after the restart {first.consumed_ah} is "
                                f"{rec.restart_jump_ah:.3f} Ah from the loaded {was:.3f} "
                                f"(bound {bound:.3f})")
            res.soc_violations += 1
    return ready


def drive_and_kill(act: Activity, mode: str, rng: random.Random, cfg: CampaignConfig) -> None:
    act.start()
    try:
        # a random while of activity: this picks the kill moment, it waits for nothing
        time.sleep(rng.uniform(cfg.run_min_s, cfg.run_max_s))
        deadline = time.monotonic() + KILL_ARM_TIMEOUT_S
        if mode == "after_ack":
            act.kill_after_next_ack(deadline)
        elif mode == "in_flight":
            act.kill_when_in_flight(rng, deadline)
        act.kill_now()  # random mode, or the wanted moment never came
    finally:
        act.svc.reap()
        act.join()


def check_settings(saved: Settings, act: Activity, rec: CycleRecord, res: CampaignResult) -> None:
    """Exactly the acknowledged settings, or those of the request in flight; never a mix."""
    pending: PendingChange | None = act.kill_in_flight
    bad = {n: v for n, v in asdict(saved).items() if v not in KNOWN_VALUES[n]}
    if bad:
        rec.problems.append(f"settings hold values the campaign never wrote: {bad}")
        res.torn_settings += 1
    elif saved == act.acked:
        if pending is not None and pending.after != pending.before:
            rec.in_flight_applied = False
    elif pending is not None and saved == pending.after:
        rec.in_flight_applied = True
    elif pending is not None and pending.is_mix(saved):
        rec.problems.append(f"torn settings: the {pending.kind} in flight was applied in part "
                            f"({asdict(saved)}; asked {asdict(pending.after)})")
        res.torn_settings += 1
    else:
        rec.problems.append(f"acknowledged settings lost: saved {asdict(saved)}, acknowledged "
                            f"{asdict(act.acked)} ({rec.since_ack_s} s before the kill)")
        res.acked_settings_lost += 1


def history_moves(prev: dict[str, Any], now: dict[str, Any]) -> list[str]:
    out = []
    for key in GROWING:
        a, b = prev.get(key), now.get(key)
        if a is not None and (b is None or b < a - 1e-9):
            out.append(f"history.{key} fell {a} -> {b}")
    for key in SHRINKING:
        a, b = prev.get(key), now.get(key)
        if a is not None and (b is None or b > a + 1e-9):
            out.append(f"history.{key} rose {a} -> {b}")
    return out


def check_soc(state: dict[str, Any], act: Activity, kill_wall: float, rec: CycleRecord,
              res: CampaignResult, cfg: CampaignConfig, bank: Bank) -> None:
    """The saved consumed Ah is within what the bank could move in the lost window, from the
    last value seen (or from what a SoC action sent around then would have set)."""
    last, candidates = act.soc_candidates()
    if last is None or last.consumed_ah is None or rec.state_age_s is None:
        return
    saved_ah = float(state["monitor"]["consumed_ah"])
    window_s = (max(0.0, kill_wall - last.wall_s) + max(0.0, rec.state_age_s)) * cfg.speed
    bound = bank.ah_in(window_s + cfg.tick_s * cfg.speed)
    if state["history"]["synchronisations"] > last.synchronisations:
        candidates.append(0.0)  # synchronised (by hand or automatically) after the observation
    jump = min(abs(saved_ah - x) for x in [last.consumed_ah, *candidates])
    rec.soc_jump_ah, rec.soc_bound_ah = round(jump, 4), round(bound, 4)
    if jump > bound:
        rec.problems.append(f"consumed Ah jumped {jump:.3f} Ah (bound {bound:.3f}): saved "
                            f"{saved_ah:.3f}, last seen {last.consumed_ah}")
        res.soc_violations += 1


def check_first_decision(disk: DiskState, rec: CycleRecord, res: CampaignResult) -> None:
    """The first decision of the run (stored at its first tick) had both disconnects floating."""
    fs = disk.first_sample_of_run
    if fs is None:
        rec.problems.append("the first decision of the run is not in the store")
        res.first_decision_missing += 1
    elif (fs["outputs"]["load_disconnect"] != "floating"
          or fs["outputs"]["charge_disconnect"] != "floating"
          or "no_battery_data" not in fs["discharge_reasons"]):
        rec.problems.append(f"first decision after the start: outputs {fs['outputs']}, "
                            f"reasons {fs['discharge_reasons']}")
        res.not_floating_first += 1
    res.outputs_high_later += disk.outputs_high_in_run


# --- the campaign ------------------------------------------------------------------------------


def run_campaign(root: Path, cycles: int, seed: int, cfg: CampaignConfig | None = None,
                 log: Callable[[str], None] | None = None,
                 modes: tuple[str, ...] = KILL_MODES) -> CampaignResult:
    """Run ``cycles`` start-drive-kill-check cycles in ``root`` (kept across the cycles)."""
    cfg = cfg or CampaignConfig()
    t0 = time.monotonic()
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    config_file = write_config(root, cfg)
    bank = Bank.default()
    res = CampaignResult(seed=seed, config=cfg)
    pin: str | None = None
    prev: dict[str, Any] | None = None  # the state found after the previous kill
    settings = DEFAULT_SETTINGS
    for k in range(cycles):
        # every kind of kill early on (so a short campaign has them all), then at random
        rec = CycleRecord(k, modes[k] if k < len(modes) else rng.choice(modes))
        with started(config_file, data) as svc:
            pin, token = start_and_login(svc, pin)
            rec.start_s = round(time.time() - svc.started_wall, 2)
            ready = check_restart(svc, token, rec, res, settings, prev, cfg, bank)
            act = Activity(svc, token, settings, random.Random(rng.randrange(1 << 30)),
                           bank.capacity_ah)
            act.observations.append(ready)
            drive_and_kill(act, rec.mode, rng, cfg)
        kill_wall = svc.kill_wall
        assert kill_wall is not None
        rec.run_s = round(kill_wall - svc.started_wall - rec.start_s, 2)
        rec.killed = act.kill_reason
        rec.in_flight = act.kill_in_flight.kind if act.kill_in_flight is not None else None
        rec.since_ack_s = act.kill_since_ack_s
        rec.ack_latencies_s = act.ack_latencies_s
        rec.actions = len(act.actions)
        rec.problems += act.errors
        res.other_problems += len(act.errors)
        # --- the checks, service down
        disk = read_disk(data, root / "check", svc.started_wall)
        res.samples_stored = disk.samples
        res.cycles.append(rec)
        if disk.integrity != "ok" or disk.state is None or disk.saved_wall_s is None:
            rec.problems.append(f"store damaged: integrity {disk.integrity!r}, newest state "
                                f"row: {disk.newest_row_problem}")
            res.corrupt_stores += 1
            break  # the next start would refuse the store: nothing more to learn
        state = disk.state
        rec.state_age_s = round(kill_wall - disk.saved_wall_s, 3)
        if disk.newest_sample_wall_s is not None:
            rec.samples_lost = max(0, math.floor(
                (kill_wall - disk.newest_sample_wall_s) / (cfg.sample_every_s / cfg.speed)))
        settings = Settings(**state["settings"])
        check_settings(settings, act, rec, res)
        if prev is not None and not any(a.kind == "reset_history" for a in act.actions):
            moves = history_moves(prev["history"], state["history"])
            rec.problems += moves
            res.history_violations += len(moves)
        check_soc(state, act, kill_wall, rec, res, cfg, bank)
        check_first_decision(disk, rec, res)
        prev = state
        if log is not None:
            log(cycle_line(rec))
    res.wall_s = time.monotonic() - t0
    return res


def cycle_line(r: CycleRecord) -> str:
    flight = f" in flight: {r.in_flight}" if r.in_flight else ""
    ack = f", {r.since_ack_s:.3f} s after an ack" if r.since_ack_s is not None else ""
    return (f"cycle {r.index:3d}: killed {r.killed}{flight}{ack}; start {r.start_s:.1f} s, "
            f"run {r.run_s:.1f} s, {len(r.ack_latencies_s)} changes acked, state age "
            f"{r.state_age_s} s, samples lost {r.samples_lost}, consumed jump {r.soc_jump_ah} "
            f"/ {r.soc_bound_ah} Ah" + (f"; PROBLEMS: {r.problems}" if r.problems else ""))
