"""Security of the running device, over real HTTP against a real `smallbms run` process.

What a stranger on the network can and cannot do (issue 6, part 5):

- the published OpenAPI is walked: no ``/api`` operation answers without a session, or with a
  made-up or logged-out token (and unknown ``/api`` paths do not tell a stranger they are
  unknown);
- a session held in a cookie cannot change anything without the CSRF token (every unsafe
  operation, one by one), so another site cannot make the owner's browser act;
- wrong PINs slow the client down at once (the full slow-down and lock-out sequence is run
  against a controllable clock in tests/service_api/test_auth.py);
- every response carries the security headers, and API answers are never cached;
- a PIN change ends every other session;
- the data directory and every file in it (the database and its WAL and shared-memory files)
  are the owner's alone, and no secret (the PIN after its one showing, the PIN hash, session
  and CSRF tokens, the Instant Readout key, old or new) ever appears in an API answer other than
  the key's own, or in the service's log, even at debug level.

The tests run in file order against one service and build on each other (the secrets made by
one are searched for in the log by the last); the wrong-PIN test comes after every login.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from smallbms.integrations.instant_readout import KEY_SECRET_NAME
from smallbms.service.api import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from smallbms.service.auth import PIN_SECRET_NAME

from .running_service import RunningService

UNSAFE = {"post", "put", "delete", "patch"}
NEW_PIN = "482915"


@dataclass
class Rig:
    svc: RunningService
    data: Path
    pin: str
    #: sessions opened at the start, before any test slows logins down: [bearer, cookie, spare]
    logins: list[dict[str, Any]]
    first_pin: str = ""
    #: the secrets the tests made, by name, for the final search of the log
    secrets: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    data = tmp_path_factory.mktemp("security") / "data"
    s = RunningService(data, "--log-level", "debug")
    try:
        assert s.pin is not None, "the first start must show the PIN once"
        yield Rig(s, data, s.pin, [s.login(s.pin) for _ in range(3)], first_pin=s.pin)
    finally:
        s.stop()


def operations(svc: RunningService) -> list[tuple[str, str]]:
    status, _, body = svc.request("GET", "/openapi.json")
    assert status == 200
    paths: dict[str, Any] = json.loads(body)["paths"]
    ops = [(m, p.replace("{index}", "0")) for p, item in paths.items() for m in item]
    assert all(p.startswith("/api/") for _, p in ops), ops
    return ops


def cookie_value(set_cookies: list[str], name: str) -> str:
    for c in set_cookies:
        if c.startswith(name + "="):
            return c.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError(f"no {name} cookie in {set_cookies}")


def test_no_api_operation_answers_without_a_session(rig: Rig) -> None:
    svc = rig.svc
    ops = operations(svc)
    assert len(ops) >= 20
    ended = svc.login(rig.pin)["token"]
    assert svc.request("POST", "/api/logout",
                       headers={"Authorization": f"Bearer {ended}"})[0] == 200
    checked = 0
    for method, path in ops:
        if (method, path) == ("post", "/api/login"):
            continue
        for headers in ({}, {"Authorization": "Bearer not-a-token"},
                        {"Authorization": f"Bearer {ended}"},  # logged out
                        {"Cookie": f"{SESSION_COOKIE}=forged"}):
            status, _, body = svc.request(method.upper(), path, {} if method in UNSAFE else None,
                                          headers)
            assert status == 401, (method, path, headers, status, body[:200])
            assert json.loads(body)["detail"], (method, path)
        checked += 1
    assert checked == len(ops) - 1
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):  # unknown paths too
        assert svc.request(method, "/api/admin/users", {})[0] == 401


def test_a_cookie_session_changes_nothing_without_the_csrf_token(rig: Rig) -> None:
    svc = rig.svc
    login = rig.logins[1]
    session = cookie_value(login["cookies"], SESSION_COOKIE)
    csrf = cookie_value(login["cookies"], CSRF_COOKIE)
    assert csrf == login["csrf_token"]
    own = {"Cookie": f"{SESSION_COOKIE}={session}; {CSRF_COOKIE}={csrf}"}
    assert svc.request("GET", "/api/status", headers=own)[0] == 200  # reading needs no token
    before = json.loads(svc.request("GET", "/api/settings", headers=own)[2])["values"]
    unsafe = [(m, p) for m, p in operations(svc)
              if m in UNSAFE and p not in ("/api/login", "/api/logout")]
    assert len(unsafe) >= 10
    forged = "A" * len(csrf)
    for method, path in unsafe:
        for headers in (own,  # what a cross-site form could send: cookies only
                        {**own, CSRF_HEADER: forged},
                        {"Cookie": f"{SESSION_COOKIE}={session}; {CSRF_COOKIE}={forged}",
                         CSRF_HEADER: forged}):  # a token the attacker chose in both places
            status, _, body = svc.request(method.upper(), path, {}, headers)
            assert status == 403, (method, path, status, body[:200])
            assert CSRF_HEADER in json.loads(body)["detail"]
    after = json.loads(svc.request("GET", "/api/settings", headers=own)[2])["values"]
    assert after == before
    # with the token, the same session can act
    status, _, _ = svc.request("POST", "/api/actions/sync_soc", {}, {**own, CSRF_HEADER: csrf})
    assert status == 200
    for c in login["cookies"]:
        assert "samesite=strict" in c.lower()
    assert "httponly" in next(c for c in login["cookies"]
                              if c.startswith(SESSION_COOKIE)).lower()


def test_security_headers_on_every_kind_of_response(rig: Rig) -> None:
    svc = rig.svc
    token = rig.logins[0]["token"]
    auth = {"Authorization": f"Bearer {token}"}
    answers = [
        ("page", svc.request("GET", "/")),
        ("script", svc.request("GET", "/app.js")),
        ("schema", svc.request("GET", "/openapi.json")),
        ("401", svc.request("GET", "/api/status")),
        ("200", svc.request("GET", "/api/status", headers=auth)),
        ("404", svc.request("GET", "/api/nope", headers=auth)),
        ("422", svc.request("PUT", "/api/settings", {"discharge_floor_pct": "x"}, auth)),
        ("key", svc.request("GET", "/api/instant-readout", headers=auth)),
    ]
    req = urllib.request.Request(svc.url + "/api/stream", headers=auth)
    with urllib.request.urlopen(req, timeout=30) as r:  # the live stream: headers only
        answers.append(("stream", (r.status, dict(r.headers.items()), b"")))
    codes = {name: a[0] for name, a in answers}
    assert codes == {"page": 200, "script": 200, "schema": 200, "401": 401, "200": 200,
                     "404": 404, "422": 422, "key": 200, "stream": 200}
    for name, (_, headers, _) in answers:
        h = {k.lower(): v for k, v in headers.items()}
        assert h["content-security-policy"].startswith("default-src 'self'"), name
        assert "frame-ancestors 'none'" in h["content-security-policy"], name
        assert h["x-content-type-options"] == "nosniff", name
        assert h["x-frame-options"] == "DENY", name
        assert h["referrer-policy"] == "no-referrer", name
        if name not in ("page", "script", "schema"):
            assert h["cache-control"] == "no-store", name


def test_secrets_stay_in_owner_only_files_and_out_of_the_log(rig: Rig) -> None:
    svc, data, first_pin = rig.svc, rig.data, rig.pin
    token = rig.logins[0]["token"]
    second = rig.logins[2]
    auth = {"Authorization": f"Bearer {token}"}
    # exercise everything that touches a secret
    old_key = json.loads(svc.request("GET", "/api/instant-readout", headers=auth)[2])["key_hex"]
    new_key = json.loads(svc.request(
        "POST", "/api/actions/regenerate_instant_readout_key", {}, auth)[2])["key_hex"]
    assert re.fullmatch(r"[0-9a-f]{32}", new_key) and new_key != old_key
    status, _, body = svc.request("POST", "/api/actions/change_pin",
                                  {"old": first_pin, "new": NEW_PIN}, auth)
    assert status == 200, body
    assert svc.request("GET", "/api/status", headers=auth)[0] == 200  # the changer's session stays
    other = {"Authorization": f"Bearer {second['token']}"}
    assert svc.request("GET", "/api/status", headers=other)[0] == 401  # every other one ends
    # the secrets as stored (read-only, while the service runs: WAL allows a reader)
    db = sqlite3.connect(f"file:{data / 'smallbms.sqlite3'}?mode=ro", uri=True)
    try:
        stored = dict(db.execute("SELECT name, value FROM secrets").fetchall())
    finally:
        db.close()
    pin_hash = stored[PIN_SECRET_NAME]
    assert first_pin not in pin_hash and NEW_PIN not in pin_hash
    assert stored[KEY_SECRET_NAME] == new_key
    # no other API answer carries a secret
    for path in ("/api/status", "/api/settings", "/api/history", "/api/bank", "/api/codes"):
        text = svc.request("GET", path, headers=auth)[2].decode()
        for secret in (pin_hash, new_key, old_key, first_pin, NEW_PIN, token):
            assert secret not in text, (path, "carries a secret")
    # files: the directory and everything in it belong to the owner alone
    mode = stat.S_IMODE(os.stat(data).st_mode)
    assert mode & 0o077 == 0, f"data directory mode {mode:o}"
    files = [p for p in data.rglob("*") if p.is_file()]
    assert {"smallbms.sqlite3", "smallbms.sqlite3-wal", "smallbms.sqlite3-shm"} <= {
        p.name for p in files}
    for p in files:
        m = stat.S_IMODE(os.stat(p).st_mode)
        assert m & 0o077 == 0, f"{p.name} mode {m:o}: readable by others"
    rig.secrets = {"new PIN": NEW_PIN, "PIN hash": pin_hash,
                   "PIN hash body": pin_hash.split("$")[-1], "old key": old_key,
                   "new key": new_key, "session token": token,
                   "second token": second["token"], "CSRF token": second["csrf_token"]}
    rig.pin = NEW_PIN


def test_a_wrong_pin_slows_the_client_down_at_once(rig: Rig) -> None:
    # runs after every test that logs in: the slow-down it starts would refuse them
    svc = rig.svc
    wrong = "000000" if rig.pin != "000000" else "111111"
    # the service keeps real time: a pair of requests only proves something when both were
    # done inside the Retry-After window, so a pair a very slow machine stretched is done again
    for _ in range(4):
        t0 = time.monotonic()
        status, headers, body = svc.request("POST", "/api/login", {"pin": wrong})
        if status == 429:  # still inside the window a stretched pair opened: wait it out
            time.sleep(float(headers["retry-after"]))
            continue
        assert status == 401 and "wrong PIN" in json.loads(body)["detail"]
        window_s = int(headers["retry-after"])
        assert window_s >= 1
        # the right PIN straight after is refused too: guessing costs time whatever is guessed
        status, headers, body = svc.request("POST", "/api/login", {"pin": rig.pin})
        if time.monotonic() - t0 < window_s:
            break
    else:
        pytest.fail("no wrong-then-right pair of logins fitted in the Retry-After window")
    assert status == 429 and int(headers["retry-after"]) >= 1
    # a token is never handed out in a refusal
    assert "token" not in json.loads(body)


def test_no_secret_in_the_log_at_debug_level(rig: Rig) -> None:
    """After everything above and a clean stop, the whole log is searched for every secret."""
    assert rig.secrets, "runs after test_secrets_stay_in_owner_only_files"
    first_pin = rig.first_pin
    svc = rig.svc
    svc.stop()
    log = svc.output()
    assert "smallbms is running" in log, "the log was captured"
    assert log.count(first_pin) == 1, "the first PIN is shown once, on first start only"
    assert "shown this once" in next(ln for ln in svc.lines if first_pin in ln)
    for name, secret in rig.secrets.items():
        assert secret not in log, f"{name} appears in the service log"
