"""LivePerson deliveries end to end: batches, duplicates, ignored and malformed changes.

What the way in keeps (the request whole, one event per change), what it stores once, and how
a change it cannot read fails alone, for good, with the reason.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from inbox.inbound.wakeup import wake_workers
from inbox.models import (
    Conversation,
    InboundEvent,
    InboundRequest,
    Message,
    MessageStatusEvent,
    Participant,
    Recipient,
)
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes, fixture_json
from tests.platforms.test_liveperson import (
    AGENT,
    CONSUMER,
    CONV,
    MESSAGING,
    PLATFORM,
    at,
    first_change,
    message_id,
    notification,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel():
    return ChannelFactory(platform=PLATFORM)


# --- several changes in one notification ------------------------------------------------------


def test_notification_with_several_changes_stores_one_event_per_change(
    channel, post_webhook, process
):
    raw = fixture_bytes(PLATFORM, "mixed_batch")
    document = json.loads(raw)

    response = post_webhook(channel, raw)

    assert response.status_code == 202
    assert response.json() == {"detail": "accepted", "events": 3}
    request = InboundRequest.objects.get()
    assert (bytes(request.body), request.item_count) == (raw, 3)
    events = list(InboundEvent.objects.order_by("id"))
    assert [e.event_name for e in events] == [
        f"{MESSAGING}.ContentEvent",
        f"{MESSAGING}.AcceptStatusEvent",
        f"{MESSAGING}.ChatStateEvent",
    ]
    assert [e.dedup_key for e in events[:2]] == [
        f"ms:{CONV}:9:ContentEvent",
        f"ms:{CONV}:10:AcceptStatusEvent",
    ]
    assert [e.payload for e in events] == document["body"]["changes"]
    envelope = {
        "kind": "notification",
        "type": MESSAGING,
        "body": {"subscriptionId": "e41f7a90-3c2b-4d85-a6e7-5b09c8d1f234", "sentTs": 1773307362412},
    }
    assert all(e.envelope == envelope and e.request == request for e in events)

    assert process() == {"processed": 3}

    message = Message.objects.get()
    assert message.external_id == message_id(9)
    assert (message.direction, message.status) == ("in", "read")
    assert message.text == "Die Erstattung ist veranlasst. Kann ich sonst noch etwas tun?"
    recipient = message.recipients.get()
    assert (recipient.address, recipient.status) == (CONSUMER, "read")
    assert recipient.read_at == at("09:22:42.190")
    # The receipt for sequence 8 waits for its message ...
    waiting = MessageStatusEvent.objects.get(message_external_id=message_id(8))
    assert (waiting.message, waiting.step, waiting.participant) == (None, "read", CONSUMER)

    # ... and applies when it comes.
    assert post_webhook(channel, fixture_bytes(PLATFORM, "rich_content_card")).status_code == 202
    process()
    card = Message.objects.get(external_id=message_id(8))
    assert card.status == "read"
    assert card.recipients.get().read_at == at("09:22:42.190")


def test_change_redelivered_in_another_batch_is_stored_once(deliver):
    deliver("mixed_batch")
    retried = notification("mixed_batch", first_change("mixed_batch"))
    retried["body"]["sentTs"] = 1773307421007  # a retry carries a new envelope time

    deliver(retried)

    assert InboundRequest.objects.count() == 2  # both deliveries are kept ...
    assert InboundEvent.objects.count() == 3  # ... but the change is one event
    assert Message.objects.count() == 1
    assert list(
        MessageStatusEvent.objects.filter(message_external_id=message_id(9)).values_list(
            "step", flat=True
        )
    ) == ["sent", "read"]


def test_duplicate_delivery_is_stored_and_applied_once(channel, post_webhook, process):
    raw = fixture_bytes(PLATFORM, "content_text_from_agent")
    assert post_webhook(channel, raw).status_code == 202
    assert post_webhook(channel, raw).status_code == 202
    process()
    assert post_webhook(channel, raw).status_code == 202
    assert process() == {}

    assert InboundRequest.objects.count() == 1
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1
    assert MessageStatusEvent.objects.count() == 1
    assert Participant.objects.count() == 1


@pytest.mark.parametrize("new_envelope_each_time", [False, True], ids=["same-bytes", "new-sentTs"])
def test_fifty_identical_chat_states_without_a_time_are_one_event_queued_once(
    new_envelope_each_time, channel, post_webhook, process, django_capture_on_commit_callbacks
):
    document = fixture_json(PLATFORM, "chat_state_pause")
    assert "serverTimestamp" not in document["body"]["changes"][0]

    with django_capture_on_commit_callbacks() as queued:
        for attempt in range(50):
            if new_envelope_each_time:
                document["body"]["sentTs"] = 1773307400000 + attempt  # how retries differ
            assert post_webhook(channel, document).status_code == 202

    assert queued == [wake_workers]  # only the first delivery asked for processing
    assert InboundRequest.objects.count() == (50 if new_envelope_each_time else 1)
    event = InboundEvent.objects.get()
    assert event.payload == document["body"]["changes"][0]
    assert process() == {"processed": 1}
    assert process() == {}


# --- ignored and malformed --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "event_name"),
    [
        ("unknown_event_type", f"{MESSAGING}.ConversationMetadataEvent"),
        ("unknown_notification_type", "routing.RoutingTaskNotification"),
    ],
)
def test_unknown_but_authentic_events_are_ignored(name, event_name, deliver):
    deliver(name)

    event = InboundEvent.objects.get()
    assert (event.event_name, event.state, event.error) == (event_name, "ignored", "")
    assert event.next_attempt_at is None
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()
    assert not MessageStatusEvent.objects.exists()


@pytest.mark.parametrize(
    ("name", "path", "error"),
    [
        ("content_text_from_agent", ("sequence",), "change.sequence is missing"),
        (
            "content_hosted_file",
            ("event", "message", "relativePath"),
            "change.event.message.relativePath is missing",
        ),
        ("accept_status_read", ("event", "sequenceList"), "change.event.sequenceList is missing"),
        ("cqm_created", ("result", "convId"), "change.result.convId is missing"),
    ],
)
def test_malformed_change_fails_for_good_without_retry(name, path, error, deliver, process):
    change = first_change(name)
    target = change
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]

    deliver(notification(name, change))

    event = InboundEvent.objects.get()
    assert event.state == "failed"
    assert event.error == f"unreadable payload: {error}"
    assert (event.attempts, event.next_attempt_at) == (1, None)
    assert event.payload == change  # kept as sent, for replay after a fix
    assert process() == {}  # nothing is due again
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()
    assert not Recipient.objects.exists()
    assert not MessageStatusEvent.objects.exists()


def unreadable_sequence() -> dict[str, Any]:
    change = first_change("content_text_from_agent")
    change["sequence"] = "later"
    return change


@pytest.mark.parametrize(
    ("bad", "event_name", "error"),
    [
        (
            unreadable_sequence(),
            f"{MESSAGING}.ContentEvent",
            "change.sequence is not an integer: 'later'",
        ),
        ("oops", "invalid", "change is missing or not an object (got a string)"),
    ],
    ids=["unreadable-sequence", "not-an-object"],
)
def test_one_bad_change_fails_alone_and_the_others_of_its_delivery_apply(
    bad, event_name, error, channel, post_webhook, process
):
    consumer_text = first_change("content_text_from_consumer")
    receipt = first_change("accept_status_accept")  # the agent received sequences 0 and 1
    document = notification("mixed_batch", consumer_text, bad, receipt)

    response = post_webhook(channel, document)

    assert response.status_code == 202
    assert response.json() == {"detail": "accepted", "events": 3}
    assert process() == {"processed": 2, "failed": 1}
    failed = InboundEvent.objects.get(state="failed")
    assert (failed.event_name, failed.payload) == (event_name, bad)
    assert failed.error == f"unreadable payload: {error}"
    assert failed.next_attempt_at is None
    assert set(InboundEvent.objects.exclude(pk=failed.pk).values_list("state", flat=True)) == {
        "processed"
    }
    message = Message.objects.get()
    assert (message.external_id, message.status) == (message_id(0), "delivered")
    assert message.recipients.get().address == AGENT


def test_change_that_cannot_be_stored_as_json_fails_alone_at_once(channel, post_webhook, process):
    nul = first_change("content_text_from_agent")
    nul["event"]["message"] = "Guten\u0000Morgen"  # PostgreSQL's JSON cannot hold NUL
    document = notification("mixed_batch", first_change("content_text_from_consumer"), nul)
    raw = json.dumps(document).encode()

    assert post_webhook(channel, raw).status_code == 202

    assert bytes(InboundRequest.objects.get().body) == raw  # the request still holds it
    failed = InboundEvent.objects.get(dedup_key=f"ms:{CONV}:4:ContentEvent")
    assert (failed.state, failed.payload, failed.next_attempt_at) == ("failed", None, None)
    assert failed.error == "item cannot be stored as JSON: a string contains \\u0000"
    assert process() == {"processed": 1}
    assert Message.objects.get().external_id == message_id(0)


@pytest.mark.parametrize(
    ("name", "key", "error"),
    [
        ("content_text_from_agent", "sequence", "change.sequence"),
        ("accept_status_read", "sequenceList", "change.event.sequenceList[0]"),
    ],
)
def test_sequence_beyond_64_bits_fails_for_good_naming_the_sequence(
    name, key, error, channel, post_webhook, process
):
    change = first_change(name)
    if key == "sequence":
        change["sequence"] = 10**30
    else:
        change["event"]["sequenceList"] = [10**30]
    body = json.dumps(notification(name, change)).encode()
    assert b"1000000000000000000000000000000" in body  # a JSON integer, not a float or string

    assert post_webhook(channel, body).status_code == 202
    assert process() == {"failed": 1}

    event = InboundEvent.objects.get()
    assert event.state == "failed"
    assert event.error == f"unreadable payload: {error} is out of range: {10**30}"
    assert (event.attempts, event.next_attempt_at) == (1, None)
    assert process() == {}  # not retried
    assert not Message.objects.exists()
    assert not MessageStatusEvent.objects.exists()


def test_authentic_body_that_is_no_notification_is_answered_400_and_kept(
    channel, post_webhook, process
):
    raw = b'{"kind": "notification", "body": {"changes": {"sequence": 1}}}'

    response = post_webhook(channel, raw)

    assert response.status_code == 400
    request = InboundRequest.objects.get()
    assert bytes(request.body) == raw
    assert request.item_count == 0
    assert request.error == "not a valid liveperson document: notification.type is missing"
    assert not InboundEvent.objects.exists()
    assert process() == {}
