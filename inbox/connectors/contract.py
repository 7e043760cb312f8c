"""The contract between platform adapters and the way in.

A connector knows one platform's wire format and nothing of the ORM. The way in stores every
authentic request whole, asks ``split`` for its items (each stored as an InboundEvent holding
the platform's own item unchanged, with its envelope fields beside it), and later feeds each
stored item to ``parse``, whose normalized events (:mod:`.events`) the services apply.

Which connector serves which platform: :func:`inbox.connectors.registry.get_connector`.

- ``verify`` raises :class:`SignatureError` for a request that is not authentic;
- ``split`` and ``parse`` raise :class:`PayloadError` for an authentic payload they cannot
  understand (retrying will not help); ``parse`` returns ``[]`` for an item the inbox does not
  use (it is marked ignored).

For the way out a connector also declares its channels' ``SETTINGS``, says what a channel can do
(``capabilities``) and builds its client (``make_client``) (the contract in :mod:`.outbound`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, Protocol

from inbox.choices import Platform

from .events import Event
from .outbound import Client, ClientConfig


class PayloadError(ValueError):
    """The payload is authentic but cannot be understood; retrying will not help."""


class SignatureError(Exception):
    """The request is not authentic. The message says why, and never holds a secret."""


class Headers(Mapping[str, str]):
    """Request headers, looked up case-insensitively (as HTTP means them)."""

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self._items = {
            str(name).lower(): (str(name), value)
            for name, value in (headers or {}).items()
            if isinstance(value, str)
        }

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({sorted(self)!r})"  # names only: values may be secrets


@dataclass(frozen=True)
class Item:
    """One storable item of an inbound document (a webhook body may hold several).

    ``payload`` is the platform's own item, unchanged; ``envelope`` the fields of the document
    around it that parsing needs (a batch id, a notification type). ``dedup_key`` is equal for
    redeliveries of the same platform event and different for different events.
    """

    dedup_key: str
    event_name: str
    payload: Any
    envelope: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Setting:
    """One setting a platform's channels take (``add_channel … --setting NAME=VALUE``).

    ``secret`` ones are stored encrypted, whichever flag named them. ``kind`` says how the text
    is read: ``str``, ``int`` (a whole number ≥ 0), ``bool`` (true/false), or one of ``choices``.
    """

    name: str
    help: str
    required: bool = False
    secret: bool = False
    kind: str = "str"
    default: str | int | bool | None = None
    choices: tuple[str, ...] = ()
    # A secret that also authenticates webhooks while the channel has no webhook secret of its
    # own (LivePerson signs them with the app's client secret).
    signs_webhooks: bool = False


@dataclass(frozen=True)
class Capabilities:
    """What a channel of the platform can do on the way out, given its settings. A ``False``
    comes with ``why_not`` where a person would ask (shown instead of the composer)."""

    reply: bool = False
    why_not: str = ""
    files: bool = False
    max_file_size: int = 0  # bytes; 0 without files
    file_types: tuple[str, ...] = ()  # the media types it takes; () takes any
    max_files: int = 0  # per message; 0 for no limit
    text_with_files: bool = True  # False: a message is a text or files, not both
    inline_files: bool = False  # files go in the send call itself (no upload first)
    max_text_length: int = 0  # characters; 0 for no limit
    subject: bool = False
    read_receipts: bool = False
    typing: bool = False
    close: bool = False
    start: bool = False  # open a new conversation (LivePerson: for a consumer)
    poll: bool = False
    decide: bool = False  # relationship decisions (enmeshed)


@dataclass(frozen=True)
class ChannelContext:
    """What a parser may know about the channel: its platform and plain (non-secret) settings."""

    platform: str
    settings: Mapping[str, Any] = field(default_factory=dict)


class Connector(Protocol):
    """One platform's adapter: each platform package (``inbox/connectors/<platform>/``) is a
    module implementing this protocol, listed in :mod:`.registry`."""

    platform: Platform

    @property
    def SETTINGS(self) -> Sequence[Setting]:
        """The settings its channels take."""
        ...

    def capabilities(self, *, settings: Mapping[str, Any], secrets: Set[str]) -> Capabilities:
        """What a channel with these plain ``settings`` and these secret settings set can do."""
        ...

    def make_client(self, *, config: ClientConfig) -> Client:
        """The channel's client for the way out (a platform without one raises a permanent
        PlatformError from every call)."""
        ...

    def verify(
        self,
        *,
        headers: Headers,
        body: bytes,
        secrets: Sequence[str],
        settings: Mapping[str, Any],
    ) -> None:
        """Return if ``body`` is authentic under any of ``secrets``; raise SignatureError if not.

        Compares in constant time over the raw bytes; an empty secret never authenticates.
        """
        ...

    def sign(self, *, body: bytes, secret: str, settings: Mapping[str, Any]) -> dict[str, str]:
        """The headers the platform would send with ``body`` (for the demo replay)."""
        ...

    def split(self, *, document: Any) -> list[Item]:
        """One decoded request body -> its items. Raises PayloadError for a foreign shape.

        An item that is malformed on its own is still returned (so it is stored and fails
        visibly) instead of failing the whole document.
        """
        ...

    def parse(
        self,
        *,
        event_name: str,
        payload: Any,
        envelope: Mapping[str, Any],
        context: ChannelContext,
    ) -> list[Event]:
        """One stored item -> its normalized events; ``[]`` for an item the inbox does not use."""
        ...
