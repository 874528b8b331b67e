"""Run reports for ``smallbms simulate --report DIR``: a bounded recorder, PNG plots and a page.

:class:`Recorder` is a runner observer (``runner.observers.append(recorder)``). Every core tick
it records a handful of numbers (monitor SoC, bank voltage and current, lowest and highest cell,
temperature, the three outputs as 0/1 and the active codes as a bit mask) into a
:class:`DecimatedSeries`, which keeps memory bounded however long the run: it holds every tick
until its buffer fills, then merges neighbouring points into time buckets twice as wide, keeping
the envelope of each value (lowest and highest seen in the bucket, plus its last value) and the
*worst* state of each output and code (an output that was off for one second of a bucket shows
off for that bucket). For twin runs it also keeps the twin's true SoC, each component's current
and at most :data:`MAX_CELL_SNAPSHOTS` snapshots of every cell voltage.

:func:`write_report` turns a finished recording into PNG plots (matplotlib, drawn off-screen
on :class:`matplotlib.figure.Figure` objects, no display needed) and a self-contained
``index.html`` that links them by relative paths and loads nothing from elsewhere.

Nothing here changes what the runner writes: the recorder only reads.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from smallbms import scenario as sc
from smallbms.core.settings import DEFAULT_SETTINGS, SPECS_BY_NAME
from smallbms.core.thresholds import (
    CELL_OVERVOLTAGE_TRIP_V,
    CELL_UNDERVOLTAGE_TRIP_V,
    HIGH_TEMP_TRIP_C,
    LOW_CHARGE_TEMP_TRIP_C,
)
from smallbms.core.types import OUTPUT_NAMES, Decision
from smallbms.durations import format_duration
from smallbms.model.codes import CODE_INFO, CODE_ORDER
from smallbms.model.fields import HISTORY_FIELDS
from smallbms.model.snapshot import DeviceSnapshot, HistorySnapshot, Status

FloatArray = npt.NDArray[np.float64]
MaskArray = npt.NDArray[np.uint64]
Reducer = Literal["min", "max", "last"]

#: (P) most points a recording keeps (per value), however long the run.
MAX_POINTS: Final = 20_000
#: (P) ticks gathered before they are folded into the bounded buffer.
STAGE_SIZE: Final = 2_048
#: (P) most snapshots of all cell voltages a twin recording keeps.
MAX_CELL_SNAPSHOTS: Final = 200
#: (P) most rows of the event table kept (later changes are counted, not kept).
MAX_TABLE_ROWS: Final = 2_000
#: (P) codes beyond this many distinct ones are not drawn (a mask holds 64 bits).
MAX_CODES: Final = 64
#: (P) plot size in inches and resolution.
FIG_SIZE_IN: Final = (9.0, 3.6)
FIG_DPI: Final = 100


# --- a bounded, decimating time series -----------------------------------------------------------


class DecimatedSeries:
    """Rows of floats and a code mask at irregular times, kept to at most ``max_points`` rows.

    ``reducers`` says per column how the rows of one time bucket merge: ``min``, ``max`` or
    ``last`` (NaN values are ignored by ``min`` and ``max``). The mask column merges with a
    bitwise OR. Bucket width starts at 0 (every row kept) and at least doubles whenever the
    buffer would overflow, so resolution is uniform in time over the whole run.
    """

    def __init__(self, reducers: Sequence[Reducer], max_points: int = MAX_POINTS,
                 stage_size: int = STAGE_SIZE) -> None:
        stage_size = min(stage_size, max(1, max_points // 4))
        self.reducers = tuple(reducers)
        self.max_points = max_points
        self.stage_size = stage_size
        self.width_s = 0.0
        ncol = len(self.reducers)
        self._t: FloatArray = np.empty(0)
        self._v: FloatArray = np.empty((0, ncol))
        self._m: MaskArray = np.empty(0, dtype=np.uint64)
        self._st: FloatArray = np.empty(stage_size)
        self._sv: FloatArray = np.empty((stage_size, ncol))
        self._sm: MaskArray = np.zeros(stage_size, dtype=np.uint64)
        self._k = 0
        self._cols = {r: np.array([i for i, x in enumerate(self.reducers) if x == r], dtype=int)
                      for r in ("min", "max", "last")}

    def __len__(self) -> int:
        return len(self._t) + self._k

    def add(self, t_s: float, values: Sequence[float], mask: int = 0) -> None:
        """Record one row at time ``t_s`` (times must not decrease)."""
        k = self._k
        self._st[k] = t_s
        self._sv[k] = values
        self._sm[k] = mask
        self._k = k + 1
        if self._k == self.stage_size:
            self._flush()

    def arrays(self) -> tuple[FloatArray, FloatArray, MaskArray]:
        """All rows kept so far: times (s), values (rows x columns) and code masks."""
        self._flush()
        return self._t, self._v, self._m

    def _flush(self) -> None:
        if self._k == 0:
            return
        k = self._k
        self._k = 0
        t = np.concatenate([self._t, self._st[:k]])
        v = np.concatenate([self._v, self._sv[:k]])
        m = np.concatenate([self._m, self._sm[:k]])
        if self.width_s > 0:
            t, v, m = self._merge(t, v, m, self.width_s)
        while len(t) > self.max_points - self.stage_size and len(t) > 1:
            span = float(t[-1] - t[0])
            self.width_s = max(2.0 * self.width_s, 2.0 * span / self.max_points, 1e-6)
            t, v, m = self._merge(t, v, m, self.width_s)
        self._t, self._v, self._m = t, v, m

    def _merge(self, t: FloatArray, v: FloatArray, m: MaskArray,
               width_s: float) -> tuple[FloatArray, FloatArray, MaskArray]:
        """Merge rows whose times fall in the same bucket of ``width_s`` seconds."""
        keys = np.floor(t / width_s)
        starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
        ends = np.concatenate([starts[1:], [len(t)]]) - 1
        out = np.empty((len(starts), v.shape[1]))
        cols = self._cols
        if len(cols["min"]):
            out[:, cols["min"]] = np.fmin.reduceat(v[:, cols["min"]], starts, axis=0)
        if len(cols["max"]):
            out[:, cols["max"]] = np.fmax.reduceat(v[:, cols["max"]], starts, axis=0)
        if len(cols["last"]):
            out[:, cols["last"]] = v[ends][:, cols["last"]]
        return t[starts], out, np.bitwise_or.reduceat(m, starts)


# --- the recorder ---------------------------------------------------------------------------------

#: Columns every recording has, with how they merge.
BASE_COLUMNS: Final[tuple[tuple[str, Reducer], ...]] = (
    ("soc", "last"), ("true_soc", "last"),
    ("v", "last"), ("v_lo", "min"), ("v_hi", "max"),
    ("i", "last"), ("i_lo", "min"), ("i_hi", "max"),
    ("cell_lo", "min"), ("cell_hi", "max"),
    ("temp_lo", "min"), ("temp_hi", "max"),
    # outputs as 0/1 (1 = high); merged towards the abnormal state
    ("load_disconnect", "min"), ("charge_disconnect", "min"), ("pre_alarm", "max"),
)


class TwinView(Protocol):
    """What the recorder reads from a twin source (:class:`smallbms.sources.twin.TwinSource`)."""

    @property
    def bank(self) -> Any: ...

    @property
    def st(self) -> Any: ...


class CoreView(Protocol):
    """What the recorder reads from the core."""

    def status(self) -> Status: ...


@dataclass(frozen=True, slots=True)
class Change:
    """One row of the event table: an output or a code that changed at ``t_s``."""

    t_s: float
    kind: Literal["output", "code"]
    name: str
    state: str


@dataclass
class CellSnapshots:
    """At most ``max_snapshots`` copies of every cell voltage, evenly spread in time."""

    interval_s: float
    max_snapshots: int = MAX_CELL_SNAPSHOTS
    times_s: list[float] = field(default_factory=list)
    cells_v: list[FloatArray] = field(default_factory=list)
    next_s: float = 0.0

    def due(self, t_s: float) -> bool:
        """True when a snapshot should be taken at ``t_s``."""
        return t_s >= self.next_s

    def take(self, t_s: float, cells_v: FloatArray) -> None:
        """Keep a copy of ``cells_v``; drop every other snapshot when there are too many."""
        self.times_s.append(t_s)
        self.cells_v.append(np.array(cells_v, dtype=float).ravel())
        if len(self.times_s) > self.max_snapshots:
            self.times_s = self.times_s[::2]
            self.cells_v = self.cells_v[::2]
            self.interval_s *= 2.0
        self.next_s = t_s + self.interval_s


def _num(x: float | None) -> float:
    return math.nan if x is None else float(x)


class Recorder:
    """A runner observer that keeps a bounded recording of the run for :func:`write_report`.

    ``component_names`` (twin runs) names the columns of the twin's component currents;
    ``twin`` is read each tick for its true SoC (at most once per bucket width), component
    currents and cell snapshots. Call it as ``recorder(t_s, decision, core)``.
    """

    def __init__(self, duration_s: float, twin: TwinView | None = None,
                 component_names: Sequence[str] = (), max_points: int = MAX_POINTS,
                 max_snapshots: int = MAX_CELL_SNAPSHOTS) -> None:
        self.duration_s = duration_s
        self.twin = twin
        self.component_names = tuple(component_names) if twin is not None else ()
        reducers: list[Reducer] = [r for _, r in BASE_COLUMNS]
        for _ in self.component_names:
            reducers += ["last", "min", "max"]
        self.columns = [n for n, _ in BASE_COLUMNS]
        self.series = DecimatedSeries(reducers, max_points)
        self.snapshots = CellSnapshots(max(duration_s, 1.0) / max_snapshots, max_snapshots)
        self.codes: list[str] = []
        self._code_bit: dict[str, int] = {}
        self.changes: list[Change] = []
        self.changes_dropped = 0
        self._outputs: dict[str, str] = {}
        self.ticks = 0
        self.last_decision: Decision | None = None
        self.last_core: Any = None
        self.last_t_s = 0.0
        self._true_soc = math.nan
        self._true_soc_next_s = 0.0

    def __call__(self, t_s: float, d: Decision, core: CoreView) -> None:
        """Record one core tick."""
        self.ticks += 1
        self.last_decision = d
        self.last_core = core
        self.last_t_s = t_s
        self._note_changes(t_s, d)
        st = core.status()
        v, i = _num(st.voltage_v), _num(st.current_a)
        row = [
            _num(st.soc_pct), self._twin_soc(t_s), v, v, v, i, i, i,
            _num(st.min_cell_voltage_v), _num(st.max_cell_voltage_v),
            _num(st.min_temperature_c), _num(st.max_temperature_c),
            1.0 if d.load_disconnect == "high" else 0.0,
            1.0 if d.charge_disconnect == "high" else 0.0,
            1.0 if d.pre_alarm == "high" else 0.0,
        ]
        if self.twin is not None:
            for c in self.twin.st.component_currents_a[: len(self.component_names)]:
                row += [c, c, c]
            row += [math.nan] * (len(self.series.reducers) - len(row))
            if self.snapshots.due(t_s):
                self.snapshots.take(t_s, self.twin.bank.cell_voltages_v)
        self.series.add(t_s, row, self._mask(d.active_codes))

    def _twin_soc(self, t_s: float) -> float:
        """The twin's true SoC, read at most once per bucket width (it is not free to compute)."""
        if self.twin is None:
            return math.nan
        if t_s >= self._true_soc_next_s:
            self._true_soc = float(self.twin.bank.soc_pct)
            step = max(self.series.width_s, self.duration_s / self.series.max_points)
            self._true_soc_next_s = t_s + step
        return self._true_soc

    def _mask(self, codes: Sequence[str]) -> int:
        mask = 0
        for code in codes:
            bit = self._code_bit.get(code)
            if bit is None:
                if len(self.codes) >= MAX_CODES:
                    continue
                bit = self._code_bit[code] = len(self.codes)
                self.codes.append(code)
            mask |= 1 << bit
        return mask

    def _note_changes(self, t_s: float, d: Decision) -> None:
        for name in OUTPUT_NAMES:
            state = d.output(name)
            if self._outputs.get(name) != state:
                self._outputs[name] = state
                self._keep(Change(t_s, "output", name, state))
        for ev in d.events:
            self._keep(Change(ev.t_s, "code", ev.code, ev.state))

    def _keep(self, change: Change) -> None:
        if len(self.changes) < MAX_TABLE_ROWS:
            self.changes.append(change)
        else:
            self.changes_dropped += 1

    def column(self, name: str) -> FloatArray:
        """One recorded column by name (see :data:`BASE_COLUMNS`)."""
        _, v, _ = self.series.arrays()
        return v[:, self.columns.index(name)]

    def component_column(self, index: int, which: Literal["last", "min", "max"]) -> FloatArray:
        """Component ``index``'s current (A): last value, or envelope, per point."""
        _, v, _ = self.series.arrays()
        base = len(BASE_COLUMNS) + 3 * index
        return v[:, base + ("last", "min", "max").index(which)]


