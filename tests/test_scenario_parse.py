"""Tests for the scenario file parser (SPEC 17)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smallbms.core.settings import DEFAULT_SETTINGS
from smallbms.core.types import RemoteInput
from smallbms.scenario import (
    ACTIONS,
    COMPONENT_KINDS,
    EVENT_TYPES,
    AcceptBank,
    AcCharger,
    AddBattery,
    Alternator,
    BatteryProtect,
    CommsLost,
    CommsRestored,
    DcLoad,
    Event,
    FirmwareUpdate,
    ForceCell,
    ForceTemperature,
    HardwareFault,
    Inverter,
    LoadProfile,
    Mode,
    PowerCycle,
    ProfilePoint,
    Release,
    Remote,
    RemoveBattery,
    ResetDefaults,
    ResetHistory,
    Scenario,
    ScenarioError,
    SetSetting,
    SetSoc,
    Solar,
    SyncSoc,
    TimeWindow,
    Wireless,
    load_scenario,
    parse_scenario,
)

# --- the examples of SPEC 17 --------------------------------------------------------------------

# The example of SPEC 17, verbatim but for one comment cut to the line length. It shows every
# section at once, so it holds a [[component]] (twin only) and a [[reading]] (script only) side
# by side: it is split into its twin and its script halves below, each of which must parse.
SPEC_EXAMPLE = """\
name = "example"
profile = "ng"                # or "classic"
duration = "2h"
step = 1.0                    # seconds per BMS tick (the twin may sub-step)
seed = 1

[bank]
battery = "12.8/100"          # catalogue id
series = 1
parallel = 1
soc_pct = 80                  # twin: true SoC of every cell, and the monitor starts knowing it;
                              # script: the monitor starts at this SoC (omitted: SoC unknown)
temperature_c = 25            # initial and ambient temperature
source = "twin"               # "twin" (physics) or "script" (readings given below, no physics)

[settings]                    # any BMS setting by name; omitted = default
discharge_floor_pct = 10
low_soc_warning_pct = 20

[remote]
bridged = true                # default wire loop

[[component]]                 # twin only; any number
kind = "dc_load"              # dc_load | inverter | solar | ac_charger | alternator
current_a = 20                # or power_w = 240, or profile = "name" / [[t, value], ...]
controlled_by = "load_disconnect"   # load_disconnect | charge_disconnect | none

[[reading]]                   # script source only: piecewise-linear in time between points
at = 0
cell_v = 3.30                 # every cell; or cells_v = [3.30, 3.30, 3.29, 3.31]
temperature_c = 25
current_a = -20

[[event]]
at = "10m"
action = "comms_lost"         # see list below
"""

_READING_BLOCK = SPEC_EXAMPLE[
    SPEC_EXAMPLE.index("[[reading]]"):SPEC_EXAMPLE.index("[[event]]")
]
_COMPONENT_BLOCK = SPEC_EXAMPLE[
    SPEC_EXAMPLE.index("[[component]]"):SPEC_EXAMPLE.index("[[reading]]")
]
SPEC_TWIN = SPEC_EXAMPLE.replace(_READING_BLOCK, "")
SPEC_SCRIPT = SPEC_EXAMPLE.replace(_COMPONENT_BLOCK, "").replace(
    'source = "twin" ', 'source = "script"'
)


def test_spec_example_twin_half() -> None:
    s = parse_scenario(SPEC_TWIN, "example.toml")
    assert s.name == "example"
    assert s.profile == "ng"
    assert s.duration_s == 7200.0
    assert s.step_s == 1.0
    assert s.seed == 1
    assert s.sample_interval_s is None
    assert s.bank.battery == "12.8/100"
    assert s.bank.model.cells_in_series == 4
    assert (s.bank.series, s.bank.parallel, s.bank.battery_count) == (1, 1, 1)
    assert s.bank.soc_pct == 80.0
    assert s.bank.temperature_c == 25.0
    assert s.bank.ambient_c == 25.0
    assert s.bank.source == "twin"
    assert dict(s.settings_values) == {"discharge_floor_pct": 10.0, "low_soc_warning_pct": 20.0}
    assert s.settings == DEFAULT_SETTINGS
    assert s.remote == RemoteInput(bridged=True)
    assert s.components == (
        DcLoad(name="dc_load-1", controlled_by="load_disconnect", current_a=20.0),
    )
    assert s.readings == ()
    assert s.events == (CommsLost(at_s=600.0),)
    assert s.source == "example.toml"
    assert s.source_path is None


def test_spec_example_script_half() -> None:
    s = parse_scenario(SPEC_SCRIPT, "example.toml")
    assert s.bank.source == "script"
    assert s.components == ()
    (reading,) = s.readings
    assert reading.at_s == 0.0
    assert reading.cells_v == ((3.30, 3.30, 3.30, 3.30),)
    assert reading.temperatures_c == (25.0,)
    assert reading.current_a == -20.0
    assert reading.voltage_v is None


def test_spec_example_verbatim_mixes_component_and_reading() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(SPEC_EXAMPLE, "example.toml")
    assert info.value.key == "reading[0]"


def test_spec_example_cells_v_comment_parses() -> None:
    text = SPEC_SCRIPT.replace("cell_v = 3.30", "cells_v = [3.30, 3.30, 3.29, 3.31]")
    s = parse_scenario(text)
    assert s.readings[0].cells_v == ((3.30, 3.30, 3.29, 3.31),)


@pytest.mark.parametrize(
    "component",
    [
        'kind = "dc_load"\ncurrent_a = 20',
        'kind = "dc_load"\npower_w = 240',
        'kind = "dc_load"\nprofile = "evening"',
        'kind = "dc_load"\nprofile = [[0, 5], ["8h", 20], ["20h", 2]]',
        'kind = "dc_load"\nprofile = [[0, 5]]\nrepeat = "none"',
        'kind = "inverter"\npower_w = 500',
        'kind = "inverter"\nprofile = [[0, 100]]\nefficiency = 0.9\nidle_w = 10',
        'kind = "solar"\npeak_w = 400',
        'kind = "solar"\npeak_w = 400\nlatitude = -33.9\nstart_day = 1\ncloudiness = 0',
        'kind = "ac_charger"\ncurrent_a = 30',
        'kind = "ac_charger"\ncurrent_a = 30\nabsorption_v = 14.2\nfloat_v = 13.5\n'
        'on = [["1h", "3h"], [36000, 40000]]',
        'kind = "alternator"\ncurrent_a = 50',
        'kind = "alternator"\ncurrent_a = 50\nrunning = [["0s", "30m"]]',
        'kind = "battery_protect"\ncurrent_a = 5',
        'kind = "battery_protect"\npower_w = 60\ncutoff_v = 11.5',
        'kind = "dc_load"\ncurrent_a = 1\ncontrolled_by = "none"\nname = "fridge"',
    ],
)
def test_every_component_kind_parses(component: str) -> None:
    s = parse_scenario(SPEC_TWIN.replace(_COMPONENT_BLOCK, f"[[component]]\n{component}\n"))
    (c,) = s.components
    assert isinstance(c, tuple(COMPONENT_KINDS.values()))


# --- a scenario with every kind and every action ------------------------------------------------

FULL = """\
name = "full"
duration = "1d"
step = "2s"
seed = 7
sample_interval = "5m"

