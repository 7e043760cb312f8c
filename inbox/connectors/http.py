"""What every platform client's HTTP needs the same way (no ORM, no Django)."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache

import httpx


@cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every client: loading the CA bundle takes tens of ms."""
    return httpx.create_ssl_context()


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
