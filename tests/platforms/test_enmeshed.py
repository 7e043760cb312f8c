"""enmeshed end to end: Connector webhooks and polled documents -> stored requests and events
-> rows.

Two identities own the fixtures: a 7.x Connector (DID addresses) and a 1.x Connector (``id1…``
addresses). Each gets its own channel whose settings name our own address, which is how the
parser tells our 1.x messages (no ``isOwn``) from the peers' ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from unittest.mock import ANY

import pytest
from django.utils import timezone

from inbox.inbound import replay_requests, store_request
from inbox.models import (
    Attachment,
    Channel,
    Conversation,
    InboundEvent,
    InboundRequest,
    Message,
    MessageStatusEvent,
    Recipient,
    Source,
)
from relationships.models import Relationship, RelationshipChange, RelationshipTemplate
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes, fixture_json
from tests.platforms.security import WebhookSecurityTests

pytestmark = pytest.mark.django_db

DID = "did:e:inbox.example.net:dids:"
OWN = DID + "cb78a6bbeef965d4f0bd15"
LENA = DID + "29b8430691cc5324ca8916"
JAN = DID + "5999b4c60fdb505a45030b"
NOAH = DID + "2b964743af32c893bff37b"
EMMA = DID + "eb222f9875adaafca56e7b"

OWN_V1 = "id1qsPTvteREAVpdjp9UJNv8MJvxVHAbhJFN"
JONAS = "id1Acr8JKdWhSS2cnNkTN7krYkwhvjqbaEUP"
NOWAK = "id1iN4SoC1JcmH9NeigTvrtXwyXN13qFh8jw"

REL_LENA = "RELZjHZmya9gy4ed1wPw"
REL_JAN = "REL7X8bbGEuRtCu6hF8D"
REL_EMMA = "RELKNZkjLHnBNvDMoRTe"
REL_JONAS = "RELJzcmP6lcPI71dC3WP"
REL_NOWAK = "RELmETR4biPHnY4H59ik"

MAIL = "webhook_message_received_mail_v7"
WAS_READ = "webhook_message_was_read_v7"
SENT = "webhook_message_sent_v7"
PENDING_INCOMING = "webhook_relationship_changed_pending_incoming_v7"
ACTIVE = "webhook_relationship_changed_active_v7"
PENDING_OUTGOING = "webhook_relationship_changed_pending_outgoing_v7"
OUTGOING_ACCEPTED = "webhook_relationship_changed_outgoing_accepted_v7"
TO_BE_DELETED = "webhook_peer_to_be_deleted_v7"
BATCH = "legacy_v1_webhook_batch"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def group_key(*addresses: str) -> str:
    """The conversation key of a group exchange: everyone but us, order-independent."""
    joined = ",".join(sorted(addresses))
    return "group:" + hashlib.sha256(joined.encode()).hexdigest()[:40]


def variant(name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A webhook fixture with its ``data`` changed in place by ``change``."""
    document: dict[str, Any] = fixture_json("enmeshed", name)
    change(document["data"])
    return document


def deletion_cancelled() -> dict[str, Any]:
    """``transport.peerDeletionCancelled``: the RelationshipDTO, without peerDeletionInfo again.

    Built here, not kept as a fixture file: ``tests/test_convergence.py`` applies every fixture
    in any order, and a cancellation does not commute with the deletion it cancels (both have
    the same status and revision).
    """
    document: dict[str, Any] = fixture_json("enmeshed", ACTIVE)
    document["trigger"] = "transport.peerDeletionCancelled"
    return document


def no_domain_rows() -> bool:
    return not (
        Conversation.objects.exists()
        or Message.objects.exists()
        or Relationship.objects.exists()
        or MessageStatusEvent.objects.exists()
    )


class TestEnmeshedWebhookSecurity(WebhookSecurityTests):
    platform = "enmeshed"
    sample = ACTIVE
    non_ascii_sample = MAIL
    settings = {"address": OWN}
    signs_body = False

    def signed(self, body: bytes, secret: str) -> dict[str, str]:
        # The Connector's ApiKey webhook authentication sends the configured key verbatim in
        # its header (X-API-KEY unless configured otherwise); the body is not signed.
        return {"X-API-KEY": secret}


@pytest.fixture
def channel() -> Channel:
    return ChannelFactory(platform="enmeshed", settings={"address": OWN})


@pytest.fixture
def legacy_channel() -> Channel:
    return ChannelFactory(platform="enmeshed", settings={"address": OWN_V1})


@pytest.fixture
def poll(channel, process):
    """Store a polled document the way the poller does (source "poll"), then run the pipeline."""

    def poll(document: str | dict[str, Any], to: Channel | None = None) -> None:
        if isinstance(document, str):
            body = fixture_bytes("enmeshed", document)
        else:
            body = json.dumps(document).encode()
        stored = store_request(channel=to or channel, source=Source.POLL, body=body)
        assert stored.error == ""
        process()

    return poll


