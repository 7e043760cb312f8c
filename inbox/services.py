"""Every write of the inbox core. Views, tasks and commands call these; nothing else writes.

The ``apply_*`` functions are the pipeline's appliers: each applies one normalized event and is
idempotent — applying any set of events any number of times, in any order, converges to the same
rows (unique keys, forward-only statuses, "only if newer" for snapshots).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from .connectors.base import (
    ConversationChanged,
    ConversationRef,
    ConversationStatus,
    Delivery,
    MessageUpserted,
    ParticipantChanged,
    Party,
    ProfileChanged,
    StatusChanged,
    StatusObserved,
    Step,
    Typing,
)
from .db import get_or_insert, lock_conversation
from .models import (
    STATUS_RANK,
    Attachment,
    Channel,
    Contact,
    Conversation,
    InboundEvent,
    Message,
    MessageStatus,
    MessageStatusEvent,
    Participant,
    Recipient,
)
from .pipeline import register_applier

logger = logging.getLogger(__name__)

# An undated conversation status (a LivePerson DELETE without details) only moves forward.
STATUS_ORDER = {
    ConversationStatus.OPEN: 0,
    ConversationStatus.CLOSED: 1,
    ConversationStatus.DELETED: 2,
}
STEP_STATUS = {
    Step.SENT: MessageStatus.SENT,
    Step.DELIVERED: MessageStatus.DELIVERED,
    Step.READ: MessageStatus.READ,
}


# --- receiving ---------------------------------------------------------------------------------


def receive_events(
    *,
    channel: Channel,
    deliveries: Sequence[Delivery],
    source: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Store deliveries as pending InboundEvents and queue their processing after commit.

    A delivery whose ``(channel, dedup_key)`` is already stored is dropped silently: redelivery
    is normal. Raises ``DatabaseError`` when the rows cannot be stored (the caller answers so
    that the platform retries).
    """
    rows = [
        InboundEvent(
            channel=channel,
            source=source,
            event_name=d.event_name[:200],
            dedup_key=d.dedup_key,
            payload=d.payload,
            headers=dict(headers or {}),
        )
        for d in deliveries
    ]
    with transaction.atomic():
        InboundEvent.objects.bulk_create(rows, ignore_conflicts=True)
        transaction.on_commit(queue_processing)


def record_unreadable_event(
    *, channel: Channel, body: bytes, source: str, headers: Mapping[str, str] | None, error: str
) -> InboundEvent:
    """Keep an authentic body that is not JSON as a failed event, for forensics."""
    event, _ = get_or_insert(
        InboundEvent,
        {"channel": channel, "dedup_key": f"unreadable:{hashlib.sha256(body).hexdigest()}"},
        {
            "source": source,
            "raw_body": body,
            "headers": dict(headers or {}),
            "state": InboundEvent.State.FAILED,
            "error": error,
            "processed_at": timezone.now(),
        },
    )
    return event


def queue_processing() -> None:
    """Ask a worker to process due events. If the broker is unreachable the events stay
    stored and the periodic sweeper picks them up: acknowledging the platform never depends
    on the broker."""
    from .tasks import process_inbound_events

    try:
        process_inbound_events.apply_async(retry=False)
    except Exception:  # the broker is down; stored events are safe
        logger.warning(
            "could not queue processing; the sweeper will pick the events up", exc_info=True
        )


def retry_inbound_event(*, event: InboundEvent) -> None:
    """Queue a failed or ignored event for another run through the pipeline (the replay button)."""
    event.state = InboundEvent.State.PENDING
    event.next_attempt_at = None
    event.error = ""
    event.save(update_fields=["state", "next_attempt_at", "error"])
    transaction.on_commit(queue_processing)


# --- conversations and participants ------------------------------------------------------------


def _conversation(channel: Channel, ref: ConversationRef | str) -> Conversation:
    """The locked conversation for ``ref``; created on first sight."""
    external_id = ref if isinstance(ref, str) else ref.external_id
    lock_conversation(channel.pk, external_id)
    defaults: dict[str, Any] = {}
    if isinstance(ref, ConversationRef):
        defaults = {"kind": ref.kind}
    conversation, _ = get_or_insert(
        Conversation, {"channel": channel, "external_id": external_id}, defaults
    )
    return conversation


def _participants(
    conversation: Conversation, parties: Iterable[Party], *, authoritative: bool = False
) -> dict[str, Participant]:
    """Make sure every party is a participant, and learn names and roles.

    Only an ``authoritative`` source (a conversation snapshot) overwrites what is known; a
    message fills gaps, so an old message arriving late cannot undo a newer name.
    """
    wanted = {p.address: p for p in parties if p.address}
    existing = {p.address: p for p in conversation.participants.filter(address__in=wanted)}
    missing = [
        Participant(conversation=conversation, address=a, name=p.name[:200], role=p.role[:40])
        for a, p in wanted.items()
        if a not in existing
    ]
    if missing:
        # A profile name the channel learned earlier wins over what a message carries.
        profiles = dict(
            Contact.objects.filter(
                channel_id=conversation.channel_id, address__in=[m.address for m in missing]
            )
            .exclude(name="")
            .values_list("address", "name")
        )
        for row in missing:
            row.name = profiles.get(row.address, row.name)
    if missing:
        Participant.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {p.address: p for p in conversation.participants.filter(address__in=wanted)}
    for address, party in wanted.items():
        row = existing[address]
        learned = {"name": party.name[:200], "role": party.role[:40]}
        changed = [
            f
            for f, v in learned.items()
            if v and getattr(row, f) != v and (authoritative or not getattr(row, f))
        ]
        for field in changed:
            setattr(row, field, learned[field])
        if changed:
            row.save(update_fields=changed)
    return existing


