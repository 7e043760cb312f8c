"""Property: applying a platform's events in any order, any number of times, converges to the
same rows as applying them once in order (DESIGN.md §1.3)."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox.connectors.contract import ChannelContext, PayloadError
from inbox.connectors.events import Event, Typing
from inbox.connectors.registry import get_connector
from inbox.inbound.appliers import apply_one
from inbox.inbound.storing import unstorable
from inbox.models import (
    Attachment,
    Conversation,
    Message,
    MessageStatusEvent,
    Participant,
    Recipient,
)
from relationships.models import Relationship, RelationshipChange
from tests.factories import ChannelFactory
from tests.helpers import FIXTURES, fixture_json

SETTINGS = {
    "enmeshed": {"address": "did:e:demo.example:dids:ourinsurer0000000001"},
    "comapi": {"profile_id": "support.agent.03"},
}


class Rollback(Exception):
    """Raised to undo one example's rows."""


def platform_events(platform: str) -> list[Event]:
    """Every normalized event of the platform's webhook fixtures. Typing is ephemeral, and
    malformed or unstorable items fail on purpose: they are left out."""
    connector = get_connector(platform)
    context = ChannelContext(platform=platform, settings=SETTINGS.get(platform, {}))
    events: list[Event] = []
    for path in sorted((FIXTURES / platform).glob("*.json")):
        if path.stem == "signature_vectors":
            continue
        for item in connector.split(document=fixture_json(platform, path.name)):
            if unstorable(item.payload):
                continue
            events.extend(
                e for e in parse_or_nothing(connector, item, context) if not isinstance(e, Typing)
            )
    return events


def parse_or_nothing(connector: Any, item: Any, context: ChannelContext) -> list[Event]:
    try:
        return list(
            connector.parse(
                event_name=item.event_name,
                payload=item.payload,
                envelope=item.envelope,
                context=context,
            )
        )
    except PayloadError:
        return []


def state(channel: Any) -> dict[str, Any]:
    """Everything a user could see, without surrogate keys or arrival times."""
    return {
        "conversations": sorted(
            Conversation.objects.filter(channel=channel).values_list(
                "external_id",
                "kind",
                "title",
                "status",
                "platform_state",
                "state_at",
                "status_at",
                "last_message__external_id",
                "last_activity_at",
                "last_position",
            )
        ),
        "participants": sorted(
            Participant.objects.filter(conversation__channel=channel).values_list(
                "conversation__external_id",
                "address",
                "name",
                "role",
                "is_present",
            )
        ),
        "messages": sorted(
            Message.objects.filter(channel=channel).values_list(
                "external_id",
                "conversation__external_id",
                "choices",
                "direction",
                "sender__address",
                "sent_at",
                "text",
                "subject",
                "content",
                "content_kind",
                "audience",
                "reply_to__external_id",
                "sequence",
                "status",
                "recalled_at",
            ),
            key=repr,
        ),
        "recipients": sorted(
            Recipient.objects.filter(message__channel=channel).values_list(
                "message__external_id",
                "address",
                "status",
                "delivered_at",
                "read_at",
                "flags",
                "relationship_external_id",
            ),
            key=repr,
        ),
        "status_events": sorted(
            MessageStatusEvent.objects.filter(channel=channel).values_list(
                "message__external_id", "message_external_id", "step", "flag", "participant", "at"
            )
        ),
        "attachments": sorted(
            Attachment.objects.filter(message__channel=channel).values_list(
                "message__external_id",
                "external_id",
                "filename",
                "mime_type",
                "size",
                "caption",
                "url",
                "note",
            ),
            key=repr,
        ),
        "relationships": sorted(
            Relationship.objects.filter(channel=channel).values_list(
                "external_id",
                "peer",
                "status",
                "direction",
                "revision",
                "template__external_id",
                "audit_log",
                "peer_deletion",
                "creation_content",
            ),
            key=repr,
        ),
        "changes": sorted(
            RelationshipChange.objects.filter(relationship__channel=channel).values_list(
                "relationship__external_id", "external_id", "type", "status"
            )
        ),
    }


def apply_all(channel: Any, events: list[Event], order: list[int]) -> dict[str, Any]:
    """Apply ``events`` in ``order`` and return the state, then undo it all.

    The clock stands still: a conversation without messages shows its creation time.
    """
    result: dict[str, Any] = {}
    try:
        with time_machine.travel("2026-06-01T12:00:00Z", tick=False), transaction.atomic():
            for index in order:
                event = events[index]
                with transaction.atomic():
                    apply_one(channel, event)
            result = state(channel)
            raise Rollback
    except Rollback:
        pass
    return result


@pytest.mark.django_db
@pytest.mark.parametrize("platform", ["enmeshed", "liveperson", "comapi", "scalar"])
def test_any_order_and_any_repeats_converge_to_the_same_state(platform: str) -> None:
    channel = ChannelFactory(platform=platform, settings=SETTINGS.get(platform, {}))
    events = platform_events(platform)
    assert len(events) >= 8
    expected = apply_all(channel, events, list(range(len(events))))
    assert expected["messages"]

    orders = st.lists(st.integers(0, len(events) - 1), max_size=len(events)).flatmap(
        lambda extra: st.permutations(list(range(len(events))) + extra)
    )

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(order=orders)
    def converges(order: list[int]) -> None:
        assert apply_all(channel, events, order) == expected

    converges()
