"""Comapi end to end, messages: signed socket frames and webhook envelopes (single or batched)
-> stored requests and events -> messages, attachments, recipients and the status history.

Socket frames normally reach the inbox through the websocket listener; here they are posted to the
webhook like envelopes, which the connector accepts in both shapes, so one path covers both.
"""

from __future__ import annotations

import pytest

from inbox.models import (
    Attachment,
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
from tests.platforms.test_comapi import (
    AGENT,
    CONVERSATION,
    CUSTOMER,
    SETTINGS,
    at,
    no_rows_but_events,
)

pytestmark = pytest.mark.django_db

SOCKET_MESSAGE = "a73e19c4-5d82-4b0f-9c6a-2e8d41f7b305"
IMAGE_MESSAGE = "4c9b2e71-08fa-4d3c-b6e5-7a1f93d0c842"
WEBHOOK_INBOUND = "6a2d9f7c-e3b1-4085-9c4a-d7e0b1f63a28"
WEBHOOK_OUTBOUND = "d2f6a8b0-3c1e-4957-8e4d-b90c25a7f163"
BATCH_MESSAGE = "0e8c5a3b-f7d1-4926-a4b0-3c9e6d1f8a57"
LABEL_URL = (
    "https://api.comapi.com/apispaces/e41b7c20-93d5-4a6f-b8e2-1f7a0c9d3b56"
    "/content/3e9a71c0/label.png"
)


@pytest.fixture
def channel():
    return ChannelFactory(platform="comapi", settings=dict(SETTINGS))


# --- messages ----------------------------------------------------------------------------------


def test_socket_message_from_the_customer_is_stored_inbound(deliver):
    deliver("ws_conversationMessage.sent")

    message = Message.objects.select_related("conversation", "sender").get()
    assert message.external_id == SOCKET_MESSAGE
    assert message.direction == "in"
    assert message.text == "Grüße! The jacket is size L, I ordered M 😕"
    assert (message.subject, message.content_kind, message.audience) == ("", "text", "all")
    assert message.sequence == 11
    assert message.sent_at == at("03-09T10:14:11.639")
    assert message.status == "sent"
    assert message.content == fixture_json("comapi", "ws_conversationMessage.sent")["payload"]
    assert (message.reply_to, message.recalled_at, message.client_id) == (None, None, None)
    assert (message.sender.address, message.sender.name) == (CUSTOMER, "Lukas Müller")
    assert message.position == 1
    conversation = message.conversation
    assert (conversation.external_id, conversation.kind) == (CONVERSATION, "direct")
    assert conversation.last_message == message
    assert conversation.last_activity_at == at("03-09T10:14:11.639")
    assert conversation.last_position == 1
    assert [p.address for p in conversation.participants.all()] == [CUSTOMER]
    assert not message.attachments.exists()
    assert not message.recipients.exists()
    observed = MessageStatusEvent.objects.get()
    assert (observed.message, observed.step, observed.flag, observed.participant) == (
        message,
        "sent",
        "",
        "",
    )
    assert observed.at == at("03-09T10:14:11.639")
    assert observed.inbound_event == InboundEvent.objects.get()


def test_socket_message_with_a_url_part_stores_an_attachment(deliver):
    deliver("ws_conversationMessage.sent_image")

    message = Message.objects.get()
    assert message.external_id == IMAGE_MESSAGE
    assert message.text == "Here is the size label"
    assert (message.content_kind, message.direction, message.sequence) == ("text", "in", 12)
    assert message.sent_at == at("03-09T10:15:48.205")
    attachment = Attachment.objects.get()
    assert attachment.message == message
    assert attachment.external_id == LABEL_URL
    assert attachment.url == LABEL_URL
    assert (attachment.filename, attachment.mime_type, attachment.size) == (
        "label.png",
        "image/png",
        96512,
    )
    assert (attachment.caption, attachment.preview, attachment.note) == ("", "", "")
    assert attachment.state == "pending"


def test_webhook_message_from_the_customer_is_stored_inbound(deliver):
    deliver("webhook_conversationMessage.sent")

    message = Message.objects.select_related("conversation", "sender").get()
    assert message.external_id == WEBHOOK_INBOUND
    assert message.conversation.external_id == CONVERSATION
    assert message.direction == "in"
    assert message.text == "Can I swap it in the Köln store? 🙏"
    assert (message.content_kind, message.status) == ("text", "sent")
    assert message.sequence == 15  # payload.conversationEventId
    assert message.sent_at == at("03-09T10:21:37.018")
    assert (message.sender.address, message.sender.name) == (CUSTOMER, "Lukas Müller")


def test_webhook_message_from_our_profile_is_stored_outbound(deliver):
    deliver("webhook_conversationMessage.sent_outbound")

    message = Message.objects.select_related("sender").get()
    assert message.external_id == WEBHOOK_OUTBOUND
    assert message.direction == "out"
    assert message.text == "Yes, any store can exchange it."
    assert message.sequence == 16
    assert message.sent_at == at("03-09T10:23:05.447")
    assert (message.sender.address, message.sender.name) == (AGENT, "Nadia (Support)")


def test_messages_are_ordered_by_conversation_event_id_whatever_the_arrival(deliver):
    deliver(
        "webhook_conversationMessage.sent_outbound",
        "ws_conversationMessage.sent_image",
        "ws_conversationMessage.sent",
        "webhook_conversationMessage.sent",
    )

    conversation = Conversation.objects.get()
    assert list(conversation.messages.values_list("sequence", flat=True)) == [11, 12, 15, 16]
    # Positions count arrivals (for unread counts), whatever the platform order.
    positions = conversation.messages.values_list("sequence", "position")
    assert dict(positions) == {16: 1, 12: 2, 11: 3, 15: 4}
    assert conversation.last_position == 4
    assert conversation.last_message.external_id == WEBHOOK_OUTBOUND
    assert conversation.last_activity_at == at("03-09T10:23:05.447")
    assert {p.address: p.name for p in conversation.participants.all()} == {
        CUSTOMER: "Lukas Müller",
        AGENT: "Nadia (Support)",
    }


def test_duplicate_socket_frame_stores_one_request_one_event_and_one_message(deliver):
    deliver("ws_conversationMessage.sent")
    counts = deliver("ws_conversationMessage.sent")

    assert counts.total() == 0  # nothing new to process
    assert InboundRequest.objects.count() == 1
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1
    assert MessageStatusEvent.objects.count() == 1
    assert Participant.objects.count() == 1


# --- direction ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("webhook_conversationMessage.sent_outbound", "out"),  # payload.direction
        ("webhook_conversationMessage.sent_context_direction", "out"),  # payload.context.direction
        ("webhook_conversationMessage.sent_context_inbound", "in"),
        ("webhook_conversationMessage.sent", "in"),
    ],
)
def test_webhook_direction_word_is_enough_without_a_profile_setting(
    post_webhook, process, name, direction
):
    channel = ChannelFactory(platform="comapi", settings={})
    assert post_webhook(channel, fixture_bytes("comapi", name)).status_code == 202
    assert process()["processed"] == 1

    message = Message.objects.get()
    assert message.external_id == fixture_json("comapi", name)["payload"]["id"]
    assert message.direction == direction


