"""Comapi socket frames and webhook envelopes -> deliveries and normalized events.

A webhook body is one envelope or an array of envelopes; a socket frame is always one. Both carry
a platform ``eventId`` (the dedup key, taken as-is so a socket copy and a webhook copy of one event
collapse when they carry the same id) and a ``name``, on which :func:`parse` dispatches through
:data:`HANDLERS`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from ..base import (
    ChannelContext,
    ConversationChanged,
    ConversationStatus,
    Delivery,
    Event,
    ParticipantChanged,
    Party,
    PayloadError,
    ProfileChanged,
    Typing,
)
from ..payload import canonical_hash
from . import messages
from .envelope import (
    Frame,
    event_time,
    first_time,
    optional_str,
    payload_of,
    required_str,
)

INVALID = "invalid"
_MAX_KEY = 200  # leaves room under the 255-char column for whatever the pipeline prefixes
_STATE_KEYS = ("description", "roles", "isPublic")

Handler = Callable[[Frame, ChannelContext], list[Event]]


# --- split -----------------------------------------------------------------------------------


def split(document: Any) -> list[Delivery]:
    """One delivery per envelope: a dict is one, a list (webhook batching) one per item.

    A list item that is not an object is still returned (named ``invalid``) so it is stored and
    fails visibly at parse time instead of failing the whole batch. Raises PayloadError for any
    other top-level shape.
    """
    if isinstance(document, Mapping):
        return [_delivery(document)]
    if isinstance(document, list):
        return [_delivery(item) for item in document]
    raise PayloadError(f"expected an event object or a list of them, got {type(document).__name__}")


def _delivery(item: Any) -> Delivery:
    if not isinstance(item, Mapping):
        return Delivery(dedup_key=_content_key(item), event_name=INVALID, payload=item)
    name = item.get("name")
    event_name = name if isinstance(name, str) and name else INVALID
    return Delivery(dedup_key=_dedup_key(item), event_name=event_name, payload=item)


def _dedup_key(envelope: Mapping[str, Any]) -> str:
    event_id = envelope.get("eventId")
    if isinstance(event_id, bool) or not isinstance(event_id, str | int) or event_id == "":
        return _content_key(envelope)
    key = str(event_id)
    return key if len(key) <= _MAX_KEY else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _content_key(item: Any) -> str:
    """A key for an envelope without an ``eventId``: the hash of its canonical JSON, so the same
    content redelivered (in any key order) collapses into one row."""
    return "sha256:" + canonical_hash(item)


# --- parse -----------------------------------------------------------------------------------


def parse(event_name: str, payload: Any, context: ChannelContext) -> list[Event]:
    """Normalized events for one stored delivery; ``[]`` for names the inbox does not use.

    Raises PayloadError when ``payload`` is not an envelope object or lacks what its event needs.
    """
    if not isinstance(payload, Mapping):
        raise PayloadError(f"expected an event object, got {type(payload).__name__}")
    if not optional_str(payload, "name"):
        raise PayloadError("event has no name")
    handler = HANDLERS.get(event_name)
    return handler(payload, context) if handler else []


def _ignored(frame: Frame, context: ChannelContext) -> list[Event]:
    return []


def _conversation_id(frame: Frame, payload: Frame) -> str:
    return optional_str(frame, "conversationId") or required_str(
        payload, "id", "conversationId", what="conversation id"
    )


def _conversation_updated(frame: Frame, context: ChannelContext) -> list[Event]:
    """Title and settings; ``None`` leaves what is stored, so absent keys change nothing."""
    payload = payload_of(frame)
    title = payload.get("name")
    if title is not None and not isinstance(title, str):
        raise PayloadError("conversation 'name' must be a string")
    state = {key: payload[key] for key in _STATE_KEYS if key in payload}
    return [
        ConversationChanged(
            conversation_id=_conversation_id(frame, payload),
            at=event_time(frame),
            title=title,
            state=state or None,
        )
    ]


def _conversation_status(status: ConversationStatus) -> Handler:
    def handle(frame: Frame, context: ChannelContext) -> list[Event]:
        payload = payload_of(frame)
        return [
            ConversationChanged(
                conversation_id=_conversation_id(frame, payload),
                at=first_time(payload, "date", event_time(frame)),
                status=status,
            )
        ]

    return handle


def _participant(present: bool) -> Handler:
    def handle(frame: Frame, context: ChannelContext) -> list[Event]:
        payload = payload_of(frame)
        party = Party(
            address=required_str(payload, "profileId", what="participant profileId"),
            role=optional_str(payload, "role"),
        )
        return [
            ParticipantChanged(
                conversation_id=optional_str(frame, "conversationId")
                or required_str(payload, "conversationId", what="conversation id"),
                party=party,
                present=present,
                at=event_time(frame),
            )
        ]

    return handle


def _typing(typing: bool) -> Handler:
    def handle(frame: Frame, context: ChannelContext) -> list[Event]:
        payload = payload_of(frame)
        conversation_id = optional_str(payload, "conversationId") or required_str(
            frame, "conversationId", what="conversation id"
        )
        return [
            Typing(
                conversation_id=conversation_id,
                address=required_str(payload, "profileId", what="typing profileId"),
                typing=typing,
                at=event_time(frame),
            )
        ]

    return handle


def _profile_updated(frame: Frame, context: ChannelContext) -> list[Event]:
    """A display name change; a profile update without any name says nothing the inbox shows."""
    payload = payload_of(frame)
    address = required_str(payload, "id", "profileId", what="profile id")
    full_name = f"{optional_str(payload, 'firstName')} {optional_str(payload, 'lastName')}"
    name = optional_str(payload, "name") or full_name.strip()
    if not name:
        return []
    return [ProfileChanged(address=address, name=name, at=event_time(frame))]


HANDLERS: dict[str, Handler] = {
    # conversation.create only reaches webhooks; it carries the same fields as an update.
    "conversation.create": _conversation_updated,
    "conversation.update": _conversation_updated,
    "conversation.delete": _conversation_status(ConversationStatus.DELETED),
    "conversation.undelete": _conversation_status(ConversationStatus.OPEN),
    "conversation.participantAdded": _participant(present=True),
    "conversation.participantRemoved": _participant(present=False),
    "conversation.participantTyping": _typing(typing=True),
    "conversation.participantTypingOff": _typing(typing=False),
    "conversationMessage.sent": messages.message_sent,
    "conversationMessage.delivered": messages.message_delivered,
    "conversationMessage.read": messages.message_read,
    "profile.update": _profile_updated,
    # Socket housekeeping: the greeting frame and our own keep-alive echoed back.
    "socket.info": _ignored,
    "echo": _ignored,
}
