"""SCALAR webhooks end to end: signed batch -> stored request and events -> rows."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from inbox.models import Conversation, InboundEvent, InboundRequest, Message, MessageStatusEvent
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes, fixture_json
from tests.platforms.security import WebhookSecurityTests

pytestmark = pytest.mark.django_db

PLATFORM = "scalar"
SECRET = "secret-current"  # the factory's current webhook secret
DISPATCHER = "6378b144-b6d2-405a-8785-946c8f3867b4"
DRIVER = "33af2322-880a-4358-8a3e-0196124387b8"
TRAILER = "ebe4996e-8646-44c5-8f70-785f11dc74ae"
PHOTO = "281c8a18-e459-4af2-b728-446b1722b715"
DETOUR = "58d843d6-89f8-4ad2-a099-19a72841f9d7"
DRIVER_1 = "c1e55947-f24f-4cc1-9f63-60644f15cbde"
DRIVER_2 = "8ef46216-cc61-44b3-98f2-689263888db4"
COLLEAGUE = "8a589c79-0f09-4630-957a-bb3966f6f155"
BATCH_FIELDS = ("eventBatchId", "eventSubscriptionId", "eventBatchTime")


def at(clock: str) -> datetime:
    return datetime.fromisoformat(f"2026-05-12T{clock}+00:00").astimezone(UTC)


def digest(body: bytes, secret: str = SECRET) -> bytes:
    """HMAC-SHA256 of the raw body with the subscription's secret, as SCALAR documents it."""
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def first_item(name: str) -> dict[str, Any]:
    return fixture_json(PLATFORM, name)["eventsData"][0]


def batch(*items: dict[str, Any], like: str = "chat_message_sent") -> dict[str, Any]:
    """The batch fields of fixture ``like`` around ``items``."""
    document = fixture_json(PLATFORM, like)
    document["eventsData"] = list(items)
    return document


class TestScalarWebhookSecurity(WebhookSecurityTests):
    platform = PLATFORM
    sample = "chat_message_sent"
    non_ascii_sample = "unknown_status"  # umlauts and emoji

    def signed(self, body: bytes, secret: str) -> dict[str, str]:
        return {"X-SCALAR-Signature": "sha256=" + digest(body, secret).hex()}


@pytest.fixture
def channel():
    return ChannelFactory(platform=PLATFORM)


@pytest.fixture
def deliver(channel, post_webhook, process):
    def deliver(*names: str) -> None:
        for name in names:
            assert post_webhook(channel, fixture_bytes(PLATFORM, name)).status_code == 202
        process()

    return deliver


# --- signatures ------------------------------------------------------------------------------

ENCODINGS = {
    "lowercase-hex": lambda raw: raw.hex(),
    "uppercase-hex": lambda raw: raw.hex().upper(),
    "base64": lambda raw: base64.b64encode(raw).decode(),
}


@pytest.mark.parametrize("prefix", ["sha256=", ""], ids=["prefixed", "bare"])
@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("header", ["X-SCALAR-Signature", "X-Webhook-Signature"])
def test_signature_is_accepted_in_either_header_and_either_encoding(
    channel, post_webhook, header, encoding, prefix
):
    body = fixture_bytes(PLATFORM, "chat_message_sent")
    signature = prefix + ENCODINGS[encoding](digest(body))

    response = post_webhook(channel, body, headers={header: signature})

    assert response.status_code == 202
    assert bytes(InboundRequest.objects.get().body) == body
    assert InboundEvent.objects.get().state == "pending"


def test_base64_signature_is_compared_case_sensitively(channel, post_webhook):
    body = fixture_bytes(PLATFORM, "chat_message_sent")
    signature = base64.b64encode(digest(body)).decode()
    assert signature.swapcase() != signature

    response = post_webhook(channel, body, headers={"X-SCALAR-Signature": signature.swapcase()})

    assert response.status_code == 401
    assert not InboundRequest.objects.exists()


def test_sha1_signature_is_rejected(channel, post_webhook):
    body = fixture_bytes(PLATFORM, "chat_message_sent")
    sha1 = hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()

    response = post_webhook(channel, body, headers={"X-SCALAR-Signature": f"sha1={sha1}"})

    assert response.status_code == 401
    assert not InboundRequest.objects.exists()


# --- storing ---------------------------------------------------------------------------------


