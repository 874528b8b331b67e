"""The HTTP API and web pages: the software equivalent of the VictronConnect Bluetooth link.

``create_app(device, store, auth)`` builds a FastAPI application:

- ``/api/...``: JSON endpoints. Every one needs a session (``Authorization: Bearer <token>``
  or the ``smallbms_session`` cookie) except ``POST /api/login``. Cookie-authenticated requests
  that change something also need the ``X-CSRF-Token`` header equal to the session's CSRF token
  (given at login, and in the readable ``smallbms_csrf`` cookie); bearer requests need none,
  because a browser never adds an Authorization header by itself.
- ``/api/stream``: Server-Sent Events, one JSON snapshot per tick (at most 10 per second).
- ``/``: the web app (static files from ``service/web/``; no CDN, no build step).

When the user has disabled wireless access, every API call (login included) is refused with
403 except during the 30 s after a power-up (SPEC 13). The web page's files are still served:
they hold no device data, and the page shows the refusal message.

The device is only ever read through its snapshot (a dict replaced whole every tick) and changed
through ``device.command``, which waits for the next tick; such calls run in the thread pool so
they never block the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from smallbms.core.codes import CODE_INFO
from smallbms.core.settings import SettingError, Settings, change_setting, change_settings
from smallbms.core.types import (
    AcceptBank,
    ChangeSetting,
    Command,
    CommandResult,
    FirmwareUpdateFinished,
    FirmwareUpdateStarted,
    ResetDefaults,
    ResetHistory,
    SetMode,
    SetSoc,
    SetWireless,
    SyncSoc,
)
from smallbms.service.auth import Auth, AuthError, Session, wireless_refusal
from smallbms.service.device import Device

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).with_name("web")
SESSION_COOKIE = "smallbms_session"
CSRF_COOKIE = "smallbms_csrf"
CSRF_HEADER = "X-CSRF-Token"
STREAM_MAX_RATE_HZ = 10.0  # (P) at most this many snapshots per second on the stream
STREAM_KEEPALIVE_S = 15.0  # (P) a comment line at least this often keeps proxies from closing
DEFAULT_FIRMWARE_UPDATE_S = 20.0  # (P) simulated update duration, device seconds
MAX_SERIES_POINTS = 2000  # (P) the most points one /api/series answer holds
DEFAULT_SERIES_FIELDS = ("soc_pct", "voltage_v", "current_a")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
     b"frame-ancestors 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class HistoryStore(Protocol):
    """What the API reads from the store (implemented by ``smallbms.service.store.Store``)."""

    def code_log(self, limit: int = ..., before_wall_s: float | None = ...) -> list[dict[str, Any]]:
        ...

    def series(self, since_wall_s: float, until_wall_s: float, max_points: int = ...,
               fields: Sequence[str] = ...) -> list[dict[str, Any]]: ...

    def get_secret(self, name: str) -> str | None: ...

    def set_secret(self, name: str, value: str) -> None: ...


# --- models -----------------------------------------------------------------------------------


class _Open(BaseModel):
    """Response models list the documented fields and pass through any newer ones."""

    model_config = ConfigDict(extra="allow")


class Outputs(_Open):
    load_disconnect: Literal["high", "floating"]
    charge_disconnect: Literal["high", "floating"]
    pre_alarm: Literal["high", "floating"]


class LedStates(_Open):
    error: Literal["off", "blink", "on"]
    bluetooth: Literal["off", "blink", "on"]
    load_on: Literal["off", "blink", "on"]
    temp_ovp: Literal["off", "blink", "on"]


class StatusValues(_Open):
    powered: bool
    mode: Literal["on", "off"]
    soc_pct: float | None
    voltage_v: float | None
    current_a: float | None
    power_w: float | None
    consumed_ah: float | None
    time_remaining_s: int | None
    min_cell_v: float | None
    max_cell_v: float | None
    min_temperature_c: float | None
    max_temperature_c: float | None
    balancer: str | None
    allowed_to_charge: bool
    allowed_to_discharge: Literal["yes", "no", "pre-alarm"]
    charge_reasons: list[str]
    discharge_reasons: list[str]
    outputs: Outputs
    leds: LedStates
    wireless_available: bool
    wireless_enabled: bool
    firmware_update: Literal["idle", "updating", "failed"]


class ActiveCode(_Open):
    code: str
    name: str
    kind: Literal["warning", "alarm", "error"]
    effect: str
    advice: str


class StatusResponse(_Open):
    t_s: float = Field(description="device time, s since start")
    wall_s: float = Field(description="Unix time of this snapshot, s")
    profile: Literal["ng", "classic"]
    status: StatusValues
    active_codes: list[ActiveCode]


class BankInfo(_Open):
    model_id: str
    batteries: int
    series: int
    parallel: int
    cells_total: int
    capacity_ah: float
    nominal_voltage_v: float
    energy_kwh: float


class BatteryInfo(_Open):
    index: int
    reporting: bool
    serial: str | None = None
    model_id: str | None = None
    capacity_ah: float | None = None
    firmware: str | None = None
    series_position: int | None = None
    temperature_c: float | None = None
    voltage_v: float | None = None
    current_a: float | None = None
    cell_voltages_v: list[float] | None = None


class BankResponse(_Open):
    bank: BankInfo | None = Field(description="the commissioned bank; null before the first one")
    balancer: str | None
    min_cell_v: float | None
    max_cell_v: float | None
    min_temperature_c: float | None
    max_temperature_c: float | None
    batteries: list[BatteryInfo]


class LastError(_Open):
    code: str
    t: float = Field(description="device time of the error, s")


class HistoryValues(_Open):
    deepest_discharge_ah: float
    cumulative_ah_drawn: float
    discharged_energy_kwh: float
    charged_energy_kwh: float
    synchronisations: int
    cycles: int
    seconds_since_full_charge: float | None
    min_battery_voltage_v: float | None
    max_battery_voltage_v: float | None
    min_cell_voltage_v: float | None
    max_cell_voltage_v: float | None
    min_battery_temperature_c: float | None
    max_battery_temperature_c: float | None
    last_errors: list[LastError]


class SettingSpecModel(_Open):
    name: str
    label: str
    unit: str
    default: float
    minimum: float
    maximum: float
    step: float
    help: str
    reset_by_defaults: bool


class SettingsResponse(_Open):
    values: dict[str, float]
    specs: list[SettingSpecModel]


class SettingProblem(BaseModel):
    setting: str
    message: str


class FieldProblem(BaseModel):
    """One way a request does not fit the schema: where (``body.value``, ``query.limit``...)
    and what is wrong."""

    field: str
    message: str


class ErrorResponse(BaseModel):
    detail: str


class ValidationRefused(BaseModel):
    """A request that does not fit the schema (422): one entry per problem."""

    detail: list[FieldProblem]


class RequestRefused(BaseModel):
    """A 422 that is either a schema problem (a list, as ValidationRefused) or a refusal of
    well-formed values (one sentence)."""

    detail: str | list[FieldProblem]


class SettingsRefused(BaseModel):
    """A refused settings change (422): the setting at fault, or the request's schema problems."""

    detail: list[SettingProblem | FieldProblem]


