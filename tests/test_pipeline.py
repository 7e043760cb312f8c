"""The pipeline's guarantees: nothing acknowledged is lost, failures are recorded and retried,
workers share the work without waiting on each other."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from config.celery import app as celery_app
from inbox import pipeline
from inbox.connectors.base import MessageUpserted
from inbox.models import InboundEvent, Message
from inbox.tasks import process_inbound_events, sweep_inbound_events
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes

pytestmark = pytest.mark.django_db

SENT = fixture_bytes("scalar", "chat_message_sent")
DELIVERED = fixture_bytes("scalar", "chat_message_delivered")


@pytest.fixture
def channel():
    return ChannelFactory(platform="scalar")


@pytest.fixture
def unreachable_broker():
    """Point Celery's producer at a port where nothing listens, as if Redis were down."""
    original = celery_app.conf.broker_url

    def reset_pools() -> None:
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"
    reset_pools()
    yield
    celery_app.conf.broker_url = original
    reset_pools()


def test_stored_event_survives_an_unreachable_broker_and_the_sweeper_processes_it(
    channel,
    post_webhook,
    unreachable_broker,
    django_capture_on_commit_callbacks,
    caplog,
    settings,
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_webhook(channel, SENT)

    assert response.status_code == 202  # acknowledged although nothing could be queued
    assert len(callbacks) == 1
    assert "could not queue processing" in caplog.text
    event = InboundEvent.objects.get()
    assert event.state == "pending"
    assert not Message.objects.exists()

    # Events younger than the grace period are left to their queued task...
    assert sweep_inbound_events() == {}
    # ...older ones, that nobody queued, the sweeper processes.
    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.INBOUND_SWEEP_GRACE_SECONDS + 1)
    ):
        assert sweep_inbound_events() == {"processed": 1}
    event.refresh_from_db()
    assert event.state == "processed"
    assert Message.objects.get().external_id == "ebe4996e-8646-44c5-8f70-785f11dc74ae"


def test_queued_task_processes_what_the_webhook_stored(channel, post_webhook):
    post_webhook(channel, SENT)
    post_webhook(channel, DELIVERED)
    assert process_inbound_events() == {"processed": 2}
    assert Message.objects.get().status == "delivered"
    assert process_inbound_events() == {}


def test_failing_applier_is_recorded_and_retried_with_backoff(channel, post_webhook, monkeypatch):
    post_webhook(channel, SENT)
    real_applier = pipeline.APPLIERS[MessageUpserted]

    def broken(**kwargs):
        raise RuntimeError("storage hiccup")

    monkeypatch.setitem(pipeline.APPLIERS, MessageUpserted, broken)
    assert pipeline.process_due_events() == {"failed": 1}
    event = InboundEvent.objects.get()
    assert (event.state, event.attempts) == ("failed", 1)
    assert event.error == "RuntimeError: storage hiccup"
    first_retry = event.next_attempt_at - event.processed_at
    assert timedelta(seconds=29) < first_retry <= timedelta(seconds=31)
    assert not Message.objects.exists()  # the failed attempt left nothing half-written

    # Not due yet: nothing happens.
    assert pipeline.process_due_events() == {}

    with time_machine.travel(event.next_attempt_at + timedelta(seconds=1)):
        assert pipeline.process_due_events() == {"failed": 1}
    event.refresh_from_db()
    assert event.attempts == 2
    assert event.next_attempt_at - event.processed_at > first_retry  # backing off

    monkeypatch.setitem(pipeline.APPLIERS, MessageUpserted, real_applier)
    with time_machine.travel(event.next_attempt_at + timedelta(seconds=1)):
        assert pipeline.process_due_events() == {"processed": 1}
    event.refresh_from_db()
    assert (event.state, event.error, event.next_attempt_at) == ("processed", "", None)
    assert Message.objects.count() == 1


def test_retries_stop_after_the_last_attempt(channel, post_webhook, monkeypatch, settings):
    settings.INBOUND_MAX_ATTEMPTS = 2
    post_webhook(channel, SENT)

    def broken(**kwargs):
        raise RuntimeError("still broken")

    monkeypatch.setitem(pipeline.APPLIERS, MessageUpserted, broken)
    pipeline.process_due_events()
    event = InboundEvent.objects.get()
    with time_machine.travel(event.next_attempt_at + timedelta(seconds=1)):
        pipeline.process_due_events()
    event.refresh_from_db()
    assert (event.state, event.attempts, event.next_attempt_at) == ("failed", 2, None)


def test_retry_backoff_is_capped_at_one_hour():
    assert pipeline.retry_delay(1) == timedelta(seconds=30)
    assert pipeline.retry_delay(2) == timedelta(seconds=60)
    assert pipeline.retry_delay(20) == timedelta(hours=1)


def test_process_events_command_drains_and_prints_counts(channel, post_webhook, capsys):
    post_webhook(channel, fixture_bytes("scalar", "mixed_batch"))
    call_command("process_events")
    assert capsys.readouterr().out.strip() == "3 events: 1 processed, 1 ignored, 1 failed"
    call_command("process_events")
    assert capsys.readouterr().out.strip() == "0 events: 0 processed, 0 ignored, 0 failed"


def test_limit_stops_the_drain_early(channel, post_webhook):
    post_webhook(channel, fixture_bytes("scalar", "mixed_batch"))
    assert pipeline.process_due_events(limit=2).total() == 2
    assert pipeline.process_due_events().total() == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_skips_events_another_worker_holds(channel, post_webhook):
    post_webhook(channel, SENT)
    post_webhook(channel, DELIVERED)
    first, second = InboundEvent.objects.order_by("id").values_list("id", flat=True)
    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                InboundEvent.objects.select_for_update().get(id=first)
                locked.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(timeout=10)
        assert pipeline.claim_batch(size=10) == [second]  # no waiting on the locked row
    finally:
        release.set()
        thread.join()
    # The claim leased the second event: it is not due again until the lease runs out.
    assert pipeline.claim_batch(size=10) == [first]
    assert pipeline.claim_batch(size=10) == []
    with time_machine.travel(timezone.now() + pipeline.LEASE + timedelta(seconds=1)):
        assert sorted(pipeline.claim_batch(size=10)) == [first, second]
