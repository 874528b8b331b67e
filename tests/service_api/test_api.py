"""The HTTP API against a real Device running the twin and a real SQLite store."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from smallbms.service.api import CSRF_COOKIE, CSRF_HEADER, MAX_SERIES_POINTS, SESSION_COOKIE

from .conftest import Rig

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def wait_for(pred, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_login_right_and_wrong_pin(fresh_rig: Rig) -> None:
    c = fresh_rig.client
    wrong = "000000" if fresh_rig.pin != "000000" else "111111"
    r = c.post("/api/login", json={"pin": wrong})
    assert r.status_code == 401 and "wrong PIN" in r.json()["detail"]
    assert r.headers["Retry-After"] == "1"
    r = c.post("/api/login", json={"pin": fresh_rig.pin})
    assert r.status_code == 429 and "try again in 1 s" in r.json()["detail"]  # no sleep
    fresh_rig.clock.advance(1.0)
    r = c.post("/api/login", json={"pin": fresh_rig.pin})
    assert r.status_code == 200
    body = r.json()
    assert body["token"] and body["csrf_token"] and body["expires_in_s"] > 0
    set_cookie = r.headers.get_list("set-cookie")
    session = next(x for x in set_cookie if x.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session and "SameSite=strict" in session
    csrf = next(x for x in set_cookie if x.startswith(CSRF_COOKIE + "="))
    assert "HttpOnly" not in csrf


def test_lockout_after_ten_failures(fresh_rig: Rig) -> None:
    c = fresh_rig.client
    wrong = "000000" if fresh_rig.pin != "000000" else "111111"
    for i in range(10):
        r = c.post("/api/login", json={"pin": wrong})
        assert r.status_code == 401, (i, r.text)
        fresh_rig.clock.advance(float(r.headers["Retry-After"]) if i < 9 else 0.0)
    assert "locked out" in r.json()["detail"]
    fresh_rig.clock.advance(14 * 60)
    assert c.post("/api/login", json={"pin": fresh_rig.pin}).status_code == 429
    fresh_rig.clock.advance(61)
    assert c.post("/api/login", json={"pin": fresh_rig.pin}).status_code == 200


def test_every_api_path_refuses_without_auth(rig: Rig) -> None:
    paths = rig.app.openapi()["paths"]
    assert len(paths) >= 15
    checked = 0
    for path, ops in paths.items():
        assert path.startswith("/api/")
        concrete = path.replace("{index}", "0")
        for method in ops:
            if (method, path) == ("post", "/api/login"):
                continue
            r = rig.client.request(method.upper(), concrete, json={})
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            r = rig.client.request(method.upper(), concrete, json={},
                                   headers={"Authorization": "Bearer not-a-token"})
            assert r.status_code == 401, (method, path)
            checked += 1
    assert checked >= 15
    assert rig.client.get("/api/nonexistent").status_code == 401


def test_security_headers_on_every_response(rig: Rig) -> None:
    for r in (rig.client.get("/"), rig.client.get("/app.js"), rig.client.get("/api/status"),
              rig.client.post("/api/login", json={"pin": "x"})):
        assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Referrer-Policy"] == "no-referrer"


def test_web_app_is_served_without_external_resources(rig: Rig) -> None:
    html = rig.client.get("/").text
    assert "<script src=\"/app.js\"" in html
    assert not re.search(r"(src|href)=\"https?://", html)


def test_read_endpoints(rig: Rig) -> None:
    h = rig.bearer()
    st = rig.client.get("/api/status", headers=h).json()
    assert st["status"]["mode"] in ("on", "off")
    assert {"soc_pct", "voltage_v", "current_a", "power_w", "consumed_ah", "time_remaining_s",
            "outputs", "leds"} <= set(st["status"])
    assert isinstance(st["active_codes"], list)
    bank = rig.client.get("/api/bank", headers=h).json()
    assert bank["bank"]["batteries"] == 1 and bank["bank"]["cells_total"] == 4
    assert len(bank["batteries"][0]["cell_voltages_v"]) == 4
    b0 = rig.client.get("/api/batteries/0", headers=h).json()
    assert b0["serial"] and b0["firmware"] and b0["capacity_ah"] == 200
    r = rig.client.get("/api/batteries/5", headers=h)
    assert r.status_code == 404 and "no battery 5" in r.json()["detail"]
    hist = rig.client.get("/api/history", headers=h).json()
    assert "deepest_discharge_ah" in hist and "last_errors" in hist
    s = rig.client.get("/api/settings", headers=h).json()
    assert {sp["name"] for sp in s["specs"]} == set(s["values"])
    assert all(sp["help"] and sp["unit"] for sp in s["specs"])


def test_settings_change_accepted_and_refused(rig: Rig) -> None:
    h = rig.bearer()
    before = rig.client.get("/api/settings", headers=h).json()["values"]
    # raising the floor above the present warning level needs both changed together
    r = rig.client.put("/api/settings", headers=h,
                       json={"discharge_floor_pct": 30, "low_soc_warning_pct": 40})
    assert r.status_code == 200, r.text
    assert r.json()["values"]["discharge_floor_pct"] == 30
    assert rig.device.core.p.settings.low_soc_warning_pct == 40
    # refused: out of range, and inconsistent; nothing changes
    for bad, name in (({"tail_current_pct": 50, "discharge_floor_pct": 5}, "tail_current_pct"),
                      ({"discharge_floor_pct": 50}, "discharge_floor_pct"),
                      ({"no_such": 1}, "no_such"),
                      ({"charged_voltage_v": "high"}, "charged_voltage_v")):
        r = rig.client.put("/api/settings", headers=h, json=bad)
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert detail[0]["setting"] == name and detail[0]["message"]
        assert rig.device.core.p.settings.discharge_floor_pct == 30
        assert rig.device.core.p.settings.tail_current_pct == before["tail_current_pct"]
    r = rig.client.post("/api/actions/reset_defaults", headers=h)
    assert r.status_code == 200
    assert rig.device.core.p.settings.discharge_floor_pct == 10


def test_actions(rig: Rig) -> None:
    h = rig.bearer()
    post = rig.client.post
    assert post("/api/actions/set_soc", headers=h, json={"value_pct": 55}).status_code == 200
    assert wait_for(lambda: abs(rig.device.snapshot["status"]["soc_pct"] - 55) < 1)
    assert post("/api/actions/set_soc", headers=h, json={"value": 101}).status_code == 422
    assert post("/api/actions/sync_soc", headers=h).status_code == 200
    assert wait_for(lambda: rig.device.snapshot["status"]["soc_pct"] > 99)
    assert post("/api/actions/mode", headers=h, json={"value": "off"}).status_code == 200
    assert wait_for(lambda: rig.device.snapshot["status"]["mode"] == "off")
    assert "mode_off" in rig.device.snapshot["status"]["discharge_reasons"]
    assert post("/api/actions/mode", headers=h, json={"value": "sideways"}).status_code == 422
    assert post("/api/actions/mode", headers=h, json={"value": "on"}).status_code == 200
    assert post("/api/actions/reset_history", headers=h).status_code == 200
    assert post("/api/actions/accept_bank", headers=h).status_code == 200
    assert post("/api/actions/wireless", headers=h, json={"value": "on"}).status_code == 200
    r = post("/api/actions/firmware_update", headers=h, json={"result": "success", "duration_s": 60})
    assert r.status_code == 200, r.text
    assert wait_for(lambda: rig.device.snapshot["status"]["firmware_update"] == "updating", 10)
    assert "firmware_update" in rig.device.snapshot["status"]["charge_reasons"]
    assert post("/api/actions/firmware_update", headers=h).status_code == 409
    # 60 simulated seconds at speed 10: about 6 s of wall time
    assert wait_for(lambda: rig.device.snapshot["status"]["firmware_update"] == "idle", 30)
    assert post("/api/actions/explode", headers=h).status_code == 404


def test_change_pin_via_api(fresh_rig: Rig) -> None:
    h = fresh_rig.bearer()
    r = fresh_rig.client.post("/api/actions/change_pin", headers=h, json={"old": fresh_rig.pin, "new": "12"})
    assert r.status_code == 422
    r = fresh_rig.client.post("/api/actions/change_pin", headers=h,
                              json={"old": fresh_rig.pin, "new": "24681357"})
    assert r.status_code == 200
    assert fresh_rig.client.get("/api/status", headers=h).status_code == 200  # this session stays
    assert fresh_rig.client.post("/api/login", json={"pin": "24681357"}).status_code == 200


def test_code_log_and_series_from_the_store(rig: Rig) -> None:
    h = rig.bearer()
    # the set_soc above/now below the warning level raises W-B07 and logs it
    assert rig.client.post("/api/actions/set_soc", headers=h, json={"value_pct": 15}).status_code == 200
    assert wait_for(lambda: any(c["code"] == "W-B07" for c in rig.device.snapshot["active_codes"]))
    rig.client.post("/api/actions/set_soc", headers=h, json={"value_pct": 80})

    def logged() -> bool:
        rows = rig.client.get("/api/codes?limit=50", headers=h).json()
        return any(r["code"] == "W-B07" for r in rows)

    assert wait_for(logged)
    rows = rig.client.get("/api/codes", headers=h).json()
    assert rows[0]["name"] and rows[0]["state"] in ("active", "cleared")
    walls = [r["wall_s"] for r in rows]
    assert walls == sorted(walls, reverse=True)

    def series(points: int) -> list[dict[str, Any]]:
        r = rig.client.get(f"/api/series?points={points}", headers=h)
        assert r.status_code == 200, r.text
        pts: list[dict[str, Any]] = r.json()["points"]
        return pts

    # a sample per simulated second at speed 10: far fewer than the most points one answer may
    # hold in this module's life, so the raw rows come back as they are; 2 points buckets them
    assert wait_for(lambda: len(series(MAX_SERIES_POINTS)) >= 2)
    pts = series(MAX_SERIES_POINTS)
    assert len(pts) >= 2 and {"wall_s", "soc_pct", "voltage_v", "current_a"} <= set(pts[0])
    assert all(p["n"] == 1 for p in pts)
    thinned = series(2)
    assert 1 <= len(thinned) <= 2 and sum(p["n"] for p in thinned) >= len(pts)
    assert rig.client.get("/api/series?fields=bogus", headers=h).status_code == 422


def test_stream_gives_snapshots(rig: Rig) -> None:
    h = rig.bearer()
    got: list[dict[str, Any]] = []
    with rig.client.stream("GET", "/api/stream", headers=h) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                got.append(json.loads(line[6:]))
                if len(got) >= 3:
                    break
    assert {"status", "active_codes", "bank", "batteries", "history", "settings"} <= set(got[0])
    assert got[-1]["t_s"] > got[0]["t_s"]
    # other requests are served while a stream is open
    assert rig.client.get("/api/status", headers=h).status_code == 200


def test_csrf_required_for_cookie_authenticated_changes(fresh_rig: Rig) -> None:
    c = fresh_rig.client
    login = c.post("/api/login", json={"pin": fresh_rig.pin}).json()
    # the cookies are now in the client; no Authorization header
    assert c.get("/api/status").status_code == 200  # reading needs no CSRF token
    r = c.post("/api/actions/sync_soc")
    assert r.status_code == 403 and CSRF_HEADER in r.json()["detail"]
    r = c.put("/api/settings", json={"discharge_floor_pct": 12}, headers={CSRF_HEADER: "forged"})
    assert r.status_code == 403
    r = c.put("/api/settings", json={"discharge_floor_pct": 12},
              headers={CSRF_HEADER: login["csrf_token"]})
    assert r.status_code == 200
    r = c.post("/api/logout", headers={CSRF_HEADER: login["csrf_token"]})
    assert r.status_code == 200
    c.cookies.clear()
    assert c.get("/api/status").status_code == 401


def test_wireless_off_refuses_after_the_power_up_window(tmp_path) -> None:
    # the test drives the simulated time itself, so the 30 s window cannot close under it
    rig = Rig(tmp_path, start=False, wireless_enabled=False)
    try:
        h = rig.bearer()  # inside the 30 s after power-up: allowed
        assert rig.client.get("/api/status", headers=h).status_code == 200
        assert rig.device.snapshot["status"]["wireless_available"]
        for n in range(1, 311):  # 31 simulated seconds at the 0.1 s tick
            rig.device.tick(n * 0.1)
        assert not rig.device.snapshot["status"]["wireless_available"]
        r = rig.client.get("/api/status", headers=h)
        assert r.status_code == 403 and "Wireless access is disabled" in r.json()["detail"]
        assert rig.client.post("/api/login", json={"pin": rig.pin}).status_code == 403
    finally:
        rig.close()


def test_instant_readout_key_is_shown_after_login_and_can_be_regenerated(rig: Rig) -> None:
    h = rig.bearer()
    first = rig.client.get("/api/instant-readout", headers=h).json()
    assert re.fullmatch(r"[0-9a-f]{32}", first["key_hex"])
    again = rig.client.get("/api/instant-readout", headers=h).json()
    assert again["key_hex"] == first["key_hex"]  # stored, not made anew
    new = rig.client.post("/api/actions/regenerate_instant_readout_key", headers=h).json()
    assert re.fullmatch(r"[0-9a-f]{32}", new["key_hex"]) and new["key_hex"] != first["key_hex"]
    assert rig.client.get("/api/instant-readout", headers=h).json()["key_hex"] == new["key_hex"]
    from fastapi.testclient import TestClient

    with TestClient(rig.app) as anonymous:  # no session cookie, no token
        assert anonymous.get("/api/instant-readout").status_code == 401


def test_a_pin_of_the_wrong_length_is_refused_as_a_format_error(fresh_rig: Rig) -> None:
    c = fresh_rig.client
    r = c.post("/api/login", json={"pin": "12"})
    assert r.status_code == 422 and "6 to 12 digits" in r.json()["detail"]
    assert "Retry-After" not in r.headers
    assert c.post("/api/login", json={"pin": fresh_rig.pin}).status_code == 200  # not slowed


def test_field_table_and_words_are_served(rig: Rig) -> None:
    t = rig.client.get("/api/fields", headers=rig.bearer()).json()
    by_id = {f["id"]: f for f in t["fields"]}
    assert by_id["status.soc_pct"]["unit"] == "%" and by_id["status.soc_pct"]["precision"] == 1
    assert by_id["status.min_cell_voltage_v"]["key"] == "min_cell_v"
    assert t["reasons"]["discharge_floor"] == "the discharge floor has been reached"
    assert t["outputs"]["load_disconnect"] == "Load disconnect"


def test_history_values_are_rounded_to_the_field_table(rig: Rig) -> None:
    from smallbms.model.fields import HISTORY_FIELDS

    hist = rig.client.get("/api/history", headers=rig.bearer()).json()
    checked = 0
    for f in HISTORY_FIELDS:
        v = hist.get(f.key)
        if isinstance(v, float) and f.precision is not None:
            assert v == round(v, f.precision), (f.key, v)
            assert str(v) != "-0.0", f.key
            checked += 1
    assert checked >= 4


def test_an_emptied_setting_asks_for_a_value(rig: Rig) -> None:
    r = rig.client.put("/api/settings", json={"discharge_floor_pct": None}, headers=rig.bearer())
    assert r.status_code == 422
    assert r.json()["detail"] == [{"setting": "discharge_floor_pct", "message": "enter a value"}]


def test_spec21_streams_end_when_the_service_stops(fresh_rig: Rig) -> None:
    h = fresh_rig.bearer()
    lines: list[str] = []
    with fresh_rig.client.stream("GET", "/api/stream", headers=h) as r:
        for line in r.iter_lines():
            lines.append(line)
            if line.startswith("data: ") and len(lines) < 1000:
                fresh_rig.app.state.ctx.close_streams()  # what a stop signal does
    # the loop ended because the stream ended, with a last word saying why
    assert "event: closed" in lines
    closed = lines[lines.index("event: closed") + 1]
    assert "stopping" in json.loads(closed[len("data: "):])["detail"]
