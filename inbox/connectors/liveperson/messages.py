"""Changes of ``ms.MessagingEventNotification``: messages, receipts and chat states.

A change is ``{sequence, originatorId, originatorMetadata{id, role}, serverTimestamp, event,
conversationId?, dialogId, messageAudience?, metadata?}``; ``event.type`` selects the handler.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..base import (
    AttachmentInfo,
    Audience,
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
    Typing,
    liveperson_message_id,
)
from ..payload import as_mapping, nonempty_str, required_str
from ..timestamps import from_epoch_ms
from .fields import first_text, optional_mapping, require_sequence, text

CONTENT = "ContentEvent"
RICH_CONTENT = "RichContentEvent"
ACCEPT_STATUS = "AcceptStatusEvent"
CHAT_STATE = "ChatStateEvent"

# LivePerson's documentation spells the receipt event "AccpetStatusEvent" in places.
EVENT_ALIASES: Mapping[str, str] = {"AccpetStatusEvent": ACCEPT_STATUS}

CONSUMER = "CONSUMER"
PRIVATE_AUDIENCE = "AGENTS_AND_MANAGERS"
COMPOSING = "COMPOSING"

# Receipt status -> delivery step. ACCESS (the agent opened a file) implies the message was
# read; NACK, ACTION and unknown words pass through as per-recipient flags.
RECEIPT_STEPS: Mapping[str, str] = {
    "ACCEPT": Step.DELIVERED,
    "READ": Step.READ,
    "ACCESS": Step.READ,
}

# hosted/file ``fileType`` -> MIME type.
FILE_TYPES: Mapping[str, str] = {
    "JPG": "image/jpeg",
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "PDF": "application/pdf",
    "DOCX": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "XLSX": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "PPTX": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}

# Structured-content keys whose strings a person sees; "click" holds what a tap does instead.
RICH_TEXT_KEYS = ("text", "title")
RICH_SKIPPED_KEYS = frozenset({"click", "metadata"})


def canonical_event_type(event: object) -> str:
    """``event.type`` with the documented misspelling corrected; ``""`` when absent."""
    event_type = text(optional_mapping(event).get("type"))
    return EVENT_ALIASES.get(event_type, event_type)


def _conversation_id(change: Mapping[str, Any]) -> str:
    # Some payloads omit conversationId; the MAIN dialog's id equals the conversation's.
    value = first_text(change.get("conversationId"), change.get("dialogId"))
    return nonempty_str(value, "LivePerson change conversationId/dialogId")


def _dialog_id(change: Mapping[str, Any]) -> str:
    value = first_text(change.get("dialogId"), change.get("conversationId"))
    return nonempty_str(value, "LivePerson change dialogId")


def _originator(change: Mapping[str, Any]) -> Party:
    metadata = optional_mapping(change.get("originatorMetadata"))
    address = first_text(change.get("originatorId"), metadata.get("id"))
    return Party(
        nonempty_str(address, "LivePerson change originatorId"), role=text(metadata.get("role"))
    )


# --- ContentEvent bodies ---------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    """What a content type contributes to a message."""

    kind: ContentKind
    text: str = ""
    attachments: tuple[AttachmentInfo, ...] = ()


def _plain_text(message: object) -> Body:
    if not isinstance(message, str):
        raise PayloadError(f"LivePerson text/plain message is not a string: {message!r}")
    return Body(ContentKind.TEXT, message)


def _hosted_file(message: object) -> Body:
    file = as_mapping(message, "LivePerson hosted/file message")
    path = required_str(file, "relativePath", "LivePerson hosted/file message")
    caption = text(file.get("caption"))
    attachment = AttachmentInfo(
        external_id=path,
        filename=posixpath.basename(path),
        mime_type=FILE_TYPES.get(text(file.get("fileType")).upper(), ""),
        caption=caption,
        preview=text(file.get("preview")),
        url=path,
    )
    return Body(ContentKind.FILE, caption, (attachment,))


def _form(default_title: str) -> Callable[[object], Body]:
    def form(message: object) -> Body:
        title = text(optional_mapping(message).get("title"))
        return Body(ContentKind.FORM, title or default_title)

    return form


# contentType -> body reader; any other content type is kept raw as unsupported.
CONTENT_TYPES: Mapping[str, Callable[[object], Body]] = {
    "text/plain": _plain_text,
    "hosted/file": _hosted_file,
    "forms/secure-invitation": _form("Secure form invitation"),
    "forms/secure-submission": _form("Secure form submitted"),
}


def _content_body(event: Mapping[str, Any]) -> Body:
    reader = CONTENT_TYPES.get(text(event.get("contentType")))
    return reader(event.get("message")) if reader else Body(ContentKind.UNSUPPORTED)


def _rich_strings(node: object) -> Iterator[str]:
    """The visible strings of a structured-content tree, in document order."""
    if isinstance(node, list):
        for item in node:
            yield from _rich_strings(item)
    elif isinstance(node, Mapping):
        for key, value in node.items():
            if key in RICH_TEXT_KEYS and isinstance(value, str):
                if value:
                    yield value
            elif key not in RICH_SKIPPED_KEYS:
                yield from _rich_strings(value)


def _rich_body(event: Mapping[str, Any]) -> Body:
    return Body(ContentKind.RICH, "\n".join(_rich_strings(event.get("content"))))


# --- handlers --------------------------------------------------------------------------------


def _message(change: Mapping[str, Any], event: Mapping[str, Any], body: Body) -> MessageUpserted:
    sender = _originator(change)
    sequence = require_sequence(change.get("sequence"), "message sequence")
    message_id = liveperson_message_id(_dialog_id(change), sequence)
    sent_at = from_epoch_ms(change.get("serverTimestamp"))
    private = change.get("messageAudience") == PRIVATE_AUDIENCE
    return MessageUpserted(
        conversation=ConversationRef(
            _conversation_id(change), ConversationKind.DIRECT, participants=(sender,)
        ),
        message_id=message_id,
        # The inbox speaks for the consumer, so consumer messages (our own echoes included) are
        # outbound and everything agents, bots and managers write is inbound.
        direction=Direction.OUT if sender.role == CONSUMER else Direction.IN,
        sender=sender,
        sent_at=sent_at,
        text=body.text,
        content=dict(event),
        content_kind=body.kind,
        audience=Audience.INTERNAL if private else Audience.ALL,
        sequence=sequence,
        attachments=body.attachments,
        statuses=(StatusObserved(message_id, Step.SENT, sent_at),),
    )


def _content(change: Mapping[str, Any], event: Mapping[str, Any]) -> list[Event]:
    return [_message(change, event, _content_body(event))]


def _rich_content(change: Mapping[str, Any], event: Mapping[str, Any]) -> list[Event]:
    return [_message(change, event, _rich_body(event))]


def _accept_status(change: Mapping[str, Any], event: Mapping[str, Any]) -> list[Event]:
    status = required_str(event, "status", "LivePerson AcceptStatusEvent")
    listed = event.get("sequenceList")
    if not isinstance(listed, list):
        raise PayloadError(f"LivePerson AcceptStatusEvent sequenceList is not a list: {listed!r}")
    sequences = dict.fromkeys(require_sequence(item, "sequenceList item") for item in listed)
    conversation_id = _conversation_id(change)
    dialog_id = _dialog_id(change)
    participant = first_text(
        change.get("originatorId"), optional_mapping(change.get("originatorMetadata")).get("id")
    )
    at = from_epoch_ms(change.get("serverTimestamp"))
    step = RECEIPT_STEPS.get(status, status)
    return [
        StatusChanged(
            conversation_id,
            StatusObserved(liveperson_message_id(dialog_id, sequence), step, at, participant),
        )
        for sequence in sequences
    ]


def _chat_state(change: Mapping[str, Any], event: Mapping[str, Any]) -> list[Event]:
    state = required_str(event, "chatState", "LivePerson ChatStateEvent")
    return [
        Typing(
            conversation_id=_conversation_id(change),
            address=_originator(change).address,
            typing=state == COMPOSING,
            at=from_epoch_ms(change.get("serverTimestamp")),
        )
    ]


Handler = Callable[[Mapping[str, Any], Mapping[str, Any]], list[Event]]

# event.type (after EVENT_ALIASES) -> handler; other event types yield nothing.
HANDLERS: Mapping[str, Handler] = {
    CONTENT: _content,
    RICH_CONTENT: _rich_content,
    ACCEPT_STATUS: _accept_status,
    CHAT_STATE: _chat_state,
}


def parse_change(change: Mapping[str, Any]) -> list[Event]:
    """The events of one messaging change; ``[]`` for an event type the inbox does not use.

    Raises PayloadError when the change has no event type or lacks what its type needs.
    """
    event = as_mapping(change.get("event"), "LivePerson change event")
    event_type = nonempty_str(canonical_event_type(event), "LivePerson event type")
    handler = HANDLERS.get(event_type)
    return handler(change, event) if handler else []
