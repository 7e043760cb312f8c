"""The outbound worker: claim due commands, carry each out with its channel's client, finish it.

Claiming is the way in's (:class:`inbox.queue.WorkQueue`): ``SKIP LOCKED``, a lease, the attempt
counted at claim. No transaction is held while a platform is called. A PlatformError that is
permanent fails the command at once (the handler records it on its message or relationship);
a transient one (5xx, timeout, refused connection) is retried with backoff — not before the
platform's ``Retry-After`` — until ``OUTBOUND_MAX_ATTEMPTS``. Handlers make retries safe: a send
whose answer was lost is looked for before sending again.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inbox.connectors.outbound import PlatformError
from inbox.models import OutboundCommand
from inbox.services.channels import client_for, note_answer, remember

from .commands import HANDLERS, OUTBOUND_QUEUE

logger = logging.getLogger(__name__)

State = OutboundCommand.State


def process_due_commands(*, before: datetime | None = None) -> Counter[str]:
    """Carry out every due command, one claimed batch after another; returns how many ended
    in each state (``queued`` for those waiting for a retry)."""
    counts: Counter[str] = Counter()
    while True:
        ids = OUTBOUND_QUEUE.claim(size=settings.OUTBOUND_BATCH_SIZE, before=before)
        if not ids:
            return counts
        for command in (
            OutboundCommand.objects.filter(id__in=ids)
            .select_related("channel", "message", "relationship")
            .order_by("id")
        ):
            counts[carry_out(command)] += 1


def carry_out(command: OutboundCommand) -> str:
    """Carry out one claimed command; record and return its state."""
    if command.state != State.QUEUED:
        return _finish(command, command.state)  # finished by an earlier claim
    handler = HANDLERS.get(command.kind)
    if handler is None:
        return _finish(command, State.FAILED, f"no handler for {command.kind!r} commands")
    if OUTBOUND_QUEUE.exhausted(command):
        error = PlatformError(
            f"gave up after {command.attempts - 1} attempts; the last: "
            f"{command.error or 'its worker stopped before it finished'}",
            permanent=True,
            code=command.error_code,
        )
        handler.failed(command, error)
        return _finish(command, State.FAILED, error.message, error.code)
    client = client_for(command.channel)
    try:
        handler.perform(command, client)
        note_answer(command.channel)
    except PlatformError as exc:
        note_answer(command.channel, exc)
        if exc.permanent or command.attempts >= OUTBOUND_QUEUE.max_attempts():
            handler.failed(command, exc)
            return _finish(command, State.FAILED, str(exc), exc.code)
        return _retry(command, exc)
    except Exception as exc:  # a bug or a database hiccup: retried like a transient error
        logger.exception("outbound command %s failed", command.pk)
        return _retry(command, PlatformError(f"{type(exc).__name__}: {exc}", permanent=False))
    finally:
        remember(command.channel, client.state())
        client.close()
    return _finish(command, State.DONE)


def _retry(command: OutboundCommand, error: PlatformError) -> str:
    retry_at = timezone.now() + OUTBOUND_QUEUE.retry_delay(command.attempts)
    if error.retry_after:
        retry_at = max(retry_at, timezone.now() + timedelta(seconds=error.retry_after))
    OutboundCommand.objects.filter(pk=command.pk).update(
        state=State.QUEUED, error=str(error)[:4000], error_code=error.code, next_attempt_at=retry_at
    )
    return State.QUEUED


def _finish(command: OutboundCommand, state: str, error: str = "", code: str = "") -> str:
    with transaction.atomic():
        OutboundCommand.objects.filter(pk=command.pk).update(
            state=state,
            error=error[:4000],
            error_code=code[:200],
            next_attempt_at=None,
            finished_at=timezone.now(),
        )
    command.state = state
    return state
