"""Replay: the repair tool after a parser fix.

Replaying an *event* runs its stored item through the current parser again. Replaying a
*request* splits its stored bytes again with the current code: items it did not yield before
are stored, and the items it yields are stored as split now and processed again (appliers are
idempotent, so processing twice changes nothing that was right).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from inbox.models import InboundEvent, InboundRequest

from .storing import (
    MAX_EVENT_NAME_LENGTH,
    clamp_key,
    event_rows,
    insert_events,
    plain_text,
    split_body,
    unstorable,
)
from .wakeup import wake_workers


@dataclass(frozen=True)
class Replayed:
    queued: int  # events queued for processing again
    skipped: int  # events that cannot be replayed (their item could not be stored)


def replay_events(events: Iterable[InboundEvent]) -> Replayed:
    """Queue events for another run through the pipeline, with a fresh count of attempts."""
    ids = [event.pk for event in events]
    with transaction.atomic():
        replayable = InboundEvent.objects.filter(id__in=ids, payload__isnull=False)
        queued = replayable.update(
            state=InboundEvent.State.PENDING,
            attempts=0,
            error="",
            next_attempt_at=timezone.now(),
            processed_at=None,
        )
        if queued:
            transaction.on_commit(wake_workers)
    return Replayed(queued=queued, skipped=len(ids) - queued)


def replay_requests(requests: Iterable[InboundRequest]) -> Replayed:
    """Split stored requests again and queue every item they yield now."""
    queued = skipped = 0
    for request in requests:
        with transaction.atomic():
            items, error = split_body(request.channel.platform, bytes(request.body))
            request.error, request.item_count = error, len(items)
            request.save(update_fields=["error", "item_count"])
            now = timezone.now()
            insert_events(request, event_rows(request.channel, items, now))
            for item in items:
                updated = InboundEvent.objects.filter(
                    channel=request.channel, dedup_key=clamp_key(item.dedup_key)
                )
                if unstorable(item.payload) or unstorable(item.envelope):
                    skipped += 1
                    continue
                queued += updated.update(
                    request=request,
                    event_name=plain_text(item.event_name)[:MAX_EVENT_NAME_LENGTH],
                    payload=item.payload,
                    envelope=dict(item.envelope),
                    state=InboundEvent.State.PENDING,
                    attempts=0,
                    error="",
                    next_attempt_at=now,
                    processed_at=None,
                )
            if queued:
                transaction.on_commit(wake_workers)
    return Replayed(queued=queued, skipped=skipped)