def test_webhook_secret_is_read_from_the_header_the_channel_configures(post_webhook):
    channel = ChannelFactory(
        platform="enmeshed", settings={"address": OWN, "webhook_header": "X-Switchboard-Key"}
    )
    body = fixture_bytes("enmeshed", MAIL)

    assert post_webhook(channel, body, headers={"X-API-KEY": "secret-current"}).status_code == 401
    response = post_webhook(channel, body, headers={"X-Switchboard-Key": "secret-current"})
    assert response.status_code == 202
    # The secret is never kept with the request.
    assert InboundRequest.objects.get().headers == {"Content-Type": "application/json"}


# --- messages ----------------------------------------------------------------------------------


def test_received_mail_opens_a_direct_conversation_with_its_sender(deliver):
    deliver(MAIL)

    message = Message.objects.select_related("conversation", "sender").get()
    assert message.external_id == "MSGhuG8GP38g4o5MNJAY"
    assert message.direction == "in"
    assert message.sender.address == LENA
    assert message.subject == "Kündigung meines Vertrags zum 31.03."
    assert message.text == (
        "Guten Tag,\nanbei die unterschriebene Kündigung. Bitte bestätigen Sie mir den Eingang."
        "\nViele Grüße 🙂\nLena Hoffmann"
    )
    assert message.content == fixture_json("enmeshed", MAIL)["data"]["content"]
    assert (message.content_kind, message.audience, message.sequence) == ("text", "all", None)
    assert message.sent_at == at("2026-02-09T08:14:27.503Z")
    assert message.status == "delivered"
    assert message.reply_to is None

    conversation = message.conversation
    assert (conversation.external_id, conversation.kind, conversation.title) == (
        LENA,
        "direct",
        "",
    )
    assert conversation.status == "open"
    assert [p.address for p in conversation.participants.all()] == [LENA]
    assert conversation.last_message == message
    assert conversation.last_activity_at == at("2026-02-09T08:14:27.503Z")

    recipient = message.recipients.get()
    assert recipient.address == OWN
    assert recipient.status == "delivered"
    assert recipient.delivered_at == at("2026-02-09T08:14:31.118Z")
    assert recipient.read_at is None
    assert recipient.flags == {}
    assert recipient.relationship_external_id == REL_LENA

    attachment = message.attachments.get()
    assert attachment.external_id == "FILl9B1UE8ePr5FxgmV2"
    assert (attachment.filename, attachment.mime_type, attachment.size) == ("", "", None)
    assert attachment.state == "pending"

    assert list(MessageStatusEvent.objects.values_list("step", "flag", "participant", "at")) == [
        ("delivered", "", OWN, at("2026-02-09T08:14:31.118Z"))
    ]
    event = InboundEvent.objects.select_related("request").get()
    assert (event.event_name, event.state) == ("transport.messageReceived", "processed")
    assert (event.attempts, event.error, event.next_attempt_at) == (1, "", None)
    # The event holds the Connector's MessageDTO as sent, the request the body byte for byte.
    document = fixture_json("enmeshed", MAIL)
    assert event.payload == document["data"]
    assert event.envelope == {"trigger": "transport.messageReceived"}
    assert (event.request.source, event.request.item_count, event.request.error) == (
        "webhook",
        1,
        "",
    )
    assert bytes(event.request.body) == fixture_bytes("enmeshed", MAIL)


@pytest.mark.parametrize(
    ("name", "sender", "kind", "text"),
    [
        (
            "webhook_message_received_request_v7",
            JAN,
            "form",
            "Bitte bestätigen Sie Ihre Lieferadresse",
        ),
        (
            "webhook_message_received_response_wrapper_v7",
            LENA,
            "system",
            "Response to request REQ1lJcP390G0qvOHWVu: Accepted",
        ),
        (
            "webhook_message_received_notification_v7",
            JAN,
            "system",
            "Notification NOTAQoXilIbQT7IRJz4q",
        ),
        ("webhook_message_received_arbitrary_v7", LENA, "system", ""),
    ],
    ids=["request", "response wrapper", "notification", "arbitrary"],
)
def test_structured_content_is_kept_raw_beside_its_display_text(deliver, name, sender, kind, text):
    deliver(name)

    data = fixture_json("enmeshed", name)["data"]
    message = Message.objects.select_related("conversation", "sender").get()
    assert message.external_id == data["id"]
    assert (message.direction, message.sender.address) == ("in", sender)
    assert (message.content_kind, message.text, message.subject) == (kind, text, "")
    assert message.content == data["content"]
    assert message.sent_at == at(data["createdAt"])
    assert message.status == "delivered"
    assert (message.conversation.external_id, message.conversation.kind) == (sender, "direct")

    [entry] = data["recipients"]
    recipient = message.recipients.get()
    assert (recipient.address, recipient.status) == (OWN, "delivered")
    assert recipient.delivered_at == at(entry["receivedAt"])
    assert recipient.relationship_external_id == entry["relationshipId"]
    assert not message.attachments.exists()
    assert InboundEvent.objects.get().state == "processed"


