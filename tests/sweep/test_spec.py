"""The sweep file: axes, aliases, variants, load scaling, refusals, and the TOML it writes."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smallbms.scenario.types import BatteryProtect, Solar
from smallbms.sweep.spec import SweepError, load_sweep, to_toml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BASE = EXAMPLES / "system_solar_batteryprotect.toml"


def write_sweep(tmp_path: Path, body: str, base: Path = BASE) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(f'base = "{base}"\nduration = "2d"\n{body}', encoding="utf-8")
    return path


AXES = """
[[axis]]
key = "battery"
values = ["12.8/100", "12.8/200"]

[[axis]]
key = "peak_w"
values = [100, 300, 500]
"""


def test_every_combination_once_per_seed_first_axis_slowest(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, "seeds = [7, 8]\n" + AXES))
    variants = sweep.variants()
    assert sweep.combinations == 6
    assert len(variants) == 12
    assert [(v.index, v.seed) for v in variants[:3]] == [(0, 7), (0, 8), (1, 7)]
    assert variants[0].values == (("battery", "12.8/100"), ("peak_w", 100))
    assert variants[-1].values == (("battery", "12.8/200"), ("peak_w", 500))


def test_axis_values_reach_the_variant_scenario(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, AXES))
    v = sweep.variants()[5]
    s = sweep.scenario(v)
    assert s.bank.battery == "12.8/200"
    solar = [c for c in s.components if isinstance(c, Solar)]
    assert [c.peak_w for c in solar] == [500]
    assert s.duration_s == 2 * 86400.0
    assert s.seed == 42  # the base scenario's seed when the sweep gives none


def test_settings_and_component_by_name(tmp_path: Path) -> None:
    body = """
[[axis]]
key = "discharge_floor"
values = [20]

[[axis]]
name = "lat"
key = "component.SmartSolar MPPT 75/15.latitude"
values = [57.5]
"""
    sweep = load_sweep(write_sweep(tmp_path, body))
    s = sweep.scenario(sweep.variants()[0])
    assert s.settings.discharge_floor_pct == 20
    assert [c.latitude for c in s.components if isinstance(c, Solar)] == [57.5]
    assert [a.name for a in sweep.axes] == ["discharge_floor", "lat"]


def test_load_scale_multiplies_the_load_profile(tmp_path: Path) -> None:
    body = '[[axis]]\nkey = "load_scale"\nvalues = [1.0, 2.5]\n'
    sweep = load_sweep(write_sweep(tmp_path, body))
    one, scaled = (sweep.scenario(v) for v in sweep.variants())
    (p1,) = (c.profile for c in one.components if isinstance(c, BatteryProtect))
    (p2,) = (c.profile for c in scaled.components if isinstance(c, BatteryProtect))
    assert p1 is not None and p2 is not None
    assert [p.t_s for p in p1.points] == [p.t_s for p in p2.points]
    assert [2.5 * p.value for p in p1.points] == [p.value for p in p2.points]


def test_load_scale_turns_a_builtin_profile_into_scaled_points(tmp_path: Path) -> None:
    base = tmp_path / "base.toml"
    base.write_text(
        BASE.read_text(encoding="utf-8").replace(
            'profile = [[0, 1.5], ["7h", 4.0], ["9h", 1.5], ["18h", 9.0], ["23h", 1.5]]',
            'profile = "fridge"'), encoding="utf-8")
    body = '[[axis]]\nkey = "load_scale"\nvalues = [2.0]\n'
    sweep = load_sweep(write_sweep(tmp_path, body, base))
    s = sweep.scenario(sweep.variants()[0])
    (p,) = (c.profile for c in s.components if isinstance(c, BatteryProtect))
    assert p is not None and p.name is None
    assert max(x.value for x in p.points) == 10.0  # the fridge's 5 A, doubled


@pytest.mark.parametrize(("body", "words"), [
    ('[[axis]]\nkey = "bank.battery"\nvalues = ["12.8/999"]\n', "12.8/999"),
    ('[[axis]]\nkey = "component.wind.peak_w"\nvalues = [1]\n', "no component"),
    ('[[axis]]\nkey = "peak_w"\nvalues = [-5]\n', "peak_w"),
    ('[[axis]]\nkey = "load_scale"\nvalues = ["big"]\n', "load_scale"),
    ('[[axis]]\nkey = "peak_w"\nvalues = []\n', "values"),
    ('[[axis]]\nkey = "peak_w"\nvalues = [1]\nbogus = 2\n', "bogus"),
    ('seeds = [1, 1]\n[[axis]]\nkey = "peak_w"\nvalues = [1]\n', "twice"),
    ('[[axis]]\nkey = "peak_w"\nvalues = [1]\n[[axis]]\nkey = "peak_w"\nvalues = [2]\n',
     "already used"),
])
def test_a_bad_sweep_is_refused_before_anything_runs(tmp_path: Path, body: str,
                                                      words: str) -> None:
    with pytest.raises(SweepError, match=words):
        load_sweep(write_sweep(tmp_path, body))


def test_a_script_scenario_cannot_be_swept(tmp_path: Path) -> None:
    with pytest.raises(SweepError, match="twin"):
        load_sweep(write_sweep(tmp_path, AXES, EXAMPLES / "cell_undervoltage.toml"))


_scalars = st.one_of(
    st.booleans(), st.integers(-10**12, 10**12), st.text(max_size=12),
    st.floats(allow_nan=False), st.just(math.inf),
)
_keys = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1,
                max_size=8)
_flat = st.dictionaries(_keys, st.one_of(_scalars, st.lists(_scalars, max_size=4)), max_size=4)
_data = st.dictionaries(_keys, st.one_of(_scalars, _flat, st.lists(_flat, min_size=1,
                                                                   max_size=3)), max_size=5)


@given(_data)
def test_to_toml_reads_back_as_the_same_data(data: dict[str, Any]) -> None:
    assert tomllib.loads(to_toml(data)) == data
