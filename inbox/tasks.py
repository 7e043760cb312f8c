"""Celery tasks: thin callers of the way in."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import inbound, outbound


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


@shared_task(ignore_result=True)
def process_outbound_commands() -> dict[str, int]:
    """Carry out every due outbound command (replies, receipts, decisions)."""
    return dict(outbound.process_due_commands())


@shared_task(ignore_result=True)
def sweep_outbound_commands() -> dict[str, int]:
    """Commands nobody was woken for (the broker was down) and retries that became due."""
    return dict(outbound.process_due_commands())


@shared_task(ignore_result=True)
def poll_channels() -> dict[str, int]:
    """Poll every channel whose next poll is due (beat, every POLL_SCHEDULE_SECONDS)."""
    from .services.polling import poll_due_channels

    results = poll_due_channels()
    return {
        "polled": sum(1 for r in results if r.ok),
        "failed": sum(1 for r in results if r.error and not r.skipped),
        "new_events": sum(r.new_events for r in results),
    }


@shared_task(ignore_result=True)
def download_attachments() -> dict[str, int]:
    """Download pending attachments (woken after commit; beat retries what is still pending)."""
    from .services.downloads import download_due_attachments

    return dict(download_due_attachments())


@shared_task(ignore_result=True)
def prune_uploads() -> int:
    """Delete the uploads no reply took before they expired (rows and files)."""
    from .services.uploads import prune_expired

    return prune_expired()
