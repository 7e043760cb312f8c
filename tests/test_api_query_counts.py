"""Every list of the API costs the same number of queries for 1 item as for 50 (no N+1).

The visible lists are asked by a member who is not staff (the membership check is part of
what is counted), the staff-only lists by staff. Each list also has a channel of someone else
with items of its own, which the member must not get and which must not cost anything.
Authentication is not counted (``force_authenticate``). Each test names its queries in order.
There is no list of uploads (only create, detail and delete).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from inbox.models import Attachment, Channel, Conversation, Message, Recipient
from relationships.models import Relationship, RelationshipChange, RelationshipTemplate
from tests.factories import ChannelFactory
from tests.helpers import scalar_group_messages

pytestmark = pytest.mark.django_db

SIZES = [1, 50]
START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
# The queries of each list, the same at 1 and at 50 items (each test names them).
QUERIES = {
    "conversations": 2,
    "messages": 4,
    "relationships": 3,
    "relationship-templates": 2,
    "inbound-events": 1,
    "channels": 3,
    "search": 3,
}


@pytest.fixture
def member(agent: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(agent)
    return client


@pytest.fixture
def staff(owner: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(owner)
    return client


@pytest.fixture
def mine(agent: Any) -> Channel:
    """A SCALAR channel the member is a member of."""
    channel: Channel = ChannelFactory.create(platform="scalar", name="Fleet")
    channel.members.add(agent)
    return channel


@pytest.fixture
def theirs(outsider: Any) -> Channel:
    """A SCALAR channel of someone else."""
    channel: Channel = ChannelFactory.create(platform="scalar", name="Other fleet")
    channel.members.add(outsider)
    return channel


def scalar_batch(*texts: str, conversation: str | None = None) -> bytes:
    return scalar_group_messages(*texts, start=START, conversation=conversation)


@pytest.fixture
def say(post_webhook: Any, process: Any) -> Any:
    """Deliver ``texts`` to ``channel`` through the way in (one webhook) and process them."""

    def say(channel: Channel, *texts: str, conversation: str | None = None) -> None:
        response = post_webhook(channel, scalar_batch(*texts, conversation=conversation))
        assert response.status_code == 202, response.content
        process()

    return say


def texts(count: int, text: str = "Convoy leaves at noon") -> list[str]:
    return [f"{text} ({n})" for n in range(count)]


# --- the lists anyone signed in has, for their channels -----------------------------------------


@pytest.mark.parametrize("count", SIZES)
def test_conversations(member, mine, theirs, say, count, django_assert_num_queries):
    say(mine, *texts(count))  # each its own group chat
    say(theirs, *texts(3))
    # 1. the page: the conversations of the member's channels (the membership a subquery),
    #    each with its unread count for the member, its platform and its last message with
    #    its sender joined; 2. the page's participants
    with django_assert_num_queries(QUERIES["conversations"]):
        response = member.get("/api/v1/conversations/")
    rows = response.json()["results"]
    assert len(rows) == count
    assert {row["channel"] for row in rows} == {mine.pk}
    assert all(row["participants"] and row["last_message"] for row in rows)


@pytest.mark.parametrize("count", SIZES)
def test_messages_of_a_conversation(member, mine, say, count, django_assert_num_queries):
    group = str(uuid.uuid4())
    say(mine, *texts(count), conversation=group)
    conversation = Conversation.objects.get(channel=mine, external_id=group)
    # Each message with a file and a recipient, so that both prefetches have rows to fetch.
    messages = list(Message.objects.filter(conversation=conversation))
    Attachment.objects.bulk_create(
        Attachment(message=message, external_id=f"file-{message.pk}", filename="map.png")
        for message in messages
    )
    Recipient.objects.bulk_create(
        Recipient(message=message, address="33af2322-880a-4358-8a3e-0196124387b8")
        for message in messages
    )
    # 1. the conversation, if the member sees it (the permission check); 2. the page with
    # each message's sender joined; 3. their attachments; 4. their recipients
    with django_assert_num_queries(QUERIES["messages"]):
        response = member.get(f"/api/v1/conversations/{conversation.pk}/messages/")
    rows = response.json()["results"]
    assert len(rows) == count
    assert all(row["attachments"] and row["recipients"] and row["sender"] for row in rows)


def relationships(channel: Channel, count: int) -> None:
    """``count`` enmeshed relationships on ``channel``, each on a template of ours and with
    its 1.x Creation change."""
    template = RelationshipTemplate.objects.create(
        channel=channel, external_id=f"RLT{uuid.uuid4().hex[:17]}", is_own=True
    )
    rows = Relationship.objects.bulk_create(
        Relationship(
            channel=channel,
            external_id=f"REL{uuid.uuid4().hex[:17]}",
            peer=f"id1peer{n}",
            status="Pending",
            direction="incoming",
            template=template,
            platform_updated_at=START + timedelta(minutes=n),
        )
        for n in range(count)
    )
    RelationshipChange.objects.bulk_create(
        RelationshipChange(
            relationship=row,
            external_id=f"RCH{uuid.uuid4().hex[:17]}",
            type="Creation",
            status="Pending",
            requested_by=row.peer,
            requested_at=row.platform_updated_at,
        )
        for row in rows
    )


@pytest.fixture
def mailboxes(agent: Any, outsider: Any) -> tuple[Channel, Channel]:
    """An enmeshed channel of the member's, and one of someone else."""
    mine: Channel = ChannelFactory.create(platform="enmeshed", name="Mailbox")
    mine.members.add(agent)
    theirs: Channel = ChannelFactory.create(platform="enmeshed", name="Other mailbox")
    theirs.members.add(outsider)
    return mine, theirs


