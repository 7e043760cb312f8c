"""Comapi end to end: signed socket frames and webhook envelopes -> stored events -> rows.

Socket frames normally reach the inbox through the websocket listener; here they are posted to the
webhook like envelopes, which the connector accepts in both shapes, so one path covers both.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from inbox.models import (
    Attachment,
    Conversation,
    InboundEvent,
    Message,
    MessageStatusEvent,
    Participant,
    Recipient,
)
from inbox.services import typing_in
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes, fixture_json
from tests.platforms.security import WebhookSecurityTests

pytestmark = pytest.mark.django_db

SETTINGS = {"profile_id": "desk.agent.07"}
AGENT = "desk.agent.07"
CUSTOMER = "lukas.mueller"
CONVERSATION = "f0a8c3d1-2e7b-4c95-9a14-6b3e8d2f7c50"
OTHER_CONVERSATION = "7c2e9f40-b6d1-4a85-93e7-0d5a8c1f6b29"
SOCKET_MESSAGE = "a73e19c4-5d82-4b0f-9c6a-2e8d41f7b305"
IMAGE_MESSAGE = "4c9b2e71-08fa-4d3c-b6e5-7a1f93d0c842"
WEBHOOK_INBOUND = "6a2d9f7c-e3b1-4085-9c4a-d7e0b1f63a28"
WEBHOOK_OUTBOUND = "d2f6a8b0-3c1e-4957-8e4d-b90c25a7f163"
BATCH_MESSAGE = "0e8c5a3b-f7d1-4926-a4b0-3c9e6d1f8a57"
LABEL_URL = (
    "https://api.comapi.com/apispaces/e41b7c20-93d5-4a6f-b8e2-1f7a0c9d3b56"
    "/content/3e9a71c0/label.png"
)
ROLES = {
    "owner": {"canSend": True, "canAddParticipants": True, "canRemoveParticipants": True},
    "participant": {"canSend": True, "canAddParticipants": False, "canRemoveParticipants": False},
}


def at(moment: str) -> datetime:
    """A 2026 instant written as ``MM-DDTHH:MM:SS.fff`` (UTC)."""
    return datetime.fromisoformat(f"2026-{moment}+00:00").astimezone(UTC)


class TestComapiWebhookSecurity(WebhookSecurityTests):
    platform = "comapi"
    sample = "webhook_conversationMessage.sent_outbound"
    non_ascii_sample = "webhook_conversationMessage.sent"
    settings = SETTINGS


@pytest.fixture
def channel():
    return ChannelFactory(platform="comapi", settings=dict(SETTINGS))


@pytest.fixture
def other_channel():
    return ChannelFactory(platform="comapi", settings=dict(SETTINGS))


@pytest.fixture
def deliver(channel, post_webhook, process):
    """Post fixtures (in this order) to a channel's webhook, then run the pipeline."""

    def deliver(*names: str, to=None):
        for name in names:
            response = post_webhook(to or channel, fixture_bytes("comapi", name))
            assert response.status_code == 202
        return process()

    return deliver


def no_rows_but_events() -> bool:
    return not (
        Conversation.objects.exists()
        or Participant.objects.exists()
        or Message.objects.exists()
        or MessageStatusEvent.objects.exists()
    )


# --- conversations -----------------------------------------------------------------------------


def test_conversation_update_sets_title_and_platform_state(deliver):
    counts = deliver("ws_conversation.update")

    assert counts["processed"] == 1
    conversation = Conversation.objects.get()
    assert conversation.external_id == CONVERSATION
    assert conversation.kind == "direct"
    assert conversation.title == "Returns: Lukas Müller"
    assert conversation.status == "open"
    assert conversation.platform_state == {
        "description": "Wrong size delivered - order 88314",
        "isPublic": False,
        "roles": ROLES,
    }
    assert conversation.state_at == at("03-09T10:12:41.306")
    assert conversation.status_at is None
    assert conversation.last_message is None
    assert not conversation.participants.exists()
    event = InboundEvent.objects.get()
    assert (event.event_name, event.dedup_key, event.source, event.state) == (
        "conversation.update",
        "0b5e2c7a-91f4-4d38-a6b1-3f8e7d2c9a04",
        "webhook",
        "processed",
    )


def test_conversation_create_webhook_sets_title_and_platform_state(deliver):
    deliver("webhook_conversation.create")

    conversation = Conversation.objects.get()
    assert conversation.external_id == CONVERSATION
    assert conversation.title == "Returns: Lukas Müller"
    assert conversation.platform_state == {
        "description": "Wrong size delivered - order 88314",
        "isPublic": False,
        "roles": ROLES,
    }
    assert conversation.state_at == at("03-09T10:02:17.480")
    assert conversation.status == "open"
    assert InboundEvent.objects.get().state == "processed"


