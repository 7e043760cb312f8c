"""Conversations: finding them, their state, aliases, participant events and contacts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from inbox.choices import ConversationStatus
from inbox.connectors.events import (
    ConversationChanged,
    ConversationRef,
    ParticipantChanged,
    ProfileChanged,
)
from inbox.db import lock_conversation
from inbox.live import Change
from inbox.models import (
    Channel,
    Contact,
    Conversation,
    ConversationAlias,
    InboundEvent,
    Participant,
)

from .participants import apply_participant_list, participants_for

# The order an undated status (a LivePerson DELETE without details) may move along.
STATUS_ORDER = {
    ConversationStatus.OPEN: 0,
    ConversationStatus.CLOSED: 1,
    ConversationStatus.DELETED: 2,
}


def conversation_updated(conversation: Conversation) -> Change:
    return Change("conversation.updated", conversation.channel_id, conversation.pk)


def conversation_for(channel: Channel, ref: ConversationRef | str) -> tuple[Conversation, bool]:
    """The conversation ``ref`` names, locked until the transaction ends; created on first sight.

    A provisional id (``ConversationRef.provisional``) that is a known alias resolves to the
    conversation it belongs to. Returns the conversation and whether it was created.
    """
    external_id = ref if isinstance(ref, str) else ref.external_id
    lock_conversation(channel.pk, external_id)
    if isinstance(ref, ConversationRef) and ref.provisional:
        owner = resolve_alias(channel, external_id)
        if owner != external_id:
            # Lock order alias -> conversation, as apply_conversation_changed takes them.
            lock_conversation(channel.pk, owner)
            return Conversation.objects.get(channel=channel, external_id=owner), False
    defaults = {"kind": ref.kind} if isinstance(ref, ConversationRef) else {}
    return Conversation.objects.get_or_create(
        channel=channel, external_id=external_id, defaults=defaults
    )


def resolve_alias(channel: Channel, external_id: str) -> str:
    """The external id of the conversation ``external_id`` is an alias of (or itself)."""
    owner = (
        ConversationAlias.objects.filter(channel=channel, external_id=external_id)
        .values_list("conversation__external_id", flat=True)
        .first()
    )
    return owner or external_id


def not_older(at: datetime | None, stored: datetime | None) -> bool:
    return stored is None or (at is not None and at >= stored)


def apply_conversation_changed(
    *, channel: Channel, event: ConversationChanged, inbound: InboundEvent | None = None
) -> list[Change]:
    # Aliases are locked before the conversation, in the order conversation_for takes them.
    aliases = sorted(set(event.aliases) - {event.conversation_id})
    for alias in aliases:
        lock_conversation(channel.pk, alias)
    conversation, created = conversation_for(channel, event.conversation_id)
    changes = [conversation_updated(conversation)] if created else []
    fields: list[str] = []
    if event.status is not None and _status_applies(conversation, event.status, event.at):
        conversation.status, conversation.status_at = event.status, event.at
        fields += ["status", "status_at"]
    details = (event.kind, event.title, event.state)
    if any(v is not None for v in details) and not_older(event.at, conversation.state_at):
        if event.kind is not None:
            conversation.kind = event.kind
        if event.title is not None:
            conversation.title = event.title[:300]
        if event.state is not None:
            conversation.platform_state = dict(event.state)
        conversation.state_at = event.at
        fields += ["kind", "title", "platform_state", "state_at"]
    if event.participants is not None:
        # Judged participant by participant: an older list still says something about people
        # no newer fact mentions.
        apply_participant_list(conversation, event.participants, event.at)
        changes.append(conversation_updated(conversation))
    if fields:
        conversation.save(update_fields=[*fields, "updated_at"])
        changes.append(conversation_updated(conversation))
    return changes + adopt_aliases(channel, conversation, aliases)


def _status_applies(
    conversation: Conversation, status: ConversationStatus, at: datetime | None
) -> bool:
    if (conversation.status, conversation.status_at) == (status, at):
        return False
    if not_older(at, conversation.status_at):
        return True
    # An undated status only moves forward.
    current = ConversationStatus(conversation.status)
    return at is None and STATUS_ORDER[status] > STATUS_ORDER[current]


def adopt_aliases(
    channel: Channel, conversation: Conversation, aliases: Sequence[str]
) -> list[Change]:
    """Record ``aliases`` as ids of ``conversation``, and move in whatever waited under them."""
    changes: list[Change] = []
    for alias in aliases:
        ConversationAlias.objects.update_or_create(
            channel=channel, external_id=alias, defaults={"conversation": conversation}
        )
        waiting = Conversation.objects.filter(channel=channel, external_id=alias).first()
        if waiting is not None:
            changes += _merge(waiting, into=conversation)
    return changes


def _merge(source: Conversation, *, into: Conversation) -> list[Change]:
    """Move the messages and participants of a provisional conversation, then delete it."""
    from .messages import touch_conversation

    target = {p.address: p for p in into.participants.all()}
    senders: dict[int, Participant] = {}
    for participant in source.participants.all():
        if participant.address in target:
            senders[participant.pk] = target[participant.address]
        else:
            participant.conversation = into
            participant.save(update_fields=["conversation"])
            senders[participant.pk] = target[participant.address] = participant
    changes = []
    for message in source.messages.order_by("position"):
        into.last_position += 1
        message.conversation, message.position = into, into.last_position
        if message.sender_id is not None:
            message.sender = senders[message.sender_id]
        message.save(update_fields=["conversation", "position", "sender", "updated_at"])
        touch_conversation(into, message)
        changes.append(Change("message.updated", into.channel_id, into.pk, message.pk))
    into.save(update_fields=["last_position", "last_message", "last_activity_at", "updated_at"])
    source.delete()
    return [*changes, conversation_updated(into)]


def apply_participant_changed(
    *, channel: Channel, event: ParticipantChanged, inbound: InboundEvent | None = None
) -> list[Change]:
    conversation, _ = conversation_for(channel, event.conversation_id)
    row = participants_for(
        conversation, [event.party], at=event.at, present=event.present, authoritative=True
    )[event.party.address]
    # Join and leave times: the newest of each, whatever the order they arrive in.
    fields = []
    if event.present is True and _later(event.at, row.joined_at):
        row.joined_at = event.at
        fields.append("joined_at")
    if event.present is False and _later(event.at, row.left_at):
        row.left_at = event.at
        fields.append("left_at")
    if fields:
        row.save(update_fields=fields)
    return [conversation_updated(conversation)]


def _later(at: datetime | None, stored: datetime | None) -> bool:
    return at is not None and (stored is None or at > stored)


def apply_profile_changed(
    *, channel: Channel, event: ProfileChanged, inbound: InboundEvent | None = None
) -> list[Change]:
    """Rename the identity everywhere on the channel, unless a newer profile is known."""
    contact, created = Contact.objects.get_or_create(
        channel=channel,
        address=event.address,
        defaults={"name": event.name[:200], "name_at": event.at},
    )
    if not created:
        if not not_older(event.at, contact.name_at):
            return []
        contact.name, contact.name_at = event.name[:200], event.at
        contact.save(update_fields=["name", "name_at"])
    renamed = Participant.objects.filter(conversation__channel=channel, address=event.address)
    conversations = sorted(set(renamed.values_list("conversation_id", flat=True)))
    renamed.update(name=contact.name)
    return [Change("conversation.updated", channel.pk, pk) for pk in conversations]