[bank]
battery = "12.8/200"
series = 2
parallel = 2
soc_pct = 55.5
temperature_c = 10
ambient_c = -5

[settings]
discharge_floor_pct = 30
low_soc_warning_pct = 40
pre_alarm_level_v = 3.0

[remote]
l_volts = 0.5

[[component]]
kind = "dc_load"
name = "lights"
profile = [[0, 2], ["18h", 8]]

[[component]]
kind = "inverter"
power_w = 800

[[component]]
kind = "solar"
peak_w = 600
max_current_a = 40

[[component]]
kind = "ac_charger"
current_a = 30
on = [["2h", "4h"]]

[[component]]
kind = "alternator"
current_a = 60
running = [["1h", "2h"], ["5h", "6h"]]

[[component]]
kind = "battery_protect"
current_a = 3
cutoff_v = 22.0

[[component]]
kind = "dc_load"
current_a = 1

[[event]]
at = "2h"
action = "comms_lost"
battery = 3

[[event]]
at = "1h"
action = "remote"
h_volts = 12.0

[[event]]
at = "1h"
action = "mode"
value = "off"

[[event]]
at = "1h"
action = "set"
setting = "discharge_floor_pct"
value = 150

[[event]]
at = 0
action = "sync_soc"

[[event]]
at = 10
action = "set_soc"
value = 42

[[event]]
at = 20
action = "reset_defaults"

[[event]]
at = 30
action = "reset_history"

[[event]]
at = 40
action = "force_cell"
battery = 1
cell = 3
volts = 2.7

[[event]]
at = 50
action = "force_temperature"
battery = 0
celsius = 55

[[event]]
at = 60
action = "release"

[[event]]
at = 70
action = "release"
battery = 0

[[event]]
at = 80
action = "firmware_update"
result = "fail"

[[event]]
at = 90
action = "firmware_update"
result = "success"
duration = "5m"

[[event]]
at = 100
action = "hardware_fault"
value = true

[[event]]
at = 110
action = "power_cycle"

[[event]]
at = 120
action = "power_cycle"
duration = "30s"

[[event]]
at = 130
action = "wireless"
value = "off"

[[event]]
at = 140
action = "remove_battery"
battery = 2

[[event]]
at = 150
action = "add_battery"
battery = 2

[[event]]
at = 160
action = "add_battery"

[[event]]
at = 170
action = "accept_bank"

[[event]]
at = 180
action = "comms_restored"

