"""LivePerson webhook authentication.

``X-LivePerson-Signature`` is ``"sha1=" + base64(HMAC-SHA1(client_secret, raw body))``; some
accounts use ``"sha256="`` with HMAC-SHA256. The HMAC covers the raw request bytes, never a
re-serialisation of the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..signing import b64, hmac_digest, matches_any

SIGNATURE_HEADER = "X-LivePerson-Signature"
ACCOUNT_HEADER = "X-LivePerson-Account-Id"
CLIENT_HEADER = "X-LivePerson-Client-Id"

# Signature prefix -> hashlib algorithm name.
ALGORITHMS: Mapping[str, str] = {"sha1": "sha1", "sha256": "sha256"}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """``name`` from a case-insensitive mapping, or from a plain dict in any capitalisation."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value if isinstance(value, str) else None


def signature(body: bytes, secret: str, algorithm: str) -> str:
    """The header value LivePerson sends for ``body``; ``algorithm`` is a key of ALGORITHMS."""
    return f"{algorithm}={b64(hmac_digest(secret, body, ALGORITHMS[algorithm]))}"


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    settings: Mapping[str, Any],
) -> bool:
    """True if the signature matches ``body`` under any of ``secrets``; never raises.

    The algorithm is the one the header's prefix names; an unknown prefix fails. Every secret is
    checked in constant time, whichever matches.
    """
    presented = _header(headers, SIGNATURE_HEADER)
    if not presented or not isinstance(body, bytes):
        return False
    prefix, _, digest = presented.strip().partition("=")
    algorithm = prefix.lower()
    # An empty secret would let anyone sign with an empty key, so it never authenticates.
    usable = [secret for secret in secrets if isinstance(secret, str) and secret]
    if algorithm not in ALGORITHMS or not digest or not usable:
        return False
    expected = [signature(body, secret, algorithm) for secret in usable]
    return matches_any(f"{algorithm}={digest}", expected)


def sign(body: bytes, secret: str, settings: Mapping[str, Any]) -> dict[str, str]:
    """The headers LivePerson would send with ``body``.

    ``settings["signature_algorithm"]`` picks ``"sha1"`` (default) or ``"sha256"``; the account
    and client id headers are added when the settings name them. Raises ValueError for an
    unknown algorithm.
    """
    algorithm = str(settings.get("signature_algorithm") or "sha1").lower()
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown LivePerson signature algorithm: {algorithm!r}")
    headers = {SIGNATURE_HEADER: signature(body, secret, algorithm)}
    if settings.get("account_id"):
        headers[ACCOUNT_HEADER] = str(settings["account_id"])
    if settings.get("client_id"):
        headers[CLIENT_HEADER] = str(settings["client_id"])
    return headers
