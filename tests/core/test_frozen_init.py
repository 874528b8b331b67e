"""core.frozen.quick_init: the quicker __init__ of the per-tick frozen dataclasses builds the
same objects as the dataclass-generated one, and the classes stay frozen."""

from __future__ import annotations

import dataclasses
import inspect
import math
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smallbms.core.frozen import quick_init
from smallbms.core.types import BatteryReport, IntervalExtremes, Reading, RemoteInput

QUICK = (BatteryReport, IntervalExtremes, Reading)


@pytest.mark.parametrize("cls", QUICK)
def test_signature_matches_the_fields(cls: type) -> None:
    init = vars(cls)["__init__"]
    params = list(inspect.signature(init).parameters.values())[1:]
    fields = dataclasses.fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        expected = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        assert p.default == expected
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


@pytest.mark.parametrize("cls", QUICK)
def test_still_frozen(cls: type) -> None:
    obj: Any = {BatteryReport: BatteryReport("S", "m", "v1", 0, (3.3,), 20.0),
           IntervalExtremes: IntervalExtremes(3.2, 3.4, 12.8, 13.6, 10.0, 30.0),
           Reading: Reading(13.2, ())}[cls]
    name = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, name, 1.0)
    assert pickle.loads(pickle.dumps(obj)) == obj
    assert hash(obj) == hash(dataclasses.replace(obj))


def test_defaults_and_keywords() -> None:
    r = Reading(bank_voltage_v=13.1, batteries=())
    assert r.current_a is None and r.remote == RemoteInput() and r.extremes is None
    assert r.readback_mismatch == frozenset() and r.data_age_s == 0.0
    b = BatteryReport("S", "m", "v1", 1, (3.3, 3.31), 21.5)
    assert b.current_a == 0.0
    assert b == BatteryReport(serial="S", model_id="m", firmware="v1", series_position=1,
                              cell_voltages_v=(3.3, 3.31), temperature_c=21.5, current_a=0.0)
    with pytest.raises(TypeError):
        BatteryReport("S", "m", "v1", 1, (3.3,))  # type: ignore[call-arg]  # one missing
    with pytest.raises(TypeError):
        IntervalExtremes(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0)  # type: ignore[call-arg]


@given(st.lists(st.floats(allow_nan=False), min_size=6, max_size=6))
def test_fields_are_the_arguments(values: list[float]) -> None:
    e = IntervalExtremes(*values)
    assert [getattr(e, f.name) for f in dataclasses.fields(e)] == values
    assert e == IntervalExtremes(**{f.name: v for f, v in
                                    zip(dataclasses.fields(e), values, strict=True)})


def test_rejects_what_it_cannot_reproduce() -> None:
    @dataclasses.dataclass
    class Mutable:
        x: float

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        x: list[float] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Post:
        x: float

        def __post_init__(self) -> None:
            assert not math.isnan(self.x)

    for cls in (Mutable, Factory, Post):
        with pytest.raises(TypeError):
            quick_init(cls)