def test_every_content_type_from_one_peer_lands_in_one_direct_conversation(deliver):
    deliver(
        "webhook_message_received_arbitrary_v7",
        "webhook_message_received_notification_v7",
        MAIL,
        "webhook_message_received_request_v7",
        "webhook_message_received_response_wrapper_v7",
    )

    lena = Conversation.objects.get(external_id=LENA)
    jan = Conversation.objects.get(external_id=JAN)
    assert Conversation.objects.count() == 2
    assert list(lena.messages.values_list("external_id", flat=True)) == [
        "MSGhuG8GP38g4o5MNJAY",  # Mail, 9 Feb
        "MSGTKtb2TxxDBfz5LJF3",  # ResponseWrapper, 13 Feb
        "MSGEGHZbKoXi0d9TH4Qg",  # Arbitrary, 15 Feb
    ]
    assert list(jan.messages.values_list("external_id", flat=True)) == [
        "MSGyVGOeUvfJIssDj4PT",  # Request, 12 Feb
        "MSGhBGZW3M4Fz6Hq2AK7",  # Notification, 14 Feb
    ]
    # The newest message leads the list whatever order the webhooks came in.
    assert lena.last_message.external_id == "MSGEGHZbKoXi0d9TH4Qg"
    assert lena.last_activity_at == at("2026-02-15T06:05:12.400Z")
    assert jan.last_message.external_id == "MSGhBGZW3M4Fz6Hq2AK7"
    assert jan.last_activity_at == at("2026-02-14T18:20:40.311Z")


def test_group_mail_is_one_conversation_keyed_by_everyone_but_us_and_titled_by_its_subject(
    deliver,
):
    deliver("webhook_message_received_group_mail_v7")

    message = Message.objects.select_related("conversation", "sender").get()
    conversation = message.conversation
    assert conversation.external_id == group_key(LENA, NOAH)
    assert (conversation.kind, conversation.title) == ("group", "Umzug der Praxis")
    assert sorted(p.address for p in conversation.participants.all()) == sorted([LENA, NOAH])
    assert conversation.last_message == message

    assert (message.external_id, message.direction) == ("MSG0gCa05RFRunzqw7wZ", "in")
    assert message.sender.address == LENA
    assert message.subject == "Umzug der Praxis"
    assert message.text == (
        "Liebe Frau Weber, liebes Support-Team,\nab März finden Sie uns in der Lindenstraße 12."
    )
    assert message.sent_at == at("2026-02-11T10:30:00.215Z")
    # The DTO lists only us as recipient; the rest of the audience is in content.to.
    recipient = message.recipients.get()
    assert (recipient.address, recipient.status) == (OWN, "delivered")
    assert recipient.delivered_at == at("2026-02-11T10:30:04.907Z")
    assert recipient.relationship_external_id == REL_LENA


def test_group_mail_with_the_same_people_in_another_order_joins_the_same_conversation(deliver):
    def reordered_reply(data: dict[str, Any]) -> None:
        data["id"] = "MSGq2Wc8yPd0LmN3sT5u"
        data["createdAt"] = "2026-02-11T12:02:41.377Z"
        data["recipients"][0]["receivedAt"] = "2026-02-11T12:02:44.018Z"
        data["content"]["to"] = list(reversed(data["content"]["to"]))
        data["content"]["subject"] = "AW: Umzug der Praxis"

    deliver("webhook_message_received_group_mail_v7", MAIL)
    deliver(variant("webhook_message_received_group_mail_v7", reordered_reply))

    group = Conversation.objects.get(kind="group")
    assert list(group.messages.values_list("external_id", flat=True)) == [
        "MSG0gCa05RFRunzqw7wZ",
        "MSGq2Wc8yPd0LmN3sT5u",
    ]
    assert group.title == "Umzug der Praxis"  # the first subject names the conversation
    assert group.participants.count() == 2
    # Lena's direct Mail is a conversation of its own.
    assert Conversation.objects.get(external_id=LENA).messages.count() == 1


def test_own_sent_mail_records_delivery_and_relationship_per_recipient(deliver):
    deliver(SENT)

    message = Message.objects.select_related("conversation", "sender").get()
    assert (message.external_id, message.direction) == ("MSGKJ1UXXFWXLCpaNfhs", "out")
    assert message.sender.address == OWN
    assert message.subject == "Wartungsfenster am 14. Februar"
    assert message.text == (
        "Hallo zusammen,\nam Samstag zwischen 06:00 und 08:00 Uhr ist das Kundenportal nicht "
        "erreichbar."
    )
    assert message.content["bodyFormat"] == "Markdown"
    assert message.content_kind == "text"
    assert message.sent_at == at("2026-02-10T16:03:09.664Z")
    # One recipient has the message, so it counts as delivered; the other one is still owed it.
    assert message.status == "delivered"

    conversation = message.conversation
    assert conversation.external_id == group_key(LENA, JAN)
    assert (conversation.kind, conversation.title) == ("group", "Wartungsfenster am 14. Februar")
    assert sorted(p.address for p in conversation.participants.all()) == sorted([OWN, LENA, JAN])

    recipients = {r.address: r for r in message.recipients.all()}
    assert set(recipients) == {LENA, JAN}
    lena, jan = recipients[LENA], recipients[JAN]
    assert (lena.status, lena.delivered_at, lena.read_at) == (
        "delivered",
        at("2026-02-10T16:03:12.841Z"),
        None,
    )
    assert (jan.status, jan.delivered_at, jan.read_at) == ("sent", None, None)
    assert (lena.relationship_external_id, jan.relationship_external_id) == (REL_LENA, REL_JAN)

    assert list(
        MessageStatusEvent.objects.order_by("at").values_list("step", "flag", "participant", "at")
    ) == [
        ("sent", "", "", at("2026-02-10T16:03:09.664Z")),
        ("delivered", "", LENA, at("2026-02-10T16:03:12.841Z")),
    ]
    assert InboundEvent.objects.get().event_name == "transport.messageSent"