[[event]]
at = "1d"
action = "comms_lost"
"""


@pytest.fixture(scope="module")
def full() -> Scenario:
    return parse_scenario(FULL, "full.toml")


def test_full_top_level(full: Scenario) -> None:
    assert full.step_s == 2.0
    assert full.seed == 7
    assert full.sample_interval_s == 300.0
    assert full.bank.battery_count == 4
    assert full.bank.cells_per_battery == 4
    assert full.bank.soc_pct == 55.5
    assert (full.bank.temperature_c, full.bank.ambient_c) == (10.0, -5.0)
    assert full.settings.discharge_floor_pct == 30.0
    assert full.settings.low_soc_warning_pct == 40.0
    assert full.settings.pre_alarm_level_v == 3.0
    assert full.settings.charged_voltage_v == DEFAULT_SETTINGS.charged_voltage_v
    # a [remote] table sets the whole terminal state: bridged defaults to false
    assert full.remote == RemoteInput(bridged=False, l_volts=0.5, h_volts=None)


def test_full_components(full: Scenario) -> None:
    lights, inverter, solar, charger, alternator, bp, load = full.components
    assert lights == DcLoad(
        name="lights", controlled_by="load_disconnect",
        profile=LoadProfile(points=(ProfilePoint(0.0, 2.0), ProfilePoint(64800.0, 8.0))),
    )
    assert inverter == Inverter(
        name="inverter-1", controlled_by="load_disconnect", power_w=800.0,
        efficiency=0.92, idle_w=6.0,
    )
    assert solar == Solar(
        name="solar-1", controlled_by="charge_disconnect", peak_w=600.0, latitude=50.0,
        start_day=172, cloudiness=0.3, max_current_a=40.0,
    )
    assert charger == AcCharger(
        name="ac_charger-1", controlled_by="charge_disconnect", current_a=30.0,
        on=(TimeWindow(7200.0, 14400.0),),
    )
    assert alternator == Alternator(
        name="alternator-1", controlled_by="charge_disconnect", current_a=60.0,
        running=(TimeWindow(3600.0, 7200.0), TimeWindow(18000.0, 21600.0)),
    )
    assert bp == BatteryProtect(
        name="battery_protect-1", controlled_by="load_disconnect", current_a=3.0, cutoff_v=22.0
    )
    assert load == DcLoad(name="dc_load-1", controlled_by="load_disconnect", current_a=1.0)
    assert [c.kind for c in full.components] == [
        "dc_load", "inverter", "solar", "ac_charger", "alternator", "battery_protect", "dc_load",
    ]


def test_full_events_sorted_stably(full: Scenario) -> None:
    ev = full.events
    assert [e.at_s for e in ev] == sorted(e.at_s for e in ev)
    # the three events at 1 h keep their file order
    at_1h = [e for e in ev if e.at_s == 3600.0]
    assert [type(e) for e in at_1h] == [Remote, Mode, SetSetting]
    assert ev[0] == SyncSoc(at_s=0.0)
    assert ev[-1] == CommsLost(at_s=86400.0, battery=None)
    assert {type(e).action for e in ev} == set(ACTIONS)


def test_full_event_fields(full: Scenario) -> None:
    expected: list[Event] = [
        SyncSoc(at_s=0.0),
        SetSoc(at_s=10.0, value=42.0),
        ResetDefaults(at_s=20.0),
        ResetHistory(at_s=30.0),
        ForceCell(at_s=40.0, battery=1, cell=3, volts=2.7),
        ForceTemperature(at_s=50.0, battery=0, celsius=55.0),
        Release(at_s=60.0),
        Release(at_s=70.0, battery=0),
        FirmwareUpdate(at_s=80.0, result="fail", duration_s=60.0),
        FirmwareUpdate(at_s=90.0, result="success", duration_s=300.0),
        HardwareFault(at_s=100.0, value=True),
        PowerCycle(at_s=110.0, duration_s=0.0),
        PowerCycle(at_s=120.0, duration_s=30.0),
        Wireless(at_s=130.0, value="off"),
        RemoveBattery(at_s=140.0, battery=2),
        AddBattery(at_s=150.0, battery=2),
        AddBattery(at_s=160.0),
        AcceptBank(at_s=170.0),
        CommsRestored(at_s=180.0),
        Remote(at_s=3600.0, bridged=False, l_volts=None, h_volts=12.0),
        Mode(at_s=3600.0, value="off"),
        # a set event's value is not range-checked: the BMS refuses it at run time
        SetSetting(at_s=3600.0, setting="discharge_floor_pct", value=150.0),
        CommsLost(at_s=7200.0, battery=3),
        CommsLost(at_s=86400.0),
    ]
    assert list(full.events) == expected


def test_events_match_by_class(full: Scenario) -> None:
    seen: list[str] = []
    for ev in full.events:
        match ev:
            case CommsLost(battery=b):
                seen.append(f"lost {b}")
            case Remote() as r:
                assert r.input == RemoteInput(bridged=False, h_volts=12.0)
                seen.append("remote")
            case SetSetting(setting=name, value=v):
                seen.append(f"set {name}={v:g}")
            case _:
                pass
    assert seen == ["remote", "set discharge_floor_pct=150", "lost 3", "lost None"]


def test_event_types_cover_every_action() -> None:
    assert set(EVENT_TYPES) == set(ACTIONS)
    for action, cls in EVENT_TYPES.items():
        assert cls.action == action


def test_model_is_frozen(full: Scenario) -> None:
    with pytest.raises(AttributeError):
        full.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        full.settings_values["x"] = 1.0  # type: ignore[index]


# --- defaults and details -----------------------------------------------------------------------


def doc(
    top: Mapping[str, str | None] | None = None,
    bank: Mapping[str, str | None] | None = None,
    rest: str = "",
) -> str:
    """A small scenario: top-level and [bank] keys (None removes a key), then ``rest``."""
    t: dict[str, str | None] = {"name": '"t"', "duration": '"2h"', **(top or {})}
    b: dict[str, str | None] = {"battery": '"12.8/100"', **(bank or {})}
    lines = [f"{k} = {v}" for k, v in t.items() if v is not None]
    lines.append("[bank]")
    lines += [f"{k} = {v}" for k, v in b.items() if v is not None]
    return "\n".join(lines) + "\n" + rest


SCRIPT: dict[str, str | None] = {"source": '"script"'}
READING0 = "[[reading]]\nat = 0\ncell_v = 3.3\n"


def test_minimal_defaults() -> None:
    s = parse_scenario(doc())
    assert s.profile == "ng"
    assert s.step_s == 1.0
    assert s.seed == 0
    assert s.sample_interval_s is None
    assert s.bank.soc_pct is None
    assert s.bank.temperature_c == 25.0
    assert s.bank.ambient_c == 25.0
    assert s.bank.source == "twin"
    assert s.settings == DEFAULT_SETTINGS
    assert dict(s.settings_values) == {}
    assert s.remote == RemoteInput(bridged=True, l_volts=None, h_volts=None)
    assert (s.components, s.readings, s.events) == ((), (), ())


def test_ambient_defaults_to_temperature() -> None:
    s = parse_scenario(doc(bank={"temperature_c": "3.5"}))
    assert s.bank.ambient_c == 3.5


def test_empty_remote_table_means_not_bridged() -> None:
    s = parse_scenario(doc(rest="[remote]\n"))
    assert s.remote == RemoteInput(bridged=False)


def test_remote_event_defaults() -> None:
    s = parse_scenario(doc(rest='[[event]]\nat = 1\naction = "remote"\n'))
    assert s.events == (Remote(at_s=1.0, bridged=False, l_volts=None, h_volts=None),)
    s = parse_scenario(doc(rest='[[event]]\nat = 1\naction = "remote"\nbridged = true\n'))
    assert s.events[0] == Remote(at_s=1.0, bridged=True)


def test_classic_profile() -> None:
    text = doc(
        top={"profile": '"classic"'}, bank={"battery": '"smart-25.6/200"', "soc_pct": "50"},
        rest='[[event]]\nat = 5\naction = "comms_lost"\n',
    )
    s = parse_scenario(text)
    assert s.profile == "classic"
    assert s.bank.model.family == "smart"
    assert s.bank.cells_per_battery == 8


def test_invalid_bank_is_a_legitimate_scenario() -> None:
    # 3 x 12.8 V in series is 36 V: the BMS raises E-B01 at run time, the parser accepts it
    s = parse_scenario(doc(bank={"series": "3", "parallel": "2"}))
    assert s.bank.battery_count == 6


def test_script_readings_inherit_and_expand() -> None:
    rest = (
        "[[reading]]\nat = 0\ncells_v = [3.30, 3.31, 3.29, 3.30]\ncurrent_a = -20\n"
        "voltage_v = 26.4\n"
        '[[reading]]\nat = "10m"\ntemperatures_c = [20, 21, 22, 23]\n'
        '[[reading]]\nat = "20m"\ncells_v = [3.1, 3.1, 3.1, 3.1, 3.2, 3.2, 3.2, 3.2, '
        "3.3, 3.3, 3.3, 3.3, 3.4, 3.4, 3.4, 3.4]\ncurrent_a = 5\n"
    )
    s = parse_scenario(
        doc(bank=SCRIPT | {"series": "2", "parallel": "2", "temperature_c": "15"}, rest=rest)
    )
    r0, r1, r2 = s.readings
    assert r0.cells_v == ((3.30, 3.31, 3.29, 3.30),) * 4
    assert r0.temperatures_c == (15.0,) * 4
    assert (r0.current_a, r0.voltage_v) == (-20.0, 26.4)
    assert r1.at_s == 600.0
    assert r1.cells_v == r0.cells_v
    assert r1.temperatures_c == (20.0, 21.0, 22.0, 23.0)
    assert (r1.current_a, r1.voltage_v) == (-20.0, 26.4)
    assert r2.cells_v == ((3.1,) * 4, (3.2,) * 4, (3.3,) * 4, (3.4,) * 4)
    assert r2.temperatures_c == r1.temperatures_c
    assert r2.current_a == 5.0


def test_script_reading_defaults() -> None:
    s = parse_scenario(doc(bank=SCRIPT, rest=READING0))
    (r,) = s.readings
    assert (r.current_a, r.voltage_v, r.temperatures_c) == (0.0, None, (25.0,))


def test_component_names_are_unique_and_generated() -> None:
    rest = (
        '[[component]]\nkind = "dc_load"\ncurrent_a = 1\n'
        '[[component]]\nkind = "dc_load"\ncurrent_a = 1\nname = "dc_load-2"\n'
        '[[component]]\nkind = "dc_load"\ncurrent_a = 1\n'
    )
    s = parse_scenario(doc(rest=rest))
    assert [c.name for c in s.components] == ["dc_load-1", "dc_load-2", "dc_load-3"]


def test_profile_value_at() -> None:
    p = LoadProfile(points=(ProfilePoint(0.0, 1.0), ProfilePoint(3600.0, 5.0)))
    assert p.value_at(0.0) == 1.0
    assert p.value_at(3599.0) == 1.0
    assert p.value_at(3600.0) == 5.0
    assert p.value_at(86400.0 + 10) == 1.0
    once = LoadProfile(points=p.points, repeat_s=None)
    assert once.value_at(86400.0 + 10) == 5.0
    with pytest.raises(ValueError):
        LoadProfile(name="evening").value_at(0.0)


def test_time_window_contains() -> None:
    w = TimeWindow(10.0, 20.0)
    assert (w.contains(9.9), w.contains(10.0), w.contains(19.9), w.contains(20.0)) == (
        False, True, True, False,
    )


def test_load_scenario_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text(SPEC_TWIN, encoding="utf-8")
    s = load_scenario(path)
    assert s.source_path == path
    assert s.source == str(path)


def test_load_scenario_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text(SPEC_TWIN.replace("12.8/100", "12.8/999"), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(
        f"{path}: bank.battery: unknown battery model '12.8/999'; known models: 12.8/100"
    )
    assert info.value.file == str(path)


def test_load_scenario_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "nope.toml")
    assert "cannot read" in str(info.value)


def test_load_scenario_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.toml"
    path.write_bytes(b"name = \"\xff\"\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "UTF-8" in str(info.value)


def test_error_message_format() -> None:
    text = doc(rest='[[event]]\nat = 1\naction = "sync_soc"\n' * 3
               + '[[event]]\nat = "10 minutes"\naction = "sync_soc"\n')
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "x.toml")
    assert str(info.value) == (
        "x.toml: event[3].at: '10 minutes' is not a duration "
        '(use seconds or e.g. "90s", "15m", "2h", "3d")'
    )
    assert (info.value.file, info.value.key) == ("x.toml", "event[3].at")


def test_scenario_error_pickles() -> None:
    import pickle

    err = ScenarioError("x.toml", "bank.battery", "wrong")
    back = pickle.loads(pickle.dumps(err))
    assert (back.file, back.key, back.message, str(back)) == (
        "x.toml", "bank.battery", "wrong", "x.toml: bank.battery: wrong",
    )


def test_huge_integer_is_shown_short() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc(bank={"series": "9" * 18}))
    assert len(str(info.value)) < 150


def test_toml_syntax_error() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario('name = "t"\nduration = \n', "bad.toml")
    assert info.value.key == ""
    assert str(info.value).startswith("bad.toml: not valid TOML")


# --- malformed scenarios: the key path and what is wrong ----------------------------------------

EV = '[[event]]\nat = 1\naction = "{}"\n'


def ev(action: str, extra: str = "") -> str:
    return EV.format(action) + extra + "\n"


def comp(body: str) -> str:
    return f"[[component]]\n{body}\n"


MALFORMED: list[tuple[str, str, str, str]] = [
    # (id, text, key, fragment of the message)
    ("unknown top key", doc(top={"nmae": '"x"'}), "nmae", "did you mean 'name'"),
    ("missing name", doc(top={"name": None}), "name", "missing"),
    ("name not a string", doc(top={"name": "5"}), "name", "must be a string, got 5"),
    ("empty name", doc(top={"name": '""'}), "name", "must not be empty"),
    ("bad profile", doc(top={"profile": '"ngx"'}), "profile", "unknown value 'ngx'"),
    ("missing duration", doc(top={"duration": None}), "duration", "missing"),
    ("bad duration", doc(top={"duration": '"10 minutes"'}), "duration", "is not a duration"),
    ("zero duration", doc(top={"duration": "0"}), "duration", "greater than 0"),
    ("negative duration", doc(top={"duration": '"-5m"'}), "duration", "cannot be negative"),
    ("duration too long", doc(top={"duration": '"401d"'}), "duration", "at most 400d"),
    ("bool duration", doc(top={"duration": "true"}), "duration", "true is not a duration"),
    ("nan duration", doc(top={"duration": "nan"}), "duration", "NaN"),
    ("zero step", doc(top={"step": "0"}), "step", "greater than 0"),
    ("long step", doc(top={"step": '"2h"'}), "step", "at most 1h"),
    ("negative seed", doc(top={"seed": "-1"}), "seed", "out of range"),
    ("float seed", doc(top={"seed": "1.5"}), "seed", "whole number"),
    ("bool seed", doc(top={"seed": "true"}), "seed", "whole number, got true"),
    ("zero sample interval", doc(top={"sample_interval": "0"}), "sample_interval", "than 0"),
    ("missing bank", 'name = "t"\nduration = 10\n', "bank", "missing table [bank]"),
    ("bank not a table", 'name = "t"\nduration = 10\nbank = "12.8/100"\n', "bank",
     "must be a table"),
    ("unknown bank key", doc(bank={"serie": "2"}), "bank.serie", "did you mean 'series'"),
    ("missing battery", doc(bank={"battery": None}), "bank.battery", "missing"),
    ("unknown battery", doc(bank={"battery": '"12.8/999"'}), "bank.battery",
     "unknown battery model '12.8/999'; known models: 12.8/100"),
    ("classic with NG battery", doc(top={"profile": '"classic"'}), "bank.battery",
     "needs a Lithium Battery Smart battery"),
    ("ng with smart battery", doc(bank={"battery": '"smart-12.8/100"'}), "bank.battery",
     "needs a Lithium NG battery"),
    ("zero series", doc(bank={"series": "0"}), "bank.series", "between 1 and 100"),
    ("float parallel", doc(bank={"parallel": "2.0"}), "bank.parallel", "whole number"),
    ("too many batteries", doc(bank={"series": "11", "parallel": "10"}), "bank.parallel",
     "at most 100"),
    ("soc out of range", doc(bank={"soc_pct": "101"}), "bank.soc_pct", "between 0 and 100"),
    ("soc string", doc(bank={"soc_pct": '"80%"'}), "bank.soc_pct", "must be a number"),
    ("hot bank", doc(bank={"temperature_c": "90"}), "bank.temperature_c", "between -40 and 80"),
    ("cold ambient", doc(bank={"ambient_c": "-50"}), "bank.ambient_c", "between -40 and 80"),
    ("bad source", doc(bank={"source": '"sim"'}), "bank.source", "one of 'twin', 'script'"),
    ("classic script soc", doc(top={"profile": '"classic"'},
                               bank={"battery": '"smart-12.8/100"', "soc_pct": "50"} | SCRIPT,
                               rest=READING0), "bank.soc_pct", "no SoC monitor"),
    ("setting out of range", doc(rest="[settings]\ndischarge_floor_pct = 120\n"),
     "settings.discharge_floor_pct", "out of range 0..99"),
    ("warning below floor", doc(rest="[settings]\ndischarge_floor_pct = 15\n"
                                "low_soc_warning_pct = 5\n"),
     "settings.low_soc_warning_pct", "must be at or above the discharge floor"),
    ("floor above default warning", doc(rest="[settings]\ndischarge_floor_pct = 30\n"),
     "settings.discharge_floor_pct", "must be at or above the discharge floor"),
    ("unknown setting", doc(rest="[settings]\ndischarge_flor_pct = 5\n"),
     "settings.discharge_flor_pct", "did you mean 'discharge_floor_pct'"),
    ("setting not a number", doc(rest='[settings]\npre_alarm_level_v = "3.0"\n'),
     "settings.pre_alarm_level_v", "must be a number"),
    ("settings not a table", doc(top={"settings": "5"}), "settings", "must be a table"),
    ("classic settings", doc(top={"profile": '"classic"'}, bank={"battery": '"smart-12.8/50"'},
                             rest="[settings]\ndischarge_floor_pct = 5\n"),
     "settings", "profile 'classic' has no settings"),
    ("remote bridged string", doc(rest='[remote]\nbridged = "yes"\n'), "remote.bridged",
     "true or false"),
    ("remote unknown key", doc(rest="[remote]\nl_volt = 1\n"), "remote.l_volt",
     "did you mean 'l_volts'"),
    ("remote volts", doc(rest="[remote]\nh_volts = inf\n"), "remote.h_volts", "finite"),
    ("component not array", doc(rest='[component]\nkind = "dc_load"\n'), "component",
     "array of tables"),
    ("component kind missing", doc(rest=comp("current_a = 5")), "component[0].kind", "missing"),
    ("component kind unknown", doc(rest=comp('kind = "dc_laod"\ncurrent_a = 5')),
     "component[0].kind", "did you mean 'dc_load'"),
    ("component controlled_by", doc(rest=comp('kind = "dc_load"\ncurrent_a = 5')
                                    + comp('kind = "solar"\npeak_w = 1\ncontrolled_by = "atc"')),
     "component[1].controlled_by", "'load_disconnect', 'charge_disconnect', 'none'"),
    ("component unknown key", doc(rest=comp('kind = "dc_load"\ncurrent = 5')),
     "component[0].current", "unknown key 'current'"),
    ("key of another kind", doc(rest=comp('kind = "inverter"\npower_w = 5\ncurrent_a = 1')),
     "component[0].current_a", "in an inverter component"),
    ("load without demand", doc(rest=comp('kind = "dc_load"')), "component[0]",
     "needs one of current_a, power_w, profile"),
    ("load with two demands", doc(rest=comp('kind = "dc_load"\ncurrent_a = 5\npower_w = 60')),
     "component[0].power_w", "only one of"),
    ("negative load current", doc(rest=comp('kind = "dc_load"\ncurrent_a = -5')),
     "component[0].current_a", "greater than 0"),
    ("solar without peak", doc(rest=comp('kind = "solar"')), "component[0].peak_w", "missing"),
    ("solar latitude", doc(rest=comp('kind = "solar"\npeak_w = 100\nlatitude = 91')),
     "component[0].latitude", "between -90 and 90"),
    ("solar start day", doc(rest=comp('kind = "solar"\npeak_w = 100\nstart_day = 367')),
     "component[0].start_day", "between 1 and 366"),
    ("solar cloudiness", doc(rest=comp('kind = "solar"\npeak_w = 100\ncloudiness = 1.5')),
     "component[0].cloudiness", "between 0 and 1"),
    ("inverter efficiency", doc(rest=comp('kind = "inverter"\npower_w = 5\nefficiency = 0')),
     "component[0].efficiency", "greater than 0 and at most 1"),
    ("inverter idle", doc(rest=comp('kind = "inverter"\npower_w = 5\nidle_w = -1')),
     "component[0].idle_w", "at least 0"),
    ("charger window flat", doc(rest=comp('kind = "ac_charger"\ncurrent_a = 5\n'
                                          'on = ["6h", "18h"]')),
     "component[0].on[0]", "[from, to] pair"),
    ("charger window backwards", doc(rest=comp('kind = "ac_charger"\ncurrent_a = 5\n'
                                               'on = [["18h", "6h"]]')),
     "component[0].on[0][1]", "before or when it starts"),
    ("charger window bad time", doc(rest=comp('kind = "ac_charger"\ncurrent_a = 5\n'
                                              'on = [["6 h", "six"]]')),
     "component[0].on[0][1]", "'six' is not a duration"),
    ("charger float above absorption", doc(rest=comp('kind = "ac_charger"\ncurrent_a = 5\n'
                                                     "absorption_v = 13.8\nfloat_v = 14.0")),
     "component[0].float_v", "above the absorption voltage"),
    ("charger without current", doc(rest=comp('kind = "ac_charger"')),
     "component[0].current_a", "missing"),
    ("alternator running not list", doc(rest=comp('kind = "alternator"\ncurrent_a = 5\n'
                                                  'running = "always"')),
     "component[0].running", "must be an array"),
    ("profile times repeat", doc(rest=comp('kind = "dc_load"\nprofile = [[0, 5], [0, 6]]')),
     "component[0].profile[1][0]", "is not after the previous point"),
    ("profile not at 0", doc(rest=comp('kind = "dc_load"\nprofile = [["1h", 5]]')),
     "component[0].profile[0][0]", "first point must be at 0"),
    ("profile value string", doc(rest=comp('kind = "dc_load"\nprofile = [[0, "5A"]]')),
     "component[0].profile[0][1]", "must be a number"),
    ("profile point triple", doc(rest=comp('kind = "dc_load"\nprofile = [[0, 5, 6]]')),
     "component[0].profile[0]", "[t, value] pair"),
    ("profile empty", doc(rest=comp('kind = "dc_load"\nprofile = []')),
     "component[0].profile", "at least one"),
    ("profile empty name", doc(rest=comp('kind = "dc_load"\nprofile = ""')),
     "component[0].profile", "must not be empty"),
    ("profile table", doc(rest=comp('kind = "dc_load"\nprofile = {a = 1}')),
     "component[0].profile", "must be an array"),
    ("repeat without profile", doc(rest=comp('kind = "dc_load"\ncurrent_a = 1\nrepeat = "1d"')),
     "component[0].repeat", "only applies to a profile"),
    ("repeat shorter than profile", doc(rest=comp('kind = "dc_load"\n'
                                                  'profile = [[0, 1], ["25h", 2]]')),
     "component[0].repeat", "must be longer than the last profile point"),
    ("repeat bad", doc(rest=comp('kind = "dc_load"\nprofile = [[0, 1]]\nrepeat = "never"')),
     "component[0].repeat", "is not a duration"),
    ("duplicate component names", doc(rest=comp('kind = "dc_load"\ncurrent_a = 1\nname = "a"')
                                      + comp('kind = "solar"\npeak_w = 1\nname = "a"')),
     "component[1].name", "already used by component[0]"),
    ("component in script", doc(bank=SCRIPT, rest=READING0 + comp('kind = "dc_load"\n'
                                                                  "current_a = 1")),
     "component[0]", 'components need bank.source = "twin"'),
    ("reading in twin", doc(rest=READING0), "reading[0]", 'readings need bank.source = "script"'),
    ("script without readings", doc(bank=SCRIPT), "reading", "needs [[reading]]"),
    ("reading not at 0", doc(bank=SCRIPT, rest="[[reading]]\nat = 10\ncell_v = 3.3\n"),
     "reading[0].at", "first reading must be at 0"),
    ("reading times not increasing", doc(bank=SCRIPT, rest=READING0 + READING0),
     "reading[1].at", "not after the previous reading"),
    ("reading times decreasing", doc(bank=SCRIPT, rest=READING0
                                     + '[[reading]]\nat = "1h"\n[[reading]]\nat = "30m"\n'),
     "reading[2].at", "not after the previous reading (1h)"),
    ("cells_v wrong length", doc(bank=SCRIPT | {"parallel": "2"},
                                 rest="[[reading]]\nat = 0\ncells_v = [3.3, 3.3, 3.3]\n"),
     "reading[0].cells_v", "has 3 values; the bank's 12.8/100 batteries have 4 cells, so give "
     "4 (one per cell, applied to every battery) or 8 (one per cell of each of the 2 batteries"),
    ("cells_v wrong length single", doc(bank=SCRIPT,
                                        rest="[[reading]]\nat = 0\ncells_v = [3.3]\n"),
     "reading[0].cells_v", "so give 4 (one per cell, applied to every battery)"),
    ("cells_v out of range", doc(bank=SCRIPT,
                                 rest="[[reading]]\nat = 0\ncells_v = [3.3, 3.3, 6, 3.3]\n"),
     "reading[0].cells_v[2]", "between 0 and 5 V"),
    ("cell_v negative", doc(bank=SCRIPT, rest="[[reading]]\nat = 0\ncell_v = -0.1\n"),
     "reading[0].cell_v", "between 0 and 5"),
    ("cell_v and cells_v", doc(bank=SCRIPT, rest="[[reading]]\nat = 0\ncell_v = 3.3\n"
                                                "cells_v = [3.3, 3.3, 3.3, 3.3]\n"),
     "reading[0].cells_v", "not both"),
    ("first reading without cells", doc(bank=SCRIPT, rest="[[reading]]\nat = 0\n"),
     "reading[0]", "needs cell_v or cells_v"),
    ("temperatures wrong length", doc(bank=SCRIPT, rest=READING0 + "temperatures_c = [1, 2]\n"),
     "reading[0].temperatures_c", "give one per battery: 1"),
    ("temperature and temperatures", doc(bank=SCRIPT, rest=READING0 + "temperature_c = 1\n"
                                         "temperatures_c = [1]\n"),
     "reading[0].temperatures_c", "not both"),
    ("reading unknown key", doc(bank=SCRIPT, rest=READING0 + "cell_volts = 3\n"),
     "reading[0].cell_volts", "unknown key"),
    ("reading current nan", doc(bank=SCRIPT, rest=READING0 + "current_a = nan\n"),
     "reading[0].current_a", "finite"),
    ("reading without at", doc(bank=SCRIPT, rest="[[reading]]\ncell_v = 3.3\n"),
     "reading[0].at", "missing"),
    ("event not array", doc(rest='[event]\nat = 1\naction = "sync_soc"\n'), "event",
     "array of tables"),
    ("event item not table", doc(top={"event": "[1, 2]"}), "event[0]", "must be a table"),
    ("unknown action", doc(rest=ev("comms_lots")), "event[0].action",
     "unknown action 'comms_lots' (did you mean 'comms_lost'?)"),
    ("missing action", doc(rest="[[event]]\nat = 1\n"), "event[0].action", "missing"),
    ("action not string", doc(rest="[[event]]\nat = 1\naction = 3\n"), "event[0].action",
     "must be a string"),
    ("missing at", doc(rest='[[event]]\naction = "sync_soc"\n'), "event[0].at", "missing"),
    ("event after end", doc(rest=ev("sync_soc").replace("at = 1", 'at = "3h"')),
     "event[0].at", "after the end of the scenario (duration 2h)"),
    ("event key of other action", doc(rest=ev("comms_restored", "battery = 0")),
     "event[0].battery", "in a 'comms_restored' event"),
    ("comms_lost battery out of bank", doc(rest=ev("comms_lost", "battery = 1")),
     "event[0].battery", "battery 1 does not exist: the bank has 1 battery (0..0)"),
    ("comms_lost battery negative", doc(rest=ev("comms_lost", "battery = -1")),
     "event[0].battery", "at least 0"),
    ("mode value", doc(rest=ev("mode", 'value = "maybe"')), "event[0].value",
     "one of 'on', 'off'"),
    ("mode missing value", doc(rest=ev("mode")), "event[0].value", "missing"),
    ("set unknown setting", doc(rest=ev("set", 'setting = "floor"\nvalue = 5')),
     "event[0].setting", "unknown setting 'floor'"),
    ("set value string", doc(rest=ev("set", 'setting = "discharge_floor_pct"\nvalue = "5"')),
     "event[0].value", "must be a number"),
    ("set_soc out of range", doc(rest=ev("set_soc", "value = 120")), "event[0].value",
     "between 0 and 100"),
    ("force_cell battery", doc(bank={"series": "2"},
                               rest=ev("force_cell", "battery = 2\ncell = 0\nvolts = 3")),
     "event[0].battery", "the bank has 2 batteries (0..1)"),
    ("force_cell cell", doc(rest=ev("force_cell", "battery = 0\ncell = 4\nvolts = 3")),
     "event[0].cell", "cell 4 does not exist: a 12.8/100 battery has 4 cells (0..3)"),
    ("force_cell volts", doc(rest=ev("force_cell", "battery = 0\ncell = 0\nvolts = 6")),
     "event[0].volts", "between 0 and 5"),
    ("force_cell missing battery", doc(rest=ev("force_cell", "cell = 0\nvolts = 3")),
     "event[0].battery", "missing"),
    ("force_temperature range", doc(rest=ev("force_temperature", "battery = 0\ncelsius = 500")),
     "event[0].celsius", "between -60 and 150"),
    ("firmware result missing", doc(rest=ev("firmware_update")), "event[0].result", "missing"),
    ("firmware result bad", doc(rest=ev("firmware_update", 'result = "ok"')),
     "event[0].result", "one of 'success', 'fail'"),
    ("firmware duration zero", doc(rest=ev("firmware_update", 'result = "fail"\nduration = 0')),
     "event[0].duration", "greater than 0"),
    ("hardware_fault string", doc(rest=ev("hardware_fault", 'value = "yes"')),
     "event[0].value", "true or false"),
    ("power_cycle negative", doc(rest=ev("power_cycle", "duration = -1")),
     "event[0].duration", "cannot be negative"),
    ("wireless value", doc(rest=ev("wireless", "value = true")), "event[0].value",
     "must be one of 'on', 'off', got true"),
    ("remove_battery missing", doc(rest=ev("remove_battery")), "event[0].battery", "missing"),
    ("add_battery out of bank", doc(rest=ev("add_battery", "battery = 5")),
     "event[0].battery", "does not exist"),
    ("remote event key", doc(rest=ev("remote", "bridge = true")), "event[0].bridge",
     "did you mean 'bridged'"),
    ("classic sync_soc", doc(top={"profile": '"classic"'}, bank={"battery": '"smart-12.8/50"'},
                             rest=ev("sync_soc")),
     "event[0].action", "not available with profile 'classic'"),
    ("second event bad", doc(rest=ev("sync_soc") + ev("reset_history", "value = 1")),
     "event[1].value", "unknown key 'value'"),
]


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [pytest.param(text, key, fragment, id=name) for name, text, key, fragment in MALFORMED],
)
def test_malformed_scenarios(text: str, key: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "scenarios/bad.toml")
    err = info.value
    assert err.key == key, str(err)
    assert err.file == "scenarios/bad.toml"
    assert str(err).startswith(f"scenarios/bad.toml: {key}: "), str(err)
    assert fragment in str(err), str(err)


def test_malformed_ids_are_unique() -> None:
    names = [m[0] for m in MALFORMED]
    assert len(names) == len(set(names))


# --- property: nothing but ScenarioError on random TOML-ish text --------------------------------

_KEYS = sorted(
    {
        "name", "profile", "duration", "step", "seed", "sample_interval", "battery", "series",
        "parallel", "soc_pct", "temperature_c", "ambient_c", "source", "discharge_floor_pct",
        "low_soc_warning_pct", "pre_alarm_level_v", "bridged", "l_volts", "h_volts", "kind",
        "current_a", "power_w", "repeat", "peak_w", "on", "running", "efficiency",
        "controlled_by", "at", "cell_v", "cells_v", "temperatures_c", "voltage_v", "action",
        "value", "setting", "cell", "volts", "celsius", "result", "start_day", "latitude",
        "cloudiness", "cutoff_v", "absorption_v", "float_v", "idle_w", "max_current_a",
        "bogus",
    }
)
_WORDS = [
    "ng", "classic", "twin", "script", "12.8/100", "smart-12.8/50", "51.2/100", "dc_load",
    "inverter", "solar", "ac_charger", "alternator", "battery_protect", "load_disconnect",
    "none", "on", "off", "success", "fail", "discharge_floor_pct", "1d", "none", "90s", "2h",
    "-5m", "", *ACTIONS,
]
_HEADERS = [
    "[bank]", "[settings]", "[remote]", "[[component]]", "[[reading]]", "[[event]]",
    "[bank.x]", "[[bank]]", "[event]", "[component.sub]",
]

_scalar = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
    st.floats().map(lambda f: "nan" if f != f else ("inf" if f == float("inf") else
                                                     "-inf" if f == float("-inf") else repr(f))),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.sampled_from(_WORDS).map(json.dumps),
    st.text(max_size=8).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.just("1979-05-27T07:32:00Z"),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.dictionaries(st.sampled_from(_KEYS), inner, max_size=3).map(
            lambda d: "{" + ", ".join(f"{k} = {v}" for k, v in d.items()) + "}"
        ),
    ),
    max_leaves=8,
)
_key_value = st.tuples(st.sampled_from(_KEYS), _value).map(lambda kv: f"{kv[0]} = {kv[1]}")
_line = st.one_of(_key_value, _key_value, _key_value, st.sampled_from(_HEADERS), st.text(max_size=15))
_PREFIXES = [
    "",
    'name = "p"\nduration = "1h"\n',
    'name = "p"\nduration = "1h"\n[bank]\nbattery = "12.8/100"\n',
    'name = "p"\nduration = "1h"\n[bank]\nbattery = "12.8/100"\nsource = "script"\nseries = 2\n',
    'name = "p"\nprofile = "classic"\nduration = 100\n[bank]\nbattery = "smart-12.8/50"\n',
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_PREFIXES), st.lists(_line, max_size=14))
def test_random_tomlish_text_raises_only_scenario_error(prefix: str, lines: list[str]) -> None:
    text = prefix + "\n".join(lines) + "\n"
    try:
        scenario = parse_scenario(text, "fuzz.toml")
    except ScenarioError as exc:
        assert str(exc).startswith("fuzz.toml: ")
    else:
        assert isinstance(scenario, Scenario)


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_random_text_raises_only_scenario_error(text: str) -> None:
    try:
        parse_scenario(text, "fuzz.toml")
    except ScenarioError as exc:
        assert str(exc).startswith("fuzz.toml: ")


# --- property: structured random scenarios ------------------------------------------------------


def _toml(value: object) -> str:
    """A Python value as a TOML literal (only what the strategies below produce)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"