def recorder_for(s: sc.Scenario, twin: TwinView | None) -> Recorder:
    """A recorder for scenario ``s`` (``twin`` = the runner's twin source, or ``None``)."""
    return Recorder(s.duration_s, twin, [c.name for c in s.components])


# --- formatting -----------------------------------------------------------------------------------


def clock(t_s: float) -> str:
    """A run time as people read it: ``"2d 03:14:05"`` (fractions of a second kept)."""
    whole = math.floor(t_s + 1e-9)
    frac = t_s - whole
    days, rest = divmod(int(whole), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{days}d {hours:02d}:{minutes:02d}:{seconds:02d}"
    if frac > 1e-6:
        text += f"{frac:.3f}".rstrip("0")[1:]
    return text


@dataclass(frozen=True, slots=True)
class TimeAxis:
    """How times are shown on the plots: seconds per unit and the unit's name."""

    scale_s: float
    unit: str

    def __call__(self, t_s: FloatArray) -> FloatArray:
        return t_s / self.scale_s


def time_axis(duration_s: float) -> TimeAxis:
    """Minutes for runs up to 3 h, hours up to 3 days, days beyond."""
    if duration_s <= 3 * 3600:
        return TimeAxis(60.0, "minutes")
    if duration_s <= 3 * 86400:
        return TimeAxis(3600.0, "hours")
    return TimeAxis(86400.0, "days")


_OUTPUT_WORDS: Final = {
    ("load_disconnect", "high"): "loads allowed", ("load_disconnect", "floating"): "loads off",
    ("charge_disconnect", "high"): "charging allowed",
    ("charge_disconnect", "floating"): "charging stopped",
    ("pre_alarm", "high"): "alarm on", ("pre_alarm", "floating"): "alarm off",
}


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _code_title(code: str) -> str:
    info = CODE_INFO.get(code)
    return f"{code} {info.name}" if info is not None else code


# --- plots ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plot:
    """A written plot: file name (relative to the report) and what it shows."""

    file: str
    title: str
    caption: str


def _figure(height_in: float | None = None) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(FIG_SIZE_IN[0], height_in or FIG_SIZE_IN[1]), dpi=FIG_DPI,
                 layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig: Figure, out_dir: Path, name: str) -> str:
    fig.savefig(out_dir / name)
    return name


