"""How far each user has read each conversation, and the platform's read receipts.

Reading is per user; the platform is told once per conversation (the first user to read a
message sends its receipt), by a ``read`` command the outbound worker carries out.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from inbox.choices import Audience, Direction
from inbox.connectors.outbound import Client, PlatformError
from inbox.models import Conversation, Message, OutboundCommand, ReadState
from inbox.outbound import record

from .channels import capabilities
from .targets import target_of

# The newest messages one receipt names; older unreceipted ones are read by implication.
RECEIPT_MAX_MESSAGES = 200


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
    if target > conversation.receipt_position and capabilities(conversation.channel).read_receipts:
        queue_receipt(conversation, up_to=target, user=user)
    return state.read_position


def queue_receipt(conversation: Conversation, *, up_to: int, user: Any = None) -> None:
    """Record a read receipt for the other side's messages up to position ``up_to`` that no
    receipt named yet (internal notes never: the consumer does not see them)."""
    with transaction.atomic():
        before = (
            Conversation.objects.select_for_update()
            .values_list("receipt_position", flat=True)
            .get(pk=conversation.pk)
        )
        if up_to <= before:
            return
        Conversation.objects.filter(pk=conversation.pk).update(receipt_position=up_to)
        conversation.receipt_position = up_to
        ids = list(
            Message.objects.filter(
                conversation=conversation,
                direction=Direction.IN,
                audience=Audience.ALL,
                external_id__isnull=False,
                position__gt=before,
                position__lte=up_to,
            )
            .order_by("-position")
            .values_list("external_id", flat=True)[:RECEIPT_MAX_MESSAGES]
        )
        if ids:
            record(
                channel=conversation.channel,
                kind=OutboundCommand.Kind.READ,
                key=f"read:{conversation.pk}:{up_to}",
                arguments={"conversation": conversation.pk, "messages": ids[::-1]},
                created_by=user,
            )


def perform_receipt(command: OutboundCommand, client: Client) -> None:
    conversation = Conversation.objects.select_related("channel").get(
        pk=command.arguments["conversation"]
    )
    client.mark_read(target=target_of(conversation), messages=command.arguments["messages"])


def receipt_failed(command: OutboundCommand, error: PlatformError) -> None:
    """Nothing to undo: the user has read the messages; the command keeps the platform's words."""


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
