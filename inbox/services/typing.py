"""Typing indicators: ephemeral, in the cache, never rows."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from inbox.connectors.base import Typing
from inbox.models import Channel, Conversation, InboundEvent
from inbox.pipeline import register_applier


def _typing_key(channel_id: int, conversation_external_id: str) -> str:
    digest = hashlib.sha256(conversation_external_id.encode()).hexdigest()[:32]
    return f"typing:{channel_id}:{digest}"


@register_applier(Typing)
def apply_typing(*, channel: Channel, event: Typing, inbound: InboundEvent | None = None) -> None:
    """Remember who types, for ``TYPING_TTL_SECONDS``, in the cache (never in rows).

    A typing event older than the TTL (a replayed backlog) or older than the last one applied
    for the same person is ignored, so a late "typing" cannot outlive its "stopped".
    """
    ttl = settings.TYPING_TTL_SECONDS
    now = timezone.now().timestamp()
    at = event.at.timestamp() if event.at else now
    if at + ttl < now:
        return
    key = _typing_key(channel.pk, event.conversation_id)
    typists = {a: e for a, e in (cache.get(key) or {}).items() if e["until"] > now}
    known = typists.get(event.address)
    if known is not None and known["at"] > at:
        return
    typists[event.address] = {"typing": event.typing, "at": at, "until": now + ttl}
    cache.set(key, typists, ttl)


def typing_in(*, conversation: Conversation) -> list[str]:
    """Addresses typing in the conversation right now."""
    now = timezone.now().timestamp()
    typists = cache.get(_typing_key(conversation.channel_id, conversation.external_id)) or {}
    return sorted(a for a, e in typists.items() if e["typing"] and e["until"] > now)
