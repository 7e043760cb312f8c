"""Celery tasks: thin callers of the pipeline and the services."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import pipeline


@shared_task(ignore_result=True)
def process_inbound_events() -> dict[str, int]:
    """Process every due inbound event (claimed with SKIP LOCKED, so workers share the work)."""
    return dict(pipeline.process_due_events())


@shared_task(ignore_result=True)
def sweep_inbound_events() -> dict[str, int]:
    """Process events nobody queued (the broker was down) and failed events due for a retry.

    Events younger than the grace period are left to the task queued for them.
    """
    grace = timedelta(seconds=settings.INBOUND_SWEEP_GRACE_SECONDS)
    return dict(pipeline.process_due_events(received_before=timezone.now() - grace))
