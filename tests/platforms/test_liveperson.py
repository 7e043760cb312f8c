"""LivePerson webhooks end to end: signed notification -> stored request and events -> rows.

Signatures and messaging events (content, receipts, typing) live here; batches, duplicates and
malformed changes in ``test_liveperson_delivery.py``; conversation snapshots, dialogs and
participants in ``test_liveperson_conversations.py``. The helpers here are shared by both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

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
from inbox.services import typing_in
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes, fixture_json
from tests.platforms.security import WebhookSecurityTests

pytestmark = pytest.mark.django_db

PLATFORM = "liveperson"
CONV = "7c1e4b52-93a0-4d2f-b8e6-1f0a5c2d9e31"
CONSUMER = "9d4b7e21c0f35a8e6b12d97c4f0a3e58b6d2c19f7a4e0b83d5c6f21e9a07b4d3"
AGENT = "3f9a2c17-6b4e-5d81-9e0c-a2b7d4f6c813"
FILE_PATH = (
    "/v1/AUTH_async-images/73820514/"
    "9d4b7e21c0f35a8e6b12d97c4f0a3e58b6d2c19f7a4e0b83d5c6f21e9a07b4d3"
    "_uuid_5e2c8a41-7d93-4b06-a1f8-3c9e0d47b215_12-03-2026_09-14-40-977.PNG"
)
PREVIEW = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAMAAAADCAIAAADZSiLoAAAAEElEQVR4nGOQi1oA"
    "QQxYWACPNAnZUPWyDAAAAABJRU5ErkJggg=="
)
SIGNATURE = "X-LivePerson-Signature"
MESSAGING = "ms.MessagingEventNotification"
VECTORS = fixture_json(PLATFORM, "signature_vectors")


def at(clock: str, day: int = 12) -> datetime:
    """A platform time on 2026-03-<day>, e.g. ``at("09:14:05.880")``."""
    return datetime.fromisoformat(f"2026-03-{day:02d}T{clock}+00:00").astimezone(UTC)


def message_id(sequence: int, dialog: str = CONV) -> str:
    return f"{dialog}:{sequence}"


def first_change(name: str) -> dict[str, Any]:
    return fixture_json(PLATFORM, name)["body"]["changes"][0]


def notification(name: str, *changes: Any) -> dict[str, Any]:
    """The envelope of fixture ``name`` holding ``changes`` instead of its own."""
    document = fixture_json(PLATFORM, name)
    document["body"]["changes"] = list(changes)
    return document


def now_ms() -> int:
    return int(time.time() * 1000)


def lp_signature(body: bytes, secret: str, algorithm: str = "sha1") -> str:
    """The vendor's scheme: ``"sha1=" + base64(HMAC-SHA1(client_secret, raw body))``."""
    digest = hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).digest()
    return f"{algorithm}={base64.b64encode(digest).decode()}"


class TestLivePersonWebhookSecurity(WebhookSecurityTests):
    platform = PLATFORM
    sample = "content_text_from_agent"
    non_ascii_sample = "content_text_from_consumer"  # umlauts, an emoji and an em dash

    def signed(self, body: bytes, secret: str) -> dict[str, str]:
        return {SIGNATURE: lp_signature(body, secret)}


@pytest.fixture
def channel():
    return ChannelFactory(platform=PLATFORM)


# --- the published signature vectors ----------------------------------------------------------


@pytest.fixture
def vector_channel():
    return ChannelFactory(
        platform=PLATFORM,
        webhook_secrets=[VECTORS["client_secret"]],
        settings={"account_id": VECTORS["account_id"], "client_id": VECTORS["client_id"]},
    )


def vector_headers(signature: str) -> dict[str, str]:
    return {
        SIGNATURE: signature,
        "X-LivePerson-Account-Id": VECTORS["account_id"],
        "X-LivePerson-Client-Id": VECTORS["client_id"],
    }


def one_byte_changed(raw: bytes) -> bytes:
    """``raw`` with the "k" of its first key upper-cased: still JSON, other bytes."""
    position = raw.index(b'"kind"') + 1
    return raw[:position] + b"K" + raw[position + 1 :]


