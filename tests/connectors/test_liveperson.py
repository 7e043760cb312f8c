"""LivePerson Connector API webhooks: signatures, splitting, dedup keys and parsing."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from inbox.connectors.base import (
    AttachmentInfo,
    Audience,
    ChannelContext,
    ContentKind,
    ConversationChanged,
    ConversationKind,
    ConversationRef,
    ConversationStatus,
    Direction,
    Event,
    MessageUpserted,
    Party,
    PayloadError,
    Platform,
    StatusChanged,
    StatusObserved,
    Typing,
    get_connector,
)
from inbox.connectors.liveperson import connector
from tests.helpers import fixture_bytes, fixture_json

PLATFORM = "liveperson"
CONTEXT = ChannelContext(platform=PLATFORM, settings={})
SECRET = "q7Rk2vNw9xLp4mZs8tBc3hJd"
SIGNATURE = "X-LivePerson-Signature"

CONV = "7c1e4b52-93a0-4d2f-b8e6-1f0a5c2d9e31"
CONSUMER = "9d4b7e21c0f35a8e6b12d97c4f0a3e58b6d2c19f7a4e0b83d5c6f21e9a07b4d3"
AGENT = "3f9a2c17-6b4e-5d81-9e0c-a2b7d4f6c813"
CONSUMER_PARTY = Party(CONSUMER, role="CONSUMER")
AGENT_PARTY = Party(AGENT, role="ASSIGNED_AGENT")
MS = "ms.MessagingEventNotification"
CQM = "cqm.ExConversationChangeNotification"

ALL_FIXTURES = [
    "content_text_from_consumer",
    "content_text_from_agent",
    "content_text_without_conversation_id",
    "content_hosted_file",
    "content_secure_form_invitation",
    "content_secure_form_submission",
    "content_unknown_content_type",
    "content_private_note",
    "rich_content_card",
    "accept_status_accept",
    "accept_status_read",
    "chat_state_composing",
    "chat_state_pause",
    "mixed_batch",
    "cqm_created",
    "cqm_skill_transfer",
    "cqm_agent_joined",
    "cqm_closed_by_consumer",
    "cqm_deleted",
    "unknown_event_type",
    "unknown_notification_type",
]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def parse_document(document: Any) -> list[Event]:
    """Split, round-trip each payload through JSON (as storage does) and parse it."""
    events: list[Event] = []
    for delivery in connector.split(document):
        payload = json.loads(json.dumps(delivery.payload))
        events.extend(connector.parse(delivery.event_name, payload, CONTEXT))
    return events


def events_of(name: str) -> list[Event]:
    return parse_document(fixture_json(PLATFORM, name))


def only_event(name: str) -> Event:
    events = events_of(name)
    assert len(events) == 1
    return events[0]


def first_change(name: str) -> dict[str, Any]:
    change: dict[str, Any] = fixture_json(PLATFORM, name)["body"]["changes"][0]
    return change


def with_change(name: str, change: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = fixture_json(PLATFORM, name)
    document["body"]["changes"] = [change]
    return document


# --- the connector ---------------------------------------------------------------------------


def test_connector_is_registered_for_liveperson() -> None:
    assert connector.platform is Platform.LIVEPERSON
    assert get_connector("liveperson") is connector


# --- signatures ------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1])
def test_published_test_vectors_verify(index: int) -> None:
    facts = fixture_json(PLATFORM, "signature_vectors")
    vector = facts["vectors"][index]
    headers = {SIGNATURE: vector["signature"]}
    body = vector["body"].encode("utf-8")
    assert connector.verify(headers, body, [facts["client_secret"]], {}) is True


@pytest.mark.parametrize("index", [0, 1])
def test_sign_reproduces_published_vectors_with_account_and_client_headers(index: int) -> None:
    facts = fixture_json(PLATFORM, "signature_vectors")
    vector = facts["vectors"][index]
    settings = {"account_id": facts["account_id"], "client_id": facts["client_id"]}
    headers = connector.sign(vector["body"].encode("utf-8"), facts["client_secret"], settings)
    assert headers == {
        SIGNATURE: vector["signature"],
        "X-LivePerson-Account-Id": "42257269",
        "X-LivePerson-Client-Id": "81fad476-88af-4d08-bc0e-20bc69439ed4",
    }


def test_sign_without_ids_sends_only_the_signature() -> None:
    headers = connector.sign(b"{}", SECRET, {})
    assert list(headers) == [SIGNATURE]
    assert headers[SIGNATURE].startswith("sha1=")


def test_valid_signature_over_a_fixture_is_accepted() -> None:
    body = fixture_bytes(PLATFORM, "mixed_batch")
    headers = connector.sign(body, SECRET, {})
    assert connector.verify(headers, body, [SECRET], {}) is True


def test_wrong_secret_is_rejected() -> None:
    body = fixture_bytes(PLATFORM, "content_text_from_agent")
    headers = connector.sign(body, "not-the-channel-secret", {})
    assert connector.verify(headers, body, [SECRET], {}) is False


def test_tampered_body_is_rejected() -> None:
    body = fixture_bytes(PLATFORM, "content_text_from_agent")
    headers = connector.sign(body, SECRET, {})
    tampered = body.replace(b"Guten Morgen", b"Guten Abend")
    assert connector.verify(headers, tampered, [SECRET], {}) is False


def test_missing_signature_header_is_rejected() -> None:
    body = fixture_bytes(PLATFORM, "content_text_from_agent")
    headers = {"X-LivePerson-Account-Id": "73820514"}
    assert connector.verify(headers, body, [SECRET], {}) is False


def test_no_configured_secret_rejects_everything() -> None:
    body = fixture_bytes(PLATFORM, "content_text_from_agent")
    assert connector.verify(connector.sign(body, SECRET, {}), body, [], {}) is False
    # An empty secret must not let an attacker sign with an empty HMAC key.
    assert connector.verify(connector.sign(body, "", {}), body, [""], {}) is False


def test_rotated_secrets_accept_a_signature_made_with_the_second() -> None:
    body = fixture_bytes(PLATFORM, "cqm_agent_joined")
    headers = connector.sign(body, "new-secret-2026", {})
    assert connector.verify(headers, body, ["old-secret-2025", "new-secret-2026"], {}) is True
    assert connector.verify(headers, body, ["old-secret-2025"], {}) is False


def test_sha256_accounts_sign_and_verify_with_hmac_sha256() -> None:
    body = fixture_bytes(PLATFORM, "cqm_created")
    headers = connector.sign(body, SECRET, {"signature_algorithm": "sha256"})
    assert headers[SIGNATURE].startswith("sha256=")
    assert len(headers[SIGNATURE].removeprefix("sha256=")) == 44  # base64 of 32 bytes
    assert connector.verify(headers, body, [SECRET], {}) is True


def test_signature_is_checked_with_the_algorithm_its_prefix_names() -> None:
    body = fixture_bytes(PLATFORM, "cqm_created")
    sha1_digest = connector.sign(body, SECRET, {})[SIGNATURE].removeprefix("sha1=")
    assert connector.verify({SIGNATURE: f"sha256={sha1_digest}"}, body, [SECRET], {}) is False


@pytest.mark.parametrize(
    "value",
    ["md5=e/TfS0wv1HbvEsMqcBMmFLcMslI=", "e/TfS0wv1HbvEsMqcBMmFLcMslI=", "sha1=", "", "sha1=@@"],
)
def test_unknown_prefix_or_garbled_signature_is_rejected(value: str) -> None:
    facts = fixture_json(PLATFORM, "signature_vectors")
    body = facts["vectors"][0]["body"].encode("utf-8")
    assert connector.verify({SIGNATURE: value}, body, [facts["client_secret"]], {}) is False


def test_non_ascii_body_is_signed_over_its_raw_bytes() -> None:
    body = fixture_bytes(PLATFORM, "content_text_from_consumer")
    assert "Grüße".encode() in body
    assert "😕".encode() in body
    headers = connector.sign(body, SECRET, {})
    assert connector.verify(headers, body, [SECRET], {}) is True
    reserialised = json.dumps(json.loads(body)).encode("utf-8")  # \u escapes the text
    assert connector.verify(headers, reserialised, [SECRET], {}) is False


def test_header_lookup_tolerates_lowercase_names_in_a_plain_dict() -> None:
    body = fixture_bytes(PLATFORM, "chat_state_pause")
    value = connector.sign(body, SECRET, {})[SIGNATURE]
    assert connector.verify({"x-liveperson-signature": value}, body, [SECRET], {}) is True


# --- split -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "event_name"),
    [
        ("content_text_from_consumer", f"{MS}.ContentEvent"),
        ("rich_content_card", f"{MS}.RichContentEvent"),
        ("accept_status_read", f"{MS}.AcceptStatusEvent"),
        ("chat_state_pause", f"{MS}.ChatStateEvent"),
        ("unknown_event_type", f"{MS}.ConversationMetadataEvent"),
        ("cqm_closed_by_consumer", CQM),
        ("unknown_notification_type", "routing.RoutingTaskNotification"),
    ],
)
def test_event_name_adds_the_messaging_event_type(name: str, event_name: str) -> None:
    deliveries = connector.split(fixture_json(PLATFORM, name))
    assert [delivery.event_name for delivery in deliveries] == [event_name]


def test_batch_splits_into_one_delivery_per_change_keeping_the_other_body_keys() -> None:
    document = fixture_json(PLATFORM, "mixed_batch")
    deliveries = connector.split(document)
    assert [delivery.event_name for delivery in deliveries] == [
        f"{MS}.ContentEvent",
        f"{MS}.AcceptStatusEvent",
        f"{MS}.ChatStateEvent",
    ]
    for delivery, change in zip(deliveries, document["body"]["changes"], strict=True):
        assert delivery.payload == {
            "kind": "notification",
            "body": {
                "subscriptionId": "e41f7a90-3c2b-4d85-a6e7-5b09c8d1f234",
                "sentTs": 1773307362412,
                "changes": [change],
            },
            "type": MS,
        }


def test_split_leaves_the_original_document_untouched() -> None:
    document = fixture_json(PLATFORM, "mixed_batch")
    before = copy.deepcopy(document)
    connector.split(document)
    assert document == before


def test_envelope_without_changes_is_one_delivery_of_the_whole_envelope() -> None:
    document = {
        "kind": "notification",
        "body": {"changes": [], "sentTs": 1773307000000},
        "type": MS,
    }
    (delivery,) = connector.split(document)
    assert delivery.event_name == MS
    assert delivery.payload == document
    assert delivery.dedup_key.startswith("hash:")
    assert connector.parse(delivery.event_name, delivery.payload, CONTEXT) == []


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("content_text_from_consumer", [f"ms:{CONV}:0:ContentEvent"]),
        ("rich_content_card", [f"ms:{CONV}:8:RichContentEvent"]),
        ("accept_status_read", [f"ms:{CONV}:3:AcceptStatusEvent"]),
        (
            "content_text_without_conversation_id",
            ["ms:a0d6e3f1-58b2-4c7e-9f14-6e2b8d0c3a97:7:ContentEvent"],
        ),
        ("cqm_created", [f"cqm:{CONV}:UPSERT:1773306845210"]),
        ("cqm_closed_by_consumer", [f"cqm:{CONV}:UPSERT:1773307458936"]),
        ("cqm_deleted", [f"cqm:{CONV}:DELETE:1773393859001"]),
    ],
)
def test_dedup_keys_name_the_platform_event(name: str, keys: list[str]) -> None:
    deliveries = connector.split(fixture_json(PLATFORM, name))
    assert [delivery.dedup_key for delivery in deliveries] == keys


def test_chat_state_with_a_server_time_is_keyed_by_a_hash_of_the_change() -> None:
    document = fixture_json(PLATFORM, "chat_state_pause")
    document["body"]["changes"][0]["serverTimestamp"] = 1773310000000
    (first,) = connector.split(document)
    (again,) = connector.split(document)
    prefix = f"ms:{CONV}:chat:"
    assert first.dedup_key.startswith(prefix)
    assert len(first.dedup_key) == len(prefix) + 64
    assert first.dedup_key == again.dedup_key


def test_chat_state_without_a_server_time_counts_every_arrival() -> None:
    # Typing again later is byte-identical; dropping it as a duplicate would hide the typist.
    (first,) = connector.split(fixture_json(PLATFORM, "chat_state_pause"))
    (again,) = connector.split(fixture_json(PLATFORM, "chat_state_pause"))
    assert first.dedup_key.startswith(f"ms:{CONV}:chat:")
    assert first.dedup_key != again.dedup_key


def test_unknown_event_without_a_sequence_is_keyed_by_a_hash_of_the_change() -> None:
    change = first_change("unknown_event_type")
    del change["sequence"]
    (delivery,) = connector.split(with_change("unknown_event_type", change))
    assert delivery.dedup_key.startswith("hash:")


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_redelivery_gives_the_same_dedup_keys(name: str) -> None:
    first = connector.split(fixture_json(PLATFORM, name))
    again = connector.split(json.loads(fixture_bytes(PLATFORM, name)))
    undated_chat_state = [
        ":chat:" in d.dedup_key and "serverTimestamp" not in str(d.payload) for d in first
    ]
    assert [d.dedup_key for d, u in zip(first, undated_chat_state, strict=True) if not u] == [
        d.dedup_key for d, u in zip(again, undated_chat_state, strict=True) if not u
    ]
    assert all(len(d.dedup_key) <= 255 for d in first)


def test_retry_with_another_sent_time_and_key_order_gives_the_same_key() -> None:
    document = fixture_json(PLATFORM, "chat_state_composing")
    retried = fixture_json(PLATFORM, "chat_state_composing")
    retried["body"]["sentTs"] = 1773306999999
    change = retried["body"]["changes"][0]
    retried["body"]["changes"][0] = dict(reversed(list(change.items())))
    assert connector.split(document)[0].dedup_key == connector.split(retried)[0].dedup_key


def test_every_fixture_change_has_its_own_dedup_key() -> None:
    keys = [
        delivery.dedup_key
        for name in ALL_FIXTURES
        for delivery in connector.split(fixture_json(PLATFORM, name))
    ]
    assert len(keys) == len(set(keys))


def test_different_chat_states_of_one_dialog_get_different_keys() -> None:
    composing = first_change("chat_state_composing")
    paused = copy.deepcopy(composing)
    paused["event"]["chatState"] = "PAUSE"
    keys = {
        connector.split(with_change("chat_state_composing", change))[0].dedup_key
        for change in (composing, paused)
    }
    assert len(keys) == 2


def test_overlong_identifiers_fall_back_to_a_hashed_key() -> None:
    change = first_change("content_text_from_agent")
    change["dialogId"] = change["conversationId"] = "d" * 300
    (delivery,) = connector.split(with_change("content_text_from_agent", change))
    assert delivery.dedup_key.startswith("hash:")
    assert len(delivery.dedup_key) <= 255


@pytest.mark.parametrize(
    "document",
    [
        [],
        "notification",
        None,
        {"kind": "notification", "type": MS},
        {"kind": "notification", "body": [], "type": MS},
        {"kind": "notification", "body": {}, "type": MS},
        {"kind": "notification", "body": {"changes": {"sequence": 1}}, "type": MS},
        {"kind": "notification", "body": {"changes": []}},
        {"kind": "notification", "body": {"changes": ["text"]}, "type": MS},
    ],
)
def test_misshapen_documents_raise_payload_error(document: Any) -> None:
    with pytest.raises(PayloadError):
        connector.split(document)
    with pytest.raises(PayloadError):
        connector.parse(MS, document, CONTEXT)


# --- ContentEvent ----------------------------------------------------------------------------


def test_consumer_text_is_our_own_outbound_message() -> None:
    sent_at = utc(2026, 3, 12, 9, 14, 5, 880000)
    message_id = f"{CONV}:0"
    assert only_event("content_text_from_consumer") == MessageUpserted(
        conversation=ConversationRef(CONV, ConversationKind.DIRECT, participants=(CONSUMER_PARTY,)),
        message_id=message_id,
        direction=Direction.OUT,
        sender=CONSUMER_PARTY,
        sent_at=sent_at,
        text="Grüße! Meine Märzrechnung wurde doppelt abgebucht 😕 — können Sie helfen?",
        content={
            "type": "ContentEvent",
            "message": "Grüße! Meine Märzrechnung wurde doppelt abgebucht 😕 — können Sie helfen?",
            "contentType": "text/plain",
        },
        content_kind=ContentKind.TEXT,
        audience=Audience.ALL,
        sequence=0,
        statuses=(StatusObserved(message_id, "sent", sent_at),),
    )


def test_agent_text_is_inbound_and_visible_to_all_when_audience_is_missing() -> None:
    event = only_event("content_text_from_agent")
    assert isinstance(event, MessageUpserted)
    assert event.message_id == f"{CONV}:4"
    assert event.direction is Direction.IN
    assert event.sender == AGENT_PARTY
    assert event.conversation == ConversationRef(CONV, participants=(AGENT_PARTY,))
    assert event.text == "Guten Morgen! Ich sehe mir die Abbuchung gleich an."
    assert event.audience is Audience.ALL
    assert event.sent_at == utc(2026, 3, 12, 9, 16, 2, 744000)
    assert event.sequence == 4


def test_message_without_conversation_id_uses_the_dialog_id() -> None:
    event = only_event("content_text_without_conversation_id")
    dialog = "a0d6e3f1-58b2-4c7e-9f14-6e2b8d0c3a97"
    assert isinstance(event, MessageUpserted)
    assert event.conversation.external_id == dialog
    assert event.message_id == f"{dialog}:7"
    assert event.direction is Direction.OUT
    assert event.text == "Is the store on Linden Street open on Sunday?"
    assert event.sent_at == utc(2026, 2, 27, 16, 41, 9, 512000)


def test_hosted_file_becomes_an_attachment_with_caption_and_preview() -> None:
    event = only_event("content_hosted_file")
    message = first_change("content_hosted_file")["event"]["message"]
    path = message["relativePath"]
    assert isinstance(event, MessageUpserted)
    assert event.content_kind is ContentKind.FILE
    assert event.text == "Kontoauszug mit beiden Abbuchungen"
    assert event.message_id == f"{CONV}:1"
    assert event.attachments == (
        AttachmentInfo(
            external_id=path,
            filename=path.rsplit("/", 1)[1],
            mime_type="image/png",
            caption="Kontoauszug mit beiden Abbuchungen",
            preview=message["preview"],
            url=path,
        ),
    )
    assert event.attachments[0].filename.endswith("_12-03-2026_09-14-40-977.PNG")
    assert event.attachments[0].preview.startswith("data:image/png;base64,")
    assert event.content == first_change("content_hosted_file")["event"]


@pytest.mark.parametrize(
    ("file_type", "mime_type"),
    [
        ("JPG", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("GIF", "image/gif"),
        ("PDF", "application/pdf"),
        ("DOCX", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("PPTX", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
        ("HEIC", ""),
    ],
)
def test_hosted_file_type_maps_to_a_mime_type(file_type: str, mime_type: str) -> None:
    change = first_change("content_hosted_file")
    change["event"]["message"]["fileType"] = file_type
    (event,) = parse_document(with_change("content_hosted_file", change))
    assert isinstance(event, MessageUpserted)
    assert event.attachments[0].mime_type == mime_type


def test_secure_form_invitation_shows_its_title() -> None:
    event = only_event("content_secure_form_invitation")
    assert isinstance(event, MessageUpserted)
    assert event.content_kind is ContentKind.FORM
    assert event.text == "Bankverbindung für die Erstattung"
    assert event.direction is Direction.IN
    assert event.content["message"]["invitationId"] == "f08c3d6e-41a7-4b2e-9d15-7a6b2e0c8f43"


def test_secure_form_submission_without_title_gets_a_default_text() -> None:
    event = only_event("content_secure_form_submission")
    assert isinstance(event, MessageUpserted)
    assert event.content_kind is ContentKind.FORM
    assert event.text == "Secure form submitted"
    assert event.direction is Direction.OUT
    assert event.message_id == f"{CONV}:7"


def test_secure_form_invitation_without_title_gets_a_default_text() -> None:
    change = first_change("content_secure_form_invitation")
    del change["event"]["message"]["title"]
    (event,) = parse_document(with_change("content_secure_form_invitation", change))
    assert isinstance(event, MessageUpserted)
    assert event.text == "Secure form invitation"


def test_unknown_content_type_is_kept_raw_as_unsupported() -> None:
    event = only_event("content_unknown_content_type")
    assert isinstance(event, MessageUpserted)
    assert event.content_kind is ContentKind.UNSUPPORTED
    assert event.text == ""
    assert event.content == first_change("content_unknown_content_type")["event"]
    assert event.message_id == f"{CONV}:11"
    assert event.attachments == ()


def test_private_note_is_internal() -> None:
    event = only_event("content_private_note")
    assert isinstance(event, MessageUpserted)
    assert event.audience is Audience.INTERNAL
    assert event.direction is Direction.IN
    assert event.text == (
        "Double charge confirmed in billing; refund requested under ticket BIL-48213."
    )


# --- RichContentEvent ------------------------------------------------------------------------


def test_rich_content_keeps_the_card_and_previews_its_visible_strings() -> None:
    event = only_event("rich_content_card")
    sent_at = utc(2026, 3, 12, 9, 20, 5, 100000)
    assert isinstance(event, MessageUpserted)
    assert event.content_kind is ContentKind.RICH
    assert event.content == first_change("rich_content_card")["event"]
    # Button actions ("click") are what a tap sends, not what the card shows.
    assert event.text == (
        "Erstattung über 49,90 €\nGutschrift in 3 bis 5 Werktagen\nStatus verfolgen\n"
        "Passt so\nRückfrage"
    )
    assert event.message_id == f"{CONV}:8"
    assert event.direction is Direction.IN
    assert event.statuses == (StatusObserved(f"{CONV}:8", "sent", sent_at),)


# --- AcceptStatusEvent -----------------------------------------------------------------------


def test_accept_receipt_marks_every_listed_sequence_delivered() -> None:
    at = utc(2026, 3, 12, 9, 15, 32, 550000)
    assert events_of("accept_status_accept") == [
        StatusChanged(CONV, StatusObserved(f"{CONV}:0", "delivered", at, AGENT)),
        StatusChanged(CONV, StatusObserved(f"{CONV}:1", "delivered", at, AGENT)),
    ]


def test_read_receipt_marks_every_listed_sequence_read() -> None:
    at = utc(2026, 3, 12, 9, 15, 40, 118000)
    assert events_of("accept_status_read") == [
        StatusChanged(CONV, StatusObserved(f"{CONV}:0", "read", at, AGENT)),
        StatusChanged(CONV, StatusObserved(f"{CONV}:1", "read", at, AGENT)),
    ]


@pytest.mark.parametrize(
    ("status", "observed"),
    [("ACCESS", "read"), ("NACK", "NACK"), ("ACTION", "ACTION"), ("SHOWN", "SHOWN")],
)
def test_other_receipt_statuses_map_or_pass_through(status: str, observed: str) -> None:
    change = first_change("accept_status_read")
    change["event"]["status"] = status
    events = parse_document(with_change("accept_status_read", change))
    assert [event.observation.status for event in events] == [observed, observed]  # type: ignore[union-attr]


def test_misspelled_accept_status_event_is_a_receipt_too() -> None:
    change = first_change("accept_status_accept")
    change["event"]["type"] = "AccpetStatusEvent"
    document = with_change("accept_status_accept", change)
    (delivery,) = connector.split(document)
    assert delivery.event_name == f"{MS}.AccpetStatusEvent"
    assert delivery.dedup_key == f"ms:{CONV}:2:AcceptStatusEvent"
    assert parse_document(document) == events_of("accept_status_accept")


def test_receipt_with_an_empty_sequence_list_changes_nothing() -> None:
    change = first_change("accept_status_read")
    change["event"]["sequenceList"] = []
    assert parse_document(with_change("accept_status_read", change)) == []


# --- ChatStateEvent --------------------------------------------------------------------------


def test_composing_agent_is_typing() -> None:
    assert only_event("chat_state_composing") == Typing(
        conversation_id=CONV, address=AGENT, typing=True, at=utc(2026, 3, 12, 9, 15, 55, 20000)
    )


def test_paused_consumer_stopped_typing_and_has_no_time() -> None:
    assert only_event("chat_state_pause") == Typing(
        conversation_id=CONV, address=CONSUMER, typing=False, at=None
    )


# --- batches and unknown events --------------------------------------------------------------


def test_batch_yields_the_events_of_every_change_in_order() -> None:
    read_at = utc(2026, 3, 12, 9, 22, 42, 190000)
    message, *receipts, typing = events_of("mixed_batch")
    assert isinstance(message, MessageUpserted)
    assert message.message_id == f"{CONV}:9"
    assert message.text == "Die Erstattung ist veranlasst. Kann ich sonst noch etwas tun?"
    assert receipts == [
        StatusChanged(CONV, StatusObserved(f"{CONV}:8", "read", read_at, CONSUMER)),
        StatusChanged(CONV, StatusObserved(f"{CONV}:9", "read", read_at, CONSUMER)),
    ]
    assert typing == Typing(CONV, CONSUMER, typing=True, at=None)


def test_parsing_a_whole_batch_gives_the_same_events_as_its_deliveries() -> None:
    document = fixture_json(PLATFORM, "mixed_batch")
    assert connector.parse(MS, document, CONTEXT) == events_of("mixed_batch")


def test_unknown_messaging_event_type_is_ignored() -> None:
    assert events_of("unknown_event_type") == []


def test_unknown_notification_type_is_ignored() -> None:
    assert events_of("unknown_notification_type") == []


# --- cqm.ExConversationChangeNotification ----------------------------------------------------


def conversation_state(**overrides: Any) -> dict[str, Any]:
    dialog_participants = [{"id": CONSUMER, "role": "CONSUMER", "state": "ACTIVE"}]
    dialog = {
        "dialogId": CONV,
        "dialogType": "MAIN",
        "state": "OPEN",
        "creationTs": 1773306845210,
        "metaDataLastUpdateTs": 1773306845210,
        "participants": dialog_participants,
    }
    state = {
        "stage": "OPEN",
        "state": "OPEN",
        "skillId": "1294035712",
        "brandId": "73820514",
        "startTs": 1773306845210,
        "ttr": {"ttrType": "NORMAL", "value": 600},
        "effectiveTTR": 1773307445210,
        "dialogs": [dialog],
    }
    dialog.update(overrides.pop("dialog", {}))
    state.update(overrides)
    return state


def test_created_conversation_is_open_with_the_consumer() -> None:
    assert only_event("cqm_created") == ConversationChanged(
        conversation_id=CONV,
        at=utc(2026, 3, 12, 9, 14, 5, 210000),
        kind=ConversationKind.DIRECT,
        status=ConversationStatus.OPEN,
        state=conversation_state(),
        participants=(CONSUMER_PARTY,),
    )


def test_skill_transfer_updates_the_skill() -> None:
    event = only_event("cqm_skill_transfer")
    assert isinstance(event, ConversationChanged)
    assert event.at == utc(2026, 3, 12, 9, 14, 50, 663000)
    assert event.status is ConversationStatus.OPEN
    assert event.state == conversation_state(skillId="1294035788", effectiveTTR=1773307490663)
    assert event.participants == (CONSUMER_PARTY,)


def test_agent_joining_adds_the_agent_to_the_participants() -> None:
    event = only_event("cqm_agent_joined")
    assert isinstance(event, ConversationChanged)
    assert event.at == utc(2026, 3, 12, 9, 15, 31, 402000)
    assert event.status is ConversationStatus.OPEN
    assert event.participants == (CONSUMER_PARTY, AGENT_PARTY)
    assert event.state is not None
    assert event.state["dialogs"][0]["participants"] == [
        {"id": CONSUMER, "role": "CONSUMER", "state": "ACTIVE"},
        {"id": AGENT, "role": "ASSIGNED_AGENT", "state": "ACTIVE"},
    ]


def test_conversation_closed_by_consumer_is_closed_and_newer() -> None:
    event = only_event("cqm_closed_by_consumer")
    joined = only_event("cqm_agent_joined")
    assert isinstance(event, ConversationChanged)
    assert isinstance(joined, ConversationChanged)
    assert event.status is ConversationStatus.CLOSED
    assert event.at == utc(2026, 3, 12, 9, 24, 18, 936000)
    assert joined.at is not None
    assert event.at > joined.at
    assert event.state is not None
    assert event.state["closeReason"] == "CONSUMER"
    assert event.state["state"] == event.state["stage"] == "CLOSE"
    assert event.state["endTs"] == 1773307458936
    assert event.state["effectiveTTR"] == -1
    assert event.state["dialogs"][0]["closedBy"] == "CONSUMER"
    assert event.state["dialogs"][0]["endTs"] == 1773307458936
    assert event.participants == (CONSUMER_PARTY, AGENT_PARTY)


def test_deleted_conversation_is_deleted() -> None:
    event = only_event("cqm_deleted")
    assert isinstance(event, ConversationChanged)
    assert event.conversation_id == CONV
    assert event.status is ConversationStatus.DELETED
    assert event.at == utc(2026, 3, 13, 9, 24, 19, 1000)


def test_conversation_change_with_only_an_id_leaves_everything_as_stored() -> None:
    change = {"type": "UPSERT", "result": {"convId": CONV}}
    (event,) = parse_document(with_change("cqm_created", change))
    assert event == ConversationChanged(
        conversation_id=CONV, at=None, kind=ConversationKind.DIRECT, status=None
    )


def test_delete_without_details_still_deletes() -> None:
    change = {"type": "DELETE", "result": {"convId": CONV}}
    (event,) = parse_document(with_change("cqm_created", change))
    assert isinstance(event, ConversationChanged)
    assert event.status is ConversationStatus.DELETED
    assert event.participants is None


def test_unknown_conversation_change_type_is_ignored() -> None:
    change = first_change("cqm_created")
    change["type"] = "ARCHIVE"
    assert parse_document(with_change("cqm_created", change)) == []


# --- malformed changes -----------------------------------------------------------------------


def _drop(name: str, *path: str) -> dict[str, Any]:
    change = first_change(name)
    target = change
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return with_change(name, change)


def _set(name: str, value: Any, *path: str) -> dict[str, Any]:
    change = first_change(name)
    target = change
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return with_change(name, change)


@pytest.mark.parametrize(
    "document",
    [
        _drop("content_text_from_agent", "sequence"),
        _drop("content_text_from_agent", "event"),
        _drop("content_text_from_agent", "event", "type"),
        _set("content_text_from_agent", "later", "sequence"),
        _set("content_text_from_agent", {"text": "hi"}, "event", "message"),
        _set("content_text_from_agent", "soon", "serverTimestamp"),
        _drop("content_hosted_file", "event", "message", "relativePath"),
        _set("content_hosted_file", "photo.png", "event", "message"),
        _set("accept_status_read", "0,1", "event", "sequenceList"),
        _set("accept_status_read", ["zero"], "event", "sequenceList"),
        _drop("accept_status_read", "event", "status"),
        _drop("chat_state_pause", "event", "chatState"),
        _drop("cqm_created", "result", "convId"),
        _drop("cqm_created", "result"),
        _drop("cqm_created", "type"),
    ],
)
def test_misshapen_changes_raise_payload_error(document: dict[str, Any]) -> None:
    with pytest.raises(PayloadError):
        parse_document(document)


def test_change_without_dialog_or_conversation_id_raises_payload_error() -> None:
    change = first_change("content_text_from_agent")
    del change["dialogId"]
    del change["conversationId"]
    with pytest.raises(PayloadError):
        parse_document(with_change("content_text_from_agent", change))


def test_change_without_any_originator_raises_payload_error() -> None:
    change = first_change("content_text_from_agent")
    del change["originatorId"]
    del change["originatorMetadata"]
    with pytest.raises(PayloadError):
        parse_document(with_change("content_text_from_agent", change))


def test_originator_metadata_id_stands_in_for_a_missing_originator_id() -> None:
    change = first_change("content_text_from_agent")
    del change["originatorId"]
    (event,) = parse_document(with_change("content_text_from_agent", change))
    assert isinstance(event, MessageUpserted)
    assert event.sender == AGENT_PARTY


# --- stored shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_events_hold_json_data_and_aware_utc_times(name: str) -> None:
    for event in events_of(name):
        for value in vars(event).values():
            if isinstance(value, datetime):
                assert value.utcoffset() is not None
                assert value.tzinfo is UTC
        if isinstance(event, MessageUpserted):
            assert json.loads(json.dumps(event.content)) == event.content
            hash((event.conversation, event.attachments, event.statuses, event.sender))
        if isinstance(event, ConversationChanged):
            assert json.loads(json.dumps(event.state)) == event.state
            hash(event.participants)
