"""Comapi connector: webhook signatures, splitting, and parsing of socket frames and webhook
envelopes into normalized events."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from inbox.choices import (
    ContentKind,
    ConversationKind,
    ConversationStatus,
    Direction,
    Platform,
    Step,
)
from inbox.connectors import comapi as connector
from inbox.connectors.contract import (
    ChannelContext,
    Headers,
    PayloadError,
    SignatureError,
)
from inbox.connectors.events import (
    AttachmentInfo,
    ConversationChanged,
    ConversationRef,
    Event,
    MessageUpserted,
    ParticipantChanged,
    Party,
    ProfileChanged,
    StatusChanged,
    StatusObserved,
    Typing,
)
from inbox.connectors.registry import get_connector
from tests.helpers import fixture_bytes, fixture_json, parse_document

CONVERSATION = "f0a8c3d1-2e7b-4c95-9a14-6b3e8d2f7c50"
CUSTOMER = "lukas.mueller"
AGENT = "desk.agent.07"
MESSAGE = "a73e19c4-5d82-4b0f-9c6a-2e8d41f7b305"
SETTINGS = {"profile_id": AGENT}
SECRET = "whsec-comapi-3b9f"
HEADER = "X-Comapi-Signature"


def load(name: str) -> Any:
    # Fixture names contain dots (event names), so the helper cannot guess the suffix.
    return fixture_json("comapi", f"{name}.json")


def raw(name: str) -> bytes:
    return fixture_bytes("comapi", f"{name}.json")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def comapi_signature(body: bytes, secret: str) -> str:
    """The vendor's scheme, written out independently of the connector: hex HMAC-SHA1."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def verify(headers: Mapping[str, Any], body: bytes, secrets: list[str]) -> None:
    connector.verify(headers=Headers(headers), body=body, secrets=secrets, settings={})


def events_of(document: Any, settings: Mapping[str, Any] = SETTINGS) -> list[Event]:
    """Split, store (a JSON round trip) and parse, as the way in does."""
    context = ChannelContext(platform="comapi", settings=settings)
    events: list[Event] = []
    for item in connector.split(document=document):
        events.extend(
            connector.parse(
                event_name=item.event_name,
                payload=json.loads(json.dumps(item.payload)),
                envelope=json.loads(json.dumps(item.envelope)),
                context=context,
            )
        )
    return events


def parse_fixture(name: str, settings: Mapping[str, Any] = SETTINGS) -> list[Event]:
    return events_of(load(name), settings)


def sent_frame(**payload_changes: Any) -> dict[str, Any]:
    frame: dict[str, Any] = load("ws_conversationMessage.sent")
    frame["payload"].update(payload_changes)
    return frame


def only_message(document: Any, settings: Mapping[str, Any] = SETTINGS) -> MessageUpserted:
    events = events_of(document, settings)
    assert len(events) == 1
    assert isinstance(events[0], MessageUpserted)
    return events[0]


def only_event(document: Any, settings: Mapping[str, Any] = SETTINGS) -> Event:
    (event,) = events_of(document, settings)
    return event


def sent(message_id: str, when: datetime) -> StatusObserved:
    return StatusObserved(message_id=message_id, step=Step.SENT, at=when)


# --- the connector ---------------------------------------------------------------------------


def test_connector_is_registered_for_the_comapi_platform() -> None:
    assert get_connector("comapi") is connector
    assert connector.platform is Platform.COMAPI


def test_the_shared_test_helper_reads_a_batch_through_the_registry() -> None:
    events = parse_document("comapi", load("webhook_batch"), SETTINGS)
    assert [type(event) for event in events] == [MessageUpserted, StatusChanged, StatusChanged]


# --- signatures ------------------------------------------------------------------------------


def test_sign_produces_lowercase_hex_hmac_sha1_of_the_body() -> None:
    body = b"The quick brown fox jumps over the lazy dog"
    # The published HMAC-SHA1 test value for this text under the key "key".
    assert connector.sign(body=body, secret="key", settings={}) == {
        HEADER: "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
    }


def test_sign_matches_the_vendor_scheme_on_a_fixture() -> None:
    body = raw("webhook_batch")
    assert connector.sign(body=body, secret=SECRET, settings={}) == {
        HEADER: comapi_signature(body, SECRET)
    }


def test_valid_signature_is_accepted() -> None:
    body = raw("webhook_batch")
    verify({HEADER: comapi_signature(body, SECRET)}, body, [SECRET])


def test_signature_header_is_found_whatever_the_case_of_its_name() -> None:
    body = raw("webhook_conversationMessage.sent")
    verify({"x-comapi-signature": comapi_signature(body, SECRET)}, body, [SECRET])


def test_uppercase_signature_with_whitespace_is_accepted() -> None:
    body = raw("webhook_conversationMessage.sent")
    verify({HEADER: f"  {comapi_signature(body, SECRET).upper()}\n"}, body, [SECRET])


def test_signature_made_with_a_wrong_secret_is_rejected() -> None:
    body = raw("webhook_batch")
    with pytest.raises(SignatureError, match="does not match"):
        verify({HEADER: comapi_signature(body, "not-the-secret")}, body, [SECRET])


