"""Messages and their delivery: upserts, receipts and the derived status."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone

from inbox.choices import Step
from inbox.connectors.events import MessageUpserted, StatusChanged, StatusObserved
from inbox.db import lock_conversation
from inbox.live import Change, Kind
from inbox.models import (
    STATUS_RANK,
    Channel,
    Conversation,
    InboundEvent,
    Message,
    MessageStatus,
    MessageStatusEvent,
    Recipient,
)

from .attachments import store_attachments
from .conversations import conversation_for, conversation_updated
from .participants import participants_for

STEP_STATUS = {
    Step.SENT: MessageStatus.SENT,
    Step.DELIVERED: MessageStatus.DELIVERED,
    Step.READ: MessageStatus.READ,
}


def apply_message_upserted(
    *, channel: Channel, event: MessageUpserted, inbound: InboundEvent | None = None
) -> list[Change]:
    """Store the message as the platform knows it now; report what a user would see change."""
    conversation, created = conversation_for(channel, event.conversation)
    sent_at = event.sent_at or (inbound.received_at if inbound else timezone.now())
    people = participants_for(
        conversation, [event.sender, *event.conversation.participants], at=sent_at
    )
    fields: dict[str, Any] = {
        "direction": event.direction,
        "sender": people.get(event.sender.address),
        "sent_at": sent_at,
        "text": event.text,
        "subject": event.subject[:300],
        "content": event.content,
        "content_kind": event.content_kind,
        "choices": [{"title": c.title, "text": c.text} for c in event.choices],
        "audience": event.audience,
        "reply_to_external_id": event.reply_to[:255],
        "sequence": event.sequence,
    }
    message, new = Message.objects.get_or_create(
        channel=channel,
        external_id=event.message_id,
        defaults={
            **fields,
            "conversation": conversation,
            "position": conversation.last_position + 1,
        },
    )
    changed = []
    if new:
        conversation.last_position = message.position
    else:
        # The platform's latest word on the content wins; the conversation never moves.
        changed = [f for f, v in fields.items() if getattr(message, f) != v]
        for name in changed:
            setattr(message, name, fields[name])
        if changed:
            message.save(update_fields=[*changed, "updated_at"])
    _title_from_first_message(conversation, message, event.conversation.title)
    _link_replies(channel, message)
    store_attachments(message, event.attachments)
    _recipients(message, event)
    observe(channel, event.statuses, inbound)
    delivery_changed = refresh_delivery(message=message)
    touched = touch_conversation(conversation, message)
    if new or touched or created:
        conversation.save(
            update_fields=["last_position", "last_message", "last_activity_at", "updated_at"]
        )
    kind: Kind = "message.created" if new else "message.updated"
    changes = []
    if new or changed or delivery_changed:
        changes.append(Change(kind, channel.pk, conversation.pk, message.pk))
    if new or touched or created:
        changes.append(conversation_updated(conversation))
    return changes


def _title_from_first_message(
    conversation: Conversation, message: Message, title: str | None
) -> None:
    """A title carried by messages (an enmeshed Mail's subject) is the first message's, whatever
    order the messages arrive in."""
    if title is None or conversation.title == title[:300]:
        return
    first = conversation.messages.order_by("sent_at", "sequence", "external_id").first()
    if first == message:
        conversation.title = title[:300]
        conversation.save(update_fields=["title", "updated_at"])


def _link_replies(channel: Channel, message: Message) -> None:
    if message.reply_to_external_id and message.reply_to_id is None:
        original = Message.objects.filter(
            channel=channel, external_id=message.reply_to_external_id
        ).first()
        if original is not None:
            message.reply_to = original
            message.save(update_fields=["reply_to", "updated_at"])
    Message.objects.filter(
        channel=channel, reply_to_external_id=message.external_id, reply_to__isnull=True
    ).update(reply_to=message)


def _recipients(message: Message, event: MessageUpserted) -> None:
    rows = [
        Recipient(
            message=message,
            address=p.address,
            relationship_external_id=event.relationship_ids.get(p.address, ""),
        )
        for p in event.recipients
        if p.address
    ]
    if rows:
        Recipient.objects.bulk_create(rows, ignore_conflicts=True)
    for address, relationship_id in event.relationship_ids.items():
        message.recipients.filter(address=address, relationship_external_id="").update(
            relationship_external_id=relationship_id
        )


def observe(
    channel: Channel, observations: Iterable[StatusObserved], inbound: InboundEvent | None
) -> None:
    """Add observations to the status history (each distinct observation once)."""
    fallback = inbound.received_at if inbound else timezone.now()
    rows = [
        MessageStatusEvent(
            channel=channel,
            message_external_id=o.message_id,
            step=o.step or "",
            flag=o.flag[:40],
            participant=o.participant[:255],
            at=o.at or fallback,
            inbound_event=inbound,
        )
        for o in observations
    ]
    if rows:
        MessageStatusEvent.objects.bulk_create(rows, ignore_conflicts=True)


def apply_status_changed(
    *, channel: Channel, event: StatusChanged, inbound: InboundEvent | None = None
) -> list[Change]:
    lock_conversation(channel.pk, event.conversation_id)
    observe(channel, [event.observation], inbound)
    message = Message.objects.filter(
        channel=channel, external_id=event.observation.message_id
    ).first()
    # Without its message the observation waits, stored, until the message arrives.
    if message is None or not refresh_delivery(message=message):
        return []
    return [Change("message.updated", channel.pk, message.conversation_id, message.pk)]


def refresh_delivery(*, message: Message) -> bool:
    """Fold the message's whole status history into its status and its recipients.

    Derived from the full set of observations, so the order they arrived in does not matter;
    statuses only move forward. Returns whether anything a user sees changed.
    """
    MessageStatusEvent.objects.filter(
        channel_id=message.channel_id, message_external_id=message.external_id, message__isnull=True
    ).update(message=message)
    events = list(message.status_events.all())
    recipients = {r.address: r for r in message.recipients.all()}
    newcomers = {e.participant for e in events if e.participant} - recipients.keys()
    if newcomers:
        Recipient.objects.bulk_create(
            [Recipient(message=message, address=a) for a in sorted(newcomers)],
            ignore_conflicts=True,
        )
        recipients = {r.address: r for r in message.recipients.all()}

    changed = bool(newcomers)
    best = _best_status(message.status, (e.step for e in events))
    recalled = min((e.at for e in events if e.step == Step.RECALLED), default=None)
    if (best, recalled) != (message.status, message.recalled_at):
        message.status, message.recalled_at = best, recalled
        message.save(update_fields=["status", "recalled_at", "updated_at"])
        changed = True

    for address, recipient in recipients.items():
        mine = [e for e in events if e.participant in (address, "")]
        values = {
            "status": _best_status(MessageStatus.SENT, (e.step for e in mine)),
            "delivered_at": min(
                (e.at for e in mine if e.step in (Step.DELIVERED, Step.READ)), default=None
            ),
            "read_at": min((e.at for e in mine if e.step == Step.READ), default=None),
            "flags": _flags(mine),
        }
        fields = [f for f, v in values.items() if getattr(recipient, f) != v]
        for name in fields:
            setattr(recipient, name, values[name])
        if fields:
            recipient.save(update_fields=fields)
            changed = True
    return changed


def _best_status(current: str, steps: Iterable[str]) -> str:
    best = MessageStatus(current)
    for step in steps:
        status = STEP_STATUS.get(Step(step)) if step else None
        if status is not None and STATUS_RANK[status] > STATUS_RANK[best]:
            best = status
    return best.value


def _flags(events: Iterable[MessageStatusEvent]) -> dict[str, str]:
    """Per-recipient platform flags (not delivery steps), each with its first time."""
    flags: dict[str, datetime] = {}
    for e in events:
        if e.flag:
            flags[e.flag] = min(e.at, flags.get(e.flag, e.at))
    return {name: at.isoformat() for name, at in sorted(flags.items())}


def touch_conversation(conversation: Conversation, message: Message) -> bool:
    """Keep the conversation's newest message and activity time for the inbox list (unsaved).

    Returns whether they changed. Until its first message, a conversation's activity time is
    its creation time.
    """
    current = conversation.last_message
    if current is not None and _timeline_key(message) < _timeline_key(current):
        return False
    if current == message and conversation.last_activity_at == message.sent_at:
        return False
    conversation.last_message = message
    conversation.last_activity_at = message.sent_at
    return True


def _timeline_key(message: Message) -> tuple[Any, ...]:
    sequence = message.sequence if message.sequence is not None else -1
    return (message.sent_at, sequence, message.external_id or "")
