"""What a Comapi channel is configured with, and what it can do on the way out."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from ..contract import Capabilities, Setting
from ..outbound import CONNECT_TIMEOUT, Client, ClientConfig

# Comapi documents no size limit for its content service; 10 MiB uploads within the HTTP
# timeouts on an ordinary line and stays under what the channels Comapi relays to accept.
MAX_FILE_SIZE = 10 * 1024 * 1024
# The socket and webhooks carry every event; the scheduled gap fill is only the net below them
# (one events request per open conversation), so it runs less often than a primary poll would.
POLL_INTERVAL = 300
KEEPALIVE = 60  # seconds between the socket's echo frames, as Comapi's own SDK does it

SETTINGS = (
    Setting("base_url", "the REST API", default="https://api.comapi.com"),
    Setting("ws_url", "the websocket", default="wss://api.comapi.com"),
    Setting("api_space_id", "the API space"),
    Setting("profile_id", "our own profile id: its messages are outgoing"),
    Setting("jwt_secret", "the secret our JWTs are signed with", secret=True),
    Setting("jwt_issuer", "the issuer our JWTs name"),
    Setting("jwt_audience", "the audience our JWTs name"),
    Setting(
        "poll_interval",
        "seconds between gap fills of the open conversations; 0 turns them off",
        kind="int",
        default=POLL_INTERVAL,
    ),
    Setting(
        "keepalive",
        "seconds between the websocket's keep-alive frames",
        kind="int",
        default=KEEPALIVE,
    ),
    Setting("timeout", "seconds to wait for Comapi's answer", kind="int", default=15),
    Setting(
        "max_file_size",
        "the largest file sent or downloaded, in bytes",
        kind="int",
        default=MAX_FILE_SIZE,
    ),
)

# What a session needs, in the words a person reads.
_NEEDED = (
    ("api_space_id", "the API space id"),
    ("profile_id", "the profile id"),
    ("jwt_issuer", "the JWT issuer"),
    ("jwt_audience", "the JWT audience"),
)


def missing_settings(*, settings: Mapping[str, Any], secrets: Set[str]) -> list[str]:
    """What the channel lacks to open a Comapi session (REST and websocket alike)."""
    missing = [words for name, words in _NEEDED if not _present(settings.get(name))]
    if "jwt_secret" not in secrets:
        missing.append("the JWT secret")
    return missing


def capabilities(*, settings: Mapping[str, Any], secrets: Set[str]) -> Capabilities:
    missing = missing_settings(settings=settings, secrets=secrets)
    if missing:
        listed = ", ".join(missing[:-1]) + (" and " if len(missing) > 1 else "") + missing[-1]
        return Capabilities(why_not=f"Replying needs {listed} of the Comapi API space.")
    size = settings.get("max_file_size", MAX_FILE_SIZE)
    return Capabilities(
        reply=True,
        files=True,
        max_file_size=size if isinstance(size, int) and size > 0 else MAX_FILE_SIZE,
        read_receipts=True,
        typing=True,
        poll=settings.get("poll_interval", POLL_INTERVAL) != 0,
    )


def make_client(*, config: ClientConfig) -> Client:
    import httpx

    from .client import ComapiClient  # httpx and PyJWT are loaded only where the way out runs

    wait = config.settings.get("timeout")
    timeout = (
        httpx.Timeout(float(wait), connect=CONNECT_TIMEOUT)
        if isinstance(wait, int) and wait > 0
        else None
    )
    return ComapiClient(config, timeout=timeout)


def _present(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