def test_missing_signature_header_is_rejected() -> None:
    with pytest.raises(SignatureError, match=f"{HEADER} header is missing"):
        verify({"Content-Type": "application/json"}, raw("webhook_batch"), [SECRET])


def test_empty_signature_header_is_rejected() -> None:
    with pytest.raises(SignatureError, match=f"{HEADER} header is empty"):
        verify({HEADER: " "}, raw("webhook_batch"), [SECRET])


@pytest.mark.parametrize("value", ["sha1=abc", "z" * 40, "é" * 40, "ab" * 32])
def test_signature_that_is_not_a_hex_sha1_digest_is_rejected(value: str) -> None:
    with pytest.raises(SignatureError, match="not a hex SHA-1 digest"):
        verify({HEADER: value}, raw("webhook_batch"), [SECRET])


def test_no_configured_secrets_rejects_everything() -> None:
    body = raw("webhook_batch")
    with pytest.raises(SignatureError, match="no webhook secret"):
        verify({HEADER: comapi_signature(body, SECRET)}, body, [])


def test_blank_secret_never_authenticates_a_body_signed_with_an_empty_key() -> None:
    body = raw("webhook_batch")
    headers = {HEADER: comapi_signature(body, "")}
    with pytest.raises(SignatureError, match="no webhook secret"):
        verify(headers, body, [""])
    with pytest.raises(SignatureError, match="does not match"):
        verify(headers, body, ["", SECRET])


def test_rotated_secrets_accept_a_signature_by_the_second_secret() -> None:
    body = raw("webhook_batch")
    headers = {HEADER: comapi_signature(body, "whsec-new-71c2")}
    verify(headers, body, [SECRET, "whsec-new-71c2"])
    with pytest.raises(SignatureError):
        verify(headers, body, [SECRET])


def test_non_ascii_body_is_verified_over_its_raw_bytes() -> None:
    body = raw("webhook_conversationMessage.sent")
    assert "Köln store? 🙏".encode() in body
    headers = {HEADER: comapi_signature(body, SECRET)}
    verify(headers, body, [SECRET])
    # The same document re-serialised with \u escapes is different bytes, so it must fail.
    reencoded = json.dumps(json.loads(body)).encode("ascii")
    with pytest.raises(SignatureError):
        verify(headers, reencoded, [SECRET])


def test_tampered_body_is_rejected() -> None:
    body = raw("webhook_conversationMessage.sent")
    headers = {HEADER: comapi_signature(body, SECRET)}
    with pytest.raises(SignatureError):
        verify(headers, body.replace(b"inbound", b"outbound"), [SECRET])


def test_non_string_header_value_counts_as_missing() -> None:
    with pytest.raises(SignatureError, match="missing"):
        verify({HEADER: 12345}, b"{}", [SECRET])


def test_rejection_never_reveals_the_secret_or_a_digest() -> None:
    body = raw("webhook_batch")
    presented = comapi_signature(body, "not-the-secret")
    with pytest.raises(SignatureError) as caught:
        verify({HEADER: presented}, body, [SECRET])
    message = str(caught.value)
    for secret_or_digest in (SECRET, presented, comapi_signature(body, SECRET)):
        assert secret_or_digest not in message


# --- split and dedup keys --------------------------------------------------------------------


def test_single_envelope_splits_into_one_item_keyed_by_event_id() -> None:
    document = load("webhook_conversationMessage.sent")
    unchanged = copy.deepcopy(document)
    (item,) = connector.split(document=document)
    assert item.dedup_key == "c1e7a4f0-92b8-4d5c-a3e6-0f8b2d7c9e14"
    assert item.event_name == "conversationMessage.sent"
    assert item.payload == unchanged
    assert item.envelope == {}


def test_webhook_array_splits_into_one_item_per_envelope_each_kept_as_sent() -> None:
    document = load("webhook_batch")
    items = connector.split(document=document)
    assert [item.event_name for item in items] == [
        "conversationMessage.sent",
        "conversationMessage.delivered",
        "conversationMessage.read",
    ]
    assert [item.dedup_key for item in items] == [
        "d4b1f8e2-5c3a-4a07-9e6d-8b2f0c7a1e95",
        "19e6c3a7-8b4d-4f20-a1e5-d0b7f9c2e683",
        "7a0d4e9b-c2f6-4831-b7a9-5e3c1f8d2b40",
    ]
    assert [item.payload for item in items] == document
    assert all(item.envelope == {} for item in items)


def test_empty_webhook_array_has_no_items() -> None:
    assert connector.split(document=[]) == []


@pytest.mark.parametrize("document", ["conversation.update", 42, None, True])
def test_document_that_is_neither_object_nor_list_is_rejected(document: Any) -> None:
    with pytest.raises(PayloadError, match="document is not an event object or a list"):
        connector.split(document=document)


def test_non_object_batch_item_is_kept_and_fails_at_parse_time() -> None:
    envelope = load("webhook_conversationMessage.sent")
    good, bad = connector.split(document=[envelope, "garbage"])
    assert good.event_name == "conversationMessage.sent"
    assert (bad.event_name, bad.payload) == ("invalid", "garbage")
    assert bad.dedup_key.startswith("sha256:")
    with pytest.raises(PayloadError, match=r"^event is missing or not an object"):
        connector.parse(
            event_name=bad.event_name,
            payload=bad.payload,
            envelope=bad.envelope,
            context=ChannelContext(platform="comapi", settings=SETTINGS),
        )