def test_request_is_kept_whole_and_each_item_stored_as_sent(channel, post_webhook):
    raw = fixture_bytes(PLATFORM, "mixed_batch")
    document = json.loads(raw)

    response = post_webhook(channel, raw)

    assert response.status_code == 202
    assert response.json()["events"] == 3
    request = InboundRequest.objects.get()
    assert bytes(request.body) == raw
    assert (request.source, request.item_count, request.error) == ("webhook", 3, "")
    assert request.headers["Content-Type"] == "application/json"
    assert not any("signature" in name.lower() for name in request.headers)
    events = list(InboundEvent.objects.order_by("id"))
    assert [e.payload for e in events] == document["eventsData"]
    assert [e.event_name for e in events] == [
        "message.delivered",
        "vehicle.position.updated",
        "message.sent",
    ]
    envelope = {name: document[name] for name in BATCH_FIELDS}
    assert all(e.envelope == envelope for e in events)
    assert all(e.request == request for e in events)


def test_same_batch_posted_twice_is_one_request_and_its_events_once(channel, post_webhook, process):
    raw = fixture_bytes(PLATFORM, "mixed_batch")
    assert post_webhook(channel, raw).status_code == 202
    assert post_webhook(channel, raw).status_code == 202

    assert InboundRequest.objects.count() == 1
    assert InboundEvent.objects.count() == 3
    assert process().total() == 3
    statuses = MessageStatusEvent.objects.count()

    # A redelivery after processing queues nothing again.
    assert post_webhook(channel, raw).status_code == 202
    assert process().total() == 0
    assert InboundRequest.objects.count() == 1
    assert InboundEvent.objects.count() == 3
    assert Message.objects.count() == 1
    assert MessageStatusEvent.objects.count() == statuses


def test_both_event_names_of_one_event_are_stored_once(deliver):
    deliver("chat_message_sent", "chat_messaging_message_sent")

    assert InboundRequest.objects.count() == 2  # two deliveries, kept whole
    assert InboundEvent.objects.count() == 1  # of one event
    assert Message.objects.count() == 1


# Items the stored JSON cannot hold, written into the raw body by hand: (field, JSON text, what
# the error says).
POISONS = {
    "nul-escape": ("content", '"Tor 3 \\u0000 offen"', "\\u0000"),
    "lone-surrogate": ("content", '"Tor 3 \\ud800 offen"', "lone surrogate"),
    "NaN": ("eventVersion", "NaN", "NaN, Infinity or out of range"),
    "Infinity": ("eventVersion", "Infinity", "NaN, Infinity or out of range"),
    "-Infinity": ("eventVersion", "-Infinity", "NaN, Infinity or out of range"),
    "1e400": ("eventVersion", "1e400", "NaN, Infinity or out of range"),
    # Valid JSON (RFC 8259 sets no limit) that Python's json cannot read back.
    "5000-digit-integer": ("eventVersion", "1" + "0" * 5000, "integer"),
}
POISONED = "0b7d6c1e-4f2a-4e59-9a3c-5d8e7f6a1b20"
PLACEHOLDER = "@@POISON@@"


def poisoned_batch(field: str, token: str) -> bytes:
    """Three message events; the middle one holds ``token`` (raw JSON text) at ``field``."""
    bad = copy.deepcopy(first_item("chat_message_sent"))
    bad["eventData"]["messageId"] = POISONED
    if field == "content":
        bad["eventData"]["content"] = PLACEHOLDER
    else:
        bad[field] = PLACEHOLDER
    document = batch(first_item("chat_message_sent"), bad, first_item("chat_image_reply"))
    text = json.dumps(document, indent=2).replace(f'"{PLACEHOLDER}"', token)
    assert token in text
    return text.encode("utf-8")


@pytest.mark.parametrize(
    "kind",
    list(POISONS),
)
def test_item_json_cannot_store_fails_alone_and_the_batch_is_kept(
    channel, post_webhook, process, kind
):
    field, token, reason = POISONS[kind]
    raw = poisoned_batch(field, token)

    response = post_webhook(channel, raw)

    assert response.status_code == 202
    assert response.json()["events"] == 3
    request = InboundRequest.objects.get()
    assert bytes(request.body) == raw  # the poisoned item is still in the bytes
    assert (request.item_count, request.error) == (3, "")
    bad = InboundEvent.objects.get(state="failed")
    assert bad.payload is None
    assert bad.envelope == {}
    assert bad.event_name == "message.sent"
    assert bad.request == request
    assert "cannot be stored as JSON" in bad.error
    assert reason in bad.error
    assert bad.next_attempt_at is None  # failed for good

    counts = process()

    assert (counts["processed"], counts["failed"]) == (2, 0)
    assert set(Message.objects.values_list("external_id", flat=True)) == {TRAILER, PHOTO}
    assert Message.objects.get(external_id=PHOTO).reply_to.external_id == TRAILER
    assert InboundEvent.objects.get(pk=bad.pk).state == "failed"


