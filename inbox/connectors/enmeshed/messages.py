"""enmeshed MessageDTOs (7.x and the 1.x shape with ``relationshipIds``) -> MessageUpserted."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inbox.choices import ContentKind, ConversationKind, Direction, Step

from ..contract import ChannelContext
from ..events import (
    AttachmentInfo,
    ConversationRef,
    Event,
    MessageUpserted,
    Party,
    StatusObserved,
)
from ..payload import Payload

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
    message = Payload(data, "message")
    message_id = message["id"].string()
    sender = message["createdBy"].string()
    sent_at = message["createdAt"].timestamp()
    recipients = _recipients(message)
    own = _is_own(trigger, message, sender, context)
    own_address = _own_address(context, own, sender, recipients)
    content = message["content"]
    others = _others(sender, recipients, content, own_address)
    rendering = render_content(content)
    return [
        MessageUpserted(
            conversation=_conversation(others, rendering),
            message_id=message_id,
            direction=Direction.OUT if own else Direction.IN,
            sender=Party(address=sender),
            sent_at=sent_at,
            text=rendering.text,
            subject=rendering.subject,
            content=content.raw,
            content_kind=rendering.kind,
            attachments=tuple(
                _attachment(item) for item in message.get("attachments").optional_elements()
            ),
            recipients=tuple(Party(address=recipient.address) for recipient in recipients),
            statuses=_statuses(message, message_id, own, own_address, sent_at, recipients),
            relationship_ids=_relationship_ids(
                message, recipients, own, sender, own_address, others
            ),
        )
    ]


def _recipients(message: Payload) -> tuple[_Recipient, ...]:
    return tuple(
        _Recipient(
            address=entry["address"].string(),
            received_at=entry.get("receivedAt").optional_timestamp(),
            relationship_id=entry.get("relationshipId").optional_string(),
        )
        for entry in message.get("recipients").optional_elements()
    )


def _is_own(trigger: str, message: Payload, sender: str, context: ChannelContext) -> bool:
    is_own = message.get("isOwn").optional_boolean()
    if is_own is not None:
        return is_own
    if trigger in _OWN_BY_TRIGGER:
        return _OWN_BY_TRIGGER[trigger]
    # A 1.x poll result says nothing about its side: only our own address can tell.
    return sender == _configured_address(context)


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
    sender: str, recipients: tuple[_Recipient, ...], content: Payload, own_address: str
) -> tuple[str, ...]:
    """Everyone in the exchange except us, sorted: the conversation key."""
    addresses = {sender, *(recipient.address for recipient in recipients)}
    if _content_type(content) == "Mail":
        # A received Mail lists only us as recipient; its whole audience is in to and cc.
        addresses.update(content.get("to").strings())
        addresses.update(content.get("cc").strings())
    others = addresses - {own_address}
    # A note to ourselves still needs a conversation: the one with ourselves.
    return tuple(sorted(others or {sender}))


def group_conversation_id(addresses: Iterable[str]) -> str:
    """The conversation id of an exchange with several others: a digest of their addresses."""
    joined = ",".join(sorted(addresses))
    return "group:" + hashlib.sha256(joined.encode("utf-8")).hexdigest()[:40]


def _conversation(others: tuple[str, ...], rendering: Rendering) -> ConversationRef:
    participants = tuple(Party(address=address) for address in others)
    if len(others) == 1:
        return ConversationRef(
            external_id=others[0], kind=ConversationKind.DIRECT, participants=participants
        )
    return ConversationRef(
        external_id=group_conversation_id(others),
        kind=ConversationKind.GROUP,
        title=rendering.subject,
        participants=participants,
    )


# --- content ---------------------------------------------------------------------------------


def _mail(content: Payload) -> Rendering:
    return Rendering(
        kind=ContentKind.TEXT,
        text=content.get("body").optional_string(),
        subject=content.get("subject").optional_string(),
    )


def _request(content: Payload) -> Rendering:
    title = content.first("title", "description").optional_string()
    return Rendering(kind=ContentKind.FORM, text=title or "Request")


def _response_wrapper(content: Payload) -> Rendering:
    result = content.get("response").get("result").optional_string()
    request_id = content.get("requestId").optional_string() or "(unknown)"
    text = f"Response to request {request_id}"
    return Rendering(kind=ContentKind.SYSTEM, text=f"{text}: {result}" if result else text)


def _notification(content: Payload) -> Rendering:
    notification_id = content.get("id").optional_string()
    text = f"Notification {notification_id}" if notification_id else "Notification"
    return Rendering(kind=ContentKind.SYSTEM, text=text)


def _arbitrary(content: Payload) -> Rendering:
    return Rendering(kind=ContentKind.SYSTEM)


_CONTENT_TYPES: dict[str, Callable[[Payload], Rendering]] = {
    "Mail": _mail,
    "Request": _request,
    "ResponseWrapper": _response_wrapper,
    "Notification": _notification,
    "ArbitraryMessageContent": _arbitrary,
}


def _content_type(content: Payload) -> str | None:
    """The content's ``@type``; ``None`` for the bare JSON 1.x accepted as content."""
    if not isinstance(content.raw, Mapping) or "@type" not in content:
        return None
    return content["@type"].string()


