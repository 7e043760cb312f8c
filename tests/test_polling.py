"""Polling, against the fake enmeshed Connector of both API generations: what a poll stores,
how it meets webhooks, how it fails and recovers, and that one channel is polled once at a
time."""

from __future__ import annotations

import io
from datetime import timedelta

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from inbox import services
from inbox.admin import ChannelAdmin
from inbox.inbound import process_due_events
from inbox.models import Channel, InboundEvent, InboundRequest, Message, PollCursor, Source
from inbox.services import polling
from inbox.services.polling import (
    POLL_QUEUE,
    ensure_cursors,
    poll_channel,
    poll_due_channels,
)
from relationships.models import Relationship
from tests.factories import ChannelFactory
from tests.fakes.enmeshed import API_KEY

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "connector-webhook-secret"


def cursor_of(channel: Channel) -> PollCursor:
    return PollCursor.objects.get(channel=channel)


def webhook(post_webhook, channel, dto):
    response = post_webhook(
        channel,
        {"trigger": "transport.messageReceived", "data": dto},
        headers={"X-API-KEY": WEBHOOK_SECRET},
    )
    assert response.status_code == 202, response.content
    return response


def assert_due_in(cursor: PollCursor, seconds: float, before, after) -> None:
    assert cursor.next_attempt_at is not None
    assert (
        before + timedelta(seconds=seconds)
        <= cursor.next_attempt_at
        <= after + timedelta(seconds=seconds)
    )


def set_setting(channel: Channel, name: str, value) -> None:
    channel.settings = {**channel.settings, name: value}
    Channel.objects.filter(pk=channel.pk).update(settings=channel.settings)


def create_enmeshed(connector, name: str, **settings) -> Channel:
    return services.create_channel(
        platform="enmeshed",
        name=name,
        webhook_secrets=[WEBHOOK_SECRET],
        settings={"base_url": connector.base_url, "api_key": API_KEY, **settings},
    )


# --- what a poll stores --------------------------------------------------------------------------


def test_a_poll_stores_new_messages_and_relationships(connector, connected):
    received = connector.receive_message(subject="Polled", body="Found by the poll.")
    pending = connector.add_incoming_pending()
    before = timezone.now()

    result = poll_channel(connected)

    after = timezone.now()
    assert result.ok, result.error
    assert result.messages == 1
    assert result.relationships >= 1  # 1.x syncs the sender's relationship too
    assert result.requests == 1
    assert result.new_events == result.items == result.messages + result.relationships
    request = InboundRequest.objects.get()
    assert request.source == Source.POLL
    assert InboundEvent.objects.filter(state="pending").count() == result.new_events

    assert process_due_events()["processed"] == result.new_events
    message = Message.objects.get(channel=connected, external_id=received["id"])
    assert "Found by the poll." in message.text
    assert Relationship.objects.get(channel=connected, external_id=pending["id"]).status == (
        "Pending"
    )

    cursor = cursor_of(connected)
    assert cursor.cursor["since"] == received["createdAt"]
    assert cursor.cursor["known_pending"] == [pending["id"]]
    assert cursor.failures == 0
    assert cursor.error == ""
    assert before <= cursor.last_success_at == cursor.last_polled_at <= after
    assert_due_in(cursor, 60, before, after)
    connected.refresh_from_db()
    assert connected.learned["api_version"] == connector.generation
    assert connector.rejected() == []

    # Nothing new since: the next poll stores no new event (and no empty request).
    again = poll_channel(connected)
    assert again.ok
    assert again.new_events == 0


def test_a_poll_asks_about_relationships_the_inbox_knows_are_pending(connector, connected):
    """A decision whose webhook was lost: the relationship is pending in the inbox, no longer
    pending on the Connector, and the poll refreshes it by id (without a sync, so that 1.x
    does not hand it out on its own)."""
    set_setting(connected, "sync", False)
    pending = connector.add_incoming_pending()
    assert poll_channel(connected).ok
    process_due_events()
    PollCursor.objects.filter(channel=connected).update(cursor={})  # the cursor forgot it
    connector.peer_decides(pending["id"], "revoke")

    assert poll_channel(connected).ok
    process_due_events()

    relationship = Relationship.objects.get(channel=connected, external_id=pending["id"])
    assert relationship.status == "Revoked"
    refreshed = [r.path for r in connector.requests_to(f"/Relationships/{pending['id']}")]
    assert refreshed, "the known pending relationship was not asked about"


