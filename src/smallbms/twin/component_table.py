"""The components of one system as arrays, and their currents in compiled code.

:mod:`smallbms.twin.components` holds the chargers and loads as Python objects: the reference
models, easy to read and to extend. A quiet stretch of the twin re-solves them every minute or
so, and at ~30 µs a re-solve the object calls dominated a simulated year. This module packs the
same components into a few arrays (:class:`ComponentTable`: parameters, state, profiles, time
windows, and for a solar charger its sun and clouds over the stretch) and answers the two
questions the twin asks of them, "when do you change next" (:func:`next_change_s`) and "what
current do you push now" (:func:`solve_bus`), with the same arithmetic in the same order as
the Python models, so the results are the same to the last bit (tests/twin/test_component_table.py
runs both on every kind and compares). The state the solve advances (inverter trip, charger
stage, combiner, BatteryProtect timer) is written back to the objects by
:meth:`ComponentTable.write_back`.

Every kind of component is covered. :func:`ComponentTable.build` answers ``None`` for anything
it does not know (a component type added later), and the twin then keeps the Python path.
Without Numba the functions run in the interpreter (correct, slow; the twin does not use them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from smallbms.twin import components as comp
from smallbms.twin.profiles import DAY_S, Profile
from smallbms.twin.solar import PvArray, declination_rad, sunrise_sunset_h

_numba: Any
try:  # pragma: no cover - exercised when numba is installed
    import numba as _numba
except ImportError:  # pragma: no cover
    _numba = None

NUMBA_AVAILABLE: bool = _numba is not None

# kinds (column K_KIND)
DC_LOAD, INVERTER, SOLAR, AC_CHARGER, ALTERNATOR, BATTERY_PROTECT = range(6)
_KIND_CODE = {comp.DcLoad: DC_LOAD, comp.Inverter: INVERTER, comp.SolarCharger: SOLAR,
              comp.AcCharger: AC_CHARGER, comp.Alternator: ALTERNATOR,
              comp.BatteryProtect: BATTERY_PROTECT}
# wiring (column K_WIRED)
_WIRED_CODE = {"none": 0, "load_disconnect": 1, "charge_disconnect": 2}
# charge stages (state column S_STAGE)
_STAGE_CODE = {"bulk": 0, "absorption": 1, "float": 2}
_STAGE_NAME = {v: k for k, v in _STAGE_CODE.items()}

# integer columns
(K_KIND, K_WIRED, K_PROF, K_PROF_N, K_CHG, K_CHG_N, K_WIN, K_WIN_N, K_POWER,
 K_DAY, K_DAY_N, K_DAY_FIRST, K_CLOUD, K_CLOUD_N, K_CLOUD_FIRST, K_CHARGER) = range(16)
N_INT = 16
# float columns (NaN: the model's ``None``)
(F_CONSTANT, F_PERIOD, F_EFFICIENCY, F_IDLE_W, F_SHUTDOWN_V, F_RESTART_V, F_MAX_A,
 F_ABSORPTION_V, F_FLOAT_V, F_REBULK_V, F_ABSORPTION_S, F_MIN_ABSORPTION_S, F_TAIL,
 F_CHARGE_V, F_CONNECT_V, F_DISCONNECT_V, F_BP_LOW_V, F_BP_HIGH_V, F_BP_OFF_DELAY_S,
 F_BP_ON_DELAY_S, F_PEAK_W, F_CLOUDINESS, F_CLOUD_S, F_START_DAY) = range(24)
N_FLOAT = 24
# state columns
S_FLAG, S_STAGE, S_SINCE, S_BP_SINCE = range(4)
N_STATE = 4
# per-day sun columns of a solar charger
D_RISE_H, D_SET_H, D_SIN, D_COS = range(4)

#: Days of sun beyond the stretch's last day a table carries for the next sunrise; a longer
#: night (polar) makes :func:`next_change_s` answer NaN and the twin takes the Python path.
SUN_DAYS_AHEAD = 3


def _none(x: float | None) -> float:
    return math.nan if x is None else float(x)


@dataclass(frozen=True, slots=True)
class ComponentTable:
    """A system's components as arrays (see the module doc); ``state`` is the mutable part."""

    ints: Any  # int64 [n, N_INT]
    floats: Any  # float64 [n, N_FLOAT]
    state: Any  # float64 [n, N_STATE]
    prof_t: Any  # profile point times, all profiles one after the other
    prof_v: Any  # their values
    prof_c: Any  # profile change times
    win: Any  # time window edges
    sun: Any  # float64 [days, 4]: sunrise and sunset hours, sin(lat) sin(dec), cos(lat) cos(dec)
    clouds: Any  # cloud factor per cloud interval
    t0_s: float  # the stretch the sun and cloud tables cover
    t1_s: float

    @staticmethod
    def build(components: Sequence[comp.Component], t0_s: float, t1_s: float,
              ) -> ComponentTable | None:
        """The table for ``components`` over the stretch ``[t0_s, t1_s]`` (the sun and clouds
        are tabled for it), or ``None`` when a component is of a type the table does not know."""
        n = len(components)
        ints = np.zeros((n, N_INT), dtype=np.int64)
        floats = np.full((n, N_FLOAT), math.nan)
        state = np.full((n, N_STATE), math.nan)
        prof_t: list[float] = []
        prof_v: list[float] = []
        prof_c: list[float] = []
        win: list[float] = []
        sun: list[tuple[float, float, float, float]] = []
        clouds: list[float] = []
        for i, c in enumerate(components):
            kind = _KIND_CODE.get(type(c))
            if kind is None:
                return None
            row = ints[i]
            f = floats[i]
            row[K_KIND] = kind
            row[K_WIRED] = _WIRED_CODE[c.controlled_by]
            row[K_CHARGER] = 1 if c.role == "charger" else 0
            row[K_PROF] = row[K_WIN] = -1
            state[i, S_FLAG] = 0.0
            demand_of: comp.DcLoad | comp.Inverter | None = None
            if isinstance(c, comp.DcLoad | comp.Inverter):
                demand_of = c
            elif isinstance(c, comp.BatteryProtect):
                inner = c.load
                if type(inner) is not comp.DcLoad:
                    return None
                demand_of = inner
                f[F_BP_LOW_V], f[F_BP_HIGH_V] = _none(c.disconnect_v), _none(c.reconnect_v)
                f[F_BP_OFF_DELAY_S] = c.disconnect_delay_s
                f[F_BP_ON_DELAY_S] = c.reconnect_delay_s
                state[i, S_FLAG] = 1.0 if c.low_voltage_off else 0.0
                state[i, S_BP_SINCE] = _none(c._since_s)
                if inner.controlled_by != "none":
                    return None  # behind the switch the load is always asked with its input on
            if demand_of is not None:
                d = demand_of.demand
                f[F_CONSTANT] = d.constant
                if isinstance(demand_of, comp.DcLoad):
                    row[K_POWER] = 1 if demand_of.mode == "power" else 0
                if d.profile is not None:
                    _add_profile(row, f, d.profile, prof_t, prof_v, prof_c)
            if isinstance(c, comp.Inverter):
                f[F_EFFICIENCY], f[F_IDLE_W] = c.efficiency, c.idle_w
                f[F_SHUTDOWN_V], f[F_RESTART_V] = _none(c.shutdown_v), _none(c.restart_v)
                state[i, S_FLAG] = 1.0 if c.tripped else 0.0
            if isinstance(c, comp.AcCharger | comp.SolarCharger):
                alg = c.algorithm
                f[F_ABSORPTION_S] = alg.absorption_time_s
                f[F_MIN_ABSORPTION_S] = alg.min_absorption_s
                f[F_TAIL] = alg.tail_fraction_of_c
                f[F_ABSORPTION_V], f[F_FLOAT_V] = _none(c.absorption_v), _none(c.float_v)
                state[i, S_STAGE] = _STAGE_CODE[alg.stage]
                state[i, S_SINCE] = _none(alg.absorption_since_s)
            if isinstance(c, comp.AcCharger):
                f[F_MAX_A], f[F_REBULK_V] = c.max_current_a, _none(c.rebulk_v)
                _add_windows(row, c.windows, win)
            if isinstance(c, comp.SolarCharger):
                f[F_MAX_A], f[F_EFFICIENCY] = _none(c.max_current_a), c.efficiency
                _add_sun(row, f, c.array, t0_s, t1_s, sun, clouds)
            if isinstance(c, comp.Alternator):
                f[F_MAX_A], f[F_CHARGE_V] = c.max_current_a, _none(c.charge_v)
                f[F_CONNECT_V] = c.combiner.connect_v
                f[F_DISCONNECT_V] = c.combiner.disconnect_v
                state[i, S_FLAG] = 1.0 if c.combiner.connected else 0.0
                _add_windows(row, c.windows, win)
        return ComponentTable(
            ints, floats, state, np.array(prof_t, dtype=np.float64),
            np.array(prof_v, dtype=np.float64), np.array(prof_c, dtype=np.float64),
            np.array(win, dtype=np.float64),
            np.array(sun, dtype=np.float64).reshape(-1, 4),
            np.array(clouds, dtype=np.float64), t0_s, t1_s)

    def covers(self, t0_s: float, t1_s: float) -> bool:
        """Whether the sun and cloud tables cover the stretch ``[t0_s, t1_s]``."""
        return self.t0_s <= t0_s and t1_s <= self.t1_s

    def read_state(self, components: Sequence[comp.Component]) -> None:
        """Load the components' changing state (the same components the table was built for,
        or copies of them) into :attr:`state`."""
        state = self.state
        for i, c in enumerate(components):
            if isinstance(c, comp.Inverter):
                state[i, S_FLAG] = 1.0 if c.tripped else 0.0
            elif isinstance(c, comp.AcCharger | comp.SolarCharger):
                alg = c.algorithm
                state[i, S_STAGE] = _STAGE_CODE[alg.stage]
                state[i, S_SINCE] = _none(alg.absorption_since_s)
            elif isinstance(c, comp.Alternator):
                state[i, S_FLAG] = 1.0 if c.combiner.connected else 0.0
            elif isinstance(c, comp.BatteryProtect):
                state[i, S_FLAG] = 1.0 if c.low_voltage_off else 0.0
                state[i, S_BP_SINCE] = _none(c._since_s)

    def write_back(self, components: Sequence[comp.Component]) -> None:
        """Copy the state the compiled solve advanced into the component objects."""
        state = self.state.tolist()
        for c, s in zip(components, state, strict=True):
            if isinstance(c, comp.Inverter):
                c.tripped = s[S_FLAG] != 0.0
            elif isinstance(c, comp.AcCharger | comp.SolarCharger):
                c.algorithm.stage = _STAGE_NAME[int(s[S_STAGE])]  # type: ignore[assignment]
                c.algorithm.absorption_since_s = None if math.isnan(s[S_SINCE]) else s[S_SINCE]
            elif isinstance(c, comp.Alternator):
                c.combiner.connected = s[S_FLAG] != 0.0
            elif isinstance(c, comp.BatteryProtect):
                c.low_voltage_off = s[S_FLAG] != 0.0
                c._since_s = None if math.isnan(s[S_BP_SINCE]) else s[S_BP_SINCE]

    def args(self) -> tuple[Any, ...]:
        """The arrays as the compiled functions take them."""
        return (self.ints, self.floats, self.state, self.prof_t, self.prof_v, self.prof_c,
                self.win, self.sun, self.clouds)