@pytest.mark.parametrize("name", [None, "", 7, ["conversation.update"]])
def test_envelope_without_a_usable_name_is_stored_as_invalid_and_fails_at_parse_time(
    name: Any,
) -> None:
    envelope = load("ws_conversation.update")
    envelope["name"] = name
    (item,) = connector.split(document=envelope)
    assert item.event_name == "invalid"
    assert item.dedup_key == "0b5e2c7a-91f4-4d38-a6b1-3f8e7d2c9a04"
    with pytest.raises(PayloadError, match=r"^event\.name is (missing|empty)"):
        events_of(envelope)


def test_redelivered_event_gets_the_same_dedup_key() -> None:
    first = connector.split(document=load("webhook_batch"))
    again = connector.split(document=json.loads(raw("webhook_batch")))
    assert [item.dedup_key for item in first] == [item.dedup_key for item in again]


def test_socket_and_webhook_copies_of_one_event_share_a_dedup_key() -> None:
    socket_frame = load("ws_conversationMessage.sent")
    webhook = load("webhook_conversationMessage.sent")
    webhook["eventId"] = socket_frame["eventId"]
    (from_socket,) = connector.split(document=socket_frame)
    (from_webhook,) = connector.split(document=webhook)
    assert from_socket.dedup_key == from_webhook.dedup_key


def test_numeric_event_id_is_keyed_as_its_string() -> None:
    frame = load("ws_conversation.update")
    frame["eventId"] = 90817
    (item,) = connector.split(document=frame)
    frame["eventId"] = "90817"
    (as_text,) = connector.split(document=frame)
    assert item.dedup_key == as_text.dedup_key == "90817"


def test_different_events_get_different_dedup_keys() -> None:
    names = [
        "ws_conversation.update",
        "ws_conversation.delete",
        "ws_conversationMessage.sent",
        "ws_conversationMessage.delivered",
        "ws_conversationMessage.read",
        "ws_socket.info",
    ]
    keys = {connector.split(document=load(name))[0].dedup_key for name in names}
    assert len(keys) == len(names)


def test_frame_without_event_id_is_keyed_by_its_canonical_content() -> None:
    frame = load("ws_socket.info")
    (item,) = connector.split(document=frame)
    reordered = dict(reversed(list(frame.items())))
    assert item.dedup_key.startswith("sha256:")
    assert connector.split(document=reordered)[0].dedup_key == item.dedup_key
    changed = copy.deepcopy(frame)
    changed["publishedOn"] = "2026-03-09T09:59:00.013Z"
    assert connector.split(document=changed)[0].dedup_key != item.dedup_key


@pytest.mark.parametrize("event_id", [True, ["58d0f3b6"], {"id": 1}, 1.5])
def test_event_id_of_an_unusable_type_falls_back_to_the_content_key(event_id: Any) -> None:
    frame = load("ws_conversationMessage.sent")
    frame["eventId"] = event_id
    (item,) = connector.split(document=frame)
    assert item.event_name == "conversationMessage.sent"
    assert item.dedup_key.startswith("sha256:")
    assert item.dedup_key == connector.split(document=copy.deepcopy(frame))[0].dedup_key


def test_overlong_event_id_is_kept_whole_for_the_way_in_to_clamp() -> None:
    frame = load("ws_conversation.update")
    frame["eventId"] = "x" * 400
    (item,) = connector.split(document=frame)
    assert item.dedup_key == "x" * 400


# --- conversations ---------------------------------------------------------------------------


def test_conversation_update_changes_title_and_settings() -> None:
    assert only_event(load("ws_conversation.update")) == ConversationChanged(
        conversation_id=CONVERSATION,
        at=at("2026-03-09T10:12:41.306"),
        kind=None,
        title="Returns: Lukas Müller",
        status=None,
        state={
            "description": "Wrong size delivered - order 88314",
            "roles": {
                "owner": {
                    "canSend": True,
                    "canAddParticipants": True,
                    "canRemoveParticipants": True,
                },
                "participant": {
                    "canSend": True,
                    "canAddParticipants": False,
                    "canRemoveParticipants": False,
                },
            },
            "isPublic": False,
        },
        participants=None,
    )


def test_conversation_update_with_only_a_name_leaves_state_alone() -> None:
    frame = load("ws_conversation.update")
    frame["payload"] = {"name": "Exchange done"}
    event = only_event(frame)
    assert isinstance(event, ConversationChanged)
    assert (event.title, event.state, event.participants) == ("Exchange done", None, None)


def test_conversation_update_with_only_settings_leaves_the_title_alone() -> None:
    frame = load("ws_conversation.update")
    frame["payload"] = {"isPublic": True}
    event = only_event(frame)
    assert isinstance(event, ConversationChanged)
    assert event.title is None
    assert event.state == {"isPublic": True}


def test_conversation_update_that_clears_the_description_says_so() -> None:
    frame = load("ws_conversation.update")
    frame["payload"] = {"description": None}
    event = only_event(frame)
    assert isinstance(event, ConversationChanged)
    assert event.state == {"description": None}


