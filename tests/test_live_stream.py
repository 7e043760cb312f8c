"""The live event stream: server-sent events from Redis pub/sub, only of the visible channels."""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncRequestFactory

from inbox.live import Change, publish
from inbox.live.stream import live_events
from tests.factories import ChannelFactory


def open_stream(user: Any) -> Any:
    request = AsyncRequestFactory().get("/live/")  # an ASGIRequest, as under uvicorn

    async def auser() -> Any:
        return user

    request.auser = auser  # what the authentication middleware provides
    return request


async def next_frame(chunks: Any) -> str:
    return (await asyncio.wait_for(chunks.__anext__(), timeout=10)).decode()


def test_a_member_gets_the_changes_of_their_channels_and_nothing_else(member, connected):
    other = ChannelFactory(platform="comapi")

    async def run() -> tuple[str, str]:
        response = await live_events(open_stream(member))
        assert response["Content-Type"] == "text/event-stream"
        chunks = response.streaming_content.__aiter__()
        first = await next_frame(chunks)  # subscribed by now
        await sync_to_async(publish)(
            [
                Change("message.created", other.pk, 1, 2),
                Change("message.created", connected.pk, 3, 4),
            ]
        )
        second = await next_frame(chunks)
        await chunks.aclose()
        return first, second

    first, second = async_to_sync(run)()
    assert first.startswith("retry: 2000\n")
    change = f'{{"kind":"message.created","channel":{connected.pk},"conversation":3,"message":4}}'
    assert second == f"event: changes\ndata: [{change}]\n\n"


def test_a_batch_of_other_channels_only_sends_nothing(member, connected, monkeypatch):
    from inbox.live import stream

    monkeypatch.setattr(stream, "KEEPALIVE_SECONDS", 0.2)
    other = ChannelFactory(platform="comapi")

    async def run() -> str:
        response = await live_events(open_stream(member))
        chunks = response.streaming_content.__aiter__()
        await next_frame(chunks)
        await sync_to_async(publish)([Change("typing", other.pk, 1)])
        frame = await next_frame(chunks)
        await chunks.aclose()
        return frame

    assert async_to_sync(run)() == ": keep-alive\n\n"


def test_anonymous_is_refused_and_without_redis_or_under_wsgi_the_page_polls(
    db, member, settings, rf
):
    from django.contrib.auth.models import AnonymousUser

    assert async_to_sync(live_events)(open_stream(AnonymousUser())).status_code == 401
    under_wsgi = rf.get("/live/")
    under_wsgi.auser = open_stream(member).auser
    assert async_to_sync(live_events)(under_wsgi).status_code == 204
    settings.REDIS_URL = ""
    assert async_to_sync(live_events)(open_stream(member)).status_code == 204
