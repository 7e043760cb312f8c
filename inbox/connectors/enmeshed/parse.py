"""enmeshed documents -> deliveries (``split``) and deliveries -> normalized events (``parse``).

Three documents arrive: the Connector webhook ``{"trigger", "data"}``, the batch body of the
removed 1.x webhooks module ``{"messages", "relationships"}``, and the 1.x ``POST /Account/Sync``
answer ``{"result": {"messages", "relationships"}}``. Batch items become deliveries named
``sync.message`` / ``sync.relationship`` shaped like webhooks, so ``parse`` sees one shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..base import ChannelContext, Delivery, Event, PayloadError
from ..payload import as_mapping, canonical_hash, mappings
from .messages import message_events
from .relationships import decomposed_events, relationship_events, revision

SYNC_MESSAGE = "sync.message"
SYNC_RELATIONSHIP = "sync.relationship"
DECOMPOSED = "transport.relationshipDecomposedBySelf"

MESSAGE_TRIGGERS = (
    "transport.messageReceived",
    "transport.messageSent",
    "transport.messageWasReadAtChanged",
    SYNC_MESSAGE,
)
RELATIONSHIP_TRIGGERS = (
    "transport.relationshipChanged",
    "transport.relationshipReactivationRequested",
    "transport.relationshipReactivationCompleted",
    "transport.peerToBeDeleted",
    "transport.peerDeletionCancelled",
    "transport.peerDeleted",
    SYNC_RELATIONSHIP,
)

Handler = Callable[[str, Any, ChannelContext], list[Event]]

_HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(MESSAGE_TRIGGERS, message_events),
    **dict.fromkeys(RELATIONSHIP_TRIGGERS, relationship_events),
    DECOMPOSED: decomposed_events,
}

_MAX_KEY = 255


def split(document: Any) -> list[Delivery]:
    """One webhook, batch or Account/Sync document -> its deliveries.

    Raises PayloadError when the document is none of the three shapes. A known event whose data
    lacks an id still gets a (content-hash) key, so it is stored and fails visibly in ``parse``.
    """
    if not isinstance(document, Mapping):
        raise PayloadError("an enmeshed document must be a JSON object")
    if "trigger" in document:
        trigger = document["trigger"]
        if not isinstance(trigger, str) or not trigger:
            raise PayloadError("webhook 'trigger' must be a non-empty string")
        return [Delivery(dedup_key(trigger, document.get("data")), trigger, document)]
    if "messages" in document or "relationships" in document:
        return _batch(document, "batch body")
    result = document.get("result")
    if isinstance(result, Mapping) and ("messages" in result or "relationships" in result):
        return _batch(result, "Account/Sync result")
    raise PayloadError("not an enmeshed webhook, batch body or Account/Sync result")


def _batch(body: Mapping[str, Any], what: str) -> list[Delivery]:
    # Relationships first: a message can only travel over a relationship the inbox should know.
    items = [
        (SYNC_RELATIONSHIP, item)
        for item in mappings(body.get("relationships"), f"{what} relationships")
    ]
    items += [(SYNC_MESSAGE, item) for item in mappings(body.get("messages"), f"{what} messages")]
    return [
        Delivery(dedup_key(name, item), name, {"trigger": name, "data": item})
        for name, item in items
    ]


def parse(event_name: str, payload: Any, context: ChannelContext) -> list[Event]:
    """One stored delivery ``{"trigger", "data"}`` -> events; ``[]`` for triggers not used."""
    handler = _HANDLERS.get(event_name)
    if handler is None:
        return []
    body = as_mapping(payload, f"{event_name} payload")
    return handler(event_name, body.get("data"), context)


# --- dedup keys ------------------------------------------------------------------------------


def dedup_key(trigger: str, data: Any) -> str:
    """Equal for redeliveries of the same state, different once the state moved on."""
    keyer = _KEYERS.get(trigger)
    key = keyer(data) if keyer and isinstance(data, Mapping) else None
    if key is None:
        key = f"{trigger}:{canonical_hash(data)}"
    # Ids are 20 characters, so only a malformed or unknown event gets here with a long key.
    return key if len(key) <= _MAX_KEY else f"sha256:{canonical_hash(key)}"


def _message_key(message: Mapping[str, Any]) -> str | None:
    message_id = message.get("id")
    if not isinstance(message_id, str) or not message_id:
        return None
    recipients = message.get("recipients")
    received = sorted(
        [str(entry.get("address") or ""), str(entry.get("receivedAt") or "")]
        for entry in (recipients if isinstance(recipients, list) else [])
        if isinstance(entry, Mapping)
    )
    # The same message is news again once a recipient received it or it was read; the trigger
    # is left out so a webhook and a poll of the same state collapse into one row.
    attachments = message.get("attachments")
    # A poll's full file objects carry metadata a webhook's bare ids lack: that is news too.
    files = isinstance(attachments, list) and any(isinstance(a, Mapping) for a in attachments)
    state = {"received": received, "read": message.get("wasReadAt") or ""}
    if files:
        state["files"] = True
    return f"message:{message_id}:{canonical_hash(state)[:16]}"


def _relationship_key(relationship: Mapping[str, Any]) -> str | None:
    relationship_id = relationship.get("id")
    if not isinstance(relationship_id, str) or not relationship_id:
        return None
    deletion = relationship.get("peerDeletionInfo")
    deletion_status = deletion.get("deletionStatus") if isinstance(deletion, Mapping) else None
    state = f"{relationship.get('status') or ''}:{revision(relationship)}:{deletion_status or ''}"
    return f"relationship:{relationship_id}:{state}"


def _decomposed_key(body: Mapping[str, Any]) -> str | None:
    relationship_id = body.get("relationshipId")
    if not isinstance(relationship_id, str) or not relationship_id:
        return None
    return f"decomposed:{relationship_id}"


_KEYERS: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    **dict.fromkeys(MESSAGE_TRIGGERS, _message_key),
    **dict.fromkeys(RELATIONSHIP_TRIGGERS, _relationship_key),
    DECOMPOSED: _decomposed_key,
}
