"""Random, seeded fault schedules for the twin: every event action of SPEC 17, at random times.

A schedule is a list of :class:`Fault` s. Each fault is one thing that happens to the system (a
cell sensor reads 3.9 V for four minutes, the battery bus is cut for 40 s, the user switches the
mode off and on again) and holds the scenario ``[[event]]`` tables that make it happen and undo
it. :func:`fault_schedule` first places one fault of every kind in :data:`REQUIRED_KINDS` (so
every action and its important variants occur in every run, however short), then adds random
faults, weighted by :data:`EXTRA_WEIGHTS`, at :data:`FAULTS_PER_DAY` on average. Faults may
overlap freely, except firmware updates (the BMS runs one at a time) and changes to the bank
(one battery change is dealt with before the next).

Values are chosen to make charging or discharging unsafe often (cells forced above 3.75 V or
below 2.8 V and 2.5 V, batteries forced hot and cold, the bus cut for longer than the 5 s and
35 s comms timers) and to probe the edges (comms cuts shorter than 5 s, cells just inside the
limits, settings the BMS must refuse, a restart while the bus is down). One kind is not an
event but two components (:func:`deep_discharge_components`): a load the BMS does not switch
empties the bank, by physics, below 2.8 V per cell and 2.5 V per cell (until its own
BatteryProtect, set too low, cuts it), and a charger the BMS does not switch brings it back.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from smallbms.core.settings import SETTING_SPECS

EventTable = dict[str, Any]

#: (P) average number of faults per simulated day, on top of the required ones.
FAULTS_PER_DAY = 12.0
#: faults start no earlier than this (the BMS has commissioned the bank), s
FIRST_FAULT_S = 60.0
#: fault times are rounded to this, s (off the 1 s tick grid on purpose)
TIME_RESOLUTION_S = 0.1
DEEP_DISCHARGE = "deep discharge by an uncontrolled load, then recharge"


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: its kind, when it starts and ends, and the scenario event tables."""

    kind: str
    start_s: float
    end_s: float
    events: tuple[EventTable, ...]
    #: ``[[component]]`` tables the fault adds to the system (its times are absolute)
    components: tuple[EventTable, ...] = ()


@dataclass
class _Plan:
    """What the planner knows while placing faults."""

    rng: random.Random
    duration_s: float
    batteries: int
    cells: int
    capacity_ah: float
    scale: float = 1.0
    lanes: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def t(self, x: float) -> float:
        return round(round(x / TIME_RESOLUTION_S) * TIME_RESOLUTION_S, 3)

    def free(self, lane: str, a: float, b: float) -> bool:
        return all(b < s or a > e for s, e in self.lanes.get(lane, []))

    def book(self, lane: str, a: float, b: float) -> None:
        self.lanes.setdefault(lane, []).append((a, b))


Maker = Callable[[_Plan, float], tuple[list[tuple[float, EventTable]], str | None]]
#: (P) the deep discharge: a load of this C-rate behind a BatteryProtect the BMS does not switch,
#: for DRAIN_S (long enough to empty a full bank), whose own low-voltage cut-off is set too low
#: (DRAIN_CUTOFF_V per 12.8 V: below the 10 V of A-B08; the 90 s delay takes the bank below
#: 9 V); a charger the BMS does not switch brings the bank back RECOVER_AFTER_S after the drain,
#: for CHARGE_S. A cut-off much lower lets the load drive both strings deep into reversal, where
#: the twin's parallel split goes unstable (see the campaign's findings).
DRAIN_C = 0.1
DRAIN_S = 12 * 3600.0
DRAIN_CUTOFF_V = 9.5
RECOVER_AFTER_S = 2 * 3600.0
CHARGE_C = 0.1
CHARGE_S = 18 * 3600.0


def _ev(action: str, **keys: Any) -> EventTable:
    return {"action": action, **keys}


def _span(p: _Plan, lo: float, hi: float) -> float:
    """A duration between lo and hi, spread evenly on a log scale (short and long ones both)."""
    return float(lo * (hi / lo) ** p.rng.random())


# --- makers: (plan, start) -> ([(offset_s, event)], lane or None) -----------------------------


def _comms(p: _Plan, battery: bool) -> list[tuple[float, EventTable]]:
    band = p.rng.choice(("under 5 s", "5-35 s", "over 35 s", "over 35 s"))
    d = {"under 5 s": (0.3, 4.5), "5-35 s": (5.5, 34.0), "over 35 s": (36.0, 3600.0)}[band]
    cut = _ev("comms_lost", battery=p.rng.randrange(p.batteries)) if battery else _ev("comms_lost")
    return [(0.0, cut), (_span(p, *d), _ev("comms_restored"))]