@pytest.mark.parametrize("older_first", [True, False], ids=["in order", "older snapshot last"])
def test_sent_mail_delivered_to_the_remaining_recipient_never_goes_back(deliver, older_first):
    def jan_received(data: dict[str, Any]) -> None:
        data["recipients"][1]["receivedAt"] = "2026-02-10T16:41:27.306Z"
        data["recipients"][1]["receivedByDevice"] = "DVCR4hRx3GR7qys80wdV"

    later = variant(SENT, jan_received)
    deliver(*([SENT, later] if older_first else [later, SENT]))

    assert InboundEvent.objects.filter(state="processed").count() == 2
    message = Message.objects.get()
    assert message.status == "delivered"
    recipients = {r.address: r for r in message.recipients.all()}
    assert (recipients[LENA].status, recipients[LENA].delivered_at) == (
        "delivered",
        at("2026-02-10T16:03:12.841Z"),
    )
    assert (recipients[JAN].status, recipients[JAN].delivered_at) == (
        "delivered",
        at("2026-02-10T16:41:27.306Z"),
    )
    assert MessageStatusEvent.objects.count() == 3  # sent, delivered to Lena, delivered to Jan


@pytest.mark.parametrize(
    "names", [(MAIL, WAS_READ), (WAS_READ, MAIL)], ids=["read last", "read first"]
)
def test_read_change_marks_the_message_read_whichever_webhook_arrives_first(deliver, names):
    deliver(*names)

    events = InboundEvent.objects.all()
    assert {e.event_name for e in events} == {
        "transport.messageReceived",
        "transport.messageWasReadAtChanged",
    }
    assert {e.state for e in events} == {"processed"}
    message = Message.objects.get()
    assert message.status == "read"
    assert message.text.endswith("Lena Hoffmann")
    recipient = Recipient.objects.get()
    assert (recipient.address, recipient.status) == (OWN, "read")
    assert recipient.delivered_at == at("2026-02-09T08:14:31.118Z")
    assert recipient.read_at == at("2026-02-09T09:02:45.270Z")
    assert list(
        MessageStatusEvent.objects.order_by("at").values_list("step", "flag", "participant", "at")
    ) == [
        ("delivered", "", OWN, at("2026-02-09T08:14:31.118Z")),
        ("read", "", OWN, at("2026-02-09T09:02:45.270Z")),
    ]
    assert Attachment.objects.count() == 1


@pytest.mark.parametrize(
    "poll_first", [False, True], ids=["webhook then poll", "poll then webhook"]
)
def test_polled_file_dtos_fill_the_metadata_a_webhook_named_only_by_id(deliver, poll, poll_first):
    if poll_first:
        poll("poll_message_with_attachments_v7")
        deliver("webhook_message_received_attachments_v7")
    else:
        deliver("webhook_message_received_attachments_v7")
        poll("poll_message_with_attachments_v7")

    message = Message.objects.select_related("conversation").get()
    assert (message.external_id, message.direction) == ("MSGTNBEjE4o24hOSDRET", "in")
    assert message.subject == "Wasserschaden Keller"
    assert message.conversation.external_id == JAN
    assert message.recipients.get().relationship_external_id == REL_JAN
    attachments = message.attachments.values_list(
        "external_id", "filename", "mime_type", "size", "caption", "state"
    )
    assert list(attachments) == [
        (
            "FILAjC6afaCLI71fNYmp",
            "schadensmeldung.pdf",
            "application/pdf",
            182044,
            "Schadensmeldung Februar",
            "pending",
        ),
        ("FILhNcWI9rQWOwjauQLK", "IMG_2207.jpg", "image/jpeg", 2408117, "", "pending"),
    ]


def test_redelivered_webhook_is_stored_once_and_applied_once(channel, post_webhook, process):
    body = fixture_bytes("enmeshed", MAIL)
    responses = [post_webhook(channel, body), post_webhook(channel, body)]
    process()
    responses.append(post_webhook(channel, body))
    process()

    assert [r.status_code for r in responses] == [202, 202, 202]
    assert InboundRequest.objects.count() == 1  # the same bytes are the same request
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1
    assert Recipient.objects.count() == 1
    assert Attachment.objects.count() == 1
    assert MessageStatusEvent.objects.count() == 1