class LoginRequest(BaseModel):
    pin: str = Field(description="the device PIN, 6 to 12 digits", max_length=64)


class LoginResponse(BaseModel):
    token: str = Field(description="bearer token for the Authorization header")
    csrf_token: str = Field(description="X-CSRF-Token value for cookie-authenticated changes")
    expires_in_s: float


class OkResponse(BaseModel):
    ok: bool = True
    message: str = ""


class InstantReadoutKey(BaseModel):
    """The per-device Instant Readout key (32 hex characters) decoders need."""

    key_hex: str
    broadcasting: bool


class ModeRequest(BaseModel):
    value: Literal["on", "off"]


class WirelessRequest(BaseModel):
    value: Literal["on", "off"]


# Body numbers are strict (a number, not `true` or "55"): lax parsing took `true` for 1 %.
class SetSocRequest(BaseModel):
    value_pct: float = Field(ge=0.0, le=100.0, strict=True,
                             validation_alias=AliasChoices("value_pct", "value"),
                             description="the new state of charge, % (also accepted as `value`)")


class FirmwareUpdateRequest(BaseModel):
    result: Literal["success", "fail"] = "success"
    duration_s: float = Field(default=DEFAULT_FIRMWARE_UPDATE_S, ge=0.0, le=3600.0, strict=True,
                              description="how long the simulated update takes, device seconds")


class ChangePinRequest(BaseModel):
    old: str = Field(max_length=64)
    new: str = Field(max_length=64)


class CodeLogEntry(_Open):
    wall_s: float | None = None
    t_s: float | None = None
    code: str
    state: Literal["active", "cleared"]
    name: str | None = None
    kind: str | None = None


