"""``manage.py bench_seed``: a small seed holds every invariant the inbox relies on."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.postgres.search import SearchQuery
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count, Max, Min, OuterRef, Subquery
from rest_framework.test import APIClient

from inbox.management.commands import _bench_words
from inbox.models import Channel, Conversation, Message, Participant, ReadState
from inbox.models.messages import SearchWords

pytestmark = pytest.mark.django_db

SMALL = ("--messages", "2000", "--conversations", "200", "--channels", "3", "--users", "5")


def seed(*args: str) -> dict:
    out = io.StringIO()
    call_command("bench_seed", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def seeded() -> dict:
    return seed(*SMALL, "--long-conversation", "100")


def test_the_counts_are_what_was_asked(seeded):
    counts = seeded["counts"]
    assert counts["messages"] == Message.objects.count() == 2000
    assert counts["conversations"] == Conversation.objects.count() == 200
    assert counts["channels"] == Channel.objects.count() == 3
    assert counts["participants"] == Participant.objects.count()
    assert counts["read_states"] == ReadState.objects.count() > 0
    assert set(Channel.objects.values_list("platform", flat=True)) == {
        "enmeshed",
        "liveperson",
        "comapi",
    }
    assert seeded["seconds"]["total"] > 0


def test_positions_are_contiguous_and_last_position_is_the_count(seeded):
    per_conversation = Message.objects.values("conversation").annotate(
        n=Count("id"), low=Min("position"), high=Max("position")
    )
    last = dict(Conversation.objects.values_list("id", "last_position"))
    assert len(per_conversation) == len(last)  # every conversation has messages
    for row in per_conversation:
        # Unique per conversation (a constraint), from 1 to n: contiguous.
        assert (row["low"], row["high"]) == (1, row["n"])
        assert last[row["conversation"]] == row["n"]


def test_last_message_is_the_newest_and_sets_the_activity_time(seeded):
    newest = Message.objects.filter(conversation=OuterRef("pk")).order_by(
        "-sent_at", "-sequence", "-id"
    )
    rows = Conversation.objects.annotate(
        newest_id=Subquery(newest.values("id")[:1]),
        newest_at=Subquery(newest.values("sent_at")[:1]),
    ).values("last_message_id", "newest_id", "last_activity_at", "newest_at", "last_position")
    for row in rows:
        assert row["last_message_id"] == row["newest_id"]
        assert row["last_activity_at"] == row["newest_at"]
    positions = dict(
        Message.objects.filter(id__in=Conversation.objects.values("last_message_id")).values_list(
            "conversation", "position"
        )
    )
    assert positions == dict(Conversation.objects.values_list("id", "last_position"))


def test_ids_and_positions_follow_arrival(seeded):
    for conversation in Conversation.objects.all()[:50]:
        rows = list(
            Message.objects.filter(conversation=conversation)
            .order_by("position")
            .values_list("id", "sent_at")
        )
        assert rows == sorted(rows)  # later positions: later ids, later times


def test_the_long_conversation_has_exactly_the_asked_messages(seeded):
    long = seeded["long_conversation"]
    assert long["messages"] == 100
    assert Message.objects.filter(conversation_id=long["id"]).count() == 100
    assert Conversation.objects.get(pk=long["id"]).channel_id == long["channel_id"]
    assert long["channel_id"] in seeded["member"]["channel_ids"]


def test_no_long_conversation_when_the_messages_do_not_allow_it():
    summary = seed(*SMALL, "--long-conversation", "1900")  # 1900 + 199 others > 2000
    assert summary["long_conversation"] is None
    assert Message.objects.count() == 2000


def test_unread_counts_in_the_api_follow_the_read_states(seeded):
    member = seeded["member"]
    api = APIClient()
    api.force_authenticate(get_user_model().objects.get(pk=member["id"]))
    read = dict(
        ReadState.objects.filter(user_id=member["id"]).values_list(
            "conversation_id", "read_position"
        )
    )
    expected = {
        c.pk: c.last_position - read.get(c.pk, 0)
        for c in Conversation.objects.filter(channel_id__in=member["channel_ids"])
    }
    seen, url = {}, "/api/v1/conversations/?page_size=200"
    while url:
        body = api.get(url).json()
        seen.update({row["id"]: row["unread_count"] for row in body["results"]})
        url = body["next"]
    assert seen == expected
    assert any(seen.values())
    assert not all(seen.values())


def test_the_staff_user_sees_everything(seeded):
    staff = seeded["staff"]
    api = APIClient()
    api.force_authenticate(get_user_model().objects.get(pk=staff["id"], is_staff=True))
    body = api.get("/api/v1/conversations/?page_size=200").json()
    assert len(body["results"]) == 200
    assert body["next"] is None


def test_the_search_words_occur_as_often_as_reported(seeded):
    words = seeded["search_words"]
    counts = [words[kind]["messages"] for kind in ("top", "common", "uncommon", "rare")]
    assert counts == sorted(counts, reverse=True)
    for found in words.values():
        query = SearchQuery(found["word"], config="simple")
        matching = Message.objects.alias(document=SearchWords()).filter(document=query)
        assert matching.count() == found["messages"]


def test_channel_secrets_are_encrypted_at_rest(seeded):
    with connection.cursor() as cursor:
        cursor.execute("SELECT webhook_secrets, credentials FROM inbox_channel")
        for secrets, credentials in cursor.fetchall():
            assert secrets.startswith("gAAAA")  # a Fernet token
            assert credentials.startswith("gAAAA")
    assert all(len(c.webhook_secrets) == 1 for c in Channel.objects.all())


def test_the_database_must_be_empty(seeded):
    with pytest.raises(CommandError, match="empty"):
        seed(*SMALL)


def test_the_words_never_need_escaping_in_copy():
    words = _bench_words.vocabulary()
    assert len(words) == len(set(words)) == 2000
    assert all(re.fullmatch("[a-z]+", word) for word in words)
    first, last = _bench_words.people()
    assert all(re.fullmatch(r"\w+", name) for name in first + last)
