"""Typing indicators: ephemeral, in the cache, never rows.

One cache key per person typing in a conversation, each with its own time to live, so workers
applying typing events side by side never overwrite each other's.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from inbox.connectors.events import Typing
from inbox.live import Change
from inbox.models import Channel, Conversation, InboundEvent

from .conversations import resolve_alias


def typing_key(channel_id: int, conversation_external_id: str, address: str) -> str:
    digest = hashlib.sha256(f"{conversation_external_id}\n{address}".encode()).hexdigest()[:40]
    return f"typing:{channel_id}:{digest}"


def apply_typing(
    *, channel: Channel, event: Typing, inbound: InboundEvent | None = None
) -> list[Change]:
    """Remember for ``TYPING_TTL_SECONDS`` whether the person types (in the cache).

    A typing event older than the TTL (a replayed backlog) or older than the last one applied
    for the same person is ignored, so a late "typing" cannot outlive its "stopped".
    """
    ttl = settings.TYPING_TTL_SECONDS
    now = timezone.now().timestamp()
    at = event.at.timestamp() if event.at else now
    if at + ttl < now:
        return []
    conversation_id = resolve_alias(channel, event.conversation_id)
    key = typing_key(channel.pk, conversation_id, event.address)
    known = cache.get(key)
    if known is not None and known["at"] > at:
        return []
    cache.set(key, {"typing": event.typing, "at": at}, ttl)
    conversation = Conversation.objects.filter(channel=channel, external_id=conversation_id).first()
    if conversation is None:
        return []
    data = {"address": event.address, "typing": event.typing}
    return [Change("typing", channel.pk, conversation.pk, data=data)]


def typing_in(*, conversation: Conversation) -> list[str]:
    """Addresses of the conversation's participants typing right now."""
    addresses = list(conversation.participants.values_list("address", flat=True))
    keys = {
        typing_key(conversation.channel_id, conversation.external_id, address): address
        for address in addresses
    }
    found = cache.get_many(list(keys))
    return sorted(keys[key] for key, state in found.items() if state["typing"])