def test_older_conversation_snapshots_do_not_overwrite_a_newer_one(deliver):
    deliver(
        "ws_conversation.update_renamed", "ws_conversation.update", "webhook_conversation.create"
    )

    conversation = Conversation.objects.get()
    assert conversation.title == "Exchange agreed: Lukas Müller"
    assert conversation.platform_state["description"] == "Swap size M for L in the Köln store"
    assert conversation.state_at == at("03-09T11:30:12.774")
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}


def test_conversation_snapshots_in_order_end_in_the_same_state(deliver):
    deliver(
        "webhook_conversation.create", "ws_conversation.update", "ws_conversation.update_renamed"
    )

    conversation = Conversation.objects.get()
    assert conversation.title == "Exchange agreed: Lukas Müller"
    assert conversation.platform_state["description"] == "Swap size M for L in the Köln store"
    assert conversation.state_at == at("03-09T11:30:12.774")


def test_delete_marks_the_conversation_deleted_at_the_platform_date(deliver):
    deliver("ws_conversation.delete")

    conversation = Conversation.objects.get()
    assert conversation.external_id == CONVERSATION
    assert conversation.status == "deleted"
    assert conversation.status_at == at("03-12T16:45:02.118")  # payload.date, not publishedOn
    assert (conversation.title, conversation.state_at) == ("", None)


def test_undelete_reopens_a_deleted_conversation(deliver):
    deliver("ws_conversation.delete", "ws_conversation.undelete")

    conversation = Conversation.objects.get()
    assert conversation.status == "open"
    assert conversation.status_at == at("03-12T17:03:55.870")


def test_older_delete_arriving_after_a_newer_undelete_does_not_delete(deliver):
    deliver("ws_conversation.undelete", "ws_conversation.delete")

    conversation = Conversation.objects.get()
    assert conversation.status == "open"
    assert conversation.status_at == at("03-12T17:03:55.870")
    assert list(InboundEvent.objects.values_list("state", flat=True)) == ["processed"] * 2


def test_status_and_title_are_guarded_by_their_own_times(deliver):
    # The delete (12 March) is newer than the update (9 March), yet the title still applies.
    deliver("ws_conversation.delete", "ws_conversation.update")

    conversation = Conversation.objects.get()
    assert conversation.status == "deleted"
    assert conversation.status_at == at("03-12T16:45:02.118")
    assert conversation.title == "Returns: Lukas Müller"
    assert conversation.state_at == at("03-09T10:12:41.306")


# --- participants ------------------------------------------------------------------------------


def test_participant_added_joins_the_conversation(deliver):
    deliver("ws_conversation.participantAdded")

    participant = Participant.objects.select_related("conversation").get()
    assert participant.conversation.external_id == CONVERSATION
    assert (participant.address, participant.role, participant.name) == (AGENT, "owner", "")
    assert participant.is_present is True
    assert participant.joined_at == at("03-09T10:02:17.554")
    assert participant.left_at is None
    assert participant.changed_at == at("03-09T10:02:17.554")


def test_participant_removed_leaves_the_conversation(deliver):
    deliver("ws_conversation.participantAdded_customer", "ws_conversation.participantRemoved")

    participant = Participant.objects.get(address=CUSTOMER)
    assert participant.role == "participant"
    assert participant.is_present is False
    assert participant.joined_at == at("03-09T10:02:17.603")
    assert participant.left_at == at("03-12T16:40:29.017")
    assert participant.changed_at == at("03-12T16:40:29.017")


def test_older_add_arriving_after_a_newer_remove_is_ignored(deliver):
    deliver("ws_conversation.participantRemoved", "ws_conversation.participantAdded_customer")

    participant = Participant.objects.get(address=CUSTOMER)
    assert participant.is_present is False
    assert participant.left_at == at("03-12T16:40:29.017")
    assert participant.changed_at == at("03-12T16:40:29.017")
    assert list(InboundEvent.objects.values_list("state", flat=True)) == ["processed"] * 2


def test_join_and_leave_times_do_not_depend_on_arrival_order(deliver, channel, other_channel):
    added, removed = (
        "ws_conversation.participantAdded_customer",
        "ws_conversation.participantRemoved",
    )
    deliver(added, removed, to=channel)
    deliver(removed, added, to=other_channel)

    def seen(on):
        row = Participant.objects.get(conversation__channel=on, address=CUSTOMER)
        return (row.is_present, row.joined_at, row.left_at, row.role)

    assert seen(other_channel) == seen(channel)


# --- typing ------------------------------------------------------------------------------------


# Typing is shown for a few seconds after it happened; the tests live at the fixtures' time.
TYPING_TIME = "2026-03-09T10:14:10Z"


