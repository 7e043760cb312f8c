"""SCALAR webhook signatures: ``sha256=<HMAC-SHA256 of the raw body>``.

The vendor's pages name two headers and never say whether the digest is hex or base64, so
verification accepts either header and either encoding (hex in any case), with or without the
``sha256=`` prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..contract import Headers, SignatureError
from ..signing import b64, hmac_digest, matches_any

SIGNATURE_HEADERS = ("X-SCALAR-Signature", "X-Webhook-Signature")
ALGORITHM = "sha256"

_ENCODINGS: dict[str, Callable[[bytes], str]] = {"hex": bytes.hex, "base64": b64}


def verify(
    *, headers: Headers, body: bytes, secrets: Sequence[str], settings: Mapping[str, Any]
) -> None:
    """Return if a signature header matches ``body`` under any secret; else raise SignatureError.

    Every presented value is compared with every candidate (both encodings of every secret) in
    constant time, so timing reveals neither the secret nor the encoding that matched. Raises
    nothing but SignatureError, whatever the input.
    """
    values = [headers[name].strip() for name in SIGNATURE_HEADERS if name in headers]
    if not values:
        raise SignatureError(f"no {' or '.join(SIGNATURE_HEADERS)} header")
    if not isinstance(body, bytes):
        raise SignatureError("the body is not raw bytes")
    # A blank secret would make the HMAC key guessable; it never authenticates anything.
    digests = [hmac_digest(secret, body, ALGORITHM) for secret in secrets if secret]
    if not digests:
        raise SignatureError("the channel has no usable webhook secret")
    presented = [digest for digest in map(_digest_part, values) if digest is not None]
    if not presented:
        raise SignatureError(f"the signature is not {ALGORITHM}")
    hex_candidates = [digest.hex() for digest in digests]
    b64_candidates = [b64(digest) for digest in digests]
    found = False
    for value in presented:
        # Hex is compared case-folded, base64 as sent (it is case-sensitive); `|=` keeps every
        # comparison running whatever matched first.
        found |= matches_any(value.lower(), hex_candidates)
        found |= matches_any(value, b64_candidates)
    if not found:
        raise SignatureError("the signature does not match the body")


def sign(*, body: bytes, secret: str, settings: Mapping[str, Any]) -> dict[str, str]:
    """The header SCALAR would send: ``X-SCALAR-Signature: sha256=<lowercase hex>`` by default.

    ``settings["signature_header"]`` may pick ``X-Webhook-Signature`` and
    ``settings["signature_encoding"]`` may pick ``base64``; anything else raises ValueError.
    """
    header = settings.get("signature_header") or SIGNATURE_HEADERS[0]
    encoding = settings.get("signature_encoding") or "hex"
    if header not in SIGNATURE_HEADERS:
        raise ValueError(f"unknown SCALAR signature header: {header!r}")
    if encoding not in _ENCODINGS:
        raise ValueError(f"unknown SCALAR signature encoding: {encoding!r}")
    digest = hmac_digest(secret, body, ALGORITHM)
    return {header: f"{ALGORITHM}={_ENCODINGS[encoding](digest)}"}


def _digest_part(value: str) -> str | None:
    """The digest of ``[<algorithm>=]<digest>``; ``None`` if another algorithm is named.

    Base64 ends in ``=`` padding, so only an ``=`` with something after it ends a prefix.
    """
    name, separator, rest = value.partition("=")
    if not (separator and rest):
        return value
    return rest if name.lower() == ALGORITHM else None