_num = st.one_of(
    st.integers(min_value=-3, max_value=30),
    st.floats(min_value=-1.0, max_value=60.0),
    st.sampled_from([0, 1, 2, 3.3, 50, 100, 3600, 1e9, float("nan"), float("inf")]),
)
_duration_text = st.sampled_from(["0s", "90s", "15m", "1h", "2h", "1d", "1h20m", "-1m", "x", ""])
_pool = st.one_of(
    _num,
    _duration_text,
    st.booleans(),
    st.sampled_from(_WORDS),
    st.lists(_num, max_size=17),
    st.lists(st.lists(st.one_of(_num, _duration_text), min_size=2, max_size=2), max_size=3),
)
_SECTION_KEYS = {
    "bank": ("series", "parallel", "soc_pct", "temperature_c", "ambient_c", "battery"),
    "settings": ("discharge_floor_pct", "low_soc_warning_pct", "pre_alarm_level_v",
                 "charged_voltage_v", "tail_current_pct", "charged_detection_time_min"),
    "remote": ("bridged", "l_volts", "h_volts"),
    "component": ("kind", "kind", "current_a", "power_w", "profile", "repeat", "peak_w", "on",
                  "running", "efficiency", "controlled_by", "name", "cutoff_v", "float_v"),
    "reading": ("at", "cell_v", "cells_v", "temperature_c", "temperatures_c", "current_a",
                "voltage_v"),
    "event": ("at", "action", "action", "battery", "cell", "volts", "value", "setting",
              "result", "duration", "celsius", "bridged"),
}