@time_machine.travel(TYPING_TIME, tick=False)
def test_typing_shows_the_typist_until_typing_off_and_stores_no_rows(deliver, channel):
    # typing_in only needs the conversation's key; typing alone must not create the row.
    conversation = Conversation(channel=channel, external_id=CONVERSATION)

    assert deliver("ws_conversation.participantTyping")["processed"] == 1
    assert typing_in(conversation=conversation) == [CUSTOMER]
    assert no_rows_but_events()

    assert deliver("ws_conversation.participantTypingOff")["processed"] == 1
    assert typing_in(conversation=conversation) == []
    assert no_rows_but_events()
    assert InboundEvent.objects.count() == 2


def test_typing_from_long_ago_is_not_shown(deliver, channel):
    deliver("ws_conversation.participantTyping")  # a replayed backlog from March
    assert typing_in(conversation=Conversation(channel=channel, external_id=CONVERSATION)) == []


@time_machine.travel(TYPING_TIME, tick=False)
def test_typing_in_a_known_conversation_changes_none_of_its_rows(deliver):
    deliver("ws_conversationMessage.sent")
    conversation = Conversation.objects.get()

    deliver("ws_conversation.participantTyping")
    assert typing_in(conversation=conversation) == [CUSTOMER]
    deliver("ws_conversation.participantTypingOff")
    assert typing_in(conversation=conversation) == []

    assert (Conversation.objects.count(), Participant.objects.count()) == (1, 1)
    assert (Message.objects.count(), MessageStatusEvent.objects.count()) == (1, 1)


@time_machine.travel(TYPING_TIME, tick=False)
def test_older_typing_arriving_after_typing_off_does_not_show_the_typist(deliver, channel):
    deliver("ws_conversation.participantTypingOff", "ws_conversation.participantTyping")

    conversation = Conversation(channel=channel, external_id=CONVERSATION)
    assert typing_in(conversation=conversation) == []


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
    conversation = message.conversation
    assert (conversation.external_id, conversation.kind) == (CONVERSATION, "direct")
    assert conversation.last_message == message
    assert conversation.last_activity_at == at("03-09T10:14:11.639")
    assert [p.address for p in conversation.participants.all()] == [CUSTOMER]
    assert not message.attachments.exists()
    assert not message.recipients.exists()
    observed = MessageStatusEvent.objects.get()
    assert (observed.message, observed.status, observed.participant, observed.at) == (
        message,
        "sent",
        "",
        at("03-09T10:14:11.639"),
    )
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
    assert (attachment.caption, attachment.preview, attachment.state) == ("", "", "pending")


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


def test_webhook_outbound_flag_is_enough_without_a_profile_setting(post_webhook, process):
    channel = ChannelFactory(platform="comapi", settings={})
    raw = fixture_bytes("comapi", "webhook_conversationMessage.sent_outbound")
    assert post_webhook(channel, raw).status_code == 202
    process()

    assert Message.objects.get().direction == "out"


def test_socket_frame_direction_follows_the_channel_profile(post_webhook, process):
    # Seen from the customer's own API space, the customer's message is the outbound one.
    channel = ChannelFactory(platform="comapi", settings={"profile_id": CUSTOMER})
    raw = fixture_bytes("comapi", "ws_conversationMessage.sent")
    assert post_webhook(channel, raw).status_code == 202
    process()

    assert Message.objects.get().direction == "out"


def test_messages_are_ordered_by_conversation_event_id_whatever_the_arrival(deliver):
    deliver(
        "webhook_conversationMessage.sent_outbound",
        "ws_conversationMessage.sent_image",
        "ws_conversationMessage.sent",
        "webhook_conversationMessage.sent",
    )

    conversation = Conversation.objects.get()
    assert list(conversation.messages.values_list("sequence", flat=True)) == [11, 12, 15, 16]
    assert conversation.last_message.external_id == WEBHOOK_OUTBOUND
    assert conversation.last_activity_at == at("03-09T10:23:05.447")
    assert {p.address: p.name for p in conversation.participants.all()} == {
        CUSTOMER: "Lukas Müller",
        AGENT: "Nadia (Support)",
    }


