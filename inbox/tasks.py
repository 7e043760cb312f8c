"""Celery tasks: thin callers of the way in."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import inbound


@shared_task(ignore_result=True)
def process_inbound_events() -> dict[str, int]:
    """Process every due inbound event (claimed with SKIP LOCKED, so workers share the work)."""
    return dict(inbound.process_due_events())


@shared_task(ignore_result=True)
def sweep_inbound_events() -> dict[str, int]:
    """Process events nobody queued (the broker was down) and failed events due for a retry.

    Work that became due within the grace period is left to the task queued for it.
    """
    grace = timedelta(seconds=settings.INBOUND_SWEEP_GRACE_SECONDS)
    return dict(inbound.process_due_events(received_before=timezone.now() - grace))


@shared_task(ignore_result=True)
def prune_inbound_events() -> dict[str, int]:
    """Delete processed and ignored events past the retention (failed ones are kept)."""
    pruned = inbound.prune_inbound(older_than=timedelta(days=settings.INBOUND_RETENTION_DAYS))
    return {"events": pruned.events, "requests": pruned.requests}
