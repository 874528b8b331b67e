"""Run a scenario headless and write the JSON Lines events of SPEC 17.

The runner owns simulated time. It ticks the core every ``step`` seconds and also exactly at
every scenario event (so an event between ticks takes effect at its own time), feeds the core
readings from the scenario's source, turns scenario events into core commands or source faults,
and writes output/code/LED changes, samples and the final summary.
"""

from __future__ import annotations

import heapq
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

import numpy as np

from smallbms import scenario as sc
from smallbms.core import monitor as mon
from smallbms.core import types as ct
from smallbms.core.engine import Core, Persistent
from smallbms.core.types import Decision
from smallbms.events import EventWriter, history_summary, sample_fields
from smallbms.integrations.instant_readout import (
    InstantReadout,
    advert_hex_for_sample,
    key_for_seed,
)
from smallbms.runner import BmsLoop
from smallbms.sources.script import ScriptPoint, ScriptSource
from smallbms.sources.twin import TwinSource, region_for_reports

DEFAULT_SAMPLE_INTERVAL_S = 60.0
#: (P) the longest stretch skipped in one go, s.
MAX_SKIP_S = 6 * 3600.0


@dataclass
class RunResult:
    core: Core
    end_t_s: float
    lines: int
    refused: list[str] = field(default_factory=list)


def _script_source(s: sc.Scenario) -> ScriptSource:
    points = [
        ScriptPoint(
            at_s=r.at_s,
            cells_v=np.asarray(r.cells_v, dtype=float),
            temperatures_c=np.asarray(r.temperatures_c, dtype=float),
            current_a=r.current_a,
            voltage_v=r.voltage_v,
        )
        for r in s.readings
    ]
    return ScriptSource(s.bank.battery, s.bank.series, s.bank.parallel, points, s.seed)


def initial_persistent(s: sc.Scenario) -> Persistent:
    """The BMS as commissioned at t = 0: the scenario's settings and, if given, its SoC (set
    the monitor's own way, as a user's "set SoC" would)."""
    p = Persistent(settings=s.settings)
    if s.profile == "ng" and s.bank.soc_pct is not None:
        mon.set_soc(p.monitor, s.bank.soc_pct, s.bank.model.capacity_ah * s.bank.parallel)
    return p


def initial_core(s: sc.Scenario) -> Core:
    """The core a scenario run starts with (the same core the device runs)."""
    return Core(s.profile, initial_persistent(s))


