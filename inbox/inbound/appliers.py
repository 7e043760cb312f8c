"""Which service applies which normalized event: registered explicitly at app start.

``inbox`` registers its appliers in ``InboxConfig.ready()`` and ``relationships`` in its own, so
the core needs no import of the apps that plug in. A system check (``inbox.checks``) fails when
a normalized event type has no applier.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from inbox.connectors.events import EVENT_TYPES, Event
from inbox.live import Change

# An applier applies one normalized event and reports what it changed:
# ``applier(*, channel, event, inbound) -> list[Change]``.
Applier = Callable[..., Sequence[Change]]

REGISTRY: dict[type[Event], Applier] = {}


def register(event_type: type[Event], applier: Applier) -> None:
    """Make ``applier`` the one that applies ``event_type``; registering another is an error."""
    known = REGISTRY.get(event_type)
    if known is not None and known is not applier:
        raise ValueError(f"{event_type.__name__} already has an applier: {known.__qualname__}")
    REGISTRY[event_type] = applier


def applier_for(event_type: type[Any]) -> Applier:
    """The registered applier; raises ``LookupError`` when there is none."""
    try:
        return REGISTRY[event_type]
    except KeyError:
        raise LookupError(f"no applier registered for {event_type.__name__}") from None


def unregistered() -> list[type[Event]]:
    """The normalized event types nobody applies."""
    return [event_type for event_type in EVENT_TYPES if event_type not in REGISTRY]