def _legend(fig: Figure, ax: Axes) -> None:
    """A legend below the plot, outside the data, in as many columns as fit."""
    handles, labels = ax.get_legend_handles_labels()
    if len(handles) > 1:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(handles), 4),
                   fontsize="small", frameon=False)


def _band(ax: Axes, x: FloatArray, lo: FloatArray, hi: FloatArray, color: str) -> None:
    """Shade the range between envelopes (only visible where points were merged)."""
    if np.any(hi - lo > 0):
        ax.fill_between(x, lo, hi, step="post", color=color, alpha=0.25, linewidth=0)


def _plot_soc(rec: Recorder, ax_t: TimeAxis, out_dir: Path) -> Plot:
    t, _, _ = rec.series.arrays()
    x = ax_t(t)
    fig, ax = _figure()
    ax.plot(x, rec.column("soc"), drawstyle="steps-post", color="tab:blue",
            label="BMS monitor SoC")
    if rec.twin is not None:
        ax.plot(x, rec.column("true_soc"), drawstyle="steps-post", color="tab:green",
                linestyle="--", label="twin's true SoC")
    ax.set_ylim(-2, 102)
    ax.set_ylabel("state of charge (%)")
    ax.set_xlabel(ax_t.unit)
    _legend(fig, ax)
    return Plot(_save(fig, out_dir, "soc.png"), "State of charge",
                "The SoC the BMS's battery monitor shows (a gap: SoC unknown)"
                + (", and the twin's true SoC" if rec.twin is not None else "") + ".")