def _not_older(at: datetime | None, stored: datetime | None) -> bool:
    return stored is None or (at is not None and at >= stored)


@register_applier(ConversationChanged)
def apply_conversation_changed(
    *, channel: Channel, event: ConversationChanged, inbound: InboundEvent | None = None
) -> None:
    conversation = _conversation(channel, event.conversation_id)
    fields: list[str] = []
    if event.status is not None and (
        _not_older(event.at, conversation.status_at)
        or (event.at is None and STATUS_ORDER[event.status] > STATUS_ORDER[conversation.status])
    ):
        conversation.status, conversation.status_at = event.status, event.at
        fields += ["status", "status_at"]
    details = (event.kind, event.title, event.state, event.participants)
    if any(v is not None for v in details) and _not_older(event.at, conversation.state_at):
        if event.kind is not None:
            conversation.kind = event.kind
        if event.title is not None:
            conversation.title = event.title[:300]
        if event.state is not None:
            conversation.platform_state = dict(event.state)
        if event.participants is not None:
            present = _participants(conversation, event.participants, authoritative=True)
            conversation.participants.exclude(address__in=present).update(
                is_present=False, left_at=event.at
            )
            conversation.participants.filter(address__in=present, is_present=False).update(
                is_present=True, left_at=None
            )
        conversation.state_at = event.at
        fields += ["kind", "title", "platform_state", "state_at"]
    if fields:
        conversation.save(update_fields=fields)


@register_applier(ParticipantChanged)
def apply_participant_changed(
    *, channel: Channel, event: ParticipantChanged, inbound: InboundEvent | None = None
) -> None:
    conversation = _conversation(channel, event.conversation_id)
    row = _participants(conversation, [event.party])[event.party.address]
    # Join and leave times are kept independently of arrival order; presence follows the
    # newest of the two.
    if event.present:
        if event.at is None or row.joined_at is None or event.at > row.joined_at:
            row.joined_at = event.at
    elif event.at is None or row.left_at is None or event.at > row.left_at:
        row.left_at = event.at
    if _not_older(event.at, row.changed_at):
        row.is_present, row.changed_at = event.present, event.at
    row.save(update_fields=["is_present", "joined_at", "left_at", "changed_at"])


@register_applier(ProfileChanged)
def apply_profile_changed(
    *, channel: Channel, event: ProfileChanged, inbound: InboundEvent | None = None
) -> None:
    """Rename the identity everywhere on the channel, unless a newer profile is known."""
    contact, created = get_or_insert(
        Contact,
        {"channel": channel, "address": event.address},
        {"name": event.name[:200], "name_at": event.at},
    )
    if not created:
        if not _not_older(event.at, contact.name_at):
            return
        contact.name, contact.name_at = event.name[:200], event.at
        contact.save(update_fields=["name", "name_at"])
    Participant.objects.filter(conversation__channel=channel, address=event.address).update(
        name=contact.name
    )


# --- typing (ephemeral) ------------------------------------------------------------------------


def _typing_key(channel_id: int, conversation_external_id: str) -> str:
    digest = hashlib.sha256(conversation_external_id.encode()).hexdigest()[:32]
    return f"typing:{channel_id}:{digest}"


@register_applier(Typing)
def apply_typing(*, channel: Channel, event: Typing, inbound: InboundEvent | None = None) -> None:
    """Remember who types, for ``TYPING_TTL_SECONDS``, in the cache (never in rows).

    A typing event older than the TTL (a replayed backlog) or older than the last one applied
    for the same person is ignored, so a late "typing" cannot outlive its "stopped".
    """
    from django.conf import settings

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


# --- messages and delivery ---------------------------------------------------------------------


@register_applier(MessageUpserted)
def apply_message_upserted(
    *, channel: Channel, event: MessageUpserted, inbound: InboundEvent | None = None
) -> Message:
    conversation = _conversation(channel, event.conversation)
    people = _participants(conversation, [event.sender, *event.conversation.participants])
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


# --- channels ----------------------------------------------------------------------------------


def create_channel(
    *,
    platform: str,
    name: str,
    webhook_secrets: Sequence[str] = (),
    settings: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any] | None = None,
) -> Channel:
    """Create a channel. Raises ``ValueError`` for an unknown platform or a taken name."""
    from .connectors.base import Platform

    if platform not in Platform.__members__.values():
        raise ValueError(f"unknown platform {platform!r}; one of {', '.join(Platform)}")
    with transaction.atomic():
        if Channel.objects.filter(platform=platform, name=name).exists():
            raise ValueError(f"a {platform} channel named {name!r} exists already")
        return Channel.objects.create(
            platform=platform,
            name=name,
            webhook_secrets=list(webhook_secrets),
            settings=dict(settings or {}),
            credentials=dict(credentials or {}),
        )
