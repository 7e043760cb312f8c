"""Typed reads from a Comapi socket frame or webhook envelope.

Both shapes carry ``eventId``, ``name`` and ``payload``; the socket frame says when it happened in
``publishedOn``, the webhook envelope in ``timestamp``. Every reader raises
:class:`~inbox.connectors.base.PayloadError` for a value of the wrong type, so a parser never
leaks ``KeyError``/``TypeError``. Unlike the common readers in :mod:`inbox.connectors.payload`,
these take a missing object as empty, try several keys in turn, and accept ids and integers sent
as numbers or strings, as Comapi does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..base import PayloadError
from ..payload import as_mapping
from ..timestamps import parse_iso

Frame = Mapping[str, Any]


def mapping(source: Frame, key: str) -> Frame:
    """``source[key]`` as a mapping; a missing or null value reads as empty."""
    value = source.get(key)
    return {} if value is None else as_mapping(value, repr(key))


def optional_str(source: Frame, *keys: str) -> str:
    """The first non-empty value among ``keys`` as a string, or ``""``.

    Numbers are accepted because Comapi ids (``accountId``, profile ids) may arrive as either.
    """
    for key in keys:
        value = source.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise PayloadError(f"{key!r} must be a string, got {type(value).__name__}")
        return str(value)
    return ""


def required_str(source: Frame, *keys: str, what: str) -> str:
    value = optional_str(source, *keys)
    if not value:
        raise PayloadError(f"{what} is missing (looked for {', '.join(keys)})")
    return value


def optional_int(source: Frame, key: str) -> int | None:
    """An integer that may arrive as a JSON number or a numeric string; missing gives ``None``."""
    value = source.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise PayloadError(f"{key!r} must be an integer, got {value!r}")


def payload_of(frame: Frame) -> Frame:
    return mapping(frame, "payload")


def event_time(frame: Frame) -> datetime | None:
    """When the platform published the event: ``publishedOn`` (socket) or ``timestamp``
    (webhook)."""
    return parse_iso(frame.get("publishedOn") or frame.get("timestamp"))


def first_time(source: Frame, key: str, fallback: datetime | None) -> datetime | None:
    """``source[key]`` as a timestamp, else ``fallback``."""
    return parse_iso(source.get(key)) or fallback
