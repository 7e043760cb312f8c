"""Storing what platforms send, and queuing it for the pipeline."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence

from django.db import transaction
from django.utils import timezone

from inbox.connectors.base import Delivery
from inbox.db import get_or_insert
from inbox.models import Channel, InboundEvent

logger = logging.getLogger(__name__)


def receive_events(
    *,
    channel: Channel,
    deliveries: Sequence[Delivery],
    source: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Store deliveries as pending InboundEvents and queue their processing after commit.

    A delivery whose ``(channel, dedup_key)`` is already stored is dropped silently: redelivery
    is normal. Raises ``DatabaseError`` when the rows cannot be stored (the caller answers so
    that the platform retries).
    """
    rows = [
        InboundEvent(
            channel=channel,
            source=source,
            event_name=d.event_name[:200],
            dedup_key=d.dedup_key,
            payload=d.payload,
            headers=dict(headers or {}),
        )
        for d in deliveries
    ]
    with transaction.atomic():
        InboundEvent.objects.bulk_create(rows, ignore_conflicts=True)
        transaction.on_commit(queue_processing)


def record_unreadable_event(
    *, channel: Channel, body: bytes, source: str, headers: Mapping[str, str] | None, error: str
) -> InboundEvent:
    """Keep an authentic body that is not JSON as a failed event, for forensics."""
    event, _ = get_or_insert(
        InboundEvent,
        {"channel": channel, "dedup_key": f"unreadable:{hashlib.sha256(body).hexdigest()}"},
        {
            "source": source,
            "raw_body": body,
            "headers": dict(headers or {}),
            "state": InboundEvent.State.FAILED,
            "error": error,
            "processed_at": timezone.now(),
        },
    )
    return event


def queue_processing() -> None:
    """Ask a worker to process due events. If the broker is unreachable the events stay
    stored and the periodic sweeper picks them up: acknowledging the platform never depends
    on the broker."""
    from inbox.tasks import process_inbound_events

    try:
        process_inbound_events.apply_async(retry=False)
    except Exception:  # the broker is down; stored events are safe
        logger.warning(
            "could not queue processing; the sweeper will pick the events up", exc_info=True
        )


def retry_inbound_event(*, event: InboundEvent) -> None:
    """Queue a failed or ignored event for another run through the pipeline (the replay button)."""
    event.state = InboundEvent.State.PENDING
    event.next_attempt_at = None
    event.error = ""
    event.save(update_fields=["state", "next_attempt_at", "error"])
    transaction.on_commit(queue_processing)