def test_polled_message_in_the_state_its_webhook_had_is_stored_once(deliver, poll):
    deliver(MAIL)
    poll({**fixture_json("enmeshed", MAIL), "trigger": "sync.message"})

    # Both documents are kept, but the message in the same state is one event.
    assert sorted(InboundRequest.objects.values_list("source", "item_count")) == [
        ("poll", 1),
        ("webhook", 1),
    ]
    assert list(InboundEvent.objects.values_list("request__source", "state")) == [
        ("webhook", "processed")
    ]
    assert Message.objects.count() == 1


# --- 1.x documents -----------------------------------------------------------------------------


def test_legacy_message_without_is_own_is_received_from_its_creator(deliver, legacy_channel):
    deliver("legacy_v1_webhook_message_received", to=legacy_channel)

    message = Message.objects.select_related("conversation", "sender").get()
    assert (message.channel, message.external_id) == (legacy_channel, "MSG79IqJzQtJZPGSEZ4z")
    assert (message.direction, message.sender.address) == ("in", JONAS)
    assert (message.subject, message.content_kind) == ("Zählerstand", "text")
    assert message.text == "Mein Zählerstand vom 1. Februar: 04711 m³."
    assert message.sent_at == at("2026-02-02T09:12:44.018Z")
    assert message.status == "delivered"
    assert (message.conversation.external_id, message.conversation.kind) == (JONAS, "direct")
    recipient = message.recipients.get()
    assert (recipient.address, recipient.status) == (OWN_V1, "delivered")
    assert recipient.delivered_at == at("2026-02-02T09:13:20.561Z")
    assert message.attachments.get().external_id == "FILX783FSU8iIoELi9M4"


def test_legacy_received_message_records_its_relationship_on_our_recipient_row(
    deliver, legacy_channel
):
    # A 7.x received message names the relationship on our recipient entry, and that is where
    # the inbox keeps it; the 1.x DTO names it in relationshipIds and must end up there too.
    deliver("legacy_v1_webhook_message_received", to=legacy_channel)

    recipient = Recipient.objects.get()
    assert (recipient.address, recipient.relationship_external_id) == (OWN_V1, REL_JONAS)


def test_legacy_batch_body_stores_one_event_per_item_and_applies_each(
    legacy_channel, post_webhook, process
):
    response = post_webhook(legacy_channel, fixture_bytes("enmeshed", BATCH))
    assert response.status_code == 202
    assert response.json()["events"] == 3
    process()

    data = fixture_json("enmeshed", BATCH)
    # One request; each DTO of the batch is an event of its own, stored as the Connector sent it.
    request = InboundRequest.objects.get()
    assert (request.source, request.item_count) == ("webhook", 3)
    assert list(
        InboundEvent.objects.values_list("request", "event_name", "payload", "envelope", "state")
    ) == [
        (request.pk, "sync.relationship", data["relationships"][0], {}, "processed"),
        (request.pk, "sync.message", data["messages"][0], {}, "processed"),
        (request.pk, "sync.message", data["messages"][1], {}, "processed"),
    ]

    relationship = Relationship.objects.select_related("template").get()
    assert (relationship.channel, relationship.external_id) == (legacy_channel, REL_JONAS)
    assert (relationship.peer, relationship.status, relationship.direction) == (
        JONAS,
        "Active",
        "incoming",
    )
    assert relationship.peer_public_key == data["relationships"][0]["peerIdentity"]["publicKey"]
    assert relationship.revision == 2
    assert relationship.platform_updated_at == at("2026-01-20T17:45:30.902Z")
    assert relationship.creation_content == {
        "attributes": [{"name": "Person.givenName", "value": "Jonas"}]
    }
    assert (relationship.audit_log, relationship.peer_deletion) == ([], None)

    template = relationship.template
    assert (template.external_id, template.is_own, template.created_by) == (
        "RLTFX0AsDluHEChHYHYr",
        True,
        OWN_V1,
    )
    assert (template.created_at, template.expires_at) == (
        at("2026-01-05T08:00:00.000Z"),
        at("2026-07-05T08:00:00.000Z"),
    )
    assert template.max_allocations == 500
    assert template.content == data["relationships"][0]["template"]["content"]

    change = relationship.changes.get()
    assert (change.external_id, change.type, change.status) == (
        "RCHTrJWKUnKsKrQJigYq",
        "Creation",
        "Accepted",
    )
    assert (change.requested_by, change.requested_at) == (JONAS, at("2026-01-20T17:41:08.336Z"))
    assert change.request_content == relationship.creation_content
    assert change.response == data["relationships"][0]["changes"][0]["response"]

    reading, answer = Message.objects.select_related("sender", "conversation").order_by("sent_at")
    assert (reading.external_id, reading.direction, reading.sender.address) == (
        "MSGBms1racjP4M9DZH7F",
        "in",
        JONAS,
    )
    # 1.x allowed bare JSON as content: kept raw, shown as a structured item.
    assert (reading.content_kind, reading.text, reading.subject) == ("system", "", "")
    assert reading.content == {"meterId": "Z-7731", "reading": 4711, "unit": "m3"}
    assert reading.status == "delivered"

    assert (answer.external_id, answer.direction, answer.sender.address) == (
        "MSGx6mqSFDGX0FZBJQ6c",
        "out",
        OWN_V1,
    )
    assert (answer.subject, answer.text) == (
        "AW: Zählerstand",
        "Danke, der Zählerstand ist erfasst.",
    )
    assert answer.status == "sent"
    recipient = answer.recipients.get()
    assert (recipient.address, recipient.status, recipient.delivered_at) == (JONAS, "sent", None)
    assert recipient.relationship_external_id == REL_JONAS

    conversation = Conversation.objects.get()
    assert (conversation.external_id, conversation.kind) == (JONAS, "direct")
    assert conversation.last_message == answer


