"""``conversationMessage.*`` events: sent messages and their delivery receipts.

Socket and webhook shapes differ in the message payload: the socket has ``messageId`` and puts
the conversation only in ``payload.context.conversationId``; the webhook uses ``id`` and adds
``conversationId``, ``conversationEventId``, ``scope`` and ``direction``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..base import (
    AttachmentInfo,
    ChannelContext,
    ContentKind,
    ConversationKind,
    ConversationRef,
    Direction,
    Event,
    MessageUpserted,
    Party,
    PayloadError,
    StatusChanged,
    StatusObserved,
    Step,
)
from .envelope import (
    Frame,
    event_time,
    first_time,
    mapping,
    optional_int,
    optional_str,
    payload_of,
    required_str,
)

_TEXT_TYPES = frozenset({"", "text/plain"})


def message_sent(frame: Frame, context: ChannelContext) -> list[Event]:
    """One message, with the ``sent`` step observed at its send time."""
    payload = payload_of(frame)
    message_context = mapping(payload, "context")
    conversation_id = _message_conversation_id(frame, payload, message_context)
    message_id = required_str(payload, "messageId", "id", what="message id")
    sender = _sender(frame, message_context)
    sent_at = first_time(message_context, "sentOn", event_time(frame))
    text, attachments = _read_parts(payload.get("parts"))
    return [
        MessageUpserted(
            conversation=ConversationRef(
                external_id=conversation_id,
                kind=ConversationKind.DIRECT,
                participants=(sender,),
            ),
            message_id=message_id,
            direction=_direction(payload, sender, context),
            sender=sender,
            sent_at=sent_at,
            text=text,
            content=payload,
            content_kind=_content_kind(text, attachments),
            sequence=_sequence(frame, payload),
            attachments=attachments,
            statuses=(StatusObserved(message_id, Step.SENT.value, sent_at),),
        )
    ]


def message_delivered(frame: Frame, context: ChannelContext) -> list[Event]:
    return _receipt(frame, Step.DELIVERED.value)


def message_read(frame: Frame, context: ChannelContext) -> list[Event]:
    return _receipt(frame, Step.READ.value)


def _receipt(frame: Frame, status: str) -> list[Event]:
    """A per-recipient receipt: ``profileId`` is the participant who received or read it."""
    payload = payload_of(frame)
    conversation_id = _conversation_id(frame, payload)
    observation = StatusObserved(
        message_id=required_str(payload, "messageId", "id", what="message id"),
        status=status,
        at=first_time(payload, "timestamp", event_time(frame)),
        participant=optional_str(payload, "profileId"),
    )
    return [StatusChanged(conversation_id=conversation_id, observation=observation)]


def _conversation_id(frame: Frame, payload: Frame) -> str:
    conversation_id = optional_str(payload, "conversationId") or optional_str(
        frame, "conversationId"
    )
    if not conversation_id:
        raise PayloadError("conversation id is missing")
    return conversation_id


def _message_conversation_id(frame: Frame, payload: Frame, message_context: Frame) -> str:
    # The socket frame for a sent message has no top-level conversationId: the message's own
    # context is the reliable place, the webhook's payload field the second one.
    return optional_str(message_context, "conversationId") or _conversation_id(frame, payload)


def _sender(frame: Frame, message_context: Frame) -> Party:
    sender = mapping(message_context, "from")
    address = (
        optional_str(sender, "id")
        or optional_str(message_context, "sentBy")
        or optional_str(mapping(frame, "context"), "createdBy")
    )
    if not address:
        raise PayloadError("message has no sender (context.from.id)")
    return Party(address=address, name=optional_str(sender, "name"))


def _direction(payload: Frame, sender: Party, context: ChannelContext) -> Direction:
    """OUT for our own messages: sent by the channel's profile, or flagged by the webhook."""
    own_profile = context.settings.get("profile_id")
    if own_profile not in (None, "") and sender.address == str(own_profile):
        return Direction.OUT
    if optional_str(payload, "direction").lower() == "outbound":
        return Direction.OUT
    return Direction.IN


def _sequence(frame: Frame, payload: Frame) -> int | None:
    top_level = optional_int(frame, "conversationEventId")
    return top_level if top_level is not None else optional_int(payload, "conversationEventId")


def _read_parts(parts: Any) -> tuple[str, tuple[AttachmentInfo, ...]]:
    """Plain-text parts joined into the message text; parts with a url, or inline non-text data,
    as attachments. Parts with neither carry nothing to show and are skipped."""
    if parts is None:
        return "", ()
    if not isinstance(parts, Sequence) or isinstance(parts, str):
        raise PayloadError("'parts' must be a list")
    texts: list[str] = []
    attachments: list[AttachmentInfo] = []
    for index, part in enumerate(parts):
        if not isinstance(part, Mapping):
            raise PayloadError(f"message part {index} must be an object")
        mime_type = optional_str(part, "type")
        url = optional_str(part, "url")
        data = part.get("data")
        if url:
            attachments.append(_attachment(part, mime_type, external_id=url, url=url))
        elif _is_text(mime_type) and isinstance(data, str) and data:
            texts.append(data)
        elif data not in (None, ""):
            name = optional_str(part, "name") or f"part-{index}"
            attachments.append(_attachment(part, mime_type, external_id=name, url=""))
    return "\n".join(texts), tuple(attachments)


def _is_text(mime_type: str) -> bool:
    # Parameters such as "; charset=utf-8" do not change what the part is.
    return mime_type.split(";", 1)[0].strip().lower() in _TEXT_TYPES


def _attachment(part: Frame, mime_type: str, *, external_id: str, url: str) -> AttachmentInfo:
    return AttachmentInfo(
        external_id=external_id,
        filename=optional_str(part, "name"),
        mime_type=mime_type,
        size=optional_int(part, "size"),
        url=url,
    )


def _content_kind(text: str, attachments: tuple[AttachmentInfo, ...]) -> ContentKind:
    if text:
        return ContentKind.TEXT
    if attachments:
        return ContentKind.FILE
    return ContentKind.UNSUPPORTED
