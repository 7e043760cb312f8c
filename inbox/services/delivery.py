"""Delivery status: the status history folded into messages and their recipients.

Every observation is kept (``MessageStatusEvent``: a delivery step or a platform flag, for one
participant or for everyone). A message's status and each recipient's are the fold of the whole
history — the highest step reached, the first time of each step and flag — so the order
observations arrive in cannot matter, and statuses only move forward.

Because that fold only takes maxima and minima, folding new observations into what is stored
gives the same result as folding the whole history again: a batch folds its own observations
into the stored values, and reads history only where it must (the observations that were
waiting for a message that just arrived, and those about everyone for a recipient seen for the
first time).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from inbox.choices import Step
from inbox.connectors.events import StatusObserved
from inbox.db import columns_of, insert_rows, insert_values, update_rows
from inbox.models import (
    STATUS_RANK,
    Channel,
    InboundEvent,
    Message,
    MessageStatus,
    MessageStatusEvent,
    Recipient,
)

STEP_STATUS = {
    Step.SENT: MessageStatus.SENT,
    Step.DELIVERED: MessageStatus.DELIVERED,
    Step.READ: MessageStatus.READ,
}
RECIPIENT_FIELDS = ["status", "delivered_at", "read_at", "flags", "relationship_external_id"]
OBSERVATION_COLUMNS = (
    "channel",
    "message",
    "message_external_id",
    "step",
    "flag",
    "participant",
    "at",
    "inbound_event",
    "created_at",
)

# (step, flag, participant, at) of one observation.
Observation = tuple[str, str, str, datetime]


def observe(
    observations: Iterable[tuple[Channel, StatusObserved, InboundEvent | None]],
    *,
    messages: Mapping[tuple[int, str], Message],
) -> dict[int, list[Observation]]:
    """Add observations to the history (each distinct observation once). Returns, per message
    of ``messages`` (keyed by channel id and platform id), the observations about it; the
    others wait, stored by the message's platform id, until it arrives."""
    now = timezone.now()
    rows: list[tuple[Any, ...]] = []
    about: dict[int, list[Observation]] = defaultdict(list)
    for channel, o, inbound in observations:
        message = messages.get((channel.pk, o.message_id))
        seen: Observation = (
            o.step or "",
            o.flag[:40],
            o.participant[:255],
            o.at or (inbound.received_at if inbound else now),
        )
        rows.append(
            (
                channel.pk,
                message.pk if message else None,
                o.message_id,
                *seen,
                inbound.pk if inbound else None,
                now,
            )
        )
        if message is not None:
            about[message.pk].append(seen)
    if rows:
        insert_values(
            MessageStatusEvent,
            columns_of(MessageStatusEvent, OBSERVATION_COLUMNS),
            list(zip(*rows, strict=True)),
            ignore_conflicts=True,
        )
    return about


def fold(
    messages: Sequence[Message],
    observed: Mapping[int, Sequence[Observation]],
    *,
    new: Iterable[int] = (),
    named: Mapping[int, Mapping[str, str]] | None = None,
) -> set[int]:
    """Fold observations into ``messages`` and their recipients; save what changed.

    ``observed``: the observations just recorded, per message id. ``new``: the ids of messages
    created just now (the observations waiting for them are attached and folded too).
    ``named``: per message id, recipients the platform names (address -> relationship id).
    Returns the ids of the messages a user would see change (status or recipients).
    """
    named = named or {}
    by_pk = {m.pk: m for m in messages}
    created = set(new) & by_pk.keys()
    history: dict[int, list[Observation]] = defaultdict(list)
    for pk, events in observed.items():
        history[pk] += events
    for pk, event in _attach_waiting([by_pk[pk] for pk in created]):
        history[pk].append(event)
    recipients: dict[int, dict[str, Recipient]] = defaultdict(dict)
    stored = [pk for pk in by_pk if pk not in created and (history[pk] or named.get(pk))]
    for recipient in Recipient.objects.filter(message_id__any=stored):
        recipients[recipient.message_id][recipient.address] = recipient

    changed: set[int] = set()
    fresh: list[Recipient] = []
    fresh_on_stored: dict[int, list[Recipient]] = defaultdict(list)
    updated: dict[int, Recipient] = {}
    changed_messages: list[Message] = []
    now = timezone.now()
    for pk, message in by_pk.items():
        events, mine = history[pk], recipients[pk]
        for address, relationship_id in named.get(pk, {}).items():
            if address and address not in mine:
                mine[address] = Recipient(
                    message=message, address=address, relationship_external_id=relationship_id
                )
                fresh.append(mine[address])
            elif relationship_id and not mine[address].relationship_external_id:
                mine[address].relationship_external_id = relationship_id
                updated[mine[address].pk] = mine[address]
        for address in sorted({e[2] for e in events if e[2]} - mine.keys()):
            mine[address] = Recipient(message=message, address=address)
            fresh.append(mine[address])
        if pk not in created:
            fresh_on_stored[pk] = [r for r in mine.values() if r.pk is None]
        if _fold_message(message, events):
            message.updated_at = now
            changed_messages.append(message)
            changed.add(pk)
        for address, recipient in mine.items():
            if recipient.pk is None and pk not in created:
                continue  # folded below, from the whole history
            if _fold_recipient(recipient, [e for e in events if e[2] in (address, "")]):
                changed.add(pk)
                if recipient.pk is not None:
                    updated[recipient.pk] = recipient
    # A recipient seen for the first time on a stored message: it had every observation about
    # everyone, stored earlier, still to take.
    waiting_for = [pk for pk, rows in fresh_on_stored.items() if rows]
    for pk, step, flag, participant, at in MessageStatusEvent.objects.filter(
        message_id__any=waiting_for
    ).values_list("message_id", "step", "flag", "participant", "at"):
        history[pk].append((step, flag, participant, at))
    for pk in waiting_for:
        for recipient in fresh_on_stored[pk]:
            _fold_recipient(recipient, [e for e in history[pk] if e[2] in (recipient.address, "")])
            changed.add(pk)
    insert_rows(fresh, ignore_conflicts=True)
    update_rows(updated.values(), RECIPIENT_FIELDS)
    update_rows(changed_messages, ["status", "recalled_at", "updated_at"])
    return changed | {r.message_id for r in fresh}


