"""Which service applies which normalized event: registered explicitly at app start.

An applier takes a batch — every event of its type in a claimed batch, in arrival order — and
applies them together with bulk reads and writes, reporting what it changed as live
``Change`` values. One event alone is a batch of one (:func:`apply_one`). Appliers of a batch run
in the order of ``EVENT_TYPES`` (snapshots before messages before receipts).

Beside the applier, each type names the locks its events take (``locks(event)``: conversation
external ids, or other keys), so the way in can take them all up front, without waiting.

``inbox`` registers its appliers in ``InboxConfig.ready()`` and ``relationships`` in its own, so
the core needs no import of the apps that plug in. A system check (``inbox.checks``) fails when a
normalized event type has no applier.

The appliers of one batch share a memo (:func:`batch_memo`): the conversations and participants
one of them loaded, the next need not load again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inbox.connectors.events import EVENT_TYPES, Event
from inbox.live import Change

if TYPE_CHECKING:
    from inbox.models import Channel, InboundEvent


@dataclass(frozen=True)
class Applying:
    """One normalized event to apply, with its channel and the stored event it came from."""

    channel: Channel
    event: Any  # one of connectors.events.Event
    inbound: InboundEvent | None = None


Applier = Callable[[Sequence[Applying]], Sequence[Change]]
Locks = Callable[[Any], Iterable[str]]


@dataclass(frozen=True)
class Registration:
    apply: Applier
    locks: Locks


REGISTRY: dict[type[Event], Registration] = {}


def no_locks(event: Any) -> tuple[str, ...]:
    return ()


def register(event_type: type[Event], applier: Applier, *, locks: Locks = no_locks) -> None:
    """Make ``applier`` the one that applies ``event_type``; registering another is an error."""
    known = REGISTRY.get(event_type)
    if known is not None and known.apply is not applier:
        raise ValueError(
            f"{event_type.__name__} already has an applier: {known.apply.__qualname__}"
        )
    REGISTRY[event_type] = Registration(applier, locks)


def registration(event_type: type[Any]) -> Registration:
    """The registered applier and locks; raises ``LookupError`` when there is none."""
    try:
        return REGISTRY[event_type]
    except KeyError:
        raise LookupError(f"no applier registered for {event_type.__name__}") from None


_MEMO: ContextVar[dict[str, dict[Any, Any]] | None] = ContextVar("batch_memo", default=None)


def batch_memo(name: str) -> dict[Any, Any] | None:
    """A dict the appliers of the batch being applied share (``None`` outside ``apply_all``).

    Rows kept here must stay as saved: whatever writes them behind the appliers' backs (a bulk
    ``update``, a merge) calls :func:`forget_batch_memo`.
    """
    memo = _MEMO.get()
    return None if memo is None else memo.setdefault(name, {})


def forget_batch_memo() -> None:
    memo = _MEMO.get()
    if memo is not None:
        memo.clear()


def apply_all(items: Sequence[Applying]) -> list[Change]:
    """Apply a batch: each type's events together, the types in ``EVENT_TYPES`` order."""
    changes: list[Change] = []
    token = _MEMO.set({})
    try:
        for event_type in EVENT_TYPES:
            batch = [item for item in items if type(item.event) is event_type]
            if batch:
                changes += registration(event_type).apply(batch)
    finally:
        _MEMO.reset(token)
    unknown = {type(item.event) for item in items} - set(EVENT_TYPES)
    if unknown:
        raise LookupError(f"no applier registered for {', '.join(t.__name__ for t in unknown)}")
    return changes


def apply_one(channel: Channel, event: Any, inbound: InboundEvent | None = None) -> list[Change]:
    """Apply one normalized event (a batch of one)."""
    return list(registration(type(event)).apply([Applying(channel, event, inbound)]))


def unregistered() -> list[type[Event]]:
    """The normalized event types nobody applies."""
    return [event_type for event_type in EVENT_TYPES if event_type not in REGISTRY]