def test_webhook_conversation_create_brings_settings_and_every_participant_with_a_role() -> None:
    event = only_event(load("webhook_conversation.create"))
    assert isinstance(event, ConversationChanged)
    assert event.conversation_id == CONVERSATION
    assert event.at == at("2026-03-09T10:02:17.480")
    assert event.title == "Returns: Lukas Müller"
    assert (event.kind, event.status) == (None, None)
    assert event.state is not None
    assert set(event.state) == {"description", "roles", "isPublic"}
    assert event.participants == (
        Party(address=AGENT, role="owner"),
        Party(address=CUSTOMER, role="participant"),
    )


def test_webhook_conversation_update_lists_participants_by_profile_id() -> None:
    envelope = load("webhook_conversation.create")
    envelope["name"] = "conversation.update"
    envelope["payload"] = {
        "id": CONVERSATION,
        "name": "Returns: Lukas Müller",
        "participants": [
            {"profileId": AGENT, "role": "owner"},
            {"profileId": "desk.agent.11", "role": "participant"},
            {"profileId": CUSTOMER},
        ],
    }
    event = only_event(envelope)
    assert isinstance(event, ConversationChanged)
    assert event.conversation_id == CONVERSATION
    assert event.participants == (
        Party(address=AGENT, role="owner"),
        Party(address="desk.agent.11", role="participant"),
        Party(address=CUSTOMER),
    )


def test_conversation_update_with_an_empty_participant_list_says_there_are_none() -> None:
    frame = load("ws_conversation.update")
    frame["payload"] = {"participants": []}
    event = only_event(frame)
    assert isinstance(event, ConversationChanged)
    assert event.participants == ()


def test_conversation_delete_marks_it_deleted_at_the_payload_date() -> None:
    assert only_event(load("ws_conversation.delete")) == ConversationChanged(
        conversation_id=CONVERSATION,
        at=at("2026-03-12T16:45:02.118"),
        status=ConversationStatus.DELETED,
    )


def test_conversation_undelete_reopens_it() -> None:
    assert only_event(load("ws_conversation.undelete")) == ConversationChanged(
        conversation_id=CONVERSATION,
        at=at("2026-03-12T17:03:55.870"),
        status=ConversationStatus.OPEN,
    )


def test_conversation_delete_without_a_date_uses_the_publish_time() -> None:
    frame = load("ws_conversation.delete")
    frame["payload"] = {}
    event = only_event(frame)
    assert isinstance(event, ConversationChanged)
    assert event.at == at("2026-03-12T16:45:02.240")


def test_webhook_conversation_delete_names_the_conversation_in_its_payload() -> None:
    envelope = {
        "eventId": "4eb34c4b-64fd-4376-8ca1-47b576cbf45b",
        "accountId": 71530,
        "apiSpaceId": "e41b7c20-93d5-4a6f-b8e2-1f7a0c9d3b56",
        "name": "conversation.delete",
        "payload": {"conversationId": CONVERSATION},
        "revision": 9,
        "timestamp": "2026-03-12T16:45:02.301Z",
    }
    assert only_event(envelope) == ConversationChanged(
        conversation_id=CONVERSATION,
        at=at("2026-03-12T16:45:02.301"),
        status=ConversationStatus.DELETED,
    )


def test_owner_added_on_create_is_a_present_participant_with_a_role() -> None:
    assert only_event(load("ws_conversation.participantAdded")) == ParticipantChanged(
        conversation_id=CONVERSATION,
        party=Party(address=AGENT, role="owner"),
        present=True,
        at=at("2026-03-09T10:02:17.554"),
    )


def test_removed_participant_is_no_longer_present() -> None:
    assert only_event(load("ws_conversation.participantRemoved")) == ParticipantChanged(
        conversation_id=CONVERSATION,
        party=Party(address=CUSTOMER, role=""),
        present=False,
        at=at("2026-03-12T16:40:29.017"),
    )


def test_webhook_participant_added_names_the_conversation_only_as_the_payload_id() -> None:
    assert only_event(load("webhook_conversation.participantAdded")) == ParticipantChanged(
        conversation_id=CONVERSATION,
        party=Party(address=CUSTOMER, role="participant"),
        present=True,
        at=at("2026-03-09T10:02:17.611"),
    )


def test_participant_removed_may_name_the_conversation_in_the_payload() -> None:
    frame = load("ws_conversation.participantRemoved")
    del frame["conversationId"]
    frame["payload"]["conversationId"] = CONVERSATION
    event = only_event(frame)
    assert isinstance(event, ParticipantChanged)
    assert (event.conversation_id, event.present) == (CONVERSATION, False)


def test_participant_updated_is_a_role_change_only() -> None:
    assert only_event(load("ws_conversation.participantUpdated")) == ParticipantChanged(
        conversation_id=CONVERSATION,
        party=Party(address=CUSTOMER, role="owner"),
        present=None,
        at=at("2026-03-09T10:25:03.318"),
    )


def test_participant_updated_without_a_role_has_nothing_to_apply() -> None:
    frame = load("ws_conversation.participantUpdated")
    del frame["payload"]["role"]
    assert events_of(frame) == []


