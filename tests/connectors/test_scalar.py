"""The SCALAR connector, driven by the Datahub Subscription batches in tests/fixtures/scalar."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from inbox.connectors.base import (
    ChannelContext,
    ContentKind,
    ConversationKind,
    ConversationRef,
    Direction,
    MessageUpserted,
    Party,
    PayloadError,
    Platform,
    StatusObserved,
    get_connector,
)
from inbox.connectors.scalar import auth, connector, parse
from tests.helpers import fixture_bytes, fixture_json

SECRET = "whsec-scalar-7c1e94b2d0"
OTHER_SECRET = "whsec-scalar-retired-3a9f"

DISPATCHER = "6378b144-b6d2-405a-8785-946c8f3867b4"
COLLEAGUE = "8a589c79-0f09-4630-957a-bb3966f6f155"
DRIVER = "33af2322-880a-4358-8a3e-0196124387b8"
DRIVER_2 = "c1e55947-f24f-4cc1-9f63-60644f15cbde"
DRIVER_3 = "8ef46216-cc61-44b3-98f2-689263888db4"
GROUP = "5e490384-9ccb-4b30-8509-a35e54ae777b"
CHAT = f"{DISPATCHER}:{DRIVER}"
PICKUP = "ebe4996e-8646-44c5-8f70-785f11dc74ae"
DETOUR = "58d843d6-89f8-4ad2-a099-19a72841f9d7"
RECALLED = "fe50c846-3127-4bc2-962c-c944101213c7"
PHOTO = "281c8a18-e459-4af2-b728-446b1722b715"
BREAKDOWN = "febae244-dd95-416e-b423-7155f571d9c9"

PICKUP_TEXT = "Trailer 4711 is ready at dock 3 in Duisburg. Please pick it up before 09:00."
DETOUR_TEXT = "Road closure on the A14 near Magdeburg until Friday: take the detour via the B81."

USER = Party(DISPATCHER, role="User")
DRIVER_PARTY = Party(DRIVER, role="Driver")
GROUP_MEMBERS = (
    Party(DRIVER_2, role="Driver"),
    Party(DRIVER_3, role="Driver"),
    Party(COLLEAGUE, role="User"),
)

FIXTURES = (
    "chat_message_sent",
    "chat_messaging_message_sent",
    "chat_message_delivered",
    "chat_message_seen",
    "groupchat_message_sent",
    "groupchat_message_delivered",
    "groupchat_message_driver_seen",
    "groupchat_message_treated",
    "chat_message_recalled",
    "chat_image_reply",
    "mixed_batch",
    "unknown_status",
)

CONTEXT = ChannelContext(platform="scalar")


def at(clock: str) -> datetime:
    """A time on 2026-05-12, the day the fixtures were recorded."""
    hour, minute, second = (int(part) for part in clock.split(":"))
    return datetime(2026, 5, 12, hour, minute, second, tzinfo=UTC)


def events_of(name: str, context: ChannelContext = CONTEXT) -> list[Any]:
    """Split a fixture and parse every delivery, after the JSON round trip storage does."""
    parsed: list[Any] = []
    for delivery in parse.split(fixture_json("scalar", name)):
        payload = json.loads(json.dumps(delivery.payload))
        parsed.extend(parse.parse(delivery.event_name, payload, context))
    return parsed


def only_message(name: str, context: ChannelContext = CONTEXT) -> MessageUpserted:
    (message,) = events_of(name, context)
    assert isinstance(message, MessageUpserted)
    return message


def parse_item(item: Any, event_name: str = "message.sent") -> list[Any]:
    return parse.parse(event_name, {"eventBatchId": "b", "event": item}, CONTEXT)


def first_item(name: str) -> dict[str, Any]:
    item: dict[str, Any] = fixture_json("scalar", name)["eventsData"][0]
    return item


# --- wiring ----------------------------------------------------------------------------------


def snapshot_content(name: str) -> dict[str, object]:
    """The snapshot as stored: without the parts that change from event to event."""
    data = dict(first_item(name)["eventData"])
    del data["statusHistory"], data["registeredOn"]
    return data


def test_connector_is_registered_for_the_scalar_platform() -> None:
    assert connector.platform is Platform.SCALAR
    assert get_connector("scalar") is connector
    assert connector.verify is auth.verify
    assert connector.split is parse.split
    assert connector.parse is parse.parse


# --- signatures ------------------------------------------------------------------------------


def test_sign_defaults_to_lowercase_hex_in_the_scalar_header() -> None:
    body = b'{"eventsData":[]}'
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert auth.sign(body, SECRET, {}) == {"X-SCALAR-Signature": f"sha256={expected}"}


def test_sign_honours_the_header_and_encoding_settings() -> None:
    settings = {"signature_header": "X-Webhook-Signature", "signature_encoding": "base64"}
    digest = hmac.new(SECRET.encode(), b"{}", hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    assert auth.sign(b"{}", SECRET, settings) == {"X-Webhook-Signature": f"sha256={expected}"}


@pytest.mark.parametrize(
    "settings",
    [{"signature_header": "X-Hub-Signature"}, {"signature_encoding": "base32"}],
)
def test_sign_rejects_settings_scalar_would_never_use(settings: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="unknown SCALAR signature"):
        auth.sign(b"{}", SECRET, settings)


@pytest.mark.parametrize("header", ["X-SCALAR-Signature", "X-Webhook-Signature"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_either_header_with_either_encoding_verifies(header: str, encoding: str) -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    settings = {"signature_header": header, "signature_encoding": encoding}
    headers = auth.sign(body, SECRET, settings)
    assert auth.verify(headers, body, [SECRET], {}) is True


def test_uppercase_hex_and_a_missing_prefix_still_verify() -> None:
    body = fixture_bytes("scalar", "chat_message_delivered")
    digest = auth.sign(body, SECRET, {})["X-SCALAR-Signature"].removeprefix("sha256=")
    assert auth.verify({"X-SCALAR-Signature": "sha256=" + digest.upper()}, body, [SECRET], {})
    assert auth.verify({"X-SCALAR-Signature": digest}, body, [SECRET], {})
    assert auth.verify({"X-SCALAR-Signature": f"SHA256={digest} "}, body, [SECRET], {})


def test_base64_signature_is_compared_case_sensitively() -> None:
    body = fixture_bytes("scalar", "chat_message_delivered")
    value = auth.sign(body, SECRET, {"signature_encoding": "base64"})["X-SCALAR-Signature"]
    assert value != value.swapcase()
    assert not auth.verify({"X-SCALAR-Signature": value.swapcase()}, body, [SECRET], {})


def test_header_names_are_matched_in_any_case_on_a_plain_dict() -> None:
    body = fixture_bytes("scalar", "chat_message_seen")
    value = auth.sign(body, SECRET, {})["X-SCALAR-Signature"]
    assert auth.verify({"x-scalar-signature": value}, body, [SECRET], {})
    assert auth.verify({"X-WEBHOOK-SIGNATURE": value}, body, [SECRET], {})


def test_a_wrong_secret_is_rejected() -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    headers = auth.sign(body, "someone-else", {})
    assert auth.verify(headers, body, [SECRET], {}) is False


def test_a_missing_signature_header_is_rejected() -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    assert auth.verify({"Content-Type": "application/json"}, body, [SECRET], {}) is False


def test_no_secrets_or_only_blank_secrets_reject_everything() -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    assert auth.verify(auth.sign(body, SECRET, {}), body, [], {}) is False
    assert auth.verify(auth.sign(body, "", {}), body, [""], {}) is False


def test_the_second_of_two_rotated_secrets_matches() -> None:
    body = fixture_bytes("scalar", "groupchat_message_treated")
    headers = auth.sign(body, SECRET, {})
    assert auth.verify(headers, body, [OTHER_SECRET, SECRET], {}) is True
    assert auth.verify(headers, body, [OTHER_SECRET], {}) is False


def test_a_signature_in_the_other_header_wins_over_a_stale_one() -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    headers = {
        "X-SCALAR-Signature": auth.sign(body, OTHER_SECRET, {})["X-SCALAR-Signature"],
        "X-Webhook-Signature": auth.sign(body, SECRET, {})["X-SCALAR-Signature"],
    }
    assert auth.verify(headers, body, [SECRET], {}) is True


def test_a_non_ascii_body_is_signed_over_its_raw_bytes() -> None:
    body = fixture_bytes("scalar", "unknown_status")
    assert "Würzburg 🚚".encode() in body
    headers = auth.sign(body, SECRET, {})
    assert auth.verify(headers, body, [SECRET], {}) is True
    # The same JSON re-encoded with escapes is a different byte string, hence not authentic.
    escaped = json.dumps(json.loads(body), indent=2).encode("ascii") + b"\n"
    assert escaped != body
    assert auth.verify(headers, escaped, [SECRET], {}) is False


def test_a_tampered_body_is_rejected() -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    headers = auth.sign(body, SECRET, {})
    tampered = body.replace(b"dock 3", b"dock 9")
    assert tampered != body
    assert auth.verify(headers, tampered, [SECRET], {}) is False


@pytest.mark.parametrize(
    "headers",
    [
        {"X-SCALAR-Signature": ""},
        {"X-SCALAR-Signature": "sha256="},
        {"X-SCALAR-Signature": "sha256=ünïcödé"},
        {"X-SCALAR-Signature": None},
        {None: "sha256=00"},
    ],
)
def test_malformed_signature_headers_are_rejected_without_raising(headers: Any) -> None:
    assert auth.verify(headers, b"{}", [SECRET], {}) is False


def test_verify_never_raises_on_a_body_that_is_not_bytes() -> None:
    headers = auth.sign(b"{}", SECRET, {})
    assert auth.verify(headers, "{}", [SECRET], {}) is False  # type: ignore[arg-type]


# --- split -----------------------------------------------------------------------------------


def test_split_returns_one_delivery_per_item_with_the_batch_envelope() -> None:
    document = fixture_json("scalar", "mixed_batch")
    deliveries = parse.split(document)
    assert [d.event_name for d in deliveries] == [
        "message.delivered",
        "vehicle.position.updated",
        "message.sent",
    ]
    for delivery, item in zip(deliveries, document["eventsData"], strict=True):
        assert delivery.payload == {
            "eventBatchId": "53a6dbe5-4cd5-5c87-9067-bce826006fc8",
            "eventSubscriptionId": "52e05cf2-d945-4c1d-a161-abff8f68fec9",
            "eventBatchTime": "2026-05-12T06:33:31.8127745Z",
            "event": item,
        }


def test_split_keeps_the_vendor_spelling_of_the_event_name() -> None:
    (delivery,) = parse.split(fixture_json("scalar", "chat_messaging_message_sent"))
    assert delivery.event_name == "messaging.message.sent"


@pytest.mark.parametrize(
    "document",
    [
        [],
        "eventsData",
        None,
        {"eventBatchId": "b"},
        {"eventBatchId": "b", "eventsData": {"eventType": "message.sent"}},
    ],
)
def test_split_rejects_documents_that_are_not_batches(document: Any) -> None:
    with pytest.raises(PayloadError):
        parse.split(document)


def test_split_of_an_empty_batch_returns_nothing() -> None:
    assert parse.split({"eventBatchId": "b", "eventsData": []}) == []


def test_split_names_items_without_an_event_type_invalid_but_keeps_them() -> None:
    items = ["message.sent", {"eventVersion": 1}, {"eventType": ""}, {"eventType": 7}]
    deliveries = parse.split({"eventBatchId": "b", "eventsData": items})
    assert [d.event_name for d in deliveries] == ["invalid"] * 4
    assert [d.payload["event"] for d in deliveries] == items


# --- dedup keys ------------------------------------------------------------------------------


def test_a_message_event_is_keyed_by_type_message_update_time_and_status() -> None:
    (delivery,) = parse.split(fixture_json("scalar", "chat_message_delivered"))
    assert delivery.dedup_key == f"message.delivered:{PICKUP}:2026-05-12T06:15:07Z:Delivered"


def test_a_redelivered_batch_gets_identical_dedup_keys() -> None:
    first = [d.dedup_key for d in parse.split(fixture_json("scalar", "mixed_batch"))]
    again = [d.dedup_key for d in parse.split(json.loads(fixture_bytes("scalar", "mixed_batch")))]
    assert first == again


def test_both_spellings_of_one_event_share_a_dedup_key() -> None:
    (short,) = parse.split(fixture_json("scalar", "chat_message_sent"))
    (long,) = parse.split(fixture_json("scalar", "chat_messaging_message_sent"))
    assert (
        short.dedup_key == long.dedup_key == f"message.sent:{PICKUP}:2026-05-12T06:14:51Z:Pending"
    )


def test_different_events_get_different_dedup_keys() -> None:
    names = [name for name in FIXTURES if name != "chat_messaging_message_sent"]
    keys = [d.dedup_key for name in names for d in parse.split(fixture_json("scalar", name))]
    assert len(keys) == len(set(keys)) == 13
    assert all(len(key) <= 255 for key in keys)


def test_a_non_message_item_is_keyed_by_a_hash_of_the_item() -> None:
    document = fixture_json("scalar", "mixed_batch")
    position = document["eventsData"][1]
    (key,) = [d.dedup_key for d in parse.split({"eventsData": [position]})]
    assert key.startswith("item:")
    assert len(key) == len("item:") + 64
    reordered = dict(reversed(list(position.items())))
    assert parse.split({"eventsData": [reordered]})[0].dedup_key == key
    moved = copy.deepcopy(position)
    moved["eventData"]["latitude"] = 51.5
    assert parse.split({"eventsData": [moved]})[0].dedup_key != key


def test_a_message_item_without_its_key_fields_is_keyed_by_hash() -> None:
    deliveries = parse.split(fixture_json("scalar", "mixed_batch"))
    assert deliveries[2].dedup_key.startswith("item:")


def test_an_overlong_message_key_falls_back_to_a_hash() -> None:
    item = first_item("chat_message_sent")
    item["eventData"]["messageId"] = "m" * 300
    (delivery,) = parse.split({"eventsData": [item]})
    assert delivery.dedup_key.startswith("item:")
    assert len(delivery.dedup_key) <= 255


# --- message events --------------------------------------------------------------------------


def test_a_chat_message_sent_upserts_a_pending_outbound_text_message() -> None:
    message = only_message("chat_message_sent")
    assert message == MessageUpserted(
        conversation=ConversationRef(
            CHAT, ConversationKind.DIRECT, participants=(USER, Party(DRIVER))
        ),
        message_id=PICKUP,
        direction=Direction.OUT,
        sender=USER,
        sent_at=at("06:14:51"),
        text=PICKUP_TEXT,
        content=snapshot_content("chat_message_sent"),
        content_kind=ContentKind.TEXT,
        reply_to="",
        recipients=(Party(DRIVER),),
        statuses=(StatusObserved(PICKUP, "sent", at("06:14:51")),),
    )


def test_the_messaging_prefixed_event_parses_like_the_short_name() -> None:
    assert events_of("chat_messaging_message_sent") == events_of("chat_message_sent")


def test_a_chat_message_delivered_carries_the_whole_message_so_a_lost_sent_is_repaired() -> None:
    message = only_message("chat_message_delivered")
    sent = only_message("chat_message_sent")
    assert (message.conversation, message.message_id, message.sender) == (
        sent.conversation,
        sent.message_id,
        sent.sender,
    )
    assert message.direction is Direction.OUT
    assert message.text == PICKUP_TEXT
    # registeredOn moved to the delivery time; the send time stays the Pending step's, and the
    # stored content is the same as the first event's.
    assert message.content == sent.content
    assert message.sent_at == at("06:14:51")
    assert message.statuses == (
        StatusObserved(PICKUP, "sent", at("06:14:51")),
        StatusObserved(PICKUP, "delivered", at("06:15:07")),
    )


def test_a_chat_message_seen_maps_seen_to_read() -> None:
    message = only_message("chat_message_seen")
    assert message.statuses == (
        StatusObserved(PICKUP, "sent", at("06:14:51")),
        StatusObserved(PICKUP, "delivered", at("06:15:07")),
        StatusObserved(PICKUP, "read", at("06:21:40")),
    )
    assert message.recipients == (Party(DRIVER),)


def test_a_groupchat_message_sent_names_the_group_as_its_conversation() -> None:
    message = only_message("groupchat_message_sent")
    assert message.conversation == ConversationRef(
        GROUP, ConversationKind.GROUP, participants=(USER,)
    )
    assert message.message_id == DETOUR
    assert message.direction is Direction.OUT
    assert message.sender == USER
    assert message.sent_at == at("07:02:18")
    assert message.text == DETOUR_TEXT
    assert message.content_kind is ContentKind.TEXT
    # Nobody has received it yet, so the status history names no member.
    assert message.recipients == ()
    assert message.statuses == (StatusObserved(DETOUR, "sent", at("07:02:18")),)


def test_a_groupchat_message_delivered_lists_members_from_the_status_history() -> None:
    message = only_message("groupchat_message_delivered")
    assert message.conversation.external_id == GROUP
    assert message.conversation.participants == (USER,)
    assert message.recipients == GROUP_MEMBERS
    assert message.statuses == (
        StatusObserved(DETOUR, "sent", at("07:02:18")),
        StatusObserved(DETOUR, "delivered", at("07:02:25"), participant=DRIVER_2),
        StatusObserved(DETOUR, "delivered", at("07:02:31"), participant=DRIVER_3),
        StatusObserved(DETOUR, "delivered", at("07:02:33"), participant=COLLEAGUE),
        StatusObserved(DETOUR, "delivered", at("07:02:33")),
    )


def test_a_groupchat_driver_seen_is_a_per_participant_flag() -> None:
    message = only_message("groupchat_message_driver_seen")
    assert message.recipients == GROUP_MEMBERS
    # The flag is the driver's own; a current status that is a flag is not repeated for everyone.
    assert message.statuses[-1] == StatusObserved(
        DETOUR, "DriverSeen", at("07:09:02"), participant=DRIVER_2
    )
    assert [s for s in message.statuses if s.status == "DriverSeen"] == [message.statuses[-1]]
    assert len(message.statuses) == 5


def test_a_groupchat_treated_keeps_the_whole_history() -> None:
    message = only_message("groupchat_message_treated")
    assert message.text == DETOUR_TEXT
    assert message.recipients == GROUP_MEMBERS
    assert [(s.status, s.participant) for s in message.statuses] == [
        ("sent", ""),
        ("delivered", DRIVER_2),
        ("delivered", DRIVER_3),
        ("delivered", COLLEAGUE),
        ("DriverSeen", DRIVER_2),
        ("Treated", DRIVER_2),
    ]
    assert message.statuses[-1].at == at("07:16:45")


def test_a_recalled_message_ends_with_the_recalled_step() -> None:
    message = only_message("chat_message_recalled")
    assert message.message_id == RECALLED
    assert message.text == "Unload at gate 7 instead of gate 2."
    assert message.sent_at == at("08:38:54")
    assert message.statuses == (
        StatusObserved(RECALLED, "sent", at("08:38:54")),
        StatusObserved(RECALLED, "delivered", at("08:38:58")),
        StatusObserved(RECALLED, "recalled", at("08:40:11")),
    )


def test_an_image_reply_from_a_driver_is_an_inbound_file_with_its_caption() -> None:
    message = only_message("chat_image_reply")
    assert message == MessageUpserted(
        conversation=ConversationRef(
            CHAT, ConversationKind.DIRECT, participants=(DRIVER_PARTY, Party(DISPATCHER))
        ),
        message_id=PHOTO,
        direction=Direction.IN,
        sender=DRIVER_PARTY,
        sent_at=at("06:33:19"),
        text="Trailer 4711 coupled, seal intact",
        content=snapshot_content("chat_image_reply"),
        content_kind=ContentKind.FILE,
        reply_to=PICKUP,
        attachments=(),
        recipients=(Party(DISPATCHER),),
        statuses=(StatusObserved(PHOTO, "sent", at("06:33:19")),),
    )


def test_a_file_without_caption_is_a_file_message_with_empty_text() -> None:
    item = first_item("chat_image_reply")
    item["eventData"].update(contentType="file", content=None)
    (message,) = parse_item(item)
    assert message.content_kind is ContentKind.FILE
    assert message.text == ""
    assert message.attachments == ()


@pytest.mark.parametrize("content_type", ["location", None])
def test_an_unknown_content_type_is_unsupported(content_type: str | None) -> None:
    item = first_item("chat_message_sent")
    item["eventData"]["contentType"] = content_type
    (message,) = parse_item(item)
    assert message.content_kind is ContentKind.UNSUPPORTED
    assert message.content["contentType"] == content_type


def test_an_unknown_status_is_passed_through_as_a_flag() -> None:
    message = only_message("unknown_status")
    assert message.message_id == BREAKDOWN
    assert message.direction is Direction.IN
    assert (
        message.text == "Panne auf der A3 bei Würzburg 🚚⚠️ Kühlaggregat ausgefallen, brauche Hilfe"
    )
    assert message.statuses == (
        StatusObserved(BREAKDOWN, "sent", at("10:01:12")),
        StatusObserved(BREAKDOWN, "delivered", at("10:01:14")),
        StatusObserved(BREAKDOWN, "Escalated", at("10:05:43"), participant=COLLEAGUE),
    )


def test_the_sender_id_setting_decides_the_direction() -> None:
    ours = ChannelContext(platform="scalar", settings={"sender_id": DRIVER})
    assert only_message("chat_image_reply", ours).direction is Direction.OUT
    assert only_message("chat_message_sent", ours).direction is Direction.IN


def test_without_a_sender_id_setting_a_sender_without_role_is_inbound() -> None:
    item = first_item("chat_message_sent")
    del item["eventData"]["sender"]["roleType"]
    (message,) = parse_item(item)
    assert message.direction is Direction.IN
    assert message.sender == Party(DISPATCHER)


def test_sent_at_falls_back_to_registered_on_without_a_pending_step() -> None:
    item = first_item("chat_message_delivered")
    item["eventData"]["statusHistory"]["events"] = []
    (message,) = parse_item(item, "message.delivered")
    assert message.sent_at == at("06:15:07")
    assert message.statuses == (StatusObserved(PICKUP, "delivered", at("06:15:07")),)


def test_parsed_events_hold_hashable_refs_and_json_content() -> None:
    for name in FIXTURES:
        if name == "mixed_batch":  # holds a malformed item; covered below
            continue
        for message in events_of(name):
            assert hash((message.conversation, message.recipients, message.statuses))
            assert json.loads(json.dumps(message.content)) == message.content
            assert message.sent_at is not None
            assert message.sent_at.tzinfo is UTC


# --- other event groups and malformed items ------------------------------------------------


def test_a_mixed_batch_parses_messages_ignores_other_groups_and_rejects_malformed_items() -> None:
    deliveries = parse.split(fixture_json("scalar", "mixed_batch"))
    message, position, malformed = deliveries
    (upserted,) = parse.parse(message.event_name, message.payload, CONTEXT)
    assert upserted.message_id == PHOTO
    assert upserted.statuses[-1] == StatusObserved(PHOTO, "delivered", at("06:33:30"))
    assert parse.parse(position.event_name, position.payload, CONTEXT) == []
    with pytest.raises(PayloadError, match="eventData"):
        parse.parse(malformed.event_name, malformed.payload, CONTEXT)


@pytest.mark.parametrize("event_name", ["messaging.conversation.created", "message", "driver"])
def test_events_outside_the_message_group_are_ignored(event_name: str) -> None:
    item = {"eventType": event_name, "eventVersion": 1, "eventData": {}}
    assert parse_item(item, event_name) == []


@pytest.mark.parametrize("item", ["message.sent", {"eventVersion": 1}, {"eventType": None}])
def test_an_invalid_item_from_split_raises_payload_error(item: Any) -> None:
    (delivery,) = parse.split({"eventsData": [item]})
    assert delivery.event_name == "invalid"
    with pytest.raises(PayloadError, match="event item"):
        parse.parse(delivery.event_name, delivery.payload, CONTEXT)


@pytest.mark.parametrize("payload", [None, [], "message.sent", {"eventBatchId": "b"}])
def test_a_payload_that_is_not_a_delivery_raises_payload_error(payload: Any) -> None:
    with pytest.raises(PayloadError):
        parse.parse("message.sent", payload, CONTEXT)


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    item = first_item("groupchat_message_delivered")
    *parents, last = path
    target = item
    for key in parents:
        target = target[key]
    del target[last]
    return item


def _with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    item = first_item("groupchat_message_delivered")
    *parents, last = path
    target: Any = item
    for key in parents:
        target = target[key]
    target[last] = value
    return item


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (_without(("eventData",)), "eventData is missing"),
        (_without(("eventData", "messageId")), "has no 'messageId'"),
        (_without(("eventData", "conversationId")), "has no 'conversationId'"),
        (_without(("eventData", "statusHistory")), "statusHistory is missing"),
        (_without(("eventData", "sender")), "sender is missing"),
        (_without(("eventData", "sender", "senderId")), "has no 'senderId'"),
        (_with(("eventData",), ["not", "an", "object"]), "eventData is missing"),
        (_with(("eventData", "messageId"), 42), "has no 'messageId'"),
        (_with(("eventData", "conversationType"), "broadcast"), "'broadcast'"),
        (_with(("eventData", "content"), 8), "content is not a string"),
        (_with(("eventData", "statusHistory", "events"), {}), "events is not a list"),
        (_with(("eventData", "statusHistory", "events", 0), "Pending"), r"events\[0\] is missing"),
        (_with(("eventData", "statusHistory", "events", 0, "status"), None), "has no 'status'"),
        (_with(("eventData", "statusHistory", "events", 1, "participant"), "x"), "participant"),
        (_with(("eventData", "statusHistory", "lastUpdatedAt"), "yesterday"), "timestamp"),
        (_with(("eventData", "registeredOn"), 1778569338), "timestamp"),
    ],
)
def test_an_incomplete_message_raises_payload_error(item: dict[str, Any], message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse_item(item, "message.delivered")


def test_a_chat_message_without_recipient_raises_payload_error() -> None:
    item = first_item("chat_message_sent")
    del item["eventData"]["recipientId"]
    with pytest.raises(PayloadError, match="recipientId"):
        parse_item(item)
