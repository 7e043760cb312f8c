"""Comapi webhook authentication: ``X-Comapi-Signature`` is the lowercase hex HMAC-SHA1 of the
raw request body, keyed with the webhook secret."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import signing

HEADER = "X-Comapi-Signature"


def _hexdigest(secret: str, body: bytes) -> str:
    return signing.hmac_digest(secret, body, "sha1").hex()


def _presented(headers: Mapping[str, str]) -> str:
    """The header value, or ``""``; tolerates plain dicts whose keys are not in canonical case."""
    value = headers.get(HEADER)
    if value is None:
        lowered = HEADER.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == lowered), None)
    return value.strip().lower() if isinstance(value, str) else ""


def verify(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], settings: Mapping[str, Any]
) -> bool:
    """True if the signature matches any non-empty secret; compares against all of them in
    constant time, so rotation (old and new secret side by side) works. Never raises."""
    try:
        presented = _presented(headers)
        usable = [secret for secret in secrets if isinstance(secret, str) and secret]
        if not presented or not usable:
            return False
        return signing.matches_any(presented, [_hexdigest(secret, body) for secret in usable])
    except (TypeError, ValueError, AttributeError):
        # A malformed request is simply not authentic; the view answers 401.
        return False


def sign(body: bytes, secret: str, settings: Mapping[str, Any]) -> dict[str, str]:
    """The headers Comapi sends with ``body``."""
    return {HEADER: _hexdigest(secret, body)}