class SeriesResponse(BaseModel):
    since_wall_s: float
    until_wall_s: float
    fields: list[str]
    points: list[dict[str, float | None]] = Field(
        description="oldest first; each point has wall_s (Unix time, s), n (samples merged), "
                    "and for each field f: f (mean), f_min and f_max")


# --- documented error responses -----------------------------------------------------------

#: Every API operation may answer these (login included: a wrong PIN is a 401).
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "no session, or a wrong PIN at login"},
    403: {"model": ErrorResponse,
          "description": "wireless access is disabled or the BMS has no power (SPEC 13), or a "
                         "cookie-authenticated change lacks its CSRF token"},
    503: {"model": ErrorResponse, "description": "the BMS is starting (no status yet)"},
}
#: Operations that take parameters or a body.
INVALID_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationRefused,
          "description": "the request does not fit the schema; each problem names its field"},
}
#: Operations that take a JSON body: one that cannot be read at all is a 400.
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **INVALID_RESPONSES,
    400: {"model": ErrorResponse, "description": "the body cannot be parsed (not UTF-8 JSON)"},
}
#: Operations that send a command to the device.
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "the device refused the command (its reason)"},
    504: {"model": ErrorResponse, "description": "the device did not answer in time"},
}


# --- helpers ----------------------------------------------------------------------------------


def _clean(x: Any) -> Any:
    """The value with non-finite floats as None, so the JSON is strict."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


_LAST_JSON: list[tuple[int, dict[str, Any], str]] = []  # (id, snapshot, json) of the last one


def snapshot_json(snap: dict[str, Any]) -> str:
    """A snapshot as compact, strict JSON, encoded once per snapshot however many streams
    send it (snapshots are replaced whole every tick, never changed in place)."""
    last = _LAST_JSON[0] if _LAST_JSON else None
    if last is not None and last[1] is snap:
        return last[2]
    text = json.dumps(_clean(snap), separators=(",", ":"), allow_nan=False)
    _LAST_JSON[:] = [(id(snap), snap, text)]
    return text


class SecurityHeaders:
    """ASGI middleware: the security headers on every HTTP response (streams included)."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        api = str(scope.get("path", "")).startswith("/api/")

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if api and b"cache-control" not in present:  # state, tokens and keys: never cached
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _order_changes(current: Settings, values: dict[str, float]) -> list[tuple[str, float]] | None:
    """An order in which the changes can be applied one at a time, each step valid."""
    items = list(values.items())
    for perm in itertools.permutations(items):
        s = current
        try:
            for name, value in perm:
                s = change_setting(s, name, value)
        except SettingError:
            continue
        return list(perm)
    return None


# --- the app ----------------------------------------------------------------------------------


def check_wireless(device: Device) -> None:
    """Refuse (403) when wireless access is off, 503 before the first snapshot."""
    snap = device.snapshot
    why = wireless_refusal(snap.get("status"))
    if why is not None:
        raise HTTPException(503 if not snap else 403, why)


def session_of(request: Request) -> Session:
    """The caller's session; refuses (401/403) without one or without a CSRF token."""
    device: Device = request.app.state.device
    auth: Auth = request.app.state.auth
    check_wireless(device)
    header = request.headers.get("authorization", "")
    scheme, _, bearer = header.partition(" ")
    if header and scheme.lower() == "bearer" and bearer.strip():
        s = auth.session(bearer.strip())
        if s is None:
            raise HTTPException(401, "the token is unknown or has expired; log in again",
                                headers={"WWW-Authenticate": "Bearer"})
        return s
    s = auth.session(request.cookies.get(SESSION_COOKIE))
    if s is None:
        raise HTTPException(401, "log in with the device PIN first (POST /api/login)",
                            headers={"WWW-Authenticate": "Bearer"})
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not sent or sent != cookie or sent != s.csrf_token:
            raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header: a request "
                                     "authenticated by cookie must repeat the CSRF token")
    return s


Authed = Annotated[Session, Depends(session_of)]


def _openapi_with_security(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with the two ways to authenticate declared on every operation but
    login (FastAPI cannot see them: :func:`session_of` reads the header and cookie itself)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "the token from POST /api/login"},
        "session_cookie": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                           "description": f"set by POST /api/login; changes also need the "
                                          f"{CSRF_HEADER} header"},
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if (method, path) != ("post", "/api/login"):
                operation["security"] = [{"bearer": []}, {"session_cookie": []}]
    app.openapi_schema = schema
    return schema


