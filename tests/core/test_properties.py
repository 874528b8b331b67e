"""DESIGN 5: the safety invariants hold for any sequence of readings and commands (Hypothesis).

Each property runs 2,000 random sequences of 1-60 steps: random cell voltages 2.0-4.0 V with NaN
cells, missing batteries and a silent bus, temperatures -30..80 degC, currents -300..300 A,
bank voltages 0-70 V, random remote terminal states, irregular time steps 0.1-120 s and random
commands. The core is driven exactly as the shell drives it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from smallbms.core.engine import Core
from smallbms.core.types import (
    Decision,
    Leds,
    Reading,
    RemoteInput,
    ResetHistory,
    SetMode,
    SyncSoc,
)

from .helpers import Step, bank, is_complete, reading, scenarios, valid_reports

PROPERTY = settings(
    max_examples=2000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass
class Record:
    t: float
    reading: Reading
    decision: Decision
    soc_pct: float | None
    consumed_ah: float | None
    history: tuple[float | None, ...]
    mode: str
    reset_history: bool
    powered: bool


def _run(steps: list[Step]) -> tuple[Core, list[Record]]:
    core = Core("ng")
    t = 0.0
    out = []
    for k, s in enumerate(steps):
        if k:
            t += s.dt_s
        d = core.step(s.reading, t, s.commands)
        st = core.status()
        h = core.p.history
        reset = any(
            isinstance(r.command, ResetHistory) and r.accepted for r in d.command_results)
        out.append(Record(
            t, s.reading, d, st.soc_pct, st.consumed_ah,
            (h.min_battery_voltage_v, h.max_battery_voltage_v, h.min_cell_voltage_v,
             h.max_cell_voltage_v, h.min_battery_temperature_c, h.max_battery_temperature_c,
             h.discharged_energy_kwh, h.charged_energy_kwh, h.cumulative_ah_drawn),
            core.p.mode, reset, st.powered,
        ))
    return core, out


def _powered(r: Reading) -> bool:
    return r.bank_voltage_v >= 8.0  # False for NaN too


def _remote_on(remote: RemoteInput, v: float) -> bool:
    if remote.bridged:
        return True
    if remote.l_volts is not None and remote.l_volts < 3.5:
        return True
    # H up to the battery voltage + 0.5 V counts as high (docs/choices.md)
    return remote.h_volts is not None and 2.9 < remote.h_volts <= v + 0.5


@PROPERTY
@given(scenarios())
def test_charge_disconnect_floats_whenever_a_cell_is_at_3_75_v_or_temperature_is_out_of_range(sc):
    _, steps = sc
    _, recs = _run(steps)
    for rec in recs:
        reports = valid_reports(rec.reading)
        over = any(c >= 3.75 for b in reports for c in b.cell_voltages_v)
        cold = any(b.temperature_c < 5.0 for b in reports)
        hot = any(b.temperature_c > 50.0 for b in reports)
        if over or cold or hot:
            assert rec.decision.charge_disconnect == "floating", rec


@PROPERTY
@given(scenarios())
def test_charge_disconnect_floats_after_5_s_without_a_complete_reading(sc):
    _, steps = sc
    _, recs = _run(steps)
    last_valid: float | None = None  # time of the last complete reading, or of the power-up
    for rec in recs:
        if not _powered(rec.reading):
            last_valid = None
            continue
        if last_valid is None:
            last_valid = rec.t  # power-up: the comms timer starts
        if is_complete(rec.reading):
            last_valid = rec.t
        elif rec.t - last_valid >= 5.0:
            assert rec.decision.charge_disconnect == "floating", (rec.t, last_valid, rec)
            assert "W-B05" in rec.decision.active_codes


@PROPERTY
@given(scenarios())
def test_load_disconnect_floats_in_every_step_where_a_b01_or_a_b08_is_active(sc):
    _, steps = sc
    _, recs = _run(steps)
    for rec in recs:
        codes = rec.decision.active_codes
        if "A-B01" in codes or "A-B08" in codes:
            assert rec.decision.load_disconnect == "floating"


@PROPERTY
@given(scenarios())
def test_load_disconnect_never_floats_for_undervoltage_sooner_than_30_s_after_the_pre_alarm(sc):
    _, steps = sc
    _, recs = _run(steps)
    high_since: float | None = None
    for rec in recs:
        d = rec.decision
        if d.pre_alarm == "high":
            if high_since is None:
                high_since = rec.t
        else:
            high_since = None
        if {"low_cell_voltage", "low_bank_voltage"} & set(d.discharge_reasons):
            assert high_since is not None, rec
            assert rec.t - high_since >= 30.0, (rec.t, high_since)


@PROPERTY
@given(scenarios())
def test_soc_is_within_0_and_100_or_unknown(sc):
    _, steps = sc
    core, recs = _run(steps)
    for rec in recs:
        assert rec.soc_pct is None or 0.0 <= rec.soc_pct <= 100.0
        assert rec.soc_pct is None or math.isfinite(rec.soc_pct)
        bank_ = core.p.commissioned
        if rec.consumed_ah is not None and bank_ is not None:
            assert rec.consumed_ah <= 0.0


@PROPERTY
@given(scenarios())
def test_history_minima_never_exceed_maxima(sc):
    _, steps = sc
    _, recs = _run(steps)
    for rec in recs:
        h = rec.history
        for lo, hi in ((h[0], h[1]), (h[2], h[3]), (h[4], h[5])):
            assert (lo is None) == (hi is None)
            if lo is not None and hi is not None:
                assert lo <= hi
                assert math.isfinite(lo) and math.isfinite(hi)


@PROPERTY
@given(scenarios())
def test_energy_counters_and_ah_drawn_never_decrease_except_on_reset_history(sc):
    _, steps = sc
    _, recs = _run(steps)
    prev: tuple[float, float, float] | None = None
    for rec in recs:
        dis, chg, drawn = rec.history[6], rec.history[7], rec.history[8]
        assert dis is not None and chg is not None and drawn is not None
        assert dis >= 0.0 and chg >= 0.0 and drawn <= 0.0
        now = (dis, chg, -drawn)
        if prev is not None and not rec.reset_history:
            assert all(n >= p for n, p in zip(now, prev, strict=True)), (prev, now)
        prev = now


@PROPERTY
@given(scenarios())
def test_every_output_floats_and_leds_are_off_when_the_bank_voltage_is_below_8_v(sc):
    _, steps = sc
    _, recs = _run(steps)
    for rec in recs:
        if not _powered(rec.reading):
            d = rec.decision
            assert (d.load_disconnect, d.charge_disconnect, d.pre_alarm) == ("floating",) * 3
            assert d.leds == Leds()
            assert d.active_codes == ()
            assert not rec.powered


@PROPERTY
@given(scenarios())
def test_mode_off_or_remote_off_floats_both_disconnects(sc):
    _, steps = sc
    _, recs = _run(steps)
    for rec in recs:
        r = rec.reading
        if rec.mode == "off" or not _remote_on(r.remote, r.bank_voltage_v):
            assert rec.decision.load_disconnect == "floating"
            assert rec.decision.charge_disconnect == "floating"


# --- a stateful model: a healthy bank pushed around by rules -------------------------------------


class BmsMachine(RuleBasedStateMachine):
    """Walks a two-battery bank through faults; the invariants are checked after every rule."""

    def __init__(self) -> None:
        super().__init__()
        self.core = Core("ng")
        self.t = 0.0
        self.pre_high_since: float | None = None
        self.last_valid = 0.0
        self.d = self.core.step(reading(batteries=bank(1, 2)), 0.0)
        self.last_reading = reading(batteries=bank(1, 2))

    def _step(self, r: Reading, dt: float, commands=()) -> None:
        self.t += dt
        self.d = self.core.step(r, self.t, tuple(commands))
        self.last_reading = r
        if is_complete(r):
            self.last_valid = self.t
        if self.d.pre_alarm == "high":
            if self.pre_high_since is None:
                self.pre_high_since = self.t
        else:
            self.pre_high_since = None

    from hypothesis import strategies as _st

    @rule(cell=_st.floats(2.0, 4.0), dt=_st.sampled_from([0.5, 1.0, 4.9, 5.0, 10.0, 30.0]))
    def cells(self, cell: float, dt: float) -> None:
        self._step(reading(batteries=bank(1, 2, cell_v=cell)), dt)

    @rule(temp=_st.floats(-30.0, 80.0), dt=_st.sampled_from([1.0, 10.0]))
    def temperature(self, temp: float, dt: float) -> None:
        self._step(reading(batteries=bank(1, 2, temperature_c=temp)), dt)

    @rule(dt=_st.sampled_from([0.1, 1.0, 5.0, 29.0, 30.0, 60.0]))
    def bus_cut(self, dt: float) -> None:
        self._step(reading(batteries=(bank(1, 2)[0], None), bank_voltage_v=13.2), dt)

    @rule(v=_st.floats(0.0, 70.0), dt=_st.sampled_from([1.0, 10.0]))
    def bank_voltage(self, v: float, dt: float) -> None:
        self._step(reading(batteries=bank(1, 2), bank_voltage_v=v), dt)

    @rule(mode=_st.sampled_from(["on", "off"]))
    def set_mode(self, mode: str) -> None:
        self._step(self.last_reading, 1.0, [SetMode(mode)])  # type: ignore[arg-type]

    @rule()
    def sync(self) -> None:
        self._step(self.last_reading, 1.0, [SyncSoc()])

    @invariant()
    def safety(self) -> None:
        d = self.d
        r = self.last_reading
        if not _powered(r):
            assert d.load_disconnect == d.charge_disconnect == d.pre_alarm == "floating"
            return
        reports = valid_reports(r)
        if any(c >= 3.75 for b in reports for c in b.cell_voltages_v) or any(
            not 5.0 <= b.temperature_c <= 50.0 for b in reports
        ):
            assert d.charge_disconnect == "floating"
        if self.core.p.mode == "off":
            assert d.load_disconnect == d.charge_disconnect == "floating"
        if {"low_cell_voltage", "low_bank_voltage"} & set(d.discharge_reasons):
            assert self.pre_high_since is not None
            assert self.t - self.pre_high_since >= 30.0
        soc = self.core.status().soc_pct
        assert soc is None or 0.0 <= soc <= 100.0


TestBmsMachine = BmsMachine.TestCase
TestBmsMachine.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
