"""What every router shares: the context (device, store, auth), the session check, the
snapshot's JSON encoding, the security headers and the API's constants."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request

from smallbms.core.types import Command, CommandResult
from smallbms.service.api.models import OkResponse
from smallbms.service.auth import Auth, AuthError, Session, wireless_refusal
from smallbms.service.device import Device

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SESSION_COOKIE = "smallbms_session"
CSRF_COOKIE = "smallbms_csrf"
CSRF_HEADER = "X-CSRF-Token"
STREAM_MAX_RATE_HZ = 10.0  # (P) at most this many snapshots per second on the stream
STOPPING_MESSAGE = "smallbms is stopping; reload the page when it runs again"
STREAM_KEEPALIVE_S = 15.0  # (P) a comment line at least this often keeps proxies from closing
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


@dataclass
class ApiContext:
    """What the routers work on; one per app, kept in ``app.state.ctx``."""

    device: Device
    store: HistoryStore
    auth: Auth
    instant_readout_key_changed: Callable[[bytes], None] | None = None
    #: one settings change at a time, so two clients' changes never interleave
    settings_lock: threading.Lock = field(default_factory=threading.Lock)
    #: set when the service stops: every stream then ends (``smallbms run`` on SIGINT/SIGTERM)
    closing: threading.Event = field(default_factory=threading.Event)

    def close_streams(self) -> None:
        """End every live stream (within one stream period) and refuse new ones."""
        self.closing.set()

    def snap(self) -> dict[str, Any]:
        """The device's latest snapshot (replaced whole every tick, never changed in place)."""
        s: dict[str, Any] = self.device.snapshot
        return s

    def run(self, cmd: Command) -> OkResponse:
        """Send a command to the device; 409 with the device's message when it refuses."""
        try:
            res: CommandResult = self.device.command(cmd)
        except TimeoutError:
            raise HTTPException(504, "the device did not answer in time") from None
        if not res.accepted:
            raise HTTPException(409, res.message or "the device refused the command")
        return OkResponse(message=res.message)


def context_of(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context_of)]


def auth_refusal(e: AuthError) -> HTTPException:
    """An :class:`AuthError` as the HTTP error to send (with Retry-After when it has one)."""
    headers = {"Retry-After": str(math.ceil(e.retry_after_s))} if e.retry_after_s else None
    return HTTPException(e.status, e.message, headers=headers)


# --- helpers ----------------------------------------------------------------------------------


def clean(x: Any) -> Any:
    """The value with non-finite floats as None, so the JSON is strict."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [clean(v) for v in x]
    return x


_LAST_JSON: list[tuple[int, dict[str, Any], str]] = []  # (id, snapshot, json) of the last one


def snapshot_json(snap: dict[str, Any]) -> str:
    """A snapshot as compact, strict JSON, encoded once per snapshot however many streams
    send it (snapshots are replaced whole every tick, never changed in place)."""
    last = _LAST_JSON[0] if _LAST_JSON else None
    if last is not None and last[1] is snap:
        return last[2]
    text = json.dumps(clean(snap), separators=(",", ":"), allow_nan=False)
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


# --- the session check ------------------------------------------------------------------------


def check_wireless(device: Device) -> None:
    """Refuse (403) when wireless access is off, 503 before the first snapshot."""
    snap = device.snapshot
    why = wireless_refusal(snap.get("status"))
    if why is not None:
        raise HTTPException(503 if not snap else 403, why)


def session_of(request: Request) -> Session:
    """The caller's session; refuses (401/403) without one or without a CSRF token."""
    ctx: ApiContext = request.app.state.ctx
    check_wireless(ctx.device)
    header = request.headers.get("authorization", "")
    scheme, _, bearer = header.partition(" ")
    if header and scheme.lower() == "bearer" and bearer.strip():
        s = ctx.auth.session(bearer.strip())
        if s is None:
            raise HTTPException(401, "the token is unknown or has expired; log in again",
                                headers={"WWW-Authenticate": "Bearer"})
        return s
    s = ctx.auth.session(request.cookies.get(SESSION_COOKIE))
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