def create_app(device: Device, store: HistoryStore, auth: Auth,
               instant_readout_key_changed: Callable[[bytes], None] | None = None) -> FastAPI:
    """The API and web app for ``device`` (a :class:`~smallbms.service.device.Device`).

    ``store`` needs ``code_log`` and ``series`` (see :class:`HistoryStore`); ``auth`` holds the
    PIN and sessions.
    """
    app = FastAPI(
        title="smallbms API",
        version="1",
        description="Status, battery, history and settings of a software smallBMS NG. "
                    "Log in with the device PIN at POST /api/login; see docs/api.md.",
        docs_url=None, redoc_url=None,  # the Swagger page needs a CDN; the schema is enough
        responses=COMMON_RESPONSES,
    )
    app.openapi = lambda: _openapi_with_security(app)  # type: ignore[method-assign]
    app.add_middleware(SecurityHeaders)
    app.state.device = device
    app.state.auth = auth
    settings_lock = threading.Lock()

    def _finish(cmd: FirmwareUpdateFinished) -> None:
        try:
            device.command(cmd)
        except Exception:  # the device stopped meanwhile: nothing to finish
            log.exception("could not finish the simulated firmware update")

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            problems.append({"field": where, "message": e.get("msg", "invalid")})
        return JSONResponse({"detail": jsonable_encoder(problems)}, status_code=422)

    # --- dependencies -------------------------------------------------------------------------

    def snap() -> dict[str, Any]:
        s: dict[str, Any] = device.snapshot
        return s


    def run(cmd: Command) -> OkResponse:
        """Send a command to the device; 409 with the device's message when it refuses."""
        try:
            res: CommandResult = device.command(cmd)
        except TimeoutError:
            raise HTTPException(504, "the device did not answer in time") from None
        if not res.accepted:
            raise HTTPException(409, res.message or "the device refused the command")
        return OkResponse(message=res.message)

    # --- login --------------------------------------------------------------------------------

    @app.post("/api/login", response_model=LoginResponse, tags=["auth"],
              responses={**BODY_RESPONSES,
                         429: {"model": ErrorResponse,
                               "description": "too many wrong PINs: wait (Retry-After)"}})
    def login(body: LoginRequest, request: Request, response: Response) -> LoginResponse:
        """Check the PIN and open a session (token in the body and as an HttpOnly cookie)."""
        check_wireless(device)
        client = request.client.host if request.client is not None else "unknown"
        try:
            token = auth.login(body.pin, client)
        except AuthError as e:
            headers = ({"Retry-After": str(math.ceil(e.retry_after_s))}
                       if e.retry_after_s else None)
            raise HTTPException(e.status, e.message, headers=headers) from None
        s = auth.session(token)
        assert s is not None
        secure = request.url.scheme == "https"
        max_age = int(auth.session_ttl_s)
        response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True,
                            samesite="strict", secure=secure, path="/")
        response.set_cookie(CSRF_COOKIE, s.csrf_token, max_age=max_age, httponly=False,
                            samesite="strict", secure=secure, path="/")
        return LoginResponse(token=token, csrf_token=s.csrf_token, expires_in_s=auth.session_ttl_s)

    @app.post("/api/logout", response_model=OkResponse, tags=["auth"])
    def logout(session: Authed, response: Response) -> OkResponse:
        """End this session and clear its cookies."""
        auth.logout(session.token)
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        return OkResponse()

    # --- reading ------------------------------------------------------------------------------

    @app.get("/api/status", response_model=StatusResponse, tags=["read"])
    def get_status(session: Authed) -> dict[str, Any]:
        """The status page: SoC, mode, allowed to charge/discharge, V, A, W, Ah, outputs, LEDs,
        and the active warnings, alarms and errors."""
        s = snap()
        return {k: s[k] for k in ("t_s", "wall_s", "profile", "status", "active_codes")}

    @app.get("/api/bank", response_model=BankResponse, tags=["read"])
    def get_bank(session: Authed) -> dict[str, Any]:
        """The battery page: bank layout, balancer, cell extremes and every battery's cells."""
        s = snap()
        st = s["status"]
        return {"bank": s["bank"], "balancer": st["balancer"], "min_cell_v": st["min_cell_v"],
                "max_cell_v": st["max_cell_v"], "min_temperature_c": st["min_temperature_c"],
                "max_temperature_c": st["max_temperature_c"], "batteries": s["batteries"]}

    @app.get("/api/batteries/{index}", response_model=BatteryInfo, tags=["read"],
             responses={**INVALID_RESPONSES, 404: {"model": ErrorResponse}})
    def get_battery(index: int, session: Authed) -> dict[str, Any]:
        """One battery: serial, capacity, firmware, temperature, voltage, current, cells."""
        bats: list[dict[str, Any]] = snap()["batteries"]
        if not 0 <= index < len(bats):
            raise HTTPException(404, f"no battery {index}; the bank has {len(bats)} (0-based)")
        return bats[index]

    @app.get("/api/history", response_model=HistoryValues, tags=["read"])
    def get_history(session: Authed) -> dict[str, Any]:
        """The history page: deepest discharge, energy, cycles, extremes, last errors."""
        h: dict[str, Any] = snap()["history"]
        return h

    @app.get("/api/settings", response_model=SettingsResponse, tags=["settings"])
    def get_settings(session: Authed) -> dict[str, Any]:
        """Every setting's value, with its label, unit, range and help text."""
        st: dict[str, Any] = snap()["settings"]
        return st

    @app.put("/api/settings", response_model=SettingsResponse, tags=["settings"],
             responses={**BODY_RESPONSES, 422: {"model": SettingsRefused},
                        504: COMMAND_RESPONSES[504]})
    def put_settings(
        session: Authed,
        values: Annotated[dict[str, Any], Body(examples=[{"discharge_floor_pct": 15}])],
    ) -> Any:
        """Change settings, all or nothing: refused with 422 naming the setting, nothing changed."""
        with settings_lock:
            current: Settings = device.core.p.settings
            try:
                change_settings(current, values)
            except SettingError as e:
                return JSONResponse({"detail": [{"setting": e.name, "message": e.reason}]}, 422)
            changes = {k: float(v) for k, v in values.items() if float(v) != getattr(current, k)}
            order = _order_changes(current, changes)
            if order is None:  # cannot happen: the whole set is consistent, so some order is
                name = next(iter(changes))
                return JSONResponse({"detail": [{"setting": name,
                                                 "message": "these values cannot be applied"}]}, 422)
            # all in the same tick, so the state saved after it holds all of them or (after a
            # crash before that save) none: never a mix
            cmds = [ChangeSetting(name, value) for name, value in order]
            try:
                results = device.commands(cmds) if cmds else []
            except TimeoutError:
                raise HTTPException(504, "the device did not answer in time") from None
            refused = [(c, r) for c, r in zip(cmds, results, strict=True) if not r.accepted]
            if refused:  # changed meanwhile by another client: undo ours
                undo = [ChangeSetting(c.name, getattr(current, c.name))
                        for c, r in zip(cmds, results, strict=True) if r.accepted]
                if undo:
                    device.commands(undo[::-1])
                cmd, res = next(((c, r) for c, r in refused if r.message != "not applied"),
                                refused[0])
                msg = res.message.partition(": ")[2] or res.message
                return JSONResponse({"detail": [{"setting": cmd.name, "message": msg}]}, 422)
            done = order
        # the snapshot shows the new values from the tick after the last command
        out = dict(snap()["settings"])
        out["values"] = replace(current, **dict(done)).as_dict() if done else current.as_dict()
        return out

    # --- actions ------------------------------------------------------------------------------

    @app.post("/api/actions/sync_soc", response_model=OkResponse, tags=["actions"],
              responses=COMMAND_RESPONSES)
    def sync_soc(session: Authed) -> OkResponse:
        """Synchronise the state of charge to 100 % now."""
        return run(SyncSoc())

    @app.post("/api/actions/set_soc", response_model=OkResponse, tags=["actions"],
              responses={**BODY_RESPONSES, **COMMAND_RESPONSES})
    def set_soc(session: Authed, body: SetSocRequest) -> OkResponse:
        """Set the state of charge by hand."""
        return run(SetSoc(body.value_pct))

    @app.post("/api/actions/reset_defaults", response_model=OkResponse, tags=["actions"],
              responses=COMMAND_RESPONSES)
    def reset_defaults(session: Authed) -> OkResponse:
        """Restore the battery monitor settings to their defaults (not the PIN, history or SoC)."""
        return run(ResetDefaults())

    @app.get("/api/instant-readout", response_model=InstantReadoutKey, tags=["read"])
    def instant_readout_key(session: Authed) -> InstantReadoutKey:
        """The device's Instant Readout key (made on first use), for decoders and apps."""
        from smallbms.integrations.instant_readout import ensure_key

        return InstantReadoutKey(key_hex=ensure_key(store).hex(),
                                 broadcasting=instant_readout_key_changed is not None)

    @app.post("/api/actions/regenerate_instant_readout_key", response_model=InstantReadoutKey,
              tags=["actions"])
    def regenerate_instant_readout_key(session: Authed) -> InstantReadoutKey:
        """Make a new Instant Readout key; every decoder then needs the new one."""
        from smallbms.integrations.instant_readout import regenerate_key

        key = regenerate_key(store)
        if instant_readout_key_changed is not None:
            instant_readout_key_changed(key)
        return InstantReadoutKey(key_hex=key.hex(),
                                 broadcasting=instant_readout_key_changed is not None)

    @app.post("/api/actions/reset_history", response_model=OkResponse, tags=["actions"],
              responses=COMMAND_RESPONSES)
    def reset_history(session: Authed) -> OkResponse:
        """Clear the history counters."""
        return run(ResetHistory())

    @app.post("/api/actions/mode", response_model=OkResponse, tags=["actions"],
              responses={**BODY_RESPONSES, **COMMAND_RESPONSES})
    def set_mode(session: Authed, body: ModeRequest) -> OkResponse:
        """Switch the BMS on or off (off: loads and chargers disconnected)."""
        return run(SetMode(body.value))

    @app.post("/api/actions/accept_bank", response_model=OkResponse, tags=["actions"],
              responses=COMMAND_RESPONSES)
    def accept_bank(session: Authed) -> OkResponse:
        """Accept the batteries found now as the bank (clears E-B05)."""
        return run(AcceptBank())

    @app.post("/api/actions/wireless", response_model=OkResponse, tags=["actions"],
              responses={**BODY_RESPONSES, **COMMAND_RESPONSES})
    def set_wireless(session: Authed, body: WirelessRequest) -> OkResponse:
        """Enable or disable wireless access (the app connection); after disabling it, it is
        available only for 30 s after each power-up."""
        return run(SetWireless(body.value == "on"))

    @app.post("/api/actions/change_pin", response_model=OkResponse, tags=["actions"],
              responses={**BODY_RESPONSES,
                         422: {"model": RequestRefused,
                               "description": "a malformed request, or a new PIN that is not "
                                              "6-12 digits"},
                         429: {"model": ErrorResponse,
                               "description": "too many wrong PINs: wait (Retry-After)"}})
    def change_pin(session: Authed, body: ChangePinRequest) -> OkResponse:
        """Change the device PIN (6-12 digits); every other session ends."""
        try:
            auth.change_pin(body.old, body.new, session.client_id, keep_token=session.token)
        except AuthError as e:
            headers = ({"Retry-After": str(math.ceil(e.retry_after_s))}
                       if e.retry_after_s else None)
            raise HTTPException(e.status, e.message, headers=headers) from None
        return OkResponse(message="PIN changed")

    @app.post("/api/actions/firmware_update", response_model=OkResponse, tags=["actions"],
              responses={**BODY_RESPONSES, **COMMAND_RESPONSES})
    async def firmware_update(
        session: Authed, body: Annotated[FirmwareUpdateRequest | None, Body()] = None,
    ) -> OkResponse:
        """Start a simulated battery firmware update; it ends after ``duration_s`` with
        ``result``. During it charging is off; a failed update cuts the loads 120 s later."""
        req = body or FirmwareUpdateRequest()
        if snap()["status"]["firmware_update"] == "updating":
            raise HTTPException(409, "a firmware update is already running")
        await run_in_threadpool(run, FirmwareUpdateStarted())
        delay_s = req.duration_s / float(device.speed)

        # a timer thread (not the tick thread, not the event loop) sends the result later; it
        # outlives the request and does not depend on which event loop served it
        timer = threading.Timer(delay_s, _finish, args=(FirmwareUpdateFinished(req.result == "success"),))
        timer.daemon = True
        timer.name = "firmware-update-sim"
        timer.start()
        return OkResponse(message=f"firmware update started; ends in {req.duration_s:g} s "
                                  f"({req.result})")

    # --- stored data --------------------------------------------------------------------------

    @app.get("/api/codes", response_model=list[CodeLogEntry], tags=["read"],
             responses=INVALID_RESPONSES)
    def get_codes(
        session: Authed,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before: Annotated[float | None, Query(description="only entries before this Unix time")]
        = None,
    ) -> list[dict[str, Any]]:
        """The code log: every raise and clear, newest first."""
        rows = store.code_log(limit, before)
        out = []
        for r in rows:
            row = dict(r)
            info = CODE_INFO.get(str(row.get("code")))
            if info is not None:
                row.setdefault("name", info.name)
                row.setdefault("kind", info.kind)
            out.append(row)
        return out

    @app.get("/api/series", response_model=SeriesResponse, tags=["read"],
             responses={422: {"model": RequestRefused,
                              "description": "a malformed request, or since after until, or "
                                             "unknown fields"}})
    def get_series(
        session: Authed,
        since: Annotated[float | None, Query(description="Unix time; default 6 h before until")]
        = None,
        until: Annotated[float | None, Query(description="Unix time; default now")] = None,
        points: Annotated[int, Query(ge=2, le=MAX_SERIES_POINTS)] = 300,
        fields: Annotated[str, Query(description="comma-separated sample fields")]
        = ",".join(DEFAULT_SERIES_FIELDS),
    ) -> dict[str, Any]:
        """Recorded samples between ``since`` and ``until``, thinned to at most ``points``."""
        for name, value in (("since", since), ("until", until)):
            if value is not None and not math.isfinite(value):  # "inf", "nan" parse as floats
                raise HTTPException(422, f"{name} must be a finite Unix time, got {value}")
        until_s = until if until is not None else float(snap().get("wall_s", time.time()))
        since_s = since if since is not None else until_s - 6 * 3600.0
        if since_s > until_s:
            raise HTTPException(422, "since must not be after until")
        names = list(dict.fromkeys(f.strip() for f in fields.split(",") if f.strip()))
        if not names:
            raise HTTPException(422, "fields must be a comma-separated list of sample names")
        try:
            raw = store.series(since_s, until_s, points, names)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return {"since_wall_s": since_s, "until_wall_s": until_s, "fields": names,
                "points": [_clean(dict(r)) for r in raw]}

    # --- live stream --------------------------------------------------------------------------

    @app.get("/api/stream", tags=["read"],
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "one `data:` line of snapshot JSON per tick"}})
    async def stream(request: Request, session: Authed) -> StreamingResponse:
        """Server-Sent Events: the full snapshot every tick (at most 10 per second)."""
        return StreamingResponse(_events(request, session.token), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def _events(request: Request, token: str) -> AsyncIterator[str]:
        # the tick thread fills a small queue; this loop polls it without blocking the event
        # loop or holding a worker thread, keeping only the newest snapshot per interval
        period = 1.0 / STREAM_MAX_RATE_HZ
        connected = getattr(device, "client_connected", None)
        if connected is not None:  # a live app session lights the Bluetooth LED (SPEC 8)
            connected(1)
        try:
            async for chunk in _stream_body(request, token, period):
                yield chunk
        finally:
            if connected is not None:
                connected(-1)

    async def _stream_body(request: Request, token: str, period: float) -> AsyncIterator[str]:
        with device.subscribe() as sub:
            yield "retry: 2000\n\n"
            first = snap()
            if first:
                yield f"data: {snapshot_json(first)}\n\n"
            last_sent = time.monotonic()
            while True:
                await asyncio.sleep(period)
                if await request.is_disconnected():
                    return
                latest = None
                while True:
                    item = sub.get(0.0)
                    if item is None:
                        break
                    latest = item
                now = time.monotonic()
                if latest is not None:
                    why = wireless_refusal(latest.get("status"))
                    if why is not None or auth.session(token) is None:
                        msg = why or "the session has ended; log in again"
                        yield f"event: closed\ndata: {json.dumps({'detail': msg})}\n\n"
                        return
                    yield f"data: {snapshot_json(latest)}\n\n"
                    last_sent = now
                elif now - last_sent >= STREAM_KEEPALIVE_S:
                    yield ": keep-alive\n\n"
                    last_sent = now

    # --- the web app --------------------------------------------------------------------------

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
                   include_in_schema=False)
    def api_not_found(rest: str, session: Authed) -> None:
        raise HTTPException(404, f"no such API path: /api/{rest}")

    app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app