_small = st.integers(min_value=0, max_value=3)
_time = st.one_of(st.integers(min_value=0, max_value=7200), _duration_text)
_VALID: dict[str, st.SearchStrategy[object]] = {
    "series": st.integers(min_value=1, max_value=3),
    "parallel": st.integers(min_value=1, max_value=3),
    "soc_pct": st.floats(min_value=0, max_value=100),
    "temperature_c": st.floats(min_value=-10, max_value=40),
    "ambient_c": st.floats(min_value=-10, max_value=40),
    "discharge_floor_pct": st.integers(min_value=0, max_value=20),
    "low_soc_warning_pct": st.integers(min_value=20, max_value=60),
    "pre_alarm_level_v": st.floats(min_value=2.85, max_value=3.15),
    "bridged": st.booleans(),
    "l_volts": st.floats(min_value=0, max_value=15),
    "h_volts": st.floats(min_value=0, max_value=15),
    "kind": st.sampled_from(sorted(COMPONENT_KINDS)),
    "current_a": st.floats(min_value=0.1, max_value=50),
    "power_w": st.floats(min_value=1, max_value=500),
    "peak_w": st.floats(min_value=1, max_value=500),
    "profile": st.one_of(st.just("evening"), st.just([[0, 1], ["2h", 5]])),
    "repeat": st.sampled_from(["1d", "none", "12h"]),
    "on": st.just([["1h", "2h"]]),
    "running": st.just([[0, 600]]),
    "efficiency": st.floats(min_value=0.5, max_value=1),
    "controlled_by": st.sampled_from(["load_disconnect", "charge_disconnect", "none"]),
    "at": _time,
    "cell_v": st.floats(min_value=2.5, max_value=3.65),
    "cells_v": st.lists(st.floats(min_value=2.5, max_value=3.65), min_size=4, max_size=4),
    "action": st.sampled_from(sorted(ACTIONS)),
    "battery": _small,
    "cell": _small,
    "volts": st.floats(min_value=2.5, max_value=3.65),
    "celsius": st.floats(min_value=-20, max_value=60),
    "setting": st.sampled_from(["discharge_floor_pct", "pre_alarm_level_v"]),
    "result": st.sampled_from(["success", "fail"]),
    "duration": _time,
}


