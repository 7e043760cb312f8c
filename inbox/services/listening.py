"""The Comapi websocket listener: every listening channel's socket, in one asyncio loop.

Each frame a socket delivers is stored through the one way in
(:func:`inbox.inbound.store_document`, source ``websocket``), which keys it by its ``eventId``,
so the same event seen by the socket, a webhook and the gap fill is one row, and which wakes the
workers after a new row. After every (re)connect the channel is polled once
(:func:`inbox.services.polling.poll_channel`): Comapi's events endpoint answers what the socket
missed while it was away, for the conversations :func:`comapi_gap_hint` adds to the cursor.

The loop re-reads the channels every :data:`RECHECK_SECONDS`: new or changed channels start
(again), removed ones stop; with none it idles and says so. Database work runs in threads of the
listener's own (the ORM is synchronous), one for the frames so each channel's frames are stored
in the order they came.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import signal
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections, connection, connections
from django.db.models import Max, Q

from inbox.choices import ConversationStatus, Direction, Platform
from inbox.connectors.comapi.channel import KEEPALIVE, missing_settings
from inbox.connectors.outbound import ClientConfig, PlatformError
from inbox.connectors.timestamps import parse_iso
from inbox.inbound import store_document
from inbox.models import Channel, Conversation, Source

from .polling import poll_channel

logger = logging.getLogger(__name__)

RECHECK_SECONDS = 60.0


# --- which channels listen -----------------------------------------------------------------------


def can_listen(channel: Channel) -> bool:
    """An active Comapi channel with what a session needs (API space, profile, JWT settings)."""
    if not channel.is_active or channel.platform != Platform.COMAPI:
        return False
    credentials = channel.credentials if isinstance(channel.credentials, dict) else {}
    secrets = {name for name, value in credentials.items() if value}
    return not missing_settings(settings=channel.settings or {}, secrets=secrets)


def listening_channels(keys: Sequence[uuid.UUID] | None = None) -> list[Channel]:
    """The channels to listen to: those of ``keys`` (all Comapi channels when None) that can."""
    found = Channel.objects.filter(platform=Platform.COMAPI, is_active=True)
    if keys is not None:
        found = found.filter(key__in=list(keys))
    return [channel for channel in found.order_by("pk") if can_listen(channel)]


# --- the gap fill's cursor hint --------------------------------------------------------------


def comapi_gap_hint(channel: Channel, cursor: dict[str, Any]) -> None:
    """Give the gap fill every open conversation of a Comapi ``channel``.

    One not in ``cursor["conversations"]`` yet is added at the highest ``conversationEventId``
    stored for its incoming messages (``Message.sequence``; -1 without any): the events after
    it are fetched. One already there keeps its value, even below what is stored: that value
    is how far the gap fill itself has read without a hole, while a stored message may lie
    beyond events nobody saw (our own reply, sent while the socket was away, is numbered after
    them), so moving past it could skip them for good; reading a few events twice costs only
    requests (they collapse by ``eventId``). Conversations of the channel that are no longer
    open leave the cursor. One the gap fill found gone (404) stays out unless something
    happened in it since (a message received or its status changed after it went).
    """
    if channel.platform != Platform.COMAPI:
        return
    known = cursor.get("conversations")
    conversations = dict(known) if isinstance(known, Mapping) else {}
    listed = cursor.get("gone")
    gone = dict(listed) if isinstance(listed, Mapping) else {}
    rows = (
        Conversation.objects.filter(channel=channel)
        .annotate(
            last=Max("messages__sequence", filter=Q(messages__direction=Direction.IN)),
            latest=Max("messages__received_at"),
        )
        .values_list("external_id", "status", "last", "latest", "status_at")
    )
    for external_id, status, last, latest, status_at in rows:
        if status != ConversationStatus.OPEN:
            conversations.pop(external_id, None)
            continue
        if external_id in gone:
            went = _time_or_none(gone[external_id])
            newer = [moment for moment in (latest, status_at) if moment is not None]
            if went is not None and not any(moment > went for moment in newer):
                continue
            del gone[external_id]
        current = conversations.get(external_id)
        if not isinstance(current, int) or isinstance(current, bool):
            conversations[external_id] = last if last is not None else -1
    cursor["conversations"] = conversations
    if isinstance(listed, Mapping):
        cursor["gone"] = gone


def _time_or_none(value: Any) -> datetime | None:
    try:
        return parse_iso(value)
    except ValueError:
        return None


# --- listening ---------------------------------------------------------------------------------


@dataclass
class _Listening:
    channel: Channel
    fingerprint: str
    stop: asyncio.Event
    task: asyncio.Task[None]


async def listen_channels(
    *,
    stop: asyncio.Event,
    keys: Sequence[uuid.UUID] | None = None,
    keepalive: float | None = None,
    max_backoff: float = 30,
    base_backoff: float = 1,
    recheck: float = RECHECK_SECONDS,
) -> None:
    """Listen to the channels of ``keys`` (every listening Comapi channel when None) until
    ``stop`` is set, re-reading them every ``recheck`` seconds. ``keepalive`` overrides the
    channels' own setting (tests). Returns promptly once ``stop`` is set; never raises for a
    platform, the network or the database (each is logged and retried).
    """
    loop = asyncio.get_running_loop()
    frames = ThreadPoolExecutor(max_workers=1, thread_name_prefix="listener-frames")
    gap_fills = ThreadPoolExecutor(max_workers=2, thread_name_prefix="listener-gap-fill")
    running: dict[int, _Listening] = {}
    idle = False
    try:
        while not stop.is_set():
            try:
                wanted = await loop.run_in_executor(frames, _read_channels, keys)
            except DatabaseError:
                logger.exception("listener: cannot read the channels; keeping the ones running")
                wanted = None
            if wanted is not None:
                await _stop_changed(running, wanted)
                for channel, fingerprint in wanted.values():
                    if channel.pk not in running:
                        running[channel.pk] = _start(
                            channel,
                            fingerprint,
                            frames=frames,
                            gap_fills=gap_fills,
                            keepalive=keepalive,
                            max_backoff=max_backoff,
                            base_backoff=base_backoff,
                        )
            if not running and not idle:
                logger.info(
                    "listener idle: no active Comapi channel has the settings the websocket "
                    "needs (api_space_id, profile_id, jwt_issuer, jwt_audience, jwt_secret); "
                    "checking again every %.0f s",
                    recheck,
                )
            idle = not running
            await _sleep(stop, recheck)
    finally:
        for listening in running.values():
            listening.stop.set()
        await asyncio.gather(*(lst.task for lst in running.values()), return_exceptions=True)
        # The frames thread's database connection is ours to close; gap fills close their own.
        await loop.run_in_executor(frames, connections.close_all)
        frames.shutdown(wait=True)
        gap_fills.shutdown(wait=False, cancel_futures=True)
        logger.info("listener stopped")


def run_listener(keys: Sequence[uuid.UUID] | None = None) -> None:
    """``manage.py listen``: listen until SIGTERM or SIGINT (a clean stop on either)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await listen_channels(stop=stop, keys=keys)
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    asyncio.run(main())


