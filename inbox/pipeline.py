"""The one way in: stored InboundEvents -> connector.parse -> the applier of each event type.

Every source (webhook, websocket listener, poller) stores raw deliveries with
:func:`inbox.services.receive_events`; this module claims them, parses them and applies the
normalized events. Appliers register themselves with :func:`register_applier`, so apps such as
``relationships`` plug in without the core importing them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .connectors.base import PayloadError, get_connector
from .models import InboundEvent

logger = logging.getLogger(__name__)

Applier = Callable[..., Any]
A = TypeVar("A", bound=Applier)
APPLIERS: dict[type, Applier] = {}

# A claimed event is leased for this long; if its worker dies, it becomes due again after it.
LEASE = timedelta(minutes=5)


def register_applier(event_type: type) -> Callable[[A], A]:
    """Make the decorated ``fn(*, channel, event, inbound)`` the applier for ``event_type``."""

    def decorator(fn: A) -> A:
        APPLIERS[event_type] = fn
        return fn

    return decorator


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the ``attempts``-th failure: 30 s, 1 min, 2 min, … capped at one hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def due_events() -> Any:
    now = timezone.now()
    return InboundEvent.objects.filter(
        Q(state=InboundEvent.State.PENDING) | Q(state=InboundEvent.State.FAILED),
        Q(next_attempt_at__isnull=True, state=InboundEvent.State.PENDING)
        | Q(next_attempt_at__lte=now),
    )


def claim_batch(*, size: int, received_before: Any = None) -> list[int]:
    """Lease up to ``size`` due events to this worker and return their ids.

    ``SKIP LOCKED`` lets many workers claim side by side without waiting on each other.
    """
    with transaction.atomic():
        events = due_events()
        if received_before is not None:
            events = events.filter(received_at__lte=received_before)
        ids = list(
            events.order_by("id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:size]
        )
        if ids:
            InboundEvent.objects.filter(id__in=ids).update(next_attempt_at=timezone.now() + LEASE)
    return ids


def process_event(event: InboundEvent) -> str:
    """Parse and apply one stored event in its own transaction; record the outcome.

    Returns the event's new state. A payload the connector cannot understand fails for good;
    any other error is retried with backoff until ``INBOUND_MAX_ATTEMPTS``.
    """
    channel = event.channel
    event.attempts += 1
    try:
        with transaction.atomic():
            connector = get_connector(channel.platform)
            normalized = connector.parse(event.event_name, event.payload, channel.context())
            for item in normalized:
                applier = APPLIERS.get(type(item))
                if applier is None:
                    raise LookupError(f"no applier registered for {type(item).__name__}")
                applier(channel=channel, event=item, inbound=event)
    except PayloadError as exc:
        _finish(event, InboundEvent.State.FAILED, error=f"unreadable payload: {exc}")
    except Exception as exc:  # any failure is recorded on the event and retried
        logger.exception("inbound event %s failed (attempt %s)", event.pk, event.attempts)
        retry_at = None
        if event.attempts < settings.INBOUND_MAX_ATTEMPTS:
            retry_at = timezone.now() + retry_delay(event.attempts)
        _finish(
            event,
            InboundEvent.State.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            next_attempt_at=retry_at,
        )
    else:
        state = InboundEvent.State.PROCESSED if normalized else InboundEvent.State.IGNORED
        _finish(event, state)
    return event.state


def _finish(
    event: InboundEvent, state: str, *, error: str = "", next_attempt_at: Any = None
) -> None:
    event.state = state
    event.error = error
    event.next_attempt_at = next_attempt_at
    event.processed_at = timezone.now()
    event.save(update_fields=["state", "error", "attempts", "next_attempt_at", "processed_at"])


def process_due_events(*, limit: int | None = None, received_before: Any = None) -> Counter[str]:
    """Claim and process due events batch by batch until none are left (or ``limit`` is hit).

    Returns how many ended in each state.
    """
    counts: Counter[str] = Counter()
    batch_size = settings.INBOUND_BATCH_SIZE
    while limit is None or counts.total() < limit:
        size = batch_size if limit is None else min(batch_size, limit - counts.total())
        ids = claim_batch(size=size, received_before=received_before)
        if not ids:
            break
        for event in InboundEvent.objects.filter(id__in=ids).select_related("channel"):
            counts[process_event(event)] += 1
    return counts
