"""enmeshed MessageDTOs (7.x and the 1.x shape with ``relationshipIds``) -> MessageUpserted."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
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
    StatusObserved,
    Step,
)
from ..payload import (
    as_mapping,
    mappings,
    optional_bool,
    optional_int,
    optional_str,
    required_str,
    strings,
)
from ..timestamps import parse_iso
from .dto import required_time

# Which side of the exchange a trigger implies when the DTO has no ``isOwn`` (1.x).
_OWN_BY_TRIGGER = {"transport.messageSent": True, "transport.messageReceived": False}


@dataclass(frozen=True)
class _Recipient:
    address: str
    received_at: datetime | None
    relationship_id: str


@dataclass(frozen=True)
class Rendering:
    """What the inbox displays for a message content."""

    kind: ContentKind
    text: str = ""
    subject: str = ""


def message_events(trigger: str, data: Any, context: ChannelContext) -> list[Event]:
    """One MessageDTO (webhook or poll) -> one MessageUpserted; raises PayloadError."""
    message = as_mapping(data, "message")
    message_id = required_str(message, "id", "message")
    what = f"message {message_id}"
    sender = required_str(message, "createdBy", what)
    sent_at = required_time(message, "createdAt", what)
    recipients = _recipients(message, what)
    own = _is_own(trigger, message, context, what)
    own_address = _own_address(context, own, sender, recipients)
    if "content" not in message or message["content"] is None:
        raise PayloadError(f"{what} has no content")
    content = message["content"]
    others = _others(sender, recipients, content, own_address, what)
    rendering = render_content(content)
    return [
        MessageUpserted(
            conversation=_conversation(others, rendering),
            message_id=message_id,
            direction=Direction.OUT if own else Direction.IN,
            sender=Party(sender),
            sent_at=sent_at,
            text=rendering.text,
            subject=rendering.subject,
            content=content,
            content_kind=rendering.kind,
            attachments=_attachments(message.get("attachments"), what),
            recipients=tuple(Party(recipient.address) for recipient in recipients),
            statuses=_statuses(message, message_id, own, own_address, sent_at, recipients),
            relationship_ids=_relationship_ids(
                message, recipients, own, sender, own_address, others, what
            ),
        )
    ]


def _recipients(message: Mapping[str, Any], what: str) -> tuple[_Recipient, ...]:
    where = f"{what} recipient"
    return tuple(
        _Recipient(
            address=required_str(entry, "address", where),
            received_at=parse_iso(entry.get("receivedAt")),
            relationship_id=optional_str(entry, "relationshipId", where),
        )
        for entry in mappings(message.get("recipients"), f"{what} recipients")
    )


def _is_own(trigger: str, message: Mapping[str, Any], context: ChannelContext, what: str) -> bool:
    is_own = optional_bool(message, "isOwn", what)
    if is_own is not None:
        return is_own
    if trigger in _OWN_BY_TRIGGER:
        return _OWN_BY_TRIGGER[trigger]
    # A 1.x poll result says nothing about its side: only our own address can tell.
    return message.get("createdBy") == _configured_address(context)


def _configured_address(context: ChannelContext) -> str:
    address = context.settings.get("address")
    return address if isinstance(address, str) else ""


def _own_address(
    context: ChannelContext, own: bool, sender: str, recipients: tuple[_Recipient, ...]
) -> str:
    """Our identity's address; ``""`` when neither the settings nor the message reveal it."""
    configured = _configured_address(context)
    if configured:
        return configured
    if own:
        return sender
    # A received message lists only us as its recipient.
    return recipients[0].address if len(recipients) == 1 else ""


def _others(
    sender: str,
    recipients: tuple[_Recipient, ...],
    content: Any,
    own_address: str,
    what: str,
) -> tuple[str, ...]:
    """Everyone in the exchange except us, sorted: the conversation key."""
    addresses = {sender, *(recipient.address for recipient in recipients)}
    if isinstance(content, Mapping) and content.get("@type") == "Mail":
        addresses.update(strings(content.get("to"), f"{what} content.to"))
        addresses.update(strings(content.get("cc"), f"{what} content.cc"))
    others = addresses - {own_address}
    # A note to ourselves still needs a conversation: the one with ourselves.
    return tuple(sorted(others or {sender}))


def _conversation(others: tuple[str, ...], rendering: Rendering) -> ConversationRef:
    participants = tuple(Party(address) for address in others)
    if len(others) == 1:
        return ConversationRef(others[0], ConversationKind.DIRECT, participants=participants)
    key = hashlib.sha256(",".join(others).encode("utf-8")).hexdigest()[:40]
    return ConversationRef(
        external_id=f"group:{key}",
        kind=ConversationKind.GROUP,
        title=rendering.subject,
        participants=participants,
    )


