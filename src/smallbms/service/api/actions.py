"""Commands to the device: SoC, defaults, history, mode, wireless, the bank, the Instant
Readout key and the simulated firmware update."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException
from starlette.concurrency import run_in_threadpool

from smallbms.core.types import (
    AcceptBank,
    FirmwareUpdateFinished,
    FirmwareUpdateStarted,
    ResetDefaults,
    ResetHistory,
    SetMode,
    SetSoc,
    SetWireless,
    SyncSoc,
)
from smallbms.service.api.common import ApiContext, Authed, Ctx
from smallbms.service.api.models import (
    BODY_RESPONSES,
    COMMAND_RESPONSES,
    FirmwareUpdateRequest,
    InstantReadoutKey,
    ModeRequest,
    OkResponse,
    SetSocRequest,
    WirelessRequest,
)

log = logging.getLogger(__name__)

router = APIRouter(tags=["actions"])


@router.post("/api/actions/sync_soc", response_model=OkResponse, responses=COMMAND_RESPONSES)
def sync_soc(session: Authed, ctx: Ctx) -> OkResponse:
    """Synchronise the state of charge to 100 % now."""
    return ctx.run(SyncSoc())


@router.post("/api/actions/set_soc", response_model=OkResponse,
             responses={**BODY_RESPONSES, **COMMAND_RESPONSES})
def set_soc(session: Authed, ctx: Ctx, body: SetSocRequest) -> OkResponse:
    """Set the state of charge by hand."""
    return ctx.run(SetSoc(body.value_pct))


@router.post("/api/actions/reset_defaults", response_model=OkResponse,
             responses=COMMAND_RESPONSES)
def reset_defaults(session: Authed, ctx: Ctx) -> OkResponse:
    """Restore the battery monitor settings to their defaults (not the PIN, history or SoC)."""
    out = ctx.run(ResetDefaults())
    log.info("settings reset to their defaults by %s", session.client_id)
    return out


@router.post("/api/actions/regenerate_instant_readout_key", response_model=InstantReadoutKey)
def regenerate_instant_readout_key(session: Authed, ctx: Ctx) -> InstantReadoutKey:
    """Make a new Instant Readout key; every decoder then needs the new one."""
    from smallbms.integrations.instant_readout import regenerate_key

    key = regenerate_key(ctx.store)
    if ctx.instant_readout_key_changed is not None:
        ctx.instant_readout_key_changed(key)
    return InstantReadoutKey(key_hex=key.hex(),
                             broadcasting=ctx.instant_readout_key_changed is not None)


@router.post("/api/actions/reset_history", response_model=OkResponse,
             responses=COMMAND_RESPONSES)
def reset_history(session: Authed, ctx: Ctx) -> OkResponse:
    """Clear the history counters."""
    return ctx.run(ResetHistory())


@router.post("/api/actions/mode", response_model=OkResponse,
             responses={**BODY_RESPONSES, **COMMAND_RESPONSES})
def set_mode(session: Authed, ctx: Ctx, body: ModeRequest) -> OkResponse:
    """Switch the BMS on or off (off: loads and chargers disconnected)."""
    return ctx.run(SetMode(body.value))


@router.post("/api/actions/accept_bank", response_model=OkResponse, responses=COMMAND_RESPONSES)
def accept_bank(session: Authed, ctx: Ctx) -> OkResponse:
    """Accept the batteries found now as the bank (clears E-B05)."""
    return ctx.run(AcceptBank())


@router.post("/api/actions/wireless", response_model=OkResponse,
             responses={**BODY_RESPONSES, **COMMAND_RESPONSES})
def set_wireless(session: Authed, ctx: Ctx, body: WirelessRequest) -> OkResponse:
    """Enable or disable wireless access (the app connection); after disabling it, it is
    available only for 30 s after each power-up."""
    return ctx.run(SetWireless(body.value == "on"))


def _finish(ctx: ApiContext, cmd: FirmwareUpdateFinished) -> None:
    try:
        ctx.device.command(cmd)
    except Exception:  # the device stopped meanwhile: nothing to finish
        log.exception("could not finish the simulated firmware update")


@router.post("/api/actions/firmware_update", response_model=OkResponse,
             responses={**BODY_RESPONSES, **COMMAND_RESPONSES})
async def firmware_update(
    session: Authed, ctx: Ctx, body: Annotated[FirmwareUpdateRequest | None, Body()] = None,
) -> OkResponse:
    """Start a simulated battery firmware update; it ends after ``duration_s`` with
    ``result``. During it charging is off; a failed update cuts the loads 120 s later."""
    req = body or FirmwareUpdateRequest()
    if ctx.snap()["status"]["firmware_update"] == "updating":
        raise HTTPException(409, "a firmware update is already running")
    await run_in_threadpool(ctx.run, FirmwareUpdateStarted())
    delay_s = req.duration_s / float(ctx.device.speed)

    # a timer thread (not the tick thread, not the event loop) sends the result later; it
    # outlives the request and does not depend on which event loop served it
    timer = threading.Timer(delay_s, _finish,
                            args=(ctx, FirmwareUpdateFinished(req.result == "success")))
    timer.daemon = True
    timer.name = "firmware-update-sim"
    timer.start()
    return OkResponse(message=f"firmware update started; ends in {req.duration_s:g} s "
                              f"({req.result})")