def render_content(content: Payload) -> Rendering:
    """How a message content shows in the inbox; the raw content is kept beside it."""
    content_type = _content_type(content)
    if content_type is None:
        return Rendering(kind=ContentKind.SYSTEM)
    handler = _CONTENT_TYPES.get(content_type)
    return handler(content) if handler else Rendering(kind=ContentKind.UNSUPPORTED)


# --- attachments, statuses, relationships ----------------------------------------------------


def _attachment(item: Payload) -> AttachmentInfo:
    """A FIL id (webhooks, MessageDTO) or a full FileDTO (``GET /Messages/{id}``)."""
    if isinstance(item.raw, str):
        return AttachmentInfo(external_id=item.string())
    file = item.mapping()
    return AttachmentInfo(
        external_id=file["id"].string(),
        filename=file.get("filename").optional_string(),
        mime_type=file.get("mimetype").optional_string(),
        size=file.get("filesize").optional_integer(),
        caption=file.get("title").optional_string(),
    )


def _statuses(
    message: Payload,
    message_id: str,
    own: bool,
    own_address: str,
    sent_at: datetime,
    recipients: tuple[_Recipient, ...],
) -> tuple[StatusObserved, ...]:
    observed = []
    if own:
        observed.append(StatusObserved(message_id=message_id, step=Step.SENT, at=sent_at))
    # On a received message the only recipient is us: "delivered" to us is still a fact.
    observed.extend(
        StatusObserved(
            message_id=message_id,
            step=Step.DELIVERED,
            at=recipient.received_at,
            participant=recipient.address,
        )
        for recipient in recipients
        if recipient.received_at is not None
    )
    read_at = message.get("wasReadAt").optional_timestamp()
    if read_at is not None:
        observed.append(
            StatusObserved(
                message_id=message_id, step=Step.READ, at=read_at, participant=own_address
            )
        )
    return tuple(observed)


def _relationship_ids(
    message: Payload,
    recipients: tuple[_Recipient, ...],
    own: bool,
    sender: str,
    own_address: str,
    others: tuple[str, ...],
) -> dict[str, str]:
    """address -> REL id, from 7.x recipient entries or a 1.x single ``relationshipIds``."""
    found = {r.address: r.relationship_id for r in recipients if r.relationship_id}
    if not own:
        # Our recipient entry on a received message names the relationship with the sender.
        ours = [r for r in recipients if r.address == own_address] or list(recipients[:1])
        if ours and ours[0].relationship_id:
            found.setdefault(sender, ours[0].relationship_id)
    legacy = message.get("relationshipIds").strings()
    # Several 1.x ids cannot be paired with addresses: the DTO does not say which is whose.
    if len(legacy) == 1 and len(others) == 1:
        found.setdefault(others[0], legacy[0])
        if not own and own_address:
            # As in 7.x, our own recipient row on a received message names the relationship.
            found.setdefault(own_address, legacy[0])
    return found