def _remote_off(p: _Plan) -> list[tuple[float, EventTable]]:
    off = p.rng.choice((
        _ev("remote", bridged=False),
        _ev("remote", l_volts=round(p.rng.uniform(4.0, 14.0), 2)),
        _ev("remote", h_volts=round(p.rng.uniform(0.0, 2.5), 2)),
        _ev("remote", h_volts=round(p.rng.uniform(16.0, 30.0), 2)),  # far above the battery
    ))
    return [(0.0, off), (_span(p, 2.0, 3600.0), _ev("remote", bridged=True))]


def _remote_on_other(p: _Plan) -> list[tuple[float, EventTable]]:
    on = p.rng.choice((
        _ev("remote", l_volts=round(p.rng.uniform(0.0, 3.0), 2)),
        _ev("remote", h_volts=round(p.rng.uniform(3.5, 12.5), 2)),
    ))
    return [(0.0, on), (_span(p, 60.0, 7200.0), _ev("remote", bridged=True))]


def _mode(p: _Plan) -> list[tuple[float, EventTable]]:
    return [(0.0, _ev("mode", value="off")), (_span(p, 2.0, 3600.0), _ev("mode", value="on"))]


_DEFAULTS = {s.name: s.default for s in SETTING_SPECS}


def _set(p: _Plan) -> list[tuple[float, EventTable]]:
    spec = p.rng.choice(SETTING_SPECS)
    name = spec.name
    if p.rng.random() < 0.2:  # a value the BMS must refuse
        value = p.rng.choice((spec.minimum - 10 * spec.step, spec.maximum + 10 * spec.step))
    else:
        value = spec.minimum + p.rng.random() * (spec.maximum - spec.minimum)
    value = round(round(value / spec.step) * spec.step, 4)
    back = _span(p, 600.0, 12 * 3600.0)
    out: list[tuple[float, EventTable]] = []
    if name == "discharge_floor_pct" and p.rng.random() < 0.7:
        # raise the warning with it, else the BMS refuses a floor above the warning level
        warn = min(99.0, max(value, _DEFAULTS["low_soc_warning_pct"]))
        out.append((0.0, _ev("set", setting="low_soc_warning_pct", value=warn)))
        out.append((0.0, _ev("set", setting=name, value=value)))
        out.append((back, _ev("set", setting=name, value=_DEFAULTS[name])))
        out.append((back, _ev("set", setting="low_soc_warning_pct",
                              value=_DEFAULTS["low_soc_warning_pct"])))
        return out
    return [(0.0, _ev("set", setting=name, value=value)),
            (back, _ev("set", setting=name, value=_DEFAULTS[name]))]


def _force_cell(p: _Plan, band: str) -> list[tuple[float, EventTable]]:
    lo, hi = FORCE_CELL_BANDS_V[band]
    volts = round(p.rng.uniform(lo, hi), 3)
    b = p.rng.randrange(p.batteries)
    ev = _ev("force_cell", battery=b, cell=p.rng.randrange(p.cells), volts=volts)
    release = _ev("release", battery=b) if p.rng.random() < 0.7 else _ev("release")
    return [(0.0, ev), (_span(p, 1.0, 1800.0), release)]


def _force_temperature(p: _Plan, band: str) -> list[tuple[float, EventTable]]:
    lo, hi = FORCE_TEMPERATURE_BANDS_C[band]
    b = p.rng.randrange(p.batteries)
    ev = _ev("force_temperature", battery=b, celsius=round(p.rng.uniform(lo, hi), 1))
    release = _ev("release", battery=b) if p.rng.random() < 0.7 else _ev("release")
    return [(0.0, ev), (_span(p, 5.0, 3600.0), release)]


def _firmware(p: _Plan, result: str) -> list[tuple[float, EventTable]]:
    d = _span(p, 5.0, 900.0)
    out = [(0.0, _ev("firmware_update", result=result, duration=round(d, 1)))]
    if result == "fail":  # the user tries again: sometimes within the 120 s, mostly later
        retry = d + _span(p, 20.0, 2400.0)
        out.append((retry, _ev("firmware_update", result="success", duration=round(
            _span(p, 5.0, 300.0), 1))))
    return out


def _remove_and_back(p: _Plan) -> list[tuple[float, EventTable]]:
    b = p.rng.randrange(p.batteries)
    t1 = _span(p, 10.0, 1800.0)
    out: list[tuple[float, EventTable]] = [(0.0, _ev("remove_battery", battery=b))]
    accepted = p.rng.random() < 0.7
    if accepted:
        out.append((t1, _ev("accept_bank")))
    t2 = t1 + _span(p, 10.0, 3600.0)
    out.append((t2, _ev("add_battery", battery=b)))
    if accepted:
        out.append((t2 + _span(p, 5.0, 600.0), _ev("accept_bank")))
    return out


