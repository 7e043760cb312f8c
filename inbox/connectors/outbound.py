"""The way out's contract: what a platform client does for the outbound worker.

Beside the parse contract (:mod:`.contract`), each platform package that can act has a
``client`` module: a class implementing :class:`Client` over httpx (explicit timeouts, streamed
downloads), built from the channel's plain settings and decrypted credentials. Clients never
touch the ORM: they take plain values and return plain results, and every failure leaves as one
:class:`PlatformError` that says whether retrying can help.

What a client fetches for the inbox (a poll, the answer to a decision, the message it sent) is
returned as a *document* the platform's own ``split`` accepts, so it enters through the one way
in with the same dedup keys as a webhook carrying the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Protocol

# httpx defaults for every platform client (seconds).
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0


class PlatformError(Exception):
    """A platform call failed.

    ``permanent`` errors (a 4xx the platform will answer again) fail the command at once;
    others (5xx, timeouts, refused connections) are retried, not before ``retry_after`` seconds
    when the platform said so. ``code`` and ``message`` are the platform's own words, safe to
    show (they never hold a credential). ``credentials`` says the platform refused the
    channel's credentials (a token endpoint's 401/403; any 401 counts too), which an operator
    must fix: the channel shows it.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        credentials: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code
        self.status = status
        self.retry_after = retry_after
        self.credentials = credentials or status == 401

    def __str__(self) -> str:
        prefix = f"{self.code}: " if self.code else ""
        return f"{prefix}{self.message}"


@dataclass(frozen=True)
class OutgoingFile:
    """A file to upload, read from ``stream`` in chunks (never whole into memory)."""

    name: str
    content_type: str
    size: int
    stream: BinaryIO
    title: str = ""


@dataclass(frozen=True)
class Uploaded:
    """An uploaded file: the platform's id for it and its own description (a FileDTO…)."""

    platform_id: str
    document: Any = None


@dataclass(frozen=True)
class Target:
    """Where a message goes: the platform's conversation id and/or the recipients' addresses.
    ``participants`` are the conversation's present ``(address, role)`` pairs, ourselves
    included (a LivePerson client speaks for the ``CONSUMER``); ``sender`` names whom the inbox
    speaks for when there is no conversation yet (:meth:`Client.open_conversation`)."""

    conversation_id: str = ""
    recipients: Sequence[str] = ()
    participants: Sequence[tuple[str, str]] = ()
    sender: str = ""


@dataclass(frozen=True)
class Sent:
    """A message the platform accepted. ``document`` is its answer, stored through the way in
    (so the outbound row and the platform's echo of it meet there)."""

    platform_id: str
    sequence: int | None = None
    sent_at: datetime | None = None
    document: Any = None
    # Set when the platform put the message in another conversation than the target's (a
    # closed LivePerson conversation: the client opened a new one and sent there).
    conversation_id: str = ""


@dataclass(frozen=True)
class Opened:
    """A conversation the platform opened for us: its id, its people as the platform names
    them (``(address, role)``; a LivePerson consumer under its webhook id), and its answer as a
    document."""

    conversation_id: str
    participants: Sequence[tuple[str, str]] = ()
    document: Any = None


@dataclass(frozen=True)
class Downloaded:
    """What a download wrote: the platform's file name, media type and the bytes written."""

    name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Polled:
    """One poll: ``document`` (a body the connector's ``split`` accepts; None when nothing came)
    and the ``cursor`` to commit with what it stored. ``state`` holds facts the client learnt
    on the way (the detected API generation, our own address) for the channel to remember."""

    document: Any
    cursor: Mapping[str, Any]
    state: Mapping[str, Any] = field(default_factory=dict)


