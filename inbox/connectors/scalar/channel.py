"""What a SCALAR channel is configured with, and what it can do on the way out."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from ..contract import Capabilities, Setting
from ..outbound import Client, ClientConfig

DEFAULT_AUDIENCE = "COMAPI"
# The send's form-field names are not public (PLATFORMS.md §4.3): settings, with these defaults.
DEFAULT_SENDER_FIELD = "senderId"
DEFAULT_RECIPIENT_FIELD = "recipientId"
# SCALAR publishes no size limit. Drivers receive files on phones and in-cab terminals over
# mobile networks; 10 MB holds a scanned delivery note or a camera photo and keeps a send far
# inside the client's timeouts. A channel can lower or raise it (0 sends no files).
MAX_FILE_SIZE = 10 * 1024 * 1024
# contentType image takes JPEG and PNG, contentType file only PDF (seed 003).
FILE_TYPES = ("image/jpeg", "image/png", "application/pdf")

SETTINGS = (
    Setting("auth_url", "the token endpoint"),
    Setting("messaging_url", "the messaging API"),
    Setting("client_id", "the OAuth client id"),
    Setting("client_secret", "the OAuth client secret", secret=True),
    Setting("audience", "the token audience", default=DEFAULT_AUDIENCE),
    Setting("sender_id", "our back-office user id: its messages are outgoing"),
    Setting("sender_field", "the multipart field naming the sender", default=DEFAULT_SENDER_FIELD),
    Setting(
        "recipient_field",
        "the multipart field naming the recipient",
        default=DEFAULT_RECIPIENT_FIELD,
    ),
    Setting(
        "signature_header",
        "the header demo and test traffic is signed in",
        choices=("X-SCALAR-Signature", "X-Webhook-Signature"),
    ),
    Setting("signature_encoding", "hex or base64 signatures", choices=("hex", "base64")),
    Setting(
        "max_file_size",
        "the largest file sent, in bytes (0 sends no files)",
        kind="int",
        default=MAX_FILE_SIZE,
    ),
)

# What replying needs, in the words a person reads in why_not.
_NEEDED = (
    ("auth_url", "token endpoint (auth_url)"),
    ("messaging_url", "messaging API URL (messaging_url)"),
    ("client_id", "client id (client_id)"),
    ("client_secret", "client secret (client_secret)"),
    ("sender_id", "back-office user id to send as (sender_id)"),
)


def capabilities(*, settings: Mapping[str, Any], secrets: Set[str]) -> Capabilities:
    """Replying needs both URLs, the client id and secret and our sender id. A message is a
    text or one JPEG/PNG/PDF file, sent inline; no receipts, typing, closing or polling (the
    platform documents none), no subjects. Group chats are refused per conversation."""
    missing = [
        label
        for name, label in _NEEDED
        if not (name in secrets if name == "client_secret" else _given(settings.get(name)))
    ]
    if missing:
        return Capabilities(why_not=f"Replying on SCALAR needs the channel's {_listed(missing)}.")
    size = max_file_size(settings)
    return Capabilities(
        reply=True,
        files=size > 0,
        max_file_size=size,
        file_types=FILE_TYPES,
        max_files=1,
        text_with_files=False,
        inline_files=True,
    )


def make_client(*, config: ClientConfig) -> Client:
    from .client import ScalarClient  # httpx is loaded only where the way out runs

    return ScalarClient(config)


def max_file_size(settings: Mapping[str, Any]) -> int:
    """The channel's file size limit in bytes (the default when unset or unreadable)."""
    size: object = settings.get("max_file_size", MAX_FILE_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return MAX_FILE_SIZE
    return size


def _given(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _listed(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
