"""Reading the device: status, bank, batteries, history, the code log and recorded series."""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from smallbms.model.codes import CODE_INFO
from smallbms.service.api.common import (
    DEFAULT_SERIES_FIELDS,
    MAX_SERIES_POINTS,
    Authed,
    Ctx,
    clean,
)
from smallbms.service.api.models import (
    INVALID_RESPONSES,
    BankResponse,
    BatteryInfo,
    CodeLogEntry,
    ErrorResponse,
    FieldTable,
    HistoryValues,
    InstantReadoutKey,
    RequestRefused,
    SeriesResponse,
    StatusResponse,
)
from smallbms.service.words import fields_json

router = APIRouter(tags=["read"])


@router.get("/api/status", response_model=StatusResponse)
def get_status(session: Authed, ctx: Ctx) -> dict[str, Any]:
    """The status page: SoC, mode, allowed to charge/discharge, V, A, W, Ah, outputs, LEDs,
    and the active warnings, alarms and errors."""
    s = ctx.snap()
    return {k: s[k] for k in ("t_s", "wall_s", "profile", "status", "active_codes")}


@router.get("/api/bank", response_model=BankResponse)
def get_bank(session: Authed, ctx: Ctx) -> dict[str, Any]:
    """The battery page: bank layout, balancer, cell extremes and every battery's cells."""
    s = ctx.snap()
    st = s["status"]
    return {"bank": s["bank"], "balancer": st["balancer"], "min_cell_v": st["min_cell_v"],
            "max_cell_v": st["max_cell_v"], "min_temperature_c": st["min_temperature_c"],
            "max_temperature_c": st["max_temperature_c"], "batteries": s["batteries"]}


@router.get("/api/batteries/{index}", response_model=BatteryInfo,
            responses={**INVALID_RESPONSES, 404: {"model": ErrorResponse}})
def get_battery(index: int, session: Authed, ctx: Ctx) -> dict[str, Any]:
    """One battery: serial, capacity, firmware, temperature, voltage, current, cells."""
    bats: list[dict[str, Any]] = ctx.snap()["batteries"]
    if not 0 <= index < len(bats):
        raise HTTPException(404, f"no battery {index}; the bank has {len(bats)} (0-based)")
    return bats[index]


@router.get("/api/history", response_model=HistoryValues)
def get_history(session: Authed, ctx: Ctx) -> dict[str, Any]:
    """The history page: deepest discharge, energy, cycles, extremes, last errors."""
    h: dict[str, Any] = ctx.snap()["history"]
    return h


@router.get("/api/fields", response_model=FieldTable)
def get_fields(session: Authed) -> dict[str, Any]:
    """The field table (label, unit, precision of every value) and the words for reasons,
    outputs, balancer and LED states: what the pages show next to the numbers."""
    return fields_json()


@router.get("/api/instant-readout", response_model=InstantReadoutKey)
def instant_readout_key(session: Authed, ctx: Ctx) -> InstantReadoutKey:
    """The device's Instant Readout key (made on first use), for decoders and apps."""
    from smallbms.integrations.instant_readout import ensure_key

    return InstantReadoutKey(key_hex=ensure_key(ctx.store).hex(),
                             broadcasting=ctx.instant_readout_key_changed is not None)


@router.get("/api/codes", response_model=list[CodeLogEntry], responses=INVALID_RESPONSES)
def get_codes(
    session: Authed,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[float | None, Query(description="only entries before this Unix time")]
    = None,
) -> list[dict[str, Any]]:
    """The code log: every raise and clear, newest first."""
    rows = ctx.store.code_log(limit, before)
    out = []
    for r in rows:
        row = dict(r)
        info = CODE_INFO.get(str(row.get("code")))
        if info is not None:
            row.setdefault("name", info.name)
            row.setdefault("kind", info.kind)
        out.append(row)
    return out


@router.get("/api/series", response_model=SeriesResponse,
            responses={422: {"model": RequestRefused,
                             "description": "a malformed request, or since after until, or "
                                            "unknown fields"}})
def get_series(
    session: Authed,
    ctx: Ctx,
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
    until_s = until if until is not None else float(ctx.snap().get("wall_s", time.time()))
    since_s = since if since is not None else until_s - 6 * 3600.0
    if since_s > until_s:
        raise HTTPException(422, "since must not be after until")
    names = list(dict.fromkeys(f.strip() for f in fields.split(",") if f.strip()))
    if not names:
        raise HTTPException(422, "fields must be a comma-separated list of sample names")
    try:
        raw = ctx.store.series(since_s, until_s, points, names)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    return {"since_wall_s": since_s, "until_wall_s": until_s, "fields": names,
            "points": [clean(dict(r)) for r in raw]}