@pytest.mark.parametrize("count", SIZES)
def test_relationships(member, mailboxes, count, django_assert_num_queries):
    mine, theirs = mailboxes
    relationships(mine, count)
    relationships(theirs, 3)
    # 1. the count of the member's channels' relationships; 2. the page, with its template
    # and decider joined; 3. the page's changes
    with django_assert_num_queries(QUERIES["relationships"]):
        response = member.get("/api/v1/relationships/")
    body = response.json()
    assert body["count"] == len(body["results"]) == count
    assert {row["channel"] for row in body["results"]} == {mine.pk}
    assert all(row["changes"] and row["template"] for row in body["results"])


@pytest.mark.parametrize("count", SIZES)
def test_relationship_templates(member, mailboxes, count, django_assert_num_queries):
    mine, theirs = mailboxes
    for channel, made in ((mine, count), (theirs, 3)):
        RelationshipTemplate.objects.bulk_create(
            RelationshipTemplate(
                channel=channel,
                external_id=f"RLT{uuid.uuid4().hex[:17]}",
                title=f"Counter {n}",
                is_own=True,
                created_at=START + timedelta(minutes=n),
                expires_at=START + timedelta(days=7),
                content={"title": f"Counter {n}"},
            )
            for n in range(made)
        )
    # 1. the count of the member's channels' templates; 2. the page
    with django_assert_num_queries(QUERIES["relationship-templates"]):
        response = member.get("/api/v1/relationship-templates/")
    body = response.json()
    assert body["count"] == len(body["results"]) == count
    assert {row["channel"] for row in body["results"]} == {mine.pk}


@pytest.mark.parametrize("count", SIZES)
def test_search(member, mine, theirs, say, count, django_assert_num_queries):
    say(mine, *texts(count))  # each its own group chat
    say(theirs, *texts(3))
    # 1. the page: the matching messages of the member's channels (the membership a
    #    subquery), with their platform, conversation and sender joined; 2. the page's
    #    conversations' participants (for the titles); 3. the channels' own addresses
    with django_assert_num_queries(QUERIES["search"]):
        response = member.get("/api/v1/search/", {"q": "convoy"})
    rows = response.json()["results"]
    assert len(rows) == count
    assert {row["channel"] for row in rows} == {mine.pk}
    assert len({row["conversation"] for row in rows}) == count


# --- the staff-only lists ------------------------------------------------------------------------


@pytest.mark.parametrize("count", SIZES)
def test_inbound_events(staff, mine, post_webhook, count, django_assert_num_queries):
    response = post_webhook(mine, scalar_batch(*texts(count)))  # one event per item
    assert response.status_code == 202, response.content
    # 1. the page, with each event's channel and request joined
    with django_assert_num_queries(QUERIES["inbound-events"]):
        response = staff.get("/api/v1/inbound-events/")
    rows = response.json()["results"]
    assert len(rows) == count
    assert all(row["request"] for row in rows)


@pytest.mark.parametrize("count", SIZES)
def test_channels(staff, agent, outsider, count, django_assert_num_queries):
    made = ChannelFactory.create_batch(count, platform="scalar")
    for channel in made:
        channel.members.add(agent, outsider)
    # 1. the count; 2. the page; 3. the page's members
    with django_assert_num_queries(QUERIES["channels"]):
        response = staff.get("/api/v1/channels/")
    body = response.json()
    assert body["count"] == len(body["results"]) == count
    assert all(row["members"] == sorted([agent.pk, outsider.pk]) for row in body["results"])
