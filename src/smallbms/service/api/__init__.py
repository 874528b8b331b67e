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

The package holds one router per concern - :mod:`.auth` (login, logout, PIN), :mod:`.read`
(status, bank, history, codes, series), :mod:`.settings`, :mod:`.actions` and :mod:`.stream` -
on top of :mod:`.common` (context, session check, headers) and :mod:`.models` (request and
response models). It may import ``core``, ``service.auth`` and ``service.device``; nothing in
``core`` imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from smallbms.service.api import actions, read, settings, stream
from smallbms.service.api import auth as auth_routes
from smallbms.service.api.common import (
    CSRF_COOKIE,
    CSRF_HEADER,
    DEFAULT_SERIES_FIELDS,
    MAX_SERIES_POINTS,
    SESSION_COOKIE,
    STREAM_KEEPALIVE_S,
    STREAM_MAX_RATE_HZ,
    WEB_DIR,
    ApiContext,
    Authed,
    HistoryStore,
    SecurityHeaders,
    check_wireless,
    session_of,
    snapshot_json,
)
from smallbms.service.api.models import COMMON_RESPONSES, DEFAULT_FIRMWARE_UPDATE_S
from smallbms.service.auth import Auth
from smallbms.service.device import Device

__all__ = [
    "CSRF_COOKIE", "CSRF_HEADER", "DEFAULT_FIRMWARE_UPDATE_S", "DEFAULT_SERIES_FIELDS",
    "MAX_SERIES_POINTS", "SESSION_COOKIE", "STREAM_KEEPALIVE_S", "STREAM_MAX_RATE_HZ", "WEB_DIR",
    "ApiContext", "Authed", "HistoryStore", "check_wireless", "create_app", "session_of",
    "snapshot_json",
]


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
    app.state.ctx = ApiContext(device, store, auth, instant_readout_key_changed)

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

    for module in (auth_routes, read, settings, actions, stream):
        app.include_router(module.router)

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
                   include_in_schema=False)
    def api_not_found(rest: str, session: Authed) -> None:
        raise HTTPException(404, f"no such API path: /api/{rest}")

    app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
