"""Processing stored events: claim, parse, apply, finish.

Each event is parsed and applied in its own transaction, so a failure leaves no partial rows:
- applied -> ``processed``; parsed to nothing (authentic, but nothing the inbox uses) ->
  ``ignored``;
- a payload the connector cannot understand, or values that cannot fit a column (a sequence of
  1e30, a date past year 9999) -> ``failed`` for good, with the reason: retrying cannot help;
- any other error -> ``failed`` with a retry after a growing delay, until ``INBOUND_MAX_ATTEMPTS``
  attempts (counted at claim, so an event that kills its worker is given up too).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DataError, transaction
from django.utils import timezone

from inbox.connectors.contract import ChannelContext, PayloadError
from inbox.connectors.registry import get_connector
from inbox.live import Change, publish_on_commit
from inbox.models import InboundEvent
from inbox.queue import WorkQueue

from .appliers import applier_for

logger = logging.getLogger(__name__)

INBOUND_QUEUE = WorkQueue(
    InboundEvent,
    lease=timedelta(minutes=5),
    max_attempts=lambda: settings.INBOUND_MAX_ATTEMPTS,
)

# Besides PayloadError: errors the same event would raise again on every retry.
PERMANENT = (DataError, OverflowError)


def process_event(event: InboundEvent) -> str:
    """Parse and apply one claimed event in its own transaction; record and return its state."""
    if INBOUND_QUEUE.exhausted(event):
        why = event.error or "its worker stopped before it finished (killed or out of memory?)"
        _finish(
            event,
            InboundEvent.State.FAILED,
            error=f"gave up after {event.attempts - 1} attempts; the last: {why}",
        )
        return event.state
    channel = event.channel
    connector = get_connector(channel.platform)
    context = ChannelContext(platform=channel.platform, settings=dict(channel.settings))
    try:
        with transaction.atomic():
            normalized = connector.parse(
                event_name=event.event_name,
                payload=event.payload,
                envelope=event.envelope or {},
                context=context,
            )
            changes: list[Change] = []
            for item in normalized:
                changes += applier_for(type(item))(channel=channel, event=item, inbound=event)
            publish_on_commit(changes)
    except PayloadError as exc:
        _finish(event, InboundEvent.State.FAILED, error=f"unreadable payload: {exc}")
    except PERMANENT as exc:
        _finish(event, InboundEvent.State.FAILED, error=f"value does not fit: {exc}")
    except Exception as exc:  # any other failure is recorded on the event and retried
        logger.exception("inbound event %s failed (attempt %s)", event.pk, event.attempts)
        _finish(
            event,
            InboundEvent.State.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            next_attempt_at=INBOUND_QUEUE.next_attempt(event),
        )
    else:
        state = InboundEvent.State.PROCESSED if normalized else InboundEvent.State.IGNORED
        _finish(event, state)
    return event.state


def _finish(
    event: InboundEvent, state: str, *, error: str = "", next_attempt_at: datetime | None = None
) -> None:
    event.state = state
    event.error = error[:4000]
    event.next_attempt_at = next_attempt_at
    event.processed_at = timezone.now()
    event.save(update_fields=["state", "error", "next_attempt_at", "processed_at"])


def process_due_events(
    *, limit: int | None = None, received_before: datetime | None = None
) -> Counter[str]:
    """Claim and process due events batch by batch until none are left (or ``limit`` is hit).

    ``received_before`` leaves younger work alone (the sweeper's grace period). Returns how many
    ended in each state.
    """
    counts: Counter[str] = Counter()
    batch_size = settings.INBOUND_BATCH_SIZE
    while limit is None or counts.total() < limit:
        size = batch_size if limit is None else min(batch_size, limit - counts.total())
        ids = INBOUND_QUEUE.claim(size=size, before=received_before)
        if not ids:
            break
        for event in InboundEvent.objects.filter(id__in=ids).select_related("channel"):
            counts[process_event(event)] += 1
    return counts
