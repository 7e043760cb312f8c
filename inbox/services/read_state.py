"""How far each user has read each conversation."""

from __future__ import annotations

from typing import Any

from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from inbox.models import Conversation, ReadState


def mark_read(*, user: Any, conversation: Conversation, position: int | None = None) -> int:
    """Record that ``user`` has read ``conversation`` up to ``position`` (default: everything
    that has arrived). The read position only moves forward. Returns the position now stored.
    """
    wanted = conversation.last_position if position is None else position
    target = max(0, min(wanted, conversation.last_position))
    state, created = ReadState.objects.get_or_create(
        user=user,
        conversation=conversation,
        defaults={"read_position": target, "last_read_at": timezone.now()},
    )
    if not created and state.read_position < target:
        ReadState.objects.filter(pk=state.pk).update(
            read_position=Greatest(F("read_position"), Value(target)),
            last_read_at=timezone.now(),
            manual_unread=False,
        )
        state.refresh_from_db(fields=["read_position"])
    return state.read_position
