"""Bad input: schemathesis against the published OpenAPI document of the running service.

The real app (a Device ticking the twin, a real SQLite store in a fresh data directory, PIN
auth) is served in-process over ASGI; schemathesis loads ``/openapi.json`` from it and, for each
operation, sends cases that fit the schema (positive) and cases that do not (negative), logged in
with the device PIN. Half the cases carry the bearer token, half the session cookie with its
CSRF header, the two ways the API accepts.

Checks on every response: no 5xx; the status code is documented for the operation; the content
type and the body match what is documented for that status; documented headers match; a
request that does not fit the schema is refused with a 4xx; and, for every operation that
declares authentication, the same request without it, or with a wrong token, is refused.

Operations that would spoil the rest of the run are let through and then undone, so they are
tested too: disabling wireless access (every later call would be refused: it is switched back
on, the way the owner would within 30 s of a power-up), logging out (the harness logs in again),
and wrong PINs at login or PIN change (slowing and lock-out: the fake clock is moved past the
wait on half the cases, so both the 429 refusal and the next attempt's 401 are exercised). The event
stream (``/api/stream``) never ends by design and is left to tests/service_api.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

pytest.importorskip("httpx")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import given  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi import checks as openapi_checks  # noqa: E402

from smallbms.core.types import SetWireless  # noqa: E402
from smallbms.service.api import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE  # noqa: E402
from tests.service_api.conftest import Rig  # noqa: E402

from .fuzz_support import collecting, exact_settings, examples  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: The checks applied to every response, by the name the report uses.
CHECKS = {
    "not_a_server_error": not_a_server_error,
    "status_code_conformance": openapi_checks.status_code_conformance,
    "content_type_conformance": openapi_checks.content_type_conformance,
    "response_schema_conformance": openapi_checks.response_schema_conformance,
    "response_headers_conformance": openapi_checks.response_headers_conformance,
    "negative_data_rejection": openapi_checks.negative_data_rejection,
    "ignored_auth": openapi_checks.ignored_auth,
}
#: Never-ending responses, not for a request/response fuzzer.
SKIPPED = {("GET", "/api/stream"): "a Server-Sent Events stream never ends by design"}
#: Cases per operation and generation mode in CI (the campaign passes more).
CI_CASES = 12
HARNESS_CLIENT = "fuzz-harness"
SLOWED_CLIENT = "testclient"  # the ASGI test client's address, as the API sees it


@dataclass
class OperationTally:
    """What one operation saw."""

    label: str
    cases: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: collections.Counter[str] = field(default_factory=collections.Counter)
    failure_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"operation": self.label, "cases": self.cases,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "failures": dict(self.failures), "failure_examples": self.failure_examples[:5]}


#: Every operation's tally in this process (read by tools/reliability_fuzz.py).
API_TALLIES: dict[str, OperationTally] = {}


class ApiFuzzer:
    """schemathesis against one rig: logs in, sends the cases, undoes what would spoil the run."""

    def __init__(self, rig: Rig, collect: bool = False) -> None:
        self.rig = rig
        self.collect = collect
        self.schema = schemathesis.openapi.from_asgi("/openapi.json", rig.app)
        self.token = ""
        self.n = 0

    def operations(self) -> list[Any]:
        ops = [r.ok() for r in self.schema.get_all_operations()]
        return [op for op in ops if (op.method.upper(), op.path) not in SKIPPED]

    def _session(self) -> tuple[str, str]:
        auth = self.rig.auth
        s = auth.session(self.token)
        if s is None:  # first case, logged out by a case, or expired by the moved clock
            self.rig.clock.advance(auth.retry_after_s(HARNESS_CLIENT))  # wrong PINs in a change
            self.token = auth.login(self.rig.pin, HARNESS_CLIENT)
            s = auth.session(self.token)
            assert s is not None
        return s.token, s.csrf_token

    def _undo(self) -> None:
        """Switch wireless access back on if a case switched it off, and wait for a snapshot
        that shows it (every later call would be refused with 403 otherwise)."""
        device = self.rig.device
        if device.core.p.wireless_enabled and device.snapshot["status"]["wireless_available"]:
            return
        with device.subscribe() as sub:
            res = device.command(SetWireless(True))
            assert res.accepted, res
            for _ in range(100):
                snap = sub.get(5.0)
                assert snap is not None, "no snapshot after switching wireless access back on"
                if snap["status"]["wireless_available"]:
                    return
        raise AssertionError("wireless access did not come back on")

    def call(self, case: Any, tally: OperationTally) -> None:
        """One case: authenticate (bearer or cookie + CSRF, alternately), send, validate."""
        self.n += 1
        if case.operation.path in ("/api/login", "/api/actions/change_pin") and self.n % 4 < 2:
            # past the wait of both clients: login counts the test client's address, a PIN
            # change the session's own client
            auth = self.rig.auth
            self.rig.clock.advance(max(auth.retry_after_s(SLOWED_CLIENT),
                                       auth.retry_after_s(HARNESS_CLIENT)))
        token, csrf = self._session()
        kwargs: dict[str, Any] = {"checks": list(CHECKS.values())}
        if self.n % 2:
            kwargs["headers"] = {"Authorization": f"Bearer {token}"}
        else:
            # schemathesis may have generated a bearer header (the scheme is declared): drop it,
            # or the request would carry two credentials, ours valid and its own not
            if case.headers:
                case.headers = {k: v for k, v in case.headers.items()
                                if k.lower() != "authorization"}
            kwargs["headers"] = {CSRF_HEADER: csrf}
            kwargs["cookies"] = {SESSION_COOKIE: token, CSRF_COOKIE: csrf}
        tally.cases += 1
        try:
            response = case.call_and_validate(**kwargs)
            tally.statuses[response.status_code] += 1
        except (AssertionError, BaseExceptionGroup) as e:
            self._record(e, tally)
        finally:
            self._undo()

    def _record(self, e: BaseException, tally: OperationTally) -> None:
        subs = e.exceptions if isinstance(e, BaseExceptionGroup) else (e,)
        for sub in subs:
            title = getattr(sub, "title", None) or type(sub).__name__
            tally.failures[str(title)] += 1
        text = str(e)
        tally.failure_examples.append(text if len(text) < 1500 else text[:1497] + "...")
        if not self.collect:
            raise e

    def run(self, op: Any, mode: GenerationMode, cases: int) -> OperationTally:
        """``cases`` cases of ``mode`` for ``op``; an operation without parameters or body has
        no negative cases (nothing to make invalid) and is skipped in that mode."""
        label = f"{op.method.upper()} {op.path}"
        tally = API_TALLIES.setdefault(label, OperationTally(label))
        if mode == GenerationMode.NEGATIVE and not has_inputs(op):
            return tally

        @exact_settings(cases)
        @given(case=op.as_strategy(mode))
        def send(case: Any) -> None:
            self.call(case, tally)

        send()
        return tally


def has_inputs(op: Any) -> bool:
    """True when the operation takes parameters or a body (something a case can get wrong)."""
    raw = op.definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody"))


# --- the bounded CI run ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiFuzzer]:
    rig = Rig(tmp_path_factory.mktemp("api-fuzz"))
    try:
        yield ApiFuzzer(rig, collect=collecting())
    finally:
        rig.close()


def test_every_operation_is_documented_with_its_errors(fuzzer: ApiFuzzer) -> None:
    """The published document declares, for every operation, the errors it can answer."""
    doc = fuzzer.rig.app.openapi()
    assert {"bearer", "session_cookie"} <= set(doc["components"]["securitySchemes"])
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert {"200", "401", "403", "503"} <= codes, (method, path, codes)
            if op.get("parameters") or op.get("requestBody"):
                assert "422" in codes, (method, path)
            assert ("security" in op) == ((method, path) != ("post", "/api/login")), (method, path)
            for code, resp in op["responses"].items():
                if code != "200":
                    assert "application/json" in resp["content"], (method, path, code)
    assert "HTTPValidationError" not in doc["components"]["schemas"], (
        "FastAPI's default 422 body is documented, but the API answers its own")


def test_schemathesis_finds_nothing(fuzzer: ApiFuzzer) -> None:
    """A few cases per operation and mode: no check fails (the campaign runs many more)."""
    ops = fuzzer.operations()
    assert len(ops) >= 20, [o.path for o in ops]
    cases = examples(CI_CASES, scale=0.1)
    total = 0
    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            total += fuzzer.run(op, mode, cases).cases
    assert total >= len(ops) * cases // 2
    # the run reached the app: every operation answered at least one case
    assert all(API_TALLIES[f"{o.method.upper()} {o.path}"].statuses for o in ops)


@pytest.mark.parametrize("query", ["since=-inf&until=inf", "since=nan", "until=inf"])
def test_series_refuses_times_that_are_not_finite(fuzzer: ApiFuzzer, query: str) -> None:
    """Regression: "-inf"/"inf" parse as floats, and the answer echoed them as JSON null where
    the schema promises numbers (found by probing the query strings schemathesis rarely makes)."""
    token, _ = fuzzer._session()
    r = fuzzer.rig.client.get(f"/api/series?{query}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422 and "finite Unix time" in r.json()["detail"], r.text


@pytest.mark.parametrize("path, body", [
    ("/api/actions/set_soc", {"value_pct": True}),
    ("/api/actions/set_soc", {"value": "55"}),
    ("/api/actions/firmware_update", {"duration_s": True}),
])
def test_body_numbers_are_numbers(fuzzer: ApiFuzzer, path: str, body: dict[str, Any]) -> None:
    """Regression (schemathesis, negative_data_rejection): `{"value_pct": true}` set the SoC to
    1 %, because the body was parsed laxly. Numbers in bodies are now strict."""
    token, _ = fuzzer._session()
    r = fuzzer.rig.client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] in ("value_pct", "value", "duration_s")