class Runner:
    """Drives one scenario. ``source`` must also accept the scenario's fault events."""

    def __init__(self, s: sc.Scenario, source: ScriptSource | TwinSource, out: IO[str],
                 sample_interval_s: float, log: Callable[[str], None], skip: bool = True,
                 progress: Callable[[float], None] | None = None,
                 instant_readout: bool = False) -> None:
        self.s = s
        self.source = source
        self.twin = source if isinstance(source, TwinSource) else None
        self.skip = skip and self.twin is not None
        self.progress = progress
        self.dense_until_s = -math.inf
        self.core_steps = 0
        self.observers: list[Callable[[float, Decision, Core], None]] = []
        self.core = initial_core(s)
        # the script source ignores the outputs; the twin obeys them
        self.loop = BmsLoop(self.core, source, self.twin.obey if self.twin is not None else None)
        self.writer = EventWriter(out, s.profile)
        self.sample_interval_s = sample_interval_s
        # --instant-readout: a key derived from the seed and nonces from 0, so runs stay
        # byte-for-byte reproducible (SPEC 17)
        self.instant_readout = (
            InstantReadout(key_for_seed(s.seed), nonce=0) if instant_readout else None)
        self.log = log
        self.refused: list[str] = []
        self.pending: list[ct.Command] = []
        self.unpowered_until_s: float | None = None
        self.source.remote = s.remote
        # timed follow-ups (firmware update end, power back) as (t, seq, action)
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0

    def _later(self, t_s: float, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (t_s, self._seq, fn))

    def _event(self, ev: sc.Event, t_s: float) -> None:
        bus = self.source.bus
        cmd = self.pending.append
        match ev:
            case sc.CommsLost(battery=b):
                if b is None:
                    bus.cut_all = True
                else:
                    bus.cut.add(b)
            case sc.CommsRestored():
                bus.cut_all = False
                bus.cut.clear()
            case sc.Remote(bridged=br, l_volts=lv, h_volts=hv):
                self.source.remote = ct.RemoteInput(bridged=br, l_volts=lv, h_volts=hv)
            case sc.Mode(value=v):
                cmd(ct.SetMode(v))
            case sc.SetSetting(setting=name, value=value):
                cmd(ct.ChangeSetting(name, value))
            case sc.SyncSoc():
                cmd(ct.SyncSoc())
            case sc.SetSoc(value=v):
                cmd(ct.SetSoc(v))
            case sc.ResetDefaults():
                cmd(ct.ResetDefaults())
            case sc.ResetHistory():
                cmd(ct.ResetHistory())
            case sc.ForceCell(battery=b, cell=c, volts=v):
                self.source.force_cell(b, c, v)
            case sc.ForceTemperature(battery=b, celsius=c):
                self.source.force_temperature(b, c)
            case sc.Release(battery=b):
                self.source.release(b)
            case sc.FirmwareUpdate(result=result, duration_s=dur):
                cmd(ct.FirmwareUpdateStarted())
                ok = result == "success"
                self._later(t_s + dur, lambda: self.pending.append(ct.FirmwareUpdateFinished(ok)))
            case sc.HardwareFault(value=v):
                self.source.output_fault = v
            case sc.PowerCycle(duration_s=dur):
                self.unpowered_until_s = t_s + dur
            case sc.Wireless(value=v):
                cmd(ct.SetWireless(v == "on"))
            case sc.AddBattery(battery=b):
                if b is not None and b in bus.removed:
                    bus.removed.discard(b)  # the removed battery is put back
                else:
                    bus.added += 1
            case sc.RemoveBattery(battery=b):
                bus.removed.add(b)
            case sc.AcceptBank():
                cmd(ct.AcceptBank())
            case _:  # pragma: no cover - the parser admits only the actions above
                raise ValueError(f"unsupported event {ev!r}")

    def _tick(self, t_s: float) -> Decision:
        unpowered = self.unpowered_until_s is not None and t_s <= self.unpowered_until_s
        if self.unpowered_until_s is not None and not unpowered:
            self.unpowered_until_s = None
        if self.twin is not None:
            self.twin.bms_powered = not unpowered
        commands, self.pending = self.pending, []
        d = self.loop.tick(t_s, commands, powered=not unpowered)
        self.core_steps += 1
        for r in d.command_results:
            if not r.accepted:
                msg = f"t={t_s:g}s: {type(r.command).__name__} refused: {r.message}"
                self.refused.append(msg)
                self.log(msg)
        return d

    def _skip_target(self, t: float, limit: float, next_tick: float) -> float | None:
        """Try to skip the quiet stretch (t, limit]; return the next tick time or None (the
        next tick is then ``next_tick``, the one without a skip)."""
        twin = self.twin
        assert twin is not None
        step = self.s.step_s
        core = self.core
        region = region_for_reports(core.quiet_region())
        if region.deadline_s is not None:
            limit = min(limit, region.deadline_s)
        limit = min(limit, t + MAX_SKIP_S)
        target = math.floor(limit / step + 1e-9) * step
        if target - t <= step:
            return None
        reached = twin.quiet_until(target, region)
        if reached >= target - 1e-9:
            return target
        # the twin waits at the start of the segment that left the region (quiet_until and
        # locate_exit undo what was not quiet), and the next reading steps on from there as an
        # uninterrupted run would. A segment that starts off the step grid (a sunrise, say) and
        # left the region within its first step puts that point past the tick before the exit:
        # that tick would read the quiet end of the previous segment, so the BMS reads next at
        # the first tick of the grid after the segment's start, the first at which an
        # every-second run can see the change.
        at = twin.st.t_s
        reached = twin.locate_exit(region)
        back = math.floor(reached / step + 1e-9) * step
        self.dense_until_s = reached + twin.exit_window_s + step
        nxt = back if back - t > step else next_tick
        if at > nxt + 1e-9:
            return math.ceil(at / step - 1e-9) * step
        return nxt

    def run(self) -> RunResult:
        s = self.s
        step = s.step_s
        end = s.duration_s
        events = list(s.events)
        ei = 0
        t = 0.0
        next_sample = self.sample_interval_s
        last_d: Decision | None = None
        while True:
            while ei < len(events) and events[ei].at_s <= t + 1e-9:
                self._event(events[ei], t)
                ei += 1
            while self._timers and self._timers[0][0] <= t + 1e-9:
                heapq.heappop(self._timers)[2]()
            d = self._tick(t)
            self.writer.decision(t, d)
            for obs in self.observers:
                obs(t, d, self.core)
            last_d = d
            if t + 1e-9 >= next_sample:
                fields = sample_fields(self.core.status(), d)
                if self.instant_readout is not None:
                    fields["advert"] = advert_hex_for_sample(
                        self.instant_readout, {**fields, "outputs": {"pre_alarm": d.pre_alarm}},
                        d.active_codes)
                self.writer.sample(t, fields)
                while next_sample <= t + 1e-9:
                    next_sample += self.sample_interval_s
                if self.progress is not None:
                    self.progress(t)
            if t >= end - 1e-9:
                break
            # the next tick: the next point of the step grid, or an event or timer before it
            limit = min(end, next_sample)
            if ei < len(events):
                limit = min(limit, events[ei].at_s)
            if self._timers:
                limit = min(limit, self._timers[0][0])
            nxt = min(limit, (math.floor(t / step + 1e-9) + 1) * step)
            # a skip may land on a sample or the end, but must stop one tick short of an event
            # or timer: the core has to see the quiet reading just before it changes things
            # (e.g. the comms timers count from the last complete reading)
            skip_limit = min(end, next_sample)
            if ei < len(events):
                skip_limit = min(skip_limit, events[ei].at_s - step)
            if self._timers:
                skip_limit = min(skip_limit, self._timers[0][0] - step)
            if (self.skip and t >= self.dense_until_s and self.unpowered_until_s is None
                    and skip_limit - t > 2 * step):
                target = self._skip_target(t, skip_limit, nxt)
                if target is not None:
                    nxt = target
            t = nxt
        assert last_d is not None
        core = self.core
        hist = history_summary(core.history_dict()) if s.profile == "ng" else None
        extra: dict[str, object] | None = (
            {"twin": self.twin.summary()} if self.twin is not None else None)
        if self.instant_readout is not None:
            extra = {**(extra or {}), "advert_key": self.instant_readout.key_hex}
        self.writer.summary(end, hist, last_d.active_codes, extra)
        return RunResult(core, end, self.writer.lines_written, self.refused)


def make_runner(
    s: sc.Scenario, out: IO[str], sample_interval_s: float | None = None,
    log: Callable[[str], None] | None = None, skip: bool = True,
    progress: Callable[[float], None] | None = None, instant_readout: bool = False,
) -> Runner:
    """A runner for a parsed scenario (not started), writing events to ``out``."""
    interval = sample_interval_s or s.sample_interval_s or DEFAULT_SAMPLE_INTERVAL_S
    source: ScriptSource | TwinSource = (
        TwinSource(s) if s.bank.source == "twin" else _script_source(s))
    logger = log or (lambda msg: print(msg, file=sys.stderr))
    return Runner(s, source, out, interval, logger, skip=skip, progress=progress,
                  instant_readout=instant_readout)


def run_scenario(
    s: sc.Scenario, out: IO[str], sample_interval_s: float | None = None,
    log: Callable[[str], None] | None = None, skip: bool = True,
) -> RunResult:
    """Run a parsed scenario, writing events to ``out``."""
    return make_runner(s, out, sample_interval_s, log, skip).run()
