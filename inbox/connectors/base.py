"""The contract between platform adapters and the pipeline.

A connector turns one platform's wire format into the plain, frozen event dataclasses below and
never touches the ORM. The pipeline stores what ``split`` returns as InboundEvent rows and later
feeds each row's payload to ``parse``; services apply the resulting events.

Conventions every parser follows:
- ids are the platform's own, as strings; a LivePerson message id is ``"<dialogId>:<sequence>"``
  (see :func:`liveperson_message_id`) because LivePerson has no message id of its own;
- timestamps are timezone-aware UTC datetimes or ``None`` when the platform gave none;
- ``parse`` returns ``[]`` for an authentic event the inbox does not use (the pipeline marks it
  ignored) and raises :class:`PayloadError` for a payload that cannot be understood.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any


class Platform(StrEnum):
    ENMESHED = "enmeshed"
    LIVEPERSON = "liveperson"
    COMAPI = "comapi"
    SCALAR = "scalar"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class ContentKind(StrEnum):
    TEXT = "text"
    FILE = "file"
    RICH = "rich"
    FORM = "form"
    SYSTEM = "system"
    UNSUPPORTED = "unsupported"


class Audience(StrEnum):
    ALL = "all"
    INTERNAL = "internal"


class ConversationKind(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


class ConversationStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    DELETED = "deleted"


class Step(StrEnum):
    """Delivery steps a platform can report; they only ever move forward."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    RECALLED = "recalled"  # final: the sender withdrew the message (SCALAR)


class PayloadError(ValueError):
    """The payload is authentic but cannot be understood; retrying will not help."""


# --- what split() returns --------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One storable unit of an inbound document (a webhook body may hold several).

    ``dedup_key`` is stable across redeliveries of the same platform event, so storing the same
    delivery twice keeps one row.
    """

    dedup_key: str
    event_name: str
    payload: Any


@dataclass(frozen=True)
class ChannelContext:
    """What a parser may know about the channel: its platform and plain (non-secret) settings."""

    platform: str
    settings: Mapping[str, Any] = field(default_factory=dict)


# --- normalized events -----------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """A platform identity: an address plus what the platform tells about it."""

    address: str
    name: str = ""
    role: str = ""


@dataclass(frozen=True)
class ConversationRef:
    """Enough to find or create the conversation a message belongs to."""

    external_id: str
    kind: ConversationKind = ConversationKind.DIRECT
    # Set when the conversation's title comes from its messages (an enmeshed group Mail's
    # subject, "" if it has none): the first message's wins. ``None``: messages say nothing.
    title: str | None = None
    participants: tuple[Party, ...] = ()


@dataclass(frozen=True)
class AttachmentInfo:
    """A file on the platform. ``external_id`` identifies it within its message."""

    external_id: str
    filename: str = ""
    mime_type: str = ""
    size: int | None = None
    caption: str = ""
    preview: str = ""  # a small data: URI when the platform sends one
    url: str = ""  # a platform-relative path or URL the downloader may fetch


@dataclass(frozen=True)
class StatusObserved:
    """One observation about a message's delivery.

    ``status`` is a :class:`Step` value, or any other platform word (SCALAR ``DriverSeen``,
    LivePerson ``ACTION``), which the inbox records as a per-recipient flag. An empty
    ``participant`` means the observation is about every recipient of the message.
    """

    message_id: str
    status: str
    at: datetime | None = None
    participant: str = ""


@dataclass(frozen=True)
class MessageUpserted:
    conversation: ConversationRef
    message_id: str
    direction: Direction
    sender: Party
    sent_at: datetime | None
    text: str = ""
    subject: str = ""
    content: Any = None
    content_kind: ContentKind = ContentKind.TEXT
    audience: Audience = Audience.ALL
    reply_to: str = ""
    sequence: int | None = None
    attachments: tuple[AttachmentInfo, ...] = ()
    recipients: tuple[Party, ...] = ()
    statuses: tuple[StatusObserved, ...] = ()
    relationship_ids: Mapping[str, str] = field(default_factory=dict)  # address -> REL id


@dataclass(frozen=True)
class StatusChanged:
    """A delivery observation that arrived on its own (receipts)."""

    conversation_id: str
    observation: StatusObserved


@dataclass(frozen=True)
class ConversationChanged:
    """Conversation state from the platform.

    ``None`` fields are left as stored. ``participants``, when given, is the complete set.
    The change applies only if ``at`` is not older than what is stored for the same fields.
    """

    conversation_id: str
    at: datetime | None
    kind: ConversationKind | None = None
    title: str | None = None
    status: ConversationStatus | None = None
    state: Mapping[str, Any] | None = None
    participants: tuple[Party, ...] | None = None


@dataclass(frozen=True)
class ParticipantChanged:
    conversation_id: str
    party: Party
    present: bool
    at: datetime | None


@dataclass(frozen=True)
class ProfileChanged:
    """A platform identity's display name changed (everywhere it appears on the channel)."""

    address: str
    name: str
    at: datetime | None


