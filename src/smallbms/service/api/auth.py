"""Logging in and out, and changing the PIN."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from smallbms.service.api.common import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Authed,
    Ctx,
    auth_refusal,
    check_wireless,
)
from smallbms.service.api.models import (
    BODY_RESPONSES,
    ChangePinRequest,
    ErrorResponse,
    LoginRequest,
    LoginResponse,
    OkResponse,
    RequestRefused,
)
from smallbms.service.auth import AuthError

log = logging.getLogger(__name__)

router = APIRouter()


@router.post("/api/login", response_model=LoginResponse, tags=["auth"],
             responses={**BODY_RESPONSES,
                        422: {"model": RequestRefused,
                              "description": "a malformed request, or a PIN that is not 6-12 "
                                             "digits (not counted as a wrong PIN)"},
                        429: {"model": ErrorResponse,
                              "description": "too many wrong PINs: wait (Retry-After)"}})
def login(body: LoginRequest, request: Request, response: Response, ctx: Ctx) -> LoginResponse:
    """Check the PIN and open a session (token in the body and as an HttpOnly cookie)."""
    check_wireless(ctx.device)
    auth = ctx.auth
    client = request.client.host if request.client is not None else "unknown"
    try:
        token = auth.login(body.pin, client)
    except AuthError as e:
        if e.status == 401:
            log.info("wrong PIN at login from %s", client)
        raise auth_refusal(e) from None
    s = auth.session(token)
    assert s is not None
    secure = request.url.scheme == "https"
    max_age = int(auth.session_ttl_s)
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True,
                        samesite="strict", secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, s.csrf_token, max_age=max_age, httponly=False,
                        samesite="strict", secure=secure, path="/")
    return LoginResponse(token=token, csrf_token=s.csrf_token, expires_in_s=auth.session_ttl_s)


@router.post("/api/logout", response_model=OkResponse, tags=["auth"])
def logout(session: Authed, response: Response, ctx: Ctx) -> OkResponse:
    """End this session and clear its cookies."""
    ctx.auth.logout(session.token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return OkResponse()


@router.post("/api/actions/change_pin", response_model=OkResponse, tags=["actions"],
             responses={**BODY_RESPONSES,
                        422: {"model": RequestRefused,
                              "description": "a malformed request, or a current or new PIN "
                                             "that is not 6-12 digits"},
                        429: {"model": ErrorResponse,
                              "description": "too many wrong PINs: wait (Retry-After)"}})
def change_pin(session: Authed, body: ChangePinRequest, ctx: Ctx) -> OkResponse:
    """Change the device PIN (6-12 digits); every other session ends."""
    try:
        ctx.auth.change_pin(body.old, body.new, session.client_id, keep_token=session.token)
    except AuthError as e:
        if e.status == 401:
            log.info("wrong current PIN at a PIN change from %s", session.client_id)
        raise auth_refusal(e) from None
    log.info("PIN changed from %s; other sessions ended", session.client_id)
    return OkResponse(message="PIN changed")
