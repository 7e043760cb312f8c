"""The vocabularies the models and the connectors share.

Plain enums with no Django or adapter imports, so models can use them without importing the
adapter package, and adapters without importing Django.
"""

from __future__ import annotations

from enum import StrEnum


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
    """Delivery steps a platform can report; a message's status only ever moves forward."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    RECALLED = "recalled"  # final: the sender withdrew the message (SCALAR)


class RelationshipDirection(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


def labelled(enum: type[StrEnum]) -> list[tuple[str, str]]:
    """``(value, label)`` pairs for a model field's ``choices``."""
    return [(member.value, member.name.replace("_", " ").title()) for member in enum]
