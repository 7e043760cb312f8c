"""The SCALAR connector, driven by the Datahub Subscription batches in tests/fixtures/scalar."""

from __future__ import annotations

import ast
import base64
import copy
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from inbox.choices import ContentKind, ConversationKind, Direction, Platform, Step
from inbox.connectors import scalar as connector
from inbox.connectors.contract import (
    ChannelContext,
    Headers,
    PayloadError,
    SignatureError,
)
from inbox.connectors.events import ConversationRef, MessageUpserted, Party, StatusObserved
from inbox.connectors.registry import get_connector
from tests.helpers import fixture_bytes, fixture_json, parse_document

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

BATCH_ENVELOPE = {
    "eventBatchId": "53a6dbe5-4cd5-5c87-9067-bce826006fc8",
    "eventSubscriptionId": "52e05cf2-d945-4c1d-a161-abff8f68fec9",
    "eventBatchTime": "2026-05-12T06:33:31.8127745Z",
}

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
HISTORY = "event.eventData.statusHistory"


def at(clock: str) -> datetime:
    """A time on 2026-05-12, the day the fixtures were recorded."""
    hour, minute, second = (int(part) for part in clock.split(":"))
    return datetime(2026, 5, 12, hour, minute, second, tzinfo=UTC)


def sent(message_id: str, clock: str, participant: str = "") -> StatusObserved:
    return StatusObserved(message_id, step=Step.SENT, at=at(clock), participant=participant)


def delivered(message_id: str, clock: str, participant: str = "") -> StatusObserved:
    return StatusObserved(message_id, step=Step.DELIVERED, at=at(clock), participant=participant)


def flag(message_id: str, word: str, clock: str, participant: str) -> StatusObserved:
    return StatusObserved(message_id, flag=word, at=at(clock), participant=participant)


def split(document: Any) -> list[Any]:
    return connector.split(document=document)


def parse_entry(
    entry: Any, event_name: str = "message.sent", context: ChannelContext = CONTEXT
) -> list[Any]:
    return connector.parse(
        event_name=event_name, payload=entry, envelope={"eventBatchId": "b"}, context=context
    )


def events_of(name: str, context: ChannelContext = CONTEXT) -> list[Any]:
    """Split a fixture and parse every item, after the JSON round trip storage does."""
    parsed: list[Any] = []
    for item in split(fixture_json("scalar", name)):
        parsed.extend(
            connector.parse(
                event_name=item.event_name,
                payload=json.loads(json.dumps(item.payload)),
                envelope=json.loads(json.dumps(item.envelope)),
                context=context,
            )
        )
    return parsed


def only_message(name: str, context: ChannelContext = CONTEXT) -> MessageUpserted:
    (message,) = events_of(name, context)
    assert isinstance(message, MessageUpserted)
    return message


def first_entry(name: str) -> dict[str, Any]:
    entry: dict[str, Any] = fixture_json("scalar", name)["eventsData"][0]
    return entry


def snapshot_content(name: str) -> dict[str, object]:
    """The snapshot as stored: without the parts that change from event to event."""
    data = dict(first_entry(name)["eventData"])
    del data["statusHistory"], data["registeredOn"]
    return data


# --- wiring ----------------------------------------------------------------------------------


def test_the_registry_hands_out_this_connector_for_the_scalar_platform() -> None:
    assert get_connector("scalar") is connector
    assert connector.platform is Platform.SCALAR


def _imported_modules(path: Path) -> set[str]:
    package = "inbox.connectors.scalar"
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            name = ".".join(part for part in (base, node.module) if part)
            modules.add(name)
            modules.update(f"{name}.{alias.name}" for alias in node.names)
    return modules


def test_the_package_imports_neither_django_nor_the_retired_base_module() -> None:
    package = Path(__file__).parents[2] / "inbox" / "connectors" / "scalar"
    for path in package.glob("*.py"):
        modules = _imported_modules(path)
        assert not [name for name in modules if name.split(".")[0] == "django"], path
        assert not [name for name in modules if name.startswith("inbox.connectors.base")], path