def _read_channels(keys: Sequence[uuid.UUID] | None) -> dict[int, tuple[Channel, str]]:
    close_old_connections()
    return {c.pk: (c, _fingerprint(c)) for c in listening_channels(keys)}


async def _stop_changed(
    running: dict[int, _Listening], wanted: Mapping[int, tuple[Channel, str]]
) -> None:
    """Stop the sockets of channels gone or changed (those changed start again afresh)."""
    for pk, listening in list(running.items()):
        if pk in wanted and wanted[pk][1] == listening.fingerprint:
            continue
        logger.info("listener: channel %s changed or left; its socket stops", pk)
        listening.stop.set()
        await asyncio.gather(listening.task, return_exceptions=True)
        del running[pk]


def _start(
    channel: Channel,
    fingerprint: str,
    *,
    frames: ThreadPoolExecutor,
    gap_fills: ThreadPoolExecutor,
    keepalive: float | None,
    max_backoff: float,
    base_backoff: float,
) -> _Listening:
    from inbox.connectors.comapi import socket  # websockets, httpx, PyJWT: only where it runs

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    store = sync_to_async(_store_frame, thread_sensitive=False, executor=frames)

    async def on_frame(frame: dict[str, Any]) -> None:
        await store(channel, frame)

    async def on_connect() -> None:
        await loop.run_in_executor(gap_fills, _gap_fill, channel.pk)

    every = keepalive if keepalive is not None else _keepalive(channel)
    config = _config(channel)
    logger.info("listener: channel %s (%s) listens", channel.pk, channel.name)
    task = asyncio.create_task(
        socket.listen(
            config,
            on_frame=on_frame,
            on_connect=on_connect,
            stop=stop,
            keepalive=every,
            max_backoff=max_backoff,
            base_backoff=base_backoff,
        ),
        name=f"comapi-socket-{channel.pk}",
    )
    task.add_done_callback(lambda done: _ended(channel, done))
    return _Listening(channel=channel, fingerprint=fingerprint, stop=stop, task=task)


def _ended(channel: Channel, task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    failure = task.exception()
    if isinstance(failure, PlatformError):
        # Its settings cannot make a socket (a ws_url that is not one): until they change.
        logger.error("listener: channel %s cannot listen: %s", channel.pk, failure)
    elif failure is not None:
        logger.error("listener: channel %s's socket failed", channel.pk, exc_info=failure)


def _store_frame(channel: Channel, frame: dict[str, Any]) -> None:
    close_old_connections()
    store_document(channel=channel, source=Source.WEBSOCKET, document=frame)


def _gap_fill(channel_pk: int) -> None:
    try:
        channel = Channel.objects.filter(pk=channel_pk, is_active=True).first()
        if channel is None:
            return
        result = poll_channel(channel)
        if result.error and not result.skipped:
            logger.warning("listener: gap fill of channel %s failed: %s", channel_pk, result.error)
        elif result.new_events:
            logger.info(
                "listener: gap fill of channel %s found %d new events",
                channel_pk,
                result.new_events,
            )
    finally:
        connection.close()  # a thread of our pool: its connection is not anyone else's


def _config(channel: Channel) -> ClientConfig:
    credentials = channel.credentials if isinstance(channel.credentials, dict) else {}
    return ClientConfig(
        settings=channel.settings or {},
        credentials={k: str(v) for k, v in credentials.items()},
        state=channel.learned or {},
    )


def _keepalive(channel: Channel) -> float:
    value = (channel.settings or {}).get("keepalive", KEEPALIVE)
    return float(value) if isinstance(value, int) and value > 0 else float(KEEPALIVE)


def _fingerprint(channel: Channel) -> str:
    """Changes when anything the socket is built from changes (never logged: it covers the
    secret)."""
    credentials = channel.credentials if isinstance(channel.credentials, dict) else {}
    material = json.dumps([channel.settings or {}, credentials], sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
