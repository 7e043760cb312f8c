"""``conversation.*`` events: conversation state, participants and typing.

Comapi names the conversation at the top level of socket frames (``conversationId``); webhook
envelopes have no such field and name it in the payload, as ``id`` or ``conversationId``.
"""

from __future__ import annotations

from inbox.choices import ConversationStatus

from ..contract import ChannelContext
from ..events import ConversationChanged, Event, ParticipantChanged, Party, Typing
from ..payload import Payload
from .frames import Handler, body, event_time, first_of, time_or

# Conversation settings kept as platform state; a key that is absent changes nothing.
_STATE_KEYS = ("description", "roles", "isPublic")


def _conversation_id(event: Payload, payload: Payload) -> str:
    return first_of(
        event.get("conversationId"), payload.get("id"), payload.get("conversationId")
    ).identifier()


def conversation_updated(event: Payload, context: ChannelContext) -> list[Event]:
    """Title, settings and, when the payload lists them, the complete set of participants.

    ``None`` leaves what is stored, so keys the payload does not carry change nothing.
    """
    payload = body(event)
    name = payload.get("name")
    present = set(payload.keys())
    state = {key: payload.get(key).raw for key in _STATE_KEYS if key in present}
    participants = payload.get("participants")
    return [
        ConversationChanged(
            conversation_id=_conversation_id(event, payload),
            at=event_time(event),
            title=None if name.is_missing else name.string(allow_empty=True),
            state=state or None,
            participants=None
            if participants.is_missing
            else tuple(_member(item) for item in participants.elements()),
        )
    ]


def _member(item: Payload) -> Party:
    # The REST API and webhooks call a member's profile ``id``; newer payloads ``profileId``.
    member = item.mapping()
    return Party(
        address=first_of(member.get("profileId"), member.get("id")).identifier(),
        role=member.get("role").optional_string(),
    )


def conversation_status(status: ConversationStatus) -> Handler:
    """A delete or undelete, dated by ``payload.date`` (else when it was published)."""

    def handle(event: Payload, context: ChannelContext) -> list[Event]:
        payload = body(event)
        return [
            ConversationChanged(
                conversation_id=_conversation_id(event, payload),
                at=time_or(payload.get("date"), event_time(event)),
                status=status,
            )
        ]

    return handle


def participant(present: bool | None) -> Handler:
    """Someone joined (``True``), left (``False``) or changed role (``None``).

    A role change without a role says nothing the inbox could apply and is ignored.
    """

    def handle(event: Payload, context: ChannelContext) -> list[Event]:
        payload = body(event)
        party = Party(
            address=payload["profileId"].identifier(),
            role=payload.get("role").optional_string(),
        )
        if present is None and not party.role:
            return []
        conversation_id = first_of(
            event.get("conversationId"), payload.get("conversationId"), payload.get("id")
        ).identifier()
        return [
            ParticipantChanged(
                conversation_id=conversation_id,
                party=party,
                present=present,
                at=event_time(event),
            )
        ]

    return handle


def typing(started: bool) -> Handler:
    """Someone started or stopped typing; ephemeral, never stored as rows."""

    def handle(event: Payload, context: ChannelContext) -> list[Event]:
        payload = body(event)
        return [
            Typing(
                conversation_id=first_of(
                    payload.get("conversationId"), event.get("conversationId")
                ).identifier(),
                address=payload["profileId"].identifier(),
                typing=started,
                at=event_time(event),
            )
        ]

    return handle
