"""Issue 15.12: at info level the service logs alarms raised and cleared, settings changed,
failed logins and its stop - never a secret."""

from __future__ import annotations

import logging

import pytest

from smallbms.service.main import LoggedSink

from .conftest import Rig


class Recorder:
    def __init__(self) -> None:
        self.codes: list[dict[str, object]] = []

    def save_state(self, state: dict[str, object]) -> None: ...

    def append_sample(self, wall_s: float, sample: dict[str, object]) -> None: ...

    def append_codes(self, events: list[dict[str, object]]) -> None:
        self.codes += events

    def wait_saved(self, timeout_s: float = 10.0) -> bool:
        return True


def test_codes_raised_and_cleared_are_logged_and_stored(caplog: pytest.LogCaptureFixture) -> None:
    inner = Recorder()
    sink = LoggedSink(inner)
    events = [{"t_s": 1.0, "wall_s": 2.0, "code": "A-B07", "state": "active"},
              {"t_s": 5.0, "wall_s": 6.0, "code": "A-B07", "state": "cleared"}]
    with caplog.at_level(logging.INFO, logger="smallbms.service.main"):
        sink.append_codes(events)
    assert inner.codes == events
    assert [r.getMessage() for r in caplog.records] == [
        "alarm A-B07 Low SoC raised", "alarm A-B07 Low SoC cleared"]
    assert sink.wait_saved()


def test_settings_changes_and_wrong_pins_are_logged_without_secrets(
        fresh_rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    h = fresh_rig.bearer()
    wrong = "000000" if fresh_rig.pin != "000000" else "111111"
    with caplog.at_level(logging.INFO, logger="smallbms"):
        r = fresh_rig.client.put("/api/settings", json={"low_soc_warning_pct": 25}, headers=h)
        assert r.status_code == 200
        assert fresh_rig.client.post("/api/login", json={"pin": wrong}).status_code == 401
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "settings changed by testclient: low_soc_warning_pct = 25" in text
    assert "wrong PIN at login from testclient" in text
    assert fresh_rig.pin not in text and wrong not in text
    assert h["Authorization"].split()[1] not in text