@pytest.mark.parametrize("first", ["webhook", "poll"])
def test_a_message_seen_by_webhook_and_by_poll_is_one_message(
    connector, connected, post_webhook, first
):
    dto = connector.receive_message(subject="Twice", body="Seen twice.")
    if first == "webhook":
        webhook(post_webhook, connected, dto)
        assert poll_channel(connected).ok
    else:
        assert poll_channel(connected).ok
        webhook(post_webhook, connected, dto)
    process_due_events()

    assert Message.objects.filter(channel=connected).count() == 1
    assert InboundEvent.objects.filter(dedup_key__startswith=f"message:{dto['id']}:").count() == 1
    assert set(InboundRequest.objects.values_list("source", flat=True)) == {
        Source.WEBHOOK,
        Source.POLL,
    }


# --- failures and recovery ------------------------------------------------------------------------


def test_a_connector_that_is_down_leaves_the_cursor_records_the_error_and_backs_off(
    connector, connected
):
    connector.receive_message(subject="Before")
    assert poll_channel(connected).ok
    process_due_events()
    known = cursor_of(connected)

    missed = connector.receive_message(subject="Missed", body="Its webhook never came.")
    connector.down()
    for failures in (1, 2, 3):
        before = timezone.now()
        result = poll_channel(connected)
        after = timezone.now()
        assert not result.ok
        assert "cannot reach the Connector" in result.error
        cursor = cursor_of(connected)
        assert cursor.cursor == known.cursor  # nothing stored, nothing skipped
        assert cursor.failures == failures
        assert cursor.error == result.error
        assert cursor.last_success_at == known.last_success_at
        assert before <= cursor.last_polled_at <= after
        assert_due_in(cursor, 60 * 2**failures, before, after)  # 2, 4, 8 minutes
    # The channel admin shows it.
    assert "cannot reach the Connector" in ChannelAdmin(Channel, None).poll_error(
        Channel.objects.get(pk=connected.pk)
    )

    connector.up()
    recovered = poll_channel(connected)
    assert recovered.ok, recovered.error
    process_due_events()
    assert Message.objects.filter(channel=connected, external_id=missed["id"]).count() == 1
    assert Message.objects.filter(channel=connected).count() == 2
    cursor = cursor_of(connected)
    assert (cursor.failures, cursor.error) == (0, "")
    assert cursor.cursor["since"] == missed["createdAt"]
    assert ChannelAdmin(Channel, None).poll_error(Channel.objects.get(pk=connected.pk)) == ""

    # Polled again: nothing new, nothing twice.
    assert poll_channel(connected).new_events == 0
    process_due_events()
    assert Message.objects.filter(channel=connected).count() == 2


def test_the_backoff_is_capped_and_waits_for_retry_after(connector, connected, settings):
    settings.POLL_MAX_BACKOFF_SECONDS = 300
    PollCursor.objects.create(channel=connected, failures=5)
    connector.fail_next(status=500)
    before = timezone.now()
    result = poll_channel(connected)
    assert "error.platform.unexpected" in result.error
    cursor = cursor_of(connected)
    assert cursor.failures == 6
    assert_due_in(cursor, 300, before, timezone.now())  # 60 x 2**6 capped at 5 minutes

    connector.fail_next(status=503, retry_after=900)
    before = timezone.now()
    poll_channel(connected)
    assert_due_in(cursor_of(connected), 900, before, timezone.now())


def test_the_cursor_advances_in_the_same_transaction_as_the_events(
    connector, connected, monkeypatch
):
    connector.receive_message(subject="Stored, then rolled back")
    real = polling.store_document

    def store_then_fail(**kwargs):
        real(**kwargs)  # the request and its events are written…
        raise RuntimeError("the disk is full")  # …and the transaction fails after them

    monkeypatch.setattr(polling, "store_document", store_then_fail)
    result = poll_channel(connected)

    assert result.error == "RuntimeError: the disk is full"
    assert not InboundRequest.objects.exists()
    assert not InboundEvent.objects.exists()
    cursor = cursor_of(connected)
    assert cursor.cursor == {}
    assert cursor.last_success_at is None
    assert cursor.failures == 1

    monkeypatch.setattr(polling, "store_document", real)
    assert poll_channel(connected).ok
    process_due_events()
    assert Message.objects.filter(channel=connected).count() == 1
    assert cursor_of(connected).cursor["since"]


# --- scheduling -------------------------------------------------------------------------------


def test_due_channels_are_polled_once_per_interval(connector, connected):
    connector.receive_message()
    results = poll_due_channels()  # a new channel is due at once
    assert [(r.channel.pk, r.ok) for r in results] == [(connected.pk, True)]
    connector.clear_requests()

    assert poll_due_channels() == []  # not due again before its interval
    assert connector.requests == []

    PollCursor.objects.filter(channel=connected).update(next_attempt_at=timezone.now())
    assert [r.ok for r in poll_due_channels()] == [True]