def _power_cycle_while_cut(p: _Plan) -> list[tuple[float, EventTable]]:
    """The BMS restarts while the battery bus is down: no data after power-up."""
    into = _span(p, 1.0, 60.0)
    off = p.rng.uniform(0.0, 20.0)
    back = into + off + _span(p, 2.0, 600.0)
    return [(0.0, _ev("comms_lost")), (into, _ev("power_cycle", duration=round(off, 1))),
            (back, _ev("comms_restored"))]


def deep_discharge_components(start_s: float, capacity_ah: float,
                              scale: float = 1.0) -> tuple[EventTable, ...]:
    """A load the BMS does not switch that empties the bank from ``start_s`` (the manual's
    warning: a load not on the load disconnect), stopped only by its own BatteryProtect set too
    low, then a charger not on the charge disconnect that brings the bank back: cells below
    2.8 V and the bank below 2.5 V per cell by physics, often below 9 V (E-B09), and a restart
    of the charging on a flat bank. ``scale``: bank nominal voltage / 12.8 V."""
    drain_end = start_s + DRAIN_S
    charge_on = drain_end + RECOVER_AFTER_S
    return (
        {"kind": "battery_protect", "name": "load on a BatteryProtect set too low (fault)",
         "controlled_by": "none", "cutoff_v": round(DRAIN_CUTOFF_V * scale, 2),
         "profile": [[0, 0.0], [start_s, round(DRAIN_C * capacity_ah, 1)], [drain_end, 0.0]],
         "repeat": "none"},
        {"kind": "ac_charger", "name": "charger not switched by the BMS (fault)",
         "controlled_by": "none", "current_a": round(CHARGE_C * capacity_ah, 1),
         "on": [[charge_on, charge_on + CHARGE_S]]},
    )


def _add_new(p: _Plan) -> list[tuple[float, EventTable]]:
    return [(0.0, _ev("add_battery")), (_span(p, 5.0, 1800.0), _ev("accept_bank"))]


#: forced cell voltages by band, V
FORCE_CELL_BANDS_V: dict[str, tuple[float, float]] = {
    "over 3.75 V": (3.75, 4.5),
    "3.60-3.75 V": (3.60, 3.749),
    "pre-alarm band": (2.86, 3.09),
    "under 2.8 V": (2.50, 2.799),
    "under 2.5 V": (0.0, 2.499),
}
#: forced temperatures by band, °C
FORCE_TEMPERATURE_BANDS_C: dict[str, tuple[float, float]] = {
    "hot (> 50 °C)": (50.1, 95.0),
    "warm (45-50 °C)": (45.0, 50.0),
    "cold (< 5 °C)": (-40.0, 4.9),
    "cool (5-6 °C)": (5.0, 6.0),
}


def _maker(fn: Callable[[_Plan], list[tuple[float, EventTable]]], lane: str | None = None) -> Maker:
    return lambda p, _t: (fn(p), lane)


