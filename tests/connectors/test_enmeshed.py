"""The enmeshed connector, driven by fixture payloads of the 7.x and 1.x Connector."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from inbox.choices import (
    ContentKind,
    ConversationKind,
    Direction,
    Platform,
    RelationshipDirection,
    Step,
)
from inbox.connectors import enmeshed as connector
from inbox.connectors.contract import (
    ChannelContext,
    Headers,
    Item,
    PayloadError,
    SignatureError,
)
from inbox.connectors.events import (
    AttachmentInfo,
    MessageUpserted,
    Party,
    RelationshipChangeInfo,
    RelationshipDecomposed,
    RelationshipUpserted,
    StatusObserved,
    TemplateInfo,
)
from inbox.connectors.registry import get_connector
from tests.helpers import fixture_bytes, fixture_json, parse_document

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

ROOT = Path(__file__).resolve().parents[2]
MAIL = "webhook_message_received_mail_v7"
SENT = "webhook_message_sent_v7"
ACTIVE = "webhook_relationship_changed_active_v7"
ACCOUNT_SYNC = "legacy_v1_account_sync_response"
BATCH = "legacy_v1_webhook_batch"

ALL_FIXTURES = [
    "legacy_v1_account_sync_relationship_accepted",
    ACCOUNT_SYNC,
    BATCH,
    "legacy_v1_webhook_message_received",
    "poll_message_with_attachments_v7",
    "webhook_consumption_attribute_created_v7",
    "webhook_message_received_arbitrary_v7",
    "webhook_message_received_attachments_v7",
    "webhook_message_received_group_mail_v7",
    MAIL,
    "webhook_message_received_notification_v7",
    "webhook_message_received_request_v7",
    "webhook_message_received_response_wrapper_v7",
    SENT,
    "webhook_message_was_read_v7",
    "webhook_peer_to_be_deleted_v7",
    ACTIVE,
    "webhook_relationship_changed_outgoing_accepted_v7",
    "webhook_relationship_changed_pending_incoming_v7",
    "webhook_relationship_changed_pending_outgoing_v7",
    "webhook_relationship_decomposed_by_self_incoming_v7",
    "webhook_relationship_decomposed_by_self_v7",
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def context(**settings: Any) -> ChannelContext:
    return ChannelContext(platform=Platform.ENMESHED, settings=settings)


def events_of(document: Any, **settings: Any) -> list[Any]:
    """Split a document and parse every item after the JSON round trip the way in does."""
    found: list[Any] = []
    for item in connector.split(document=document):
        found.extend(
            connector.parse(
                event_name=item.event_name,
                payload=json.loads(json.dumps(item.payload)),
                envelope=json.loads(json.dumps(item.envelope)),
                context=context(**settings),
            )
        )
    return found


def parse_item(event_name: str, payload: Any, **settings: Any) -> list[Any]:
    return connector.parse(
        event_name=event_name, payload=payload, envelope={}, context=context(**settings)
    )


def only(name: str, **settings: Any) -> Any:
    events = events_of(fixture_json("enmeshed", name), **settings)
    assert len(events) == 1
    return events[0]


def only_of(document: Any, **settings: Any) -> Any:
    [event] = events_of(document, **settings)
    return event


def changed(name: str, change: Callable[[Any], Any], **settings: Any) -> Any:
    """The single event of fixture ``name`` after ``change`` edited its ``data``."""
    document = fixture_json("enmeshed", name)
    change(document["data"])
    return only_of(document, **settings)


def group_id(*addresses: str) -> str:
    return "group:" + hashlib.sha256(",".join(sorted(addresses)).encode()).hexdigest()[:40]


def digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def observed(message_id: str, step: Step, when: str, participant: str = "") -> StatusObserved:
    return StatusObserved(message_id=message_id, step=step, at=at(when), participant=participant)


def verify(headers: Mapping[str, str], secrets: Any, **settings: Any) -> None:
    connector.verify(headers=Headers(headers), body=b"{}", secrets=secrets, settings=settings)


# --- the connector and its authentication ----------------------------------------------------


def test_connector_is_registered_for_the_enmeshed_platform() -> None:
    assert connector.platform == Platform.ENMESHED
    assert get_connector("enmeshed") is connector


def test_package_imports_neither_django_nor_the_old_base_module() -> None:
    code = (
        "import sys, inbox.connectors.enmeshed\n"
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] == 'django' or m == 'inbox.connectors.base'))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter running a fixed script
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


def test_secret_in_the_default_header_is_authentic() -> None:
    verify({"X-API-KEY": "s3cret-key"}, ["s3cret-key"])


def test_header_name_is_matched_in_any_case() -> None:
    # The Connector's own default spelling is lower case.
    verify({"x-api-key": "s3cret-key"}, ["s3cret-key"])
    verify({"x-inbox-token": "abc"}, ["abc"], webhook_header="X-Inbox-Token")


def test_configured_header_name_replaces_the_default() -> None:
    verify({"X-Inbox-Token": "abc"}, ["abc"], webhook_header="X-Inbox-Token")
    with pytest.raises(SignatureError, match="X-Inbox-Token header is missing"):
        verify({"X-API-KEY": "abc"}, ["abc"], webhook_header="X-Inbox-Token")


@pytest.mark.parametrize("configured", [None, "", 42])
def test_unusable_header_setting_falls_back_to_the_default_header(configured: Any) -> None:
    verify({"X-API-KEY": "abc"}, ["abc"], webhook_header=configured)


def test_wrong_secret_is_rejected_without_revealing_either_value() -> None:
    with pytest.raises(SignatureError, match="does not match") as raised:
        verify({"X-API-KEY": "guess"}, ["s3cret-key"])
    assert "guess" not in str(raised.value)
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize("headers", [{"Content-Type": "application/json"}, {"X-API-KEY": ""}])
def test_missing_or_empty_header_is_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError, match="X-API-KEY header is missing or empty"):
        verify(headers, ["s3cret-key"])


@pytest.mark.parametrize("secrets", [[], [""], [None, 7]])
def test_channel_without_a_usable_secret_rejects_everything(secrets: list[Any]) -> None:
    with pytest.raises(SignatureError, match="no webhook secret"):
        verify({"X-API-KEY": ""}, secrets)


def test_empty_secret_beside_a_real_one_never_authenticates_an_empty_header() -> None:
    verify({"X-API-KEY": "abc"}, ["", "abc"])
    with pytest.raises(SignatureError):
        verify({"X-API-KEY": ""}, ["", "abc"])


def test_a_lone_secret_string_is_one_secret_not_a_list_of_letters() -> None:
    verify({"X-API-KEY": "s3cret-key"}, "s3cret-key")
    with pytest.raises(SignatureError, match="does not match"):
        verify({"X-API-KEY": "s"}, "s3cret-key")


def test_either_of_two_rotated_secrets_matches() -> None:
    secrets = ["old-key-2025", "new-key-2026"]
    verify({"X-API-KEY": "new-key-2026"}, secrets)
    verify({"X-API-KEY": "old-key-2025"}, secrets)


def test_header_that_is_not_valid_text_is_rejected() -> None:
    # What a server decoding header bytes with surrogateescape hands over for a stray 0xFF.
    with pytest.raises(SignatureError, match="not valid text"):
        verify({"X-API-KEY": "abc\udcff"}, ["abc"])


def test_non_ascii_secret_authenticates_a_non_ascii_body() -> None:
    body = fixture_bytes("enmeshed", MAIL)
    assert "Grüße 🙂".encode() in body
    # The Connector sends the key itself: the header is the secret, whatever the body.
    headers = Headers({"x-api-key": "schlüssel-🔑"})
    connector.verify(headers=headers, body=body, secrets=["other", "schlüssel-🔑"], settings={})


def test_sign_sends_the_secret_in_the_configured_header() -> None:
    assert connector.sign(body=b"{}", secret="abc", settings={}) == {"X-API-KEY": "abc"}
    settings = {"webhook_header": "X-Inbox-Token"}
    assert connector.sign(body=b"{}", secret="abc", settings=settings) == {"X-Inbox-Token": "abc"}


# --- split -----------------------------------------------------------------------------------


def test_webhook_body_is_one_item_holding_its_data_unchanged() -> None:
    document = fixture_json("enmeshed", MAIL)
    [item] = connector.split(document=document)
    assert item.event_name == "transport.messageReceived"
    assert item.payload is document["data"]
    assert item.envelope == {"trigger": "transport.messageReceived"}


def test_webhook_envelope_keeps_every_field_around_the_data() -> None:
    document = {"trigger": "consumption.attributeCreated", "data": {"id": "ATTx"}, "n": 3}
    [item] = connector.split(document=document)
    assert item.envelope == {"trigger": "consumption.attributeCreated", "n": 3}


def test_webhook_without_data_is_stored_and_fails_when_parsed() -> None:
    [item] = connector.split(document={"trigger": "transport.messageSent"})
    assert (item.payload, item.dedup_key) == (None, f"transport.messageSent:{digest(None)}")
    with pytest.raises(PayloadError, match="message is missing"):
        parse_item(item.event_name, item.payload)


def test_legacy_batch_body_splits_into_one_item_per_dto_relationships_first() -> None:
    document = fixture_json("enmeshed", BATCH)
    items = connector.split(document=document)
    assert [item.event_name for item in items] == [
        "sync.relationship",
        "sync.message",
        "sync.message",
    ]
    assert items[0].payload is document["relationships"][0]
    assert items[2].payload is document["messages"][1]
    assert all(item.envelope == {} for item in items)


def test_legacy_account_sync_answer_splits_its_result() -> None:
    items = connector.split(document=fixture_json("enmeshed", ACCOUNT_SYNC))
    assert [(item.event_name, item.payload["id"]) for item in items] == [
        ("sync.relationship", "RELmETR4biPHnY4H59ik"),
        ("sync.message", "MSG1suD6ZgCSTY9GqC79"),
    ]


@pytest.mark.parametrize(
    "document",
    [
        {"result": {"messages": [], "relationships": []}},
        {"messages": [], "relationships": None},
    ],
)
def test_empty_batch_has_no_items(document: Any) -> None:
    assert connector.split(document=document) == []


def test_batch_entry_that_is_not_an_object_is_stored_alone_as_invalid() -> None:
    document = fixture_json("enmeshed", BATCH)
    document["messages"][0] = "MSGBms1racjP4M9DZH7F"
    items = connector.split(document=document)
    assert items[1] == Item(
        dedup_key=f"invalid:{digest('MSGBms1racjP4M9DZH7F')}",
        event_name="invalid",
        payload="MSGBms1racjP4M9DZH7F",
    )
    with pytest.raises(PayloadError, match="entry is missing or not an object"):
        parse_item(items[1].event_name, items[1].payload)
    # It fails alone: the rest of the batch parses.
    others = [item for item in items if item.event_name != "invalid"]
    parsed = [parse_item(item.event_name, item.payload) for item in others]
    assert [type(event) for [event] in parsed] == [RelationshipUpserted, MessageUpserted]


def test_invalid_item_never_parses_even_when_it_is_an_object() -> None:
    with pytest.raises(PayloadError, match="entry is neither a message nor a relationship"):
        parse_item("invalid", {"id": "MSGBms1racjP4M9DZH7F"})


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ([], r"^document is missing or not an object"),
        ("transport.messageReceived", r"^document is missing or not an object"),
        ({"error": {"code": "error.platform.unexpected"}}, "not an enmeshed webhook"),
        ({"result": {"id": "MSGhuG8GP38g4o5MNJAY"}}, "not an enmeshed webhook"),
        ({"result": "MSGhuG8GP38g4o5MNJAY"}, "not an enmeshed webhook"),
        ({"trigger": 42, "data": {}}, r"^document\.trigger is missing or not a string"),
        ({"trigger": "", "data": {}}, r"^document\.trigger is empty"),
        ({"messages": {"id": "MSGhuG8GP38g4o5MNJAY"}}, r"^document\.messages is missing or not"),
        ({"result": {"relationships": "REL"}}, r"^document\.result\.relationships is missing"),
    ],
)
def test_documents_of_a_foreign_shape_raise_payload_error_naming_the_path(
    document: Any, complaint: str
) -> None:
    with pytest.raises(PayloadError, match=complaint):
        connector.split(document=document)


# --- dedup keys ------------------------------------------------------------------------------


def key_of(document: Any) -> str:
    [item] = connector.split(document=document)
    return item.dedup_key


def fixture_key(name: str) -> str:
    return key_of(fixture_json("enmeshed", name))


def test_every_fixture_event_has_its_own_key() -> None:
    keys = [
        item.dedup_key
        for name in ALL_FIXTURES
        for item in connector.split(document=fixture_json("enmeshed", name))
    ]
    assert len(keys) == len(set(keys)) == 25


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_redelivery_of_the_same_document_gets_the_same_keys(name: str) -> None:
    first = [
        i.dedup_key for i in connector.split(document=json.loads(fixture_bytes("enmeshed", name)))
    ]
    again = [
        i.dedup_key for i in connector.split(document=json.loads(fixture_bytes("enmeshed", name)))
    ]
    assert first == again


def test_key_order_of_the_json_does_not_change_the_key() -> None:
    document = fixture_json("enmeshed", "webhook_consumption_attribute_created_v7")
    reordered = json.loads(json.dumps(document, sort_keys=True))
    reordered["data"] = dict(reversed(list(reordered["data"].items())))
    assert key_of(reordered) == fixture_key("webhook_consumption_attribute_created_v7")


def test_message_key_names_the_message_and_digests_its_delivery_state() -> None:
    # The format stored keys were made with: a changed format would store redeliveries again.
    state = {"received": [[US, "2026-02-09T08:14:31.118Z"]], "read": ""}
    assert fixture_key(MAIL) == f"message:MSGhuG8GP38g4o5MNJAY:{digest(state)[:16]}"


def test_message_that_was_read_since_is_a_new_event() -> None:
    read = fixture_key("webhook_message_was_read_v7")
    assert read != fixture_key(MAIL)
    assert read.startswith("message:MSGhuG8GP38g4o5MNJAY:")


def test_sent_message_is_new_again_once_another_recipient_received_it() -> None:
    later = fixture_json("enmeshed", SENT)
    later["data"]["recipients"][1]["receivedAt"] = "2026-02-10T19:44:00.000Z"
    assert key_of(later) != fixture_key(SENT)


def test_polled_message_in_the_same_state_as_its_webhook_is_a_duplicate() -> None:
    data = fixture_json("enmeshed", MAIL)["data"]
    assert key_of({"trigger": "sync.message", "data": data}) == fixture_key(MAIL)
    assert key_of({"messages": [data]}) == fixture_key(MAIL)


def test_polled_full_file_metadata_is_news_over_bare_file_ids() -> None:
    webhook = fixture_key("webhook_message_received_attachments_v7")
    polled = fixture_key("poll_message_with_attachments_v7")
    assert webhook.split(":")[:2] == polled.split(":")[:2] == ["message", "MSGTNBEjE4o24hOSDRET"]
    assert webhook != polled


def test_relationship_keys_follow_status_revision_and_peer_deletion() -> None:
    assert fixture_key("webhook_relationship_changed_pending_incoming_v7") == (
        "relationship:RELZjHZmya9gy4ed1wPw:Pending:1:"
    )
    assert fixture_key(ACTIVE) == "relationship:RELZjHZmya9gy4ed1wPw:Active:2:"
    assert fixture_key("webhook_peer_to_be_deleted_v7") == (
        "relationship:RELZjHZmya9gy4ed1wPw:Active:2:ToBeDeleted:2026-03-20T15:00:00.000Z"
    )
    assert key_of(deletion_cancelled()) == "relationship:RELZjHZmya9gy4ed1wPw:Active:2:cancelled"


def deletion_cancelled() -> dict[str, Any]:
    """``transport.peerDeletionCancelled``: the RelationshipDTO, without peerDeletionInfo again.

    Not a fixture file: a fixture is applied in any order by the convergence property, and a
    cancellation and the deletion it cancels (same status and revision) do not commute.
    """
    document: dict[str, Any] = fixture_json("enmeshed", ACTIVE)
    document["trigger"] = "transport.peerDeletionCancelled"
    return document


def test_cancelled_peer_deletion_is_not_a_duplicate_of_the_change_before_it() -> None:
    # A peer's deletion moves neither status nor revision, and the cancellation carries no
    # peerDeletionInfo: only its trigger tells it from the relationshipChanged before it.
    keys = {fixture_key(ACTIVE), fixture_key("webhook_peer_to_be_deleted_v7")}
    keys.add(key_of(deletion_cancelled()))
    assert len(keys) == 3


def test_peer_deletion_postponed_to_another_date_is_a_new_event() -> None:
    later = fixture_json("enmeshed", "webhook_peer_to_be_deleted_v7")
    later["data"]["peerDeletionInfo"]["deletionDate"] = "2026-04-01T15:00:00.000Z"
    assert key_of(later) == (
        "relationship:RELZjHZmya9gy4ed1wPw:Active:2:ToBeDeleted:2026-04-01T15:00:00.000Z"
    )


def test_peer_deleted_is_keyed_by_its_deletion_status_and_date() -> None:
    deleted = fixture_json("enmeshed", "webhook_peer_to_be_deleted_v7")
    deleted["trigger"] = "transport.peerDeleted"
    deleted["data"]["peerDeletionInfo"]["deletionStatus"] = "Deleted"
    assert key_of(deleted) == (
        "relationship:RELZjHZmya9gy4ed1wPw:Active:2:Deleted:2026-03-20T15:00:00.000Z"
    )


@pytest.mark.parametrize(
    "trigger",
    [
        "transport.relationshipChanged",
        "transport.relationshipReactivationRequested",
        "transport.relationshipReactivationCompleted",
        "transport.peerDeleted",
        "sync.relationship",
    ],
)
def test_only_the_cancellation_trigger_marks_a_relationship_without_deletion_info(
    trigger: str,
) -> None:
    document = fixture_json("enmeshed", ACTIVE)
    document["trigger"] = trigger
    assert key_of(document) == "relationship:RELZjHZmya9gy4ed1wPw:Active:2:"


def test_legacy_relationship_key_counts_decided_changes_twice() -> None:
    batch = connector.split(document=fixture_json("enmeshed", BATCH))
    sync = connector.split(document=fixture_json("enmeshed", ACCOUNT_SYNC))
    assert batch[0].dedup_key == "relationship:RELJzcmP6lcPI71dC3WP:Active:2:"
    assert sync[0].dedup_key == "relationship:RELmETR4biPHnY4H59ik:Pending:1:"


def test_relationship_with_neither_history_is_keyed_at_revision_zero() -> None:
    document = {"trigger": "transport.relationshipChanged", "data": {"id": "RELx", "status": "x"}}
    assert key_of(document) == "relationship:RELx:x:0:"


def test_decomposition_key_names_the_relationship() -> None:
    assert fixture_key("webhook_relationship_decomposed_by_self_v7") == (
        "decomposed:RELKNZkjLHnBNvDMoRTe"
    )


def test_unknown_trigger_key_is_the_trigger_and_a_digest_of_its_data() -> None:
    document = fixture_json("enmeshed", "webhook_consumption_attribute_created_v7")
    assert key_of(document) == f"consumption.attributeCreated:{digest(document['data'])}"


def test_long_keys_are_left_whole_for_the_way_in_to_clamp() -> None:
    assert key_of({"trigger": "x" * 400, "data": {}}) == f"{'x' * 400}:{digest({})}"
    message_id = "MSG" + "a" * 300
    document = {"trigger": "sync.message", "data": {"id": message_id}}
    assert key_of(document).startswith(f"message:{message_id}:")


@pytest.mark.parametrize(
    ("trigger", "data"),
    [
        ("transport.messageSent", {"content": {}}),
        ("transport.messageSent", {"id": "MSGx", "recipients": ["did:e:x"]}),
        ("transport.relationshipChanged", {"id": "RELx", "auditLog": "Creation"}),
        ("transport.relationshipDecomposedBySelf", {"relationshipId": 7}),
    ],
)
def test_item_its_key_cannot_be_read_from_is_keyed_by_its_content(trigger: str, data: Any) -> None:
    [item] = connector.split(document={"trigger": trigger, "data": data})
    assert item.dedup_key == f"{trigger}:{digest(data)}"
    with pytest.raises(PayloadError):
        parse_item(item.event_name, item.payload)


# --- messages (7.x) --------------------------------------------------------------------------


def test_received_mail_with_a_file_becomes_an_incoming_direct_message() -> None:
    event = only(MAIL)
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
        observed("MSGhuG8GP38g4o5MNJAY", Step.DELIVERED, "2026-02-09T08:14:31.118Z", US),
    )
    assert event.relationship_ids == {US: REL_LENA, LENA: REL_LENA}


def test_the_helper_route_through_get_connector_gives_the_same_events() -> None:
    assert parse_document("enmeshed", fixture_json("enmeshed", MAIL)) == [only(MAIL)]


def test_configured_address_is_our_address_on_received_messages() -> None:
    event = only(MAIL, address=US)
    assert event.conversation.external_id == LENA
    assert event.relationship_ids[LENA] == REL_LENA


def test_sent_mail_to_two_people_is_an_outgoing_group_message() -> None:
    event = only(SENT)
    assert event.message_id == "MSGKJ1UXXFWXLCpaNfhs"
    assert event.direction == Direction.OUT
    assert event.sender == Party(US)
    assert event.conversation.external_id == group_id(LENA, TOBIAS)
    assert event.conversation.kind == ConversationKind.GROUP
    assert event.conversation.title == "Wartungsfenster am 14. Februar"
    assert event.conversation.participants == (Party(LENA), Party(TOBIAS))
    assert event.recipients == (Party(LENA), Party(TOBIAS))
    assert event.statuses == (
        observed("MSGKJ1UXXFWXLCpaNfhs", Step.SENT, "2026-02-10T16:03:09.664Z"),
        observed("MSGKJ1UXXFWXLCpaNfhs", Step.DELIVERED, "2026-02-10T16:03:12.841Z", LENA),
    )
    assert event.relationship_ids == {LENA: REL_LENA, TOBIAS: REL_TOBIAS}
    assert event.attachments == ()


def test_every_observation_is_a_delivery_step_not_a_flag() -> None:
    statuses = [
        s
        for name in ALL_FIXTURES
        for e in events_of(fixture_json("enmeshed", name))
        if isinstance(e, MessageUpserted)
        for s in e.statuses
    ]
    assert statuses
    assert all(isinstance(s.step, Step) and s.flag == "" for s in statuses)


def test_received_mail_to_us_and_someone_else_joins_their_group() -> None:
    event = only("webhook_message_received_group_mail_v7")
    assert event.direction == Direction.IN
    assert event.conversation.external_id == group_id(LENA, MARTA)
    assert event.conversation.kind == ConversationKind.GROUP
    assert event.conversation.title == "Umzug der Praxis"
    assert event.conversation.participants == (Party(LENA), Party(MARTA))
    assert event.recipients == (Party(US),)


def test_group_key_does_not_depend_on_who_wrote_the_message() -> None:
    sent = only(SENT)
    reply = changed(
        "webhook_message_received_group_mail_v7",
        lambda d: d["content"].update(to=[US, TOBIAS]),
    )
    assert reply.conversation.external_id == sent.conversation.external_id


def test_cc_recipients_belong_to_the_group_too() -> None:
    event = changed(MAIL, lambda d: d["content"].update(cc=[MARTA]))
    assert event.conversation.external_id == group_id(LENA, MARTA)


def test_group_mail_without_a_subject_titles_its_conversation_empty() -> None:
    event = changed(SENT, lambda d: d["content"].pop("subject"))
    assert (event.conversation.kind, event.conversation.title) == (ConversationKind.GROUP, "")


def test_note_to_ourselves_is_the_conversation_with_ourselves() -> None:
    def to_us(data: dict[str, Any]) -> None:
        data.update(isOwn=True, createdBy=US, recipients=[{"address": US}])
        data["content"]["to"] = [US]

    event = changed(MAIL, to_us)
    assert (event.direction, event.conversation.external_id) == (Direction.OUT, US)


def test_received_message_to_several_of_us_without_a_known_address_keeps_everyone() -> None:
    def two_recipients(data: dict[str, Any]) -> None:
        data["recipients"].append({"address": MARTA, "relationshipId": "RELmartaAAAAAAAAAAAA"})
        data["wasReadAt"] = "2026-02-09T09:00:00.000Z"

    event = changed(MAIL, two_recipients)
    assert event.conversation.external_id == group_id(LENA, MARTA, US)
    # Which recipient we are is unknown: the read applies to every recipient.
    assert event.statuses[-1] == observed(
        "MSGhuG8GP38g4o5MNJAY", Step.READ, "2026-02-09T09:00:00.000Z"
    )
    # The first recipient row is taken for ours, as a received message normally has one.
    assert event.relationship_ids[LENA] == REL_LENA


def test_request_is_a_form_titled_by_the_request() -> None:
    event = only("webhook_message_received_request_v7")
    assert event.content_kind == ContentKind.FORM
    assert event.text == "Bitte bestätigen Sie Ihre Lieferadresse"
    assert event.subject == ""
    assert event.content["id"] == "REQYjobbrIEAq9ui8OLf"
    assert event.conversation.external_id == TOBIAS


@pytest.mark.parametrize(
    ("title", "description", "text"),
    [
        (None, "Lieferadresse prüfen", "Lieferadresse prüfen"),
        ("", None, "Request"),
        (None, None, "Request"),
    ],
)
def test_request_without_a_title_reads_its_description_or_request(
    title: str | None, description: str | None, text: str
) -> None:
    event = changed(
        "webhook_message_received_request_v7",
        lambda d: d["content"].update(title=title, description=description),
    )
    assert event.text == text


def test_response_wrapper_is_a_system_item_naming_the_request() -> None:
    event = only("webhook_message_received_response_wrapper_v7")
    assert event.content_kind == ContentKind.SYSTEM
    assert event.text == "Response to request REQ1lJcP390G0qvOHWVu: Accepted"
    assert event.content["response"]["result"] == "Accepted"


def test_response_wrapper_without_request_id_or_result_still_reads_as_a_response() -> None:
    event = changed(
        "webhook_message_received_response_wrapper_v7",
        lambda d: d["content"].update(requestId=None, response=None),
    )
    assert event.text == "Response to request (unknown)"


def test_notification_is_a_system_item() -> None:
    event = only("webhook_message_received_notification_v7")
    assert event.content_kind == ContentKind.SYSTEM
    assert event.text == "Notification NOTAQoXilIbQT7IRJz4q"
    assert event.content["items"][0]["predecessorId"] == "ATTdQ1aOpEdoRG3j7V53"


def test_notification_without_an_id_reads_notification() -> None:
    event = changed("webhook_message_received_notification_v7", lambda d: d["content"].pop("id"))
    assert event.text == "Notification"


def test_arbitrary_content_is_a_silent_system_item_keeping_its_value() -> None:
    event = only("webhook_message_received_arbitrary_v7")
    assert event.content_kind == ContentKind.SYSTEM
    assert event.text == ""
    assert event.content == {
        "@type": "ArbitraryMessageContent",
        "value": {"kind": "meter-reading", "kWh": 18342, "readAt": "2026-02-15"},
    }


def test_unknown_content_type_is_unsupported() -> None:
    postcard = {"@type": "Postcard", "front": "Grüße aus Kiel"}
    event = changed("webhook_message_received_arbitrary_v7", lambda d: d.update(content=postcard))
    assert event.content_kind == ContentKind.UNSUPPORTED
    assert event.content == postcard


@pytest.mark.parametrize("content", [[4711, "m3"], "Zählerstand 4711", {"reading": 4711}])
def test_bare_json_content_is_a_silent_system_item(content: Any) -> None:
    event = changed("webhook_message_received_arbitrary_v7", lambda d: d.update(content=content))
    assert (event.content_kind, event.text, event.content) == (ContentKind.SYSTEM, "", content)


def test_read_change_reports_the_read_time_for_us() -> None:
    event = only("webhook_message_was_read_v7")
    assert event.message_id == "MSGhuG8GP38g4o5MNJAY"
    assert event.direction == Direction.IN
    assert event.statuses == (
        observed("MSGhuG8GP38g4o5MNJAY", Step.DELIVERED, "2026-02-09T08:14:31.118Z", US),
        observed("MSGhuG8GP38g4o5MNJAY", Step.READ, "2026-02-09T09:02:45.270Z", US),
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
        observed("MSG79IqJzQtJZPGSEZ4z", Step.DELIVERED, "2026-02-02T09:13:20.561Z", US1),
    )
    # The one relationship is with the sender; our own recipient row names it too (as in 7.x).
    assert event.relationship_ids == {JONAS: REL_JONAS, US1: REL_JONAS}


def test_legacy_sent_webhook_is_outgoing_without_is_own() -> None:
    document = fixture_json("enmeshed", BATCH)
    event = only_of({"trigger": "transport.messageSent", "data": document["messages"][1]})
    assert (event.direction, event.sender) == (Direction.OUT, Party(US1))


def test_legacy_batch_messages_take_their_side_from_our_configured_address() -> None:
    events = events_of(fixture_json("enmeshed", BATCH), address=US1)
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
        observed("MSGx6mqSFDGX0FZBJQ6c", Step.SENT, "2026-02-03T12:00:01.500Z"),
    )
    assert reply.relationship_ids == {JONAS: REL_JONAS}


def test_legacy_own_message_is_outgoing_only_when_our_address_is_known() -> None:
    document = fixture_json("enmeshed", ACCOUNT_SYNC)
    [_, known] = events_of(document, address=US1)
    [_, unknown] = events_of(document)
    assert known.direction == Direction.OUT
    assert known.statuses[0] == observed(
        "MSG1suD6ZgCSTY9GqC79", Step.SENT, "2026-02-04T08:30:00.120Z"
    )
    assert unknown.direction == Direction.IN


def test_several_legacy_relationship_ids_are_not_guessed_onto_addresses() -> None:
    def to_two(data: dict[str, Any]) -> None:
        data["content"]["to"] = [JONAS, PETRA]
        data["recipients"] = [{"address": JONAS}, {"address": PETRA}]
        data["relationshipIds"] = [REL_JONAS, "RELmETR4biPHnY4H59ik"]

    document = {"trigger": "sync.message", "data": fixture_json("enmeshed", BATCH)["messages"][1]}
    to_two(document["data"])
    event = only_of(document, address=US1)
    assert event.conversation.external_id == group_id(JONAS, PETRA)
    assert event.relationship_ids == {}


# --- relationships ---------------------------------------------------------------------------


def test_incoming_pending_relationship_request() -> None:
    event = only("webhook_relationship_changed_pending_incoming_v7")
    assert event == RelationshipUpserted(
        relationship_id=REL_LENA,
        peer=LENA,
        status="Pending",
        direction=RelationshipDirection.INCOMING,
        revision=1,
        peer_public_key=(
            "eyJwdWIiOiJwVTNLR0NVd3V4MXRFeXplMWlON0x0a2VQM0lmeXhseEYwU1Uxa2s4blZ3IiwiYWxnIjozfQ=="
        ),
        template=TemplateInfo(template_id="RLT0g2noa9f4DPvAIY12"),
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
    assert isinstance(event.direction, RelationshipDirection)


def test_accepted_relationship_is_active_at_revision_two() -> None:
    event = only(ACTIVE)
    assert event.status == "Active"
    assert event.direction is RelationshipDirection.INCOMING
    assert event.revision == 2
    assert event.updated_at == at("2026-01-12T15:40:03.256Z")
    assert [entry["reason"] for entry in event.audit_log] == ["Creation", "AcceptanceOfCreation"]
    assert event.audit_log[1]["createdBy"] == US


def test_relationship_we_requested_is_outgoing() -> None:
    event = only("webhook_relationship_changed_pending_outgoing_v7")
    assert event.relationship_id == "RELKNZkjLHnBNvDMoRTe"
    assert event.peer == NEWPEER
    assert event.direction is RelationshipDirection.OUTGOING
    assert event.status == "Pending"
    assert event.revision == 1
    assert event.template == TemplateInfo(template_id="RLTfPk2Wq8ZrN4xLc7Td")
    assert event.creation_content["@type"] == "RelationshipCreationContent"


def test_peer_is_read_from_the_peer_identity_when_the_dto_has_no_peer_field() -> None:
    event = changed(ACTIVE, lambda d: d.pop("peer"))
    assert event.peer == LENA


def test_relationship_without_a_template_names_none() -> None:
    assert changed(ACTIVE, lambda d: d.pop("templateId")).template is None


def test_peer_to_be_deleted_carries_the_deletion_info() -> None:
    event = only("webhook_peer_to_be_deleted_v7")
    assert event.status == "Active"
    assert event.revision == 2
    assert event.peer_deletion == {
        "deletionStatus": "ToBeDeleted",
        "deletionDate": "2026-03-20T15:00:00.000Z",
    }


@pytest.mark.parametrize(
    ("trigger", "peer_deletion"),
    [
        ("transport.relationshipReactivationRequested", None),
        ("transport.relationshipReactivationCompleted", None),
        ("transport.peerDeletionCancelled", {}),
        ("transport.peerDeleted", None),
    ],
)
def test_every_relationship_trigger_upserts_the_relationship(
    trigger: str, peer_deletion: dict[str, Any] | None
) -> None:
    document = fixture_json("enmeshed", ACTIVE)
    document["trigger"] = trigger
    event = only_of(document)
    assert (event.relationship_id, event.status, event.revision) == (REL_LENA, "Active", 2)
    assert event.peer_deletion == peer_deletion


def test_relationship_decomposed_by_us() -> None:
    event = only("webhook_relationship_decomposed_by_self_v7")
    assert event == RelationshipDecomposed(relationship_id="RELKNZkjLHnBNvDMoRTe")


def test_legacy_pending_relationship_from_account_sync() -> None:
    document = fixture_json("enmeshed", ACCOUNT_SYNC)
    event = events_of(document)[0]
    assert event.relationship_id == "RELmETR4biPHnY4H59ik"
    assert event.peer == PETRA
    assert event.status == "Pending"
    assert event.direction is RelationshipDirection.INCOMING
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
    event = events_of(fixture_json("enmeshed", BATCH))[0]
    assert event.status == "Active"
    assert event.direction is RelationshipDirection.INCOMING
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


def test_legacy_relationship_we_requested_is_outgoing() -> None:
    document = fixture_json("enmeshed", ACCOUNT_SYNC)
    document["result"]["relationships"][0]["changes"][0]["request"]["createdBy"] = US1
    assert events_of(document)[0].direction is RelationshipDirection.OUTGOING


def test_embedded_template_with_audit_log_is_read_as_well() -> None:
    def embed(data: dict[str, Any]) -> None:
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

    event = changed(ACTIVE, embed)
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


def broken(name: str, change: Callable[[Any], Any]) -> Any:
    document = fixture_json("enmeshed", name)
    change(document["data"])
    return document


LATE = "9999-12-31T23:59:59-01:00"  # a valid offset time past the last UTC datetime
HUGE = 2**63  # one more than a signed 64-bit column holds


@pytest.mark.parametrize(
    ("name", "change", "complaint"),
    [
        (MAIL, lambda d: d.pop("createdBy"), r"^message\.createdBy is missing$"),
        (MAIL, lambda d: d.pop("createdAt"), r"^message\.createdAt is missing$"),
        (MAIL, lambda d: d.update(createdAt="last tuesday"), r"^message\.createdAt is not a time"),
        (MAIL, lambda d: d.update(createdAt=LATE), r"^message\.createdAt is not a timestamp"),
        (MAIL, lambda d: d.update(wasReadAt=LATE), r"^message\.wasReadAt is not a timestamp"),
        (
            MAIL,
            lambda d: d["recipients"][0].update(receivedAt=LATE),
            r"recipients\[0\]\.receivedAt",
        ),
        (MAIL, lambda d: d.pop("content"), r"^message\.content is missing$"),
        (MAIL, lambda d: d.update(isOwn="no"), r"^message\.isOwn is missing or not a boolean"),
        (MAIL, lambda d: d.update(recipients={"address": US}), r"^message\.recipients is missing"),
        (MAIL, lambda d: d["recipients"][0].pop("address"), r"recipients\[0\]\.address is miss"),
        (MAIL, lambda d: d.update(recipients=[US]), r"^message\.recipients\[0\] is not an object"),
        (MAIL, lambda d: d.update(attachments="FILl9"), r"^message\.attachments is missing or not"),
        (MAIL, lambda d: d.update(attachments=[""]), r"^message\.attachments\[0\] is empty$"),
        (MAIL, lambda d: d.update(attachments=[7]), r"attachments\[0\] is missing or not an obj"),
        (MAIL, lambda d: d.update(attachments=[{"title": "x"}]), r"attachments\[0\]\.id is miss"),
        (MAIL, lambda d: d.update(attachments=[{"id": "F", "filesize": "9"}]), r"\.filesize is no"),
        (MAIL, lambda d: d.update(attachments=[{"id": "F", "filesize": HUGE}]), r"size is out of"),
        (MAIL, lambda d: d["content"].update(to=US), r"^message\.content\.to is missing or not a"),
        (MAIL, lambda d: d["content"].update(cc=[None]), r"^message\.content\.cc\[0\] is missing"),
        (MAIL, lambda d: d["content"].update(subject=5), r"^message\.content\.subject is missing"),
        (MAIL, lambda d: d["content"].update({"@type": 5}), r"^message\.content\.@type is miss"),
        (MAIL, lambda d: d.update(relationshipIds="REL"), r"^message\.relationshipIds is missing"),
        (ACTIVE, lambda d: d.pop("id"), r"^relationship\.id is missing$"),
        (ACTIVE, lambda d: d.pop("status"), r"^relationship\.status is missing$"),
        (ACTIVE, lambda d: d.pop("auditLog"), r"^relationship has neither an auditLog nor change"),
        (ACTIVE, lambda d: d.update(auditLog=[]), r"^relationship\.auditLog is empty$"),
        (ACTIVE, lambda d: d.update(auditLog=["Creation"]), r"^relationship\.auditLog\[0\] is"),
        (ACTIVE, lambda d: d["auditLog"][1].update(createdAt=LATE), r"auditLog\[1\]\.createdAt"),
        (ACTIVE, lambda d: d.update(peerIdentity="x"), r"^relationship\.peerIdentity is not an"),
        (ACTIVE, lambda d: d.update(peer=None, peerIdentity=None), r"peerIdentity is missing$"),
        (ACTIVE, lambda d: d.update(peerDeletionInfo="x"), r"^relationship\.peerDeletionInfo is"),
        (ACTIVE, lambda d: d.update(template=[]), r"^relationship\.template is not an object"),
        (
            ACTIVE,
            lambda d: d.update(template={"id": "RLTx", "maxNumberOfAllocations": HUGE}),
            r"^relationship\.template\.maxNumberOfAllocations is out of range",
        ),
        (
            "webhook_relationship_decomposed_by_self_v7",
            lambda d: d.clear(),
            r"^decomposition\.relationshipId is missing$",
        ),
    ],
)
def test_malformed_payloads_raise_payload_error_naming_the_path(
    name: str, change: Callable[[Any], Any], complaint: str
) -> None:
    with pytest.raises(PayloadError, match=complaint):
        events_of(broken(name, change))


def legacy_relationship(change: Callable[[Any], Any]) -> Any:
    document = fixture_json("enmeshed", BATCH)
    relationship = document["relationships"][0]
    change(relationship)
    return {"relationships": [relationship]}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda r: r["changes"][0].update(type="Termination"), r"^relationship\.changes has no Cr"),
        (lambda r: r.update(changes="RCHx"), r"^relationship\.changes is missing or not a list"),
        (lambda r: r["changes"][0].pop("request"), r"^relationship\.changes\[0\]\.request is miss"),
        (lambda r: r["changes"][0].pop("status"), r"^relationship\.changes\[0\]\.status is miss"),
        (lambda r: r["changes"][0].update(response=1), r"changes\[0\]\.response is missing or not"),
        (lambda r: r["changes"][0]["request"].pop("createdBy"), r"request\.createdBy is missing$"),
        (lambda r: r["template"].update(maxNumberOfRelationships=-HUGE - 1), r"is out of range"),
    ],
)
def test_malformed_legacy_relationships_raise_payload_error_naming_the_path(
    change: Callable[[Any], Any], complaint: str
) -> None:
    with pytest.raises(PayloadError, match=complaint):
        events_of(legacy_relationship(change))


@pytest.mark.parametrize("payload", [None, [], "text", {"trigger": "transport.messageSent"}])
def test_known_trigger_with_no_message_object_raises_payload_error(payload: Any) -> None:
    with pytest.raises(PayloadError, match=r"^message"):
        parse_item("transport.messageSent", payload)


@pytest.mark.parametrize("payload", [None, "anything", {"id": "ATTdQ1aOpEdoRG3j7V53"}])
def test_item_of_an_unknown_trigger_parses_to_nothing_whatever_its_payload(payload: Any) -> None:
    assert parse_item("consumption.attributeCreated", payload) == []
