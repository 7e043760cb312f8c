"""The enmeshed connector, driven by fixture payloads of the 7.x and 1.x Connector."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from inbox.connectors.base import (
    AttachmentInfo,
    ChannelContext,
    ContentKind,
    ConversationKind,
    Direction,
    MessageUpserted,
    Party,
    PayloadError,
    Platform,
    RelationshipChangeInfo,
    RelationshipDecomposed,
    RelationshipUpserted,
    StatusObserved,
    TemplateInfo,
    get_connector,
)
from inbox.connectors.enmeshed import connector
from tests.helpers import fixture_bytes, fixture_json

US = "did:e:inbox.example.net:dids:cb78a6bbeef965d4f0bd15"
LENA = "did:e:inbox.example.net:dids:29b8430691cc5324ca8916"
TOBIAS = "did:e:inbox.example.net:dids:5999b4c60fdb505a45030b"
MARTA = "did:e:inbox.example.net:dids:2b964743af32c893bff37b"
NEWPEER = "did:e:inbox.example.net:dids:eb222f9875adaafca56e7b"
US1 = "id1qsPTvteREAVpdjp9UJNv8MJvxVHAbhJFN"
JONAS = "id1Acr8JKdWhSS2cnNkTN7krYkwhvjqbaEUP"
PETRA = "id1iN4SoC1JcmH9NeigTvrtXwyXN13qFh8jw"
REL_LENA = "RELZjHZmya9gy4ed1wPw"
REL_TOBIAS = "REL7X8bbGEuRtCu6hF8D"
REL_JONAS = "RELJzcmP6lcPI71dC3WP"

ALL_FIXTURES = [
    "legacy_v1_account_sync_response",
    "legacy_v1_webhook_batch",
    "legacy_v1_webhook_message_received",
    "poll_message_with_attachments_v7",
    "webhook_consumption_attribute_created_v7",
    "webhook_message_received_arbitrary_v7",
    "webhook_message_received_group_mail_v7",
    "webhook_message_received_mail_v7",
    "webhook_message_received_notification_v7",
    "webhook_message_received_request_v7",
    "webhook_message_received_response_wrapper_v7",
    "webhook_message_sent_v7",
    "webhook_message_was_read_v7",
    "webhook_peer_to_be_deleted_v7",
    "webhook_relationship_changed_active_v7",
    "webhook_relationship_changed_pending_incoming_v7",
    "webhook_relationship_changed_pending_outgoing_v7",
    "webhook_relationship_decomposed_by_self_v7",
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def context(**settings: Any) -> ChannelContext:
    return ChannelContext(platform=Platform.ENMESHED, settings=settings)


def events_of(document: Any, **settings: Any) -> list[Any]:
    """Split a document and parse every delivery after the JSON round trip the pipeline does."""
    found: list[Any] = []
    for delivery in connector.split(document):
        payload = json.loads(json.dumps(delivery.payload))
        found.extend(connector.parse(delivery.event_name, payload, context(**settings)))
    return found


def only(name: str, **settings: Any) -> Any:
    events = events_of(fixture_json("enmeshed", name), **settings)
    assert len(events) == 1
    return events[0]


def group_id(*addresses: str) -> str:
    return "group:" + hashlib.sha256(",".join(sorted(addresses)).encode()).hexdigest()[:40]


# --- the connector and its authentication ----------------------------------------------------


def test_connector_is_registered_for_the_enmeshed_platform() -> None:
    assert connector.platform == Platform.ENMESHED
    assert get_connector("enmeshed") is connector


def test_secret_in_the_default_header_is_authentic() -> None:
    headers = {"X-API-KEY": "s3cret-key"}
    assert connector.verify(headers, b"{}", ["s3cret-key"], {})


def test_header_name_is_matched_case_insensitively_in_a_plain_dict() -> None:
    # The Connector's own default spelling is lower case.
    assert connector.verify({"x-api-key": "s3cret-key"}, b"{}", ["s3cret-key"], {})
    settings = {"webhook_header": "X-Inbox-Token"}
    assert connector.verify({"x-inbox-token": "abc"}, b"{}", ["abc"], settings)


def test_configured_header_name_replaces_the_default() -> None:
    settings = {"webhook_header": "X-Inbox-Token"}
    assert connector.verify({"X-Inbox-Token": "abc"}, b"{}", ["abc"], settings)
    assert not connector.verify({"X-API-KEY": "abc"}, b"{}", ["abc"], settings)


def test_wrong_secret_is_rejected() -> None:
    assert not connector.verify({"X-API-KEY": "guess"}, b"{}", ["s3cret-key"], {})


def test_missing_header_is_rejected() -> None:
    assert not connector.verify({"Content-Type": "application/json"}, b"{}", ["s3cret-key"], {})


def test_channel_without_secrets_rejects_everything() -> None:
    assert not connector.verify({"X-API-KEY": ""}, b"{}", [], {})
    assert not connector.verify({"X-API-KEY": ""}, b"{}", [""], {})


def test_second_of_two_rotated_secrets_matches() -> None:
    secrets = ["old-key-2025", "new-key-2026"]
    assert connector.verify({"X-API-KEY": "new-key-2026"}, b"{}", secrets, {})
    assert connector.verify({"X-API-KEY": "old-key-2025"}, b"{}", secrets, {})


def test_signed_non_ascii_body_verifies_over_its_raw_bytes() -> None:
    body = fixture_bytes("enmeshed", "webhook_message_received_mail_v7")
    assert "Grüße 🙂".encode() in body
    headers = connector.sign(body, "schlüssel-🔑", {})
    assert headers == {"X-API-KEY": "schlüssel-🔑"}
    assert connector.verify(headers, body, ["other", "schlüssel-🔑"], {})


def test_sign_uses_the_configured_header_name() -> None:
    assert connector.sign(b"{}", "abc", {"webhook_header": "X-Inbox-Token"}) == {
        "X-Inbox-Token": "abc"
    }


def test_verify_answers_false_instead_of_raising_on_broken_headers() -> None:
    class Broken(dict[str, str]):
        def get(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

    assert not connector.verify(Broken(), b"{}", ["abc"], {})


# --- split -----------------------------------------------------------------------------------


def test_webhook_body_is_one_delivery_named_by_its_trigger() -> None:
    document = fixture_json("enmeshed", "webhook_message_received_mail_v7")
    [delivery] = connector.split(document)
    assert delivery.event_name == "transport.messageReceived"
    assert delivery.payload == document


def test_legacy_batch_body_splits_into_one_delivery_per_item() -> None:
    document = fixture_json("enmeshed", "legacy_v1_webhook_batch")
    deliveries = connector.split(document)
    assert [d.event_name for d in deliveries] == [
        "sync.relationship",
        "sync.message",
        "sync.message",
    ]
    assert deliveries[0].payload == {
        "trigger": "sync.relationship",
        "data": document["relationships"][0],
    }
    assert deliveries[2].payload == {"trigger": "sync.message", "data": document["messages"][1]}


def test_legacy_account_sync_response_splits_its_result() -> None:
    document = fixture_json("enmeshed", "legacy_v1_account_sync_response")
    deliveries = connector.split(document)
    assert [(d.event_name, d.payload["data"]["id"]) for d in deliveries] == [
        ("sync.relationship", "RELmETR4biPHnY4H59ik"),
        ("sync.message", "MSG1suD6ZgCSTY9GqC79"),
    ]


def test_empty_account_sync_response_has_no_deliveries() -> None:
    assert connector.split({"result": {"messages": [], "relationships": []}}) == []


@pytest.mark.parametrize(
    "document",
    [
        [],
        "transport.messageReceived",
        {"error": {"code": "error.platform.unexpected"}},
        {"result": {"id": "MSGhuG8GP38g4o5MNJAY"}},
        {"trigger": 42, "data": {}},
        {"trigger": "", "data": {}},
        {"messages": {"id": "MSGhuG8GP38g4o5MNJAY"}},
        {"messages": ["MSGhuG8GP38g4o5MNJAY"]},
        {"result": {"relationships": "RELZjHZmya9gy4ed1wPw"}},
    ],
)
def test_documents_of_the_wrong_shape_raise_payload_error(document: Any) -> None:
    with pytest.raises(PayloadError):
        connector.split(document)


# --- dedup keys ------------------------------------------------------------------------------


def key_of(name: str) -> str:
    [delivery] = connector.split(fixture_json("enmeshed", name))
    return delivery.dedup_key


def test_every_fixture_event_has_its_own_short_key() -> None:
    keys = [
        delivery.dedup_key
        for name in ALL_FIXTURES
        for delivery in connector.split(fixture_json("enmeshed", name))
    ]
    assert len(keys) == len(set(keys)) == 21
    assert all(len(key) <= 255 for key in keys)


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_redelivery_of_the_same_document_gets_the_same_keys(name: str) -> None:
    first = [d.dedup_key for d in connector.split(json.loads(fixture_bytes("enmeshed", name)))]
    again = [d.dedup_key for d in connector.split(json.loads(fixture_bytes("enmeshed", name)))]
    assert first == again


def test_key_order_of_the_json_does_not_change_the_key() -> None:
    document = fixture_json("enmeshed", "webhook_consumption_attribute_created_v7")
    reordered = json.loads(json.dumps(document, sort_keys=True))
    reordered["data"] = dict(reversed(list(reordered["data"].items())))
    assert connector.split(reordered)[0].dedup_key == key_of(
        "webhook_consumption_attribute_created_v7"
    )


def test_message_key_names_the_message_and_hashes_its_delivery_state() -> None:
    key = key_of("webhook_message_received_mail_v7")
    prefix, message_id, state = key.split(":")
    assert (prefix, message_id, len(state)) == ("message", "MSGhuG8GP38g4o5MNJAY", 16)


def test_message_that_was_read_since_is_a_new_event() -> None:
    received = key_of("webhook_message_received_mail_v7")
    read = key_of("webhook_message_was_read_v7")
    assert read != received
    assert read.startswith("message:MSGhuG8GP38g4o5MNJAY:")


def test_sent_message_is_new_again_once_another_recipient_received_it() -> None:
    document = fixture_json("enmeshed", "webhook_message_sent_v7")
    later = copy.deepcopy(document)
    later["data"]["recipients"][1]["receivedAt"] = "2026-02-10T19:44:00.000Z"
    assert connector.split(later)[0].dedup_key != key_of("webhook_message_sent_v7")


def test_polled_message_in_the_same_state_as_its_webhook_is_a_duplicate() -> None:
    document = fixture_json("enmeshed", "webhook_message_received_mail_v7")
    polled = {"trigger": "sync.message", "data": document["data"]}
    assert connector.split(polled)[0].dedup_key == key_of("webhook_message_received_mail_v7")


def test_relationship_keys_follow_status_revision_and_peer_deletion() -> None:
    assert key_of("webhook_relationship_changed_pending_incoming_v7") == (
        "relationship:RELZjHZmya9gy4ed1wPw:Pending:1:"
    )
    assert key_of("webhook_relationship_changed_active_v7") == (
        "relationship:RELZjHZmya9gy4ed1wPw:Active:2:"
    )
    assert key_of("webhook_peer_to_be_deleted_v7") == (
        "relationship:RELZjHZmya9gy4ed1wPw:Active:2:ToBeDeleted"
    )


def test_legacy_relationship_key_counts_decided_changes_twice() -> None:
    batch = connector.split(fixture_json("enmeshed", "legacy_v1_webhook_batch"))
    sync = connector.split(fixture_json("enmeshed", "legacy_v1_account_sync_response"))
    assert batch[0].dedup_key == "relationship:RELJzcmP6lcPI71dC3WP:Active:2:"
    assert sync[0].dedup_key == "relationship:RELmETR4biPHnY4H59ik:Pending:1:"


def test_decomposition_key_names_the_relationship() -> None:
    assert key_of("webhook_relationship_decomposed_by_self_v7") == (
        "decomposed:RELKNZkjLHnBNvDMoRTe"
    )


def test_unknown_trigger_key_is_the_trigger_and_a_hash_of_its_data() -> None:
    document = fixture_json("enmeshed", "webhook_consumption_attribute_created_v7")
    data = json.dumps(document["data"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(data.encode()).hexdigest()
    assert key_of("webhook_consumption_attribute_created_v7") == (
        f"consumption.attributeCreated:{expected}"
    )


def test_overlong_key_is_hashed_down_to_the_column_size() -> None:
    [delivery] = connector.split({"trigger": "x" * 400, "data": {}})
    assert len(delivery.dedup_key) <= 255
    assert delivery.dedup_key.startswith("sha256:")


def test_message_without_an_id_is_still_stored_under_a_content_key() -> None:
    [delivery] = connector.split({"trigger": "transport.messageSent", "data": {"content": {}}})
    assert delivery.dedup_key.startswith("transport.messageSent:")
    with pytest.raises(PayloadError, match="'id'"):
        connector.parse(delivery.event_name, delivery.payload, context())


# --- messages (7.x) --------------------------------------------------------------------------


def test_received_mail_with_a_file_becomes_an_incoming_direct_message() -> None:
    event = only("webhook_message_received_mail_v7")
    assert isinstance(event, MessageUpserted)
    assert event.message_id == "MSGhuG8GP38g4o5MNJAY"
    assert event.direction == Direction.IN
    assert event.sender == Party(LENA)
    assert event.sent_at == at("2026-02-09T08:14:27.503Z")
    assert event.conversation.external_id == LENA
    assert event.conversation.kind == ConversationKind.DIRECT
    assert event.conversation.title is None
    assert event.conversation.participants == (Party(LENA),)
    assert event.content_kind == ContentKind.TEXT
    assert event.subject == "Kündigung meines Vertrags zum 31.03."
    assert event.text.endswith("Viele Grüße 🙂\nLena Hoffmann")
    assert event.content["@type"] == "Mail"
    assert event.attachments == (AttachmentInfo(external_id="FILl9B1UE8ePr5FxgmV2"),)
    assert event.recipients == (Party(US),)
    assert event.statuses == (
        StatusObserved("MSGhuG8GP38g4o5MNJAY", "delivered", at("2026-02-09T08:14:31.118Z"), US),
    )
    assert event.relationship_ids == {US: REL_LENA, LENA: REL_LENA}


def test_configured_address_is_our_address_on_received_messages() -> None:
    event = only("webhook_message_received_mail_v7", address=US)
    assert event.conversation.external_id == LENA
    assert event.relationship_ids[LENA] == REL_LENA


def test_sent_mail_to_two_people_is_an_outgoing_group_message() -> None:
    event = only("webhook_message_sent_v7")
    assert event.message_id == "MSGKJ1UXXFWXLCpaNfhs"
    assert event.direction == Direction.OUT
    assert event.sender == Party(US)
    assert event.conversation.external_id == group_id(LENA, TOBIAS)
    assert event.conversation.kind == ConversationKind.GROUP
    assert event.conversation.title == "Wartungsfenster am 14. Februar"
    assert event.conversation.participants == (Party(LENA), Party(TOBIAS))
    assert event.recipients == (Party(LENA), Party(TOBIAS))
    assert event.statuses == (
        StatusObserved("MSGKJ1UXXFWXLCpaNfhs", "sent", at("2026-02-10T16:03:09.664Z")),
        StatusObserved("MSGKJ1UXXFWXLCpaNfhs", "delivered", at("2026-02-10T16:03:12.841Z"), LENA),
    )
    assert event.relationship_ids == {LENA: REL_LENA, TOBIAS: REL_TOBIAS}
    assert event.attachments == ()


def test_received_mail_to_us_and_someone_else_joins_their_group() -> None:
    event = only("webhook_message_received_group_mail_v7")
    assert event.direction == Direction.IN
    assert event.conversation.external_id == group_id(LENA, MARTA)
    assert event.conversation.kind == ConversationKind.GROUP
    assert event.conversation.title == "Umzug der Praxis"
    assert event.conversation.participants == (Party(LENA), Party(MARTA))
    assert event.recipients == (Party(US),)


def test_group_key_does_not_depend_on_who_wrote_the_message() -> None:
    sent = only("webhook_message_sent_v7")
    document = fixture_json("enmeshed", "webhook_message_received_group_mail_v7")
    document["data"]["content"]["to"] = [US, TOBIAS]
    [reply] = events_of(document)
    assert reply.conversation.external_id == sent.conversation.external_id


def test_request_is_a_form_titled_by_the_request() -> None:
    event = only("webhook_message_received_request_v7")
    assert event.content_kind == ContentKind.FORM
    assert event.text == "Bitte bestätigen Sie Ihre Lieferadresse"
    assert event.subject == ""
    assert event.content["id"] == "REQYjobbrIEAq9ui8OLf"
    assert event.conversation.external_id == TOBIAS


def test_request_without_title_or_description_reads_request() -> None:
    document = fixture_json("enmeshed", "webhook_message_received_request_v7")
    del document["data"]["content"]["title"]
    [event] = events_of(document)
    assert event.text == "Request"


def test_response_wrapper_is_a_system_item_naming_the_request() -> None:
    event = only("webhook_message_received_response_wrapper_v7")
    assert event.content_kind == ContentKind.SYSTEM
    assert event.text == "Response to request REQ1lJcP390G0qvOHWVu: Accepted"
    assert event.content["response"]["result"] == "Accepted"


def test_notification_is_a_system_item() -> None:
    event = only("webhook_message_received_notification_v7")
    assert event.content_kind == ContentKind.SYSTEM
    assert event.text == "Notification NOTAQoXilIbQT7IRJz4q"
    assert event.content["items"][0]["predecessorId"] == "ATTdQ1aOpEdoRG3j7V53"


def test_arbitrary_content_is_a_silent_system_item_keeping_its_value() -> None:
    event = only("webhook_message_received_arbitrary_v7")
    assert event.content_kind == ContentKind.SYSTEM
    assert event.text == ""
    assert event.content == {
        "@type": "ArbitraryMessageContent",
        "value": {"kind": "meter-reading", "kWh": 18342, "readAt": "2026-02-15"},
    }


def test_unknown_content_type_is_unsupported() -> None:
    document = fixture_json("enmeshed", "webhook_message_received_arbitrary_v7")
    document["data"]["content"] = {"@type": "Postcard", "front": "Grüße aus Kiel"}
    [event] = events_of(document)
    assert event.content_kind == ContentKind.UNSUPPORTED
    assert event.content == {"@type": "Postcard", "front": "Grüße aus Kiel"}


def test_read_change_reports_the_read_time_for_us() -> None:
    event = only("webhook_message_was_read_v7")
    assert event.message_id == "MSGhuG8GP38g4o5MNJAY"
    assert event.direction == Direction.IN
    assert event.statuses == (
        StatusObserved("MSGhuG8GP38g4o5MNJAY", "delivered", at("2026-02-09T08:14:31.118Z"), US),
        StatusObserved("MSGhuG8GP38g4o5MNJAY", "read", at("2026-02-09T09:02:45.270Z"), US),
    )


def test_polled_message_carries_full_file_metadata() -> None:
    event = only("poll_message_with_attachments_v7")
    assert event.message_id == "MSGTNBEjE4o24hOSDRET"
    assert event.direction == Direction.IN
    assert event.conversation.external_id == TOBIAS
    assert event.attachments == (
        AttachmentInfo(
            external_id="FILAjC6afaCLI71fNYmp",
            filename="schadensmeldung.pdf",
            mime_type="application/pdf",
            size=182044,
            caption="Schadensmeldung Februar",
        ),
        AttachmentInfo(
            external_id="FILhNcWI9rQWOwjauQLK",
            filename="IMG_2207.jpg",
            mime_type="image/jpeg",
            size=2408117,
            caption="",
        ),
    )
    assert event.relationship_ids == {US: REL_TOBIAS, TOBIAS: REL_TOBIAS}


# --- messages (1.x) --------------------------------------------------------------------------


def test_legacy_received_message_maps_its_relationship_to_the_sender() -> None:
    event = only("legacy_v1_webhook_message_received")
    assert event.message_id == "MSG79IqJzQtJZPGSEZ4z"
    assert event.direction == Direction.IN
    assert event.sender == Party(JONAS)
    assert event.sent_at == at("2026-02-02T09:12:44.018Z")
    assert event.conversation.external_id == JONAS
    assert event.conversation.kind == ConversationKind.DIRECT
    assert event.subject == "Zählerstand"
    assert event.text == "Mein Zählerstand vom 1. Februar: 04711 m³."
    assert event.attachments == (AttachmentInfo(external_id="FILX783FSU8iIoELi9M4"),)
    assert event.recipients == (Party(US1),)
    assert event.statuses == (
        StatusObserved("MSG79IqJzQtJZPGSEZ4z", "delivered", at("2026-02-02T09:13:20.561Z"), US1),
    )
    # The one relationship is with the sender; our own recipient row names it too (as in 7.x).
    assert event.relationship_ids == {JONAS: REL_JONAS, US1: REL_JONAS}


def test_legacy_batch_messages_take_their_side_from_our_configured_address() -> None:
    events = events_of(fixture_json("enmeshed", "legacy_v1_webhook_batch"), address=US1)
    relationship, bare, reply = events
    assert isinstance(relationship, RelationshipUpserted)
    assert bare.message_id == "MSGBms1racjP4M9DZH7F"
    assert bare.direction == Direction.IN
    assert bare.content_kind == ContentKind.SYSTEM
    assert bare.text == ""
    assert bare.content == {"meterId": "Z-7731", "reading": 4711, "unit": "m3"}
    assert bare.conversation.external_id == JONAS
    assert reply.message_id == "MSGx6mqSFDGX0FZBJQ6c"
    assert reply.direction == Direction.OUT
    assert reply.sender == Party(US1)
    assert reply.conversation.external_id == JONAS
    assert reply.statuses == (
        StatusObserved("MSGx6mqSFDGX0FZBJQ6c", "sent", at("2026-02-03T12:00:01.500Z")),
    )
    assert reply.relationship_ids == {JONAS: REL_JONAS}


def test_legacy_own_message_is_outgoing_only_when_our_address_is_known() -> None:
    document = fixture_json("enmeshed", "legacy_v1_account_sync_response")
    [_, known] = events_of(document, address=US1)
    [_, unknown] = events_of(document)
    assert known.direction == Direction.OUT
    assert known.statuses[0] == StatusObserved(
        "MSG1suD6ZgCSTY9GqC79", "sent", at("2026-02-04T08:30:00.120Z")
    )
    assert unknown.direction == Direction.IN


# --- relationships ---------------------------------------------------------------------------


def test_incoming_pending_relationship_request() -> None:
    event = only("webhook_relationship_changed_pending_incoming_v7")
    assert event == RelationshipUpserted(
        relationship_id=REL_LENA,
        peer=LENA,
        status="Pending",
        direction="incoming",
        revision=1,
        peer_public_key=(
            "eyJwdWIiOiJwVTNLR0NVd3V4MXRFeXplMWlON0x0a2VQM0lmeXhseEYwU1Uxa2s4blZ3IiwiYWxnIjozfQ=="
        ),
        template=TemplateInfo("RLT0g2noa9f4DPvAIY12"),
        creation_content={
            "@type": "ArbitraryRelationshipCreationContent",
            "value": {"contractNumber": "V-2026-00418", "name": "Lena Hoffmann"},
        },
        audit_log=(
            {
                "createdAt": "2026-01-12T15:22:48.913Z",
                "createdBy": LENA,
                "createdByDevice": "DVCuXDMOPTNc7zuMnMDB",
                "reason": "Creation",
                "newStatus": "Pending",
            },
        ),
        peer_deletion=None,
        updated_at=at("2026-01-12T15:22:48.913Z"),
    )


def test_accepted_relationship_is_active_at_revision_two() -> None:
    event = only("webhook_relationship_changed_active_v7")
    assert event.status == "Active"
    assert event.direction == "incoming"
    assert event.revision == 2
    assert event.updated_at == at("2026-01-12T15:40:03.256Z")
    assert [entry["reason"] for entry in event.audit_log] == ["Creation", "AcceptanceOfCreation"]
    assert event.audit_log[1]["createdBy"] == US


def test_relationship_we_requested_is_outgoing() -> None:
    event = only("webhook_relationship_changed_pending_outgoing_v7")
    assert event.relationship_id == "RELKNZkjLHnBNvDMoRTe"
    assert event.peer == NEWPEER
    assert event.direction == "outgoing"
    assert event.status == "Pending"
    assert event.revision == 1
    assert event.template == TemplateInfo("RLTfPk2Wq8ZrN4xLc7Td")
    assert event.creation_content["@type"] == "RelationshipCreationContent"


def test_peer_to_be_deleted_carries_the_deletion_info() -> None:
    event = only("webhook_peer_to_be_deleted_v7")
    assert event.status == "Active"
    assert event.revision == 2
    assert event.peer_deletion == {
        "deletionStatus": "ToBeDeleted",
        "deletionDate": "2026-03-20T15:00:00.000Z",
    }


@pytest.mark.parametrize(
    "trigger",
    [
        "transport.relationshipReactivationRequested",
        "transport.relationshipReactivationCompleted",
        "transport.peerDeletionCancelled",
        "transport.peerDeleted",
    ],
)
def test_every_relationship_trigger_upserts_the_relationship(trigger: str) -> None:
    document = fixture_json("enmeshed", "webhook_relationship_changed_active_v7")
    document["trigger"] = trigger
    [event] = events_of(document)
    assert (event.relationship_id, event.status, event.revision) == (REL_LENA, "Active", 2)


def test_relationship_decomposed_by_us() -> None:
    event = only("webhook_relationship_decomposed_by_self_v7")
    assert event == RelationshipDecomposed("RELKNZkjLHnBNvDMoRTe")


def test_legacy_pending_relationship_from_account_sync() -> None:
    document = fixture_json("enmeshed", "legacy_v1_account_sync_response")
    event = events_of(document)[0]
    assert event.relationship_id == "RELmETR4biPHnY4H59ik"
    assert event.peer == PETRA
    assert event.status == "Pending"
    assert event.direction == "incoming"
    assert event.revision == 1
    assert event.peer_public_key.startswith("eyJwdWIiOiJWZVhO")
    assert event.template == TemplateInfo(
        template_id="RLTQ2lyrBIA3fytlwlqD",
        is_own=True,
        created_by=US1,
        created_at=at("2026-01-28T07:30:00.000Z"),
        expires_at=at("2026-04-28T07:30:00.000Z"),
        content=document["result"]["relationships"][0]["template"]["content"],
        max_allocations=1,
    )
    assert event.creation_content == {
        "attributes": [{"name": "Person.familyName", "value": "Nowak"}]
    }
    assert event.changes == (
        RelationshipChangeInfo(
            change_id="RCH2Ql9bw2kwJRKYInhN",
            type="Creation",
            status="Pending",
            requested_by=PETRA,
            requested_at=at("2026-02-04T10:02:17.645Z"),
            request_content={"attributes": [{"name": "Person.familyName", "value": "Nowak"}]},
            response=None,
        ),
    )
    assert event.audit_log == ()
    assert event.updated_at == at("2026-02-04T10:02:17.645Z")


def test_legacy_accepted_relationship_counts_the_response() -> None:
    event = events_of(fixture_json("enmeshed", "legacy_v1_webhook_batch"))[0]
    assert event.status == "Active"
    assert event.direction == "incoming"
    assert event.revision == 2
    assert event.template.max_allocations == 500
    assert event.changes[0].status == "Accepted"
    assert event.changes[0].response == {
        "createdBy": US1,
        "createdByDevice": "DVCTB4bsSvsU9XZ6htXA",
        "createdAt": "2026-01-20T17:45:30.902Z",
        "content": {"welcome": True},
    }
    assert event.updated_at == at("2026-01-20T17:45:30.902Z")


def test_embedded_template_with_audit_log_is_read_as_well() -> None:
    document = fixture_json("enmeshed", "webhook_relationship_changed_active_v7")
    data = document["data"]
    del data["templateId"]
    data["template"] = {
        "id": "RLT0g2noa9f4DPvAIY12",
        "isOwn": True,
        "createdBy": US,
        "createdAt": "2026-01-02T09:00:00.000Z",
        "expiresAt": "2026-12-31T23:00:00.000Z",
        "content": {"@type": "ArbitraryRelationshipTemplateContent", "value": {}},
        "maxNumberOfAllocations": 25,
    }
    [event] = events_of(document)
    assert event.template.template_id == "RLT0g2noa9f4DPvAIY12"
    assert event.template.is_own is True
    assert event.template.max_allocations == 25
    assert event.revision == 2


def test_events_hold_only_json_serialisable_data() -> None:
    for name in ALL_FIXTURES:
        for event in events_of(fixture_json("enmeshed", name)):
            if isinstance(event, MessageUpserted):
                json.dumps([event.content, dict(event.relationship_ids)])
            if isinstance(event, RelationshipUpserted):
                json.dumps([event.creation_content, list(event.audit_log), event.peer_deletion])


# --- ignored and malformed -------------------------------------------------------------------


def test_consumption_events_are_ignored() -> None:
    assert events_of(fixture_json("enmeshed", "webhook_consumption_attribute_created_v7")) == []


def broken(name: str, change: Any) -> dict[str, Any]:
    document = fixture_json("enmeshed", name)
    change(document["data"])
    return document


MESSAGE = "webhook_message_received_mail_v7"
RELATIONSHIP = "webhook_relationship_changed_active_v7"


@pytest.mark.parametrize(
    ("name", "change", "complaint"),
    [
        (MESSAGE, lambda d: d.pop("createdBy"), "createdBy"),
        (MESSAGE, lambda d: d.pop("createdAt"), "createdAt"),
        (MESSAGE, lambda d: d.update(createdAt="last tuesday"), "timestamp"),
        (MESSAGE, lambda d: d.pop("content"), "content"),
        (MESSAGE, lambda d: d.update(isOwn="no"), "isOwn"),
        (MESSAGE, lambda d: d.update(recipients={"address": US}), "recipients"),
        (MESSAGE, lambda d: d["recipients"][0].pop("address"), "address"),
        (MESSAGE, lambda d: d.update(attachments="FILl9B1UE8ePr5FxgmV2"), "attachments"),
        (MESSAGE, lambda d: d.update(attachments=[{"id": "FILx", "filesize": "9"}]), "filesize"),
        (MESSAGE, lambda d: d["content"].update(to=US), "content.to"),
        (RELATIONSHIP, lambda d: d.pop("status"), "status"),
        (RELATIONSHIP, lambda d: d.pop("auditLog"), "neither"),
        (RELATIONSHIP, lambda d: d.update(auditLog=[]), "empty auditLog"),
        (RELATIONSHIP, lambda d: d.update(auditLog=["Creation"]), "auditLog"),
        (RELATIONSHIP, lambda d: d.update(peerIdentity="x"), "peerIdentity"),
        ("webhook_relationship_decomposed_by_self_v7", lambda d: d.clear(), "relationshipId"),
    ],
)
def test_malformed_payloads_raise_payload_error(name: str, change: Any, complaint: str) -> None:
    with pytest.raises(PayloadError, match=complaint):
        events_of(broken(name, change))


def test_legacy_relationship_without_a_creation_change_raises_payload_error() -> None:
    document = fixture_json("enmeshed", "legacy_v1_account_sync_response")
    document["result"]["relationships"][0]["changes"][0]["type"] = "Termination"
    with pytest.raises(PayloadError, match="Creation"):
        events_of(document)


@pytest.mark.parametrize("payload", [None, [], "text", {"trigger": "transport.messageSent"}])
def test_known_trigger_with_no_object_raises_payload_error(payload: Any) -> None:
    with pytest.raises(PayloadError):
        connector.parse("transport.messageSent", payload, context())