def _plot_voltage(rec: Recorder, ax_t: TimeAxis, out_dir: Path) -> Plot:
    t, _, _ = rec.series.arrays()
    x = ax_t(t)
    fig, ax = _figure()
    ax.plot(x, rec.column("v"), drawstyle="steps-post", color="tab:purple", label="bank voltage")
    _band(ax, x, rec.column("v_lo"), rec.column("v_hi"), "tab:purple")
    ax.set_ylabel("bank voltage (V)")
    ax.set_xlabel(ax_t.unit)
    return Plot(_save(fig, out_dir, "voltage.png"), "Bank voltage",
                "The bank voltage the BMS measures; the shaded band is the range within each "
                "merged time step of a long run.")


def _limits_plot(rec: Recorder, ax_t: TimeAxis, columns: tuple[str, str],
                 labels: tuple[str, str], limits: Sequence[tuple[float, str, str]],
                 ylabel: str) -> Figure:
    """The highest and lowest of a quantity over time (red, blue), with its limits as dashed
    lines (value, legend text, colour)."""
    t, _, _ = rec.series.arrays()
    x = ax_t(t)
    fig, ax = _figure()
    for column, label, color in zip(columns, labels, ("tab:red", "tab:blue"), strict=True):
        ax.plot(x, rec.column(column), drawstyle="steps-post", color=color, label=label)
    for value, text, color in limits:
        ax.axhline(value, linestyle="--", linewidth=1, color=color, label=text)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(ax_t.unit)
    _legend(fig, ax)
    return fig