def _add_profile(row: Any, f: Any, p: Profile, prof_t: list[float], prof_v: list[float],
                 prof_c: list[float]) -> None:
    row[K_PROF], row[K_PROF_N] = len(prof_t), len(p.times_s)
    prof_t.extend(p.times_s)
    prof_v.extend(p.values)
    changes = p._change_times_s
    row[K_CHG], row[K_CHG_N] = len(prof_c), len(changes)
    prof_c.extend(changes)
    f[F_PERIOD] = _none(p.period_s)


def _add_windows(row: Any, w: comp.TimeWindows, win: list[float]) -> None:
    if w.edges_s is None:
        row[K_WIN] = -1
        return
    row[K_WIN], row[K_WIN_N] = len(win), len(w.edges_s)
    win.extend(w.edges_s)


def _add_sun(row: Any, f: Any, a: PvArray, t0_s: float, t1_s: float,
             sun: list[tuple[float, float, float, float]], clouds: list[float]) -> None:
    """Sunrise, sunset and the elevation's two terms per day, and the cloud factor per cloud
    interval, over ``[t0_s, t1_s]`` (the sun a few days beyond, for the next sunrise)."""
    f[F_PEAK_W], f[F_CLOUDINESS] = a.peak_w, a.cloudiness
    f[F_CLOUD_S], f[F_START_DAY] = a.cloud_interval_s, a.start_day
    first = math.floor(t0_s / DAY_S)
    last = math.floor(t1_s / DAY_S) + SUN_DAYS_AHEAD
    row[K_DAY], row[K_DAY_N], row[K_DAY_FIRST] = len(sun), last - first + 1, first
    lat = math.radians(a.latitude_deg)
    sin_lat, cos_lat = math.sin(lat), math.cos(lat)
    for k in range(first, last + 1):
        day = a.start_day + k
        rise_h, set_h = sunrise_sunset_h(a.latitude_deg, day)
        dec = declination_rad(day)
        sun.append((rise_h, set_h, sin_lat * math.sin(dec), cos_lat * math.cos(dec)))
    if a.cloudiness <= 0.0:  # no clouds: the factor is 1 (never looked up)
        row[K_CLOUD], row[K_CLOUD_N], row[K_CLOUD_FIRST] = len(clouds), 0, 0
        return
    c_first = math.floor(t0_s / a.cloud_interval_s)
    c_last = math.floor(t1_s / a.cloud_interval_s) + 1
    row[K_CLOUD], row[K_CLOUD_N], row[K_CLOUD_FIRST] = len(clouds), c_last - c_first + 1, c_first
    clouds.extend(a.cloud_factor_of_interval(k) for k in range(c_first, c_last + 1))


