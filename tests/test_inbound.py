"""The way in below the webhook: requests kept whole, replay after a fix, pruning, live changes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import redis
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from inbox import live
from inbox.connectors.contract import PayloadError
from inbox.connectors.registry import get_connector
from inbox.inbound import process_due_events, prune_inbound, replay_events, replay_requests
from inbox.inbound.storing import clamp_key, depth_exceeds, plain_text, unstorable
from inbox.models import Conversation, InboundEvent, InboundRequest, Message
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes

pytestmark = pytest.mark.django_db

SENT = fixture_bytes("scalar", "chat_message_sent")
DELIVERED = fixture_bytes("scalar", "chat_message_delivered")


@pytest.fixture
def channel():
    return ChannelFactory(platform="scalar")


# --- what cannot be stored as JSON ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"text": "a\x00b"}, "\\u0000"),
        ({"te\x00xt": "key"}, "\\u0000"),
        (["\ud800"], "lone surrogate"),
        ({"n": float("nan")}, "NaN"),
        ([[[float("inf")]]], "Infinity"),
    ],
)
def test_values_postgresql_json_cannot_hold_are_named(value, reason):
    assert reason in unstorable(value)


def test_ordinary_json_is_storable():
    assert unstorable({"a": [1, 2.5, "ü ✓ 😀", None, True, {"b": 10**40}]}) == ""


def test_depth_is_measured_without_recursion():
    deep: list = []
    node = deep
    for _ in range(100_000):
        node.append([])
        node = node[0]
    assert depth_exceeds(deep, 64)
    assert not depth_exceeds({"a": [{"b": [1]}]}, 4)
    assert depth_exceeds({"a": [{"b": [1]}]}, 3)


def test_over_long_and_unstorable_keys_become_a_hash_of_themselves():
    assert clamp_key("message.sent:abc") == "message.sent:abc"
    long_key = "k" * 300
    assert clamp_key(long_key) == clamp_key(long_key)
    assert clamp_key(long_key).startswith("sha256:")
    assert len(clamp_key(long_key)) < 255
    assert clamp_key("a\x00b").startswith("sha256:")
    assert clamp_key("a\ud800b") != clamp_key("a\ud801b")


def test_text_columns_get_escaped_text():
    assert plain_text("a\x00b\ud800c") == "a\\x00b\\ud800c"


# --- replay --------------------------------------------------------------------------------


def test_a_request_the_old_code_could_not_split_is_rescued_by_replay(
    channel, post_webhook, monkeypatch
):
    connector = get_connector("scalar")
    real_split = connector.split

    def buggy_split(*, document):
        raise PayloadError("the parser had a bug")

    monkeypatch.setattr(connector, "split", buggy_split)
    response = post_webhook(channel, SENT)
    assert response.status_code == 400
    request = InboundRequest.objects.get()
    assert request.error == "not a valid scalar document: the parser had a bug"
    assert not InboundEvent.objects.exists()

    monkeypatch.setattr(connector, "split", real_split)  # the fix is deployed
    call_command("replay", "--request", str(request.pk))
    request.refresh_from_db()
    assert (request.error, request.item_count) == ("", 1)
    assert process_due_events() == {"processed": 1}
    assert Message.objects.get().text.startswith("Trailer 4711")


def test_an_event_the_old_code_misread_is_rescued_by_replay(channel, post_webhook, monkeypatch):
    connector = get_connector("scalar")
    real_parse = connector.parse

    def buggy_parse(**kwargs):
        raise PayloadError("the parser had a bug")

    monkeypatch.setattr(connector, "parse", buggy_parse)
    post_webhook(channel, SENT)
    assert process_due_events() == {"failed": 1}
    event = InboundEvent.objects.get()
    assert (event.next_attempt_at, event.attempts) == (None, 1)  # failed for good

    monkeypatch.setattr(connector, "parse", real_parse)
    assert replay_events([event]).queued == 1
    event.refresh_from_db()
    assert (event.state, event.attempts, event.error) == ("pending", 0, "")
    assert process_due_events() == {"processed": 1}
    assert Message.objects.count() == 1


def test_replaying_a_request_stores_the_items_as_split_now(channel, post_webhook, process):
    post_webhook(channel, SENT)
    process()
    event = InboundEvent.objects.get()
    InboundEvent.objects.filter(pk=event.pk).update(payload={"garbled": True}, envelope={})

    result = replay_requests(InboundRequest.objects.all())
    assert (result.queued, result.skipped) == (1, 0)
    event.refresh_from_db()
    assert event.payload == json.loads(SENT)["eventsData"][0]
    assert event.state == "pending"
    assert process() == {"processed": 1}
    assert Message.objects.count() == 1  # processing again changed nothing that was right


def test_an_item_that_could_not_be_stored_is_not_replayed_as_an_event(channel, post_webhook):
    body = SENT.replace(b'"Trailer 4711', b'"\\u0000 Trailer 4711')
    assert post_webhook(channel, body).status_code == 202
    event = InboundEvent.objects.get()
    assert (event.state, event.payload) == ("failed", None)
    assert replay_events([event]).skipped == 1
    assert replay_requests(InboundRequest.objects.all()).skipped == 1


def test_the_replay_command_takes_every_failed_event(channel, post_webhook, capsys, process):
    post_webhook(channel, fixture_bytes("scalar", "mixed_batch"))
    process()
    call_command("replay", "--failed")
    out = capsys.readouterr().out
    assert out.startswith("1 event(s) queued again")
    assert InboundEvent.objects.filter(state="pending").count() == 1


def test_the_replay_command_needs_something_to_replay():
    with pytest.raises(Exception, match="--event, --request or --failed"):
        call_command("replay")


# --- pruning -------------------------------------------------------------------------------


def test_pruning_deletes_old_processed_and_ignored_events_and_keeps_failed_ones(
    channel, post_webhook, process
):
    with time_machine.travel(timezone.now() - timedelta(days=40)):
        post_webhook(channel, fixture_bytes("scalar", "mixed_batch"))  # processed+ignored+failed
        process()
    post_webhook(channel, DELIVERED)  # recent
    process()
    states = sorted(InboundEvent.objects.values_list("state", flat=True))
    assert states == ["failed", "ignored", "processed", "processed"]

    pruned = prune_inbound(older_than=timedelta(days=30))
    assert (pruned.events, pruned.requests) == (2, 0)  # the old request still holds a failure
    assert sorted(InboundEvent.objects.values_list("state", flat=True)) == ["failed", "processed"]
    assert InboundRequest.objects.count() == 2
    # The message built from a pruned event stays: pruning touches the raw store only.
    assert Message.objects.count() == 2


def test_pruning_deletes_old_requests_left_without_events(channel, post_webhook, process, capsys):
    with time_machine.travel(timezone.now() - timedelta(days=40)):
        post_webhook(channel, SENT)
        process()
    call_command("prune_inbound", "--days", "30")
    assert capsys.readouterr().out.strip() == "deleted 1 event(s) and 1 request(s)"
    assert not InboundRequest.objects.exists()
    assert Message.objects.count() == 1


def test_the_retention_is_configurable(channel, post_webhook, process, settings):
    with time_machine.travel(timezone.now() - timedelta(days=10)):
        post_webhook(channel, SENT)
        process()
    settings.INBOUND_RETENTION_DAYS = 7
    from inbox.tasks import prune_inbound_events

    assert prune_inbound_events() == {"events": 1, "requests": 1}


def test_beat_runs_the_sweeper_and_the_pruner():
    from config.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"inbox.tasks.sweep_inbound_events", "inbox.tasks.prune_inbound_events"} <= tasks


# --- live changes --------------------------------------------------------------------------


@pytest.fixture
def published():
    batches: list[list[live.Change]] = []
    unsubscribe = live.subscribe(batches.append)
    yield batches
    unsubscribe()


def test_changes_are_published_after_the_commit_that_made_them(
    channel, post_webhook, published, django_capture_on_commit_callbacks
):
    post_webhook(channel, SENT)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        process_due_events()
    assert published == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    kinds = [change.kind for batch in published for change in batch]
    assert kinds == ["message.created", "conversation.updated"]
    conversation = Conversation.objects.get()
    [created, updated] = [change for batch in published for change in batch]
    assert (created.channel_id, created.conversation_id) == (channel.pk, conversation.pk)
    assert created.message_id == Message.objects.get().pk
    assert (updated.conversation_id, updated.message_id) == (conversation.pk, None)


def test_a_receipt_publishes_a_message_update(
    channel, post_webhook, published, django_capture_on_commit_callbacks
):
    post_webhook(channel, SENT)
    process_due_events()
    post_webhook(channel, DELIVERED)
    with django_capture_on_commit_callbacks(execute=True):
        process_due_events()
    assert [change.kind for change in published[-1]] == ["message.updated"]


def test_changes_of_a_rolled_back_transaction_are_never_published(published):
    change = live.Change("conversation.updated", 1, 2)

    class Undo(Exception):
        pass

    def publish_then_fail() -> None:
        with transaction.atomic():
            live.publish_on_commit([change])
            raise Undo

    with pytest.raises(Undo):
        publish_then_fail()
    assert published == []


@pytest.mark.django_db(transaction=True)
def test_changes_reach_the_redis_channel_the_web_inbox_listens_to(channel, post_webhook):
    client = redis.Redis.from_url(settings.REDIS_URL)
    subscription = client.pubsub(ignore_subscribe_messages=True)
    subscription.subscribe(live.LIVE_CHANNEL)
    post_webhook(channel, SENT)
    process_due_events()
    message = None
    for _ in range(20):
        message = subscription.get_message(timeout=0.5)
        if message:
            break
    subscription.close()
    # One publish per committed batch, holding its changes.
    received = json.loads(message["data"])
    assert [m["kind"] for m in received] == ["message.created", "conversation.updated"]
    assert received[0]["conversation"] == Conversation.objects.get().pk


def test_a_broken_subscriber_does_not_stop_the_others(published):
    def broken(changes):
        raise RuntimeError("subscriber bug")

    unsubscribe = live.subscribe(broken)
    try:
        live.publish([live.Change("conversation.updated", 1, 2)])
    finally:
        unsubscribe()
    assert len(published) == 1