def test_legacy_account_sync_response_is_stored_as_one_polled_event_per_item(poll, legacy_channel):
    poll("legacy_v1_account_sync_response", to=legacy_channel)

    assert list(InboundEvent.objects.values_list("event_name", "request__source", "state")) == [
        ("sync.relationship", "poll", "processed"),
        ("sync.message", "poll", "processed"),
    ]

    relationship = Relationship.objects.select_related("template").get()
    assert relationship.external_id == REL_NOWAK
    assert (relationship.peer, relationship.status, relationship.direction) == (
        NOWAK,
        "Pending",
        "incoming",
    )
    assert relationship.is_incoming_pending
    assert relationship.revision == 1
    assert relationship.platform_updated_at == at("2026-02-04T10:02:17.645Z")
    assert (relationship.template.external_id, relationship.template.max_allocations) == (
        "RLTQ2lyrBIA3fytlwlqD",
        1,
    )
    change = relationship.changes.get()
    assert (change.external_id, change.type, change.status, change.response) == (
        "RCH2Ql9bw2kwJRKYInhN",
        "Creation",
        "Pending",
        None,
    )
    assert change.requested_by == NOWAK
    assert change.request_content == {
        "attributes": [{"name": "Person.familyName", "value": "Nowak"}]
    }

    message = Message.objects.select_related("sender", "conversation").get()
    assert (message.external_id, message.direction, message.sender.address) == (
        "MSG1suD6ZgCSTY9GqC79",
        "out",
        OWN_V1,
    )
    assert (message.subject, message.text) == (
        "Abschlagszahlung",
        "Ihr neuer Abschlag beträgt ab März 48 €.",
    )
    assert message.status == "delivered"
    assert message.conversation.external_id == JONAS
    recipient = message.recipients.get()
    assert (recipient.address, recipient.status) == (JONAS, "delivered")
    assert recipient.delivered_at == at("2026-02-04T08:31:12.774Z")
    assert recipient.relationship_external_id == REL_JONAS


@pytest.mark.parametrize("pending_first", [True, False], ids=["in order", "pending snapshot last"])
def test_legacy_creation_change_accepted_later_stays_accepted(poll, legacy_channel, pending_first):
    names = ["legacy_v1_account_sync_response", "legacy_v1_account_sync_relationship_accepted"]
    for name in names if pending_first else reversed(names):
        poll(name, to=legacy_channel)

    relationship = Relationship.objects.get()
    assert (relationship.status, relationship.revision) == ("Active", 2)
    assert not relationship.is_incoming_pending
    assert relationship.platform_updated_at == at("2026-02-04T10:47:51.208Z")
    change = RelationshipChange.objects.get()
    assert (change.external_id, change.status) == ("RCH2Ql9bw2kwJRKYInhN", "Accepted")
    assert change.response["createdBy"] == OWN_V1
    assert change.response["content"] == {"welcome": "Willkommen bei den Stadtwerken"}
    assert RelationshipTemplate.objects.count() == 1


# --- relationships -----------------------------------------------------------------------------


def test_incoming_pending_relationship_awaits_our_decision(deliver):
    deliver(PENDING_INCOMING)

    data = fixture_json("enmeshed", PENDING_INCOMING)["data"]
    relationship = Relationship.objects.select_related("template").get()
    assert relationship.external_id == REL_LENA
    assert (relationship.peer, relationship.peer_public_key) == (
        LENA,
        data["peerIdentity"]["publicKey"],
    )
    assert (relationship.status, relationship.direction) == ("Pending", "incoming")
    assert relationship.is_incoming_pending
    assert relationship.revision == 1
    assert relationship.platform_updated_at == at("2026-01-12T15:22:48.913Z")
    assert relationship.creation_content == data["creationContent"]
    assert relationship.audit_log == data["auditLog"]
    assert relationship.peer_deletion is None
    assert (relationship.decision, relationship.decided_at) == ("", None)
    # 7.x names the template by id only.
    template = relationship.template
    assert (template.external_id, template.is_own, template.content) == (
        "RLT0g2noa9f4DPvAIY12",
        None,
        None,
    )
    assert not relationship.changes.exists()
    assert InboundEvent.objects.get().state == "processed"