def _plot_cells(rec: Recorder, ax_t: TimeAxis, out_dir: Path, pre_alarm_v: float) -> Plot:
    limits = ((CELL_OVERVOLTAGE_TRIP_V, "charging stops", "tab:red"),
              (pre_alarm_v, "pre-alarm", "tab:orange"),
              (CELL_UNDERVOLTAGE_TRIP_V, "loads off", "tab:blue"))
    fig = _limits_plot(rec, ax_t, ("cell_hi", "cell_lo"), ("highest cell", "lowest cell"),
                       [(v, f"{v:.2f} V {text}", c) for v, text, c in limits],
                       "cell voltage (V)")
    return Plot(_save(fig, out_dir, "cells.png"), "Lowest and highest cell",
                f"Lowest and highest cell voltage, with the thresholds: charging stops at "
                f"{CELL_OVERVOLTAGE_TRIP_V:.2f} V, the pre-alarm comes at {pre_alarm_v:.2f} V "
                f"and the loads are cut at {CELL_UNDERVOLTAGE_TRIP_V:.2f} V.")


def _plot_currents(rec: Recorder, ax_t: TimeAxis, out_dir: Path) -> Plot:
    t, _, _ = rec.series.arrays()
    x = ax_t(t)
    fig, ax = _figure()
    ax.plot(x, rec.column("i"), drawstyle="steps-post", color="black", linewidth=1.2,
            label="bank (net)")
    _band(ax, x, rec.column("i_lo"), rec.column("i_hi"), "grey")
    colors = [f"C{k}" for k in range(10)]
    for k, name in enumerate(rec.component_names):
        color = colors[k % len(colors)]
        ax.plot(x, rec.component_column(k, "last"), drawstyle="steps-post", color=color,
                linewidth=0.9, label=name)
        _band(ax, x, rec.component_column(k, "min"), rec.component_column(k, "max"), color)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_ylabel("current (A, + = charging)")
    ax.set_xlabel(ax_t.unit)
    _legend(fig, ax)
    caption = "The bank's net current (positive: charging)"
    if rec.component_names:
        caption += " and each component's current, as the twin solved it"
    return Plot(_save(fig, out_dir, "currents.png"), "Currents", caption + ".")


def _plot_temperature(rec: Recorder, ax_t: TimeAxis, out_dir: Path) -> Plot:
    limits = ((HIGH_TEMP_TRIP_C, "too hot to charge", "tab:red"),
              (LOW_CHARGE_TEMP_TRIP_C, "too cold to charge", "tab:blue"))
    fig = _limits_plot(rec, ax_t, ("temp_hi", "temp_lo"), ("warmest battery", "coldest battery"),
                       [(v, f"{v:g} °C {text}", c) for v, text, c in limits],
                       "battery temperature (°C)")
    return Plot(_save(fig, out_dir, "temperature.png"), "Battery temperature",
                f"The warmest and coldest battery, with the limits: charging stops above "
                f"{HIGH_TEMP_TRIP_C:g} °C (A-B09) and below {LOW_CHARGE_TEMP_TRIP_C:g} °C.")


