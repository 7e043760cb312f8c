"""Recording commands for the way out, and who carries out each kind.

The inbox, the admin and the API never call a platform: they record an :class:`OutboundCommand`
(idempotent by its key) in their own transaction, and the outbound worker (:mod:`.worker`) carries
it out. Each kind has one handler, registered at app start by the service that owns it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inbox.connectors.outbound import Client, PlatformError
from inbox.inbound.wakeup import wake_outbound
from inbox.models import Channel, OutboundCommand
from inbox.queue import WorkQueue

OUTBOUND_QUEUE = WorkQueue(
    OutboundCommand,
    # Longer than a send with its uploads may take (httpx times out every call before that).
    lease=timedelta(minutes=5),
    max_attempts=lambda: settings.OUTBOUND_MAX_ATTEMPTS,
    first_delay=timedelta(seconds=10),
    max_delay=timedelta(minutes=15),
)


@dataclass(frozen=True)
class Handler:
    """``perform`` carries a command out with the channel's client, recording its result; it
    raises PlatformError when the platform refused or could not be reached. ``failed`` records,
    on what the command is about, that it failed for good."""

    perform: Callable[[OutboundCommand, Client], None]
    failed: Callable[[OutboundCommand, PlatformError], None]


HANDLERS: dict[str, Handler] = {}


def register_handler(
    kind: str,
    *,
    perform: Callable[[OutboundCommand, Client], None],
    failed: Callable[[OutboundCommand, PlatformError], None],
) -> None:
    """Who carries out commands of ``kind`` (called from an AppConfig's ``ready``)."""
    HANDLERS[kind] = Handler(perform=perform, failed=failed)


def record(
    *,
    channel: Channel,
    kind: str,
    key: str,
    message: Any = None,
    relationship: Any = None,
    arguments: Mapping[str, Any] | None = None,
    created_by: Any = None,
) -> OutboundCommand:
    """Record a command to carry out (or find the one recorded under ``key`` before) and wake
    the outbound worker after commit."""
    command, created = OutboundCommand.objects.get_or_create(
        channel=channel,
        key=key[:255],
        defaults={
            "kind": kind,
            "message": message,
            "relationship": relationship,
            "arguments": dict(arguments or {}),
            "created_by": created_by,
            "next_attempt_at": timezone.now(),
        },
    )
    if created:
        transaction.on_commit(wake_outbound)
    return command