@pytest.mark.parametrize("depth", [100, 5000])
def test_body_nested_too_deep_is_kept_with_the_reason_and_refused(channel, post_webhook, depth):
    raw = b"[" * depth + b"]" * depth
    signature = "sha256=" + digest(raw).hex()

    response = post_webhook(channel, raw, headers={"X-SCALAR-Signature": signature})

    assert response.status_code == 400
    assert "nested deeper than" in response.json()["detail"]
    request = InboundRequest.objects.get()
    assert bytes(request.body) == raw
    assert "nested deeper than" in request.error
    assert request.item_count == 0
    assert not InboundEvent.objects.exists()


def test_body_that_is_not_a_batch_is_kept_with_the_reason_and_refused(channel, post_webhook):
    raw = b'{"eventBatchId": "b2fbc6d7", "events": []}'

    response = post_webhook(channel, raw)

    assert response.status_code == 400
    request = InboundRequest.objects.get()
    assert bytes(request.body) == raw
    assert "eventsData" in request.error
    assert not InboundEvent.objects.exists()


# --- processing ------------------------------------------------------------------------------


def test_sent_message_creates_conversation_message_and_recipient(deliver):
    deliver("chat_message_sent")

    message = Message.objects.select_related("conversation", "sender").get()
    assert message.external_id == TRAILER
    assert message.direction == "out"  # a back-office User is us
    assert message.text.startswith("Trailer 4711 is ready at dock 3")
    assert (message.content_kind, message.status) == ("text", "sent")
    assert message.sent_at == at("06:14:51")
    assert (message.sender.address, message.sender.role) == (DISPATCHER, "User")
    assert message.position == 1
    conversation = message.conversation
    assert conversation.external_id == f"{DISPATCHER}:{DRIVER}"
    assert conversation.kind == "direct"
    assert set(conversation.participants.values_list("address", flat=True)) == {
        DISPATCHER,
        DRIVER,
    }
    assert conversation.last_message == message
    assert conversation.last_activity_at == at("06:14:51")
    assert [r.address for r in message.recipients.all()] == [DRIVER]
    step = MessageStatusEvent.objects.get()
    assert (step.step, step.flag, step.at, step.message) == ("sent", "", at("06:14:51"), message)
    assert InboundEvent.objects.get().state == "processed"


def test_delivered_snapshot_moves_the_status_forward(deliver):
    deliver("chat_message_sent", "chat_message_delivered")

    message = Message.objects.get()
    assert message.status == "delivered"
    recipient = message.recipients.get()
    assert (recipient.status, recipient.delivered_at) == ("delivered", at("06:15:07"))
    assert message.sent_at == at("06:14:51")  # a later snapshot does not move the send time
    assert set(message.status_events.values_list("step", "at")) == {
        ("sent", at("06:14:51")),
        ("delivered", at("06:15:07")),
    }


def test_seen_before_delivered_never_goes_back(deliver):
    deliver("chat_message_seen", "chat_message_delivered", "chat_message_sent")

    message = Message.objects.get()
    assert message.status == "read"
    recipient = message.recipients.get()
    assert recipient.status == "read"
    assert recipient.read_at is not None
    assert recipient.delivered_at is not None
    assert recipient.delivered_at <= recipient.read_at


def test_lost_sent_event_is_repaired_by_a_later_snapshot(deliver):
    deliver("chat_message_delivered")

    message = Message.objects.get()
    assert message.text.startswith("Trailer 4711")
    assert message.status == "delivered"
    assert message.sent_at == at("06:14:51")  # from the Pending step in the history