def test_typing_starts_and_stops() -> None:
    assert parse_fixture("ws_conversation.participantTyping") == [
        Typing(CONVERSATION, CUSTOMER, typing=True, at=at("2026-03-09T10:14:03.412"))
    ]
    assert parse_fixture("ws_conversation.participantTypingOff") == [
        Typing(CONVERSATION, CUSTOMER, typing=False, at=at("2026-03-09T10:14:09.087"))
    ]


def test_typing_may_name_the_conversation_at_the_top_level() -> None:
    frame = load("ws_conversation.participantTyping")
    frame["conversationId"] = frame["payload"].pop("conversationId")
    event = only_event(frame)
    assert isinstance(event, Typing)
    assert event.conversation_id == CONVERSATION


# --- messages --------------------------------------------------------------------------------


def test_socket_message_takes_its_conversation_from_the_message_context() -> None:
    message = only_message(load("ws_conversationMessage.sent"))
    sender = Party(address=CUSTOMER, name="Lukas Müller")
    sent_at = at("2026-03-09T10:14:11.639")
    assert message.conversation == ConversationRef(
        external_id=CONVERSATION, kind=ConversationKind.DIRECT, participants=(sender,)
    )
    assert message.message_id == MESSAGE
    assert message.direction is Direction.IN
    assert message.sender == sender
    assert message.sent_at == sent_at
    assert message.text == "Grüße! The jacket is size L, I ordered M 😕"
    assert message.content_kind is ContentKind.TEXT
    assert message.sequence == 11
    assert message.attachments == ()
    assert message.statuses == (sent(MESSAGE, sent_at),)
    assert message.content == load("ws_conversationMessage.sent")["payload"]


def test_message_conversation_falls_back_to_the_payload_then_the_frame() -> None:
    frame = sent_frame()
    del frame["payload"]["context"]["conversationId"]
    frame["payload"]["conversationId"] = "from-the-payload"
    frame["conversationId"] = "from-the-frame"
    assert only_message(frame).conversation.external_id == "from-the-payload"
    del frame["payload"]["conversationId"]
    assert only_message(frame).conversation.external_id == "from-the-frame"


def test_message_with_an_image_url_and_text_has_both() -> None:
    message = only_message(load("ws_conversationMessage.sent_image"))
    url = (
        "https://api.comapi.com/apispaces/e41b7c20-93d5-4a6f-b8e2-1f7a0c9d3b56"
        "/content/3e9a71c0/label.png"
    )
    assert message.message_id == "4c9b2e71-08fa-4d3c-b6e5-7a1f93d0c842"
    assert message.text == "Here is the size label"
    assert message.content_kind is ContentKind.TEXT
    assert message.attachments == (
        AttachmentInfo(
            external_id=url, filename="label.png", mime_type="image/png", size=96512, url=url
        ),
    )
    assert message.sequence == 12


def test_message_with_only_a_file_is_file_content() -> None:
    frame = sent_frame(
        parts=[{"name": "receipt.pdf", "type": "application/pdf", "url": "https://cdn/r.pdf"}]
    )
    message = only_message(frame)
    assert message.text == ""
    assert message.content_kind is ContentKind.FILE
    assert message.attachments == (
        AttachmentInfo(
            external_id="https://cdn/r.pdf",
            filename="receipt.pdf",
            mime_type="application/pdf",
            url="https://cdn/r.pdf",
        ),
    )


def test_inline_non_text_part_becomes_an_attachment_without_url() -> None:
    frame = sent_frame(
        parts=[
            {"type": "text/plain; charset=utf-8", "data": "Coordinates below"},
            {"type": "application/json", "data": '{"lat": 50.94, "lon": 6.96}', "size": 26},
            {"name": "card.vcf", "type": "text/vcard", "data": "BEGIN:VCARD", "size": "11"},
        ]
    )
    message = only_message(frame)
    assert message.text == "Coordinates below"
    assert message.attachments == (
        AttachmentInfo(external_id="part-1", mime_type="application/json", size=26),
        AttachmentInfo(
            external_id="card.vcf", filename="card.vcf", mime_type="text/vcard", size=11
        ),
    )


def test_several_text_parts_are_joined_by_newlines_and_untyped_parts_count_as_text() -> None:
    frame = sent_frame(parts=[{"data": "First line"}, {"type": "text/plain", "data": "Second"}])
    assert only_message(frame).text == "First line\nSecond"


def test_message_without_usable_parts_is_unsupported() -> None:
    message = only_message(sent_frame(parts=[{"type": "text/plain"}, {"type": "image/png"}]))
    assert message.content_kind is ContentKind.UNSUPPORTED
    assert message.text == ""
    assert message.attachments == ()


def test_message_without_any_parts_is_unsupported() -> None:
    frame = sent_frame()
    del frame["payload"]["parts"]
    assert only_message(frame).content_kind is ContentKind.UNSUPPORTED


def test_message_from_our_own_profile_is_outbound() -> None:
    frame = sent_frame()
    frame["payload"]["context"]["from"] = {"id": AGENT, "name": "Nadia (Support)"}
    assert only_message(frame).direction is Direction.OUT


def test_socket_message_from_someone_else_is_inbound_without_a_profile_setting() -> None:
    assert only_message(load("ws_conversationMessage.sent"), {}).direction is Direction.IN


