"""The live event stream of the web inbox: server-sent events fed by Redis pub/sub.

``GET /live/`` streams, to a logged-in user, the changes the services publish after commit
(:data:`inbox.live.LIVE_CHANNEL`) for the channels that user may see — nothing of another
channel. Under an ASGI server (uvicorn) the stream is an async generator holding no thread; a
WSGI server would buffer the endless response, so there — and without Redis, where there is
nothing to stream from — the endpoint answers 204 and the pages fall back to polling, as they do
when the stream breaks.

Each connection lives ``STREAM_SECONDS`` at the most (the browser reconnects at once, and the
visible channels are read again), with a comment line every ``KEEPALIVE_SECONDS`` so proxies
keep it open.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Collection
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse

from . import LIVE_CHANNEL

logger = logging.getLogger(__name__)

STREAM_SECONDS = 300.0
KEEPALIVE_SECONDS = 15.0
RETRY_MILLISECONDS = 2000


def visible(changes: list[dict[str, Any]], channels: Collection[int]) -> list[dict[str, Any]]:
    """The changes of ``channels`` (the stream's user may see no other)."""
    return [c for c in changes if isinstance(c, dict) and c.get("channel") in channels]


def frame(changes: list[dict[str, Any]]) -> str:
    """One server-sent event holding a batch of changes."""
    return f"event: changes\ndata: {json.dumps(changes, separators=(',', ':'))}\n\n"


async def stream(
    channels: Collection[int], *, seconds: float = STREAM_SECONDS
) -> AsyncIterator[str]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(LIVE_CHANNEL)
        yield f"retry: {RETRY_MILLISECONDS}\n: connected\n\n"
        ends = time.monotonic() + seconds
        quiet_since = time.monotonic()
        while (left := ends - time.monotonic()) > 0:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=min(KEEPALIVE_SECONDS, left)
            )
            if message is None:  # a timeout, or a subscription notice (also None)
                if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                    quiet_since = time.monotonic()
                    yield ": keep-alive\n\n"
                continue
            try:
                changes = json.loads(message["data"])
            except (TypeError, ValueError):
                continue
            shown = visible(changes if isinstance(changes, list) else [], channels)
            if shown:
                quiet_since = time.monotonic()
                yield frame(shown)
    except Exception:  # Redis went away: the page notices the end and polls meanwhile
        logger.warning("the live stream stopped", exc_info=True)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        await client.aclose()


async def live_events(request: HttpRequest) -> HttpResponseBase:
    """The event stream of the requesting user (401 when not logged in, 204 without Redis)."""
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse(status=401)
    if not settings.REDIS_URL or not isinstance(request, ASGIRequest):
        # No Redis, or a WSGI server (it would buffer an endless stream): the page polls.
        return HttpResponse(status=204)
    from inbox.models import Channel

    def visible_channels() -> set[int]:
        return set(Channel.objects.visible_to(user).values_list("pk", flat=True))

    channels = await sync_to_async(visible_channels)()
    response = StreamingHttpResponse(stream(channels), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events on at once
    return response
