"""Conversations: finding them, their state, aliases, participant events and contacts.

Appliers take a batch of events (see :mod:`inbox.inbound.appliers`); the way in holds the lock of
every conversation they name (``conversation_locks``) before they run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.utils import timezone

from inbox.choices import ConversationKind, ConversationStatus
from inbox.connectors.events import (
    ConversationChanged,
    ConversationRef,
    ParticipantChanged,
    ProfileChanged,
)
from inbox.db import insert_rows, lock, lock_key, update_rows
from inbox.inbound.appliers import Applying, batch_memo, forget_batch_memo
from inbox.live import Change
from inbox.models import Channel, Contact, Conversation, ConversationAlias, Participant

from .participants import Roster, apply_participant_list

# The order an undated status (a LivePerson DELETE without details) may move along.
STATUS_ORDER = {
    ConversationStatus.OPEN: 0,
    ConversationStatus.CLOSED: 1,
    ConversationStatus.DELETED: 2,
}
LAST_MESSAGE_UNUSED = ("content", "text", "subject", "choices", "reply_to_external_id")
STATE_FIELDS = ["status", "status_at", "kind", "title", "platform_state", "state_at"]


def conversation_updated(conversation: Conversation) -> Change:
    return Change("conversation.updated", conversation.channel_id, conversation.pk)


class Found:
    """The conversations a batch names, and which of them it created."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[int, str], Conversation] = {}
        self.created: set[int] = set()

    def __getitem__(self, key: tuple[int, str]) -> Conversation:
        return self.by_key[key]

    def all(self) -> list[Conversation]:
        return list({c.pk: c for c in self.by_key.values()}.values())


def find_conversations(refs: Iterable[tuple[Channel, ConversationRef | str]]) -> Found:
    """The conversations ``refs`` name, created on first sight (in one insert per batch).

    Keys are ``(channel id, the external id asked for)``. A provisional id that is a known
    alias resolves to the conversation it belongs to. The caller holds the conversations' locks.
    """
    asked: dict[tuple[int, str], ConversationRef | str] = {}
    channels: dict[int, Channel] = {}
    for channel, ref in refs:
        external_id = ref if isinstance(ref, str) else ref.external_id
        asked.setdefault((channel.pk, external_id), ref)
        channels[channel.pk] = channel
    owners = aliases_of([key for key, ref in asked.items() if _provisional(ref)])
    if owners:
        # The conversations the aliases name are locked too (rarely other than the batch's).
        lock(lock_key(channel_id, owner) for (channel_id, _), owner in owners.items())
    wanted: dict[int, set[str]] = defaultdict(set)
    for channel_id, external_id in asked:
        wanted[channel_id].add(owners.get((channel_id, external_id), external_id))
    found = Found()
    memo = batch_memo("conversations")  # what an earlier applier of the batch loaded
    stored: dict[tuple[int, str], Conversation] = {}
    for channel_id, external_ids in wanted.items():
        if memo:
            known = {(channel_id, e) for e in external_ids} & memo.keys()
            stored.update((key, memo[key]) for key in known)
            external_ids = external_ids - {e for _, e in known}
        if not external_ids:
            continue
        # With the last message: placing new messages on the timeline compares with it (its
        # timeline position only: the rest is not loaded).
        for conversation in (
            Conversation.objects.filter(channel_id=channel_id, external_id__any=external_ids)
            .select_related("last_message")
            .defer(*(f"last_message__{name}" for name in LAST_MESSAGE_UNUSED))
        ):
            stored[(channel_id, conversation.external_id)] = conversation
    new: dict[tuple[int, str], Conversation] = {}
    for (channel_id, external_id), ref in asked.items():
        target = (channel_id, owners.get((channel_id, external_id), external_id))
        if target not in stored and target not in new:
            kind = ref.kind if isinstance(ref, ConversationRef) else ConversationKind.DIRECT
            new[target] = Conversation(
                channel=channels[channel_id], external_id=target[1], kind=kind
            )
    if new:
        insert_rows(new.values())
        stored.update(new)
        found.created = {c.pk for c in new.values()}
    for key in asked:
        found.by_key[key] = stored[(key[0], owners.get(key, key[1]))]
    if memo is not None:
        memo.update(stored)
    return found


def _provisional(ref: ConversationRef | str) -> bool:
    return isinstance(ref, ConversationRef) and ref.provisional