def test_our_own_signature_reproduces_the_published_vectors():
    for vector in VECTORS["vectors"]:
        assert (
            lp_signature(vector["body"].encode(), VECTORS["client_secret"]) == (vector["signature"])
        )


@pytest.mark.parametrize("index", range(len(VECTORS["vectors"])))
def test_published_vector_is_stored_whole_with_its_change_as_the_event(
    index, vector_channel, post_webhook
):
    vector = VECTORS["vectors"][index]
    raw = vector["body"].encode()
    document = json.loads(raw)

    response = post_webhook(vector_channel, raw, headers=vector_headers(vector["signature"]))

    assert response.status_code == 202
    request = InboundRequest.objects.get()
    assert (request.source, bytes(request.body), request.item_count, request.error) == (
        "webhook",
        raw,
        1,
        "",
    )
    # The signature is never kept; the ids of the account and the app are.
    assert request.headers == {
        "Content-Type": "application/json",
        "X-LivePerson-Account-Id": VECTORS["account_id"],
        "X-LivePerson-Client-Id": VECTORS["client_id"],
    }
    event = InboundEvent.objects.get()
    assert event.request == request
    assert event.payload == document["body"]["changes"][0]
    assert event.envelope == {"kind": "notification", "type": document["type"], "body": {}}
    assert event.state == "pending"


@pytest.mark.parametrize("index", range(len(VECTORS["vectors"])))
def test_published_vector_with_one_byte_changed_is_rejected(index, vector_channel, post_webhook):
    vector = VECTORS["vectors"][index]
    tampered = one_byte_changed(vector["body"].encode())
    assert json.loads(tampered)  # still a readable document: only the signature can reject it

    response = post_webhook(vector_channel, tampered, headers=vector_headers(vector["signature"]))

    assert response.status_code == 401
    assert not InboundRequest.objects.exists()
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("index", range(len(VECTORS["vectors"])))
def test_published_vector_signed_with_hmac_sha256_is_accepted(index, vector_channel, post_webhook):
    raw = VECTORS["vectors"][index]["body"].encode()
    signature = lp_signature(raw, VECTORS["client_secret"], "sha256")

    assert post_webhook(vector_channel, raw, headers=vector_headers(signature)).status_code == 202
    tampered = one_byte_changed(raw)
    assert (
        post_webhook(vector_channel, tampered, headers=vector_headers(signature)).status_code == 401
    )
    assert bytes(InboundRequest.objects.get().body) == raw
    assert InboundEvent.objects.count() == 1


def test_sha1_signature_presented_as_sha256_is_rejected(vector_channel, post_webhook):
    vector = VECTORS["vectors"][0]
    relabelled = vector["signature"].replace("sha1=", "sha256=")
    response = post_webhook(
        vector_channel, vector["body"].encode(), headers=vector_headers(relabelled)
    )
    assert response.status_code == 401
    assert not InboundRequest.objects.exists()


def test_published_vectors_are_processed_into_a_closed_conversation(
    vector_channel, post_webhook, process
):
    for vector in VECTORS["vectors"]:
        headers = vector_headers(vector["signature"])
        assert post_webhook(
            vector_channel, vector["body"].encode(), headers=headers
        ).status_code == (202)

    assert process() == {"processed": 2}
    conversation = Conversation.objects.get()
    assert conversation.external_id == "b8b83fe9-75f0-46f2-baaa-2930f7192cfb"
    assert conversation.status == "closed"
    assert conversation.platform_state["closeReason"] == "CONSUMER"
    roles = dict(conversation.participants.values_list("address", "role"))
    assert roles == {
        "52e05c00-d5e4-5823-acf7-62570b939a63": "CONTROLLER",
        "2969e404f3be1c8cdda63f0b72d205ab5afb3fe3e3d7d72ab58245f564fdfd91": "CONSUMER",
    }
    assert not Message.objects.exists()


# --- ContentEvent -----------------------------------------------------------------------------


