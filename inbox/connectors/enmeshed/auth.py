"""enmeshed webhook authentication: a per-channel shared secret in a header, no signature.

The Connector's ``ApiKey`` webhook authentication sends the configured key verbatim in a
configurable header (``x-api-key`` by default); the body is not signed, so the check is a
constant-time comparison of the header with each of the channel's secrets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..contract import Headers, SignatureError
from ..signing import matches_any

DEFAULT_HEADER = "X-API-KEY"


def header_name(settings: Mapping[str, Any]) -> str:
    """The header the channel's Connector puts its key in (setting ``webhook_header``)."""
    configured = settings.get("webhook_header")
    return configured if isinstance(configured, str) and configured else DEFAULT_HEADER


def verify(
    *, headers: Headers, body: bytes, secrets: Sequence[str], settings: Mapping[str, Any]
) -> None:
    """Return if the key header carries one of ``secrets``; raise SignatureError otherwise.

    Every secret is compared (rotation), in constant time; an empty secret never matches.
    """
    name = header_name(settings)
    # A lone string is a Sequence[str] too: read character by character it would let any
    # one-letter key in.
    listed = [secrets] if isinstance(secrets, str) else secrets
    candidates = [secret for secret in listed if isinstance(secret, str) and secret]
    if not candidates:
        raise SignatureError("the channel has no webhook secret")
    presented = headers.get(name)
    if not presented:
        raise SignatureError(f"the {name} header is missing or empty")
    try:
        authentic = matches_any(presented, candidates)
    except UnicodeEncodeError:
        # A server that decodes header bytes with surrogateescape hands over unencodable text.
        raise SignatureError(f"the {name} header is not valid text") from None
    if not authentic:
        raise SignatureError(f"the {name} header does not match the channel's secret")


def sign(*, body: bytes, secret: str, settings: Mapping[str, Any]) -> dict[str, str]:
    """The header the Connector sends: the shared secret itself (the body is not signed)."""
    return {header_name(settings): secret}