# --- compiled functions (plain Python, jitted below) ----------------------------------------------


def _bisect_right(a: Any, first: int, n: int, x: float) -> int:
    """``bisect.bisect_right(a[first:first + n], x)``."""
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) // 2
        if x < a[first + mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _demand(ints: Any, floats: Any, prof_t: Any, prof_v: Any, i: int, t: float) -> float:
    """``Demand.value_at``."""
    first = ints[i, K_PROF]
    if first < 0:
        return float(floats[i, F_CONSTANT])
    n = ints[i, K_PROF_N]
    period = floats[i, F_PERIOD]
    if not math.isnan(period):
        index = _bisect_right(prof_t, first, n, t % period) - 1
        if index < 0:
            index = n - 1
        return float(prof_v[first + index])
    index = _bisect_right(prof_t, first, n, t) - 1
    return 0.0 if index < 0 else float(prof_v[first + index])


def _demand_next(ints: Any, floats: Any, prof_c: Any, i: int, t: float) -> float:
    """``Demand.next_change_s`` (inf for never)."""
    if ints[i, K_PROF] < 0:
        return math.inf
    first = ints[i, K_CHG]
    n = ints[i, K_CHG_N]
    if n == 0:
        return math.inf
    period = floats[i, F_PERIOD]
    if math.isnan(period):
        index = _bisect_right(prof_c, first, n, t)
        return float(prof_c[first + index]) if index < n else math.inf
    phase = t % period
    start = t - phase
    index = _bisect_right(prof_c, first, n, phase)
    nxt = start + prof_c[first + index] if index < n else start + period + prof_c[first]
    return float(nxt) if nxt > t else float(np.nextafter(t, math.inf))


def _window_active(ints: Any, win: Any, i: int, t: float) -> bool:
    first = ints[i, K_WIN]
    if first < 0:
        return True
    return _bisect_right(win, first, ints[i, K_WIN_N], t) % 2 == 1


def _window_next(ints: Any, win: Any, i: int, t: float) -> float:
    first = ints[i, K_WIN]
    if first < 0:
        return math.inf
    n = ints[i, K_WIN_N]
    index = _bisect_right(win, first, n, t)
    return float(win[first + index]) if index < n else math.inf


def _stage_next(state: Any, floats: Any, i: int, t: float) -> float:
    """``ThreeStage.next_change_s``."""
    since = state[i, S_SINCE]
    if state[i, S_STAGE] != 1.0 or math.isnan(since):
        return math.inf
    return float(max(since + floats[i, F_ABSORPTION_S], np.nextafter(t, math.inf)))


def _sun_day(ints: Any, t: float) -> int:
    """The row of ``sun`` for the day of ``t``, or -1 outside the table."""
    k = math.floor(t / DAY_S) - ints[K_DAY_FIRST]
    if k < 0 or k >= ints[K_DAY_N]:
        return -1
    return int(ints[K_DAY] + k)


def _solar_power(ints: Any, floats: Any, sun: Any, clouds: Any, i: int, t: float) -> float:
    """``PvArray.power_w`` (NaN outside the tables)."""
    row = _sun_day(ints[i], t)
    if row < 0:
        return math.nan
    hour = (t % DAY_S) / 3_600.0
    if not sun[row, D_RISE_H] <= hour < sun[row, D_SET_H]:
        return 0.0
    hour_angle = math.radians(15.0 * (hour - 12.0))
    sin_el = sun[row, D_SIN] + sun[row, D_COS] * math.cos(hour_angle)
    elevation = math.asin(max(-1.0, min(1.0, sin_el)))
    clear = floats[i, F_PEAK_W] * max(0.0, math.sin(elevation))
    if clear <= 0.0:
        return 0.0
    if floats[i, F_CLOUDINESS] <= 0.0:
        return float(clear * 1.0)
    k = math.floor(t / floats[i, F_CLOUD_S]) - ints[i, K_CLOUD_FIRST]
    if k < 0 or k >= ints[i, K_CLOUD_N]:
        return math.nan
    return float(clear * clouds[ints[i, K_CLOUD] + k])


def _solar_next(ints: Any, floats: Any, sun: Any, i: int, t: float, daylight_step_s: float,
                ) -> float:
    """``PvArray.next_change_s`` (NaN when the next sunrise is beyond the table)."""
    row = _sun_day(ints[i], t)
    if row < 0:
        return math.nan
    hour = (t % DAY_S) / 3_600.0
    if not sun[row, D_RISE_H] <= hour < sun[row, D_SET_H]:
        day_start = t - (t % DAY_S)
        for d in range(367):
            start = day_start + d * DAY_S
            r = _sun_day(ints[i], start)
            if r < 0:
                return math.nan
            rise_h = sun[r, D_RISE_H]
            if sun[r, D_SET_H] <= rise_h:
                continue
            rise = start + rise_h * 3_600.0
            if rise > t:
                return float(rise)
        return math.inf  # pragma: no cover - a year of polar night
    day_start = t - (t % DAY_S)
    best = t + daylight_step_s
    sunset = day_start + sun[row, D_SET_H] * 3_600.0
    if sunset > t:
        best = min(best, sunset)
    ci = floats[i, F_CLOUD_S]
    if floats[i, F_CLOUDINESS] > 0.0:
        best = min(best, (math.floor(t / ci) + 1) * ci)
    return float(best)


def _next_change_s(ints: Any, floats: Any, state: Any, prof_t: Any, prof_v: Any, prof_c: Any,
                   win: Any, sun: Any, clouds: Any, t: float, daylight_step_s: float) -> float:
    """The earliest time any component changes by itself after ``t`` (inf: never; NaN: the
    answer lies beyond the tables)."""
    first = math.inf
    for i in range(ints.shape[0]):
        kind = ints[i, K_KIND]
        if kind in (DC_LOAD, INVERTER):
            nxt = _demand_next(ints, floats, prof_c, i, t)
        elif kind == SOLAR:
            nxt = _solar_next(ints, floats, sun, i, t, daylight_step_s)
            if math.isnan(nxt):
                return math.nan
            nxt = min(nxt, _stage_next(state, floats, i, t))
        elif kind == AC_CHARGER:
            nxt = min(_window_next(ints, win, i, t), _stage_next(state, floats, i, t))
        elif kind == ALTERNATOR:
            nxt = _window_next(ints, win, i, t)
        else:  # BatteryProtect
            nxt = _demand_next(ints, floats, prof_c, i, t)
            since = state[i, S_BP_SINCE]
            if not math.isnan(since):
                delay = (floats[i, F_BP_ON_DELAY_S] if state[i, S_FLAG] != 0.0
                         else floats[i, F_BP_OFF_DELAY_S])
                nxt = min(nxt, max(since + delay, np.nextafter(t, math.inf)))
        if nxt < first:
            first = nxt
    return first


def _three_stage(state: Any, floats: Any, i: int, t: float, available_a: float, v_oc: float,
                 r: float, capacity_ah: float, absorption_v: float, float_v: float,
                 rebulk_v: float) -> float:
    """``ThreeStage.current_a`` (``rebulk_v`` NaN: never back to bulk)."""
    available_a = max(0.0, available_a)
    if state[i, S_STAGE] == 2.0:
        current = min(available_a, max(0.0, (float_v - v_oc) / r))
        if math.isnan(rebulk_v) or v_oc + r * current >= rebulk_v:
            return float(current)
        state[i, S_STAGE] = 0.0
        state[i, S_SINCE] = math.nan
    cv_a = (absorption_v - v_oc) / r
    if state[i, S_STAGE] == 0.0:
        if cv_a > available_a:
            return float(available_a)
        state[i, S_STAGE] = 1.0
        state[i, S_SINCE] = t
    since = state[i, S_SINCE]
    if math.isnan(since):
        since = t
    elapsed = t - since
    tail_a = floats[i, F_TAIL] * capacity_ah
    tail_reached = elapsed >= floats[i, F_MIN_ABSORPTION_S] and cv_a < tail_a
    if elapsed >= floats[i, F_ABSORPTION_S] or tail_reached:
        state[i, S_STAGE] = 2.0
        state[i, S_SINCE] = math.nan
        return float(min(available_a, max(0.0, (float_v - v_oc) / r)))
    return float(min(available_a, max(0.0, cv_a)))


def _or(x: float, default: float) -> float:
    return default if math.isnan(x) else x


def _component_current(ints: Any, floats: Any, state: Any, prof_t: Any, prof_v: Any,
                       win: Any, sun: Any, clouds: Any, i: int, t: float, bank_v: float,
                       enabled: bool, v_oc: float, r: float, nominal_v: float,
                       capacity_ah: float, charge_v: float, float_v: float) -> float:
    """``Component.current_a`` of component ``i`` against the view ``(v_oc, r)`` (NaN when the
    solar tables do not cover ``t``)."""
    kind = ints[i, K_KIND]
    on = enabled or ints[i, K_WIRED] == 0
    scale = nominal_v / comp.REFERENCE_NOMINAL_V
    if kind == DC_LOAD:
        if not on or bank_v < comp.BROWNOUT_V:
            return 0.0
        value = max(0.0, _demand(ints, floats, prof_t, prof_v, i, t))
        return float(-(value / bank_v if ints[i, K_POWER] == 1 else value))
    if kind == INVERTER:
        shutdown = _or(floats[i, F_SHUTDOWN_V], comp.INVERTER_SHUTDOWN_V * scale)
        restart = _or(floats[i, F_RESTART_V], comp.INVERTER_RESTART_V * scale)
        tripped = state[i, S_FLAG] != 0.0
        if tripped and bank_v >= restart:
            tripped = False
        elif not tripped and bank_v < shutdown:
            tripped = True
        state[i, S_FLAG] = 1.0 if tripped else 0.0
        if tripped or not on or bank_v < comp.BROWNOUT_V:
            return 0.0
        ac_w = max(0.0, _demand(ints, floats, prof_t, prof_v, i, t))
        return float(-(ac_w / floats[i, F_EFFICIENCY] + floats[i, F_IDLE_W]) / bank_v)
    if kind == BATTERY_PROTECT:
        low = _or(floats[i, F_BP_LOW_V], comp.BATTERY_PROTECT_DISCONNECT_V * scale)
        high = _or(floats[i, F_BP_HIGH_V], comp.BATTERY_PROTECT_RECONNECT_V * scale)
        off = state[i, S_FLAG] != 0.0
        crossing = bank_v >= high if off else bank_v < low
        if not crossing:
            state[i, S_BP_SINCE] = math.nan
        else:
            if math.isnan(state[i, S_BP_SINCE]):
                state[i, S_BP_SINCE] = t
            delay = floats[i, F_BP_ON_DELAY_S] if off else floats[i, F_BP_OFF_DELAY_S]
            if t - state[i, S_BP_SINCE] >= delay:
                off = not off
                state[i, S_FLAG] = 1.0 if off else 0.0
                state[i, S_BP_SINCE] = math.nan
        if off or not on:
            return 0.0
        if bank_v < comp.BROWNOUT_V:  # the load behind the switch, asked with its input on
            return 0.0
        value = max(0.0, _demand(ints, floats, prof_t, prof_v, i, t))
        return float(min(0.0, -(value / bank_v if ints[i, K_POWER] == 1 else value)))
    if kind == SOLAR:
        if bank_v < comp.BROWNOUT_V:
            available = 0.0
        else:
            power = _solar_power(ints, floats, sun, clouds, i, t)
            if math.isnan(power):
                return math.nan
            amps = power * floats[i, F_EFFICIENCY] / bank_v
            cap = floats[i, F_MAX_A]
            available = amps if math.isnan(cap) else min(amps, cap)
        if not on or available <= 0.0:
            state[i, S_STAGE] = 0.0
            state[i, S_SINCE] = math.nan
            return 0.0
        return _three_stage(state, floats, i, t, available, v_oc, r, capacity_ah,
                            _or(floats[i, F_ABSORPTION_V], charge_v),
                            _or(floats[i, F_FLOAT_V], float_v), math.nan)
    if kind == AC_CHARGER:
        if not on or not _window_active(ints, win, i, t):
            state[i, S_STAGE] = 0.0
            state[i, S_SINCE] = math.nan
            return 0.0
        return _three_stage(state, floats, i, t, floats[i, F_MAX_A], v_oc, r, capacity_ah,
                            _or(floats[i, F_ABSORPTION_V], charge_v),
                            _or(floats[i, F_FLOAT_V], float_v),
                            _or(floats[i, F_REBULK_V], comp.REBULK_V * scale))
    # alternator through its Cyrix combiner
    running = _window_active(ints, win, i, t)
    set_v = _or(floats[i, F_CHARGE_V], charge_v)
    starter_v = set_v if running else comp.STARTER_REST_V * scale
    sensed = max(starter_v, bank_v)
    connected = state[i, S_FLAG] != 0.0
    if not on:
        connected = False
    elif connected:
        connected = sensed >= floats[i, F_DISCONNECT_V] * scale
    else:
        connected = sensed >= floats[i, F_CONNECT_V] * scale
    state[i, S_FLAG] = 1.0 if connected else 0.0
    if not connected or not running:
        return 0.0
    return float(min(floats[i, F_MAX_A], max(0.0, (set_v - v_oc) / r)))


def _fsum(x: Any, n: int, negative_zero: bool) -> float:
    """``math.fsum(x[:n])`` for finite values: Shewchuk's exact partials, rounded as CPython
    rounds them (``negative_zero``: the interpreter's fsum of negative zeros is -0.0)."""
    partials = np.empty(n + 1)
    m = 0
    all_negative_zero = True
    for k in range(n):
        v = x[k]
        if not (v == 0.0 and math.copysign(1.0, v) < 0.0):
            all_negative_zero = False
        j = 0
        for q in range(m):
            y = partials[q]
            if abs(v) < abs(y):
                v, y = y, v
            hi = v + y
            lo = y - (hi - v)
            if lo != 0.0:
                partials[j] = lo
                j += 1
            v = hi
        m = j
        if v != 0.0:
            partials[m] = v
            m += 1
    hi = 0.0
    if m > 0:
        m -= 1
        hi = partials[m]
        lo = 0.0
        while m > 0:
            v = hi
            m -= 1
            y = partials[m]
            hi = v + y
            yr = hi - v
            lo = y - yr
            if lo != 0.0:
                break
        if m > 0 and ((lo < 0.0 and partials[m - 1] < 0.0) or (lo > 0.0 and partials[m - 1] > 0.0)):
            y = lo * 2.0
            v = hi + y
            yr = v - hi
            if y == yr:
                hi = v
    elif negative_zero and n > 0 and all_negative_zero:
        hi = -0.0
    return float(hi)


def _solve_bus(ints: Any, floats: Any, state: Any, prof_t: Any, prof_v: Any, win: Any,
               sun: Any, clouds: Any, t: float, v_oc: float, r: float, nominal_v: float,
               capacity_ah: float, charge_v: float, float_v: float, load_disconnect: bool,
               charge_disconnect: bool, bank_v: float, currents: Any, negative_zero: bool,
               ) -> float:
    """``components.solve_bus``: fills ``currents`` and returns the net current (NaN when the
    solar tables do not cover ``t``; the state may then be partly advanced)."""
    n = ints.shape[0]
    load_total = 0.0
    for i in range(n):
        currents[i] = 0.0
        if ints[i, K_CHARGER] == 1:
            continue
        wired = ints[i, K_WIRED]
        on = True if wired == 0 else (load_disconnect if wired == 1 else charge_disconnect)
        c = _component_current(ints, floats, state, prof_t, prof_v, win, sun, clouds, i, t,
                               bank_v, on, v_oc, r, nominal_v, capacity_ah, charge_v, float_v)
        currents[i] = c
        load_total += c
    view_v = v_oc + r * load_total
    for i in range(n):
        if ints[i, K_CHARGER] != 1:
            continue
        wired = ints[i, K_WIRED]
        on = True if wired == 0 else (load_disconnect if wired == 1 else charge_disconnect)
        c = _component_current(ints, floats, state, prof_t, prof_v, win, sun, clouds, i, t,
                               view_v, on, view_v, r, nominal_v, capacity_ah, charge_v, float_v)
        if math.isnan(c):
            return math.nan
        currents[i] = c
        view_v = view_v + r * c
    return _fsum(currents, n, negative_zero)


#: whether this interpreter's ``math.fsum`` of negative zeros is -0.0 (3.12 and later)
FSUM_NEGATIVE_ZERO: bool = math.copysign(1.0, math.fsum([-0.0])) < 0.0

if _numba is not None:  # pragma: no branch
    _jit = _numba.njit(cache=True, error_model="numpy")
    _bisect_right = _jit(_bisect_right)
    _demand = _jit(_demand)
    _demand_next = _jit(_demand_next)
    _window_active = _jit(_window_active)
    _window_next = _jit(_window_next)
    _stage_next = _jit(_stage_next)
    _sun_day = _jit(_sun_day)
    _solar_power = _jit(_solar_power)
    _solar_next = _jit(_solar_next)
    _or = _jit(_or)
    _three_stage = _jit(_three_stage)
    _component_current = _jit(_component_current)
    _fsum = _jit(_fsum)

#: the compiled entry points (plain Python without Numba)
next_change_s: Any = _jit(_next_change_s) if _numba is not None else _next_change_s
solve_bus: Any = _jit(_solve_bus) if _numba is not None else _solve_bus
fsum: Any = _fsum