class Client(Protocol):
    """One channel's client. Operations a platform does not have raise a permanent
    PlatformError (the connector's capabilities keep the inbox from asking)."""

    def upload(self, *, file: OutgoingFile, target: Target | None = None) -> Uploaded:
        """Upload one file to attach to a later :meth:`send` to ``target`` (LivePerson asks
        for upload URLs as the conversation's consumer)."""
        ...

    def send(
        self,
        *,
        target: Target,
        text: str,
        subject: str = "",
        attachments: Sequence[str] = (),
        files: Sequence[OutgoingFile] = (),
    ) -> Sent:
        """Send one message with already uploaded files (their platform ids), or, on a platform
        whose capabilities say ``inline_files``, with the ``files`` themselves."""
        ...

    def find_sent(
        self,
        *,
        target: Target,
        text: str,
        subject: str,
        since: datetime,
        attachments: Sequence[str] = (),
    ) -> Sent | None:
        """The message an earlier :meth:`send` whose answer was lost did send, if any: asked
        before sending again, so that a retry never sends twice."""
        ...

    def download(
        self, *, ref: str, sink: BinaryIO, max_bytes: int, target: Target | None = None
    ) -> Downloaded:
        """Stream the file ``ref`` into ``sink``; a file over ``max_bytes`` is a permanent
        error (whatever was written is the caller's to discard). ``target`` is the conversation
        the file came in (LivePerson asks for download URLs within it)."""
        ...

    def mark_read(self, *, target: Target, messages: Sequence[str]) -> None:
        """Tell the platform the user has read these messages (their platform ids)."""
        ...

    def typing(self, *, target: Target, active: bool) -> None:
        """Tell the other side the user is typing (``active``) or has stopped."""
        ...

    def close_conversation(self, *, target: Target) -> Any:
        """Close the conversation; returns the platform's document of it afterwards, or None."""
        ...

    def open_conversation(self, *, target: Target) -> Opened:
        """Open a new conversation for ``target.sender`` (LivePerson: a consumer)."""
        ...

    def poll(self, *, cursor: Mapping[str, Any]) -> Polled:
        """Fetch what happened since ``cursor`` (``{}`` the first time)."""
        ...

    def decide(self, *, relationship_id: str, change_id: str, decision: str) -> Any:
        """Accept, reject, revoke or terminate a relationship (``decision`` is one of those
        words); returns the platform's document of the relationship afterwards."""
        ...

    def state(self) -> Mapping[str, Any]:
        """Facts learnt on the way (the detected API generation…), for the channel to keep."""
        ...

    def close(self) -> None:
        """Release the connections the client holds."""
        ...


@dataclass(frozen=True)
class ClientConfig:
    """What a client is built from: plain settings, decrypted credentials and the facts the
    channel remembered from earlier calls (:attr:`Polled.state`)."""

    settings: Mapping[str, Any]
    credentials: Mapping[str, str]
    state: Mapping[str, Any] = field(default_factory=dict)


class BaseClient:
    """What a client does not override is refused for good, naming the operation (the
    connector's capabilities keep the inbox from asking for it)."""

    platform: str = "this platform"

    def _refuse(self, operation: str) -> PlatformError:
        return PlatformError(f"{self.platform} channels cannot {operation}", permanent=True)

    def upload(self, *, file: OutgoingFile, target: Target | None = None) -> Uploaded:
        raise self._refuse("upload files")

    def send(
        self,
        *,
        target: Target,
        text: str,
        subject: str = "",
        attachments: Sequence[str] = (),
        files: Sequence[OutgoingFile] = (),
    ) -> Sent:
        raise self._refuse("send")

    def find_sent(
        self,
        *,
        target: Target,
        text: str,
        subject: str,
        since: datetime,
        attachments: Sequence[str] = (),
    ) -> Sent | None:
        return None  # nothing to look for: the platform answers every send it took

    def download(
        self, *, ref: str, sink: BinaryIO, max_bytes: int, target: Target | None = None
    ) -> Downloaded:
        raise self._refuse("download files")

    def poll(self, *, cursor: Mapping[str, Any]) -> Polled:
        raise self._refuse("be polled")

    def decide(self, *, relationship_id: str, change_id: str, decision: str) -> Any:
        raise self._refuse("decide on relationships")

    def mark_read(self, *, target: Target, messages: Sequence[str]) -> None:
        raise self._refuse("send read receipts")

    def typing(self, *, target: Target, active: bool) -> None:
        raise self._refuse("send typing signals")

    def close_conversation(self, *, target: Target) -> Any:
        raise self._refuse("close conversations")

    def open_conversation(self, *, target: Target) -> Opened:
        raise self._refuse("open conversations")

    def state(self) -> Mapping[str, Any]:
        return {}

    def close(self) -> None:
        return None
