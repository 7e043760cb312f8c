"""Polling: the safety net under webhooks (an enmeshed Connector never retries a webhook).

One poll of a channel asks its client for what happened since the channel's cursor and stores
the answer through the one way in (:func:`inbox.inbound.store_request`, source ``poll``), so a
message seen by a webhook and by a poll is one event (the same dedup keys). The new cursor is
saved in the same transaction as the events: a poll whose storing fails leaves the cursor where
it was, and the next poll asks again.

Every pollable channel has a :class:`~inbox.models.PollCursor`, queued work whose
``next_attempt_at`` is the next poll: :data:`POLL_QUEUE` claims due cursors with ``SKIP LOCKED``
(a claim's lease is "one poll in flight"), and every poll also holds a session advisory lock of
its channel, so a poll from the command line never overlaps one of a worker. A failed poll
records the error, counts the failure and backs off (the interval doubled per failure in a row,
capped at ``POLL_MAX_BACKOFF_SECONDS``, and never before the platform's ``Retry-After``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inbox.connectors.outbound import PlatformError
from inbox.connectors.registry import get_connector
from inbox.connectors.settings import value_of
from inbox.db import lock_key, session_lock
from inbox.inbound import store_document
from inbox.inbound.wakeup import Waker
from inbox.models import Channel, PollCursor, Source
from inbox.queue import WorkQueue

from .channels import capabilities, client_for, note_answer, remember

logger = logging.getLogger(__name__)

POLL_QUEUE = WorkQueue(
    PollCursor,
    # Longer than a poll may take: a sync and a few list calls, each under httpx's timeouts.
    lease=timedelta(minutes=5),
    # Polls are never given up: failures back off instead (see ``_backoff``).
    max_attempts=lambda: sys.maxsize,
)
# What the apps plugged into the inbox know that a poll should ask about too (relationships: the
# ones it holds as pending). Each adds to the cursor the client is given.
CursorHint = Callable[[Channel, dict[str, Any]], None]
CURSOR_HINTS: list[CursorHint] = []


def register_cursor_hint(hint: CursorHint) -> None:
    CURSOR_HINTS.append(hint)


DEFAULT_INTERVAL = 60  # seconds, for a platform that declares no poll_interval setting
CLAIM_SIZE = 10


@dataclass(frozen=True)
class PollResult:
    """What one poll of ``channel`` found and stored (``error`` is why it failed)."""

    channel: Channel
    messages: int = 0  # messages the platform answered (seen, not necessarily new)
    relationships: int = 0
    requests: int = 0  # requests stored: 1 when the answer held anything, else 0
    items: int = 0  # events of the stored request
    new_events: int = 0  # of those, not stored before (by webhook or an earlier poll)
    error: str = ""
    skipped: bool = False  # another poll of the channel was in flight, or polling is off

    @property
    def ok(self) -> bool:
        return not self.error and not self.skipped


def poll_interval(channel: Channel) -> int:
    """Seconds between the channel's polls; 0 when its polling is off."""
    declared = get_connector(channel.platform).SETTINGS
    if not any(setting.name == "poll_interval" for setting in declared):
        return DEFAULT_INTERVAL
    value = value_of(declared, channel.settings or {}, "poll_interval")
    return value if isinstance(value, int) and value > 0 else 0


def pollable(channel: Channel) -> bool:
    """Active, able to poll (its capabilities say so) and with polling not turned off."""
    return channel.is_active and capabilities(channel).poll and poll_interval(channel) > 0


def pollable_channels() -> list[Channel]:
    return [channel for channel in Channel.objects.filter(is_active=True) if pollable(channel)]


def ensure_cursors() -> list[Channel]:
    """Give every pollable channel a cursor (due at once when new, or when its polling was
    parked); returns the pollable channels."""
    channels = pollable_channels()
    now = timezone.now()
    PollCursor.objects.bulk_create(
        [PollCursor(channel=channel, next_attempt_at=now) for channel in channels],
        ignore_conflicts=True,
    )
    PollCursor.objects.filter(channel__in=channels, next_attempt_at=None).update(
        next_attempt_at=now
    )
    return channels


def poll_due_channels() -> list[PollResult]:
    """Poll every channel whose next poll has come, each once (claimed with ``SKIP LOCKED``,
    so workers running side by side share the channels and never poll one twice at once)."""
    ensure_cursors()
    started = timezone.now()
    results: list[PollResult] = []
    while True:
        # Only what was due when this run started: a channel polled in this run is due again
        # after its interval, which another run takes.
        ids = POLL_QUEUE.claim(size=CLAIM_SIZE, before=started)
        if not ids:
            return results
        for cursor in PollCursor.objects.filter(id__in=ids).select_related("channel"):
            if not pollable(cursor.channel):
                # Polling was turned off: park the cursor until ensure_cursors re-arms it.
                PollCursor.objects.filter(pk=cursor.pk).update(next_attempt_at=None)
                continue
            results.append(poll_channel(cursor.channel, cursor=cursor))


