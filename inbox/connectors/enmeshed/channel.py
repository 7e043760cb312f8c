"""What an enmeshed channel is configured with, and what it can do on the way out."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from ..contract import Capabilities, Setting
from ..outbound import CONNECT_TIMEOUT, Client, ClientConfig

MAX_FILE_SIZE = 10 * 1024 * 1024  # the Connector's own default limit

SETTINGS = (
    Setting("base_url", "the Connector, e.g. http://connector:8080", required=True),
    Setting("api_key", "the Connector's API key", required=True, secret=True),
    Setting(
        "api_version",
        "the Connector's API generation (auto detects it once)",
        choices=("auto", "v1", "core-v1"),
        default="auto",
    ),
    Setting("poll_interval", "seconds between polls; 0 turns polling off", kind="int", default=60),
    Setting("sync", "ask the Connector to sync before each poll", kind="bool", default=True),
    Setting("timeout", "seconds to wait for the Connector's answer", kind="int", default=15),
    Setting("address", "our own address (1.x Connectors do not say which messages are ours)"),
    Setting("api_key_header", "the header the API key is sent in", default="X-API-KEY"),
    Setting("webhook_header", "the header the Connector's webhooks carry the secret in"),
    Setting(
        "max_file_size",
        "the largest file sent or downloaded, in bytes",
        kind="int",
        default=MAX_FILE_SIZE,
    ),
)


def capabilities(*, settings: Mapping[str, Any], secrets: Set[str]) -> Capabilities:
    connected = bool(settings.get("base_url")) and "api_key" in secrets
    size = settings.get("max_file_size", MAX_FILE_SIZE)
    return Capabilities(
        reply=connected,
        why_not="" if connected else "The channel has no Connector URL and API key to send with.",
        files=connected,
        max_file_size=size if isinstance(size, int) else MAX_FILE_SIZE,
        subject=True,
        poll=connected and settings.get("poll_interval", 60) != 0,
        decide=connected,
    )


def make_client(*, config: ClientConfig) -> Client:
    import httpx

    from .client import EnmeshedClient  # httpx is loaded only where the way out runs

    wait = config.settings.get("timeout")
    timeout = httpx.Timeout(float(wait), connect=CONNECT_TIMEOUT) if isinstance(wait, int) else None
    return EnmeshedClient(config, timeout=timeout)
