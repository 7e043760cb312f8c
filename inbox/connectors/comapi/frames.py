"""Reads every Comapi handler shares, over socket frames and webhook envelopes alike.

Both shapes carry ``eventId``, ``name`` and ``payload``; the socket frame says when the event
happened in ``publishedOn``, the webhook envelope in ``timestamp``. Comapi puts the same fact in
different places depending on the shape, so handlers often look in several places in turn.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..contract import ChannelContext
from ..events import Event
from ..payload import Payload

ROOT = "event"  # the root of every path in an error message: "event.payload.messageId is ..."

# One event name's reader: the stored frame or envelope (rooted at ROOT) -> normalized events.
Handler = Callable[[Payload, ChannelContext], list[Event]]


def body(event: Payload) -> Payload:
    """The event's ``payload`` object; a missing one reads as empty."""
    return event.get("payload").optional_mapping()


def first_of(*candidates: Payload) -> Payload:
    """The first candidate that is neither missing, null nor ``""``.

    When there is none, a missing value whose path names every place that was looked at, so a
    required read fails with e.g. ``event.payload.conversationId|event.conversationId is missing``.
    """
    for candidate in candidates:
        if candidate.value not in (None, ""):
            return candidate
    return Payload(None, "|".join(candidate.path for candidate in candidates))


def event_time(event: Payload) -> datetime | None:
    """When Comapi published the event: ``publishedOn`` (socket) or ``timestamp`` (webhook)."""
    return first_of(event.get("publishedOn"), event.get("timestamp")).optional_timestamp()


def time_or(value: Payload, fallback: datetime | None) -> datetime | None:
    """``value`` as a timestamp, else ``fallback`` (usually the event's publish time)."""
    return value.optional_timestamp() or fallback