MAKERS: dict[str, Maker] = {
    "comms_lost (whole bus)": _maker(lambda p: _comms(p, battery=False)),
    "comms_lost (one battery)": _maker(lambda p: _comms(p, battery=True)),
    "remote off": _maker(_remote_off),
    "remote on by L or H": _maker(_remote_on_other),
    "mode off/on": _maker(_mode),
    "set": _maker(_set),
    "sync_soc": _maker(lambda p: [(0.0, _ev("sync_soc"))]),
    "set_soc": _maker(lambda p: [(0.0, _ev("set_soc", value=round(p.rng.choice((
        p.rng.uniform(0.0, 12.0), p.rng.uniform(0.0, 100.0))), 1)))]),
    "reset_defaults": _maker(lambda p: [(0.0, _ev("reset_defaults"))]),
    "reset_history": _maker(lambda p: [(0.0, _ev("reset_history"))]),
    **{f"force_cell {band}": _maker(partial(_force_cell, band=band))
       for band in FORCE_CELL_BANDS_V},
    **{f"force_temperature {band}": _maker(partial(_force_temperature, band=band))
       for band in FORCE_TEMPERATURE_BANDS_C},
    "release (nothing forced)": _maker(lambda p: [(0.0, _ev("release"))]),
    "firmware_update success": _maker(lambda p: _firmware(p, "success"), "firmware"),
    "firmware_update fail": _maker(lambda p: _firmware(p, "fail"), "firmware"),
    "hardware_fault": _maker(lambda p: [
        (0.0, _ev("hardware_fault", value=True)),
        (_span(p, 1.0, 1800.0), _ev("hardware_fault", value=False))]),
    "power_cycle": _maker(lambda p: [(0.0, _ev("power_cycle", duration=round(
        p.rng.choice((0.0, p.rng.uniform(0.0, 180.0))), 1)))]),
    "power_cycle while the bus is cut": _maker(_power_cycle_while_cut),
    "wireless off/on": _maker(lambda p: [
        (0.0, _ev("wireless", value="off")), (_span(p, 10.0, 7200.0), _ev("wireless", value="on"))]),
    "remove_battery, add it back": _maker(_remove_and_back, "bank"),
    "add_battery (a new one)": _maker(_add_new, "bank"),
    "accept_bank (no change)": _maker(lambda p: [(0.0, _ev("accept_bank"))], "bank"),
    # components, not events: the maker returns no events, _place adds the components
    DEEP_DISCHARGE: _maker(lambda p: [], "deep"),
}
#: every kind occurs at least once per run (they cover every action of SPEC 17 and the
#: variants the issue names)
REQUIRED_KINDS: tuple[str, ...] = tuple(MAKERS)
#: relative weights of the random faults added after the required ones
EXTRA_WEIGHTS: dict[str, float] = {
    **{k: 1.0 for k in MAKERS},
    "comms_lost (whole bus)": 8.0, "comms_lost (one battery)": 6.0, "remote off": 4.0,
    "mode off/on": 3.0, "set": 3.0, "set_soc": 2.0,
    "force_cell over 3.75 V": 8.0, "force_cell under 2.8 V": 6.0, "force_cell under 2.5 V": 4.0,
    "force_cell pre-alarm band": 3.0, "force_cell 3.60-3.75 V": 2.0,
    "force_temperature hot (> 50 °C)": 5.0, "force_temperature cold (< 5 °C)": 5.0,
    "firmware_update success": 2.0, "firmware_update fail": 3.0, "hardware_fault": 4.0,
    "power_cycle": 4.0, "remove_battery, add it back": 2.0,
    "add_battery (a new one)": 0.0,  # each one grows the bank for good: once per run
    DEEP_DISCHARGE: 0.0,  # once per run: it takes a day and damages the cells
}


def _place(p: _Plan, kind: str, tries: int = 50) -> Fault | None:
    """Place one fault of ``kind`` at a random start; None when no free slot was found."""
    for _ in range(tries):
        start = p.t(p.rng.uniform(FIRST_FAULT_S, p.duration_s))
        events, lane = MAKERS[kind](p, start)
        timed = [(p.t(start + off), ev) for off, ev in events]
        parts: tuple[EventTable, ...] = ()
        if kind == DEEP_DISCHARGE:
            parts = deep_discharge_components(start, p.capacity_ah, p.scale)
            end = start + DRAIN_S + RECOVER_AFTER_S + CHARGE_S
        else:
            end = max(at for at, _ in timed)
        if end > p.duration_s - 1.0:
            continue
        if lane is not None and not p.free(lane, start, end):
            continue
        if lane is not None:
            p.book(lane, start, end)
        return Fault(kind, start, end, tuple({"at": at, **ev} for at, ev in timed), parts)
    return None


def fault_schedule(seed: int, duration_s: float, batteries: int, cells: int,
                   capacity_ah: float, per_day: float = FAULTS_PER_DAY,
                   scale: float = 1.0) -> list[Fault]:
    """Faults for one run of a bank of ``batteries`` (``cells`` each, ``capacity_ah`` in all,
    nominal voltage ``scale`` x 12.8 V): one of each required kind, then ``per_day`` random ones
    a day on average, in time order. The same arguments give the same schedule."""
    if batteries < 2:
        raise ValueError("the schedule removes a battery and puts it back: use at least 2")
    p = _Plan(random.Random(f"smallbms-faults-{seed}"), duration_s, batteries, cells, capacity_ah,
              scale)
    faults: list[Fault] = []
    for kind in REQUIRED_KINDS:
        f = _place(p, kind)
        if f is None:
            raise ValueError(f"no room for a {kind!r} fault in {duration_s:g} s")
        faults.append(f)
    kinds = [k for k, w in EXTRA_WEIGHTS.items() if w > 0]
    weights = [EXTRA_WEIGHTS[k] for k in kinds]
    for _ in range(round(per_day * duration_s / 86400.0)):
        f = _place(p, p.rng.choices(kinds, weights)[0])
        if f is not None:
            faults.append(f)
    faults.sort(key=lambda f: f.start_s)
    return faults


def component_tables(faults: list[Fault]) -> list[EventTable]:
    """The ``[[component]]`` tables the faults add."""
    return [c for f in faults for c in f.components]


def event_tables(faults: list[Fault]) -> list[EventTable]:
    """All event tables of a schedule in time order (stable: a fault's own order is kept)."""
    tables = [ev for f in faults for ev in f.events]
    tables.sort(key=lambda ev: float(ev["at"]))
    return tables
