"""The live stream: Server-Sent Events, one snapshot per tick."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from smallbms.service.api.common import (
    STOPPING_MESSAGE,
    STREAM_KEEPALIVE_S,
    STREAM_MAX_RATE_HZ,
    ApiContext,
    Authed,
    Ctx,
    snapshot_json,
)
from smallbms.service.auth import wireless_refusal

router = APIRouter(tags=["read"])


@router.get("/api/stream",
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "one `data:` line of snapshot JSON per tick"}})
async def stream(request: Request, session: Authed, ctx: Ctx) -> StreamingResponse:
    """Server-Sent Events: the full snapshot every tick (at most 10 per second)."""
    return StreamingResponse(_events(ctx, request, session.token), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _events(ctx: ApiContext, request: Request, token: str) -> AsyncIterator[str]:
    # the tick thread fills a small queue; this loop polls it without blocking the event
    # loop or holding a worker thread, keeping only the newest snapshot per interval
    period = 1.0 / STREAM_MAX_RATE_HZ
    connected = getattr(ctx.device, "client_connected", None)
    if connected is not None:  # a live app session lights the Bluetooth LED (SPEC 8)
        connected(1)
    try:
        async for chunk in _stream_body(ctx, request, token, period):
            yield chunk
    finally:
        if connected is not None:
            connected(-1)


def _closed(message: str) -> str:
    """The event that tells the page why the stream ends."""
    return f"event: closed\ndata: {json.dumps({'detail': message})}\n\n"


async def _stream_body(ctx: ApiContext, request: Request, token: str,
                       period: float) -> AsyncIterator[str]:
    with ctx.device.subscribe() as sub:
        yield "retry: 2000\n\n"
        first = ctx.snap()
        if first:
            yield f"data: {snapshot_json(first)}\n\n"
        last_sent = time.monotonic()
        while True:
            await asyncio.sleep(period)
            if ctx.closing.is_set():
                yield _closed(STOPPING_MESSAGE)
                return
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
                if why is not None or ctx.auth.session(token) is None:
                    msg = why or "the session has ended; log in again"
                    yield _closed(msg)
                    return
                yield f"data: {snapshot_json(latest)}\n\n"
                last_sent = now
            elif now - last_sent >= STREAM_KEEPALIVE_S:
                yield ": keep-alive\n\n"
                last_sent = now