def test_sender_falls_back_to_sent_by_then_to_the_frame_creator() -> None:
    frame = sent_frame()
    del frame["payload"]["context"]["from"]
    message = only_message(frame)
    assert message.sender == Party(address=f"session:{CUSTOMER}")
    del frame["payload"]["context"]["sentBy"]
    assert only_message(frame).sender == Party(address=CUSTOMER)


def test_message_without_send_time_uses_the_publish_time() -> None:
    frame = sent_frame()
    del frame["payload"]["context"]["sentOn"]
    message = only_message(frame)
    assert message.sent_at == at("2026-03-09T10:14:11.702")
    assert message.statuses[0].at == at("2026-03-09T10:14:11.702")


def test_webhook_message_uses_id_direction_and_payload_sequence() -> None:
    message = only_message(load("webhook_conversationMessage.sent"), {})
    sender = Party(address=CUSTOMER, name="Lukas Müller")
    sent_at = at("2026-03-09T10:21:37.018")
    message_id = "6a2d9f7c-e3b1-4085-9c4a-d7e0b1f63a28"
    assert message.conversation == ConversationRef(CONVERSATION, participants=(sender,))
    assert message.message_id == message_id
    assert message.direction is Direction.IN
    assert message.sender == sender
    assert message.sent_at == sent_at
    assert message.text == "Can I swap it in the Köln store? 🙏"
    assert message.sequence == 15
    assert message.statuses == (sent(message_id, sent_at),)


def test_webhook_outbound_flag_makes_a_message_outbound_without_profile_setting() -> None:
    message = only_message(load("webhook_conversationMessage.sent_outbound"), {})
    assert message.direction is Direction.OUT
    assert message.sender == Party(address=AGENT, name="Nadia (Support)")
    assert message.message_id == "d2f6a8b0-3c1e-4957-8e4d-b90c25a7f163"
    assert message.sequence == 16


def test_webhook_direction_in_the_message_context_makes_it_outbound_without_settings() -> None:
    message = only_message(load("webhook_conversationMessage.sent_context_direction"), {})
    assert message.direction is Direction.OUT
    assert message.message_id == "cf5137c3-3d41-4780-a5ab-aca23c43a580"
    assert message.text == "The voucher is valid for 30 days."
    assert message.sequence == 18


def test_message_context_direction_is_read_before_the_payload_direction() -> None:
    envelope = load("webhook_conversationMessage.sent")
    envelope["payload"]["context"]["direction"] = "Outbound"
    assert only_message(envelope, {}).direction is Direction.OUT


def test_our_own_profile_is_outbound_whatever_the_platform_calls_it() -> None:
    envelope = load("webhook_conversationMessage.sent")
    assert only_message(envelope, {"profile_id": CUSTOMER}).direction is Direction.OUT


def test_unknown_direction_word_leaves_a_message_inbound() -> None:
    envelope = load("webhook_conversationMessage.sent")
    envelope["payload"]["direction"] = "sideways"
    assert only_message(envelope, {}).direction is Direction.IN


def test_sequence_given_as_a_numeric_string_is_an_integer() -> None:
    frame = sent_frame()
    frame["conversationEventId"] = "42"
    assert only_message(frame).sequence == 42


def test_message_without_any_sequence_has_none() -> None:
    frame = sent_frame()
    del frame["conversationEventId"]
    assert only_message(frame).sequence is None


# --- receipts --------------------------------------------------------------------------------


def test_delivered_receipt_names_the_recipient_and_its_time() -> None:
    assert parse_fixture("ws_conversationMessage.delivered") == [
        StatusChanged(
            conversation_id=CONVERSATION,
            observation=StatusObserved(
                message_id=MESSAGE,
                step=Step.DELIVERED,
                at=at("2026-03-09T10:14:12.048"),
                participant=AGENT,
            ),
        )
    ]


def test_read_receipt_names_the_reader_and_its_time() -> None:
    assert parse_fixture("ws_conversationMessage.read") == [
        StatusChanged(
            conversation_id=CONVERSATION,
            observation=StatusObserved(
                message_id=MESSAGE,
                step=Step.READ,
                at=at("2026-03-09T10:16:30.552"),
                participant=AGENT,
            ),
        )
    ]


def test_receipt_without_its_own_timestamp_uses_the_publish_time() -> None:
    frame = load("ws_conversationMessage.read")
    del frame["payload"]["timestamp"]
    event = only_event(frame)
    assert isinstance(event, StatusChanged)
    assert event.observation.at == at("2026-03-09T10:16:30.610")


def test_receipt_may_name_the_conversation_at_the_top_level_and_no_recipient() -> None:
    frame = load("ws_conversationMessage.delivered")
    frame["conversationId"] = frame["payload"].pop("conversationId")
    del frame["payload"]["profileId"]
    event = only_event(frame)
    assert isinstance(event, StatusChanged)
    assert event.conversation_id == CONVERSATION
    assert event.observation.participant == ""


