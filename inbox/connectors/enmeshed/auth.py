"""enmeshed webhook authentication: a per-channel shared secret in a header, no signature.

The Connector's ``ApiKey`` webhook authentication sends the configured key verbatim in a
configurable header (``x-api-key`` by default), so the check is a constant-time comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..signing import matches_any

DEFAULT_HEADER = "X-API-KEY"


def header_name(settings: Mapping[str, Any]) -> str:
    configured = settings.get("webhook_header")
    return configured if isinstance(configured, str) and configured else DEFAULT_HEADER


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    # A plain dict is case-sensitive; the Connector and proxies may spell the name any way.
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def verify(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], settings: Mapping[str, Any]
) -> bool:
    """True if the channel's header carries one of ``secrets``; never raises."""
    try:
        presented = _header(headers, header_name(settings))
        candidates = [secret for secret in secrets if isinstance(secret, str) and secret]
    except Exception:  # a broken mapping must answer "not authentic", not a 500
        return False
    if not isinstance(presented, str) or not presented or not candidates:
        return False
    return matches_any(presented, candidates)


def sign(body: bytes, secret: str, settings: Mapping[str, Any]) -> dict[str, str]:
    """The header the Connector sends: the shared secret itself (the body is not signed)."""
    return {header_name(settings): secret}
