"""Typing indicators: ephemeral, in the cache, never rows.

One cache key per person typing in a conversation, each with its own time to live, so workers
applying typing events side by side never overwrite each other's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from inbox.connectors.events import Typing
from inbox.inbound.appliers import Applying
from inbox.live import Change
from inbox.models import Conversation

from .conversations import aliases_of


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