def _plot_outputs(rec: Recorder, ax_t: TimeAxis, out_dir: Path) -> Plot:
    t, _, _ = rec.series.arrays()
    x = ax_t(t)
    fig, ax = _figure(2.8)
    for lane, name in enumerate(reversed(OUTPUT_NAMES)):
        y = rec.column(name) * 0.7 + lane
        ax.plot(x, y, drawstyle="steps-post", color=f"C{lane}")
        ax.fill_between(x, lane, y, step="post", color=f"C{lane}", alpha=0.2)
    ax.set_yticks([k + 0.35 for k in range(len(OUTPUT_NAMES))],
                  [_label(n) for n in reversed(OUTPUT_NAMES)])
    ax.set_ylim(-0.2, len(OUTPUT_NAMES))
    ax.set_xlabel(ax_t.unit)
    return Plot(_save(fig, out_dir, "outputs.png"), "Outputs",
                "Each output as a lane: up = high (loads or charging allowed; for the "
                "pre-alarm: alarm on), down = floating.")


def _plot_codes(rec: Recorder, ax_t: TimeAxis, out_dir: Path) -> Plot:
    t, _, masks = rec.series.arrays()
    x = ax_t(t)
    end = ax_t(np.array([max(rec.duration_s, float(t[-1]))]))[0]
    codes = sorted(rec.codes, key=lambda c: CODE_ORDER.get(c, len(CODE_ORDER)))
    fig, ax = _figure(max(1.6, 0.9 + 0.45 * len(codes)))
    for lane, code in enumerate(reversed(codes)):
        active = (masks >> np.uint64(rec.codes.index(code))) & np.uint64(1)
        _shade_runs(ax, x, active.astype(bool), end, lane, _code_color(code))
    ax.set_yticks([k + 0.4 for k in range(len(codes))], [_code_title(c) for c in reversed(codes)])
    ax.set_ylim(-0.2, max(1, len(codes)))
    ax.set_xlim(float(x[0]) if len(x) else 0.0, end)
    ax.set_xlabel(ax_t.unit)
    if not codes:
        ax.text(0.5, 0.5, "no warning, alarm or error was active", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_yticks([])
    return Plot(_save(fig, out_dir, "codes.png"), "Warnings, alarms and errors",
                "One lane per code that was active at some time, shaded while it was active.")


def _code_color(code: str) -> str:
    return {"W": "tab:orange", "A": "tab:red", "E": "tab:purple"}.get(code[:1], "tab:grey")


def _shade_runs(ax: Axes, x: FloatArray, on: npt.NDArray[np.bool_], end: float, lane: int,
                color: str) -> None:
    """Shade each stretch where ``on`` holds, from its first point to the next point."""
    edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    xs = np.concatenate([x, [end]])
    for a, b in zip(starts, stops, strict=True):
        ax.fill_between([float(xs[a]), float(xs[b])], lane, lane + 0.8, color=color, alpha=0.6)


def _plot_cell_spread(rec: Recorder, ax_t: TimeAxis, out_dir: Path) -> Plot | None:
    snaps = rec.snapshots
    if rec.twin is None or len(snaps.times_s) < 2:
        return None
    x = ax_t(np.array(snaps.times_s))
    cells = np.vstack(snaps.cells_v)
    dev_mv = (cells - cells.mean(axis=1, keepdims=True)) * 1000.0
    fig, ax = _figure()
    if cells.shape[1] <= 48:
        for k in range(cells.shape[1]):
            ax.plot(x, dev_mv[:, k], linewidth=0.8)
    else:
        ax.fill_between(x, dev_mv.min(axis=1), dev_mv.max(axis=1), alpha=0.4)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_ylabel("cell minus mean (mV)")
    ax.set_xlabel(ax_t.unit)
    return Plot(_save(fig, out_dir, "cell_spread.png"), "Cell spread (twin)",
                f"Every cell's voltage minus the average cell, from {len(snaps.times_s)} "
                "snapshots of the twin: lines drifting apart show imbalance, lines coming "
                "together show balancing.")


def write_plots(rec: Recorder, out_dir: Path, pre_alarm_v: float) -> list[Plot]:
    """Write every plot of the recording into ``out_dir``; returns them in page order."""
    t, _, _ = rec.series.arrays()
    if len(t) == 0:
        return []
    ax_t = time_axis(rec.duration_s)
    plots = [
        _plot_soc(rec, ax_t, out_dir), _plot_voltage(rec, ax_t, out_dir),
        _plot_cells(rec, ax_t, out_dir, pre_alarm_v), _plot_temperature(rec, ax_t, out_dir),
        _plot_currents(rec, ax_t, out_dir),
        _plot_outputs(rec, ax_t, out_dir), _plot_codes(rec, ax_t, out_dir),
    ]
    spread = _plot_cell_spread(rec, ax_t, out_dir)
    if spread is not None:
        plots.append(spread)
    return plots


# --- the page -------------------------------------------------------------------------------------

_CSS: Final = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:0 1rem 2rem;
max-width:60rem;margin:auto;line-height:1.45;color:#222;background:#fafafa}
h1{font-size:1.4rem;margin:1rem 0 .2rem}h2{font-size:1.15rem;margin-top:1.8rem;
border-bottom:1px solid #ddd}
.sub{color:#666;margin:0 0 1rem;word-break:break-all}
.cards{display:flex;flex-wrap:wrap;gap:.6rem}
.card{background:#fff;border:1px solid #ddd;border-radius:.5rem;padding:.5rem .8rem;min-width:8rem}
.card b{display:block;font-size:1.15rem}.card span{color:#666;font-size:.85rem}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}.scroll{overflow-x:auto;max-height:32rem;overflow-y:auto}
td.t{white-space:nowrap;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37}.bad{color:#b42318}.warn{color:#b54708}
figure{margin:1rem 0}img{max-width:100%;height:auto;border:1px solid #ddd;background:#fff}
figcaption{color:#555;font-size:.9rem}
"""


def _esc(x: object) -> str:
    return html.escape(str(x))


def _cards(items: Sequence[tuple[str, str]]) -> str:
    body = "".join(f'<div class="card"><span>{_esc(k)}</span><b>{_esc(v)}</b></div>'
                   for k, v in items)
    return f'<div class="cards">{body}</div>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] = ()) -> str:
    """An HTML table; cells are escaped. ``classes`` gives a class per column (or "")."""
    cls = list(classes) + [""] * (len(head) - len(classes))
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    trs = "".join(
        "<tr>" + "".join(
            f'<td class="{c}">{_esc(v)}</td>' if c else f"<td>{_esc(v)}</td>"
            for v, c in zip(row, cls, strict=False)
        ) + "</tr>"
        for row in rows
    )
    return f'<div class="scroll"><table><tr>{th}</tr>{trs}</table></div>'


def _bank_text(s: sc.Scenario) -> str:
    b = s.bank
    total = b.model.capacity_ah * b.parallel
    volts = b.model.nominal_voltage_v * b.series
    return (f"{b.battery} × {b.series} in series × {b.parallel} in parallel "
            f"({volts:g} V, {total:g} Ah), {b.source} source")


def _settings_rows(s: sc.Scenario) -> list[list[str]]:
    rows: list[list[str]] = []
    for name in sorted(s.settings_values):
        value = float(getattr(s.settings, name))
        default = float(getattr(DEFAULT_SETTINGS, name))
        if math.isclose(value, default):
            continue
        spec = SPECS_BY_NAME.get(name)
        label = spec.label if spec is not None else name
        unit = f" {spec.unit}" if spec is not None and spec.unit else ""
        rows.append([label, f"{value:g}{unit}", f"{default:g}{unit}"])
    return rows


def _component_rows(s: sc.Scenario) -> list[list[str]]:
    words = {"load_disconnect": "load disconnect", "charge_disconnect": "charge disconnect",
             "none": "nothing (not switched by the BMS)"}
    return [[c.name, c.kind.replace("_", " "), words.get(c.controlled_by, c.controlled_by)]
            for c in s.components]


def _change_rows(rec: Recorder) -> list[list[str]]:
    rows = []
    for c in rec.changes:
        if c.kind == "output":
            what = _label(c.name)
            state = f"{c.state} ({_OUTPUT_WORDS.get((c.name, c.state), '')})"
        else:
            what = _code_title(c.name)
            state = c.state
        rows.append([clock(c.t_s), c.kind, what, state])
    return rows


def _history_rows(history: HistorySnapshot | None) -> list[list[str]]:
    """The history table: the data dictionary's labels, units and precision."""
    if history is None:
        return []
    rows = []
    for f in HISTORY_FIELDS:
        value = getattr(history, f.name)
        if f.unit == "s":
            text = "never" if value is None else f"{format_duration(float(value))} ago"
        else:
            text = f.text(value)
        rows.append([f.label, text])
    errors = ", ".join(f"{_code_title(e.code)} at {clock(e.t_s)}" for e in history.last_errors)
    rows.append(["Last errors", errors or "none"])
    return rows


def _final_cards(rec: Recorder, s: sc.Scenario) -> list[tuple[str, str]]:
    t, v, _ = rec.series.arrays()
    items = [("Duration", format_duration(s.duration_s)), ("Profile", s.profile),
             ("Core ticks", f"{rec.ticks:,}")]
    if len(t):
        soc = v[-1, rec.columns.index("soc")]
        items.append(("SoC at the end", "unknown" if math.isnan(soc) else f"{soc:.1f} %"))
        volts = v[-1, rec.columns.index("v")]
        if not math.isnan(volts):
            items.append(("Voltage at the end", f"{volts:.2f} V"))
    return items


def _codes_html(active: Sequence[str]) -> str:
    if not active:
        return '<p class="ok">No warning, alarm or error is active at the end of the run.</p>'
    items = "".join(
        f"<li><b>{_esc(_code_title(c))}</b>"
        + (f" — {_esc(CODE_INFO[c].advice)}" if c in CODE_INFO else "") + "</li>"
        for c in active)
    return f'<ul class="bad">{items}</ul>'


def _plots_html(plots: Sequence[Plot]) -> str:
    return "".join(
        f'<figure><img src="{_esc(p.file)}" alt="{_esc(p.title)}" loading="lazy">'
        f"<figcaption><b>{_esc(p.title)}.</b> {_esc(p.caption)}</figcaption></figure>"
        for p in plots)


def render_html(s: sc.Scenario, rec: Recorder, plots: Sequence[Plot],
                history: HistorySnapshot | None, active_codes: Sequence[str]) -> str:
    """The report page as one HTML string (no external resources)."""
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{_esc(s.name)} — smallbms report</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(s.name)}</h1>",
        f'<p class="sub">{_esc(s.source)} · seed {s.seed} · step {s.step_s:g} s</p>',
        _cards(_final_cards(rec, s)),
        f"<p><b>Bank:</b> {_esc(_bank_text(s))}</p>",
        _table(["component", "kind", "wired to"], _component_rows(s)) if s.components else "",
        "<h2>Active codes at the end</h2>", _codes_html(active_codes),
    ]
    settings = _settings_rows(s)
    parts.append("<h2>Settings that differ from the defaults</h2>")
    parts.append(_table(["setting", "value", "default"], settings) if settings
                 else "<p>All settings at their defaults.</p>")
    parts.append("<h2>Plots</h2>")
    parts.append(_plots_html(plots))
    parts.append("<h2>Events</h2><p>Every change of an output and every code raised or "
                 "cleared, at run time (days, then hours:minutes:seconds).</p>")
    parts.append(_table(["time", "type", "what", "state"], _change_rows(rec), ["t"]))
    if rec.changes_dropped:
        parts.append(f"<p>… and {rec.changes_dropped:,} later changes not listed.</p>")
    hist_rows = _history_rows(history)
    if hist_rows:
        parts.append("<h2>History at the end</h2>")
        parts.append(_table(["value", "at the end"], hist_rows))
    parts.append("<p class=sub>Written by smallbms simulate --report.</p></body></html>")
    return "\n".join(parts)


def write_report(out_dir: Path, s: sc.Scenario, rec: Recorder,
                 active_codes: Sequence[str] | None = None) -> Path:
    """Write the plots and ``index.html`` into ``out_dir`` (created); returns the page's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = write_plots(rec, out_dir, float(s.settings.pre_alarm_level_v))
    history = _final_history(rec, s)
    if active_codes is None:
        d = rec.last_decision
        active_codes = d.active_codes if d is not None else ()
    page = out_dir / "index.html"
    page.write_text(render_html(s, rec, plots, history, active_codes), encoding="utf-8")
    return page


def _final_history(rec: Recorder, s: sc.Scenario) -> HistorySnapshot | None:
    core, d = rec.last_core, rec.last_decision
    if s.profile != "ng" or core is None or d is None or not hasattr(core, "snapshot"):
        return None
    snap: DeviceSnapshot = core.snapshot(d, rec.last_t_s)
    return snap.history
