"""The validation building blocks shared by scenario, design and configuration files."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import AfterValidator, ValidationError

from smallbms.config.integrations import CanConfig, MqttConfig, OutputPins
from smallbms.errors import ConfigError
from smallbms.schema import Choice, Range, Table, first_problem


@pytest.mark.parametrize(("rng", "text"), [
    (Range(0, 100, unit="%"), "between 0 and 100 %"),
    (Range(0, lo_open=True, unit="A"), "greater than 0 A"),
    (Range(0, 1, lo_open=True), "greater than 0 and at most 1"),
    (Range(hi=5), "at most 5"),
    (Range(), "a finite number"),
])
def test_range_words(rng: Range, text: str) -> None:
    assert rng.text() == text


class _Point(Table):
    where = "a point"
    x: Annotated[float, AfterValidator(Range(0, 10))]
    label: str = ""


class _Doc(Table):
    point: list[_Point]


@pytest.mark.parametrize(("data", "key", "message"), [
    ({"point": [{"x": 1}, {"x": True}]}, "point[1].x", "must be a number, got true"),
    ({"point": [{"x": "1"}]}, "point[0].x", "must be a number, got '1'"),
    ({"point": [{"x": 11}]}, "point[0].x", "11 is out of range: must be between 0 and 10"),
    ({"point": [{"x": 10**400}]}, "point[0].x", "is too large"),
    ({"point": [{"x": 1, "lable": ""}]}, "point[0].lable",
     "unknown key 'lable' (did you mean 'label'?) in a point; allowed keys: x, label"),
    ({"point": [{}]}, "point[0].x", "missing (required)"),
    ({"point": [3]}, "point[0]", "must be a table (write [[point]]), got 3"),
    ({"point": {"x": 1}}, "point", "must be an array, got a table"),
    ({"pont": []}, "pont", "unknown key 'pont' (did you mean 'point'?) in the top level"),
])
def test_first_problem_names_the_key_path(data: object, key: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        _Doc.model_validate(data)
    got_key, got_message = first_problem(info.value)
    assert got_key == key
    assert message in got_message, got_message


def test_choice_suggests_the_near_miss() -> None:
    switch = Choice("on", "off")
    assert switch.refusal("onn") == "unknown value 'onn' (did you mean 'on'?); one of 'on', 'off'"
    assert switch.refusal(1) == "must be one of 'on', 'off', got 1"
    assert switch.refusal("off") is None


def test_configs_are_built_like_dataclasses_and_checked_like_files() -> None:
    assert CanConfig(True, "virtual") == CanConfig(enabled=True, interface="virtual")
    assert OutputPins(5).readback is None
    with pytest.raises(ConfigError, match=r"^can\.bitrate: must be a whole number, got 1\.5$"):
        CanConfig(bitrate=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        OutputPins(5, True, None, 7)  # type: ignore[call-arg]
    mqtt = MqttConfig(username="u")
    assert mqtt.replace(port=1884).port == 1884
    with pytest.raises(ConfigError, match=r"^mqtt\.port: "):
        mqtt.replace(port=0)
