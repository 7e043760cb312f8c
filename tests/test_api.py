"""The read API: who sees what, the fields, ordering, pagination and exact query counts."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inbox import services
from inbox.api.pagination import MAX_PAGE_SIZE
from inbox.models import Conversation, Message
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes, fixture_json, fleet_and_mailbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def channels(agent, post_webhook, process):
    """A SCALAR channel the agent is a member of and an enmeshed one they are not."""
    return fleet_and_mailbox(
        agent,
        post_webhook,
        process,
        scalar=(
            "chat_message_sent",
            "chat_message_delivered",
            "chat_image_reply",
            "groupchat_message_treated",
        ),
        enmeshed=(
            "webhook_message_received_mail_v7",
            "webhook_relationship_changed_pending_outgoing_v7",
            "webhook_relationship_changed_pending_incoming_v7",
        ),
    )


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
        "presence_at",
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
    assert "platform" in response.json()["fields"]


def test_the_unread_filter_is_per_user(api, owner, agent, channels):
    scalar, _ = channels
    api.force_authenticate(owner)
    group = Conversation.objects.get(channel=scalar, kind="group")
    assert api.post(f"/api/v1/conversations/{group.pk}/read/").status_code == 200
    unread = {r["id"] for r in api.get("/api/v1/conversations/?unread=true").json()["results"]}
    read = {r["id"] for r in api.get("/api/v1/conversations/?unread=false").json()["results"]}
    assert group.pk in read
    assert group.pk not in unread
    assert unread
    assert unread | read == set(Conversation.objects.values_list("pk", flat=True))
    # The agent has read nothing: the group is unread for them.
    api.force_authenticate(agent)
    assert group.pk in {
        r["id"] for r in api.get("/api/v1/conversations/?unread=true").json()["results"]
    }


def test_the_participant_filter_lists_each_conversation_once(api, owner, channels):
    api.force_authenticate(owner)
    address = "6378b144-b6d2-405a-8785-946c8f3867b4"
    results = api.get(f"/api/v1/conversations/?participant={address}").json()["results"]
    # The driver writes in the group chat and in their own chat: both, each once.
    assert sorted(r["kind"] for r in results) == ["direct", "group"]
    assert all(r["channel"] == channels[0].pk for r in results)
    assert api.get("/api/v1/conversations/?participant=nobody").json()["results"] == []


def test_updated_after_lists_what_changed_since(api, owner, channels):
    api.force_authenticate(owner)
    changed = Conversation.objects.order_by("id").first()
    later = timezone.now() + timedelta(hours=1)
    Conversation.objects.filter(pk=changed.pk).update(updated_at=later + timedelta(seconds=1))
    since = later.isoformat().replace("+00:00", "Z")
    results = api.get("/api/v1/conversations/", {"updated_after": since}).json()["results"]
    assert [r["id"] for r in results] == [changed.pk]
    bad = api.get("/api/v1/conversations/?updated_after=yesterday")
    assert bad.status_code == 400
    assert list(bad.json()["fields"]) == ["updated_after"]


def test_each_conversation_carries_a_summary_of_its_last_message(api, owner, channels):
    scalar, _ = channels
    api.force_authenticate(owner)
    group = Conversation.objects.get(channel=scalar, kind="group")
    newest = group.last_message
    Message.objects.filter(pk=newest.pk).update(text="word " * 100)
    body = api.get(f"/api/v1/conversations/{group.pk}/").json()
    summary = body["last_message"]
    assert set(summary) == {"id", "direction", "sender", "subject", "preview", "sent_at", "status"}
    assert summary["id"] == newest.pk
    assert summary["sender"]["address"] == newest.sender.address
    assert len(summary["preview"]) == 200
    assert summary["preview"].endswith("…")


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


def five_messages(post_webhook, process, *, channel=None, minutes=range(5)):
    """A SCALAR chat with one message per minute (06:00, 06:01, …), sent in that order."""
    channel = channel or ChannelFactory(platform="scalar")
    template = fixture_json("scalar", "chat_message_sent")
    for minute in minutes:
        batch = copy.deepcopy(template)
        data = batch["eventsData"][0]["eventData"]
        data["messageId"] = str(uuid.UUID(int=minute + 1))
        data["statusHistory"]["events"][0]["timestamp"] = f"2026-05-12T06:0{minute}:00Z"
        data["statusHistory"]["lastUpdatedAt"] = f"2026-05-12T06:0{minute}:00Z"
        post_webhook(channel, json.dumps(batch).encode())
    process()
    return Conversation.objects.get(channel=channel)


def test_a_chat_view_starts_from_the_newest_page_and_scrolls_back(
    api, owner, post_webhook, process
):
    conversation = five_messages(post_webhook, process)
    api.force_authenticate(owner)

    page = api.get(f"/api/v1/conversations/{conversation.pk}/messages/?start=end&page_size=2")
    body = page.json()
    # The newest page, still oldest to newest on it; nothing lies after it.
    assert [m["sent_at"][11:16] for m in body["results"]] == ["06:03", "06:04"]
    assert body["next"] is None
    seen = [m["sent_at"][11:16] for m in body["results"]]
    url = body["previous"]
    while url:
        body = api.get(url).json()
        seen = [m["sent_at"][11:16] for m in body["results"]] + seen
        url = body["previous"]
    assert seen == ["06:00", "06:01", "06:02", "06:03", "06:04"]


def test_scrolling_back_and_forth_returns_the_same_pages(api, owner, post_webhook, process):
    conversation = five_messages(post_webhook, process)
    api.force_authenticate(owner)
    base = f"/api/v1/conversations/{conversation.pk}/messages/?page_size=2"
    first = api.get(base).json()
    second = api.get(first["next"]).json()
    back = api.get(second["previous"]).json()
    assert back["results"] == first["results"]
    assert first["previous"] is None


def test_a_message_back_filled_with_an_old_time_still_counts_as_unread(
    api, agent, post_webhook, process
):
    """Unread follows arrival (position), not platform time."""
    channel = ChannelFactory(platform="scalar")
    channel.members.add(agent)
    conversation = five_messages(post_webhook, process, channel=channel, minutes=[2, 3])
    api.force_authenticate(agent)
    [row] = api.get("/api/v1/conversations/").json()["results"]
    assert row["unread_count"] == 2

    services.mark_read(user=agent, conversation=conversation)
    assert api.get("/api/v1/conversations/").json()["results"][0]["unread_count"] == 0

    five_messages(post_webhook, process, channel=channel, minutes=[0])  # older than both
    [row] = api.get("/api/v1/conversations/").json()["results"]
    assert row["unread_count"] == 1
    assert [
        m["position"]
        for m in api.get(f"/api/v1/conversations/{row['id']}/messages/").json()["results"]
    ] == [3, 1, 2]  # timeline order; positions in arrival order


def test_unread_counts_are_per_user(api, owner, agent, post_webhook, process):
    channel = ChannelFactory(platform="scalar")
    channel.members.add(agent)
    conversation = five_messages(post_webhook, process, channel=channel)
    services.mark_read(user=owner, conversation=conversation, position=3)
    api.force_authenticate(owner)
    assert api.get("/api/v1/conversations/").json()["results"][0]["unread_count"] == 2
    api.force_authenticate(agent)
    assert api.get("/api/v1/conversations/").json()["results"][0]["unread_count"] == 5


def test_a_read_position_never_moves_back(owner, post_webhook, process):
    conversation = five_messages(post_webhook, process)
    assert services.mark_read(user=owner, conversation=conversation) == 5
    assert services.mark_read(user=owner, conversation=conversation, position=2) == 5
    assert services.mark_read(user=owner, conversation=conversation, position=99) == 5


def test_conversations_are_keyset_paginated_newest_first(
    api, owner, channels, post_webhook, process
):
    more_traffic(channels[0], post_webhook, process, 5)
    api.force_authenticate(owner)
    expected = list(
        Conversation.objects.order_by("-last_activity_at", "-id").values_list("id", flat=True)
    )
    seen, url = [], "/api/v1/conversations/?page_size=3"
    while url:
        body = api.get(url).json()
        assert "count" not in body  # no COUNT over the whole table
        seen += [c["id"] for c in body["results"]]
        url = body["next"]
    assert seen == expected


def test_a_page_never_exceeds_the_maximum_size(api, owner, channels):
    api.force_authenticate(owner)
    assert api.get("/api/v1/relationships/?limit=1000000000").json()["count"] == 2
    paths = ("/api/v1/conversations/", "/api/v1/inbound-events/")
    for path in paths:
        response = api.get(f"{path}?page_size=1000000000")
        assert response.status_code == 200
        assert len(response.json()["results"]) <= MAX_PAGE_SIZE
    assert api.get("/api/v1/conversations/?page_size=zero").status_code == 400
    assert api.get("/api/v1/conversations/?after=not-a-cursor").status_code == 400


@pytest.mark.parametrize(
    "path", ["/api/v1/conversations/", "/api/v1/relationships/", "/api/v1/inbound-events/"]
)
def test_a_foreign_channel_id_answers_exactly_like_a_missing_one(api, agent, owner, channels, path):
    scalar, enmeshed = channels
    if path.endswith("inbound-events/"):
        agent.is_staff = False
        api.force_authenticate(owner)
        assert api.get(f"{path}?channel={enmeshed.pk}").status_code == 200
        return
    api.force_authenticate(agent)
    foreign = api.get(f"{path}?channel={enmeshed.pk}")
    missing = api.get(f"{path}?channel=999999")
    assert foreign.status_code == missing.status_code == 400
    assert foreign.json() == json.loads(
        json.dumps(missing.json()).replace("999999", str(enmeshed.pk))
    )
    assert api.get(f"{path}?channel={scalar.pk}").status_code == 200


def test_the_browsable_filter_form_offers_only_visible_channels(client, agent, channels):
    scalar, enmeshed = channels
    client.force_login(agent)
    page = client.get("/api/v1/conversations/", HTTP_ACCEPT="text/html").content.decode()
    assert scalar.name in page
    assert enmeshed.name not in page


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
    assert len(body["results"]) == 4
    assert {e["state"] for e in body["results"]} == {"processed"}
    assert {e["source"] for e in body["results"]} == {"webhook"}
    assert api.get("/api/v1/inbound-events/?source=poll").json()["results"] == []
    failed = api.get("/api/v1/inbound-events/?state=failed").json()
    assert failed["results"] == []


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
    # page (with each row's unread count for this user, in the same query), participants;
    # it was 3 (count, page, participants) with LIMIT/OFFSET pages.
    with django_assert_num_queries(2):
        response = api.get("/api/v1/conversations/")
    assert len(response.json()["results"]) == 3 + extra


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
    # conversation (the permission check), page, attachments, recipients; it was 5 (the
    # conversation's participants were fetched too)
    with django_assert_num_queries(4):
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
    with django_assert_num_queries(1):  # the page (keyset: no COUNT); it was 2
        response = api.get("/api/v1/inbound-events/")
    assert len(response.json()["results"]) == 7


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("after=WzFd&before=WzFd", "before"),  # both directions at once
        ("start=middle", "start"),
        ("after=WzFd", "after"),  # a cursor of another list: one value where two are expected
        ("after=WyJ4IiwgMV0", "after"),  # wrong types
        ("after=W3RydWUsIDFd", "after"),
        ("page_size=-3", "page_size"),
    ],
)
def test_bad_pagination_parameters_are_400_naming_them(api, owner, channels, query, field):
    api.force_authenticate(owner)
    response = api.get(f"/api/v1/conversations/?{query}")
    assert response.status_code == 400
    assert field in response.json()["fields"]
