"""What a LivePerson channel is configured with, and what it can do on the way out."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from ..contract import Capabilities, Setting
from ..outbound import Client, ClientConfig

MAX_FILE_SIZE = 3 * 1024 * 1024  # what LivePerson's file storage takes
FILE_TYPES = ("image/jpeg", "image/png", "image/gif")
# A conversation call is at most 5000 characters of JSON. The envelope of a text takes about
# 200 of them, that of a file message about 400 (its storage path; its thumbnail is left out
# when it does not fit), and a newline or quote in the text costs two; 4000 leaves room for
# that in any ordinary text. One that still does not fit is refused before sending.
MAX_TEXT_LENGTH = 4000

# What replying needs: setting -> how a person calls it.
NEEDED_TO_REPLY = (
    ("account_id", "account id"),
    ("client_id", "app client id"),
    ("client_secret", "app client secret"),
    ("sentinel_url", "Sentinel host"),
    ("idp_url", "IDP host"),
    ("messaging_url", "messaging host"),
)

SETTINGS = (
    Setting("account_id", "the LivePerson account (site) id"),
    Setting("client_id", "the Connector API app's client id"),
    Setting(
        "client_secret",
        "the app's client secret (also signs webhooks when no webhook secret is given)",
        secret=True,
        signs_webhooks=True,
    ),
    Setting("sentinel_url", "the Sentinel (AppJWT) host"),
    Setting("idp_url", "the IDP (ConsumerJWS) host"),
    Setting("messaging_url", "the asyncMessagingEnt host"),
    Setting("swift_url", "the file storage (swift) host"),
    Setting("brand_id", "the brand id new conversations open under"),
    Setting("skill_id", "the skill new conversations are routed to", default="-1"),
    Setting(
        "signature_algorithm",
        "how demo and test traffic is signed",
        choices=("sha1", "sha256", "SHA1", "SHA256"),
        default="sha1",
    ),
)


def capabilities(*, settings: Mapping[str, Any], secrets: Set[str]) -> Capabilities:
    missing = [
        label
        for name, label in NEEDED_TO_REPLY
        if not (name in secrets if name == "client_secret" else _is_set(settings.get(name)))
    ]
    if missing:
        return Capabilities(why_not=f"To reply, the channel still needs its {_listed(missing)}.")
    files = _is_set(settings.get("swift_url"))
    return Capabilities(
        reply=True,
        files=files,
        max_file_size=MAX_FILE_SIZE if files else 0,
        file_types=FILE_TYPES if files else (),
        # One hosted/file event carries one file: a message of several would become several
        # LivePerson messages, of which a failed retry could repeat the ones that went out.
        max_files=1 if files else 0,
        max_text_length=MAX_TEXT_LENGTH,
        read_receipts=True,
        typing=True,
        close=True,
        start=True,
    )


def make_client(*, config: ClientConfig) -> Client:
    from .client import LivePersonClient  # httpx is loaded only where the way out runs

    return LivePersonClient(config)


def _is_set(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _listed(labels: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"
