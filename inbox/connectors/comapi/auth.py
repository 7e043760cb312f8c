"""Comapi webhook authentication.

``X-Comapi-Signature`` is the lowercase hex HMAC-SHA1 of the raw request body, keyed with the
webhook secret. Comapi has one scheme only, so there is no algorithm to negotiate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .. import signing
from ..contract import Headers, SignatureError

HEADER = "X-Comapi-Signature"
_HEX_SHA1 = re.compile(r"[0-9a-f]{40}\Z")


def _hexdigest(secret: str, body: bytes) -> str:
    return signing.hmac_digest(secret, body, "sha1").hex()


def verify(
    *, headers: Headers, body: bytes, secrets: Sequence[str], settings: Mapping[str, Any]
) -> None:
    """Return if the signature matches any non-empty secret; raise SignatureError if not.

    Every usable secret is compared, in constant time, so an old and a new secret can be
    configured side by side while the webhook secret is rotated. Surrounding whitespace and
    upper-case hex digits are tolerated.
    """
    presented = headers.get(HEADER)
    if not isinstance(presented, str):
        raise SignatureError(f"the {HEADER} header is missing")
    presented = presented.strip().lower()
    if not presented:
        raise SignatureError(f"the {HEADER} header is empty")
    if not _HEX_SHA1.match(presented):
        # Checked before comparing: only ASCII hex can be encoded and compared safely.
        raise SignatureError(f"the {HEADER} header is not a hex SHA-1 digest")
    usable = [secret for secret in secrets if isinstance(secret, str) and secret]
    if not usable:
        raise SignatureError("no webhook secret is configured")
    if not signing.matches_any(presented, [_hexdigest(secret, body) for secret in usable]):
        raise SignatureError("the signature does not match the body")


def sign(*, body: bytes, secret: str, settings: Mapping[str, Any]) -> dict[str, str]:
    """The headers Comapi sends with ``body``."""
    return {HEADER: _hexdigest(secret, body)}
