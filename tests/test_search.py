"""Full-text search on the conversation list (``?q=``): what it finds, for whom, at what cost."""

from __future__ import annotations

import copy
import json
import uuid

import pytest
from django.db import connection
from rest_framework.test import APIClient

from inbox.api.filters import MAX_SEARCH_LENGTH
from inbox.models import Conversation
from tests.helpers import fixture_json, fleet_and_mailbox

pytestmark = pytest.mark.django_db

# What the fixtures say, for reading the tests:
# scalar chat_message_sent:        "Trailer 4711 is ready at dock 3 in Duisburg. Please pick it …"
# scalar groupchat_message_treated: "Road closure on the A14 near Magdeburg until Friday: take …"
# enmeshed mail: subject "Kündigung meines Vertrags zum 31.03.", body "… Bitte bestätigen …"


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def channels(agent, post_webhook, process):
    """A SCALAR channel the agent is a member of, an enmeshed one they are not."""
    return fleet_and_mailbox(
        agent,
        post_webhook,
        process,
        scalar=("chat_message_sent", "chat_image_reply", "groupchat_message_treated"),
        enmeshed=("webhook_message_received_mail_v7",),
    )


def more_group_chats(channel, post_webhook, process, count: int) -> list[int]:
    """``count`` more SCALAR group chats, each with the road closure message."""
    template = fixture_json("scalar", "groupchat_message_treated")
    for _ in range(count):
        batch = copy.deepcopy(template)
        data = batch["eventsData"][0]["eventData"]
        data["messageId"] = str(uuid.uuid4())
        data["conversationId"] = data["recipientId"] = str(uuid.uuid4())
        post_webhook(channel, json.dumps(batch).encode())
    process()
    groups = Conversation.objects.filter(channel=channel, kind="group")
    return list(groups.order_by("-last_activity_at", "-id").values_list("id", flat=True))


def found(api, q: str, **params) -> list[int]:
    response = api.get("/api/v1/conversations/", {"q": q, **params})
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_q_finds_the_conversations_with_a_matching_message(api, owner, channels):
    scalar, enmeshed = channels
    chat = Conversation.objects.get(channel=scalar, kind="direct")
    group = Conversation.objects.get(channel=scalar, kind="group")
    mail = Conversation.objects.get(channel=enmeshed)
    api.force_authenticate(owner)
    assert found(api, "Duisburg") == [chat.pk]
    assert found(api, "magdeburg") == [group.pk]  # any case
    assert found(api, "TRAILER dock") == [chat.pk]  # every word, in one message
    assert found(api, "Vertrags") == [mail.pk]  # the subject counts
    assert found(api, "bestätigen") == [mail.pk]  # words with umlauts
    assert found(api, '"ready at dock"') == [chat.pk]  # a phrase
    assert found(api, "Duisburg or Magdeburg") == [group.pk, chat.pk]  # the list's order kept


def test_q_without_a_match_finds_nothing(api, owner, channels):
    api.force_authenticate(owner)
    assert found(api, "Hamburg") == []
    assert found(api, "trailer magdeburg") == []  # the words are in different conversations
    assert found(api, "trailers") == []  # whole words: config "simple" does not stem
    assert found(api, "Duisburg -trailer") == []


def test_q_only_searches_the_channels_the_user_sees(api, agent, outsider, channels):
    scalar, _ = channels
    api.force_authenticate(agent)
    assert found(api, "Vertrags") == []  # the mail is on a channel the agent is not a member of
    assert found(api, "Duisburg") == [Conversation.objects.get(channel=scalar, kind="direct").pk]
    api.force_authenticate(outsider)
    assert found(api, "Duisburg") == []


def test_q_combines_with_the_other_filters(api, owner, channels):
    scalar, _ = channels
    api.force_authenticate(owner)
    assert found(api, "Duisburg", platform="scalar", channel=scalar.pk, status="open")
    assert found(api, "Duisburg", platform="enmeshed") == []
    assert found(api, "Duisburg", kind="group") == []


def test_an_empty_q_filters_nothing(api, owner, channels):
    api.force_authenticate(owner)
    everything = found(api, "")
    assert len(everything) == 3
    assert found(api, "   ") == everything
    assert (
        api.get("/api/v1/conversations/?q").json()["results"]
        == api.get("/api/v1/conversations/").json()["results"]
    )


@pytest.mark.parametrize("extra", [0, 6])
def test_search_query_count_is_constant(
    api, owner, channels, post_webhook, process, extra, django_assert_num_queries
):
    more_group_chats(channels[0], post_webhook, process, extra)
    api.force_authenticate(owner)
    # the page (the search is an EXISTS inside it, with each row's unread count), participants
    with django_assert_num_queries(2):
        response = api.get("/api/v1/conversations/", {"q": "closure"})
    assert len(response.json()["results"]) == 1 + extra


def test_search_results_are_keyset_paginated(api, owner, channels, post_webhook, process):
    expected = more_group_chats(channels[0], post_webhook, process, 6)
    api.force_authenticate(owner)
    seen, url = [], "/api/v1/conversations/?q=closure&page_size=3"
    while url:
        body = api.get(url).json()
        assert len(body["results"]) <= 3
        seen += [row["id"] for row in body["results"]]
        assert body["next"] is None or "q=closure" in body["next"]
        url = body["next"]
    assert seen == expected
    assert len(expected) == 7


def test_the_search_uses_the_gin_index(channels):
    """The index is over an expression: the query must repeat it exactly to be answered by
    it. On a table this small the planner would rather read everything, so sequential scans
    are priced out for this transaction to make its choice deterministic."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = Conversation.objects.matching("Duisburg").explain()
    assert "message_search" in plan, plan


@pytest.mark.parametrize(
    "q",
    [
        '"',
        "'",
        "''''",
        "&|!:*()",
        "a & b | !c",
        "foo:*",
        "((",
        "\\",
        "-",
        '"unclosed phrase',
        "or",
        "-or -",
        "<->",
        "ä:* & 'x",
        "%_%",
        ("&|!:*()'\" " * 60)[:MAX_SEARCH_LENGTH],
    ],
)
def test_hostile_q_is_searched_safely(api, owner, channels, q):
    api.force_authenticate(owner)
    response = api.get("/api/v1/conversations/", {"q": q})
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("q", ["x" * 10_000, "&|!:*()'\" " * 1_000, "Duisburg\x00"])
def test_unsearchable_q_is_a_400_naming_it(api, owner, channels, q):
    api.force_authenticate(owner)
    response = api.get("/api/v1/conversations/", {"q": q})
    assert response.status_code == 400
    assert "q" in response.json()["fields"]


def test_a_q_without_any_word_matches_nothing(api, owner, channels):
    api.force_authenticate(owner)
    assert found(api, "&|!:*()") == []


def test_without_postgresql_q_falls_back_to_a_plain_match(owner, channels, monkeypatch):
    """``make run`` (SQLite) has no full-text search: every word must occur in the text or
    subject, ignoring case (the query is built for that vendor and run here)."""
    scalar, _ = channels
    monkeypatch.setattr(connection, "vendor", "sqlite")
    both = Conversation.objects.matching("duisburg TRAILER")
    part = Conversation.objects.matching("Duisbu")  # substrings match here
    other = Conversation.objects.matching("trailer magdeburg")
    nothing = Conversation.objects.matching("&|!")
    monkeypatch.undo()
    chat = Conversation.objects.get(channel=scalar, kind="direct")
    assert list(both) == [chat]
    assert list(part) == [chat]
    assert list(other) == []
    assert list(nothing) == []
