"""``GET /api/v1/search/``: messages across conversations, what it finds, for whom, the
snippets it highlights, its pages and its cost."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from rest_framework.test import APIClient

from inbox.api.filters import MAX_SEARCH_LENGTH
from inbox.models import Conversation, Message
from inbox.services import search
from tests.helpers import fleet_and_mailbox, scalar_group_messages

pytestmark = pytest.mark.django_db

# What the fixtures say, for reading the tests:
# scalar chat_message_sent:        "Trailer 4711 is ready at dock 3 in Duisburg. Please pick it …"
#                                  (06:14:51, out, in a chat)
# scalar groupchat_message_treated: "Road closure on the A14 near Magdeburg until Friday: take …"
#                                  (07:02:18, out, in a group chat)
# enmeshed mail: subject "Kündigung meines Vertrags zum 31.03.", body "… Bitte bestätigen …"

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
DRIVER = "c1e55947-f24f-4cc1-9f63-60644f15cbde"


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


def say(channel, post_webhook, process, *texts, conversation=None, sender="User"):
    """SCALAR group messages with these texts, one minute apart from START, all in one
    batch: in ``conversation`` (an external id) or each in a new group chat. Returns their
    ids, newest first (the search's order)."""
    role = None if sender == "User" else {"senderId": DRIVER, "roleType": sender}
    body = scalar_group_messages(*texts, start=START, conversation=conversation, sender=role)
    assert post_webhook(channel, body).status_code == 202
    process()
    found = Message.objects.filter(channel=channel, sent_at__gte=START)
    return list(found.order_by("-sent_at", "-id").values_list("id", flat=True))


def results(api, q, **params):
    response = api.get("/api/v1/search/", {"q": q, **params})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def found(api, q, **params):
    return [row["message"] for row in results(api, q, **params)]


# --- what it finds ------------------------------------------------------------------------------


def test_a_result_has_every_field(api, owner, channels):
    scalar, _ = channels
    chat = Message.objects.get(text__contains="Duisburg")
    api.force_authenticate(owner)
    [row] = results(api, "Duisburg")
    assert row == {
        "message": chat.pk,
        "conversation": chat.conversation_id,
        "channel": scalar.pk,
        "platform": "scalar",
        # no title: the people of the chat, as the web inbox names it
        "conversation_title": "6378b144-b6d2-405a-8785-946c8f3867b4, "
        "33af2322-880a-4358-8a3e-0196124387b8",
        "sender": {"address": "6378b144-b6d2-405a-8785-946c8f3867b4", "name": ""},
        "sent_at": "2026-05-12T06:14:51Z",
        "direction": "out",
        "subject": "",
        "snippet": "Trailer 4711 is ready at dock 3 in <mark>Duisburg</mark>. Please pick it up "
        "before 09:00.",
    }


def test_the_web_search_syntax(api, owner, channels):
    _, enmeshed = channels
    chat = Message.objects.get(text__contains="Duisburg").pk
    group = Message.objects.get(text__contains="Magdeburg").pk
    mail = Message.objects.get(channel=enmeshed).pk
    api.force_authenticate(owner)
    assert found(api, "duisburg") == [chat]  # any case
    assert found(api, "TRAILER dock") == [chat]  # every word, in one message
    assert found(api, "trailer magdeburg") == []  # the words are in different messages
    assert found(api, "trailers") == []  # whole words, no stemming
    assert found(api, "Vertrags") == [mail]  # the subject counts
    assert found(api, "bestätigen") == [mail]  # umlauts
    assert found(api, '"ready at dock"') == [chat]  # a phrase
    assert found(api, '"dock at ready"') == []  # …in that order
    assert found(api, "Duisburg or Magdeburg") == [group, chat]  # newest first
    assert found(api, "Duisburg -trailer") == []
    assert found(api, "Duisburg -Hamburg") == [chat]


def test_the_snippet_marks_the_words_asked_for(api, owner, channels):
    api.force_authenticate(owner)
    [row] = results(api, '"ready at dock" -Hamburg')
    assert row["snippet"].startswith("Trailer 4711 is <mark>ready</mark> <mark>at</mark> ")
    [row] = results(api, "Duisburg or Magdeburg -Hamburg", page_size=1)
    assert row["snippet"] == (
        "Road closure on the A14 near <mark>Magdeburg</mark> until Friday: take the detour via "
        "the B81."
    )  # not "or", nor an excluded word


@pytest.mark.parametrize("q", ["&|!:*()", "-", "or", '""', "!"])
def test_a_q_without_any_word_finds_nothing(api, owner, channels, q):
    api.force_authenticate(owner)
    assert found(api, q) == []


@pytest.mark.parametrize("q", ['"', "''''", "a & b | !c", "foo:*", "((", "\\", "<->", "%_%"])
def test_hostile_q_is_searched_safely(api, owner, channels, q):
    api.force_authenticate(owner)
    found(api, q)  # 200


# --- the snippet: escaped, cut around the match -----------------------------------------------


def test_the_snippet_is_escaped_and_only_the_marks_are_html(
    api, owner, channels, post_webhook, process
):
    scalar, _ = channels
    [hostile] = say(
        scalar,
        post_webhook,
        process,
        '<script>alert("x")</script> Tom & Jerry <b>at</b> the <mark>dock</mark>',
    )
    api.force_authenticate(owner)
    [row] = results(api, "Jerry dock")
    assert row["message"] == hostile
    assert row["snippet"] == (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Tom &amp; <mark>Jerry</mark> "
        "&lt;b&gt;at&lt;/b&gt; the &lt;mark&gt;<mark>dock</mark>&lt;/mark&gt;"
    )
    # (PostgreSQL's parser skips what looks like a tag: "script" is no word of this text.)
    assert found(api, "amp") == found(api, "quot") == found(api, "lt") == []


def test_a_long_text_is_cut_around_the_first_match(api, owner, channels, post_webhook, process):
    scalar, _ = channels
    before = " ".join(f"early{i}" for i in range(40))
    after = " ".join(f"late{i}" for i in range(40))
    say(scalar, post_webhook, process, f"{before} the Needle is here {after} and a needle again")
    api.force_authenticate(owner)
    [row] = results(api, "needle")
    snippet = row["snippet"]
    assert snippet.startswith("…early")
    assert snippet.endswith("…")
    assert "the <mark>Needle</mark> is here late0" in snippet
    assert "<mark>needle</mark> again" not in snippet  # beyond the window
    text = snippet.replace("<mark>", "").replace("</mark>", "").strip("…")
    assert 140 <= len(text) <= search.SNIPPET_LENGTH
    # cut between whole words
    assert text.split()[0] in before.split()
    assert text.split()[-1] in after.split()


def test_snippet_windows():
    pattern = search.highlighter(["word"])
    assert search.snippet("", pattern) == ""
    assert search.snippet("a  word\n\tthere", pattern) == "a <mark>word</mark> there"
    assert search.snippet("no match at all", pattern) == "no match at all"
    long = "x" * 50 + " " + "y " * 200
    assert search.snippet(long, pattern).startswith("x" * 50 + " y")  # from the start
    assert search.snippet(long, pattern).endswith("y…")
    assert search.snippet("swordfish words word", pattern) == "swordfish words <mark>word</mark>"
    # the SQLite fallback matches substrings, and so marks them
    loose = search.highlighter(["word"], whole_words=False)
    assert search.snippet("swordfish", loose) == "s<mark>word</mark>fish"
    assert search.highlighted_terms('a "b c" or -d -"e f" OR g-h "i') == [
        "a",
        "b",
        "c",
        "g",
        "h",
        "i",
    ]


# --- filters, pages ---------------------------------------------------------------------------


def test_filters(api, owner, channels, post_webhook, process):
    scalar, enmeshed = channels
    chat = Message.objects.get(text__contains="Duisburg")
    [incoming] = say(scalar, post_webhook, process, "Duisburg reached", sender="Driver")
    api.force_authenticate(owner)
    assert found(api, "Duisburg") == [incoming, chat.pk]
    assert found(api, "Duisburg", direction="in") == [incoming]
    assert found(api, "Duisburg", direction="out") == [chat.pk]
    assert found(api, "Duisburg", conversation=chat.conversation_id) == [chat.pk]
    assert found(api, "Duisburg", channel=scalar.pk, platform="scalar") == [incoming, chat.pk]
    assert found(api, "Duisburg", platform="enmeshed") == []
    assert found(api, "Duisburg", channel=enmeshed.pk) == []


def test_results_are_keyset_paginated_newest_first(api, owner, channels, post_webhook, process):
    scalar, _ = channels
    group = str(uuid.uuid4())
    expected = say(scalar, post_webhook, process, *["closure ahead"] * 7, conversation=group)
    expected += [Message.objects.get(text__contains="Road closure").pk]
    api.force_authenticate(owner)
    seen, url, pages = [], "/api/v1/search/?q=closure&page_size=3", []
    while url:
        body = api.get(url).json()
        pages.append(body)
        seen += [row["message"] for row in body["results"]]
        assert body["next"] is None or "q=closure" in body["next"]
        url = body["next"]
    assert seen == expected
    assert [len(page["results"]) for page in pages] == [3, 3, 2]
    back = api.get(pages[-1]["previous"]).json()  # and back again
    assert [row["message"] for row in back["results"]] == expected[3:6]
    assert len({row["conversation"] for page in pages for row in page["results"]}) == 2


def test_the_search_uses_the_gin_index(owner, channels):
    """As for the conversation list (tests/test_search.py): the page's query is answered by
    the GIN index over the messages' words. Sequential scans are priced out for this
    transaction, as the table is too small for the planner to prefer an index otherwise. (For
    a member of few channels, reading those channels' messages by the channel index is as
    good a plan, and the planner may take it: only the search over every channel is checked.)"""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    page = search.searchable(owner).matching("Duisburg").order_by("-sent_at", "-id")[:51]
    plan = page.explain()
    assert "message_search" in plan, plan


def test_conversations_and_messages_share_one_definition(channels):
    chat = Message.objects.get(text__contains="Duisburg")
    for q in ("Duisburg", '"ready at dock"', "Duisburg or Vertrags", "dock -Hamburg", "&|!"):
        conversations = set(Conversation.objects.matching(q).values_list("id", flat=True))
        messages = set(Message.objects.matching(q).values_list("conversation_id", flat=True))
        assert conversations == messages, q
    assert list(Message.objects.matching("")) == list(Message.objects.all())  # blank: no filter
    assert chat in Message.objects.matching("Duisburg")


def test_without_postgresql_messages_fall_back_to_a_plain_match(channels, monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    both = Message.objects.matching("duisbu TRAILER")
    subject = Message.objects.matching("kündigung")
    nothing = Message.objects.matching("&|!")
    monkeypatch.undo()
    assert [m.text[:7] for m in both] == ["Trailer"]
    assert len(subject) == 1
    assert list(nothing) == []


# --- who may search -----------------------------------------------------------------------------


def test_another_channels_messages_never_appear(api, agent, outsider, channels):
    scalar, enmeshed = channels
    mail = Conversation.objects.get(channel=enmeshed)
    api.force_authenticate(agent)
    assert found(api, "Vertrags") == []
    assert [r["channel"] for r in results(api, "Duisburg or Vertrags")] == [scalar.pk]
    for name, value in (("channel", enmeshed.pk), ("conversation", mail.pk)):
        # refused exactly like an id that does not exist
        response = api.get("/api/v1/search/", {"q": "Vertrags", name: value})
        missing = api.get("/api/v1/search/", {"q": "Vertrags", name: 999_999})
        assert response.status_code == missing.status_code == 400
        assert name in response.json()["fields"]
        assert response.json() == missing.json()
    api.force_authenticate(outsider)
    assert found(api, "Duisburg or Vertrags") == []


def test_staff_see_every_channel(api, owner, channels):
    scalar, enmeshed = channels
    api.force_authenticate(owner)
    rows = results(api, "Duisburg or Vertrags")
    assert {r["channel"] for r in rows} == {enmeshed.pk, scalar.pk}
    assert [r["sent_at"] for r in rows] == sorted((r["sent_at"] for r in rows), reverse=True)
    [mail] = [r for r in rows if r["channel"] == enmeshed.pk]
    assert mail["subject"].startswith("Kündigung")
    # the mailbox's own address is left out of the title: only the peer names it
    assert "ourinsurer" not in mail["conversation_title"]
    assert mail["conversation_title"]


def test_anonymous_requests_are_refused(api, channels):
    assert api.get("/api/v1/search/", {"q": "Duisburg"}).status_code in (401, 403)


@pytest.mark.parametrize(
    "params",
    [{}, {"q": ""}, {"q": "   "}, {"q": "x" * (MAX_SEARCH_LENGTH + 1)}, {"q": "Duisburg\x00"}],
)
def test_a_missing_blank_or_unsearchable_q_is_a_400_naming_it(api, owner, channels, params):
    api.force_authenticate(owner)
    response = api.get("/api/v1/search/", params)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["q"]


def test_a_q_of_the_maximum_length_is_searched(api, owner, channels):
    api.force_authenticate(owner)
    assert found(api, "Duisburg " + "x" * (MAX_SEARCH_LENGTH - 9)) == []


# --- cost ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 50])
def test_the_query_count_is_the_same_for_1_and_50_results(
    api, owner, channels, post_webhook, process, count, django_assert_num_queries
):
    scalar, _ = channels
    say(scalar, post_webhook, process, *["Convoy leaves at noon"] * count)  # each its own chat
    api.force_authenticate(owner)
    # the page (the search, the platform, conversation and sender joined), the conversations'
    # people (for titles), the channels' own addresses
    with django_assert_num_queries(3):
        response = api.get("/api/v1/search/", {"q": "convoy"})
    assert len(response.json()["results"]) == count
    assert len({row["conversation"] for row in response.json()["results"]}) == count
