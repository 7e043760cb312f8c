"""Live updates: small domain events, published only after the transaction that made them commits.

Services report what they changed as :class:`Change` values and hand them to
:func:`publish_on_commit`, the one way they leave. Subscribers are in-process callbacks
(:func:`subscribe`) and, when Redis is configured, the ``LIVE_CHANNEL`` pub/sub channel that the
web inbox's event stream listens to (one JSON list of changes per committed batch). Publishing
never fails the work that caused it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

Kind = Literal["message.created", "message.updated", "conversation.updated", "typing"]

LIVE_CHANNEL = "switchboard:live"


@dataclass(frozen=True)
class Change:
    """One thing a user could see change: a message, a conversation, someone typing."""

    kind: Kind
    channel_id: int
    conversation_id: int
    message_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "channel": self.channel_id,
            "conversation": self.conversation_id,
            "message": self.message_id,
            **self.data,
        }


Subscriber = Callable[[list[Change]], None]
_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> Callable[[], None]:
    """Call ``subscriber`` with every published batch of changes; returns the unsubscriber."""
    _subscribers.append(subscriber)
    return lambda: _subscribers.remove(subscriber)


def publish_on_commit(changes: Iterable[Change]) -> None:
    """Publish ``changes`` once the current transaction commits (at once outside of one).

    Changes of a rolled-back transaction (or savepoint) are never published.
    """
    batch = list(dict.fromkeys(changes))  # each change once, in order
    if batch:
        transaction.on_commit(lambda: publish(batch))


def publish(changes: list[Change]) -> None:
    for subscriber in _subscribers.copy():  # a subscriber may unsubscribe meanwhile
        try:
            subscriber(changes)
        except Exception:  # one broken subscriber must not silence the others
            logger.exception("live subscriber %r failed", subscriber)
    client = _redis()
    if client is None:
        return
    try:
        # One message per committed batch: a burst of thousands of changes is one publish.
        client.publish(LIVE_CHANNEL, json.dumps([change.as_dict() for change in changes]))
    except Exception:  # Redis down: live views miss an update and refresh; the data is safe
        logger.warning("could not publish %d live change(s)", len(changes), exc_info=True)


@cache
def _redis() -> Any:
    if not settings.REDIS_URL:
        return None
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
