"""Messages and their delivery: upserts, receipts and the derived status."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone

from inbox.connectors.base import MessageUpserted, StatusChanged, StatusObserved, Step
from inbox.db import get_or_insert, lock_conversation
from inbox.models import (
    STATUS_RANK,
    Attachment,
    Channel,
    Conversation,
    InboundEvent,
    Message,
    MessageStatus,
    MessageStatusEvent,
    Recipient,
)
from inbox.pipeline import register_applier

from .conversations import conversation_for, participants_for

STEP_STATUS = {
    Step.SENT: MessageStatus.SENT,
    Step.DELIVERED: MessageStatus.DELIVERED,
    Step.READ: MessageStatus.READ,
}


@register_applier(MessageUpserted)
def apply_message_upserted(
    *, channel: Channel, event: MessageUpserted, inbound: InboundEvent | None = None
) -> Message:
    conversation = conversation_for(channel, event.conversation)
    people = participants_for(conversation, [event.sender, *event.conversation.participants])
    fields = {
        "conversation": conversation,
        "direction": event.direction,
        "sender": people.get(event.sender.address),
        "sent_at": event.sent_at or (inbound.received_at if inbound else timezone.now()),
        "text": event.text,
        "subject": event.subject[:300],
        "content": event.content,
        "content_kind": event.content_kind,
        "audience": event.audience,
        "reply_to_external_id": event.reply_to[:255],
        "sequence": event.sequence,
    }
    message, created = get_or_insert(
        Message, {"channel": channel, "external_id": event.message_id}, fields
    )
    if not created:
        # The platform's latest word on the content wins; the conversation never moves.
        fields.pop("conversation")
        changed = [f for f, v in fields.items() if getattr(message, f) != v]
        for field in changed:
            setattr(message, field, fields[field])
        if changed:
            message.save(update_fields=changed)
    _title_from_first_message(conversation, message, event.conversation.title)
    _link_replies(channel, message)
    _attachments(message, event)
    _recipients(message, event)
    _observe(channel, event.statuses, inbound)
    refresh_delivery(message=message)
    _touch_conversation(conversation, message)
    return message


def _title_from_first_message(
    conversation: Conversation, message: Message, title: str | None
) -> None:
    """A title carried by messages (an enmeshed Mail's subject) is the first message's, whatever
    order the messages arrive in."""
    if title is None or conversation.title == title[:300]:
        return
    title = title[:300]
    first = conversation.messages.order_by("sent_at", "sequence", "external_id").first()
    if first == message:
        conversation.title = title
        conversation.save(update_fields=["title"])


def _link_replies(channel: Channel, message: Message) -> None:
    if message.reply_to_external_id and message.reply_to_id is None:
        original = Message.objects.filter(
            channel=channel, external_id=message.reply_to_external_id
        ).first()
        if original is not None:
            message.reply_to = original
            message.save(update_fields=["reply_to"])
    Message.objects.filter(
        channel=channel, reply_to_external_id=message.external_id, reply_to__isnull=True
    ).update(reply_to=message)


def _attachments(message: Message, event: MessageUpserted) -> None:
    existing = {a.external_id: a for a in message.attachments.all()}
    for info in event.attachments:
        values = {
            "filename": info.filename[:255],
            "mime_type": info.mime_type[:120],
            "size": info.size,
            "caption": info.caption,
            "preview": info.preview,
            "url": info.url[:2048],
        }
        row = existing.get(info.external_id[:1024])
        if row is None:
            Attachment.objects.bulk_create(
                [Attachment(message=message, external_id=info.external_id[:1024], **values)],
                ignore_conflicts=True,
            )
            continue
        # A webhook may know only the file id and a later poll the full metadata: fill gaps.
        gaps = [f for f, v in values.items() if v not in ("", None) and not getattr(row, f)]
        for field in gaps:
            setattr(row, field, values[field])
        if gaps:
            row.save(update_fields=gaps)


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


def _observe(
    channel: Channel, observations: Iterable[StatusObserved], inbound: InboundEvent | None
) -> None:
    fallback = inbound.received_at if inbound else timezone.now()
    rows = [
        MessageStatusEvent(
            channel=channel,
            message_external_id=o.message_id,
            status=o.status[:40],
            participant=o.participant[:255],
            at=o.at or fallback,
            inbound_event=inbound,
        )
        for o in observations
    ]
    if rows:
        MessageStatusEvent.objects.bulk_create(rows, ignore_conflicts=True)


@register_applier(StatusChanged)
def apply_status_changed(
    *, channel: Channel, event: StatusChanged, inbound: InboundEvent | None = None
) -> None:
    lock_conversation(channel.pk, event.conversation_id)
    _observe(channel, [event.observation], inbound)
    message = Message.objects.filter(
        channel=channel, external_id=event.observation.message_id
    ).first()
    if message is not None:
        refresh_delivery(message=message)
    # Otherwise the observation waits, stored, until its message arrives.


def refresh_delivery(*, message: Message) -> None:
    """Fold the message's whole status history into its status and its recipients.

    Derived from the full set of observations, so the order they arrived in does not matter;
    statuses only move forward.
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

    best = _best_status(message.status, (e.status for e in events))
    recalled = min((e.at for e in events if e.status == Step.RECALLED), default=None)
    if (best, recalled) != (message.status, message.recalled_at):
        message.status, message.recalled_at = best, recalled
        message.save(update_fields=["status", "recalled_at"])

    for address, recipient in recipients.items():
        mine = [e for e in events if e.participant in (address, "")]
        values = {
            "status": _best_status(MessageStatus.SENT, (e.status for e in mine)),
            "delivered_at": min(
                (e.at for e in mine if e.status in (Step.DELIVERED, Step.READ)), default=None
            ),
            "read_at": min((e.at for e in mine if e.status == Step.READ), default=None),
            "flags": _flags(mine),
        }
        changed = [f for f, v in values.items() if getattr(recipient, f) != v]
        for field in changed:
            setattr(recipient, field, values[field])
        if changed:
            recipient.save(update_fields=changed)


def _best_status(current: str, observed: Iterable[str]) -> str:
    best = current
    for word in observed:
        status = STEP_STATUS.get(word)  # type: ignore[call-overload]
        if status is not None and STATUS_RANK[status] > STATUS_RANK[best]:  # type: ignore[index]
            best = status
    return best


def _flags(events: Iterable[MessageStatusEvent]) -> dict[str, str]:
    """Per-recipient platform flags (not delivery steps), each with its first time."""
    flags: dict[str, datetime] = {}
    for e in events:
        if e.status not in STEP_STATUS and e.status != Step.RECALLED:
            flags[e.status] = min(e.at, flags.get(e.status, e.at))
    return {name: at.isoformat() for name, at in sorted(flags.items())}


def _touch_conversation(conversation: Conversation, message: Message) -> None:
    """Keep the conversation's newest message and activity time for the inbox list."""
    current = conversation.last_message
    if current is None or _timeline_key(message) >= _timeline_key(current):
        conversation.last_message = message
        conversation.last_activity_at = max(
            message.sent_at, conversation.last_activity_at or message.sent_at
        )
        conversation.save(update_fields=["last_message", "last_activity_at"])


def _timeline_key(message: Message) -> tuple[Any, ...]:
    sequence = message.sequence if message.sequence is not None else -1
    return (message.sent_at, sequence, message.external_id or "")
