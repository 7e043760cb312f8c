"""Changes of ``ms.MessagingEventNotification``: messages, receipts and chat states.

A change is ``{sequence, originatorId, originatorMetadata{id, role}, serverTimestamp, event,
conversationId?, dialogId, messageAudience?, metadata?}``; ``event.type`` selects the handler.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ...choices import Audience, ContentKind, Direction, Step
from ..contract import PayloadError
from ..events import (
    AttachmentInfo,
    Choice,
    ConversationRef,
    Event,
    MessageUpserted,
    Party,
    StatusChanged,
    StatusObserved,
    Typing,
)
from ..payload import Payload
from .ids import conversation_id, dialog_id, event_type, liveperson_message_id, sequence

CONTENT = "ContentEvent"
RICH_CONTENT = "RichContentEvent"
ACCEPT_STATUS = "AcceptStatusEvent"
CHAT_STATE = "ChatStateEvent"

CONSUMER = "CONSUMER"
PRIVATE_AUDIENCE = "AGENTS_AND_MANAGERS"
COMPOSING = "COMPOSING"
PUBLISH_TEXT = "publishText"

# Receipt status -> delivery step. ACCESS (the agent opened a file) implies the message was
# read; NACK, ACTION and unknown words are recorded as per-recipient flags.
RECEIPT_STEPS: Mapping[str, Step] = {
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
RICH_TEXT_KEYS = frozenset({"text", "title"})
RICH_SKIPPED_KEYS = frozenset({"click", "metadata"})


def _originator_address(change: Payload) -> str:
    """Who caused the change, or ``""`` when it does not say."""
    metadata = change.get("originatorMetadata").optional_mapping()
    return change.get("originatorId").optional_string() or metadata.get("id").optional_string()


def _originator(change: Payload) -> Party:
    address = _originator_address(change)
    if not address:
        raise PayloadError(f"{change.get('originatorId').path} is missing")
    role = change.get("originatorMetadata").get("role").optional_string()
    return Party(address, role=role)


def _conversation(change: Payload, sender: Party) -> ConversationRef:
    # A change naming only its dialog may belong to a conversation with another id (a
    # post-survey dialog): the services move the message once a snapshot lists the dialog.
    explicit = change.get("conversationId").optional_string()
    return ConversationRef(
        explicit or dialog_id(change), participants=(sender,), provisional=not explicit
    )


# --- ContentEvent bodies ---------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    """What a content type contributes to a message."""

    kind: ContentKind
    text: str = ""
    attachments: tuple[AttachmentInfo, ...] = ()


def _plain_text(message: Payload) -> Body:
    return Body(ContentKind.TEXT, message.string(allow_empty=True))


def _hosted_file(message: Payload) -> Body:
    file = message.mapping()
    path = file["relativePath"].string()
    caption = file.get("caption").optional_string()
    attachment = AttachmentInfo(
        external_id=path,
        filename=posixpath.basename(path),
        mime_type=FILE_TYPES.get(file.get("fileType").optional_string().upper(), ""),
        caption=caption,
        preview=file.get("preview").optional_string(),
        url=path,
    )
    return Body(ContentKind.FILE, caption, (attachment,))


def _form(default_title: str) -> Callable[[Payload], Body]:
    def form(message: Payload) -> Body:
        return Body(ContentKind.FORM, message.get("title").optional_string() or default_title)

    return form


# contentType -> body reader of ``event.message``; other content types are kept as unsupported.
CONTENT_TYPES: Mapping[str, Callable[[Payload], Body]] = {
    "text/plain": _plain_text,
    "hosted/file": _hosted_file,
    "forms/secure-invitation": _form("Secure form invitation"),
    "forms/secure-submission": _form("Secure form submitted"),
}


def _content_body(event: Payload) -> Body:
    reader = CONTENT_TYPES.get(event.get("contentType").optional_string())
    return reader(event["message"]) if reader else Body(ContentKind.UNSUPPORTED)


def _rich_strings(node: Payload) -> Iterator[str]:
    """The visible strings of a structured-content tree, in document order."""
    if isinstance(node.raw, list):
        for item in node.elements():
            yield from _rich_strings(item)
    elif isinstance(node.raw, Mapping):
        for key, child in node.items():
            if key in RICH_TEXT_KEYS and isinstance(child.raw, str):
                if child.raw:
                    yield child.raw
            elif key not in RICH_SKIPPED_KEYS:
                yield from _rich_strings(child)


def _rich_body(event: Payload) -> Body:
    return Body(ContentKind.RICH, "\n".join(_rich_strings(event.get("content"))))


def _choice(reply: Payload) -> Choice:
    """A quick reply button: its title, and the text a tap publishes (the title if none)."""
    title = reply.mapping()["title"].string()
    for action in reply.get("click").get("actions").optional_elements():
        if action.mapping().get("type").optional_string() == PUBLISH_TEXT:
            return Choice(title, text=action["text"].string())
    return Choice(title, text=title)


def _choices(event: Payload) -> tuple[Choice, ...]:
    replies = event.get("quickReplies").get("replies").optional_elements()
    return tuple(_choice(reply) for reply in replies)


def _content(change: Payload, event: Payload) -> Any:
    """The event as sent, with the change's ``metadata`` beside it (the event's own keys win)."""
    metadata = change.get("metadata")
    if metadata.is_missing:
        return dict(event.raw)
    return {"metadata": metadata.raw, **event.raw}


# --- handlers --------------------------------------------------------------------------------


def _message(change: Payload, event: Payload, body: Body) -> list[Event]:
    sender = _originator(change)
    number = sequence(change["sequence"])
    message_id = liveperson_message_id(dialog_id(change), number)
    sent_at = change.get("serverTimestamp").optional_epoch_ms()
    private = change.get("messageAudience").optional_string() == PRIVATE_AUDIENCE
    return [
        MessageUpserted(
            conversation=_conversation(change, sender),
            message_id=message_id,
            # The inbox speaks for the consumer, so consumer messages (our own echoes included)
            # are outbound and everything agents, bots and managers write is inbound.
            direction=Direction.OUT if sender.role == CONSUMER else Direction.IN,
            sender=sender,
            sent_at=sent_at,
            text=body.text,
            content=_content(change, event),
            content_kind=body.kind,
            audience=Audience.INTERNAL if private else Audience.ALL,
            sequence=number,
            attachments=body.attachments,
            choices=_choices(event),
            statuses=(StatusObserved(message_id, step=Step.SENT, at=sent_at),),
        )
    ]


def _content_event(change: Payload, event: Payload) -> list[Event]:
    return _message(change, event, _content_body(event))


def _rich_content_event(change: Payload, event: Payload) -> list[Event]:
    return _message(change, event, _rich_body(event))


def _accept_status_event(change: Payload, event: Payload) -> list[Event]:
    status = event["status"].string()
    sequences = dict.fromkeys(sequence(item) for item in event["sequenceList"].elements())
    dialog = dialog_id(change)
    target = conversation_id(change)
    participant = _originator_address(change)
    at = change.get("serverTimestamp").optional_epoch_ms()
    step = RECEIPT_STEPS.get(status)
    return [
        StatusChanged(
            target,
            StatusObserved(
                liveperson_message_id(dialog, number),
                step=step,
                flag=status if step is None else "",
                at=at,
                participant=participant,
            ),
        )
        for number in sequences
    ]


def _chat_state_event(change: Payload, event: Payload) -> list[Event]:
    state = event["chatState"].string()
    return [
        Typing(
            conversation_id=conversation_id(change),
            address=_originator(change).address,
            typing=state == COMPOSING,
            at=change.get("serverTimestamp").optional_epoch_ms(),
        )
    ]


Handler = Callable[[Payload, Payload], list[Event]]

# event.type (misspelling corrected) -> handler; other event types yield nothing.
HANDLERS: Mapping[str, Handler] = {
    CONTENT: _content_event,
    RICH_CONTENT: _rich_content_event,
    ACCEPT_STATUS: _accept_status_event,
    CHAT_STATE: _chat_state_event,
}


def parse_change(change: Payload) -> list[Event]:
    """The events of one messaging change; ``[]`` for an event type the inbox does not use.

    Raises PayloadError, naming the path, when the change lacks what its type needs.
    """
    handler = HANDLERS.get(event_type(change))
    return handler(change, change["event"]) if handler else []