# --- signatures ------------------------------------------------------------------------------


def signature(body: bytes, secret: str = SECRET, encoding: str = "hex") -> str:
    """SCALAR's documented scheme, computed here independently: HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    encoded = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode("ascii")
    return f"sha256={encoded}"


def verify(headers: dict[str, str], body: bytes, secrets: list[str] | None = None) -> None:
    connector.verify(
        headers=Headers(headers),
        body=body,
        secrets=[SECRET] if secrets is None else secrets,
        settings={},
    )


def test_sign_defaults_to_lowercase_hex_in_the_scalar_header() -> None:
    body = b'{"eventsData":[]}'
    headers = connector.sign(body=body, secret=SECRET, settings={})
    assert headers == {"X-SCALAR-Signature": signature(body)}
    assert headers["X-SCALAR-Signature"] == headers["X-SCALAR-Signature"].lower()


def test_sign_honours_the_header_and_encoding_settings() -> None:
    settings = {"signature_header": "X-Webhook-Signature", "signature_encoding": "base64"}
    headers = connector.sign(body=b"{}", secret=SECRET, settings=settings)
    assert headers == {"X-Webhook-Signature": signature(b"{}", encoding="base64")}


@pytest.mark.parametrize(
    "settings",
    [{"signature_header": "X-Hub-Signature"}, {"signature_encoding": "base32"}],
)
def test_sign_rejects_settings_scalar_would_never_use(settings: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="unknown SCALAR signature"):
        connector.sign(body=b"{}", secret=SECRET, settings=settings)


@pytest.mark.parametrize("header", ["X-SCALAR-Signature", "X-Webhook-Signature"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_either_header_with_either_encoding_verifies(header: str, encoding: str) -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    verify({header: signature(body, encoding=encoding)}, body)


@pytest.mark.parametrize(
    "value",
    [
        lambda digest: "sha256=" + digest.upper(),
        lambda digest: digest,
        lambda digest: f"SHA256={digest} ",
    ],
    ids=["uppercase-hex", "without-prefix", "uppercase-prefix-and-padding"],
)
def test_uppercase_hex_and_a_missing_prefix_still_verify(value: Any) -> None:
    body = fixture_bytes("scalar", "chat_message_delivered")
    digest = signature(body).removeprefix("sha256=")
    verify({"X-SCALAR-Signature": value(digest)}, body)


def test_base64_without_the_prefix_verifies_despite_its_padding() -> None:
    body = fixture_bytes("scalar", "chat_message_delivered")
    value = signature(body, encoding="base64").removeprefix("sha256=")
    assert value.endswith("=")
    verify({"X-SCALAR-Signature": value}, body)


def test_base64_signature_is_compared_case_sensitively() -> None:
    body = fixture_bytes("scalar", "chat_message_delivered")
    value = signature(body, encoding="base64")
    digest = value.removeprefix("sha256=")
    assert digest != digest.swapcase()
    with pytest.raises(SignatureError, match="does not match"):
        verify({"X-SCALAR-Signature": "sha256=" + digest.swapcase()}, body)


def test_header_names_are_matched_in_any_case() -> None:
    body = fixture_bytes("scalar", "chat_message_seen")
    verify({"x-scalar-signature": signature(body)}, body)
    verify({"X-WEBHOOK-SIGNATURE": signature(body)}, body)


def test_a_wrong_secret_is_rejected() -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    with pytest.raises(SignatureError, match="does not match"):
        verify({"X-SCALAR-Signature": signature(body, "someone-else")}, body)


def test_a_missing_signature_header_is_rejected() -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    with pytest.raises(SignatureError, match="no X-SCALAR-Signature or X-Webhook-Signature"):
        verify({"Content-Type": "application/json"}, body)


def test_no_secrets_or_only_blank_secrets_reject_everything() -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    with pytest.raises(SignatureError, match="no usable webhook secret"):
        verify({"X-SCALAR-Signature": signature(body)}, body, secrets=[])
    with pytest.raises(SignatureError, match="no usable webhook secret"):
        verify({"X-SCALAR-Signature": signature(body, "")}, body, secrets=["", ""])


def test_a_blank_secret_beside_a_real_one_matches_nothing() -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    with pytest.raises(SignatureError, match="does not match"):
        verify({"X-SCALAR-Signature": signature(body, "")}, body, secrets=["", SECRET])


def test_the_second_of_two_rotated_secrets_matches() -> None:
    body = fixture_bytes("scalar", "groupchat_message_treated")
    headers = {"X-SCALAR-Signature": signature(body)}
    verify(headers, body, secrets=[OTHER_SECRET, SECRET])
    with pytest.raises(SignatureError, match="does not match"):
        verify(headers, body, secrets=[OTHER_SECRET])


def test_a_signature_in_the_other_header_wins_over_a_stale_one() -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    headers = {
        "X-SCALAR-Signature": signature(body, OTHER_SECRET),
        "X-Webhook-Signature": signature(body),
    }
    verify(headers, body)


def test_a_non_ascii_body_is_signed_over_its_raw_bytes() -> None:
    body = fixture_bytes("scalar", "unknown_status")
    assert "Würzburg 🚚".encode() in body
    headers = {"X-SCALAR-Signature": signature(body)}
    verify(headers, body)
    # The same JSON re-encoded with escapes is a different byte string, hence not authentic.
    escaped = json.dumps(json.loads(body), indent=2).encode("ascii") + b"\n"
    assert escaped != body
    with pytest.raises(SignatureError, match="does not match"):
        verify(headers, escaped)


def test_a_tampered_body_is_rejected() -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    tampered = body.replace(b"dock 3", b"dock 9")
    assert tampered != body
    with pytest.raises(SignatureError, match="does not match"):
        verify({"X-SCALAR-Signature": signature(body)}, tampered)


def test_a_signature_naming_another_algorithm_is_rejected_as_such() -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    sha1 = hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    with pytest.raises(SignatureError, match="not sha256"):
        verify({"X-SCALAR-Signature": f"sha1={sha1}"}, body)


def test_another_algorithm_in_one_header_does_not_hide_a_good_signature_in_the_other() -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    headers = {"X-SCALAR-Signature": "sha512=00", "X-Webhook-Signature": signature(body)}
    verify(headers, body)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-SCALAR-Signature": ""}, "does not match"),
        ({"X-SCALAR-Signature": "   "}, "does not match"),
        ({"X-SCALAR-Signature": "sha256="}, "does not match"),
        ({"X-SCALAR-Signature": "sha256=ünïcödé"}, "does not match"),
        ({"X-SCALAR-Signature": "=="}, "not sha256"),
        ({"X-SCALAR-Signature": None}, "no X-SCALAR-Signature"),
        ({None: "sha256=00"}, "no X-SCALAR-Signature"),
    ],
)
def test_malformed_signature_headers_raise_only_signature_error(headers: Any, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify(headers, b"{}")


def test_a_body_that_is_not_bytes_raises_only_signature_error() -> None:
    with pytest.raises(SignatureError, match="not raw bytes"):
        verify({"X-SCALAR-Signature": signature(b"{}")}, "{}")  # type: ignore[arg-type]


def test_rejections_never_reveal_a_secret_or_a_digest() -> None:
    body = fixture_bytes("scalar", "chat_message_sent")
    presented = signature(body, OTHER_SECRET)
    expected = signature(body)
    for headers, secrets in [
        ({"X-SCALAR-Signature": presented}, [SECRET]),
        ({"X-SCALAR-Signature": presented}, [""]),
        ({"X-SCALAR-Signature": "md5=" + presented}, [SECRET]),
        ({}, [SECRET]),
    ]:
        with pytest.raises(SignatureError) as raised:
            verify(headers, body, secrets)
        reason = str(raised.value)
        for secret_or_digest in (SECRET, OTHER_SECRET, presented[7:], expected[7:]):
            assert secret_or_digest not in reason


# --- split -----------------------------------------------------------------------------------


def test_split_returns_each_entry_unchanged_with_the_batch_fields_as_its_envelope() -> None:
    document = fixture_json("scalar", "mixed_batch")
    original = copy.deepcopy(document["eventsData"])
    items = split(document)
    assert [item.event_name for item in items] == [
        "message.delivered",
        "vehicle.position.updated",
        "message.sent",
    ]
    assert [item.payload for item in items] == original
    assert all(item.envelope == BATCH_ENVELOPE for item in items)
    assert document["eventsData"] == original


def test_the_envelope_holds_only_the_batch_fields_that_were_sent() -> None:
    document = fixture_json("scalar", "chat_message_sent")
    del document["eventSubscriptionId"]
    document["eventBatchTime"] = None
    (item,) = split(document)
    assert item.envelope == {"eventBatchId": "b2fbc6d7-3023-5a04-b6cb-002939d34b86"}


def test_split_keeps_the_vendor_spelling_of_the_event_name() -> None:
    (item,) = split(fixture_json("scalar", "chat_messaging_message_sent"))
    assert item.event_name == "messaging.message.sent"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "batch is missing or not an object (got a list)"),
        ("eventsData", "batch is missing or not an object (got a string)"),
        (None, "batch is missing or not an object (got null)"),
        ({"eventBatchId": "b"}, "batch.eventsData is missing"),
        (
            {"eventBatchId": "b", "eventsData": {"eventType": "message.sent"}},
            "batch.eventsData is missing or not a list (got an object)",
        ),
    ],
)
def test_split_rejects_documents_that_are_not_batches(document: Any, reason: str) -> None:
    with pytest.raises(PayloadError, match=re.escape(reason)):
        split(document)


def test_split_of_an_empty_batch_returns_nothing() -> None:
    assert split({"eventBatchId": "b", "eventsData": []}) == []


def test_split_names_entries_without_an_event_type_invalid_but_keeps_them() -> None:
    entries = ["message.sent", {"eventVersion": 1}, {"eventType": ""}, {"eventType": 7}, None]
    items = split({"eventBatchId": "b", "eventsData": entries})
    assert [item.event_name for item in items] == ["invalid"] * 5
    assert [item.payload for item in items] == entries


# --- dedup keys ------------------------------------------------------------------------------


def test_a_message_event_is_keyed_by_type_message_update_time_and_status() -> None:
    (item,) = split(fixture_json("scalar", "chat_message_delivered"))
    assert item.dedup_key == f"message.delivered:{PICKUP}:2026-05-12T06:15:07Z:Delivered"


def test_a_redelivered_batch_gets_identical_dedup_keys() -> None:
    first = [item.dedup_key for item in split(fixture_json("scalar", "mixed_batch"))]
    again = [item.dedup_key for item in split(json.loads(fixture_bytes("scalar", "mixed_batch")))]
    assert first == again


def test_both_spellings_of_one_event_share_a_dedup_key() -> None:
    (short,) = split(fixture_json("scalar", "chat_message_sent"))
    (long,) = split(fixture_json("scalar", "chat_messaging_message_sent"))
    assert (
        short.dedup_key == long.dedup_key == f"message.sent:{PICKUP}:2026-05-12T06:14:51Z:Pending"
    )


def test_different_events_get_different_dedup_keys() -> None:
    names = [name for name in FIXTURES if name != "chat_messaging_message_sent"]
    keys = [item.dedup_key for name in names for item in split(fixture_json("scalar", name))]
    assert len(keys) == len(set(keys)) == 13


def test_a_non_message_entry_is_keyed_by_a_hash_of_the_entry() -> None:
    position = fixture_json("scalar", "mixed_batch")["eventsData"][1]
    (key,) = [item.dedup_key for item in split({"eventsData": [position]})]
    assert re.fullmatch(r"item:[0-9a-f]{64}", key)
    reordered = dict(reversed(list(position.items())))
    assert split({"eventsData": [reordered]})[0].dedup_key == key
    moved = copy.deepcopy(position)
    moved["eventData"]["latitude"] = 51.5
    assert split({"eventsData": [moved]})[0].dedup_key != key


def _entry_without_key_field(field: str) -> dict[str, Any]:
    entry = first_entry("chat_message_sent")
    data = entry["eventData"]
    target = data if field == "messageId" else data["statusHistory"]
    target[field] = 42 if field == "messageId" else None
    return entry


@pytest.mark.parametrize(
    "entry",
    [
        fixture_json("scalar", "mixed_batch")["eventsData"][2],
        _entry_without_key_field("messageId"),
        _entry_without_key_field("lastUpdatedAt"),
        _entry_without_key_field("currentStatus"),
        {"eventType": "message.sent", "eventData": {"messageId": "m", "statusHistory": "Pending"}},
    ],
    ids=[
        "no-eventData",
        "integer-messageId",
        "no-lastUpdatedAt",
        "no-currentStatus",
        "bad-history",
    ],
)
def test_a_message_entry_without_its_key_fields_is_keyed_by_hash(entry: Any) -> None:
    (item,) = split({"eventsData": [entry]})
    assert item.event_name == "message.sent"
    assert item.dedup_key == split({"eventsData": [copy.deepcopy(entry)]})[0].dedup_key
    assert re.fullmatch(r"item:[0-9a-f]{64}", item.dedup_key)


def test_an_invalid_entry_gets_a_stable_hash_key() -> None:
    document = {"eventsData": ["message.sent"]}
    (item,) = split(document)
    assert re.fullmatch(r"item:[0-9a-f]{64}", item.dedup_key)
    assert split(copy.deepcopy(document))[0].dedup_key == item.dedup_key


def test_an_overlong_message_key_stays_natural_for_the_way_in_to_clamp() -> None:
    entry = first_entry("chat_message_sent")
    entry["eventData"]["messageId"] = "m" * 300
    (item,) = split({"eventsData": [entry]})
    assert item.dedup_key == f"message.sent:{'m' * 300}:2026-05-12T06:14:51Z:Pending"


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
        statuses=(sent(PICKUP, "06:14:51"),),
    )


def test_the_messaging_prefixed_event_parses_like_the_short_name() -> None:
    assert events_of("chat_messaging_message_sent") == events_of("chat_message_sent")


def test_parsing_needs_nothing_from_the_envelope() -> None:
    document = fixture_json("scalar", "groupchat_message_treated")
    assert parse_document("scalar", document) == events_of("groupchat_message_treated")
    entry = first_entry("groupchat_message_treated")
    assert connector.parse(
        event_name="message.treated", payload=entry, envelope={}, context=CONTEXT
    ) == events_of("groupchat_message_treated")


def test_a_chat_message_delivered_carries_the_whole_message_so_a_lost_sent_is_repaired() -> None:
    message = only_message("chat_message_delivered")
    first = only_message("chat_message_sent")
    assert (message.conversation, message.message_id, message.sender) == (
        first.conversation,
        first.message_id,
        first.sender,
    )
    assert message.direction is Direction.OUT
    assert message.text == PICKUP_TEXT
    # registeredOn moved to the delivery time; the send time stays the Pending step's, and the
    # stored content is the same as the first event's.
    assert message.content == first.content
    assert message.sent_at == at("06:14:51")
    assert message.statuses == (sent(PICKUP, "06:14:51"), delivered(PICKUP, "06:15:07"))


def test_a_chat_message_seen_maps_seen_to_read() -> None:
    message = only_message("chat_message_seen")
    assert message.statuses == (
        sent(PICKUP, "06:14:51"),
        delivered(PICKUP, "06:15:07"),
        StatusObserved(PICKUP, step=Step.READ, at=at("06:21:40")),
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
    assert message.statuses == (sent(DETOUR, "07:02:18"),)


def test_a_groupchat_message_delivered_lists_members_from_the_status_history() -> None:
    message = only_message("groupchat_message_delivered")
    assert message.conversation.external_id == GROUP
    assert message.conversation.participants == (USER,)
    assert message.recipients == GROUP_MEMBERS
    assert message.statuses == (
        sent(DETOUR, "07:02:18"),
        delivered(DETOUR, "07:02:25", DRIVER_2),
        delivered(DETOUR, "07:02:31", DRIVER_3),
        delivered(DETOUR, "07:02:33", COLLEAGUE),
        delivered(DETOUR, "07:02:33"),
    )


def test_a_groupchat_driver_seen_is_a_per_participant_flag() -> None:
    message = only_message("groupchat_message_driver_seen")
    assert message.recipients == GROUP_MEMBERS
    # The flag is the driver's own; a current status that is a flag is not repeated for everyone.
    assert message.statuses[-1] == flag(DETOUR, "DriverSeen", "07:09:02", DRIVER_2)
    assert [s for s in message.statuses if s.flag == "DriverSeen"] == [message.statuses[-1]]
    assert len(message.statuses) == 5


def test_a_groupchat_treated_keeps_the_whole_history() -> None:
    message = only_message("groupchat_message_treated")
    assert message.text == DETOUR_TEXT
    assert message.recipients == GROUP_MEMBERS
    assert [(s.step, s.flag, s.participant) for s in message.statuses] == [
        (Step.SENT, "", ""),
        (Step.DELIVERED, "", DRIVER_2),
        (Step.DELIVERED, "", DRIVER_3),
        (Step.DELIVERED, "", COLLEAGUE),
        (None, "DriverSeen", DRIVER_2),
        (None, "Treated", DRIVER_2),
    ]
    assert message.statuses[-1].at == at("07:16:45")


def test_a_recalled_message_ends_with_the_recalled_step() -> None:
    message = only_message("chat_message_recalled")
    assert message.message_id == RECALLED
    assert message.text == "Unload at gate 7 instead of gate 2."
    assert message.sent_at == at("08:38:54")
    assert message.statuses == (
        sent(RECALLED, "08:38:54"),
        delivered(RECALLED, "08:38:58"),
        StatusObserved(RECALLED, step=Step.RECALLED, at=at("08:40:11")),
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
        statuses=(sent(PHOTO, "06:33:19"),),
    )


def test_a_file_without_caption_is_a_file_message_with_empty_text() -> None:
    entry = first_entry("chat_image_reply")
    entry["eventData"].update(contentType="file", content=None)
    (message,) = parse_entry(entry)
    assert message.content_kind is ContentKind.FILE
    assert message.text == ""
    assert message.attachments == ()


@pytest.mark.parametrize("content_type", ["location", None])
def test_an_unknown_content_type_is_unsupported(content_type: str | None) -> None:
    entry = first_entry("chat_message_sent")
    entry["eventData"]["contentType"] = content_type
    (message,) = parse_entry(entry)
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
        sent(BREAKDOWN, "10:01:12"),
        delivered(BREAKDOWN, "10:01:14"),
        flag(BREAKDOWN, "Escalated", "10:05:43", COLLEAGUE),
    )


def test_the_sender_id_setting_decides_the_direction() -> None:
    ours = ChannelContext(platform="scalar", settings={"sender_id": DRIVER})
    assert only_message("chat_image_reply", ours).direction is Direction.OUT
    assert only_message("chat_message_sent", ours).direction is Direction.IN


def test_without_a_sender_id_setting_a_sender_without_role_is_inbound() -> None:
    entry = first_entry("chat_message_sent")
    del entry["eventData"]["sender"]["roleType"]
    (message,) = parse_entry(entry)
    assert message.direction is Direction.IN
    assert message.sender == Party(DISPATCHER)


def test_sent_at_falls_back_to_registered_on_without_a_pending_step() -> None:
    entry = first_entry("chat_message_delivered")
    entry["eventData"]["statusHistory"]["events"] = []
    (message,) = parse_entry(entry, "message.delivered")
    assert message.sent_at == at("06:15:07")
    assert message.statuses == (delivered(PICKUP, "06:15:07"),)


def test_a_pending_step_without_a_timestamp_leaves_sent_at_to_registered_on() -> None:
    entry = first_entry("chat_message_delivered")
    del entry["eventData"]["statusHistory"]["events"][0]["timestamp"]
    (message,) = parse_entry(entry, "message.delivered")
    assert message.sent_at == at("06:15:07")
    assert message.statuses[0] == StatusObserved(PICKUP, step=Step.SENT)


def test_a_history_without_events_yields_only_the_current_status() -> None:
    entry = first_entry("groupchat_message_delivered")
    del entry["eventData"]["statusHistory"]["events"]
    (message,) = parse_entry(entry, "message.delivered")
    assert message.recipients == ()
    assert message.statuses == (delivered(DETOUR, "07:02:33"),)


def test_a_group_sender_named_in_the_history_is_not_its_own_recipient() -> None:
    entry = first_entry("groupchat_message_delivered")
    events = entry["eventData"]["statusHistory"]["events"]
    events[1]["participant"] = {"participantId": DISPATCHER, "roleType": "User"}
    (message,) = parse_entry(entry, "message.delivered")
    assert message.recipients == GROUP_MEMBERS[1:]


def test_parsed_events_hold_hashable_refs_and_json_content() -> None:
    for name in FIXTURES:
        if name == "mixed_batch":  # holds a malformed entry; covered below
            continue
        for message in events_of(name):
            assert hash((message.conversation, message.recipients, message.statuses))
            assert json.loads(json.dumps(message.content)) == message.content
            assert message.sent_at is not None
            assert message.sent_at.tzinfo is UTC


# --- other event groups and malformed entries ----------------------------------------------


def test_a_mixed_batch_parses_messages_ignores_other_groups_and_rejects_malformed_items() -> None:
    message, position, malformed = split(fixture_json("scalar", "mixed_batch"))

    def parse_item(item: Any) -> list[Any]:
        return connector.parse(
            event_name=item.event_name,
            payload=item.payload,
            envelope=item.envelope,
            context=CONTEXT,
        )

    (upserted,) = parse_item(message)
    assert upserted.message_id == PHOTO
    assert upserted.statuses[-1] == delivered(PHOTO, "06:33:30")
    assert parse_item(position) == []
    with pytest.raises(PayloadError, match=re.escape("event.eventData is missing")):
        parse_item(malformed)


@pytest.mark.parametrize("event_name", ["messaging.conversation.created", "message", "driver"])
def test_events_outside_the_message_group_are_ignored(event_name: str) -> None:
    entry = {"eventType": event_name, "eventVersion": 1, "eventData": {}}
    assert parse_entry(entry, event_name) == []


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("message.sent", "event is missing or not an object (got a string)"),
        ({"eventVersion": 1}, "event.eventType is missing"),
        ({"eventType": None}, "event.eventType is missing"),
        ({"eventType": 7}, "event.eventType is missing or not a string (got int)"),
        ({"eventType": ""}, "event.eventType is empty"),
    ],
)
def test_an_invalid_item_from_split_fails_at_parse_naming_the_path(entry: Any, reason: str) -> None:
    (item,) = split({"eventsData": [entry]})
    assert item.event_name == "invalid"
    with pytest.raises(PayloadError, match=re.escape(reason)):
        connector.parse(
            event_name=item.event_name,
            payload=item.payload,
            envelope=item.envelope,
            context=CONTEXT,
        )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (None, "event is missing or not an object (got null)"),
        ([], "event is missing or not an object (got a list)"),
        ("message.sent", "event is missing or not an object (got a string)"),
        ({"eventBatchId": "b"}, "event.eventType is missing"),
    ],
)
def test_a_payload_that_is_not_an_entry_raises_payload_error(payload: Any, reason: str) -> None:
    with pytest.raises(PayloadError, match=re.escape(reason)):
        parse_entry(payload)


def _without(*path: str | int) -> dict[str, Any]:
    entry = first_entry("groupchat_message_delivered")
    *parents, last = path
    target: Any = entry
    for key in parents:
        target = target[key]
    del target[last]
    return entry


def _with(value: Any, *path: str | int) -> dict[str, Any]:
    entry = first_entry("groupchat_message_delivered")
    *parents, last = path
    target: Any = entry
    for key in parents:
        target = target[key]
    target[last] = value
    return entry


OVERFLOW = "9999-12-31T23:59:59-01:00"  # a valid ISO time, but past year 9999 once in UTC


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (_without("eventData"), "event.eventData is missing"),
        (_with(["a", "list"], "eventData"), "event.eventData is missing or not an object"),
        (_without("eventData", "messageId"), "event.eventData.messageId is missing"),
        (_with(42, "eventData", "messageId"), "event.eventData.messageId is missing or not a"),
        (_without("eventData", "conversationId"), "event.eventData.conversationId is missing"),
        (_without("eventData", "statusHistory"), f"{HISTORY} is missing"),
        (_with("Delivered", "eventData", "statusHistory"), f"{HISTORY} is missing or not an"),
        (_without("eventData", "sender"), "event.eventData.sender is missing"),
        (_with([], "eventData", "sender"), "event.eventData.sender is not an object"),
        (_without("eventData", "sender", "senderId"), "event.eventData.sender.senderId is missing"),
        (_with(3, "eventData", "sender", "roleType"), "event.eventData.sender.roleType is"),
        (_without("eventData", "conversationType"), "event.eventData.conversationType is missing"),
        (
            _with("broadcast", "eventData", "conversationType"),
            "event.eventData.conversationType is neither chat nor groupchat: 'broadcast'",
        ),
        (_with(8, "eventData", "content"), "event.eventData.content is missing or not a string"),
        (_with(5, "eventData", "contentType"), "event.eventData.contentType is missing or not a"),
        (_with(5, "eventData", "replyToMessageId"), "event.eventData.replyToMessageId is"),
        (_with({}, "eventData", "statusHistory", "events"), f"{HISTORY}.events is missing or not"),
        (
            _with("Pending", "eventData", "statusHistory", "events", 0),
            f"{HISTORY}.events[0] is missing or not an object (got a string)",
        ),
        (
            _with(None, "eventData", "statusHistory", "events", 0, "status"),
            f"{HISTORY}.events[0].status is missing",
        ),
        (
            _with("x", "eventData", "statusHistory", "events", 1, "participant"),
            f"{HISTORY}.events[1].participant is missing or not an object",
        ),
        (
            _without("eventData", "statusHistory", "events", 1, "participant", "participantId"),
            f"{HISTORY}.events[1].participant.participantId is missing",
        ),
        (
            _with("soon", "eventData", "statusHistory", "events", 1, "timestamp"),
            f"{HISTORY}.events[1].timestamp is not a timestamp: 'soon'",
        ),
        (
            _with(5, "eventData", "statusHistory", "currentStatus"),
            f"{HISTORY}.currentStatus is missing or not a string",
        ),
        (
            _with("yesterday", "eventData", "statusHistory", "lastUpdatedAt"),
            f"{HISTORY}.lastUpdatedAt is not a timestamp",
        ),
        (
            _with(1778569338, "eventData", "registeredOn"),
            "event.eventData.registeredOn is not a timestamp",
        ),
    ],
)
def test_an_incomplete_message_raises_payload_error_naming_the_path(
    entry: dict[str, Any], reason: str
) -> None:
    with pytest.raises(PayloadError, match=re.escape(reason)):
        parse_entry(entry, "message.delivered")


@pytest.mark.parametrize(
    ("path", "named"),
    [
        (("eventData", "registeredOn"), "event.eventData.registeredOn"),
        (
            ("eventData", "statusHistory", "events", 0, "timestamp"),
            f"{HISTORY}.events[0].timestamp",
        ),
        (("eventData", "statusHistory", "lastUpdatedAt"), f"{HISTORY}.lastUpdatedAt"),
    ],
)
def test_a_timestamp_beyond_year_9999_in_utc_raises_payload_error_naming_the_path(
    path: tuple[str | int, ...], named: str
) -> None:
    with pytest.raises(PayloadError, match=re.escape(f"{named} is not a timestamp")):
        parse_entry(_with(OVERFLOW, *path), "message.delivered")


def test_a_chat_message_without_recipient_raises_payload_error() -> None:
    entry = first_entry("chat_message_sent")
    del entry["eventData"]["recipientId"]
    with pytest.raises(PayloadError, match=re.escape("event.eventData.recipientId is missing")):
        parse_entry(entry)