@dataclass(frozen=True)
class Typing:
    """Ephemeral: someone started or stopped typing. Never stored as rows."""

    conversation_id: str
    address: str
    typing: bool
    at: datetime | None = None


@dataclass(frozen=True)
class RelationshipChangeInfo:
    """A 1.x-4.x RelationshipChange (``RCH…``)."""

    change_id: str
    type: str
    status: str
    requested_by: str = ""
    requested_at: datetime | None = None
    request_content: Any = None
    response: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class TemplateInfo:
    template_id: str
    is_own: bool | None = None
    created_by: str = ""
    created_at: datetime | None = None
    expires_at: datetime | None = None
    content: Any = None
    max_allocations: int | None = None


@dataclass(frozen=True)
class RelationshipUpserted:
    """The complete state of an enmeshed relationship.

    ``revision`` grows with every change the relationship goes through (audit log length, or the
    number of change steps in 1.x); an older revision never overwrites a newer one.
    """

    relationship_id: str
    peer: str
    status: str
    direction: str  # "incoming" | "outgoing"
    revision: int
    peer_public_key: str = ""
    template: TemplateInfo | None = None
    creation_content: Any = None
    audit_log: tuple[Mapping[str, Any], ...] = ()
    changes: tuple[RelationshipChangeInfo, ...] = ()
    # The peer's deletion info; ``{}`` when the event says it was cancelled; ``None`` when the
    # event says nothing about it (then what is stored stays).
    peer_deletion: Mapping[str, Any] | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class RelationshipDecomposed:
    """We removed the relationship on our side (enmeshed ``relationshipDecomposedBySelf``)."""

    relationship_id: str


Event = (
    MessageUpserted
    | StatusChanged
    | ConversationChanged
    | ParticipantChanged
    | ProfileChanged
    | Typing
    | RelationshipUpserted
    | RelationshipDecomposed
)


def liveperson_message_id(dialog_id: str, sequence: int) -> str:
    return f"{dialog_id}:{sequence}"


# --- the connector itself --------------------------------------------------------------------


@dataclass(frozen=True)
class Connector:
    """One platform's adapter, assembled in ``inbox/connectors/<platform>/__init__.py``.

    - ``verify(headers, body, secrets, settings)``: is the request authentic? ``headers`` is a
      case-insensitive mapping; ``secrets`` the channel's webhook secrets (any may match).
    - ``sign(body, secret, settings)``: the headers the platform would send with ``body`` — what
      the demo replay and the tests use to produce authentic requests.
    - ``split(document)``: one webhook/poll document -> the deliveries to store.
    - ``parse(event_name, payload, context)``: one stored delivery -> normalized events.
    """

    platform: Platform
    verify: Callable[[Mapping[str, str], bytes, Sequence[str], Mapping[str, Any]], bool]
    sign: Callable[[bytes, str, Mapping[str, Any]], dict[str, str]]
    split: Callable[[Any], list[Delivery]]
    parse: Callable[[str, Any, ChannelContext], list[Event]]


@cache
def get_connector(platform: str) -> Connector:
    """The connector for ``platform``; raises ``LookupError`` for an unknown platform."""
    if platform not in Platform.__members__.values():
        raise LookupError(platform)
    module = importlib.import_module(f"inbox.connectors.{platform}")
    connector: Connector = module.connector
    return connector