def test_webhook_batch_gives_the_message_and_both_receipts() -> None:
    message_id = "0e8c5a3b-f7d1-4926-a4b0-3c9e6d1f8a57"
    sent_message, delivered, read = parse_fixture("webhook_batch")
    assert isinstance(sent_message, MessageUpserted)
    assert sent_message.message_id == message_id
    assert sent_message.direction is Direction.OUT
    assert sent_message.text == "Your exchange voucher: EX-20931"
    assert sent_message.sequence == 17
    assert delivered == StatusChanged(
        CONVERSATION,
        StatusObserved(
            message_id=message_id,
            step=Step.DELIVERED,
            at=at("2026-03-09T10:24:41.882"),
            participant=CUSTOMER,
        ),
    )
    assert read == StatusChanged(
        CONVERSATION,
        StatusObserved(
            message_id=message_id,
            step=Step.READ,
            at=at("2026-03-09T10:26:13.705"),
            participant=CUSTOMER,
        ),
    )


# --- profiles and ignored frames -------------------------------------------------------------


def test_profile_update_names_the_profile_from_first_and_last_name() -> None:
    assert parse_fixture("ws_profile.update") == [
        ProfileChanged(
            address=CUSTOMER, name="Lukas Müller-Brandt", at=at("2026-03-10T19:05:44.420")
        )
    ]


def test_profile_update_prefers_an_explicit_name() -> None:
    frame = load("ws_profile.update")
    frame["payload"] = {"profileId": CUSTOMER, "name": "Lukas M.", "firstName": "Lukas"}
    assert only_event(frame) == ProfileChanged(CUSTOMER, "Lukas M.", at("2026-03-10T19:05:44.420"))


def test_profile_update_with_only_a_first_name_is_trimmed() -> None:
    frame = load("ws_profile.update")
    frame["payload"] = {"id": CUSTOMER, "firstName": "Lukas"}
    event = only_event(frame)
    assert isinstance(event, ProfileChanged)
    assert event.name == "Lukas"


def test_profile_update_without_a_payload_id_uses_the_frame_profile_id() -> None:
    frame = load("ws_profile.update")
    del frame["payload"]["id"]
    frame["profileId"] = CUSTOMER
    assert only_event(frame) == ProfileChanged(
        CUSTOMER, "Lukas Müller-Brandt", at("2026-03-10T19:05:44.420")
    )


def test_profile_update_naming_no_profile_is_ignored() -> None:
    frame = load("ws_profile.update")
    del frame["payload"]["id"]
    assert events_of(frame) == []


def test_profile_update_without_any_name_is_ignored() -> None:
    frame = load("ws_profile.update")
    frame["payload"] = {"id": CUSTOMER, "email": "lukas@example.org"}
    assert events_of(frame) == []


def test_socket_greeting_is_ignored() -> None:
    assert parse_fixture("ws_socket.info") == []


def test_echo_keepalive_is_ignored() -> None:
    frame = {"name": "echo", "payload": {}, "publishedOn": "2026-03-09T10:00:00.000Z"}
    assert events_of(frame) == []


def test_event_name_the_inbox_does_not_know_is_ignored() -> None:
    frame = load("ws_conversation.participantUpdated")
    frame["name"] = "conversation.archived"
    assert events_of(frame) == []


def test_events_are_hashable_and_their_times_are_aware_utc() -> None:
    added = only_event(load("ws_conversation.participantAdded"))
    typing = only_event(load("ws_conversation.participantTyping"))
    receipt = only_event(load("ws_conversationMessage.read"))
    profile = only_event(load("ws_profile.update"))
    assert isinstance(added, ParticipantChanged)
    assert isinstance(typing, Typing)
    assert isinstance(receipt, StatusChanged)
    assert isinstance(profile, ProfileChanged)
    assert len({added, typing, receipt, profile}) == 4
    times = [added.at, typing.at, receipt.observation.at, profile.at]
    assert all(time is not None and time.tzinfo is UTC for time in times)


# --- malformed payloads ----------------------------------------------------------------------


Change = Callable[[dict[str, Any]], object]


def broken(fixture: str, change: Change) -> dict[str, Any]:
    frame: dict[str, Any] = load(fixture)
    change(frame)
    return frame


def drop_sender(frame: dict[str, Any]) -> None:
    del frame["payload"]["context"]["from"]
    del frame["payload"]["context"]["sentBy"]
    del frame["context"]