def test_duplicate_socket_frame_stores_one_event_and_one_message(deliver):
    deliver("ws_conversationMessage.sent")
    counts = deliver("ws_conversationMessage.sent")

    assert counts.total() == 0  # nothing new to process
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1
    assert MessageStatusEvent.objects.count() == 1
    assert Participant.objects.count() == 1


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
    history = message.status_events.values_list("status", "participant", "at")
    assert list(history) == [
        ("sent", "", at("03-09T10:14:11.639")),
        ("delivered", AGENT, at("03-09T10:14:12.048")),
        ("read", AGENT, at("03-09T10:16:30.552")),
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
    assert (waiting.message, waiting.message_external_id, waiting.status) == (
        None,
        SOCKET_MESSAGE,
        "read",
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


def test_webhook_batch_stores_one_event_per_envelope(channel, post_webhook, process):
    response = post_webhook(channel, fixture_bytes("comapi", "webhook_batch"))
    assert response.status_code == 202
    assert response.json()["events"] == 3

    assert process()["processed"] == 3
    stored = InboundEvent.objects.values_list("event_name", "dedup_key", "state")
    assert list(stored) == [
        ("conversationMessage.sent", "d4b1f8e2-5c3a-4a07-9e6d-8b2f0c7a1e95", "processed"),
        ("conversationMessage.delivered", "19e6c3a7-8b4d-4f20-a1e5-d0b7f9c2e683", "processed"),
        ("conversationMessage.read", "7a0d4e9b-c2f6-4831-b7a9-5e3c1f8d2b40", "processed"),
    ]
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

    assert InboundEvent.objects.count() == 3
    assert Message.objects.count() == 1
    assert MessageStatusEvent.objects.count() == 3
    assert Recipient.objects.count() == 1


# --- profiles ----------------------------------------------------------------------------------


def test_profile_update_renames_the_participant_everywhere_on_the_channel(
    deliver, channel, other_channel
):
    deliver("ws_conversationMessage.sent", "ws_conversationMessage.sent_other_conversation")
    deliver("ws_conversationMessage.sent", to=other_channel)

    assert deliver("ws_profile.update")["processed"] == 1

    renamed = Participant.objects.filter(conversation__channel=channel, address=CUSTOMER)
    assert sorted(renamed.values_list("conversation__external_id", "name")) == sorted(
        [
            (CONVERSATION, "Lukas Müller-Brandt"),
            (OTHER_CONVERSATION, "Lukas Müller-Brandt"),
        ]
    )
    elsewhere = Participant.objects.get(conversation__channel=other_channel, address=CUSTOMER)
    assert elsewhere.name == "Lukas Müller"  # another channel's identity is not ours to rename


def test_profile_update_survives_an_older_message_arriving_after_it(deliver):
    deliver("ws_conversationMessage.sent", "ws_profile.update")
    # A message sent on 9 March, before the 10 March rename, is delivered late.
    deliver("ws_conversationMessage.sent_image")

    assert Participant.objects.get(address=CUSTOMER).name == "Lukas Müller-Brandt"


# --- ignored and malformed ---------------------------------------------------------------------


def test_socket_greeting_is_ignored_and_stored_once(deliver):
    deliver("ws_socket.info", "ws_socket.info")

    event = InboundEvent.objects.get()
    assert (event.event_name, event.state, event.error) == ("socket.info", "ignored", "")
    assert event.dedup_key.startswith("sha256:")  # the greeting has no eventId
    assert no_rows_but_events()


def test_unknown_event_name_is_ignored(deliver):
    deliver("ws_unknown")

    event = InboundEvent.objects.get()
    assert (event.event_name, event.state) == ("conversation.participantUpdated", "ignored")
    assert event.next_attempt_at is None
    assert no_rows_but_events()


def test_message_without_an_id_fails_without_a_retry(channel, post_webhook, process):
    frame = fixture_json("comapi", "ws_conversationMessage.sent")
    del frame["payload"]["messageId"]
    assert post_webhook(channel, frame).status_code == 202

    assert process()["failed"] == 1
    event = InboundEvent.objects.get()
    assert event.state == "failed"
    assert event.error == "unreadable payload: message id is missing (looked for messageId, id)"
    assert (event.attempts, event.next_attempt_at) == (1, None)
    assert process().total() == 0  # not due again
    assert no_rows_but_events()


def test_non_object_item_in_a_batch_fails_alone(channel, post_webhook, process):
    batch = [*fixture_json("comapi", "webhook_batch")[:1], "not an envelope"]
    response = post_webhook(channel, batch)
    assert (response.status_code, response.json()["events"]) == (202, 2)

    counts = process()
    assert (counts["processed"], counts["failed"]) == (1, 1)
    failed = InboundEvent.objects.get(state="failed")
    assert failed.event_name == "invalid"
    assert failed.error == "unreadable payload: expected an event object, got str"
    assert failed.next_attempt_at is None
    assert Message.objects.get().external_id == BATCH_MESSAGE


def test_body_that_is_neither_envelope_nor_array_is_refused_and_kept(channel, post_webhook):
    response = post_webhook(channel, b'"ping"')

    assert response.status_code == 400
    event = InboundEvent.objects.get()
    assert (event.state, event.payload, event.next_attempt_at) == ("failed", None, None)
    assert bytes(event.raw_body) == b'"ping"'
    assert "expected an event object or a list of them" in event.error