def test_consumer_text_is_our_own_outbound_message(deliver):
    deliver("content_text_from_consumer")

    message = Message.objects.select_related("conversation", "sender").get()
    assert message.external_id == message_id(0)
    assert message.direction == "out"  # the inbox speaks for the consumer
    assert (
        message.text == "Grüße! Meine Märzrechnung wurde doppelt abgebucht 😕 — können Sie helfen?"
    )
    assert message.subject == ""
    assert (message.content_kind, message.audience) == ("text", "all")
    assert message.content == first_change("content_text_from_consumer")["event"]
    assert message.choices == []
    assert (message.sequence, message.position) == (0, 1)
    assert message.sent_at == at("09:14:05.880")
    assert message.status == "sent"
    assert (message.sender.address, message.sender.role) == (CONSUMER, "CONSUMER")
    assert not message.recipients.exists()
    assert not message.attachments.exists()

    conversation = message.conversation
    assert (conversation.external_id, conversation.kind, conversation.status) == (
        CONV,
        "direct",
        "open",
    )
    assert conversation.last_message == message
    assert conversation.last_activity_at == at("09:14:05.880")
    assert conversation.last_position == 1
    assert list(conversation.participants.values_list("address", flat=True)) == [CONSUMER]

    history = MessageStatusEvent.objects.get()
    assert (history.message, history.step, history.flag, history.participant, history.at) == (
        message,
        "sent",
        "",
        "",
        at("09:14:05.880"),
    )
    event = InboundEvent.objects.get()
    assert event.state == "processed"
    assert history.inbound_event == event
    assert bytes(event.request.body) == fixture_bytes(PLATFORM, "content_text_from_consumer")


def test_agent_text_is_inbound_from_the_assigned_agent(deliver):
    deliver("content_text_from_consumer", "content_text_from_agent")

    message = Message.objects.select_related("sender").get(external_id=message_id(4))
    assert message.direction == "in"
    assert message.text == "Guten Morgen! Ich sehe mir die Abbuchung gleich an."
    assert (message.content_kind, message.audience, message.sequence) == ("text", "all", 4)
    assert message.sent_at == at("09:16:02.744")
    assert (message.sender.address, message.sender.role) == (AGENT, "ASSIGNED_AGENT")

    conversation = Conversation.objects.get()
    assert conversation.last_message == message
    roles = dict(conversation.participants.values_list("address", "role"))
    assert roles == {CONSUMER: "CONSUMER", AGENT: "ASSIGNED_AGENT"}
    assert list(conversation.messages.values_list("sequence", "position")) == [(0, 1), (4, 2)]
    assert conversation.last_position == 2


def test_message_without_conversation_id_belongs_to_its_dialog(deliver):
    deliver("content_text_without_conversation_id")

    dialog = "a0d6e3f1-58b2-4c7e-9f14-6e2b8d0c3a97"
    message = Message.objects.select_related("conversation").get()
    assert message.conversation.external_id == dialog
    assert message.external_id == message_id(7, dialog)
    assert message.text == "Is the store on Linden Street open on Sunday?"
    assert message.direction == "out"
    assert message.sent_at == datetime(2026, 2, 27, 16, 41, 9, 512000, tzinfo=UTC)


def test_hosted_file_becomes_a_file_message_with_a_pending_attachment(deliver):
    deliver("content_hosted_file")

    message = Message.objects.get()
    assert message.external_id == message_id(1)
    assert (message.direction, message.content_kind, message.audience) == ("out", "file", "all")
    assert message.text == "Kontoauszug mit beiden Abbuchungen"  # the caption
    assert message.sent_at == at("09:14:41.017")
    assert message.content == first_change("content_hosted_file")["event"]

    attachment = Attachment.objects.get()
    assert attachment.message == message
    assert attachment.external_id == FILE_PATH
    assert attachment.url == FILE_PATH  # joined to the configured swift host, never fetched as is
    assert attachment.filename == FILE_PATH.rsplit("/", 1)[1]
    assert attachment.mime_type == "image/png"
    assert attachment.caption == "Kontoauszug mit beiden Abbuchungen"
    assert attachment.preview == PREVIEW
    assert attachment.size is None
    assert attachment.note == ""
    assert (attachment.state, bool(attachment.file)) == ("pending", False)


def test_redelivered_hosted_file_keeps_one_attachment(deliver):
    deliver("content_hosted_file", "content_hosted_file")
    assert InboundEvent.objects.count() == 1
    assert Attachment.objects.count() == 1