# --- content ---------------------------------------------------------------------------------


def _text(content: Mapping[str, Any], key: str) -> str:
    value = content.get(key)
    return value if isinstance(value, str) else ""


def _mail(content: Mapping[str, Any]) -> Rendering:
    return Rendering(ContentKind.TEXT, _text(content, "body"), _text(content, "subject"))


def _request(content: Mapping[str, Any]) -> Rendering:
    return Rendering(
        ContentKind.FORM, _text(content, "title") or _text(content, "description") or "Request"
    )


def _response_wrapper(content: Mapping[str, Any]) -> Rendering:
    response = content.get("response")
    result = _text(response, "result") if isinstance(response, Mapping) else ""
    text = f"Response to request {_text(content, 'requestId') or '(unknown)'}"
    return Rendering(ContentKind.SYSTEM, f"{text}: {result}" if result else text)


def _notification(content: Mapping[str, Any]) -> Rendering:
    notification_id = _text(content, "id")
    return Rendering(
        ContentKind.SYSTEM, f"Notification {notification_id}" if notification_id else "Notification"
    )


def _arbitrary(content: Mapping[str, Any]) -> Rendering:
    return Rendering(ContentKind.SYSTEM)


_CONTENT_TYPES: dict[str, Callable[[Mapping[str, Any]], Rendering]] = {
    "Mail": _mail,
    "Request": _request,
    "ResponseWrapper": _response_wrapper,
    "Notification": _notification,
    "ArbitraryMessageContent": _arbitrary,
}


def render_content(content: Any) -> Rendering:
    """How a message content shows in the inbox; the raw content is kept beside it."""
    if not isinstance(content, Mapping) or "@type" not in content:
        # 1.x accepted any JSON as content: show it as a structured item.
        return Rendering(ContentKind.SYSTEM)
    handler = _CONTENT_TYPES.get(str(content["@type"]))
    return handler(content) if handler else Rendering(ContentKind.UNSUPPORTED)


# --- attachments, statuses, relationships ----------------------------------------------------


def _attachments(value: Any, what: str) -> tuple[AttachmentInfo, ...]:
    """FIL ids (webhooks, MessageDTO) or full FileDTOs (``GET /Messages/{id}``)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PayloadError(f"{what} attachments must be a list")
    return tuple(_attachment(item, f"{what} attachment") for item in value)


def _attachment(item: Any, what: str) -> AttachmentInfo:
    if isinstance(item, str) and item:
        return AttachmentInfo(external_id=item)
    file = as_mapping(item, what)
    return AttachmentInfo(
        external_id=required_str(file, "id", what),
        filename=optional_str(file, "filename", what),
        mime_type=optional_str(file, "mimetype", what),
        size=optional_int(file, "filesize", what),
        caption=optional_str(file, "title", what),
    )


def _statuses(
    message: Mapping[str, Any],
    message_id: str,
    own: bool,
    own_address: str,
    sent_at: datetime,
    recipients: tuple[_Recipient, ...],
) -> tuple[StatusObserved, ...]:
    observed = []
    if own:
        observed.append(StatusObserved(message_id, Step.SENT, sent_at))
    # On a received message the only recipient is us: "delivered" to us is still a fact.
    observed.extend(
        StatusObserved(message_id, Step.DELIVERED, recipient.received_at, recipient.address)
        for recipient in recipients
        if recipient.received_at is not None
    )
    read_at = parse_iso(message.get("wasReadAt"))
    if read_at is not None:
        observed.append(StatusObserved(message_id, Step.READ, read_at, own_address))
    return tuple(observed)


def _relationship_ids(
    message: Mapping[str, Any],
    recipients: tuple[_Recipient, ...],
    own: bool,
    sender: str,
    own_address: str,
    others: tuple[str, ...],
    what: str,
) -> dict[str, str]:
    """address -> REL id, from 7.x recipient entries or a 1.x single ``relationshipIds``."""
    found = {r.address: r.relationship_id for r in recipients if r.relationship_id}
    if not own:
        # Our recipient entry on a received message names the relationship with the sender.
        ours = [r for r in recipients if r.address == own_address] or list(recipients[:1])
        if ours and ours[0].relationship_id:
            found.setdefault(sender, ours[0].relationship_id)
    legacy = strings(message.get("relationshipIds"), f"{what} relationshipIds")
    # Several 1.x ids cannot be paired with addresses: the DTO does not say which is whose.
    if len(legacy) == 1 and len(others) == 1:
        found.setdefault(others[0], legacy[0])
        if not own and own_address:
            # As in 7.x, our own recipient row on a received message names the relationship.
            found.setdefault(own_address, legacy[0])
    return found