def _attach_waiting(messages: Sequence[Message]) -> list[tuple[int, Observation]]:
    """Observations that arrived before their message are kept by its platform id: attach them
    to the messages just created, and return them."""
    if not messages:
        return []
    ids = [m.pk for m in messages]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE inbox_messagestatusevent AS s SET message_id = m.id"
                " FROM inbox_message AS m WHERE m.id = ANY(%s) AND s.message_id IS NULL"
                " AND s.channel_id = m.channel_id AND s.message_external_id = m.external_id"
                " RETURNING s.message_id, s.step, s.flag, s.participant, s.at",
                [ids],
            )
            return [(pk, (step, flag, who, at)) for pk, step, flag, who, at in cursor.fetchall()]
    # Elsewhere (SQLite): attach with the ORM, then read them back.
    for message in messages:
        MessageStatusEvent.objects.filter(
            channel_id=message.channel_id,
            message_external_id=message.external_id,
            message__isnull=True,
        ).update(message=message)
    return [
        (pk, (step, flag, participant, at))
        for pk, step, flag, participant, at in MessageStatusEvent.objects.filter(
            message_id__any=ids
        ).values_list("message_id", "step", "flag", "participant", "at")
    ]


def _fold_message(message: Message, events: Sequence[Observation]) -> bool:
    best = _best_status(message.status, (e[0] for e in events))
    recalled = _first(message.recalled_at, (e[3] for e in events if e[0] == Step.RECALLED))
    if (best, recalled) == (message.status, message.recalled_at):
        return False
    message.status, message.recalled_at = best, recalled
    return True


def _fold_recipient(recipient: Recipient, events: Sequence[Observation]) -> bool:
    """Fold ``events`` into the recipient's stored values (minima and maxima only)."""
    flags = {name: datetime.fromisoformat(at) for name, at in (recipient.flags or {}).items()}
    for _, flag, _, at in events:
        if flag:
            flags[flag] = min(at, flags.get(flag, at))
    values = {
        "status": _best_status(recipient.status, (e[0] for e in events)),
        "delivered_at": _first(
            recipient.delivered_at, (e[3] for e in events if e[0] in (Step.DELIVERED, Step.READ))
        ),
        "read_at": _first(recipient.read_at, (e[3] for e in events if e[0] == Step.READ)),
        "flags": {name: at.isoformat() for name, at in sorted(flags.items())},
    }
    fields = [f for f, v in values.items() if getattr(recipient, f) != v]
    for name in fields:
        setattr(recipient, name, values[name])
    return bool(fields)


def _first(stored: datetime | None, times: Iterable[datetime]) -> datetime | None:
    return min([*times, *([stored] if stored else [])], default=None)


def _best_status(current: str, steps: Iterable[str]) -> str:
    best = MessageStatus(current)
    for step in steps:
        status = STEP_STATUS.get(Step(step)) if step else None
        if status is not None and STATUS_RANK[status] > STATUS_RANK[best]:
            best = status
    return best.value
