"""Conversations, their participants and the channel's contacts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from inbox.connectors.base import (
    ConversationChanged,
    ConversationRef,
    ConversationStatus,
    ParticipantChanged,
    Party,
    ProfileChanged,
)
from inbox.db import get_or_insert, lock_conversation
from inbox.models import Channel, Contact, Conversation, InboundEvent, Participant
from inbox.pipeline import register_applier

# An undated conversation status (a LivePerson DELETE without details) only moves forward.
STATUS_ORDER = {
    ConversationStatus.OPEN: 0,
    ConversationStatus.CLOSED: 1,
    ConversationStatus.DELETED: 2,
}


def conversation_for(channel: Channel, ref: ConversationRef | str) -> Conversation:
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


def participants_for(
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


def not_older(at: datetime | None, stored: datetime | None) -> bool:
    return stored is None or (at is not None and at >= stored)


@register_applier(ConversationChanged)
def apply_conversation_changed(
    *, channel: Channel, event: ConversationChanged, inbound: InboundEvent | None = None
) -> None:
    conversation = conversation_for(channel, event.conversation_id)
    fields: list[str] = []
    if event.status is not None and (
        not_older(event.at, conversation.status_at)
        or (event.at is None and STATUS_ORDER[event.status] > STATUS_ORDER[conversation.status])
    ):
        conversation.status, conversation.status_at = event.status, event.at
        fields += ["status", "status_at"]
    details = (event.kind, event.title, event.state, event.participants)
    if any(v is not None for v in details) and not_older(event.at, conversation.state_at):
        if event.kind is not None:
            conversation.kind = event.kind
        if event.title is not None:
            conversation.title = event.title[:300]
        if event.state is not None:
            conversation.platform_state = dict(event.state)
        if event.participants is not None:
            present = participants_for(conversation, event.participants, authoritative=True)
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
    conversation = conversation_for(channel, event.conversation_id)
    row = participants_for(conversation, [event.party])[event.party.address]
    # Join and leave times are kept independently of arrival order; presence follows the
    # newest of the two.
    if event.present:
        if event.at is None or row.joined_at is None or event.at > row.joined_at:
            row.joined_at = event.at
    elif event.at is None or row.left_at is None or event.at > row.left_at:
        row.left_at = event.at
    if not_older(event.at, row.changed_at):
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
        if not not_older(event.at, contact.name_at):
            return
        contact.name, contact.name_at = event.name[:200], event.at
        contact.save(update_fields=["name", "name_at"])
    Participant.objects.filter(conversation__channel=channel, address=event.address).update(
        name=contact.name
    )
