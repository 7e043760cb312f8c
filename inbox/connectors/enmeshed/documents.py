"""enmeshed documents -> items (``split``) and items -> normalized events (``parse``).

Three documents arrive: the Connector webhook ``{"trigger", "data"}``, the batch body of the
removed 1.x webhooks module ``{"messages", "relationships"}``, and the 1.x ``POST /Account/Sync``
answer ``{"result": {"messages", "relationships"}}``. A webhook is one item named by its trigger
whose payload is its ``data``; each DTO of a batch is an item named ``sync.message`` or
``sync.relationship`` whose payload is the DTO. Either way ``parse`` sees a bare DTO.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..contract import ChannelContext, Item, PayloadError
from ..events import Event
from ..payload import Payload, canonical_hash
from .messages import message_events
from .relationships import PEER_DELETION_CANCELLED, decomposed_events, relationship_events, revision

SYNC_MESSAGE = "sync.message"
SYNC_RELATIONSHIP = "sync.relationship"
DECOMPOSED = "transport.relationshipDecomposedBySelf"
# A batch entry that is not an object: stored anyway, so that it fails visibly on its own.
INVALID = "invalid"

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
    PEER_DELETION_CANCELLED,
    "transport.peerDeleted",
    SYNC_RELATIONSHIP,
)


def _invalid_entry(trigger: str, data: Any, context: ChannelContext) -> list[Event]:
    Payload(data, "entry").mapping()
    raise PayloadError("entry is neither a message nor a relationship")


Handler = Callable[[str, Any, ChannelContext], list[Event]]

_HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(MESSAGE_TRIGGERS, message_events),
    **dict.fromkeys(RELATIONSHIP_TRIGGERS, relationship_events),
    DECOMPOSED: decomposed_events,
    INVALID: _invalid_entry,
}


def split(*, document: Any) -> list[Item]:
    """One webhook, batch or Account/Sync document -> its items.

    Raises PayloadError when the document is none of the three shapes. An item that is
    malformed on its own is still returned, so it is stored and fails visibly in ``parse``.
    """
    body = Payload(document, "document").mapping()
    if "trigger" in body:
        trigger = body["trigger"].string()
        envelope = {key: value for key, value in body.raw.items() if key != "data"}
        data = body.get("data").raw
        return [
            Item(
                dedup_key=dedup_key(trigger, data),
                event_name=trigger,
                payload=data,
                envelope=envelope,
            )
        ]
    if "messages" in body or "relationships" in body:
        return _batch(body)
    result = body.get("result")
    if isinstance(result.raw, Mapping) and ("messages" in result or "relationships" in result):
        return _batch(result)
    raise PayloadError("document is not an enmeshed webhook, batch body or Account/Sync answer")


def _batch(body: Payload) -> list[Item]:
    # Relationships first: a message can only travel over a relationship the inbox should know.
    entries = [
        (SYNC_RELATIONSHIP, entry) for entry in body.get("relationships").optional_elements()
    ]
    entries += [(SYNC_MESSAGE, entry) for entry in body.get("messages").optional_elements()]
    return [
        _batch_item(name if isinstance(entry.raw, Mapping) else INVALID, entry.raw)
        for name, entry in entries
    ]


def _batch_item(name: str, entry: Any) -> Item:
    return Item(dedup_key=dedup_key(name, entry), event_name=name, payload=entry)


def parse(
    *, event_name: str, payload: Any, envelope: Mapping[str, Any], context: ChannelContext
) -> list[Event]:
    """One stored item (a bare DTO) -> events; ``[]`` for triggers the inbox does not use.

    Raises PayloadError for a DTO it cannot read. The envelope is not needed: the trigger is
    the event name.
    """
    handler = _HANDLERS.get(event_name)
    if handler is None:
        return []
    return handler(event_name, payload, context)


# --- dedup keys ------------------------------------------------------------------------------


def dedup_key(trigger: str, data: Any) -> str:
    """Equal for redeliveries of the same state, different once the state moved on.

    An item its keyer cannot read (or of a trigger without one) is keyed by the trigger and a
    digest of its data, so it is still stored once and fails visibly in ``parse``.
    """
    keyer = _KEYERS.get(trigger)
    if keyer is not None:
        try:
            return keyer(trigger, Payload(data, "data"))
        except PayloadError:
            pass
    return f"{trigger}:{canonical_hash(data)}"


def _message_key(trigger: str, message: Payload) -> str:
    received = sorted(
        [entry.get("address").optional_string(), entry.get("receivedAt").optional_string()]
        for entry in message.get("recipients").optional_elements()
    )
    # The same message is news again once a recipient received it or it was read; the trigger
    # is left out so a webhook and a poll of the same state collapse into one row.
    state: dict[str, Any] = {
        "received": received,
        "read": message.get("wasReadAt").optional_string(),
    }
    # A poll's full file objects carry metadata a webhook's bare ids lack: that is news too.
    if any(
        isinstance(item.raw, Mapping) for item in message.get("attachments").optional_elements()
    ):
        state["files"] = True
    return f"message:{message['id'].string()}:{canonical_hash(state)[:16]}"


def _relationship_key(trigger: str, relationship: Payload) -> str:
    status = relationship.get("status").optional_string()
    steps = revision(relationship)
    deletion = _peer_deletion_key(trigger, relationship)
    return f"relationship:{relationship['id'].string()}:{status}:{steps}:{deletion}"


def _peer_deletion_key(trigger: str, relationship: Payload) -> str:
    """The peer's deletion state as the key tells it apart.

    A peer's deletion moves neither the status nor the revision, so without this part a
    cancellation (which carries no ``peerDeletionInfo``) would be a duplicate of the
    relationship event before the deletion was announced, and be dropped.
    """
    info = relationship.get("peerDeletionInfo")
    if not info.is_missing:
        deletion_status = info.get("deletionStatus").optional_string()
        return f"{deletion_status}:{info.get('deletionDate').optional_string()}"
    return "cancelled" if trigger == PEER_DELETION_CANCELLED else ""


def _decomposed_key(trigger: str, body: Payload) -> str:
    return f"decomposed:{body['relationshipId'].string()}"


_KEYERS: dict[str, Callable[[str, Payload], str]] = {
    **dict.fromkeys(MESSAGE_TRIGGERS, _message_key),
    **dict.fromkeys(RELATIONSHIP_TRIGGERS, _relationship_key),
    DECOMPOSED: _decomposed_key,
}