def aliases_of(keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """``(channel id, alias) -> the external id of the conversation it belongs to``."""
    owners: dict[tuple[int, str], str] = {}
    by_channel: dict[int, list[str]] = defaultdict(list)
    for channel_id, external_id in keys:
        by_channel[channel_id].append(external_id)
    for channel_id, aliases in by_channel.items():
        for alias, owner in ConversationAlias.objects.filter(
            channel_id=channel_id, external_id__any=aliases
        ).values_list("external_id", "conversation__external_id"):
            owners[(channel_id, alias)] = owner
    return owners


def resolve_alias(channel: Channel, external_id: str) -> str:
    """The external id of the conversation ``external_id`` is an alias of (or itself)."""
    return aliases_of([(channel.pk, external_id)]).get((channel.pk, external_id), external_id)


def not_older(at: datetime | None, stored: datetime | None) -> bool:
    return stored is None or (at is not None and at >= stored)


# --- conversation snapshots ------------------------------------------------------------------


def conversation_locks(event: ConversationChanged) -> tuple[str, ...]:
    return (event.conversation_id, *event.aliases)


def apply_conversations_changed(items: Sequence[Applying]) -> list[Change]:
    found = find_conversations((i.channel, i.event.conversation_id) for i in items)
    with_lists = [
        found[(i.channel.pk, i.event.conversation_id)]
        for i in items
        if i.event.participants is not None
    ]
    roster = Roster(with_lists)
    dirty: dict[int, Conversation] = {}
    changes: list[Change] = []
    for item in items:
        event: ConversationChanged = item.event
        conversation = found[(item.channel.pk, event.conversation_id)]
        if _apply_state(conversation, event):
            dirty[conversation.pk] = conversation
        if event.participants is not None:
            if apply_participant_list(roster, conversation, event.participants, event.at):
                dirty[conversation.pk] = conversation
            changes.append(conversation_updated(conversation))
    roster.save()
    now = timezone.now()
    for conversation in dirty.values():
        conversation.updated_at = now
    if dirty:
        update_rows(dirty.values(), [*STATE_FIELDS, "participants_at", "updated_at"])
    touched = dirty.keys() | found.created
    changes += [conversation_updated(c) for c in found.all() if c.pk in touched]
    for item in items:
        aliases = sorted(set(item.event.aliases) - {item.event.conversation_id})
        if aliases:
            conversation = found[(item.channel.pk, item.event.conversation_id)]
            changes += adopt_aliases(item.channel, conversation, aliases)
    return changes


def _apply_state(conversation: Conversation, event: ConversationChanged) -> bool:
    changed = False
    if event.status is not None and _status_applies(conversation, event.status, event.at):
        conversation.status, conversation.status_at = event.status, event.at
        changed = True
    details = (event.kind, event.title, event.state)
    if any(v is not None for v in details) and not_older(event.at, conversation.state_at):
        if event.kind is not None:
            conversation.kind = event.kind
        if event.title is not None:
            conversation.title = event.title[:300]
        if event.state is not None:
            conversation.platform_state = dict(event.state)
        conversation.state_at = event.at
        changed = True
    return changed


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


# --- aliases ---------------------------------------------------------------------------------


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
            forget_batch_memo()  # rows moved, one conversation deleted
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
    now = timezone.now()
    for message in source.messages.order_by("position"):
        into.last_position += 1
        message.conversation, message.position = into, into.last_position
        if message.sender_id is not None:
            message.sender = senders[message.sender_id]
        message.updated_at = now
        message.save(update_fields=["conversation", "position", "sender", "updated_at"])
        touch_conversation(into, message)
        changes.append(Change("message.updated", into.channel_id, into.pk, message.pk))
    into.updated_at = now
    into.save(update_fields=["last_position", "last_message", "last_activity_at", "updated_at"])
    source.delete()
    return [*changes, conversation_updated(into)]


# --- participant events and profiles ---------------------------------------------------------


def participant_locks(event: ParticipantChanged) -> tuple[str, ...]:
    return (event.conversation_id,)


def apply_participants_changed(items: Sequence[Applying]) -> list[Change]:
    found = find_conversations((i.channel, i.event.conversation_id) for i in items)
    roster = Roster(found.all())
    changed: dict[int, Conversation] = {}
    for item in items:
        event: ParticipantChanged = item.event
        conversation = found[(item.channel.pk, event.conversation_id)]
        [row] = roster.learn(
            conversation, [event.party], at=event.at, present=event.present, authoritative=True
        )
        # Join and leave times: the newest of each, whatever the order they arrive in.
        if event.present is True and _later(event.at, row.joined_at):
            row.joined_at = event.at
        elif event.present is False and _later(event.at, row.left_at):
            row.left_at = event.at
        roster.changed[(conversation.pk, row.address)] = row
        changed[conversation.pk] = conversation
    roster.save()
    return [conversation_updated(c) for c in changed.values()]


def _later(at: datetime | None, stored: datetime | None) -> bool:
    return at is not None and (stored is None or at > stored)


def apply_profiles_changed(items: Sequence[Applying]) -> list[Change]:
    """Rename each identity everywhere on its channel, unless a newer profile is known."""
    changes: list[Change] = []
    for item in items:
        event: ProfileChanged = item.event
        contact, created = Contact.objects.get_or_create(
            channel=item.channel,
            address=event.address,
            defaults={"name": event.name[:200], "name_at": event.at},
        )
        if not created:
            if not not_older(event.at, contact.name_at):
                continue
            contact.name, contact.name_at = event.name[:200], event.at
            contact.save(update_fields=["name", "name_at"])
        renamed = Participant.objects.filter(
            conversation__channel=item.channel, address=event.address
        )
        conversations = sorted(set(renamed.values_list("conversation_id", flat=True)))
        renamed.update(name=contact.name)
        forget_batch_memo()  # participant names changed in bulk
        changes += [Change("conversation.updated", item.channel.pk, pk) for pk in conversations]
    return changes


# Roles of the channel's own side (LivePerson agents): not whom a conversation is with.
OWN_SIDE_ROLES = {"ASSIGNED_AGENT", "AGENT", "MANAGER", "CONTROLLER", "READER"}


def conversation_title(
    conversation: Conversation, participants: Sequence[Participant], own: set[str]
) -> str:
    """The conversation's title, else the other participants' names, else their addresses."""
    if conversation.title:
        return conversation.title
    others = [
        p for p in participants if p.address not in own and p.role not in OWN_SIDE_ROLES
    ] or list(participants)
    names = [p.name for p in others if p.name]
    if names:
        return ", ".join(names)
    if others:
        return ", ".join(p.address for p in others)
    return f"Conversation {conversation.external_id}"
