"""LivePerson webhook authentication.

``X-LivePerson-Signature`` is ``"sha1=" + base64(HMAC-SHA1(client_secret, raw body))``; some
accounts use ``"sha256="`` with HMAC-SHA256. The HMAC covers the raw request bytes, never a
re-serialisation of the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..contract import Headers, SignatureError
from ..signing import b64, hmac_digest, matches_any

SIGNATURE_HEADER = "X-LivePerson-Signature"
ACCOUNT_HEADER = "X-LivePerson-Account-Id"
CLIENT_HEADER = "X-LivePerson-Client-Id"

# Signature prefix -> hashlib algorithm name.
ALGORITHMS: Mapping[str, str] = {"sha1": "sha1", "sha256": "sha256"}


def signature(body: bytes, secret: str, algorithm: str) -> str:
    """The header value LivePerson sends for ``body``; ``algorithm`` is a key of ALGORITHMS."""
    return f"{algorithm}={b64(hmac_digest(secret, body, ALGORITHMS[algorithm]))}"


def verify(
    *, headers: Headers, body: bytes, secrets: Sequence[str], settings: Mapping[str, Any]
) -> None:
    """Return if the signature matches ``body`` under any of ``secrets``; else SignatureError.

    The algorithm is the one the header's prefix names. Every usable secret is checked in
    constant time, whichever matches; an empty secret never authenticates. The error never
    quotes the header, which holds a digest.
    """
    presented = headers.get(SIGNATURE_HEADER, "").strip()
    if not presented:
        raise SignatureError(f"the {SIGNATURE_HEADER} header is missing")
    prefix, _, digest = presented.partition("=")
    algorithm = prefix.lower()
    if algorithm not in ALGORITHMS:
        raise SignatureError(f"the signature names no known algorithm ({', '.join(ALGORITHMS)})")
    if not digest:
        raise SignatureError("the signature has no digest")
    # Anyone could sign with an empty key, so an empty secret is no secret.
    usable = [secret for secret in secrets if isinstance(secret, str) and secret]
    if not usable:
        raise SignatureError("the channel has no usable webhook secret")
    expected = [signature(body, secret, algorithm) for secret in usable]
    if not matches_any(f"{algorithm}={digest}", expected):
        raise SignatureError("the signature does not match the body under any channel secret")


def sign(*, body: bytes, secret: str, settings: Mapping[str, Any]) -> dict[str, str]:
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
