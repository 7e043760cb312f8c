"""The way in's guarantees: nothing acknowledged is lost, failures are recorded and retried (and
given up), workers share the work without waiting on each other."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from config.celery import app as celery_app
from inbox.connectors.events import MessageUpserted
from inbox.inbound import INBOUND_QUEUE, process_due_events, wakeup
from inbox.inbound.appliers import REGISTRY, Registration
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

    def reset() -> None:
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        wakeup.WAKER.reset()

    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"
    reset()
    yield
    celery_app.conf.broker_url = original
    reset()


def replace_applier(monkeypatch, event_type, applier):
    monkeypatch.setitem(REGISTRY, event_type, Registration(applier, REGISTRY[event_type].locks))


@pytest.fixture
def broken_applier(monkeypatch):
    def broken(items):
        raise RuntimeError("storage hiccup")

    replace_applier(monkeypatch, MessageUpserted, broken)
    return broken


def test_stored_event_survives_an_unreachable_broker_and_the_sweeper_processes_it(
    channel, post_webhook, unreachable_broker, django_capture_on_commit_callbacks, caplog, settings
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_webhook(channel, SENT)
    assert wakeup.WAKER.flush()

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


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_broker_is_tried_once_then_left_to_the_sweeper(
    channel, post_webhook, unreachable_broker, caplog
):
    """One short attempt (no retry loop), then requests stop paying for the broker for a while:
    with Redis down, deliveries are answered as fast as with it up."""
    bodies = [SENT.replace(b"06:14:51", f"06:14:{n:02d}".encode()) for n in range(20)]
    answers = []
    for body in bodies:
        answers.append(post_webhook(channel, body).status_code)
        assert wakeup.WAKER.flush()
    assert answers == [202] * 20
    assert InboundEvent.objects.filter(state="pending").count() == 20
    assert caplog.text.count("could not queue processing") == 1


def test_a_duplicate_delivery_queues_no_processing(
    channel, post_webhook, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as first:
        post_webhook(channel, SENT)
    with django_capture_on_commit_callbacks() as again:
        assert post_webhook(channel, SENT).status_code == 202
    assert (len(first), len(again)) == (1, 0)
    assert InboundEvent.objects.count() == 1


def test_queued_task_processes_what_the_webhook_stored(channel, post_webhook):
    post_webhook(channel, SENT)
    post_webhook(channel, DELIVERED)
    assert process_inbound_events() == {"processed": 2}
    assert Message.objects.get().status == "delivered"
    assert process_inbound_events() == {}


def test_failing_applier_is_recorded_and_retried_with_backoff(
    channel, post_webhook, broken_applier, monkeypatch
):
    post_webhook(channel, SENT)
    assert process_due_events() == {"failed": 1}
    event = InboundEvent.objects.get()
    assert (event.state, event.attempts) == ("failed", 1)
    assert event.error == "RuntimeError: storage hiccup"
    first_retry = event.next_attempt_at - event.processed_at
    assert timedelta(seconds=29) < first_retry <= timedelta(seconds=31)
    assert not Message.objects.exists()  # the failed attempt left nothing half-written

    # Not due yet: nothing happens.
    assert process_due_events() == {}

    with time_machine.travel(event.next_attempt_at + timedelta(seconds=1)):
        assert process_due_events() == {"failed": 1}
    event.refresh_from_db()
    assert event.attempts == 2
    assert event.next_attempt_at - event.processed_at > first_retry  # backing off

    monkeypatch.undo()
    with time_machine.travel(event.next_attempt_at + timedelta(seconds=1)):
        assert process_due_events() == {"processed": 1}
    event.refresh_from_db()
    assert (event.state, event.error, event.next_attempt_at) == ("processed", "", None)
    assert Message.objects.count() == 1


def test_retries_stop_after_the_last_attempt(channel, post_webhook, broken_applier, settings):
    settings.INBOUND_MAX_ATTEMPTS = 2
    post_webhook(channel, SENT)
    process_due_events()
    event = InboundEvent.objects.get()
    with time_machine.travel(event.next_attempt_at + timedelta(seconds=1)):
        process_due_events()
    event.refresh_from_db()
    assert (event.state, event.attempts, event.next_attempt_at) == ("failed", 2, None)


def test_values_that_cannot_fit_a_column_fail_for_good(channel, post_webhook, monkeypatch):
    from django.db import DataError

    def overflowing(items):
        raise DataError("integer out of range")

    replace_applier(monkeypatch, MessageUpserted, overflowing)
    post_webhook(channel, SENT)
    assert process_due_events() == {"failed": 1}
    event = InboundEvent.objects.get()
    assert (event.attempts, event.next_attempt_at) == (1, None)
    assert event.error == "value does not fit: integer out of range"


def test_retry_backoff_is_capped_at_one_hour():
    assert INBOUND_QUEUE.retry_delay(1) == timedelta(seconds=30)
    assert INBOUND_QUEUE.retry_delay(2) == timedelta(seconds=60)
    assert INBOUND_QUEUE.retry_delay(20) == timedelta(hours=1)
    assert INBOUND_QUEUE.retry_delay(10_000) == timedelta(hours=1)


def test_process_events_command_drains_and_prints_counts(channel, post_webhook, capsys):
    post_webhook(channel, fixture_bytes("scalar", "mixed_batch"))
    call_command("process_events")
    assert capsys.readouterr().out.strip() == "3 events: 1 processed, 1 ignored, 1 failed"
    call_command("process_events")
    assert capsys.readouterr().out.strip() == "0 events: 0 processed, 0 ignored, 0 failed"


def test_limit_stops_the_drain_early(channel, post_webhook):
    post_webhook(channel, fixture_bytes("scalar", "mixed_batch"))
    assert process_due_events(limit=2).total() == 2
    assert process_due_events().total() == 1


def test_an_attempt_is_counted_when_claimed(channel, post_webhook):
    post_webhook(channel, SENT)
    [event_id] = INBOUND_QUEUE.claim(size=10)
    event = InboundEvent.objects.get(id=event_id)
    assert (event.state, event.attempts) == ("pending", 1)
    assert event.next_attempt_at > timezone.now() + timedelta(minutes=4)  # leased


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
        assert INBOUND_QUEUE.claim(size=10) == [second]  # no waiting on the locked row
    finally:
        release.set()
        thread.join()
    # The claim leased the second event: it is not due again until the lease runs out.
    assert INBOUND_QUEUE.claim(size=10) == [first]
    assert INBOUND_QUEUE.claim(size=10) == []
    with time_machine.travel(timezone.now() + INBOUND_QUEUE.lease + timedelta(seconds=1)):
        assert sorted(INBOUND_QUEUE.claim(size=10)) == [first, second]


CRASHING_WORKER = Path(__file__).parent / "crashing_worker.py"


@pytest.mark.django_db(transaction=True)
def test_an_event_that_kills_its_worker_is_given_up_after_the_last_attempt(
    channel, post_webhook, settings
):
    """A real worker process dies (SIGKILL) in the middle of the event, every time."""
    settings.INBOUND_MAX_ATTEMPTS = 2
    post_webhook(channel, SENT)
    event = InboundEvent.objects.get()
    environment = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "INBOUND_MAX_ATTEMPTS": "2",
    }

    for attempt in (1, 2):
        worker = subprocess.run(  # noqa: S603 - our own script
            [sys.executable, str(CRASHING_WORKER)],
            env=environment,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert worker.returncode == -9, worker.stderr.decode()[-2000:]
        event.refresh_from_db()
        assert (event.state, event.attempts) == ("pending", attempt)  # died mid-event
        # The lease runs out (without waiting five minutes for it).
        InboundEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())

    # The third claim finds the attempts used up: the event is given up, not run again.
    assert process_due_events() == {"failed": 1}
    event.refresh_from_db()
    assert (event.state, event.attempts, event.next_attempt_at) == ("failed", 3, None)
    assert event.error.startswith("gave up after 2 attempts")
    assert not Message.objects.exists()


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_wake_ups_asked_together_are_one_publish_and_none_is_lost():
    waker = wakeup.Waker("inbox.tasks.process_inbound_events")
    for _ in range(50):
        waker.request()  # returns at once: the request path never waits for the broker
    assert waker.flush()
    first = waker.published
    assert 1 <= first <= 3
    waker.request()  # asked after a publish: served by another one
    assert waker.flush()
    assert waker.published == first + 1
