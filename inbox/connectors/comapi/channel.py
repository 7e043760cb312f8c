"""What a Comapi channel is configured with, and what it can do on the way out."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from inbox.choices import Platform

from ..contract import Capabilities, Setting
from ..outbound import Client, ClientConfig, NoClient

SETTINGS = (
    Setting("base_url", "the REST API", default="https://api.comapi.com"),
    Setting("ws_url", "the websocket", default="wss://api.comapi.com"),
    Setting("api_space_id", "the API space"),
    Setting("profile_id", "our own profile id: its messages are outgoing"),
    Setting("jwt_secret", "the secret our JWTs are signed with", secret=True),
    Setting("jwt_issuer", "the issuer our JWTs name"),
    Setting("jwt_audience", "the audience our JWTs name"),
)


def capabilities(*, settings: Mapping[str, Any], secrets: Set[str]) -> Capabilities:
    return Capabilities(why_not="Replying on Comapi is not available yet.")


def make_client(*, config: ClientConfig) -> Client:
    return NoClient(Platform.COMAPI)