def test_socket_frame_direction_follows_the_channel_profile(post_webhook, process):
    # Seen from the customer's own API space, the customer's message is the outbound one.
    channel = ChannelFactory(platform="comapi", settings={"profile_id": CUSTOMER})
    raw = fixture_bytes("comapi", "ws_conversationMessage.sent")
    assert post_webhook(channel, raw).status_code == 202
    process()

    assert Message.objects.get().direction == "out"


# --- delivery receipts -------------------------------------------------------------------------


def test_delivered_then_read_moves_message_and_recipient_forward(deliver):
    deliver("ws_conversationMessage.sent", "ws_conversationMessage.delivered")

    message = Message.objects.get()
    assert message.status == "delivered"
    recipient = Recipient.objects.get()
    assert (recipient.message, recipient.address) == (message, AGENT)
    assert (recipient.status, recipient.delivered_at, recipient.read_at) == (
        "delivered",
        at("03-09T10:14:12.048"),
        None,
    )
    assert recipient.flags == {}

    deliver("ws_conversationMessage.read")

    message.refresh_from_db()
    recipient.refresh_from_db()
    assert message.status == "read"
    assert recipient.status == "read"
    assert recipient.delivered_at == at("03-09T10:14:12.048")
    assert recipient.read_at == at("03-09T10:16:30.552")
    history = message.status_events.values_list("step", "flag", "participant", "at")
    assert list(history) == [
        ("sent", "", "", at("03-09T10:14:11.639")),
        ("delivered", "", AGENT, at("03-09T10:14:12.048")),
        ("read", "", AGENT, at("03-09T10:16:30.552")),
    ]