def test_secure_form_invitation_and_submission_are_form_messages(deliver):
    deliver("content_secure_form_invitation", "content_secure_form_submission")

    invitation = Message.objects.get(external_id=message_id(6))
    assert (invitation.direction, invitation.content_kind) == ("in", "form")
    assert invitation.text == "Bankverbindung für die Erstattung"
    assert invitation.content["message"]["invitationId"] == "f08c3d6e-41a7-4b2e-9d15-7a6b2e0c8f43"
    assert invitation.sent_at == at("09:17:12.300")

    submission = Message.objects.get(external_id=message_id(7))
    assert (submission.direction, submission.content_kind) == ("out", "form")
    assert submission.text == "Secure form submitted"
    assert submission.content["message"]["submissionId"] == "2b9e7f14-c6d0-4a38-85e1-d3a70f6b9c52"
    assert submission.sent_at == at("09:19:47.615")
    assert not Attachment.objects.exists()


def test_unknown_content_type_is_kept_raw_as_unsupported(deliver):
    deliver("content_unknown_content_type")

    message = Message.objects.get()
    assert message.external_id == message_id(11)
    assert (message.direction, message.content_kind, message.text) == ("in", "unsupported", "")
    assert message.content == first_change("content_unknown_content_type")["event"]
    assert message.content["message"]["label"] == "Kundencenter Alexanderplatz"
    assert InboundEvent.objects.get().state == "processed"


def test_private_agent_note_is_internal(deliver):
    deliver("content_private_note")

    message = Message.objects.get()
    assert message.external_id == message_id(5)
    assert (message.direction, message.content_kind, message.audience) == ("in", "text", "internal")
    assert message.text.startswith("Double charge confirmed in billing")
    assert message.sent_at == at("09:16:30.009")


def test_rich_content_keeps_the_card_and_shows_its_visible_strings(deliver):
    deliver("rich_content_card")

    message = Message.objects.get()
    assert message.external_id == message_id(8)
    assert (message.direction, message.content_kind, message.audience) == ("in", "rich", "all")
    assert message.text == (
        "Erstattung über 49,90 €\nGutschrift in 3 bis 5 Werktagen\n"
        "Status verfolgen\nPasst so\nRückfrage"
    )
    assert message.content == first_change("rich_content_card")["event"]
    assert message.sequence == 8
    assert message.sent_at == at("09:20:05.100")


def test_quick_replies_become_the_choices_and_the_content_keeps_the_event(deliver):
    deliver("content_quick_replies")

    message = Message.objects.get()
    assert message.external_id == message_id(13)
    assert (message.direction, message.content_kind, message.sequence) == ("in", "text", 13)
    assert message.text == "Wie möchten Sie die Erstattung erhalten?"
    # Each button's label, and what tapping it sends (its own label when it publishes nothing).
    assert message.choices == [
        {"title": "Überweisung", "text": "Bitte per Überweisung"},
        {"title": "Gutschrift", "text": "Bitte als Gutschrift"},
        {"title": "Weiß nicht", "text": "Weiß nicht"},
    ]
    change = first_change("content_quick_replies")
    assert message.content == {"metadata": change["metadata"], **change["event"]}
    assert message.content["quickReplies"] == change["event"]["quickReplies"]


def test_redelivered_quick_replies_keep_their_choices(deliver):
    deliver("content_quick_replies", "content_quick_replies")

    message = Message.objects.get()
    assert [choice["title"] for choice in message.choices] == [
        "Überweisung",
        "Gutschrift",
        "Weiß nicht",
    ]


def test_echo_of_our_own_sent_message_is_matched_to_the_outbound_row(channel, deliver):
    # What the send worker records once the Send API answered with the sequence.
    conversation = Conversation.objects.create(channel=channel, external_id=CONV, last_position=1)
    outbound = Message.objects.create(
        channel=channel,
        conversation=conversation,
        external_id=message_id(0),
        client_id="5b0f6a0e-2c1d-4f7e-9a53-8d2e61c4b7f0",
        direction="out",
        sent_at=at("09:14:05.700"),
        position=1,
        text="Grüße! Meine Märzrechnung wurde doppelt abgebucht 😕 — können Sie helfen?",
        status="sent",
    )

    deliver("content_text_from_consumer")

    message = Message.objects.get()
    assert message.pk == outbound.pk
    assert str(message.client_id) == "5b0f6a0e-2c1d-4f7e-9a53-8d2e61c4b7f0"
    assert message.direction == "out"
    assert message.position == 1
    assert message.sent_at == at("09:14:05.880")  # the platform's time wins
    assert message.sender.address == CONSUMER
    conversation.refresh_from_db()
    assert (conversation.last_position, conversation.last_message) == (1, message)


