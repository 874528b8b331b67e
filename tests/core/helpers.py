"""Builders for readings and banks, a tiny driver that steps a Core, and Hypothesis strategies.

The driver never sleeps and never reads a clock: it passes its own time to the core.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from hypothesis import strategies as st

from smallbms.catalog import CATALOGUE
from smallbms.core.engine import Core
from smallbms.core.settings import Settings
from smallbms.core.types import (
    AcceptBank,
    BatteryReport,
    ChangeSetting,
    CodeEvent,
    Command,
    Decision,
    FirmwareUpdateFinished,
    FirmwareUpdateStarted,
    Profile,
    Reading,
    RemoteInput,
    ResetDefaults,
    ResetHistory,
    SetMode,
    SetSoc,
    SetWireless,
    SyncSoc,
)

GOOD_CELL_V = 3.30
GOOD_TEMP_C = 25.0
BRIDGED = RemoteInput(bridged=True)
NOTHING_CONNECTED = RemoteInput(bridged=False, l_volts=None, h_volts=None)


# --- builders -----------------------------------------------------------------------------------


def battery(
    serial: str = "HQ0001",
    model_id: str = "12.8/100",
    *,
    series_position: int = 0,
    cell_v: float = GOOD_CELL_V,
    cells: Sequence[float] | None = None,
    temperature_c: float = GOOD_TEMP_C,
    current_a: float = 0.0,
    firmware: str = "1.0",
) -> BatteryReport:
    """One battery report; every cell at ``cell_v`` unless ``cells`` gives them one by one."""
    n = CATALOGUE[model_id].cells_in_series
    cv = tuple(cells) if cells is not None else (cell_v,) * n
    return BatteryReport(
        serial=serial, model_id=model_id, firmware=firmware, series_position=series_position,
        cell_voltages_v=cv, temperature_c=temperature_c, current_a=current_a,
    )


def bank(
    series: int = 1,
    parallel: int = 1,
    model_id: str = "12.8/100",
    *,
    cell_v: float = GOOD_CELL_V,
    temperature_c: float = GOOD_TEMP_C,
    serial_prefix: str = "HQ",
) -> tuple[BatteryReport, ...]:
    """A bank of ``series`` x ``parallel`` identical batteries in chain order."""
    out = []
    k = 0
    for _string in range(parallel):
        for pos in range(series):
            k += 1
            out.append(battery(
                f"{serial_prefix}{k:04d}", model_id, series_position=pos, cell_v=cell_v,
                temperature_c=temperature_c))
    return tuple(out)


def bank_voltage(batteries: Iterable[BatteryReport | None]) -> float:
    """Sum of the cells of the first string (series positions counted once)."""
    seen: dict[int, float] = {}
    for b in batteries:
        if b is not None and b.series_position not in seen:
            seen[b.series_position] = sum(b.cell_voltages_v)
    return sum(seen.values())


def reading(
    cell_v: float = GOOD_CELL_V,
    *,
    batteries: tuple[BatteryReport | None, ...] | None = None,
    bank_voltage_v: float | None = None,
    current_a: float | None = 0.0,
    temperature_c: float = GOOD_TEMP_C,
    remote: RemoteInput = BRIDGED,
    output_fault: bool = False,
    app_connected: bool = False,
    charged_ah_total: float | None = None,
    discharged_ah_total: float | None = None,
) -> Reading:
    """A reading of one 12.8/100 battery (or of ``batteries``), bank voltage from the cells."""
    if batteries is None:
        batteries = (battery(cell_v=cell_v, temperature_c=temperature_c),)
    if bank_voltage_v is None:
        bank_voltage_v = bank_voltage(batteries) or 13.2
    return Reading(
        bank_voltage_v=bank_voltage_v, batteries=batteries, current_a=current_a, remote=remote,
        output_fault=output_fault, app_connected=app_connected,
        charged_ah_total=charged_ah_total, discharged_ah_total=discharged_ah_total,
    )


def one_cell(v: float, *, others: float = GOOD_CELL_V, temperature_c: float = GOOD_TEMP_C,
             **kw: object) -> Reading:
    """A 12.8/100 battery with cell 2 at ``v`` and the others at ``others``."""
    b = battery(cells=(others, others, v, others), temperature_c=temperature_c)
    return reading(batteries=(b,), **kw)  # type: ignore[arg-type]


# --- the driver ---------------------------------------------------------------------------------


@dataclass
class Driver:
    """Steps a Core every ``dt`` seconds (default 1 s) from t = ``t0`` and records everything."""

    profile: Profile = "ng"
    settings: Settings | None = None
    dt: float = 1.0
    t0: float = 0.0
    core: Core = field(init=False)
    now: float | None = field(init=False, default=None)
    log: list[tuple[float, Decision]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.core = Core(self.profile, settings=self.settings)

    @property
    def last(self) -> Decision:
        assert self.log, "no step yet"
        return self.log[-1][1]

    def at(self, t: float, r: Reading, commands: Iterable[Command] = ()) -> Decision:
        """Step at exactly time ``t``."""
        d = self.core.step(r, t, tuple(commands))
        self.now = t
        self.log.append((t, d))
        return d

    def tick(self, r: Reading, commands: Iterable[Command] = (), dt: float | None = None) -> Decision:
        """Step at the next tick (t0 for the first step)."""
        t = self.t0 if self.now is None else self.now + (self.dt if dt is None else dt)
        return self.at(t, r, commands)

    def run(self, r: Reading, seconds: float, commands: Iterable[Command] = ()) -> Decision:
        """Step ``seconds / dt`` ticks with the same reading; commands go with the first tick."""
        n = round(seconds / self.dt)
        cmds = tuple(commands)
        d = self.last if self.log else None
        for i in range(n):
            d = self.tick(r, cmds if i == 0 else ())
        assert d is not None
        return d

    def run_until(self, r: Reading, t_end: float) -> Decision:
        """Step every ``dt`` until the last step is at ``t_end`` (or just past it)."""
        d = self.last if self.log else self.tick(r)
        while self.now is not None and self.now < t_end - 1e-9:
            d = self.tick(r)
        return d

    def commission(self, r: Reading | None = None) -> Decision:
        """First step with a healthy complete reading: the bank is learned, outputs go high."""
        d = self.tick(r if r is not None else reading())
        assert d.load_disconnect == "high" and d.charge_disconnect == "high", d
        return d

    @property
    def events(self) -> list[CodeEvent]:
        return [e for _, d in self.log for e in d.events]

    def event_times(self, code: str, state: str = "active") -> list[float]:
        return [e.t_s for e in self.events if e.code == code and e.state == state]

    def first_time(self, pred: Callable[[Decision], bool], after: float = -math.inf) -> float | None:
        for t, d in self.log:
            if t > after and pred(d):
                return t
        return None


def cmd_ok(d: Decision) -> bool:
    return all(r.accepted for r in d.command_results)


# --- Hypothesis strategies ----------------------------------------------------------------------

#: Topologies the property tests draw from: (model, series, parallel).
TOPOLOGIES: tuple[tuple[str, int, int], ...] = (
    ("12.8/100", 1, 1),
    ("12.8/200", 2, 1),
    ("12.8/100", 1, 2),
    ("25.6/100", 1, 1),
)

NAN = math.nan

cell_voltages = st.one_of(
    st.floats(2.0, 4.0, allow_nan=False),
    st.sampled_from([2.79, 2.80, 3.09, 3.10, 3.20, 3.60, 3.75, 3.30]),
    st.just(NAN),
)
temperatures = st.one_of(
    st.floats(-30.0, 80.0, allow_nan=False), st.sampled_from([4.9, 5.0, 6.0, 45.0, 50.0, 50.1]),
)
currents = st.one_of(st.none(), st.floats(-300.0, 300.0, allow_nan=False), st.just(0.05))


@st.composite
def remotes(draw: st.DrawFn) -> RemoteInput:
    if draw(st.booleans()):
        return BRIDGED
    volts = st.one_of(st.none(), st.floats(0.0, 70.0, allow_nan=False))
    return RemoteInput(bridged=False, l_volts=draw(volts), h_volts=draw(volts))


@st.composite
def battery_slots(
    draw: st.DrawFn, topology: tuple[str, int, int]
) -> tuple[BatteryReport | None, ...]:
    """One frame set for the topology: every battery, some None, or () (bus silent)."""
    model_id, series, parallel = topology
    kind = draw(st.sampled_from(["all", "all", "all", "some-missing", "silent"]))
    if kind == "silent":
        return ()
    n_cells = CATALOGUE[model_id].cells_in_series
    base = draw(cell_voltages)
    out: list[BatteryReport | None] = []
    k = 0
    for _p in range(parallel):
        for pos in range(series):
            k += 1
            if kind == "some-missing" and draw(st.booleans()):
                out.append(None)
                continue
            low = draw(st.one_of(st.just(base), cell_voltages))
            cells = (base,) * (n_cells - 1) + (low,)
            out.append(battery(
                f"HQ{k:04d}", model_id, series_position=pos, cells=cells,
                temperature_c=draw(temperatures)))
    return tuple(out)


@st.composite
def readings(draw: st.DrawFn, topology: tuple[str, int, int]) -> Reading:
    slots = draw(battery_slots(topology))
    model_id, series, _ = topology
    if draw(st.booleans()):
        v = draw(st.one_of(st.floats(0.0, 70.0, allow_nan=False), st.just(7.99), st.just(8.0)))
    else:
        v = bank_voltage(slots)
        if math.isnan(v) or v == 0.0:
            v = CATALOGUE[model_id].nominal_voltage_v * series
    return Reading(
        bank_voltage_v=v, batteries=slots, current_a=draw(currents), remote=draw(remotes()),
        output_fault=draw(st.integers(0, 9)) == 0,
        app_connected=draw(st.booleans()),
    )


SETTING_NAMES = (
    "charged_voltage_v", "tail_current_pct", "charged_detection_time_min", "low_soc_warning_pct",
    "discharge_floor_pct", "pre_alarm_level_v",
)

commands_st: st.SearchStrategy[Command] = st.one_of(
    st.builds(SetMode, st.sampled_from(["on", "off"])),
    st.builds(ChangeSetting, st.sampled_from(SETTING_NAMES), st.floats(-5.0, 120.0)),
    st.just(SyncSoc()),
    st.builds(SetSoc, st.floats(-10.0, 110.0)),
    st.just(ResetDefaults()),
    st.just(ResetHistory()),
    st.just(AcceptBank()),
    st.just(FirmwareUpdateStarted()),
    st.builds(FirmwareUpdateFinished, st.booleans()),
    st.builds(SetWireless, st.booleans()),
)


@dataclass(frozen=True)
class Step:
    dt_s: float
    reading: Reading
    commands: tuple[Command, ...]


_CELL_EDGES = (2.79, 2.80, 2.85, 2.95, 3.09, 3.10, 3.19, 3.20, 3.30, 3.60, 3.749, 3.75, 3.80)
_TEMP_EDGES = (-20.0, 4.9, 5.0, 5.9, 6.0, 25.0, 45.0, 45.1, 50.0, 50.1)
_VOLT_EDGES = (0.0, 7.99, 8.0, 8.9, 9.0, 9.9, 10.0, 12.8, 13.2, 14.0, 14.2, 28.0, 60.0, 60.1, 70.0)


def _cell(rng: random.Random) -> float:
    k = rng.random()
    if k < 0.05:
        return NAN
    if k < 0.35:
        return rng.choice(_CELL_EDGES)
    return rng.uniform(2.0, 4.0)


def _command(rng: random.Random) -> Command:
    k = rng.randrange(10)
    if k == 0:
        return SetMode(rng.choice(["on", "off"]))
    if k == 1:
        name = rng.choice(SETTING_NAMES)
        return ChangeSetting(name, rng.choice([rng.uniform(-5.0, 120.0), rng.uniform(0.0, 15.0),
                                               rng.uniform(2.8, 3.2)]))
    if k == 2:
        return SyncSoc()
    if k == 3:
        return SetSoc(rng.choice([rng.uniform(-10.0, 110.0), 0.0, 10.0, 20.0, 64.9, 90.1, 100.0]))
    if k == 4:
        return ResetDefaults()
    if k == 5:
        return ResetHistory()
    if k == 6:
        return AcceptBank()
    if k == 7:
        return FirmwareUpdateStarted()
    if k == 8:
        return FirmwareUpdateFinished(rng.random() < 0.5)
    return SetWireless(rng.random() < 0.5)


def step_from_seed(topology: tuple[str, int, int], dt_s: float, seed: int) -> Step:
    """One random step, fully determined by ``seed`` (cheap to draw, shrinks towards 0).

    Readings: every battery (mostly), some missing, or a silent bus; cells 2.0-4.0 V with the
    threshold edges and NaN; temperatures -30..80 degC; bank voltage from the cells or anywhere in
    0-70 V; current -300..300 A or None; any remote terminal state; now and then commands.
    """
    rng = random.Random(seed)
    model_id, series, parallel = topology
    n_cells = CATALOGUE[model_id].cells_in_series
    kind = rng.random()
    slots: list[BatteryReport | None] = []
    if kind >= 0.08:
        base = _cell(rng)
        temp = rng.choice(_TEMP_EDGES) if rng.random() < 0.3 else rng.uniform(-30.0, 80.0)
        k = 0
        for _p in range(parallel):
            for pos in range(series):
                k += 1
                if kind < 0.2 and rng.random() < 0.5:
                    slots.append(None)
                    continue
                cells = [base] * n_cells
                if rng.random() < 0.5:
                    cells[rng.randrange(n_cells)] = _cell(rng)
                t = temp if rng.random() < 0.8 else rng.uniform(-30.0, 80.0)
                slots.append(battery(
                    f"HQ{k:04d}", model_id, series_position=pos, cells=cells, temperature_c=t))
    batteries = tuple(slots)
    if rng.random() < 0.4:
        v = rng.choice(_VOLT_EDGES) if rng.random() < 0.5 else rng.uniform(0.0, 70.0)
    else:
        v = bank_voltage(batteries)
        if math.isnan(v) or v == 0.0:
            v = CATALOGUE[model_id].nominal_voltage_v * series
    c = rng.random()
    current: float | None = (
        None if c < 0.05 else 0.05 if c < 0.1 else rng.choice([-300.0, 300.0, 4.0, -12.0])
        if c < 0.2 else rng.uniform(-300.0, 300.0))
    if rng.random() < 0.6:
        remote = BRIDGED
    else:
        def volts() -> float | None:
            return None if rng.random() < 0.4 else rng.choice(
                [rng.uniform(0.0, 70.0), 2.9, 3.5, v])
        remote = RemoteInput(bridged=False, l_volts=volts(), h_volts=volts())
    r = Reading(
        bank_voltage_v=v, batteries=batteries, current_a=current, remote=remote,
        output_fault=rng.random() < 0.05, app_connected=rng.random() < 0.3,
    )
    cmds = tuple(_command(rng) for _ in range(rng.randrange(1, 3))) if rng.random() < 0.15 \
        else ()
    return Step(dt_s, r, cmds)


@st.composite
def scenarios(draw: st.DrawFn, max_steps: int = 60) -> tuple[tuple[str, int, int], list[Step]]:
    """A topology and 1..max_steps steps of (time step 0.1-120 s, reading, commands)."""
    topology = draw(st.sampled_from(TOPOLOGIES))
    n = draw(st.integers(1, max_steps))
    seeds = draw(st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n))
    return topology, [step_from_seed(topology, _dt_from_seed(s), s) for s in seeds]


def _dt_from_seed(seed: int) -> float:
    """A time step of 0.1-120 s (in tenths), the timer edges likely; seed 0 gives 1 s."""
    rng = random.Random(seed ^ 0x5EED)
    if seed == 0 or rng.random() < 0.4:
        return [1.0, 0.1, 5.0, 10.0, 30.0, 120.0][seed % 6]
    return rng.randint(1, 1200) / 10.0


def is_complete(r: Reading) -> bool:
    """Every battery the bus enumerates sent plausible data (mirrors SPEC 6 'valid reading')."""
    if not r.batteries:
        return False
    for b in r.batteries:
        if b is None or not b.cell_voltages_v:
            return False
        if not all(math.isfinite(c) and 0.0 <= c <= 5.0 for c in b.cell_voltages_v):
            return False
        if not (math.isfinite(b.temperature_c) and -60.0 <= b.temperature_c <= 150.0):
            return False
    return True


def valid_reports(r: Reading) -> list[BatteryReport]:
    return [
        b for b in r.batteries
        if b is not None and b.cell_voltages_v
        and all(math.isfinite(c) and 0.0 <= c <= 5.0 for c in b.cell_voltages_v)
        and math.isfinite(b.temperature_c) and -60.0 <= b.temperature_c <= 150.0
    ]
