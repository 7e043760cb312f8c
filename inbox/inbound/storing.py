"""Storing what platforms send: the request whole, then its items as events, in one transaction.

Whatever the body holds, an authentic request is kept byte for byte: a body that is not JSON,
is nested absurdly deep or has a foreign shape is kept with the reason (replay can split it
again after a fix), and an item PostgreSQL's JSON cannot hold (``\\u0000``, a lone surrogate,
``NaN``, ``Infinity``, ``1e400``) becomes a failed event with the reason while the other items
of the request are stored and processed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from inbox.connectors.contract import Item, PayloadError
from inbox.connectors.registry import get_connector
from inbox.db import columns_of, insert_values, prepare_column
from inbox.models import Channel, InboundEvent, InboundRequest

from .wakeup import wake_workers

# Deeper documents are refused before anything walks them: no platform nests this far, and
# every recursive reader (JSON encoders, the admin) would otherwise need to be proven safe.
MAX_DEPTH = 64
MAX_KEY_LENGTH = 255  # InboundEvent.dedup_key
MAX_EVENT_NAME_LENGTH = 200


@dataclass(frozen=True)
class Stored:
    request: InboundRequest
    items: int  # how many items the body holds
    new: int  # how many of them were not stored before
    error: str  # why the body could not be split, "" when it was


def store_request(
    *, channel: Channel, source: str, body: bytes, headers: Mapping[str, str] | None = None
) -> Stored:
    """Keep one authentic request whole and store its items as pending events.

    A body received before (the same bytes) is the same request; items stored before (the
    same dedup key) are not stored again. Processing is queued after commit, and only when a
    new item was stored. Raises ``DatabaseError`` only when the database cannot take the rows.
    """
    items, error = split_body(channel.platform, body)
    now = timezone.now()
    request = InboundRequest(
        channel=channel,
        source=source,
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        headers={plain_text(k): plain_text(v) for k, v in (headers or {}).items()},
        received_at=now,
        item_count=len(items),
        error=error,
    )
    rows = event_rows(channel, items, now)
    if connection.vendor == "postgresql":
        new = _store_in_one_statement(request, rows)
    else:
        with transaction.atomic():
            stored, created = InboundRequest.objects.get_or_create(
                channel=channel,
                body_sha256=request.body_sha256,
                defaults={f: getattr(request, f) for f in REQUEST_COLUMNS[1:]},
            )
            if not created and (stored.error, stored.item_count) != (error, len(items)):
                stored.error, stored.item_count = error, len(items)
                stored.save(update_fields=["error", "item_count"])
            request = stored
            new = insert_events(request, rows)
    if new:
        transaction.on_commit(wake_workers)
    return Stored(request=request, items=len(items), new=new, error=error)


def store_document(*, channel: Channel, source: str, document: Any) -> Stored:
    """Store a document one of our platform clients fetched (a poll, the answer to a send or a
    decision) as the request it would have been, so it meets webhooks in the same way in."""
    body = json.dumps(document, ensure_ascii=False).encode()
    return store_request(channel=channel, source=source, body=body)


# The request's columns, then the events' (beside channel and request), in insert order.
REQUEST_COLUMNS = (
    "channel",
    "source",
    "body",
    "body_sha256",
    "headers",
    "received_at",
    "item_count",
    "error",
)
EVENT_COLUMNS = (
    "event_name",
    "dedup_key",
    "payload",
    "envelope",
    "state",
    "attempts",
    "error",
    "received_at",
    "processed_at",
    "next_attempt_at",
)


def _store_in_one_statement(request: InboundRequest, rows: Sequence[InboundEvent]) -> int:
    """Insert the request (or find it: the same bytes again) and its new events in one
    statement, so a delivery costs one round trip. Returns how many new events are pending."""
    sql, request_fields, event_fields = _one_statement()
    # The events travel as one JSON array of objects (jsonb_to_recordset): one parameter to dump
    # in C, where a column array each would cost more than the rest of the request's Python.
    events = [{f.column: _json(getattr(row, f.attname)) for f in event_fields} for row in rows]
    params = [
        *(prepare_column(f, [getattr(request, f.attname)])[0] for f in request_fields),
        request.channel_id,
        json.dumps(events, ensure_ascii=False, allow_nan=False),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        request.pk, new = cursor.fetchone()
    return int(new)


@cache
def _one_statement() -> tuple[str, list[Field[Any, Any]], list[Field[Any, Any]]]:
    request_fields = columns_of(InboundRequest, REQUEST_COLUMNS)
    event_fields = columns_of(InboundEvent, EVENT_COLUMNS)
    quote = connection.ops.quote_name
    sql = (
        "WITH request AS ("  # noqa: S608 - names come from the models
        f" INSERT INTO {quote(InboundRequest._meta.db_table)}"
        f" ({', '.join(quote(f.column) for f in request_fields)})"
        f" VALUES ({', '.join(['%s'] * len(request_fields))})"
        " ON CONFLICT (channel_id, body_sha256) DO UPDATE"
        " SET item_count = EXCLUDED.item_count, error = EXCLUDED.error"
        " RETURNING id),"
        f" stored AS (INSERT INTO {quote(InboundEvent._meta.db_table)}"
        f" (channel_id, request_id, {', '.join(quote(f.column) for f in event_fields)})"
        f" SELECT %s, request.id, item.* FROM request, jsonb_to_recordset(%s::jsonb) AS item"
        f"({', '.join(f'{quote(f.column)} {f.db_type(connection)}' for f in event_fields)})"
        " ON CONFLICT (channel_id, dedup_key) DO NOTHING RETURNING state)"
        " SELECT (SELECT id FROM request), count(*) FILTER (WHERE state = 'pending') FROM stored"
    )
    return sql, request_fields, event_fields


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def split_body(platform: str, body: bytes) -> tuple[list[Item], str]:
    """The items of ``body``, or ``[]`` and why it cannot be split."""
    try:
        document = json.loads(body, parse_int=_integer)
    except RecursionError:
        return [], f"nested deeper than {MAX_DEPTH} levels"
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        return [], f"not JSON: {exc}"
    if depth_exceeds(document, MAX_DEPTH):
        return [], f"nested deeper than {MAX_DEPTH} levels"
    try:
        return get_connector(platform).split(document=document), ""
    except PayloadError as exc:
        return [], f"not a valid {platform} document: {exc}"


class OverlongInteger(str):
    """An integer too long for Python to convert (over 4300 digits): valid JSON, but nothing the
    inbox can store or read back. It fails its item alone (see :func:`unstorable`)."""


def _integer(digits: str) -> int | OverlongInteger:
    try:
        return int(digits)
    except ValueError:
        return OverlongInteger(digits)


def event_rows(
    channel: Channel, items: Sequence[Item], received_at: datetime
) -> list[InboundEvent]:
    """The events of ``items`` as they are stored (not saved yet): one per dedup key, pending,
    or failed with the reason when the item cannot be stored as JSON."""
    rows: dict[str, InboundEvent] = {}
    for item in items:
        key = clamp_key(item.dedup_key)
        reason = unstorable(item.payload) or unstorable(item.envelope)
        rows.setdefault(
            key,
            InboundEvent(
                channel=channel,
                event_name=plain_text(item.event_name)[:MAX_EVENT_NAME_LENGTH],
                dedup_key=key,
                payload=None if reason else item.payload,
                envelope={} if reason else dict(item.envelope),
                state=InboundEvent.State.FAILED if reason else InboundEvent.State.PENDING,
                error=f"item cannot be stored as JSON: {reason}" if reason else "",
                received_at=received_at,
                processed_at=received_at if reason else None,
                next_attempt_at=None if reason else received_at,
            ),
        )
    return list(rows.values())


def insert_events(request: InboundRequest, rows: Sequence[InboundEvent]) -> int:
    """Insert the events not stored yet (by dedup key) for ``request``; returns how many
    pending ones were new."""
    for row in rows:
        row.request = request
    if connection.vendor == "postgresql":
        fields = columns_of(InboundEvent, ("channel", "request", *EVENT_COLUMNS))
        states = insert_values(
            InboundEvent,
            fields,
            [[getattr(row, f.attname) for row in rows] for f in fields],
            ignore_conflicts=True,
            returning="state",
        )
        return states.count(InboundEvent.State.PENDING)
    known = set(
        InboundEvent.objects.filter(
            channel_id=request.channel_id, dedup_key__in=[row.dedup_key for row in rows]
        ).values_list("dedup_key", flat=True)
    )
    fresh = [row for row in rows if row.dedup_key not in known]
    InboundEvent.objects.bulk_create(fresh, ignore_conflicts=True)
    return sum(1 for row in fresh if row.state == InboundEvent.State.PENDING)


def clamp_key(key: str) -> str:
    """The dedup key as stored: over-long or unstorable keys become a hash of themselves."""
    text = plain_text(key)
    if text == key and len(key) <= MAX_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def plain_text(value: str) -> str:
    """``value`` with what a text column cannot hold (NUL, lone surrogates) escaped."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def unstorable(value: object) -> str:
    """Why PostgreSQL's JSON cannot hold ``value`` (``""`` when it can). Never recurses."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, OverlongInteger):
            return f"an integer of {len(node)} digits is too long to read"
        if isinstance(node, float) and not math.isfinite(node):
            return f"the number {node} (NaN, Infinity or out of range) is not JSON"
        if isinstance(node, str):
            if reason := _unstorable_text(node):
                return reason
        elif isinstance(node, Mapping):
            for key, child in node.items():
                if reason := _unstorable_text(str(key)):
                    return reason
                stack.append(child)
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return ""


def _unstorable_text(text: str) -> str:
    if "\x00" in text:
        return "a string contains \\u0000"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a string contains a lone surrogate"
    return ""


def depth_exceeds(value: object, limit: int) -> bool:
    """True when ``value`` nests objects/lists deeper than ``limit``. Never recurses."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, Mapping) else node
            stack.extend((child, depth + 1) for child in children)
    return False