@pytest.mark.parametrize(
    "names",
    [(PENDING_INCOMING, ACTIVE), (ACTIVE, PENDING_INCOMING)],
    ids=["in order", "pending snapshot last"],
)
def test_accepted_relationship_is_active_and_an_older_pending_snapshot_does_not_undo_it(
    deliver, names
):
    deliver(*names)

    assert InboundEvent.objects.filter(state="processed").count() == 2
    relationship = Relationship.objects.get()
    assert (relationship.status, relationship.direction) == ("Active", "incoming")
    assert not relationship.is_incoming_pending
    assert relationship.revision == 2
    assert relationship.platform_updated_at == at("2026-01-12T15:40:03.256Z")
    assert [entry["reason"] for entry in relationship.audit_log] == [
        "Creation",
        "AcceptanceOfCreation",
    ]
    assert RelationshipTemplate.objects.count() == 1


def test_outgoing_pending_relationship_waits_for_the_peer(deliver):
    deliver(PENDING_OUTGOING)

    data = fixture_json("enmeshed", PENDING_OUTGOING)["data"]
    relationship = Relationship.objects.select_related("template").get()
    assert (relationship.external_id, relationship.peer) == (REL_EMMA, EMMA)
    assert (relationship.status, relationship.direction) == ("Pending", "outgoing")
    assert not relationship.is_incoming_pending
    assert relationship.revision == 1
    assert relationship.template.external_id == "RLTfPk2Wq8ZrN4xLc7Td"
    assert relationship.creation_content == data["creationContent"]
    assert relationship.platform_updated_at == at("2026-02-17T09:10:11.121Z")


def test_peer_to_be_deleted_stores_the_peer_deletion_info(deliver):
    deliver(ACTIVE, TO_BE_DELETED)

    assert list(InboundEvent.objects.values_list("event_name", "state")) == [
        ("transport.relationshipChanged", "processed"),
        ("transport.peerToBeDeleted", "processed"),
    ]
    relationship = Relationship.objects.get()
    assert (relationship.status, relationship.revision) == ("Active", 2)
    assert relationship.peer_deletion == {
        "deletionStatus": "ToBeDeleted",
        "deletionDate": "2026-03-20T15:00:00.000Z",
    }


def test_cancelled_peer_deletion_no_longer_shows_the_peer_as_to_be_deleted(deliver):
    deliver(ACTIVE)
    deliver(TO_BE_DELETED)
    assert Relationship.objects.get().peer_deletion["deletionStatus"] == "ToBeDeleted"

    deliver(deletion_cancelled())

    # Same status and revision as the relationshipChanged before it, yet not a duplicate.
    assert list(InboundEvent.objects.values_list("event_name", "state")) == [
        ("transport.relationshipChanged", "processed"),
        ("transport.peerToBeDeleted", "processed"),
        ("transport.peerDeletionCancelled", "processed"),
    ]
    relationship = Relationship.objects.get()
    assert (relationship.status, relationship.revision) == ("Active", 2)
    assert relationship.peer_deletion is None


def test_peer_deletion_and_its_cancellation_delivered_twice_keep_one_row_each(deliver):
    deliver(ACTIVE, TO_BE_DELETED, deletion_cancelled())
    deliver(ACTIVE, TO_BE_DELETED, deletion_cancelled())

    assert InboundRequest.objects.count() == 3
    assert list(InboundEvent.objects.values_list("event_name", "state", "attempts")) == [
        ("transport.relationshipChanged", "processed", 1),
        ("transport.peerToBeDeleted", "processed", 1),
        ("transport.peerDeletionCancelled", "processed", 1),
    ]
    relationship = Relationship.objects.get()
    assert relationship.peer_deletion is None  # the redelivered deletion did not come back


def test_cancellation_dropped_as_a_duplicate_before_the_fix_comes_back_by_replaying_its_request(
    deliver, channel, process
):
    deliver(ACTIVE, TO_BE_DELETED)
    # What the key without the cancellation left behind: the request kept whole, its item
    # dropped as a duplicate of the relationshipChanged.
    body = json.dumps(deletion_cancelled()).encode()
    request = InboundRequest.objects.create(
        channel=channel,
        source=Source.WEBHOOK,
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        received_at=timezone.now(),
        item_count=1,
    )

    assert replay_requests([request]).queued == 1
    process()

    # An event of its own: the relationshipChanged it collided with is left as it was.
    assert list(InboundEvent.objects.values_list("event_name", "request", "state")) == [
        ("transport.relationshipChanged", ANY, "processed"),
        ("transport.peerToBeDeleted", ANY, "processed"),
        ("transport.peerDeletionCancelled", request.pk, "processed"),
    ]
    changed = InboundEvent.objects.get(event_name="transport.relationshipChanged")
    assert changed.payload == fixture_json("enmeshed", ACTIVE)["data"]
    assert Relationship.objects.get().peer_deletion is None


