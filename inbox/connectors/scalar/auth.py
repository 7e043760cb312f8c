"""SCALAR webhook signatures: ``sha256=<HMAC-SHA256 of the raw body>``.

The vendor's pages name two headers and never say whether the digest is hex or base64, so
verification accepts either header and either encoding (hex in any case), with or without the
``sha256=`` prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..signing import b64, hmac_digest, matches_any

SIGNATURE_HEADERS = ("X-SCALAR-Signature", "X-Webhook-Signature")
PREFIX = "sha256="

_ENCODINGS: dict[str, Callable[[bytes], str]] = {"hex": bytes.hex, "base64": b64}
_WANTED = frozenset(name.lower() for name in SIGNATURE_HEADERS)


def verify(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], settings: Mapping[str, Any]
) -> bool:
    """True if a signature header matches ``body`` under any secret; never raises.

    Every presented value is compared with every candidate (both encodings of every secret) in
    constant time, so timing reveals neither the secret nor the encoding that matched.
    """
    try:
        return _verify(headers, body, secrets)
    except Exception:  # authentication fails closed on any malformed input
        return False


def sign(body: bytes, secret: str, settings: Mapping[str, Any]) -> dict[str, str]:
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
    digest = hmac_digest(secret, body, "sha256")
    return {header: PREFIX + _ENCODINGS[encoding](digest)}


def _verify(headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> bool:
    presented = [_strip_prefix(value) for value in _signature_values(headers)]
    # A blank secret would make the HMAC key guessable; it never authenticates anything.
    digests = [hmac_digest(secret, body, "sha256") for secret in secrets if secret]
    if not presented or not digests:
        return False
    hex_candidates = [digest.hex() for digest in digests]
    b64_candidates = [b64(digest) for digest in digests]
    found = False
    for value in presented:
        # Hex is compared case-folded, base64 as sent (it is case-sensitive); `|=` keeps every
        # comparison running whatever matched first.
        found |= matches_any(value.lower(), hex_candidates)
        found |= matches_any(value, b64_candidates)
    return found


def _signature_values(headers: Mapping[str, str]) -> Iterable[str]:
    # Scanning items works for Django's case-insensitive headers and for plain dicts alike.
    for name, value in headers.items():
        if isinstance(name, str) and name.lower() in _WANTED and isinstance(value, str):
            yield value


def _strip_prefix(value: str) -> str:
    value = value.strip()
    if value[: len(PREFIX)].lower() == PREFIX:
        return value[len(PREFIX) :]
    return value
