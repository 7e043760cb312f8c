"""The normalized events every connector's ``parse`` produces and the services apply.

Conventions:
- ids are the platform's own, as strings;
- timestamps are timezone-aware UTC datetimes, or ``None`` when the platform gave none;
- ``None`` in an optional field means "the event says nothing about it" (what is stored stays),
  unlike an empty value, which says "there is none".
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from inbox.choices import (
    Audience,
    ContentKind,
    ConversationKind,
    ConversationStatus,
    Direction,
    RelationshipDirection,
    Step,
)


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
    # True when ``external_id`` may be an alias of a conversation that a later snapshot names
    # (a LivePerson dialog id without its conversation id): the message joins that
    # conversation once it is known.
    provisional: bool = False


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
class Choice:
    """An answer the sender offers (a LivePerson quick reply): its label and the text it sends."""

    title: str
    text: str = ""


@dataclass(frozen=True)
class StatusObserved:
    """One observation about a message's delivery: a ``step``, or a platform ``flag``.

    A step (sent, delivered, read, recalled) moves the message's status forward; a flag
    (SCALAR ``DriverSeen``, LivePerson ``ACTION``) is recorded per recipient. An empty
    ``participant`` means the observation is about every recipient of the message.
    """

    message_id: str
    step: Step | None = None
    flag: str = ""
    at: datetime | None = None
    participant: str = ""

    def __post_init__(self) -> None:
        if (self.step is None) == (not self.flag):
            raise ValueError("a status observation is either a step or a flag")


@dataclass(frozen=True)
class MessageUpserted:
    """A message's complete content as the platform knows it now."""

    conversation: ConversationRef
    message_id: str
    direction: Direction
    sender: Party
    sent_at: datetime | None
    text: str = ""
    subject: str = ""
    content: Any = None  # the platform's own content, kept for display and search
    content_kind: ContentKind = ContentKind.TEXT
    audience: Audience = Audience.ALL
    reply_to: str = ""
    sequence: int | None = None
    attachments: tuple[AttachmentInfo, ...] = ()
    choices: tuple[Choice, ...] = ()
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
    ``aliases`` names other ids under which the conversation's items arrive (LivePerson dialog
    ids). The change applies only if ``at`` is not older than what is stored for the same fields.
    """

    conversation_id: str
    at: datetime | None
    kind: ConversationKind | None = None
    title: str | None = None
    status: ConversationStatus | None = None
    state: Mapping[str, Any] | None = None
    participants: tuple[Party, ...] | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParticipantChanged:
    """Someone joined (``present``), left (``not present``) or changed role (``present`` None).

    A role given here is the platform's word and replaces the stored one, unless a newer
    change of the same participant was applied already.
    """

    conversation_id: str
    party: Party
    present: bool | None
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
    direction: RelationshipDirection
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
    ConversationChanged
    | ParticipantChanged
    | ProfileChanged
    | RelationshipUpserted
    | RelationshipDecomposed
    | MessageUpserted
    | StatusChanged
    | Typing
)

# Every normalized event type; each must have an applier (a system check makes sure). Within a
# batch they are applied in this order: conversations are known before their messages, and
# messages before their receipts (any order converges; this one does the least work).
EVENT_TYPES: tuple[type[Event], ...] = typing.get_args(Event)
