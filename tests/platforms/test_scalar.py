"""SCALAR webhooks end to end: signed batch -> stored events -> rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inbox.models import Conversation, InboundEvent, Message, MessageStatusEvent
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes
from tests.platforms.security import WebhookSecurityTests

pytestmark = pytest.mark.django_db

TRAILER = "ebe4996e-8646-44c5-8f70-785f11dc74ae"
DETOUR = "58d843d6-89f8-4ad2-a099-19a72841f9d7"
DRIVER_1 = "c1e55947-f24f-4cc1-9f63-60644f15cbde"
DRIVER_2 = "8ef46216-cc61-44b3-98f2-689263888db4"
COLLEAGUE = "8a589c79-0f09-4630-957a-bb3966f6f155"


def at(clock: str) -> datetime:
    return datetime.fromisoformat(f"2026-05-12T{clock}+00:00").astimezone(UTC)


class TestScalarWebhookSecurity(WebhookSecurityTests):
    platform = "scalar"
    sample = "chat_message_sent"
    non_ascii_sample = "unknown_status"


@pytest.fixture
def channel():
    return ChannelFactory(platform="scalar")


@pytest.fixture
def deliver(channel, post_webhook, process):
    def deliver(*names: str) -> None:
        for name in names:
            assert post_webhook(channel, fixture_bytes("scalar", name)).status_code == 202
        process()

    return deliver


def test_sent_message_creates_conversation_message_and_recipient(deliver):
    deliver("chat_message_sent")

    message = Message.objects.select_related("conversation", "sender").get()
    assert message.external_id == TRAILER
    assert message.direction == "out"  # a back-office User is us
    assert message.text.startswith("Trailer 4711 is ready at dock 3")
    assert (message.content_kind, message.status) == ("text", "sent")
    assert message.sent_at == at("06:14:51")
    assert message.sender.role == "User"
    conversation = message.conversation
    assert conversation.kind == "direct"
    assert conversation.participants.count() == 2
    assert conversation.last_message == message
    assert [r.address for r in message.recipients.all()] == ["33af2322-880a-4358-8a3e-0196124387b8"]


def test_both_event_names_of_one_event_are_stored_once(deliver):
    deliver("chat_message_sent", "chat_messaging_message_sent")
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


def test_delivered_snapshot_moves_the_status_forward(deliver):
    deliver("chat_message_sent", "chat_message_delivered")

    message = Message.objects.get()
    assert message.status == "delivered"
    recipient = message.recipients.get()
    assert (recipient.status, recipient.delivered_at) == ("delivered", at("06:15:07"))
    assert message.sent_at == at("06:14:51")  # a later snapshot does not move the send time


def test_seen_before_delivered_never_goes_back(deliver):
    deliver("chat_message_seen", "chat_message_delivered", "chat_message_sent")

    message = Message.objects.get()
    assert message.status == "read"
    recipient = message.recipients.get()
    assert recipient.status == "read"
    assert recipient.read_at is not None
    assert recipient.delivered_at is not None


def test_lost_sent_event_is_repaired_by_a_later_snapshot(deliver):
    deliver("chat_message_delivered")
    message = Message.objects.get()
    assert message.text.startswith("Trailer 4711")
    assert message.status == "delivered"


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


def test_recalled_message_is_kept_and_marked(deliver):
    deliver("chat_message_recalled")
    message = Message.objects.get()
    assert message.recalled_at is not None
    assert message.text  # the row and its text stay


def test_reply_is_linked_to_its_original_whichever_arrives_first(deliver):
    deliver("chat_image_reply")
    reply = Message.objects.get()
    assert reply.reply_to is None
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
    assert MessageStatusEvent.objects.filter(status="Escalated").count() == 1


def test_mixed_batch_stores_every_item_and_a_bad_item_fails_alone(channel, post_webhook, process):
    response = post_webhook(channel, fixture_bytes("scalar", "mixed_batch"))
    assert response.status_code == 202
    assert response.json()["events"] == 3

    counts = process()
    assert (counts["processed"], counts["ignored"], counts["failed"]) == (1, 1, 1)
    failed = InboundEvent.objects.get(state="failed")
    assert "unreadable payload" in failed.error
    assert failed.next_attempt_at is None  # retrying cannot fix a malformed item
    assert Message.objects.count() == 1
    assert Conversation.objects.count() == 1
