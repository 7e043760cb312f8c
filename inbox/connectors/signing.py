"""Shared pieces of webhook authentication: HMACs over raw bytes and constant-time checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def hmac_digest(secret: str, body: bytes, algorithm: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), body, getattr(hashlib, algorithm)).digest()


def matches_any(presented: str, candidates: Iterable[str]) -> bool:
    """True if ``presented`` equals one of ``candidates``; every comparison is constant-time."""
    presented_bytes = presented.encode("utf-8")
    found = False
    for candidate in candidates:
        # No early exit: the time taken does not reveal which secret matched.
        found |= hmac.compare_digest(presented_bytes, candidate.encode("utf-8"))
    return found


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")