# --- AcceptStatusEvent ------------------------------------------------------------------------


def test_accept_marks_every_listed_sequence_delivered_to_the_agent(deliver):
    deliver("content_text_from_consumer", "content_hosted_file", "accept_status_accept")

    for sequence in (0, 1):
        message = Message.objects.get(external_id=message_id(sequence))
        assert message.status == "delivered"
        recipient = message.recipients.get()
        assert recipient.address == AGENT
        assert recipient.status == "delivered"
        assert recipient.delivered_at == at("09:15:32.550")
        assert recipient.read_at is None
        assert recipient.flags == {}
        assert list(message.status_events.values_list("step", "flag", "participant")) == [
            ("sent", "", ""),
            ("delivered", "", AGENT),
        ]
    assert Message.objects.count() == 2  # a receipt is no message
    assert not Participant.objects.filter(address=AGENT).exists()  # nor a participant


def test_read_marks_every_listed_sequence_read_by_the_agent(deliver):
    deliver(
        "content_text_from_consumer",
        "content_hosted_file",
        "accept_status_accept",
        "accept_status_read",
    )

    for sequence in (0, 1):
        message = Message.objects.get(external_id=message_id(sequence))
        assert message.status == "read"
        recipient = message.recipients.get()
        assert (recipient.address, recipient.status) == (AGENT, "read")
        assert recipient.delivered_at == at("09:15:32.550")
        assert recipient.read_at == at("09:15:40.118")
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}


def test_read_receipt_before_its_messages_applies_once_they_arrive(deliver):
    deliver("accept_status_read")

    assert not Message.objects.exists()
    waiting = MessageStatusEvent.objects.order_by("message_external_id")
    assert [(e.message_external_id, e.step, e.participant, e.message) for e in waiting] == [
        (message_id(0), "read", AGENT, None),
        (message_id(1), "read", AGENT, None),
    ]
    assert InboundEvent.objects.get().state == "processed"

    deliver("content_text_from_consumer", "content_hosted_file")

    for sequence in (0, 1):
        message = Message.objects.get(external_id=message_id(sequence))
        assert message.status == "read"
        recipient = message.recipients.get()
        assert (recipient.address, recipient.status) == (AGENT, "read")
        assert recipient.read_at == at("09:15:40.118")
        assert recipient.delivered_at == at("09:15:40.118")  # read implies delivered
    assert not MessageStatusEvent.objects.filter(message__isnull=True).exists()


def test_late_accept_never_moves_a_read_message_back(deliver):
    deliver("content_text_from_consumer", "accept_status_read", "accept_status_accept")

    message = Message.objects.get()
    assert message.status == "read"
    recipient = message.recipients.get()
    assert recipient.status == "read"
    assert recipient.delivered_at == at("09:15:32.550")  # the earlier ACCEPT still counts
    assert recipient.read_at == at("09:15:40.118")


def delivery_state(channel: Any) -> list[tuple[Any, ...]]:
    rows = []
    for message in Message.objects.filter(channel=channel).order_by("external_id"):
        rows.append((message.external_id, message.status, message.text, message.sent_at))
        rows += [
            (r.address, r.status, r.delivered_at, r.read_at, r.flags)
            for r in message.recipients.order_by("address")
        ]
    return rows


def test_any_delivery_order_converges_to_the_same_state(deliver):
    names = ["content_text_from_consumer", "accept_status_accept", "accept_status_read"]
    in_order = ChannelFactory(platform=PLATFORM)
    reversed_order = ChannelFactory(platform=PLATFORM)

    deliver(*names, to=in_order)
    deliver(*reversed(names), to=reversed_order)

    assert delivery_state(in_order) == delivery_state(reversed_order)
    assert delivery_state(in_order)[0][1] == "read"


