"""How far each user has read each conversation."""

from __future__ import annotations

from typing import Any

from django.db.models import F, Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from inbox.models import Conversation, ReadState


def mark_read(*, user: Any, conversation: Conversation, position: int | None = None) -> int:
    """Record that ``user`` has read ``conversation`` up to ``position`` (default: everything
    that has arrived), which clears a manual "unread". The read position only moves forward
    (except by :func:`mark_unread`). Returns the position now stored.
    """
    wanted = conversation.last_position if position is None else position
    target = max(0, min(wanted, conversation.last_position))
    state, created = ReadState.objects.get_or_create(
        user=user,
        conversation=conversation,
        defaults={"read_position": target, "last_read_at": timezone.now()},
    )
    if not created and (state.read_position < target or state.manual_unread):
        ReadState.objects.filter(pk=state.pk).update(
            read_position=Greatest(F("read_position"), Value(target)),
            last_read_at=timezone.now(),
            manual_unread=False,
        )
        state.refresh_from_db(fields=["read_position"])
    return state.read_position


def mark_unread(*, user: Any, conversation: Conversation) -> int:
    """Mark ``conversation`` unread for ``user``: the newest message counts as unread again
    (the read position moves back to just before it, never forward) and ``manual_unread`` says
    it was the user's choice, until they read it again. A conversation without messages stays
    as it is. Returns the position now stored.
    """
    if not conversation.last_position:
        return 0
    target = conversation.last_position - 1
    state, created = ReadState.objects.get_or_create(
        user=user,
        conversation=conversation,
        defaults={"read_position": target, "manual_unread": True},
    )
    if not created:
        ReadState.objects.filter(pk=state.pk).update(
            read_position=Least(F("read_position"), Value(target)), manual_unread=True
        )
        state.refresh_from_db(fields=["read_position"])
    return state.read_position