def test_read_is_never_downgraded_by_a_later_delivered(deliver):
    deliver(
        "ws_conversationMessage.sent",
        "ws_conversationMessage.read",
        "ws_conversationMessage.delivered",
    )

    message = Message.objects.get()
    assert message.status == "read"
    recipient = message.recipients.get()
    assert recipient.status == "read"
    assert recipient.read_at == at("03-09T10:16:30.552")
    assert recipient.delivered_at == at("03-09T10:14:12.048")
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}


def test_read_receipt_before_its_message_applies_once_the_message_arrives(deliver):
    deliver("ws_conversationMessage.read")

    assert not Message.objects.exists()
    waiting = MessageStatusEvent.objects.get()
    assert (waiting.message, waiting.message_external_id, waiting.step, waiting.participant) == (
        None,
        SOCKET_MESSAGE,
        "read",
        AGENT,
    )
    assert InboundEvent.objects.get().state == "processed"

    deliver("ws_conversationMessage.sent")

    message = Message.objects.get()
    assert message.status == "read"
    recipient = message.recipients.get()
    assert (recipient.address, recipient.status) == (AGENT, "read")
    assert recipient.read_at == at("03-09T10:16:30.552")
    assert recipient.delivered_at == at("03-09T10:16:30.552")  # read implies delivered
    waiting.refresh_from_db()
    assert waiting.message == message


# --- webhook batches ---------------------------------------------------------------------------


def test_webhook_batch_is_one_request_with_one_event_per_envelope(channel, post_webhook, process):
    raw = fixture_bytes("comapi", "webhook_batch")
    response = post_webhook(channel, raw)
    assert response.status_code == 202
    assert response.json()["events"] == 3

    request = InboundRequest.objects.get()
    assert (bytes(request.body), request.item_count, request.error) == (raw, 3, "")
    assert process()["processed"] == 3
    stored = InboundEvent.objects.values_list("event_name", "dedup_key", "state")
    assert list(stored) == [
        ("conversationMessage.sent", "d4b1f8e2-5c3a-4a07-9e6d-8b2f0c7a1e95", "processed"),
        ("conversationMessage.delivered", "19e6c3a7-8b4d-4f20-a1e5-d0b7f9c2e683", "processed"),
        ("conversationMessage.read", "7a0d4e9b-c2f6-4831-b7a9-5e3c1f8d2b40", "processed"),
    ]
    # Each event holds its own envelope exactly as sent, and points at the request.
    events = InboundEvent.objects.all()
    assert [event.payload for event in events] == fixture_json("comapi", "webhook_batch")
    assert {(event.request_id, tuple(event.envelope)) for event in events} == {(request.pk, ())}
    message = Message.objects.select_related("sender").get()
    assert message.external_id == BATCH_MESSAGE
    assert (message.direction, message.sequence, message.status) == ("out", 17, "read")
    assert message.text == "Your exchange voucher: EX-20931"
    assert message.sender.address == AGENT
    recipient = message.recipients.get()
    assert recipient.address == CUSTOMER
    assert recipient.delivered_at == at("03-09T10:24:41.882")
    assert recipient.read_at == at("03-09T10:26:13.705")


def test_reposting_the_batch_stores_nothing_new(channel, post_webhook, process):
    raw = fixture_bytes("comapi", "webhook_batch")
    assert post_webhook(channel, raw).status_code == 202
    process()

    assert post_webhook(channel, raw).status_code == 202
    assert process().total() == 0

    assert InboundRequest.objects.count() == 1
    assert InboundEvent.objects.count() == 3
    assert Message.objects.count() == 1
    assert MessageStatusEvent.objects.count() == 3
    assert Recipient.objects.count() == 1


NUL_ITEM = "01c31b58-df81-427a-95d2-fcf49181bee9"
NAN_ITEM = "58c882be-8551-4fcc-bcb7-f7eaed857fff"