def _val(key: str) -> st.SearchStrategy[object]:
    valid = _VALID.get(key)
    return _pool if valid is None else st.one_of(valid, valid, valid, valid, _pool)


@st.composite
def _table_draw(draw: st.DrawFn, section: str) -> dict[str, object]:
    keys = draw(st.lists(st.sampled_from(_SECTION_KEYS[section]), max_size=5, unique=True))
    return {k: draw(_val(k)) for k in keys}


def _table(section: str) -> st.SearchStrategy[dict[str, object]]:
    return _table_draw(section)


@st.composite
def _scenario_text(draw: st.DrawFn) -> str:
    """A well-formed TOML scenario, mostly sensible, with a deviation here and there."""

    def rare() -> bool:
        return draw(st.integers(min_value=0, max_value=7)) == 0

    def table(section: str) -> dict[str, object]:
        return draw(_table(section)) if draw(st.booleans()) else {}

    source = draw(st.sampled_from(["twin", "script"]))
    duration = draw(_pool) if rare() else "2h"
    profile = draw(st.sampled_from(["classic", "x"])) if rare() else "ng"
    lines = ['name = "fuzz"', f"duration = {_toml(duration)}", f"profile = {_toml(profile)}"]
    battery = "smart-12.8/50" if profile == "classic" else "12.8/100"
    bank: dict[str, object] = {"battery": battery, "source": source}
    if rare():
        bank |= table("bank")
    lines.append("[bank]")
    lines += [f"{k} = {_toml(v)}" for k, v in bank.items()]
    for section in ("settings", "remote"):
        if rare():
            lines.append(f"[{section}]")
            lines += [f"{k} = {_toml(v)}" for k, v in table(section).items()]
    if source == "twin" or rare():
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            component: dict[str, object] = {"kind": draw(_VALID["kind"])} | table("component")
            lines.append("[[component]]")
            lines += [f"{k} = {_toml(v)}" for k, v in component.items()]
    if source == "script" or rare():
        for i in range(draw(st.integers(min_value=0, max_value=3))):
            reading: dict[str, object] = {"at": 60 * i, "cell_v": 3.3}
            if rare():
                reading |= table("reading")
            lines.append("[[reading]]")
            lines += [f"{k} = {_toml(v)}" for k, v in reading.items()]
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        event: dict[str, object] = {"at": draw(_time), "action": draw(_VALID["action"])}
        event |= table("event")
        lines.append("[[event]]")
        lines += [f"{k} = {_toml(v)}" for k, v in event.items()]
    return "\n".join(lines) + "\n"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_scenario_text())
def test_structured_random_scenarios_raise_only_scenario_error(text: str) -> None:
    try:
        scenario = parse_scenario(text, "fuzz.toml")
    except ScenarioError as exc:
        assert str(exc).startswith("fuzz.toml: ")
        assert exc.key != ""  # the TOML is always well formed here: some key is to blame
    else:
        assert [e.at_s for e in scenario.events] == sorted(e.at_s for e in scenario.events)


# --- the example scenarios shipped with the project ---------------------------------------------

_ROOT = Path(__file__).resolve().parents[1]
_EXAMPLES = sorted(
    [*(_ROOT / "examples").glob("*.toml"), *(_ROOT / "src" / "smallbms" / "examples").glob("*.toml")]
)


@pytest.mark.skipif(not _EXAMPLES, reason="no example scenarios in this checkout")
@pytest.mark.parametrize("path", _EXAMPLES, ids=lambda p: p.name)
def test_example_scenarios_parse(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.source_path == path
