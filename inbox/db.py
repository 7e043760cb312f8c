"""Database primitives the services share: race-safe upsert and per-conversation locks."""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

from django.db import IntegrityError, connection, models, transaction

M = TypeVar("M", bound=models.Model)


def get_or_insert(
    model: type[M], lookup: dict[str, Any], defaults: dict[str, Any]
) -> tuple[M, bool]:
    """Fetch the row matching ``lookup`` (a unique key) or insert it; safe under concurrency.

    Two transactions inserting the same key meet at the unique constraint: the loser's insert
    waits for the winner, fails, and then reads the winner's row.
    """
    row = model._default_manager.filter(**lookup).first()
    if row is not None:
        return row, False
    try:
        with transaction.atomic():
            return model._default_manager.create(**lookup, **defaults), True
    except IntegrityError:
        return model._default_manager.get(**lookup), False


def lock_conversation(channel_id: int, conversation_external_id: str) -> None:
    """Serialise, until the transaction ends, every write to one conversation's messages.

    Without it a receipt and its message applied concurrently could each miss the other's
    uncommitted row. An advisory lock needs no row to exist yet. SQLite has a single writer
    and needs nothing.
    """
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"{channel_id}:{conversation_external_id}".encode(), digest_size=8)
    key = int.from_bytes(digest.digest(), "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
