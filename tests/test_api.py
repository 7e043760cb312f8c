"""The read API: who sees what, the fields, ordering, pagination and exact query counts."""

from __future__ import annotations

import copy
import json
import uuid

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inbox.models import Conversation, Message
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes, fixture_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def channels(agent, post_webhook, process):
    """A SCALAR channel the agent is a member of and an enmeshed one they are not."""
    scalar = ChannelFactory(platform="scalar", name="Fleet")
    scalar.members.add(agent)
    enmeshed = ChannelFactory(
        platform="enmeshed",
        name="Mailbox",
        settings={"address": "did:e:demo.example:dids:ourinsurer0000000001"},
    )
    for name in (
        "chat_message_sent",
        "chat_message_delivered",
        "chat_image_reply",
        "groupchat_message_treated",
    ):
        post_webhook(scalar, fixture_bytes("scalar", name))
    for name in (
        "webhook_message_received_mail_v7",
        "webhook_relationship_changed_pending_outgoing_v7",
        "webhook_relationship_changed_pending_incoming_v7",
    ):
        post_webhook(enmeshed, fixture_bytes("enmeshed", name))
    process()
    return scalar, enmeshed


def test_anonymous_requests_are_refused(api, channels):
    for path in ("/api/v1/conversations/", "/api/v1/relationships/", "/api/v1/inbound-events/"):
        assert api.get(path).status_code in (401, 403)


def test_token_from_drf_create_token_authenticates(api, owner, channels, capsys):
    call_command("drf_create_token", owner.username)
    token = Token.objects.get(user=owner).key
    assert token in capsys.readouterr().out
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/conversations/").status_code == 200


def test_session_login_authenticates(client, owner, channels):
    client.force_login(owner)
    assert client.get("/api/v1/conversations/").status_code == 200


def test_staff_sees_every_channel_and_an_agent_only_their_own(
    api, owner, agent, outsider, channels
):
    scalar, enmeshed = channels
    api.force_authenticate(owner)
    assert {c["channel"] for c in api.get("/api/v1/conversations/").json()["results"]} == {
        scalar.pk,
        enmeshed.pk,
    }
    api.force_authenticate(agent)
    assert {c["channel"] for c in api.get("/api/v1/conversations/").json()["results"]} == {
        scalar.pk
    }
    api.force_authenticate(outsider)
    assert api.get("/api/v1/conversations/").json()["results"] == []


def test_conversation_of_another_channel_is_404_not_403(api, agent, channels):
    _, enmeshed = channels
    hidden = Conversation.objects.get(channel=enmeshed)
    api.force_authenticate(agent)
    assert api.get(f"/api/v1/conversations/{hidden.pk}/").status_code == 404
    assert api.get(f"/api/v1/conversations/{hidden.pk}/messages/").status_code == 404


def test_conversation_fields(api, owner, channels):
    scalar, _ = channels
    api.force_authenticate(owner)
    group = Conversation.objects.get(channel=scalar, kind="group")
    body = api.get(f"/api/v1/conversations/{group.pk}/").json()
    assert body["id"] == group.pk
    assert body["channel"] == scalar.pk
    assert body["platform"] == "scalar"
    assert body["external_id"] == group.external_id
    assert (body["kind"], body["status"], body["title"]) == ("group", "open", "")
    assert body["last_activity_at"].startswith("2026-05-12T")
    assert {p["address"] for p in body["participants"]} == {"6378b144-b6d2-405a-8785-946c8f3867b4"}
    assert set(body["participants"][0]) == {
        "address",
        "name",
        "role",
        "is_present",
        "joined_at",
        "left_at",
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("platform=scalar", {"scalar"}),
        ("platform=enmeshed", {"enmeshed"}),
        ("status=open", {"scalar", "enmeshed"}),
        ("status=closed", set()),
    ],
)
def test_conversation_filters(api, owner, channels, query, expected):
    api.force_authenticate(owner)
    results = api.get(f"/api/v1/conversations/?{query}").json()["results"]
    assert {r["platform"] for r in results} == expected


def test_conversation_filter_by_channel(api, owner, channels):
    scalar, _ = channels
    api.force_authenticate(owner)
    results = api.get(f"/api/v1/conversations/?channel={scalar.pk}").json()["results"]
    assert len(results) == 2
    assert all(r["channel"] == scalar.pk for r in results)


def test_invalid_filter_value_is_400_naming_the_field(api, owner, channels):
    api.force_authenticate(owner)
    response = api.get("/api/v1/conversations/?platform=telegram")
    assert response.status_code == 400
    assert "platform" in response.json()


def test_messages_come_oldest_first_with_every_field(api, owner, channels):
    scalar, _ = channels
    api.force_authenticate(owner)
    chat = Conversation.objects.get(channel=scalar, kind="direct")
    body = api.get(f"/api/v1/conversations/{chat.pk}/messages/").json()
    messages = body["results"]
    assert [m["external_id"] for m in messages] == [
        "ebe4996e-8646-44c5-8f70-785f11dc74ae",  # 06:14:51
        "281c8a18-e459-4af2-b728-446b1722b715",  # the driver's reply, later
    ]
    first, reply = messages
    assert set(first) >= {
        "id",
        "external_id",
        "direction",
        "sender",
        "text",
        "subject",
        "content_kind",
        "audience",
        "sent_at",
        "status",
        "reply_to",
        "sequence",
        "attachments",
        "recipients",
    }
    assert (first["direction"], first["status"], first["audience"]) == ("out", "delivered", "all")
    assert first["sender"]["address"] == "6378b144-b6d2-405a-8785-946c8f3867b4"
    assert first["recipients"] == [
        {
            "address": "33af2322-880a-4358-8a3e-0196124387b8",
            "status": "delivered",
            "delivered_at": "2026-05-12T06:15:07Z",
            "read_at": None,
            "flags": {},
            "relationship_external_id": "",
        }
    ]
    assert reply["reply_to"] == first["id"]
    assert reply["content_kind"] == "file"


