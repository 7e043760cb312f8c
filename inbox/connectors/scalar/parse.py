"""SCALAR event batches -> deliveries -> normalized events.

A batch holds up to 500 items from any event group. Every ``message.*`` item carries the full
message snapshot, so each one upserts the message (a lost ``sent`` is repaired by a later
``delivered``); items of other groups are stored and ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ..base import (
    ChannelContext,
    ContentKind,
    ConversationKind,
    ConversationRef,
    Delivery,
    Direction,
    Event,
    MessageUpserted,
    Party,
    PayloadError,
    StatusObserved,
    Step,
)
from ..payload import as_mapping, canonical_hash, mappings, optional_str, required_str
from ..timestamps import parse_iso

INVALID_EVENT = "invalid"
MAX_KEY_LENGTH = 255

_LONG_PREFIX = "messaging."
_ENVELOPE_FIELDS = ("eventBatchId", "eventSubscriptionId", "eventBatchTime")

_CONVERSATION_KINDS = {"chat": ConversationKind.DIRECT, "groupchat": ConversationKind.GROUP}
# The snapshot carries no file id, so image/file messages have no attachments to fetch.
_CONTENT_KINDS = {"text": ContentKind.TEXT, "image": ContentKind.FILE, "file": ContentKind.FILE}
# DriverSeen, Treated and unknown words are not steps: they pass through as per-participant flags.
_STEPS = {
    "Pending": Step.SENT,
    "Delivered": Step.DELIVERED,
    "Seen": Step.READ,
    "Recalled": Step.RECALLED,
}

Handler = Callable[[Mapping[str, Any], ChannelContext], list[Event]]


def event_type(name: str) -> str:
    """The event name without the optional ``messaging.`` group prefix the vendor sometimes uses."""
    return name.removeprefix(_LONG_PREFIX)


# --- split -----------------------------------------------------------------------------------


# Snapshot fields that differ from one event of the same message to the next.
_PER_EVENT = frozenset({"statusHistory", "registeredOn"})


def split(document: Any) -> list[Delivery]:
    """One delivery per ``eventsData`` item, each with the batch envelope beside it.

    Items that are not objects or have no ``eventType`` are still returned (as ``invalid``) so
    the pipeline stores them as failed instead of losing the batch. Raises PayloadError if the
    document is not a batch.
    """
    if not isinstance(document, dict):
        raise PayloadError("SCALAR batch is not a JSON object")
    items = document.get("eventsData")
    if not isinstance(items, list):
        raise PayloadError("SCALAR batch has no eventsData list")
    envelope = {name: document.get(name) for name in _ENVELOPE_FIELDS}
    return [_delivery(envelope, item) for item in items]


def _delivery(envelope: Mapping[str, Any], item: Any) -> Delivery:
    name = _event_name(item)
    return Delivery(
        dedup_key=_dedup_key(name, item),
        event_name=name,
        payload={**envelope, "event": item},
    )


def _event_name(item: Any) -> str:
    if isinstance(item, dict) and isinstance(item.get("eventType"), str) and item["eventType"]:
        return str(item["eventType"])
    return INVALID_EVENT


def _dedup_key(name: str, item: Any) -> str:
    key = _message_event_key(name, item)
    if key is None or len(key) > MAX_KEY_LENGTH:
        return "item:" + canonical_hash(item)
    return key


def _message_event_key(name: str, item: Any) -> str | None:
    """``<eventType>:<messageId>:<lastUpdatedAt>:<currentStatus>``: SCALAR has no event id.

    The type is taken without the ``messaging.`` prefix so both spellings of one event share a key.
    """
    if not _is_message_event(name) or not isinstance(item, dict):
        return None
    data = item.get("eventData")
    if not isinstance(data, dict) or not isinstance(data.get("statusHistory"), dict):
        return None
    history = data["statusHistory"]
    fields = (data.get("messageId"), history.get("lastUpdatedAt"), history.get("currentStatus"))
    present = [value for value in fields if isinstance(value, str) and value]
    if len(present) != len(fields):
        return None
    return ":".join([event_type(name), *present])


# --- parse -----------------------------------------------------------------------------------


def parse(event_name: str, payload: Any, context: ChannelContext) -> list[Event]:
    """Normalized events for one stored delivery.

    Every ``message.*`` event (``sent``, ``delivered``, ``seen``, ``driverSeen``, ``treated``,
    ``recalled`` and any future one) yields one MessageUpserted built from the snapshot; other
    event groups yield ``[]``. Raises PayloadError for an invalid item or an incomplete message.
    """
    item = _item(payload)
    group, _, action = event_type(event_name).partition(".")
    handler = _HANDLERS.get(group) if action else None
    return handler(item, context) if handler else []


def _is_message_event(name: str) -> bool:
    group, _, action = event_type(name).partition(".")
    return group == "message" and bool(action)


def _item(payload: Any) -> Mapping[str, Any]:
    if not isinstance(payload, dict):
        raise PayloadError("SCALAR delivery payload is not a JSON object")
    item = payload.get("event")
    if not isinstance(item, dict):
        raise PayloadError("SCALAR event item is not a JSON object")
    if not isinstance(item.get("eventType"), str) or not item["eventType"]:
        raise PayloadError("SCALAR event item has no eventType")
    return item


def _message_upserted(item: Mapping[str, Any], context: ChannelContext) -> list[Event]:
    data = as_mapping(item.get("eventData"), "SCALAR eventData")
    message_id = required_str(data, "messageId", "SCALAR eventData")
    conversation_id = required_str(data, "conversationId", "SCALAR eventData")
    history = as_mapping(data.get("statusHistory"), "SCALAR eventData.statusHistory")
    events = _history_events(history)
    sender = _sender(data)
    kind = _conversation_kind(data)
    recipients = _recipients(kind, data, events, sender)
    participants = (sender, *recipients) if kind is ConversationKind.DIRECT else (sender,)
    content_kind = _CONTENT_KINDS.get(optional_str(data, "contentType", "SCALAR eventData"))
    message = MessageUpserted(
        conversation=ConversationRef(conversation_id, kind, participants=participants),
        message_id=message_id,
        direction=_direction(sender, context.settings),
        sender=sender,
        sent_at=_sent_at(data, events),
        # For image and file messages the content is the optional caption.
        text=optional_str(data, "content", "SCALAR eventData"),
        # The snapshot minus what changes with every event (kept as status observations), so
        # the stored content is the same whatever arrives last.
        content={k: v for k, v in data.items() if k not in _PER_EVENT},
        content_kind=content_kind or ContentKind.UNSUPPORTED,
        reply_to=optional_str(data, "replyToMessageId", "SCALAR eventData"),
        recipients=recipients,
        statuses=_statuses(message_id, history, events),
    )
    return [message]


_HANDLERS: dict[str, Handler] = {
    "message": _message_upserted,
}


def _sender(data: Mapping[str, Any]) -> Party:
    sender = as_mapping(data.get("sender"), "SCALAR eventData.sender")
    return Party(
        required_str(sender, "senderId", "SCALAR eventData.sender"),
        role=optional_str(sender, "roleType", "SCALAR eventData.sender"),
    )


def _conversation_kind(data: Mapping[str, Any]) -> ConversationKind:
    name = optional_str(data, "conversationType", "SCALAR eventData")
    kind = _CONVERSATION_KINDS.get(name)
    if kind is None:
        raise PayloadError(f"SCALAR conversationType {name!r} is neither chat nor groupchat")
    return kind


def _recipients(
    kind: ConversationKind,
    data: Mapping[str, Any],
    events: list[Mapping[str, Any]],
    sender: Party,
) -> tuple[Party, ...]:
    if kind is ConversationKind.DIRECT:
        return (Party(required_str(data, "recipientId", "SCALAR chat eventData")),)
    # A groupchat's recipientId is the group itself; its members show up in the status history.
    members: dict[str, Party] = {}
    for entry in events:
        party = _participant(entry)
        if party is not None and party.address != sender.address:
            members.setdefault(party.address, party)
    return tuple(members.values())


def _direction(sender: Party, settings: Mapping[str, Any]) -> Direction:
    own_id = settings.get("sender_id")
    if own_id:
        return Direction.OUT if sender.address == own_id else Direction.IN
    # Without a configured identity: the inbox is the back office, whose members are Users.
    return Direction.OUT if sender.role == "User" else Direction.IN


def _sent_at(data: Mapping[str, Any], events: list[Mapping[str, Any]]) -> datetime | None:
    registered_on = parse_iso(data.get("registeredOn"))
    # registeredOn is when *this event* was registered (a `delivered` snapshot carries the
    # delivery time), so the Pending step is the send time every snapshot agrees on.
    for entry in events:
        if entry.get("status") == "Pending" and entry.get("timestamp"):
            return parse_iso(entry["timestamp"])
    return registered_on


def _statuses(
    message_id: str, history: Mapping[str, Any], events: list[Mapping[str, Any]]
) -> tuple[StatusObserved, ...]:
    observed = [_observation(message_id, entry) for entry in events]
    current = optional_str(history, "currentStatus", "SCALAR eventData.statusHistory")
    # Only a delivery step can stand for the whole message; a current DriverSeen/Treated is a
    # per-participant flag already named, with its participant, in the history.
    if current in _STEPS:
        at = parse_iso(history.get("lastUpdatedAt"))
        observed.append(StatusObserved(message_id, _STEPS[current], at))
    # The current status usually repeats the last history entry; keep each observation once.
    return tuple(dict.fromkeys(observed))


def _observation(message_id: str, entry: Mapping[str, Any]) -> StatusObserved:
    status = required_str(entry, "status", "SCALAR statusHistory event")
    party = _participant(entry)
    return StatusObserved(
        message_id,
        _STEPS.get(status, status),
        parse_iso(entry.get("timestamp")),
        participant=party.address if party else "",
    )


def _history_events(history: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return mappings(history.get("events"), "SCALAR eventData.statusHistory.events")


def _participant(entry: Mapping[str, Any]) -> Party | None:
    participant = entry.get("participant")
    if participant is None:
        return None
    participant = as_mapping(participant, "SCALAR statusHistory event participant")
    return Party(
        required_str(participant, "participantId", "SCALAR statusHistory event participant"),
        role=optional_str(participant, "roleType", "SCALAR statusHistory event participant"),
    )
