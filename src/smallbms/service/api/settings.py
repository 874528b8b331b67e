"""Reading and changing the battery monitor's settings."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import JSONResponse

from smallbms.core.types import ChangeSettings
from smallbms.service.api.common import Authed, Ctx
from smallbms.service.api.models import (
    BODY_RESPONSES,
    COMMAND_RESPONSES,
    SettingsRefused,
    SettingsResponse,
)

log = logging.getLogger(__name__)

router = APIRouter(tags=["settings"])


def _blank(values: dict[str, Any]) -> JSONResponse | None:
    """The 422 for a setting sent without a value (an emptied field on a form), if any."""
    for name, value in values.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            return JSONResponse({"detail": [{"setting": name, "message": "enter a value"}]}, 422)
    return None


@router.get("/api/settings", response_model=SettingsResponse)
def get_settings(session: Authed, ctx: Ctx) -> dict[str, Any]:
    """Every setting's value, with its label, unit, range and help text."""
    st: dict[str, Any] = ctx.snap()["settings"]
    return st


@router.put("/api/settings", response_model=SettingsResponse,
            responses={**BODY_RESPONSES, 422: {"model": SettingsRefused},
                       504: COMMAND_RESPONSES[504]})
def put_settings(
    session: Authed,
    ctx: Ctx,
    values: Annotated[dict[str, Any], Body(examples=[{"discharge_floor_pct": 15}])],
) -> Any:
    """Change settings, all or nothing: refused with 422 naming the setting, nothing changed."""
    blank = _blank(values)
    if blank is not None:
        return blank
    # one core command, all or nothing: the core checks the values together (warning level
    # at or above the floor on the result) and the state saved after that tick holds all of
    # them or none
    with ctx.settings_lock:
        try:
            res = ctx.device.command(ChangeSettings(values))
        except TimeoutError:
            raise HTTPException(504, "the device did not answer in time") from None
    if res.accepted:
        log.info("settings changed by %s: %s", session.client_id,
                 ", ".join(f"{k} = {v}" for k, v in values.items()))
    if not res.accepted:
        name = res.setting or next(iter(values), "")
        msg = res.message.partition(": ")[2] if res.setting else res.message
        return JSONResponse({"detail": [{"setting": name, "message": msg}]}, 422)
    # the tick that applied the command made the snapshot before it answered
    out: dict[str, Any] = ctx.snap()["settings"]
    return out
