"""SCALAR event batches -> items -> normalized events.

A batch holds up to 500 items from any event group. Every ``message.*`` item carries the full
message snapshot, so each one upserts the message (a lost ``sent`` is repaired by a later
``delivered``); items of other groups are stored and ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inbox.choices import ContentKind, ConversationKind, Direction, Step

from ..contract import ChannelContext, Item, PayloadError
from ..events import ConversationRef, Event, MessageUpserted, Party, StatusObserved
from ..payload import Payload, canonical_hash

INVALID_EVENT = "invalid"
ENVELOPE_FIELDS = ("eventBatchId", "eventSubscriptionId", "eventBatchTime")

_LONG_PREFIX = "messaging."
_MESSAGE_GROUP = "message"
# The names errors give the values they read: a batch, and one of its eventsData entries.
_BATCH = "batch"
_EVENT = "event"

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
# Snapshot fields that differ from one event of the same message to the next.
_PER_EVENT = frozenset({"statusHistory", "registeredOn"})

Handler = Callable[[Payload, ChannelContext], list[Event]]


def event_type(name: str) -> str:
    """The event name without the optional ``messaging.`` group prefix the vendor sometimes uses."""
    return name.removeprefix(_LONG_PREFIX)


# --- split -----------------------------------------------------------------------------------


def split(*, document: Any) -> list[Item]:
    """One Item per ``eventsData`` entry: the entry as sent, with the batch fields as envelope.

    An entry that is not an object or has no ``eventType`` is still returned, named
    ``invalid``, so it is stored and fails at parse time instead of losing the batch. Raises
    PayloadError if the document is not a batch.
    """
    batch = Payload(document, _BATCH).mapping()
    entries = batch["eventsData"].elements()
    envelope = {name: batch.get(name).raw for name in ENVELOPE_FIELDS if name in batch}
    return [_item(entry.raw, envelope) for entry in entries]


def _item(entry: Any, envelope: Mapping[str, Any]) -> Item:
    event = Payload(entry, _EVENT)
    name = _event_name(event)
    return Item(
        dedup_key=_natural_key(name, event) or "item:" + canonical_hash(entry),
        event_name=name,
        payload=entry,
        envelope=dict(envelope),
    )


def _event_name(event: Payload) -> str:
    try:
        return event["eventType"].string()
    except PayloadError:
        return INVALID_EVENT


def _natural_key(name: str, event: Payload) -> str | None:
    """``<eventType>:<messageId>:<lastUpdatedAt>:<currentStatus>``: SCALAR has no event id.

    The type is taken without the ``messaging.`` prefix so both spellings of one event share a
    key. ``None`` when the entry is not a message event or lacks one of the fields.
    """
    if _group(name) != _MESSAGE_GROUP:
        return None
    try:
        data = event["eventData"]
        history = data["statusHistory"]
        fields = (
            data["messageId"].string(),
            history["lastUpdatedAt"].string(),
            history["currentStatus"].string(),
        )
    except PayloadError:
        return None
    return ":".join((event_type(name), *fields))


def _group(name: str) -> str:
    """The group of an event name (``message`` for ``messaging.message.sent``); "" if none."""
    group, _, action = event_type(name).partition(".")
    return group if action else ""


# --- parse -----------------------------------------------------------------------------------


def parse(
    *, event_name: str, payload: Any, envelope: Mapping[str, Any], context: ChannelContext
) -> list[Event]:
    """Normalized events for one stored ``eventsData`` entry.

    Every ``message.*`` event (``sent``, ``delivered``, ``seen``, ``driverSeen``, ``treated``,
    ``recalled`` and any future one) yields one MessageUpserted built from the snapshot; other
    event groups yield ``[]``. Raises PayloadError, naming the path, for an entry without an
    ``eventType`` (an ``invalid`` item) or an incomplete message.
    """
    event = Payload(payload, _EVENT).mapping()
    # An entry split named ``invalid`` must fail here, visibly, rather than be ignored.
    event["eventType"].string()
    handler = _HANDLERS.get(_group(event_name))
    return handler(event, context) if handler else []


@dataclass(frozen=True)
class _HistoryEntry:
    status: str
    at: datetime | None
    participant: Party | None


def _message_upserted(event: Payload, context: ChannelContext) -> list[Event]:
    data = event["eventData"].mapping()
    message_id = data["messageId"].string()
    conversation_id = data["conversationId"].string()
    history = data["statusHistory"].mapping()
    entries = [_history_entry(entry) for entry in history.get("events").optional_elements()]
    sender = _sender(data["sender"])
    kind = _conversation_kind(data["conversationType"])
    recipients = _recipients(kind, data, entries, sender)
    participants = (sender, *recipients) if kind is ConversationKind.DIRECT else (sender,)
    message = MessageUpserted(
        conversation=ConversationRef(conversation_id, kind, participants=participants),
        message_id=message_id,
        direction=_direction(sender, context.settings),
        sender=sender,
        sent_at=_sent_at(data, entries),
        # For image and file messages the content is the optional caption.
        text=data.get("content").optional_string(),
        # The snapshot minus what changes with every event (kept as status observations), so
        # the stored content is the same whatever arrives last.
        content={key: value for key, value in data.raw.items() if key not in _PER_EVENT},
        content_kind=_CONTENT_KINDS.get(
            data.get("contentType").optional_string(), ContentKind.UNSUPPORTED
        ),
        reply_to=data.get("replyToMessageId").optional_string(),
        recipients=recipients,
        statuses=_statuses(message_id, history, entries),
    )
    return [message]


_HANDLERS: dict[str, Handler] = {
    _MESSAGE_GROUP: _message_upserted,
}


def _sender(sender: Payload) -> Party:
    return Party(sender["senderId"].string(), role=sender.get("roleType").optional_string())


def _conversation_kind(field: Payload) -> ConversationKind:
    name = field.string()
    kind = _CONVERSATION_KINDS.get(name)
    if kind is None:
        raise PayloadError(f"{field.path} is neither chat nor groupchat: {name[:40]!r}")
    return kind


def _recipients(
    kind: ConversationKind, data: Payload, entries: list[_HistoryEntry], sender: Party
) -> tuple[Party, ...]:
    if kind is ConversationKind.DIRECT:
        return (Party(data["recipientId"].string()),)
    # A groupchat's recipientId is the group itself; its members show up in the status history.
    members: dict[str, Party] = {}
    for entry in entries:
        party = entry.participant
        if party is not None and party.address != sender.address:
            members.setdefault(party.address, party)
    return tuple(members.values())


def _direction(sender: Party, settings: Mapping[str, Any]) -> Direction:
    own_id = settings.get("sender_id")
    if own_id:
        return Direction.OUT if sender.address == own_id else Direction.IN
    # Without a configured identity: the inbox is the back office, whose members are Users.
    return Direction.OUT if sender.role == "User" else Direction.IN


def _sent_at(data: Payload, entries: list[_HistoryEntry]) -> datetime | None:
    registered_on = data.get("registeredOn").optional_timestamp()
    # registeredOn is when *this event* was registered (a `delivered` snapshot carries the
    # delivery time), so the Pending step is the send time every snapshot agrees on.
    for entry in entries:
        if entry.status == "Pending" and entry.at is not None:
            return entry.at
    return registered_on


def _statuses(
    message_id: str, history: Payload, entries: list[_HistoryEntry]
) -> tuple[StatusObserved, ...]:
    observed = [
        _observation(
            message_id,
            entry.status,
            entry.at,
            entry.participant.address if entry.participant else "",
        )
        for entry in entries
    ]
    current = history.get("currentStatus").optional_string()
    # Only a delivery step can stand for the whole message; a current DriverSeen/Treated is a
    # per-participant flag already named, with its participant, in the history.
    if current in _STEPS:
        at = history.get("lastUpdatedAt").optional_timestamp()
        observed.append(_observation(message_id, current, at, ""))
    # The current status usually repeats the last history entry; keep each observation once.
    return tuple(dict.fromkeys(observed))


def _observation(
    message_id: str, status: str, at: datetime | None, participant: str
) -> StatusObserved:
    step = _STEPS.get(status)
    if step is None:
        return StatusObserved(message_id, flag=status, at=at, participant=participant)
    return StatusObserved(message_id, step=step, at=at, participant=participant)


def _history_entry(value: Payload) -> _HistoryEntry:
    entry = value.mapping()
    participant = entry.get("participant")
    return _HistoryEntry(
        status=entry["status"].string(),
        at=entry.get("timestamp").optional_timestamp(),
        participant=None if participant.is_missing else _participant(participant.mapping()),
    )


def _participant(participant: Payload) -> Party:
    return Party(
        participant["participantId"].string(),
        role=participant.get("roleType").optional_string(),
    )