@pytest.mark.parametrize(
    ("name", "replace", "bad_event_id", "reason", "receipt"),
    [
        pytest.param(
            # A text part holding U+0000, written as the JSON escape in the raw body.
            "webhook_batch_nul",
            None,
            NUL_ITEM,
            "a string contains \\u0000",
            "read",
            id="nul-escape",
        ),
        pytest.param(
            "webhook_batch_nul",
            (b"\\u0000", b"\\ud83d"),  # half of an emoji's surrogate pair
            NUL_ITEM,
            "a string contains a lone surrogate",
            "read",
            id="lone-surrogate",
        ),
        pytest.param(
            # A part size written as the bare token NaN, which JSON does not have.
            "webhook_batch_nan",
            None,
            NAN_ITEM,
            "the number nan (NaN, Infinity or out of range) is not JSON",
            "delivered",
            id="nan",
        ),
        pytest.param(
            "webhook_batch_nan",
            (b"NaN", b"-Infinity"),
            NAN_ITEM,
            "the number -inf (NaN, Infinity or out of range) is not JSON",
            "delivered",
            id="minus-infinity",
        ),
        pytest.param(
            "webhook_batch_nan",
            (b"NaN", b"1e400"),  # a valid JSON number that no double can hold
            NAN_ITEM,
            "the number inf (NaN, Infinity or out of range) is not JSON",
            "delivered",
            id="out-of-range",
        ),
    ],
)
def test_batch_item_that_cannot_be_stored_fails_alone_and_the_others_apply(
    channel, post_webhook, process, name, replace, bad_event_id, reason, receipt
):
    raw = fixture_bytes("comapi", name)
    if replace:
        assert raw.count(replace[0]) == 1
        raw = raw.replace(*replace)
    response = post_webhook(channel, raw)

    assert (response.status_code, response.json()["events"]) == (202, 3)
    request = InboundRequest.objects.get()
    assert (bytes(request.body), request.item_count, request.error) == (raw, 3, "")
    bad = InboundEvent.objects.get(state="failed")
    assert (bad.event_name, bad.dedup_key, bad.request) == (
        "conversationMessage.sent",
        bad_event_id,
        request,
    )
    assert bad.error == f"item cannot be stored as JSON: {reason}"
    assert (bad.payload, bad.envelope, bad.next_attempt_at) == (None, {}, None)

    counts = process()
    assert (counts["processed"], counts.total()) == (2, 2)  # the bad item is not retried
    message = Message.objects.get()  # only the good message
    assert (message.external_id, message.status) == (BATCH_MESSAGE, receipt)
    assert message.recipients.get().status == receipt
    assert InboundEvent.objects.get(pk=bad.pk).state == "failed"


def test_non_object_item_in_a_batch_fails_alone(channel, post_webhook, process):
    batch = [*fixture_json("comapi", "webhook_batch")[:1], "not an envelope"]
    response = post_webhook(channel, batch)
    assert (response.status_code, response.json()["events"]) == (202, 2)

    counts = process()
    assert (counts["processed"], counts["failed"]) == (1, 1)
    failed = InboundEvent.objects.get(state="failed")
    assert (failed.event_name, failed.payload) == ("invalid", "not an envelope")
    assert failed.error == "unreadable payload: event is missing or not an object (got a string)"
    assert failed.next_attempt_at is None
    assert Message.objects.get().external_id == BATCH_MESSAGE


# --- malformed ---------------------------------------------------------------------------------


def test_message_without_an_id_fails_without_a_retry(channel, post_webhook, process):
    frame = fixture_json("comapi", "ws_conversationMessage.sent")
    del frame["payload"]["messageId"]
    assert post_webhook(channel, frame).status_code == 202

    assert process()["failed"] == 1
    event = InboundEvent.objects.get()
    assert event.state == "failed"
    assert event.error == (
        "unreadable payload: event.payload.messageId|event.payload.id is missing or not an id "
        "(got null)"
    )
    assert (event.attempts, event.next_attempt_at) == (1, None)
    assert event.payload == frame  # kept as sent, for a replay after a fix
    assert process().total() == 0  # not due again
    assert no_rows_but_events()
