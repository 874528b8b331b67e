"""One variant's figures: the tick tally over held outputs, the loads' unserved energy, and
whole runs (deterministic; an undersized system shows its load cuts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smallbms.core.types import Decision, Leds, OutputState
from smallbms.sweep.metrics import DAY_S, Tally, _Demand, energy_wh, run_variant
from smallbms.sweep.spec import load_sweep
from smallbms.twin.profiles import Profile

BASE = Path(__file__).resolve().parents[2] / "examples" / "system_solar_batteryprotect.toml"


def decision(load: OutputState = "high", charge: OutputState = "high",
             codes: tuple[str, ...] = ()) -> Decision:
    return Decision(
        load_disconnect=load, charge_disconnect=charge, pre_alarm="floating",
        leds=Leds(), allowed_to_charge=True, allowed_to_discharge="yes",
        charge_reasons=(), discharge_reasons=(), active_codes=codes,
    )


def test_a_cut_held_over_a_skipped_stretch_counts_every_day_it_spans() -> None:
    t = Tally([_Demand(120.0, None, 1.0)], days=5)
    t.tick(0.0, decision(), 80.0)
    t.tick(0.5 * DAY_S, decision("floating", codes=("A-B07",)), 10.0)
    t.tick(3.0 * DAY_S, decision(), 30.0)  # back on exactly at midnight: day 3 is not cut
    assert t.cut_days == {0, 1, 2}
    assert t.off_s == 2.5 * DAY_S
    assert t.unserved_wh == pytest.approx(120.0 * 2.5 * 24)
    assert t.soc_min == {0: 10.0, 3: 30.0}
    assert t.soc_max == {0: 80.0, 3: 30.0}


def test_the_load_output_off_for_another_reason_is_time_without_load_but_not_a_cut_day() -> None:
    t = Tally([], days=2)
    t.tick(0.0, decision("floating", codes=("A-B05",)), 50.0)
    t.tick(3600.0, decision(), 50.0)
    assert t.cut_days == set()
    assert t.off_s == 3600.0


def test_the_end_of_the_run_counts_to_the_last_day() -> None:
    t = Tally([], days=2)
    t.tick(0.0, decision(codes=("A-B01",)), 50.0)
    t.tick(2 * DAY_S, decision(codes=("A-B01",)), 50.0)
    assert t.cut_days == {0, 1}
    assert set(t.soc_min) == {0, 1}


def test_charge_disconnects_count_each_opening_once() -> None:
    t = Tally([], days=1)
    states: list[OutputState] = ["high", "floating", "floating", "high", "floating"]
    for i, state in enumerate(states):
        t.tick(60.0 * i, decision(charge=state), 50.0)
    assert t.charge_disconnects == 2


def test_unserved_energy_follows_the_profile_steps() -> None:
    prof = Profile((0.0, 3600.0), (10.0, 20.0), 7200.0, "A")
    d = _Demand(None, prof, 12.8)
    # 1800 s at 10 A then 3600 s at 20 A then 1800 s at 10 A, at 12.8 V
    assert energy_wh([d], 1800.0, 9000.0) == pytest.approx(12.8 * (5 + 20 + 5))


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "sweep.toml"
    path.write_text(f"""base = "{BASE}"
duration = "2d"
[[axis]]
key = "peak_w"
values = [50, 400]
[[axis]]
key = "soc_pct"
values = [25]
""", encoding="utf-8")
    return path


def test_a_variant_is_deterministic_and_its_figures_hang_together(sweep_file: Path) -> None:
    sweep = load_sweep(sweep_file)
    small, big = sweep.variants()
    a = run_variant(sweep, small)
    assert run_variant(sweep, small) == a
    b = run_variant(sweep, big)
    # 50 W of solar cannot carry the evening load from 25 %: the floor cuts the loads
    assert a["days_loads_cut"] >= 1
    assert a["hours_without_load"] > 0 and a["energy_not_served_kwh"] > 0
    assert b["lowest_true_soc_pct"] > a["lowest_true_soc_pct"]
    assert a["bank_kwh"] == 2.56 and (a["solar_w"], b["solar_w"]) == (50.0, 400.0)
    assert len(a["soc_day_min"]) == len(a["soc_day_max"]) == 2
    assert min(a["soc_day_min"]) == a["lowest_true_soc_pct"]
    assert all(lo <= hi for lo, hi in zip(a["soc_day_min"], a["soc_day_max"], strict=True))
    assert a["damaged_batteries"] == 0 and 2.0 < a["min_cell_v"] < 3.65