def test_messages_are_cursor_paginated(api, owner, post_webhook, process):
    channel = ChannelFactory(platform="scalar")
    template = fixture_json("scalar", "chat_message_sent")
    for minute in range(5):
        batch = copy.deepcopy(template)
        data = batch["eventsData"][0]["eventData"]
        data["messageId"] = str(uuid.UUID(int=minute + 1))
        data["statusHistory"]["events"][0]["timestamp"] = f"2026-05-12T06:0{minute}:00Z"
        data["statusHistory"]["lastUpdatedAt"] = f"2026-05-12T06:0{minute}:00Z"
        post_webhook(channel, json.dumps(batch).encode())
    process()
    conversation = Conversation.objects.get()
    api.force_authenticate(owner)

    seen, url = [], f"/api/v1/conversations/{conversation.pk}/messages/?page_size=2"
    while url:
        page = api.get(url).json()
        assert len(page["results"]) <= 2
        seen += [m["sent_at"] for m in page["results"]]
        url = page["next"]
    assert seen == [f"2026-05-12T06:0{m}:00Z" for m in range(5)]


def test_relationships_list(api, owner, agent, channels):
    _, enmeshed = channels
    api.force_authenticate(owner)
    results = api.get("/api/v1/relationships/").json()["results"]
    assert len(results) == 2
    for item in results:
        assert set(item) >= {"id", "external_id", "peer", "status", "direction"}
        assert item["channel"] == enmeshed.pk
    incoming = api.get("/api/v1/relationships/?status=Pending&direction=incoming").json()
    assert [(r["external_id"], r["status"], r["direction"]) for r in incoming["results"]] == [
        ("RELZjHZmya9gy4ed1wPw", "Pending", "incoming")
    ]
    api.force_authenticate(agent)
    assert api.get("/api/v1/relationships/").json()["results"] == []


def test_inbound_events_are_for_staff_only(api, owner, agent, channels):
    api.force_authenticate(agent)
    assert api.get("/api/v1/inbound-events/").status_code == 403
    api.force_authenticate(owner)
    body = api.get("/api/v1/inbound-events/?platform=scalar").json()
    assert body["count"] == 4
    assert {e["state"] for e in body["results"]} == {"processed"}
    failed = api.get("/api/v1/inbound-events/?state=failed").json()
    assert failed["count"] == 0


# --- query counts: lists cost the same however long they are ---------------------------------


def more_traffic(channel, post_webhook, process, conversations: int) -> None:
    template = fixture_json("scalar", "groupchat_message_treated")
    for _ in range(conversations):
        batch = copy.deepcopy(template)
        data = batch["eventsData"][0]["eventData"]
        data["messageId"] = str(uuid.uuid4())
        data["conversationId"] = data["recipientId"] = str(uuid.uuid4())
        post_webhook(channel, json.dumps(batch).encode())
    process()


@pytest.mark.parametrize("extra", [0, 6])
def test_conversation_list_query_count_is_constant(
    api, owner, channels, post_webhook, process, extra, django_assert_num_queries
):
    more_traffic(channels[0], post_webhook, process, extra)
    api.force_authenticate(owner)
    # count, page, participants
    with django_assert_num_queries(3):
        response = api.get("/api/v1/conversations/")
    assert response.json()["count"] == 3 + extra


@pytest.mark.parametrize("extra", [0, 6])
def test_message_list_query_count_is_constant(
    api, owner, post_webhook, process, extra, django_assert_num_queries
):
    channel = ChannelFactory(platform="scalar")
    for name in ("groupchat_message_treated", "chat_message_sent"):
        post_webhook(channel, fixture_bytes("scalar", name))
    template = fixture_json("scalar", "groupchat_message_treated")
    for _ in range(extra):
        batch = copy.deepcopy(template)
        batch["eventsData"][0]["eventData"]["messageId"] = str(uuid.uuid4())
        post_webhook(channel, json.dumps(batch).encode())
    process()
    group = Conversation.objects.get(kind="group")
    api.force_authenticate(owner)
    # conversation (+ its participants), page, attachments, recipients
    with django_assert_num_queries(5):
        response = api.get(f"/api/v1/conversations/{group.pk}/messages/")
    assert len(response.json()["results"]) == 1 + extra
    assert Message.objects.filter(conversation=group).count() == 1 + extra


@pytest.mark.parametrize("extra", [0, 1])
def test_relationship_list_query_count_is_constant(
    api, owner, channels, post_webhook, process, extra, django_assert_num_queries
):
    if extra:
        post_webhook(channels[1], fixture_bytes("enmeshed", "legacy_v1_account_sync_response"))
        process()
    api.force_authenticate(owner)
    # count, page, changes
    with django_assert_num_queries(3):
        response = api.get("/api/v1/relationships/")
    assert response.json()["count"] >= 2 + extra


def test_inbound_event_list_query_count_is_constant(
    api, owner, channels, django_assert_num_queries
):
    api.force_authenticate(owner)
    with django_assert_num_queries(2):  # count, page
        response = api.get("/api/v1/inbound-events/")
    assert response.json()["count"] == 7
