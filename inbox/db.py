"""The conversation lock the services share."""

from __future__ import annotations

import hashlib

from django.db import connection


def lock_conversation(channel_id: int, conversation_external_id: str) -> None:
    """Serialise, until the transaction ends, every write to one conversation's messages.

    Without it a receipt and its message applied concurrently could each miss the other's
    uncommitted row, and two new messages could take the same position. An advisory lock
    needs no row to exist yet. SQLite has a single writer and needs nothing.
    """
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"{channel_id}:{conversation_external_id}".encode(), digest_size=8)
    key = int.from_bytes(digest.digest(), "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
