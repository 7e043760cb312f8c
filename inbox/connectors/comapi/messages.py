"""``conversationMessage.*`` events: sent messages and their delivery receipts.

The two shapes differ in the message payload: the socket frame has ``messageId`` and names the
conversation only in ``payload.context.conversationId``; the webhook envelope uses ``id`` and adds
``conversationId``, ``conversationEventId``, ``scope`` and a direction.
"""

from __future__ import annotations

from inbox.choices import ContentKind, ConversationKind, Direction, Step

from ..contract import ChannelContext
from ..events import (
    AttachmentInfo,
    ConversationRef,
    Event,
    MessageUpserted,
    Party,
    StatusChanged,
    StatusObserved,
)
from ..payload import Payload
from .frames import Handler, body, event_time, first_of, time_or

_TEXT_TYPES = frozenset({"", "text/plain"})
# Comapi's words for which way a message went, as seen from our API space.
_DIRECTIONS = {"inbound": Direction.IN, "outbound": Direction.OUT}


def message_id(payload: Payload) -> str:
    """A message's id: ``messageId`` in socket frames, ``id`` in webhook envelopes."""
    return first_of(payload.get("messageId"), payload.get("id")).identifier()


def message_sent(event: Payload, context: ChannelContext) -> list[Event]:
    """One message, with the ``sent`` step observed at its send time."""
    payload = body(event)
    message_context = payload.get("context").optional_mapping()
    # The socket frame has no other place for the conversation than the message's own context.
    conversation_id = first_of(
        message_context.get("conversationId"),
        payload.get("conversationId"),
        event.get("conversationId"),
    ).identifier()
    identifier = message_id(payload)
    sender = _sender(event, message_context)
    sent_at = time_or(message_context.get("sentOn"), event_time(event))
    text, attachments = _read_parts(payload.get("parts"))
    return [
        MessageUpserted(
            conversation=ConversationRef(
                external_id=conversation_id,
                kind=ConversationKind.DIRECT,
                participants=(sender,),
            ),
            message_id=identifier,
            direction=_direction(payload, message_context, sender, context),
            sender=sender,
            sent_at=sent_at,
            text=text,
            content=payload.raw,
            content_kind=_content_kind(text, attachments),
            sequence=first_of(
                event.get("conversationEventId"), payload.get("conversationEventId")
            ).optional_integer(digits=True),
            attachments=attachments,
            statuses=(StatusObserved(message_id=identifier, step=Step.SENT, at=sent_at),),
        )
    ]


def receipt(step: Step) -> Handler:
    """A per-recipient receipt: ``profileId`` is the participant who received or read it.

    A ``read`` is reported as it comes; keeping a later ``delivered`` from undoing it is the
    services' job (statuses only move forward there).
    """

    def handle(event: Payload, context: ChannelContext) -> list[Event]:
        payload = body(event)
        observation = StatusObserved(
            message_id=message_id(payload),
            step=step,
            at=time_or(payload.get("timestamp"), event_time(event)),
            participant=payload.get("profileId").optional_identifier(),
        )
        conversation_id = first_of(
            payload.get("conversationId"), event.get("conversationId")
        ).identifier()
        return [StatusChanged(conversation_id=conversation_id, observation=observation)]

    return handle


def _sender(event: Payload, message_context: Payload) -> Party:
    sender = message_context.get("from").optional_mapping()
    address = first_of(
        sender.get("id"),
        message_context.get("sentBy"),
        event.get("context").optional_mapping().get("createdBy"),
    ).identifier()
    return Party(address=address, name=sender.get("name").optional_string())


def _direction(
    payload: Payload, message_context: Payload, sender: Party, context: ChannelContext
) -> Direction:
    """OUT for our own messages: sent by the channel's profile, or called outbound by Comapi.

    Webhooks say so in ``payload.context.direction`` or ``payload.direction``; socket frames do
    not, so there the channel's ``profile_id`` setting is the only way to tell.
    """
    own_profile = context.settings.get("profile_id")
    if own_profile not in (None, "") and sender.address == str(own_profile):
        return Direction.OUT
    word = first_of(message_context.get("direction"), payload.get("direction")).optional_string()
    return _DIRECTIONS.get(word.lower(), Direction.IN)


def _read_parts(parts: Payload) -> tuple[str, tuple[AttachmentInfo, ...]]:
    """Plain-text parts joined into the message text; parts with a url, or inline non-text data,
    as attachments. Parts with neither carry nothing to show and are skipped."""
    texts: list[str] = []
    attachments: list[AttachmentInfo] = []
    for index, element in enumerate(parts.optional_elements()):
        part = element.mapping()
        mime_type = part.get("type").optional_string()
        url = part.get("url").optional_string()
        if url:
            attachments.append(_attachment(part, mime_type, external_id=url, url=url))
        elif _is_text(mime_type):
            if text := part.get("data").optional_string():
                texts.append(text)
        elif part.get("data").value not in (None, ""):
            name = part.get("name").optional_string() or f"part-{index}"
            attachments.append(_attachment(part, mime_type, external_id=name, url=""))
    return "\n".join(texts), tuple(attachments)


def _is_text(mime_type: str) -> bool:
    # Parameters such as "; charset=utf-8" do not change what the part is.
    return mime_type.split(";", 1)[0].strip().lower() in _TEXT_TYPES


def _attachment(part: Payload, mime_type: str, *, external_id: str, url: str) -> AttachmentInfo:
    return AttachmentInfo(
        external_id=external_id,
        filename=part.get("name").optional_string(),
        mime_type=mime_type,
        size=part.get("size").optional_integer(digits=True),
        url=url,
    )


def _content_kind(text: str, attachments: tuple[AttachmentInfo, ...]) -> ContentKind:
    if text:
        return ContentKind.TEXT
    if attachments:
        return ContentKind.FILE
    return ContentKind.UNSUPPORTED