def test_receipt_word_that_is_no_delivery_step_becomes_a_recipient_flag(deliver):
    change = first_change("accept_status_accept")
    change["sequence"] = 20
    change["event"] = {"type": "AcceptStatusEvent", "status": "ACTION", "sequenceList": [8]}

    deliver("rich_content_card", notification("accept_status_accept", change))

    message = Message.objects.get()
    assert message.status == "sent"
    recipient = message.recipients.get()
    assert (recipient.address, recipient.status) == (AGENT, "sent")
    assert recipient.flags == {"ACTION": "2026-03-12T09:15:32.550000+00:00"}
    assert (recipient.delivered_at, recipient.read_at) == (None, None)
    flagged = message.status_events.get(participant=AGENT)
    assert (flagged.step, flagged.flag, flagged.at) == ("", "ACTION", at("09:15:32.550"))


# --- ChatStateEvent ---------------------------------------------------------------------------


def chat_state(originator: str, role: str, state: str, timestamp: int | None) -> dict[str, Any]:
    change = first_change("chat_state_composing")
    change["originatorId"] = change["originatorMetadata"]["id"] = originator
    change["originatorMetadata"]["role"] = role
    change["event"]["chatState"] = state
    if timestamp is None:
        del change["serverTimestamp"]
    else:
        change["serverTimestamp"] = timestamp
    return notification("chat_state_composing", change)


def row_counts() -> dict[str, int]:
    models = (Conversation, Participant, Message, MessageStatusEvent, Recipient, Attachment)
    return {model.__name__: model.objects.count() for model in models}


def test_agent_typing_shows_and_clears_without_creating_rows(deliver):
    deliver("content_text_from_consumer", "content_text_from_agent")
    conversation = Conversation.objects.get()
    before = row_counts()
    started = now_ms()

    deliver(chat_state(AGENT, "ASSIGNED_AGENT", "COMPOSING", started))
    assert typing_in(conversation=conversation) == [AGENT]

    deliver(chat_state(AGENT, "ASSIGNED_AGENT", "PAUSE", started + 1500))
    assert typing_in(conversation=conversation) == []

    assert row_counts() == before
    typing_events = InboundEvent.objects.filter(event_name=f"{MESSAGING}.ChatStateEvent")
    assert list(typing_events.values_list("state", flat=True)) == ["processed", "processed"]


def test_typing_in_an_unknown_conversation_creates_nothing(channel, deliver):
    deliver(chat_state(AGENT, "ASSIGNED_AGENT", "COMPOSING", now_ms()))

    assert row_counts() == dict.fromkeys(row_counts(), 0)
    assert InboundEvent.objects.get().state == "processed"


def test_consumer_pausing_clears_only_the_consumer(deliver):
    deliver(
        "content_text_from_consumer",
        chat_state(AGENT, "ASSIGNED_AGENT", "COMPOSING", now_ms()),
        "mixed_batch",  # the agent's message and the consumer composing, without a time
    )
    conversation = Conversation.objects.get()
    assert typing_in(conversation=conversation) == sorted([AGENT, CONSUMER])

    deliver("chat_state_pause")  # the consumer, with no serverTimestamp at all

    assert typing_in(conversation=conversation) == [AGENT]


def test_consumer_typing_again_after_a_pause_is_shown_again(deliver):
    deliver("content_text_from_consumer", "mixed_batch", "chat_state_pause")
    conversation = Conversation.objects.get()
    assert typing_in(conversation=conversation) == []

    # A later state change carries its own time (+1: the pause was stamped on arrival).
    deliver(chat_state(CONSUMER, "CONSUMER", "COMPOSING", now_ms() + 1))

    assert typing_in(conversation=conversation) == [CONSUMER]


def test_typing_from_a_replayed_backlog_is_not_shown(deliver):
    deliver("content_text_from_agent", "chat_state_composing")  # serverTimestamp long gone

    assert typing_in(conversation=Conversation.objects.get()) == []
    assert InboundEvent.objects.filter(state="processed").count() == 2