def poll_channel(channel: Channel, *, cursor: PollCursor | None = None) -> PollResult:
    """Poll ``channel`` once, now (whether due or not), unless another poll of it is in flight.

    Never raises for the platform: a failure is recorded on the cursor and returned in
    :attr:`PollResult.error`.
    """
    if cursor is None:
        cursor, _ = PollCursor.objects.get_or_create(
            channel=channel, defaults={"next_attempt_at": timezone.now()}
        )
    with _poll_lock(channel.pk) as taken:
        if not taken:
            return PollResult(
                channel, error="another poll of this channel is in flight", skipped=True
            )
        cursor.refresh_from_db()  # what the poll before this one (maybe elsewhere) committed
        return _poll(channel, cursor)


def _poll(channel: Channel, cursor: PollCursor) -> PollResult:
    asked = dict(cursor.cursor) if isinstance(cursor.cursor, Mapping) else {}
    for hint in CURSOR_HINTS:
        hint(channel, asked)

    try:
        client = client_for(channel)
    except PlatformError as exc:
        return _failed(channel, cursor, exc)
    try:
        polled = client.poll(cursor=asked)
    except PlatformError as exc:
        remember(channel, client.state())
        note_answer(channel, exc)
        return _failed(channel, cursor, exc)
    finally:
        client.close()
    note_answer(channel)

    document = polled.document
    now = timezone.now()
    try:
        with transaction.atomic():
            stored = (
                store_document(channel=channel, source=Source.POLL, document=document)
                if document
                else None
            )
            PollCursor.objects.filter(pk=cursor.pk).update(
                cursor=dict(polled.cursor),
                last_polled_at=now,
                last_success_at=now,
                failures=0,
                error="",
                next_attempt_at=now + timedelta(seconds=poll_interval(channel) or DEFAULT_INTERVAL),
            )
    except Exception as exc:  # a database failure or a bug: nothing of this poll was kept
        logger.exception("storing the poll of channel %s failed", channel.pk)
        return _failed(channel, cursor, exc)
    remember(channel, polled.state)
    return PollResult(
        channel,
        messages=_count(document, "messages"),
        relationships=_count(document, "relationships"),
        requests=1 if stored else 0,
        items=stored.items if stored else 0,
        new_events=stored.new if stored else 0,
    )


def _failed(channel: Channel, cursor: PollCursor, exc: Exception) -> PollResult:
    """Record a failed poll: the cursor stays, the failure is counted, the next poll waits."""
    error = str(exc) if isinstance(exc, PlatformError) else f"{type(exc).__name__}: {exc}"
    error = error or type(exc).__name__
    now = timezone.now()
    with transaction.atomic():
        failures = (
            PollCursor.objects.select_for_update()
            .values_list("failures", flat=True)
            .get(pk=cursor.pk)
        ) + 1
        retry_after = exc.retry_after if isinstance(exc, PlatformError) else None
        PollCursor.objects.filter(pk=cursor.pk).update(
            last_polled_at=now,
            failures=failures,
            error=error[:4000],
            next_attempt_at=now + _backoff(poll_interval(channel), failures, retry_after),
        )
    logger.warning("polling channel %s failed (%d in a row): %s", channel.pk, failures, error)
    return PollResult(channel, error=error)


def _backoff(interval: int, failures: int, retry_after: float | None) -> timedelta:
    """The wait after ``failures`` failed polls in a row: the interval doubled per failure,
    capped (never below the interval itself), and not before the platform's Retry-After."""
    interval = interval or DEFAULT_INTERVAL
    cap = max(settings.POLL_MAX_BACKOFF_SECONDS, interval)
    seconds = min(interval * (1 << min(failures, 32)), cap)
    return timedelta(seconds=max(seconds, retry_after or 0))


def _count(document: Any, key: str) -> int:
    value = document.get(key) if isinstance(document, Mapping) else None
    return len(value) if isinstance(value, Sequence) and not isinstance(value, str) else 0


def _poll_lock(channel_id: int) -> AbstractContextManager[bool]:
    """The channel's poll lock, held by this database session (not a transaction, so none is
    open while the platform is called) and released when the poll ends or its process dies."""
    return session_lock(lock_key(channel_id, "poll"))


# --- a poll asked for now (the API) ---------------------------------------------------------------

# Wakes the scheduled poll task at once instead of at beat's next tick.
POLL_WAKER = Waker("inbox.tasks.poll_channels")


class CannotPoll(Exception):
    """The channel cannot be polled now; the message says why."""


def queue_poll(channel: Channel) -> PollCursor:
    """Make ``channel``'s next poll due now and wake the poll task after commit: the poll runs
    in a worker with every rule of scheduled polls (one in flight, the cursor kept, failures
    recorded). Raises :class:`CannotPoll` for a disabled channel or one that cannot poll."""
    if not channel.is_active:
        raise CannotPoll("The channel is disabled.")
    if not pollable(channel):
        raise CannotPoll(
            "The channel cannot poll: its platform has nothing to poll, its settings are not "
            "complete, or its polling is turned off (capabilities.poll is false)."
        )
    now = timezone.now()
    cursor, created = PollCursor.objects.get_or_create(
        channel=channel, defaults={"next_attempt_at": now}
    )
    if not created:
        PollCursor.objects.filter(pk=cursor.pk).update(next_attempt_at=now)
        cursor.next_attempt_at = now
    transaction.on_commit(POLL_WAKER.request)
    return cursor