def test_a_claimed_cursor_is_not_claimed_again(connector, connected):
    ensure_cursors()
    cursor = cursor_of(connected)
    assert POLL_QUEUE.claim(size=10) == [cursor.pk]
    assert POLL_QUEUE.claim(size=10) == []  # leased: one poll in flight per channel
    assert poll_due_channels() == []
    assert connector.requests == []
    leased = cursor_of(connected)
    assert leased.attempts == 1
    assert leased.next_attempt_at > timezone.now() + timedelta(minutes=4)


def test_a_poll_in_flight_elsewhere_is_not_doubled(connector, connected):
    """The command line and a worker never poll one channel at once: the poll holds a lock
    that another database session (here: another process's) sees."""
    db = connection.settings_dict
    key = polling.lock_key(connected.pk, "poll")
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"],
        dbname=db["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [key])
        result = poll_channel(connected)
        assert result.skipped
        assert connector.requests == []
        other.execute("SELECT pg_advisory_unlock(%s)", [key])
    assert poll_channel(connected).ok


def test_channels_that_cannot_poll_or_have_polling_off_are_not_polled(connector, connected):
    off = create_enmeshed(connector, "Polling off", poll_interval="0")
    ChannelFactory(platform="scalar")
    inactive = create_enmeshed(connector, "Inactive")
    Channel.objects.filter(pk=inactive.pk).update(is_active=False)

    results = poll_due_channels()

    assert [r.channel.pk for r in results] == [connected.pk]
    assert list(PollCursor.objects.values_list("channel_id", flat=True)) == [connected.pk]
    assert len(connector.requests_to("/Messages", "GET")) == 1  # only the one channel polled
    assert off.pk not in {r.channel.pk for r in results}


def test_turning_polling_off_parks_the_cursor_and_on_again_rearms_it(connector, connected):
    assert [r.ok for r in poll_due_channels()] == [True]
    PollCursor.objects.filter(channel=connected).update(next_attempt_at=timezone.now())
    set_setting(connected, "poll_interval", 0)
    connector.clear_requests()

    assert poll_due_channels() == []
    assert cursor_of(connected).next_attempt_at is None
    assert connector.requests == []

    set_setting(connected, "poll_interval", 30)
    assert [r.ok for r in poll_due_channels()] == [True]
    before = timezone.now()
    assert_due_in(cursor_of(connected), 30, before - timedelta(seconds=5), before)


def test_the_celery_task_polls_due_channels_and_beat_runs_it(connector, connected):
    from config.celery import app
    from inbox.tasks import poll_channels

    connector.receive_message()
    outcome = poll_channels()
    assert outcome["polled"] == 1
    assert outcome["failed"] == 0
    assert outcome["new_events"] >= 1
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "inbox.tasks.poll_channels" in tasks


# --- the command ------------------------------------------------------------------------------


def run_poll(*args: str) -> tuple[str, str, CommandError | None]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("poll", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


def test_the_command_polls_processes_and_prints_what_it_found(connector, connected):
    received = connector.receive_message(subject="By hand")
    connector.add_incoming_pending()

    out, err, error = run_poll(str(connected.key))

    assert (err, error) == ("", None)
    assert f"{connected.name} ({connected.key}): 1 messages, " in out
    relationships = 2 if connector.generation == "v1" else 1
    assert f"{relationships} relationships, {1 + relationships} new events" in out
    assert f"{1 + relationships} events processed: {1 + relationships} processed" in out
    assert Message.objects.filter(external_id=received["id"]).exists()


def test_the_command_polls_every_pollable_channel_without_keys(connector, connected):
    create_enmeshed(connector, "Polling off", poll_interval="0")
    out, _, error = run_poll()
    assert error is None
    assert f"{connected.name} ({connected.key}): 0 messages" in out
    assert "Polling off" not in out


def test_the_command_reports_a_failed_poll(connector, connected):
    connector.down()
    _, err, error = run_poll(str(connected.key))
    assert str(error) == "1 of 1 polls failed"
    assert "poll failed: cannot reach the Connector" in err
    assert cursor_of(connected).failures == 1


def test_the_command_refuses_unknown_keys(connector, connected):
    assert "unknown channel key 'not-a-key'" in str(run_poll("not-a-key")[2])
    unknown = "00000000-0000-0000-0000-000000000000"
    assert f"unknown channel key(s): {unknown}" in str(run_poll(str(connected.key), unknown)[2])
    assert connector.requests == []  # nothing polled when one key is wrong


def test_the_command_says_when_a_named_channel_does_not_poll(connector):
    off = create_enmeshed(connector, "Polling off", poll_interval="0")
    out, _, error = run_poll(str(off.key))
    assert error is None
    assert "not polled, polling is off" in out
    assert connector.requests == []