@pytest.mark.parametrize(
    ("fixture", "change", "message"),
    [
        (
            "ws_conversation.update",
            lambda f: f.update(payload="renamed"),
            "event.payload is not an object (got a string)",
        ),
        (
            "ws_conversation.update",
            lambda f: f.pop("conversationId"),
            "event.conversationId|event.payload.id|event.payload.conversationId is missing",
        ),
        (
            "ws_conversation.update",
            lambda f: f["payload"].update(name=7),
            "event.payload.name is missing or not a string (got int)",
        ),
        (
            "ws_conversation.update",
            lambda f: f["payload"].update(participants={"id": AGENT}),
            "event.payload.participants is missing or not a list (got an object)",
        ),
        (
            "webhook_conversation.create",
            lambda f: f["payload"]["participants"][1].pop("id"),
            "event.payload.participants[1].profileId|event.payload.participants[1].id is missing",
        ),
        (
            "webhook_conversation.create",
            lambda f: f["payload"].update(participants=[AGENT]),
            "event.payload.participants[0] is missing or not an object (got a string)",
        ),
        (
            "ws_conversation.delete",
            lambda f: f["payload"].update(date="yesterday"),
            "event.payload.date is not a timestamp: 'yesterday'",
        ),
        (
            "ws_conversation.participantAdded",
            lambda f: f["payload"].pop("profileId"),
            "event.payload.profileId is missing",
        ),
        (
            "ws_conversation.participantAdded",
            lambda f: f.pop("conversationId"),
            "event.conversationId|event.payload.conversationId|event.payload.id is missing",
        ),
        (
            "ws_conversation.participantUpdated",
            lambda f: f["payload"].update(role=["owner"]),
            "event.payload.role is missing or not a string (got a list)",
        ),
        (
            "ws_conversation.participantTyping",
            lambda f: f["payload"].pop("profileId"),
            "event.payload.profileId is missing",
        ),
        (
            "ws_conversation.participantTyping",
            lambda f: f["payload"].pop("conversationId"),
            "event.payload.conversationId|event.conversationId is missing",
        ),
        (
            "ws_conversationMessage.sent",
            lambda f: f["payload"].pop("messageId"),
            "event.payload.messageId|event.payload.id is missing or not an id (got null)",
        ),
        (
            "ws_conversationMessage.sent",
            lambda f: f["payload"]["context"].pop("conversationId"),
            "event.payload.context.conversationId|event.payload.conversationId"
            "|event.conversationId is missing",
        ),
        (
            "ws_conversationMessage.sent",
            lambda f: f["payload"].update(parts="hi"),
            "event.payload.parts is missing or not a list (got a string)",
        ),
        (
            "ws_conversationMessage.sent",
            lambda f: f["payload"].update(parts=["hi"]),
            "event.payload.parts[0] is missing or not an object (got a string)",
        ),
        (
            "ws_conversationMessage.sent",
            lambda f: f["payload"].update(parts=[{"type": "text/plain", "data": 5}]),
            "event.payload.parts[0].data is missing or not a string (got int)",
        ),
        (
            "ws_conversationMessage.sent",
            lambda f: f["payload"].update(parts=[{"url": "https://cdn/a", "size": 2**63}]),
            "event.payload.parts[0].size is out of range",
        ),
        (
            "ws_conversationMessage.sent",
            lambda f: f["payload"].update(context=["jane"]),
            "event.payload.context is not an object (got a list)",
        ),
        (
            "ws_conversationMessage.sent",
            lambda f: f["payload"]["context"].update(direction=True),
            "event.payload.context.direction is missing or not a string (got a boolean)",
        ),
        (
            "ws_conversationMessage.sent",
            drop_sender,
            "event.payload.context.from.id|event.payload.context.sentBy"
            "|event.context.createdBy is missing",
        ),
        (
            "ws_conversationMessage.sent",
            lambda f: f.update(conversationEventId="seven"),
            "event.conversationEventId is not an integer: 'seven'",
        ),
        (
            "ws_conversationMessage.sent",
            lambda f: f.update(conversationEventId=2**63),
            "event.conversationEventId is out of range",
        ),
        (
            "ws_conversationMessage.sent",
            lambda f: f.update(publishedOn=1741515251),
            "event.publishedOn is not a timestamp: 1741515251",
        ),
        (
            "ws_conversationMessage.sent",
            lambda f: f["payload"]["context"].update(sentOn="at noon"),
            "event.payload.context.sentOn is not a timestamp: 'at noon'",
        ),
        (
            "ws_conversationMessage.delivered",
            lambda f: f["payload"].update(messageId=["x"]),
            "event.payload.messageId is missing or not an id (got a list)",
        ),
        (
            "ws_conversationMessage.delivered",
            lambda f: f["payload"].update(timestamp="later"),
            "event.payload.timestamp is not a timestamp: 'later'",
        ),
        (
            "ws_conversationMessage.read",
            lambda f: f["payload"].pop("messageId"),
            "event.payload.messageId|event.payload.id is missing",
        ),
        (
            "ws_conversationMessage.read",
            lambda f: f["payload"].update(profileId={"id": AGENT}),
            "event.payload.profileId is missing or not an id (got an object)",
        ),
        (
            "ws_conversationMessage.read",
            lambda f: f["payload"].pop("conversationId"),
            "event.payload.conversationId|event.conversationId is missing",
        ),
        (
            "ws_profile.update",
            lambda f: f["payload"].update(id=["x"]),
            "event.payload.id is missing or not an id (got a list)",
        ),
        (
            "ws_profile.update",
            lambda f: f["payload"].update(lastName=False),
            "event.payload.lastName is missing or not a string (got a boolean)",
        ),
    ],
)
def test_malformed_payload_raises_payload_error_naming_the_path(
    fixture: str, change: Change, message: str
) -> None:
    with pytest.raises(PayloadError, match="^" + re.escape(message)):
        events_of(broken(fixture, change))


@pytest.mark.parametrize("payload", [None, "frame", 3, ["frame"]])
def test_non_object_payload_raises_payload_error(payload: Any) -> None:
    with pytest.raises(PayloadError, match=r"^event is missing or not an object"):
        connector.parse(
            event_name="conversationMessage.sent",
            payload=payload,
            envelope={},
            context=ChannelContext(platform="comapi", settings=SETTINGS),
        )
