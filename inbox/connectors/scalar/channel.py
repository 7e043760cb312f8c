"""What a SCALAR channel is configured with, and what it can do on the way out."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from inbox.choices import Platform

from ..contract import Capabilities, Setting
from ..outbound import Client, ClientConfig, NoClient

SETTINGS = (
    Setting("auth_url", "the token endpoint"),
    Setting("messaging_url", "the messaging API"),
    Setting("client_id", "the OAuth client id"),
    Setting("client_secret", "the OAuth client secret", secret=True),
    Setting("audience", "the token audience", default="COMAPI"),
    Setting("sender_id", "our back-office user id: its messages are outgoing"),
    Setting("sender_field", "the multipart field naming the sender", default="senderId"),
    Setting("recipient_field", "the multipart field naming the recipient", default="recipientId"),
    Setting(
        "signature_header",
        "the header demo and test traffic is signed in",
        choices=("X-SCALAR-Signature", "X-Webhook-Signature"),
    ),
    Setting("signature_encoding", "hex or base64 signatures", choices=("hex", "base64")),
)


def capabilities(*, settings: Mapping[str, Any], secrets: Set[str]) -> Capabilities:
    return Capabilities(why_not="Replying on SCALAR is not available yet.")


def make_client(*, config: ClientConfig) -> Client:
    return NoClient(Platform.SCALAR)
