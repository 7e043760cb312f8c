"""Typing indicators: ephemeral, in the cache, never rows.

One cache key per person typing in a conversation, each with its own time to live, so workers
applying typing events side by side never overwrite each other's.

The other way, :func:`signal_typing` tells the platform that a user of ours types (a
``typing`` command, at most one per state and :data:`SIGNAL_EVERY` seconds); a signal the
worker reaches too late to matter is dropped instead of sent.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from inbox.choices import ConversationStatus
from inbox.connectors.events import Typing
from inbox.connectors.outbound import Client, PlatformError
from inbox.inbound.appliers import Applying
from inbox.live import Change
from inbox.models import Conversation, OutboundCommand
from inbox.outbound import record

from .channels import capabilities
from .conversations import aliases_of
from .targets import target_of

SIGNAL_EVERY = 5  # seconds: the composer says "typing" again while the user keeps typing
SIGNAL_STALE = timedelta(seconds=20)  # a signal not sent by then would be a lie


def typing_key(channel_id: int, conversation_external_id: str, address: str) -> str:
    digest = hashlib.sha256(f"{conversation_external_id}\n{address}".encode()).hexdigest()[:40]
    return f"typing:{channel_id}:{digest}"


def apply_typing(items: Sequence[Applying]) -> list[Change]:
    """Remember for ``TYPING_TTL_SECONDS`` whether each person types (in the cache).

    A typing event older than the TTL (a replayed backlog) or older than the last one applied
    for the same person is ignored, so a late "typing" cannot outlive its "stopped".
    """
    ttl = settings.TYPING_TTL_SECONDS
    now = timezone.now().timestamp()
    fresh = [i for i in items if (i.event.at.timestamp() if i.event.at else now) + ttl >= now]
    if not fresh:
        return []
    owners = aliases_of([(i.channel.pk, i.event.conversation_id) for i in fresh])
    latest: dict[str, tuple[Applying, str, float]] = {}
    for item in fresh:
        event: Typing = item.event
        conversation_id = owners.get(
            (item.channel.pk, event.conversation_id), event.conversation_id
        )
        key = typing_key(item.channel.pk, conversation_id, event.address)
        at = event.at.timestamp() if event.at else now
        if key not in latest or latest[key][2] <= at:
            latest[key] = (item, conversation_id, at)
    known: dict[str, Any] = cache.get_many(list(latest))
    applied = {
        key: value
        for key, value in latest.items()
        if key not in known or known[key]["at"] <= value[2]
    }
    cache.set_many(
        {key: {"typing": item.event.typing, "at": at} for key, (item, _, at) in applied.items()},
        ttl,
    )
    pks = {
        (c.channel_id, c.external_id): c.pk
        for c in Conversation.objects.filter(
            channel_id__any={item.channel.pk for item, _, _ in applied.values()},
            external_id__any={conversation_id for _, conversation_id, _ in applied.values()},
        ).only("pk", "channel_id", "external_id")
    }
    changes = []
    for item, conversation_id, _ in applied.values():
        pk = pks.get((item.channel.pk, conversation_id))
        if pk is not None:
            data = {"address": item.event.address, "typing": item.event.typing}
            changes.append(Change("typing", item.channel.pk, pk, data=data))
    return changes


def typing_in(*, conversation: Conversation) -> list[str]:
    """Addresses of the conversation's participants typing right now."""
    addresses = list(conversation.participants.values_list("address", flat=True))
    keys = {
        typing_key(conversation.channel_id, conversation.external_id, address): address
        for address in addresses
    }
    found = cache.get_many(list(keys))
    return sorted(keys[key] for key, state in found.items() if state["typing"])


def signal_typing(*, conversation: Conversation, user: Any, active: bool) -> bool:
    """Queue telling the platform that ``user`` types (``active``) or stopped, where it takes
    typing signals and the conversation is open. Returns whether a signal was queued (a repeat
    within ``SIGNAL_EVERY`` seconds is the same one)."""
    if conversation.status != ConversationStatus.OPEN:
        return False
    if not capabilities(conversation.channel).typing:
        return False
    slot = int(time.time() // SIGNAL_EVERY)
    command = record(
        channel=conversation.channel,
        kind=OutboundCommand.Kind.TYPING,
        key=f"typing:{conversation.pk}:{user.pk}:{'on' if active else 'off'}:{slot}",
        arguments={"conversation": conversation.pk, "active": active},
        created_by=user,
    )
    return command.state == OutboundCommand.State.QUEUED


def perform_typing(command: OutboundCommand, client: Client) -> None:
    if timezone.now() - command.created_at > SIGNAL_STALE:
        return  # the moment has passed
    conversation = Conversation.objects.select_related("channel").get(
        pk=command.arguments["conversation"]
    )
    client.typing(target=target_of(conversation), active=bool(command.arguments["active"]))


def typing_failed(command: OutboundCommand, error: PlatformError) -> None:
    """Nothing to record: a typing signal matters only for a moment."""
