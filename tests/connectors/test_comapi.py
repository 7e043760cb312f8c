"""Comapi connector: webhook signatures, splitting, and parsing of socket frames and webhook
envelopes into normalized events."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from inbox.connectors.base import (
    AttachmentInfo,
    ChannelContext,
    ContentKind,
    ConversationChanged,
    ConversationKind,
    ConversationRef,
    ConversationStatus,
    Direction,
    Event,
    MessageUpserted,
    ParticipantChanged,
    Party,
    PayloadError,
    Platform,
    ProfileChanged,
    StatusChanged,
    StatusObserved,
    Typing,
    get_connector,
)
from inbox.connectors.comapi import auth, connector
from inbox.connectors.comapi.parse import parse, split
from tests.helpers import fixture_bytes, fixture_json

CONVERSATION = "f0a8c3d1-2e7b-4c95-9a14-6b3e8d2f7c50"
CUSTOMER = "lukas.mueller"
AGENT = "desk.agent.07"
MESSAGE = "a73e19c4-5d82-4b0f-9c6a-2e8d41f7b305"
CONTEXT = ChannelContext(platform="comapi", settings={"profile_id": AGENT})
NO_PROFILE = ChannelContext(platform="comapi", settings={})
SECRET = "whsec-comapi-3b9f"


def load(name: str) -> Any:
    # Fixture names contain dots (event names), so the helper cannot guess the suffix.
    return fixture_json("comapi", f"{name}.json")


def raw(name: str) -> bytes:
    return fixture_bytes("comapi", f"{name}.json")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def parse_document(document: Any, context: ChannelContext = CONTEXT) -> list[Event]:
    """Split, store (a JSON round trip) and parse, as the pipeline does."""
    events: list[Event] = []
    for delivery in split(document):
        stored = json.loads(json.dumps(delivery.payload))
        events.extend(parse(delivery.event_name, stored, context))
    return events


def parse_fixture(name: str, context: ChannelContext = CONTEXT) -> list[Event]:
    return parse_document(load(name), context)


def sent_frame(**payload_changes: Any) -> dict[str, Any]:
    frame = load("ws_conversationMessage.sent")
    frame["payload"].update(payload_changes)
    return frame


def only_message(document: Any, context: ChannelContext = CONTEXT) -> MessageUpserted:
    events = parse_document(document, context)
    assert len(events) == 1
    assert isinstance(events[0], MessageUpserted)
    return events[0]


# --- the connector ---------------------------------------------------------------------------


def test_connector_is_registered_for_the_comapi_platform() -> None:
    assert get_connector("comapi") is connector
    assert connector.platform is Platform.COMAPI
    assert connector.split is split
    assert connector.parse is parse


# --- signatures ------------------------------------------------------------------------------


def test_sign_produces_lowercase_hex_hmac_sha1_of_the_body() -> None:
    body = b"The quick brown fox jumps over the lazy dog"
    assert auth.sign(body, "key", {}) == {
        "X-Comapi-Signature": "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
    }


def test_valid_signature_is_accepted() -> None:
    body = raw("webhook_batch")
    headers = auth.sign(body, SECRET, {})
    assert auth.verify(headers, body, [SECRET], {}) is True


def test_signature_header_is_found_in_a_lowercase_plain_dict() -> None:
    body = raw("webhook_conversationMessage.sent")
    digest = auth.sign(body, SECRET, {})["X-Comapi-Signature"]
    assert auth.verify({"x-comapi-signature": digest}, body, [SECRET], {}) is True


def test_uppercase_signature_with_whitespace_is_accepted() -> None:
    body = raw("webhook_conversationMessage.sent")
    digest = auth.sign(body, SECRET, {})["X-Comapi-Signature"]
    headers = {"X-Comapi-Signature": f"  {digest.upper()}\n"}
    assert auth.verify(headers, body, [SECRET], {}) is True


def test_signature_made_with_a_wrong_secret_is_rejected() -> None:
    body = raw("webhook_batch")
    headers = auth.sign(body, "not-the-secret", {})
    assert auth.verify(headers, body, [SECRET], {}) is False


def test_missing_signature_header_is_rejected() -> None:
    body = raw("webhook_batch")
    assert auth.verify({"Content-Type": "application/json"}, body, [SECRET], {}) is False


def test_empty_signature_header_is_rejected() -> None:
    body = raw("webhook_batch")
    assert auth.verify({"X-Comapi-Signature": " "}, body, [SECRET], {}) is False


def test_no_configured_secrets_rejects_everything() -> None:
    body = raw("webhook_batch")
    headers = auth.sign(body, SECRET, {})
    assert auth.verify(headers, body, [], {}) is False


def test_blank_secret_never_authenticates_a_body_signed_with_an_empty_key() -> None:
    body = raw("webhook_batch")
    headers = auth.sign(body, "", {})
    assert auth.verify(headers, body, [""], {}) is False


def test_rotated_secrets_accept_a_signature_by_the_second_secret() -> None:
    body = raw("webhook_batch")
    headers = auth.sign(body, "whsec-new-71c2", {})
    assert auth.verify(headers, body, [SECRET, "whsec-new-71c2"], {}) is True
    assert auth.verify(headers, body, [SECRET], {}) is False


def test_non_ascii_body_is_verified_over_its_raw_bytes() -> None:
    body = raw("webhook_conversationMessage.sent")
    assert "Köln store? 🙏".encode() in body
    headers = auth.sign(body, SECRET, {})
    assert auth.verify(headers, body, [SECRET], {}) is True
    # The same document re-serialised with \u escapes is different bytes, so it must fail.
    reencoded = json.dumps(json.loads(body)).encode("ascii")
    assert auth.verify(headers, reencoded, [SECRET], {}) is False


def test_tampered_body_is_rejected() -> None:
    body = raw("webhook_conversationMessage.sent")
    headers = auth.sign(body, SECRET, {})
    assert auth.verify(headers, body.replace(b"inbound", b"outbound"), [SECRET], {}) is False


def test_verify_does_not_raise_on_a_non_string_header_value() -> None:
    headers: dict[str, Any] = {"X-Comapi-Signature": 12345}
    assert auth.verify(headers, b"{}", [SECRET], {}) is False


# --- split and dedup keys --------------------------------------------------------------------


def test_single_envelope_splits_into_one_delivery_keyed_by_event_id() -> None:
    document = load("webhook_conversationMessage.sent")
    (delivery,) = split(document)
    assert delivery.dedup_key == "c1e7a4f0-92b8-4d5c-a3e6-0f8b2d7c9e14"
    assert delivery.event_name == "conversationMessage.sent"
    assert delivery.payload == document


def test_webhook_array_splits_into_one_delivery_per_envelope() -> None:
    deliveries = split(load("webhook_batch"))
    assert [d.event_name for d in deliveries] == [
        "conversationMessage.sent",
        "conversationMessage.delivered",
        "conversationMessage.read",
    ]
    assert [d.dedup_key for d in deliveries] == [
        "d4b1f8e2-5c3a-4a07-9e6d-8b2f0c7a1e95",
        "19e6c3a7-8b4d-4f20-a1e5-d0b7f9c2e683",
        "7a0d4e9b-c2f6-4831-b7a9-5e3c1f8d2b40",
    ]


def test_empty_webhook_array_has_no_deliveries() -> None:
    assert split([]) == []


@pytest.mark.parametrize("document", ["conversation.update", 42, None, True])
def test_document_that_is_neither_object_nor_list_is_rejected(document: Any) -> None:
    with pytest.raises(PayloadError):
        split(document)


def test_non_object_batch_item_is_kept_and_fails_at_parse_time() -> None:
    envelope = load("webhook_conversationMessage.sent")
    good, bad = split([envelope, "garbage"])
    assert good.event_name == "conversationMessage.sent"
    assert bad.event_name == "invalid"
    assert bad.payload == "garbage"
    assert bad.dedup_key.startswith("sha256:")
    with pytest.raises(PayloadError):
        parse(bad.event_name, bad.payload, CONTEXT)


def test_envelope_without_a_name_is_stored_as_invalid_and_fails_at_parse_time() -> None:
    envelope = load("ws_conversation.update")
    del envelope["name"]
    (delivery,) = split(envelope)
    assert delivery.event_name == "invalid"
    assert delivery.dedup_key == "0b5e2c7a-91f4-4d38-a6b1-3f8e7d2c9a04"
    with pytest.raises(PayloadError, match="no name"):
        parse(delivery.event_name, delivery.payload, CONTEXT)


def test_redelivered_event_gets_the_same_dedup_key() -> None:
    first = split(load("webhook_batch"))
    again = split(json.loads(raw("webhook_batch")))
    assert [d.dedup_key for d in first] == [d.dedup_key for d in again]


def test_socket_and_webhook_copies_of_one_event_share_a_dedup_key() -> None:
    socket_frame = load("ws_conversationMessage.sent")
    webhook = load("webhook_conversationMessage.sent")
    webhook["eventId"] = socket_frame["eventId"]
    assert split(socket_frame)[0].dedup_key == split(webhook)[0].dedup_key


def test_different_events_get_different_dedup_keys() -> None:
    names = [
        "ws_conversation.update",
        "ws_conversation.delete",
        "ws_conversationMessage.sent",
        "ws_conversationMessage.delivered",
        "ws_conversationMessage.read",
        "ws_socket.info",
    ]
    keys = {split(load(name))[0].dedup_key for name in names}
    assert len(keys) == len(names)


def test_frame_without_event_id_is_keyed_by_its_canonical_content() -> None:
    frame = load("ws_socket.info")
    (delivery,) = split(frame)
    reordered = dict(reversed(list(frame.items())))
    assert delivery.dedup_key.startswith("sha256:")
    assert split(reordered)[0].dedup_key == delivery.dedup_key
    changed = copy.deepcopy(frame)
    changed["publishedOn"] = "2026-03-09T09:59:00.013Z"
    assert split(changed)[0].dedup_key != delivery.dedup_key


def test_overlong_event_id_is_hashed_below_the_column_limit() -> None:
    frame = load("ws_conversation.update")
    frame["eventId"] = "x" * 400
    key = split(frame)[0].dedup_key
    assert len(key) < 255
    assert key == split(copy.deepcopy(frame))[0].dedup_key


# --- conversations ---------------------------------------------------------------------------


def test_conversation_update_changes_title_and_settings() -> None:
    (event,) = parse_fixture("ws_conversation.update")
    assert event == ConversationChanged(
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
    )


def test_conversation_update_with_only_a_name_leaves_state_alone() -> None:
    frame = load("ws_conversation.update")
    frame["payload"] = {"name": "Exchange done"}
    (event,) = parse_document(frame)
    assert isinstance(event, ConversationChanged)
    assert event.title == "Exchange done"
    assert event.state is None


def test_conversation_update_with_only_settings_leaves_the_title_alone() -> None:
    frame = load("ws_conversation.update")
    frame["payload"] = {"isPublic": True}
    (event,) = parse_document(frame)
    assert isinstance(event, ConversationChanged)
    assert event.title is None
    assert event.state == {"isPublic": True}


def test_webhook_conversation_create_is_read_like_an_update() -> None:
    (event,) = parse_fixture("webhook_conversation.create")
    assert isinstance(event, ConversationChanged)
    assert event.conversation_id == CONVERSATION
    assert event.at == at("2026-03-09T10:02:17.480")
    assert event.title == "Returns: Lukas Müller"
    assert event.kind is None
    assert event.status is None
    assert event.state is not None
    assert set(event.state) == {"description", "roles", "isPublic"}


def test_conversation_delete_marks_it_deleted_at_the_payload_date() -> None:
    (event,) = parse_fixture("ws_conversation.delete")
    assert event == ConversationChanged(
        conversation_id=CONVERSATION,
        at=at("2026-03-12T16:45:02.118"),
        status=ConversationStatus.DELETED,
    )


def test_conversation_undelete_reopens_it() -> None:
    (event,) = parse_fixture("ws_conversation.undelete")
    assert event == ConversationChanged(
        conversation_id=CONVERSATION,
        at=at("2026-03-12T17:03:55.870"),
        status=ConversationStatus.OPEN,
    )


def test_conversation_delete_without_a_date_uses_the_publish_time() -> None:
    frame = load("ws_conversation.delete")
    frame["payload"] = {}
    (event,) = parse_document(frame)
    assert isinstance(event, ConversationChanged)
    assert event.at == at("2026-03-12T16:45:02.240")


def test_owner_added_on_create_is_a_present_participant_with_a_role() -> None:
    (event,) = parse_fixture("ws_conversation.participantAdded")
    assert event == ParticipantChanged(
        conversation_id=CONVERSATION,
        party=Party(address=AGENT, role="owner"),
        present=True,
        at=at("2026-03-09T10:02:17.554"),
    )


def test_removed_participant_is_no_longer_present() -> None:
    (event,) = parse_fixture("ws_conversation.participantRemoved")
    assert event == ParticipantChanged(
        conversation_id=CONVERSATION,
        party=Party(address=CUSTOMER, role=""),
        present=False,
        at=at("2026-03-12T16:40:29.017"),
    )


def test_typing_starts_and_stops() -> None:
    assert parse_fixture("ws_conversation.participantTyping") == [
        Typing(CONVERSATION, CUSTOMER, typing=True, at=at("2026-03-09T10:14:03.412"))
    ]
    assert parse_fixture("ws_conversation.participantTypingOff") == [
        Typing(CONVERSATION, CUSTOMER, typing=False, at=at("2026-03-09T10:14:09.087"))
    ]


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
    assert message.statuses == (StatusObserved(MESSAGE, "sent", sent_at),)
    assert message.content == load("ws_conversationMessage.sent")["payload"]


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
            {"name": "card.vcf", "type": "text/vcard", "data": "BEGIN:VCARD"},
        ]
    )
    message = only_message(frame)
    assert message.text == "Coordinates below"
    assert message.attachments == (
        AttachmentInfo(external_id="part-1", mime_type="application/json", size=26),
        AttachmentInfo(external_id="card.vcf", filename="card.vcf", mime_type="text/vcard"),
    )


def test_several_text_parts_are_joined_by_newlines_and_untyped_parts_count_as_text() -> None:
    frame = sent_frame(parts=[{"data": "First line"}, {"type": "text/plain", "data": "Second"}])
    assert only_message(frame).text == "First line\nSecond"


def test_message_without_usable_parts_is_unsupported() -> None:
    message = only_message(sent_frame(parts=[{"type": "text/plain"}]))
    assert message.content_kind is ContentKind.UNSUPPORTED
    assert message.text == ""
    assert message.attachments == ()


def test_message_from_our_own_profile_is_outbound() -> None:
    frame = sent_frame()
    frame["payload"]["context"]["from"] = {"id": AGENT, "name": "Nadia (Support)"}
    assert only_message(frame).direction is Direction.OUT


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
    message = only_message(load("webhook_conversationMessage.sent"), NO_PROFILE)
    sender = Party(address=CUSTOMER, name="Lukas Müller")
    sent_at = at("2026-03-09T10:21:37.018")
    assert message.conversation == ConversationRef(CONVERSATION, participants=(sender,))
    assert message.message_id == "6a2d9f7c-e3b1-4085-9c4a-d7e0b1f63a28"
    assert message.direction is Direction.IN
    assert message.sender == sender
    assert message.sent_at == sent_at
    assert message.text == "Can I swap it in the Köln store? 🙏"
    assert message.sequence == 15
    assert message.statuses == (
        StatusObserved("6a2d9f7c-e3b1-4085-9c4a-d7e0b1f63a28", "sent", sent_at),
    )


def test_webhook_outbound_flag_makes_a_message_outbound_without_profile_setting() -> None:
    message = only_message(load("webhook_conversationMessage.sent_outbound"), NO_PROFILE)
    assert message.direction is Direction.OUT
    assert message.sender == Party(address=AGENT, name="Nadia (Support)")
    assert message.message_id == "d2f6a8b0-3c1e-4957-8e4d-b90c25a7f163"
    assert message.sequence == 16


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
                MESSAGE, "delivered", at("2026-03-09T10:14:12.048"), participant=AGENT
            ),
        )
    ]


def test_read_receipt_names_the_reader_and_its_time() -> None:
    assert parse_fixture("ws_conversationMessage.read") == [
        StatusChanged(
            conversation_id=CONVERSATION,
            observation=StatusObserved(
                MESSAGE, "read", at("2026-03-09T10:16:30.552"), participant=AGENT
            ),
        )
    ]


def test_receipt_without_its_own_timestamp_uses_the_publish_time() -> None:
    frame = load("ws_conversationMessage.read")
    del frame["payload"]["timestamp"]
    (event,) = parse_document(frame)
    assert isinstance(event, StatusChanged)
    assert event.observation.at == at("2026-03-09T10:16:30.610")


def test_webhook_batch_gives_the_message_and_both_receipts() -> None:
    message_id = "0e8c5a3b-f7d1-4926-a4b0-3c9e6d1f8a57"
    sent, delivered, read = parse_fixture("webhook_batch")
    assert isinstance(sent, MessageUpserted)
    assert sent.message_id == message_id
    assert sent.direction is Direction.OUT
    assert sent.text == "Your exchange voucher: EX-20931"
    assert sent.sequence == 17
    assert delivered == StatusChanged(
        CONVERSATION,
        StatusObserved(message_id, "delivered", at("2026-03-09T10:24:41.882"), CUSTOMER),
    )
    assert read == StatusChanged(
        CONVERSATION,
        StatusObserved(message_id, "read", at("2026-03-09T10:26:13.705"), CUSTOMER),
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
    (event,) = parse_document(frame)
    assert event == ProfileChanged(CUSTOMER, "Lukas M.", at("2026-03-10T19:05:44.420"))


def test_profile_update_with_only_a_first_name_is_trimmed() -> None:
    frame = load("ws_profile.update")
    frame["payload"] = {"id": CUSTOMER, "firstName": "Lukas"}
    (event,) = parse_document(frame)
    assert isinstance(event, ProfileChanged)
    assert event.name == "Lukas"


def test_profile_update_without_any_name_is_ignored() -> None:
    frame = load("ws_profile.update")
    frame["payload"] = {"id": CUSTOMER, "email": "lukas@example.org"}
    assert parse_document(frame) == []


@pytest.mark.parametrize("fixture", ["ws_socket.info", "ws_unknown"])
def test_housekeeping_and_unknown_frames_are_ignored(fixture: str) -> None:
    assert parse_fixture(fixture) == []


def test_echo_keepalive_is_ignored() -> None:
    frame = {"name": "echo", "payload": {}, "publishedOn": "2026-03-09T10:00:00.000Z"}
    assert parse_document(frame) == []


def test_events_are_hashable_and_their_times_are_aware_utc() -> None:
    (added,) = parse_fixture("ws_conversation.participantAdded")
    (typing,) = parse_fixture("ws_conversation.participantTyping")
    (receipt,) = parse_fixture("ws_conversationMessage.read")
    (profile,) = parse_fixture("ws_profile.update")
    assert isinstance(added, ParticipantChanged)
    assert isinstance(typing, Typing)
    assert isinstance(receipt, StatusChanged)
    assert isinstance(profile, ProfileChanged)
    assert len({added, typing, receipt, profile}) == 4
    times = [added.at, typing.at, receipt.observation.at, profile.at]
    assert all(time is not None and time.tzinfo is UTC for time in times)


# --- malformed payloads ----------------------------------------------------------------------


def broken(fixture: str, change: Any) -> dict[str, Any]:
    frame = load(fixture)
    change(frame)
    return frame


@pytest.mark.parametrize(
    ("fixture", "change", "message"),
    [
        ("ws_conversation.update", lambda f: f.update(payload="renamed"), "'payload'"),
        ("ws_conversation.update", lambda f: f.pop("conversationId"), "conversation id"),
        ("ws_conversation.update", lambda f: f["payload"].update(name=7), "'name'"),
        ("ws_conversation.delete", lambda f: f["payload"].update(date="yesterday"), "timestamp"),
        ("ws_conversation.participantAdded", lambda f: f["payload"].pop("profileId"), "profileId"),
        ("ws_conversation.participantTyping", lambda f: f["payload"].pop("profileId"), "profileId"),
        (
            "ws_conversation.participantTyping",
            lambda f: f["payload"].pop("conversationId"),
            "conversation id",
        ),
        ("ws_conversationMessage.sent", lambda f: f["payload"].pop("messageId"), "message id"),
        (
            "ws_conversationMessage.sent",
            lambda f: f["payload"]["context"].pop("conversationId"),
            "conversation id",
        ),
        ("ws_conversationMessage.sent", lambda f: f["payload"].update(parts="hi"), "'parts'"),
        ("ws_conversationMessage.sent", lambda f: f["payload"].update(parts=["hi"]), "part 0"),
        (
            "ws_conversationMessage.sent",
            lambda f: f["payload"].update(context=["jane"]),
            "'context'",
        ),
        (
            "ws_conversationMessage.sent",
            lambda f: f.update(conversationEventId="seven"),
            "conversationEventId",
        ),
        ("ws_conversationMessage.sent", lambda f: f.update(publishedOn=1741515251), "timestamp"),
        (
            "ws_conversationMessage.delivered",
            lambda f: f["payload"].update(messageId=["x"]),
            "messageId",
        ),
        ("ws_conversationMessage.read", lambda f: f["payload"].pop("messageId"), "message id"),
        ("ws_profile.update", lambda f: f["payload"].pop("id"), "profile id"),
    ],
)
def test_malformed_payload_raises_payload_error(fixture: str, change: Any, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse_document(broken(fixture, change))


def test_message_without_any_sender_raises_payload_error() -> None:
    frame = sent_frame()
    del frame["payload"]["context"]["from"]
    del frame["payload"]["context"]["sentBy"]
    del frame["context"]
    with pytest.raises(PayloadError, match="sender"):
        parse_document(frame)


@pytest.mark.parametrize("payload", [None, "frame", 3, ["frame"]])
def test_non_object_payload_raises_payload_error(payload: Any) -> None:
    with pytest.raises(PayloadError):
        parse("conversationMessage.sent", payload, CONTEXT)
