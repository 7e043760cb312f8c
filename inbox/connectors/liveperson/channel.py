"""What a LivePerson channel is configured with, and what it can do on the way out."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from inbox.choices import Platform

from ..contract import Capabilities, Setting
from ..outbound import Client, ClientConfig, NoClient

SETTINGS = (
    Setting("account_id", "the LivePerson account (site) id"),
    Setting("client_id", "the Connector API app's client id"),
    Setting(
        "client_secret",
        "the app's client secret (also signs webhooks when no webhook secret is given)",
        secret=True,
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
    return Capabilities(why_not="Replying on LivePerson is not available yet.")


def make_client(*, config: ClientConfig) -> Client:
    return NoClient(Platform.LIVEPERSON)