def test_relationship_we_decomposed_stays_decomposed_when_a_later_change_arrives(deliver):
    deliver(PENDING_OUTGOING, "webhook_relationship_decomposed_by_self_v7", OUTGOING_ACCEPTED)

    assert list(InboundEvent.objects.values_list("event_name", "state")) == [
        ("transport.relationshipChanged", "processed"),
        ("transport.relationshipDecomposedBySelf", "processed"),
        ("transport.relationshipChanged", "processed"),
    ]
    relationship = Relationship.objects.get()
    assert (relationship.external_id, relationship.peer) == (REL_EMMA, EMMA)
    assert (relationship.status, relationship.direction) == ("Decomposed", "outgoing")
    # The platform's later facts are kept (whatever the order), the status is not revived.
    assert relationship.revision == 2
    assert len(relationship.audit_log) == 2


def test_decomposition_arriving_first_learns_the_relationship_facts_but_stays_decomposed(deliver):
    deliver("webhook_relationship_decomposed_by_self_incoming_v7", PENDING_INCOMING)

    data = fixture_json("enmeshed", PENDING_INCOMING)["data"]
    relationship = Relationship.objects.select_related("template").get()
    assert relationship.status == "Decomposed"
    assert (relationship.peer, relationship.peer_public_key) == (
        LENA,
        data["peerIdentity"]["publicKey"],
    )
    assert relationship.direction == "incoming"
    assert relationship.template.external_id == "RLT0g2noa9f4DPvAIY12"
    assert relationship.creation_content == data["creationContent"]


# --- ignored and malformed ---------------------------------------------------------------------


def test_consumption_event_is_stored_and_ignored(deliver):
    deliver("webhook_consumption_attribute_created_v7")

    event = InboundEvent.objects.get()
    assert (event.event_name, event.state, event.error) == (
        "consumption.attributeCreated",
        "ignored",
        "",
    )
    assert event.next_attempt_at is None
    assert no_domain_rows()


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (
            variant(MAIL, lambda data: data.pop("id")),
            "message.id is missing",
        ),
        (
            variant(MAIL, lambda data: data.pop("content")),
            "message.content is missing",
        ),
        (
            variant(PENDING_INCOMING, lambda data: data.pop("auditLog")),
            "relationship has neither an auditLog nor changes",
        ),
        (
            {"trigger": "transport.relationshipDecomposedBySelf", "data": {}},
            "decomposition.relationshipId is missing",
        ),
    ],
    ids=["message without id", "message without content", "relationship without log", "bare"],
)
def test_malformed_known_event_fails_for_good_without_rows(deliver, document, reason):
    deliver(document)

    event = InboundEvent.objects.get()
    assert event.state == "failed"
    assert event.error == f"unreadable payload: {reason}"
    assert (event.attempts, event.next_attempt_at) == (1, None)
    assert no_domain_rows()


def test_bad_item_of_a_legacy_batch_fails_alone(deliver, legacy_channel):
    document = fixture_json("enmeshed", BATCH)
    del document["relationships"][0]["changes"]
    deliver(document, to=legacy_channel)

    assert list(InboundEvent.objects.values_list("event_name", "state")) == [
        ("sync.relationship", "failed"),
        ("sync.message", "processed"),
        ("sync.message", "processed"),
    ]
    assert not Relationship.objects.exists()
    assert Message.objects.count() == 2


@pytest.mark.parametrize(
    ("entries", "index", "entry"),
    [
        ("messages", 1, "MSGx6mqSFDGX0FZBJQ6c"),
        ("relationships", 0, None),
    ],
    ids=["a bare message id", "null"],
)
def test_legacy_batch_entry_that_is_no_object_fails_alone_and_the_rest_is_applied(
    legacy_channel, post_webhook, process, entries, index, entry
):
    document = fixture_json("enmeshed", BATCH)
    document[entries].insert(index, entry)
    response = post_webhook(legacy_channel, document)

    assert response.status_code == 202
    assert response.json()["events"] == 4
    assert process() == {"processed": 3, "failed": 1}
    failed = InboundEvent.objects.get(state="failed")
    assert (failed.event_name, failed.payload, failed.next_attempt_at) == ("invalid", entry, None)
    assert failed.error.startswith("unreadable payload: entry is missing or not an object")
    assert Relationship.objects.get().external_id == REL_JONAS
    assert sorted(Message.objects.values_list("external_id", flat=True)) == [
        "MSGBms1racjP4M9DZH7F",
        "MSGx6mqSFDGX0FZBJQ6c",
    ]


def test_document_of_no_enmeshed_shape_is_answered_400_and_kept_with_the_reason(
    channel, post_webhook, process
):
    body = json.dumps(
        {"error": {"id": "ERRq8Zt3LmN0pW4yVb7c", "code": "error.platform.unexpected"}}
    ).encode()
    response = post_webhook(channel, body)

    assert response.status_code == 400
    request = InboundRequest.objects.get()
    assert bytes(request.body) == body
    assert request.item_count == 0
    reason = "document is not an enmeshed webhook, batch body or Account/Sync answer"
    assert reason in request.error
    assert reason in response.json()["detail"]
    # Nothing to process: the request is kept for replay after a parser fix.
    assert not InboundEvent.objects.exists()
    assert process().total() == 0
    assert no_domain_rows()
