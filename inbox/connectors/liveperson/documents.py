"""LivePerson notifications -> stored items -> normalized events.

A notification is ``{"kind": "notification", "body": {"changes": [...], ...}, "type": T}``.
``split`` makes one item per change: its payload is the change as sent, its envelope the
notification without ``changes`` (``parse`` dispatches on the envelope's ``type``). Keys ignore
the envelope, whose ``sentTs`` differs between retries of the same change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..contract import ChannelContext, Item, PayloadError
from ..events import Event
from ..payload import Payload, canonical_hash
from . import conversations, messages
from .ids import dialog_id, event_type, sequence

MESSAGING = "ms.MessagingEventNotification"
CONVERSATION = "cqm.ExConversationChangeNotification"
# The event name of a change that is not an object: stored, and failing when parsed.
INVALID = "invalid"

ChangeParser = Callable[[Payload], list[Event]]

# Notification type -> the parser of one of its changes; other types are ignored.
CHANGE_PARSERS: Mapping[str, ChangeParser] = {
    MESSAGING: messages.parse_change,
    CONVERSATION: conversations.parse_change,
}


def _hash_key(notification_type: str, data: object) -> str:
    return f"hash:{canonical_hash({'type': notification_type, 'data': data})}"


def _messaging_key(change: Payload) -> str | None:
    dialog = dialog_id(change)
    kind = event_type(change)
    if "sequence" in change:
        return f"ms:{dialog}:{sequence(change['sequence'])}:{kind}"
    if kind == messages.CHAT_STATE:
        # Chat states carry no sequence and sometimes no server time: the content is all
        # there is, so identical bodies (a retry, or the same state again) share one key.
        return f"ms:{dialog}:chat:{canonical_hash(change.raw)}"
    return None


def _conversation_key(change: Payload) -> str | None:
    result = change["result"]
    updated = result.get("conversationDetails").get("metaDataLastUpdateTs").optional_identifier()
    if not updated:
        return None
    return f"cqm:{result['convId'].string()}:{change['type'].string()}:{updated}"


# Notification type -> the natural key of one of its changes (None: none, use a hash).
KEY_BUILDERS: Mapping[str, Callable[[Payload], str | None]] = {
    MESSAGING: _messaging_key,
    CONVERSATION: _conversation_key,
}


def dedup_key(notification_type: str, change: Payload) -> str:
    """Equal for redeliveries of the same change, different for different changes; not random.

    A change without the fields its natural key needs is keyed by a hash of its content.
    """
    build = KEY_BUILDERS.get(notification_type)
    try:
        key = build(change) if build else None
    except PayloadError:
        key = None  # the change fails when parsed; its content still identifies it
    return key or _hash_key(notification_type, change.raw)


def _event_name(notification_type: str, change: Payload) -> str:
    if notification_type != MESSAGING:
        return notification_type
    try:
        # As sent: the documented misspelling stays visible in the stored name.
        name = change["event"].mapping()["type"].string()
    except PayloadError:
        return notification_type
    return f"{notification_type}.{name}"


def _item(notification_type: str, change: Payload, envelope: Mapping[str, Any]) -> Item:
    is_object = isinstance(change.raw, Mapping)
    return Item(
        dedup_key=dedup_key(notification_type, change),
        event_name=_event_name(notification_type, change) if is_object else INVALID,
        payload=change.raw,
        envelope=envelope,
    )


def split(*, document: Any) -> list[Item]:
    """One item per change of a notification; one item of ``[]`` when it has no changes.

    Never fails for one bad change (it is stored and fails when parsed); raises PayloadError
    when the document is not a notification.
    """
    notification = Payload(document, "notification").mapping()
    notification_type = notification["type"].string()
    body = notification["body"].mapping()
    changes = body["changes"].elements()
    envelope = {
        **{key: value for key, value in notification.raw.items() if key != "body"},
        "body": {key: value for key, value in body.raw.items() if key != "changes"},
    }
    if not changes:
        return [
            Item(
                dedup_key=_hash_key(notification_type, document),
                event_name=notification_type,
                payload=[],
                envelope=envelope,
            )
        ]
    return [_item(notification_type, change, envelope) for change in changes]


def parse(
    *, event_name: str, payload: Any, envelope: Mapping[str, Any], context: ChannelContext
) -> list[Event]:
    """The events of one stored change; ``[]`` for notification types the inbox does not use.

    Raises PayloadError, naming the path, for an envelope or change it cannot understand.
    """
    notification_type = Payload(envelope, "notification").mapping()["type"].string()
    parse_change = CHANGE_PARSERS.get(notification_type)
    if parse_change is None:
        return []
    if event_name != INVALID and payload == []:
        return []  # the item of a notification without changes
    return parse_change(Payload(payload, "change").mapping())