def test_groupchat_flags_belong_to_the_participant_who_set_them(deliver):
    deliver(
        "groupchat_message_sent",
        "groupchat_message_treated",
        "groupchat_message_driver_seen",
        "groupchat_message_delivered",
    )

    message = Message.objects.get(external_id=DETOUR)
    assert message.conversation.kind == "group"
    assert message.status == "delivered"
    recipients = {r.address: r for r in message.recipients.all()}
    assert set(recipients) == {DRIVER_1, DRIVER_2, COLLEAGUE}
    assert set(recipients[DRIVER_1].flags) == {"DriverSeen", "Treated"}
    assert recipients[DRIVER_2].flags == {}
    assert recipients[COLLEAGUE].flags == {}
    assert all(r.status == "delivered" for r in recipients.values())
    flags = MessageStatusEvent.objects.exclude(flag="")
    assert set(flags.values_list("flag", "step", "participant")) == {
        ("DriverSeen", "", DRIVER_1),
        ("Treated", "", DRIVER_1),
    }


def test_recalled_message_is_kept_and_marked(deliver):
    deliver("chat_message_recalled")

    message = Message.objects.get()
    assert message.recalled_at is not None
    assert message.text  # the row and its text stay
    assert message.status_events.filter(step="recalled").exists()


def test_reply_is_linked_to_its_original_whichever_arrives_first(deliver):
    deliver("chat_image_reply")
    reply = Message.objects.get()
    assert reply.reply_to is None
    assert reply.reply_to_external_id == TRAILER
    assert reply.content_kind == "file"
    assert reply.direction == "in"

    deliver("chat_message_sent")
    reply.refresh_from_db()
    assert reply.reply_to.external_id == TRAILER


def test_unknown_status_is_kept_as_a_flag_without_failing(deliver):
    deliver("unknown_status")

    message = Message.objects.get()
    assert "Würzburg" in message.text
    flags = {r.address: r.flags for r in message.recipients.all()}
    assert "Escalated" in flags[COLLEAGUE]
    escalated = MessageStatusEvent.objects.get(flag="Escalated")
    assert (escalated.step, escalated.participant) == ("", COLLEAGUE)
    assert message.status == "delivered"  # a flag is not a step
    assert InboundEvent.objects.get().state == "processed"


def test_mixed_batch_stores_every_item_and_a_bad_item_fails_alone(channel, post_webhook, process):
    response = post_webhook(channel, fixture_bytes(PLATFORM, "mixed_batch"))
    assert response.status_code == 202
    assert response.json()["events"] == 3

    counts = process()

    assert (counts["processed"], counts["ignored"], counts["failed"]) == (1, 1, 1)
    assert InboundEvent.objects.get(state="ignored").event_name == "vehicle.position.updated"
    failed = InboundEvent.objects.get(state="failed")
    assert "unreadable payload" in failed.error
    assert "eventData" in failed.error
    assert failed.next_attempt_at is None  # retrying cannot fix a malformed item
    assert Message.objects.get().external_id == PHOTO
    assert Conversation.objects.count() == 1


FAR_FUTURE = "9999-12-31T23:59:59-01:00"  # year 10000 once in UTC


@pytest.mark.parametrize("where", ["history entry", "lastUpdatedAt", "registeredOn"])
def test_timestamp_past_year_9999_fails_for_good_and_is_not_retried(
    channel, post_webhook, process, where
):
    assert post_webhook(channel, fixture_bytes(PLATFORM, "chat_message_sent")).status_code == 202
    process()
    item = first_item("chat_message_delivered")
    data = item["eventData"]
    if where == "history entry":
        data["statusHistory"]["events"][1]["timestamp"] = FAR_FUTURE
    elif where == "lastUpdatedAt":
        data["statusHistory"]["lastUpdatedAt"] = FAR_FUTURE
    else:
        data["registeredOn"] = FAR_FUTURE

    assert post_webhook(channel, batch(item, like="chat_message_delivered")).status_code == 202
    counts = process()

    assert counts["failed"] == 1
    event = InboundEvent.objects.get(event_name="message.delivered")
    assert event.state == "failed"
    assert "not a timestamp" in event.error
    assert event.next_attempt_at is None
    assert event.attempts == 1
    assert process().total() == 0  # never claimed again
    event.refresh_from_db()
    assert (event.state, event.attempts) == ("failed", 1)
    # Nothing of the failed snapshot was applied.
    message = Message.objects.get()
    assert message.status == "sent"
    assert not MessageStatusEvent.objects.filter(inbound_event=event).exists()
