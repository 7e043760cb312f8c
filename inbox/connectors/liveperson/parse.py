"""LivePerson webhook notifications -> deliveries -> normalized events.

Every notification is ``{"kind": "notification", "body": {"changes": [...], ...}, "type": T}``.
``split`` stores one delivery per change, so a redelivered batch deduplicates change by change;
``parse`` still walks every change of the payload it is given.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..base import ChannelContext, Delivery, Event, PayloadError
from ..payload import as_mapping, canonical_hash
from . import conversations, messages
from .fields import first_text, optional_mapping, sequence_number, text

MESSAGING = "ms.MessagingEventNotification"
CONVERSATION = "cqm.ExConversationChangeNotification"

ChangeParser = Callable[[Mapping[str, Any]], list[Event]]

# Notification type -> the parser of one of its changes; other types are ignored.
CHANGE_PARSERS: Mapping[str, ChangeParser] = {
    MESSAGING: messages.parse_change,
    CONVERSATION: conversations.parse_change,
}

MAX_KEY_LENGTH = 255


def _envelope(document: Any) -> tuple[str, Mapping[str, Any], list[Any]]:
    """The notification type, body and changes of ``document``; PayloadError if misshapen."""
    envelope = as_mapping(document, "LivePerson notification")
    notification_type = envelope.get("type")
    if not isinstance(notification_type, str) or not notification_type:
        raise PayloadError(f"LivePerson notification has no type: {notification_type!r}")
    body = as_mapping(envelope.get("body"), "LivePerson notification body")
    changes = body.get("changes")
    if not isinstance(changes, list):
        raise PayloadError(f"LivePerson notification changes is not a list: {changes!r}")
    return notification_type, body, changes


def _event_name(notification_type: str, change: Mapping[str, Any]) -> str:
    if notification_type != MESSAGING:
        return notification_type
    event_type = text(optional_mapping(change.get("event")).get("type"))
    return f"{notification_type}.{event_type}" if event_type else notification_type


def _hash_key(notification_type: str, data: object) -> str:
    return f"hash:{canonical_hash({'type': notification_type, 'data': data})}"


def _messaging_key(change: Mapping[str, Any]) -> str | None:
    dialog_id = first_text(change.get("dialogId"), change.get("conversationId"))
    event_type = messages.canonical_event_type(change.get("event"))
    sequence = sequence_number(change.get("sequence"))
    if not dialog_id or not event_type:
        return None
    if sequence is not None:
        return f"ms:{dialog_id}:{sequence}:{event_type}"
    if event_type == messages.CHAT_STATE:
        # Chat states carry no sequence. With a server time the state is one event; without,
        # the same person typing again later looks byte-identical, so each arrival counts
        # (applying a chat state twice is harmless).
        if change.get("serverTimestamp") is not None:
            return f"ms:{dialog_id}:chat:{canonical_hash(change)}"
        return f"ms:{dialog_id}:chat:{uuid.uuid4().hex}"
    return None


def _conversation_key(change: Mapping[str, Any]) -> str | None:
    result = optional_mapping(change.get("result"))
    details = optional_mapping(result.get("conversationDetails"))
    conversation_id = text(result.get("convId"))
    change_type = text(change.get("type"))
    updated = details.get("metaDataLastUpdateTs")
    if not conversation_id or not change_type or not isinstance(updated, int | str) or not updated:
        return None
    return f"cqm:{conversation_id}:{change_type}:{updated}"


KEY_BUILDERS: Mapping[str, Callable[[Mapping[str, Any]], str | None]] = {
    MESSAGING: _messaging_key,
    CONVERSATION: _conversation_key,
}


def dedup_key(notification_type: str, change: Any) -> str:
    """A key equal for redeliveries of the same change and different for different changes.

    The key ignores the envelope (``sentTs`` differs between retries of the same change).
    """
    build = KEY_BUILDERS.get(notification_type)
    key = build(change) if build and isinstance(change, Mapping) else None
    if key is None or len(key) > MAX_KEY_LENGTH:
        return _hash_key(notification_type, change)
    return key


def split(document: Any) -> list[Delivery]:
    """One delivery per change, its payload the envelope holding only that change.

    An envelope without changes becomes one delivery of itself. Raises PayloadError when the
    document is not a notification envelope.
    """
    notification_type, body, changes = _envelope(document)
    if not changes:
        return [Delivery(_hash_key(notification_type, document), notification_type, document)]
    return [
        Delivery(
            dedup_key=dedup_key(notification_type, change),
            event_name=_event_name(notification_type, as_mapping(change, "LivePerson change")),
            payload={**document, "body": {**body, "changes": [change]}},
        )
        for change in changes
    ]


def parse(event_name: str, payload: Any, context: ChannelContext) -> list[Event]:
    """The events of every change in ``payload``; ``[]`` for notification types we do not use.

    Dispatches on the payload's own ``type`` (``event_name`` is derived from it). Raises
    PayloadError for a misshapen envelope or change.
    """
    notification_type, _, changes = _envelope(payload)
    parse_change = CHANGE_PARSERS.get(notification_type)
    if parse_change is None:
        return []
    events: list[Event] = []
    for change in changes:
        events.extend(parse_change(as_mapping(change, "LivePerson change")))
    return events
