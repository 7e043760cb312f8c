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
    show (they never hold a credential).
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code
        self.status = status
        self.retry_after = retry_after

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
    """Where a message goes: the platform's conversation id and/or the recipients' addresses."""

    conversation_id: str = ""
    recipients: Sequence[str] = ()


@dataclass(frozen=True)
class Sent:
    """A message the platform accepted. ``document`` is its answer, stored through the way in
    (so the outbound row and the platform's echo of it meet there)."""

    platform_id: str
    sequence: int | None = None
    sent_at: datetime | None = None
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

    def upload(self, *, file: OutgoingFile) -> Uploaded:
        """Upload one file to attach to a later :meth:`send`."""
        ...

    def send(
        self, *, target: Target, text: str, subject: str = "", attachments: Sequence[str] = ()
    ) -> Sent:
        """Send one message with already uploaded files (their platform ids)."""
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

    def download(self, *, ref: str, sink: BinaryIO, max_bytes: int) -> Downloaded:
        """Stream the file ``ref`` into ``sink``; a file over ``max_bytes`` is a permanent
        error (whatever was written is the caller's to discard)."""
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


class NoClient:
    """The client of a platform whose way out is not built yet: every call is refused for good
    (capabilities keep the inbox from asking)."""

    def __init__(self, platform: str) -> None:
        self.platform = platform

    def _refuse(self) -> PlatformError:
        return PlatformError(
            f"the inbox cannot act on {self.platform} channels yet", permanent=True
        )

    def upload(self, *, file: OutgoingFile) -> Uploaded:
        raise self._refuse()

    def send(
        self, *, target: Target, text: str, subject: str = "", attachments: Sequence[str] = ()
    ) -> Sent:
        raise self._refuse()

    def find_sent(
        self,
        *,
        target: Target,
        text: str,
        subject: str,
        since: datetime,
        attachments: Sequence[str] = (),
    ) -> Sent | None:
        raise self._refuse()

    def download(self, *, ref: str, sink: BinaryIO, max_bytes: int) -> Downloaded:
        raise self._refuse()

    def poll(self, *, cursor: Mapping[str, Any]) -> Polled:
        raise self._refuse()

    def decide(self, *, relationship_id: str, change_id: str, decision: str) -> Any:
        raise self._refuse()

    def state(self) -> Mapping[str, Any]:
        return {}

    def close(self) -> None:
        return None
