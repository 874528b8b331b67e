"""The scenario runner (smallbms.simulate) on small scenarios: SPEC 18's event order at t = 0
(issue 15 item 11), the initial SoC through the monitor's own set-SoC path, and the runner
loop shared with the device."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from smallbms import scenario as sc
from smallbms.core import monitor as mon
from smallbms.simulate import initial_persistent, run_scenario

SCRIPT = """
name = "t0"
duration = "3m"
seed = 3

[bank]
battery = "12.8/100"
source = "script"
{soc}

[[reading]]
at = 0
cell_v = 3.31
current_a = -10
"""


def run(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    s = sc.parse_scenario(text)
    out = io.StringIO()
    result = run_scenario(s, out, 60.0, log=lambda _m: None)
    return [json.loads(x) for x in out.getvalue().splitlines()], result.refused


def samples(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "sample"]


def event(action: str, extra: str = "", at: str = "0") -> str:
    return f'\n[[event]]\nat = {at}\naction = "{action}"\n{extra}\n'


def test_set_soc_at_t_0_acts_on_the_bank_of_the_first_reading():
    """SPEC 18: the reading of time t first, then the events of time t."""
    events, refused = run(SCRIPT.format(soc="") + event("set_soc", "value = 55"))
    assert refused == []
    first = samples(events)[0]
    assert first["soc_pct"] == pytest.approx(55.0 - 10.0 / 60.0, abs=0.1)


def test_sync_soc_at_t_0_is_accepted():
    events, refused = run(SCRIPT.format(soc="") + event("sync_soc"))
    assert refused == []
    assert samples(events)[0]["soc_pct"] == pytest.approx(99.8, abs=0.1)


def test_accept_bank_at_t_0_is_accepted():
    _events, refused = run(SCRIPT.format(soc="soc_pct = 80") + event("accept_bank"))
    assert refused == []


def test_set_soc_at_t_0_on_a_twin_bank():
    text = SCRIPT.format(soc="").replace('source = "script"', 'source = "twin"')
    text = text.split("[[reading]]")[0] + event("set_soc", "value = 40")
    events, refused = run(text)
    assert refused == []
    assert samples(events)[0]["soc_pct"] == pytest.approx(40.0, abs=0.1)


def test_initial_soc_is_set_the_monitors_own_way():
    s = sc.parse_scenario(SCRIPT.format(soc="soc_pct = 37.5"))
    p = initial_persistent(s)
    want = mon.MonitorState()
    mon.set_soc(want, 37.5, 100.0)
    assert p.monitor == want
    assert mon.soc_pct(p.monitor, 100.0) == pytest.approx(37.5)


def test_initial_soc_is_not_set_for_the_classic_bms():
    text = SCRIPT.format(soc="soc_pct = 50").replace("[bank]", 'profile = "classic"\n\n[bank]')
    text = text.replace('"12.8/100"', '"smart-12.8/100"').replace('"script"', '"twin"')
    s = sc.parse_scenario(text.split("[[reading]]")[0])
    assert not initial_persistent(s).monitor.soc_known
