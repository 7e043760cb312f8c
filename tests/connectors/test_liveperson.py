"""LivePerson Connector API webhooks: signatures, splitting, dedup keys and parsing."""

from __future__ import annotations

import ast
import base64
import copy
import hashlib
import hmac
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import inbox.connectors.liveperson as package
from inbox.choices import (
    Audience,
    ContentKind,
    ConversationKind,
    ConversationStatus,
    Direction,
    Platform,
    Step,
)
from inbox.connectors import liveperson as connector
from inbox.connectors.contract import (
    ChannelContext,
    Headers,
    Item,
    PayloadError,
    SignatureError,
)
from inbox.connectors.events import (
    AttachmentInfo,
    Choice,
    ConversationChanged,
    ConversationRef,
    Event,
    MessageUpserted,
    Party,
    StatusChanged,
    StatusObserved,
    Typing,
)
from inbox.connectors.liveperson import liveperson_message_id
from inbox.connectors.registry import get_connector
from tests.helpers import fixture_bytes, fixture_json

PLATFORM = "liveperson"
CONTEXT = ChannelContext(platform=PLATFORM, settings={})
SECRET = "q7Rk2vNw9xLp4mZs8tBc3hJd"
SIGNATURE = "X-LivePerson-Signature"

CONV = "7c1e4b52-93a0-4d2f-b8e6-1f0a5c2d9e31"
SURVEY_DIALOG = "5a2f9c6e-d813-4b07-a4e1-08c7b3d6f952"
CONSUMER = "9d4b7e21c0f35a8e6b12d97c4f0a3e58b6d2c19f7a4e0b83d5c6f21e9a07b4d3"
AGENT = "3f9a2c17-6b4e-5d81-9e0c-a2b7d4f6c813"
BOT = "c41e8d27-0f6b-5a93-b2d8-7e15a9c4f306"
MANAGER = "8e0d4b16-2c7a-5f39-9b64-d1a3e7c05f28"
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
    "content_quick_replies",
    "content_post_survey_question",
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
    "cqm_post_survey",
    "cqm_participants_role_map",
    "unknown_event_type",
    "unknown_notification_type",
]


def utc(
    year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def parse_item(item: Item) -> list[Event]:
    """Round-trip the item through JSON (as storage does) and parse it."""
    stored = json.loads(json.dumps({"payload": item.payload, "envelope": item.envelope}))
    return connector.parse(
        event_name=item.event_name,
        payload=stored["payload"],
        envelope=stored["envelope"],
        context=CONTEXT,
    )


def split(document: Any) -> list[Item]:
    return connector.split(document=document)


def parse_document(document: Any) -> list[Event]:
    return [event for item in split(document) for event in parse_item(item)]


def events_of(name: str) -> list[Event]:
    return parse_document(fixture_json(PLATFORM, name))


def only_event(name: str) -> Event:
    events = events_of(name)
    assert len(events) == 1
    return events[0]


def first_change(name: str) -> dict[str, Any]:
    change: dict[str, Any] = fixture_json(PLATFORM, name)["body"]["changes"][0]
    return change


def with_changes(name: str, *changes: Any) -> dict[str, Any]:
    """The notification of fixture ``name`` holding ``changes`` instead of its own."""
    document: dict[str, Any] = fixture_json(PLATFORM, name)
    document["body"]["changes"] = list(changes)
    return document


def edited(name: str, edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """The notification of fixture ``name`` with ``edit`` applied to its first change."""
    change = first_change(name)
    edit(change)
    return with_changes(name, change)


def only_message(document: Any) -> MessageUpserted:
    (event,) = parse_document(document)
    assert isinstance(event, MessageUpserted)
    return event


def receipts_of(document: Any) -> list[StatusChanged]:
    events = parse_document(document)
    assert all(isinstance(event, StatusChanged) for event in events)
    return [event for event in events if isinstance(event, StatusChanged)]


def only_conversation(document: Any) -> ConversationChanged:
    (event,) = parse_document(document)
    assert isinstance(event, ConversationChanged)
    return event


def details_of(change: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = change["result"]["conversationDetails"]
    return details


def with_participants(listed: Any) -> dict[str, Any]:
    return edited("cqm_created", lambda change: details_of(change).update(participants=listed))


# --- the connector ---------------------------------------------------------------------------


def test_connector_is_registered_for_liveperson() -> None:
    assert connector.platform is Platform.LIVEPERSON
    assert get_connector("liveperson") is connector


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # Level 1 is the package itself; each further level goes one package up.
            base = package.__name__.split(".")[: -node.level + 1 or None] if node.level else []
            modules.add(".".join([*base, node.module or ""]).strip("."))
    return modules


def test_package_imports_neither_django_nor_the_old_shared_base() -> None:
    files = sorted(Path(package.__file__).parent.glob("*.py"))
    imported = set().union(*(_imported_modules(path) for path in files))
    assert "inbox.connectors.contract" in imported  # the resolution of relative imports works
    assert not {name for name in imported if name.split(".")[0] == "django"}
    assert "inbox.connectors.base" not in imported


def test_message_id_joins_the_dialog_and_the_sequence() -> None:
    assert liveperson_message_id(CONV, 12) == f"{CONV}:12"


# --- signatures ------------------------------------------------------------------------------

DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}


def lp_signature(body: bytes, secret: str, algorithm: str = "sha1") -> str:
    """The header LivePerson documents: ``<alg>=`` + base64 of the HMAC of the raw body."""
    digest = hmac.new(secret.encode("utf-8"), body, DIGESTS[algorithm]).digest()
    return f"{algorithm}={base64.b64encode(digest).decode('ascii')}"


def verify(headers: dict[str, str], body: bytes, secrets: list[str]) -> None:
    connector.verify(headers=Headers(headers), body=body, secrets=secrets, settings={})


def rejection(headers: dict[str, str], body: bytes, secrets: list[str]) -> str:
    with pytest.raises(SignatureError) as excinfo:
        verify(headers, body, secrets)
    return str(excinfo.value)


@pytest.mark.parametrize("index", [0, 1])
def test_published_test_vectors_verify(index: int) -> None:
    facts = fixture_json(PLATFORM, "signature_vectors")
    vector = facts["vectors"][index]
    body = vector["body"].encode("utf-8")
    assert lp_signature(body, facts["client_secret"]) == vector["signature"]
    verify({SIGNATURE: vector["signature"]}, body, [facts["client_secret"]])


@pytest.mark.parametrize("index", [0, 1])
def test_sign_reproduces_published_vectors_with_account_and_client_headers(index: int) -> None:
    facts = fixture_json(PLATFORM, "signature_vectors")
    vector = facts["vectors"][index]
    settings = {"account_id": facts["account_id"], "client_id": facts["client_id"]}
    body = vector["body"].encode("utf-8")
    headers = connector.sign(body=body, secret=facts["client_secret"], settings=settings)
    assert headers == {
        SIGNATURE: vector["signature"],
        "X-LivePerson-Account-Id": "42257269",
        "X-LivePerson-Client-Id": "81fad476-88af-4d08-bc0e-20bc69439ed4",
    }


def test_sign_without_ids_sends_only_the_sha1_signature() -> None:
    assert connector.sign(body=b"{}", secret=SECRET, settings={}) == {
        SIGNATURE: lp_signature(b"{}", SECRET)
    }


def test_sign_uses_hmac_sha256_when_the_channel_says_so() -> None:
    body = fixture_bytes(PLATFORM, "cqm_created")
    headers = connector.sign(body=body, secret=SECRET, settings={"signature_algorithm": "SHA256"})
    assert headers == {SIGNATURE: lp_signature(body, SECRET, "sha256")}


def test_sign_refuses_an_unknown_algorithm() -> None:
    with pytest.raises(ValueError, match="md5"):
        connector.sign(body=b"{}", secret=SECRET, settings={"signature_algorithm": "md5"})


def test_valid_signature_over_a_fixture_is_accepted() -> None:
    body = fixture_bytes(PLATFORM, "mixed_batch")
    verify({SIGNATURE: lp_signature(body, SECRET)}, body, [SECRET])


def test_sha256_signature_is_accepted() -> None:
    body = fixture_bytes(PLATFORM, "cqm_created")
    verify({SIGNATURE: lp_signature(body, SECRET, "sha256")}, body, [SECRET])


def test_algorithm_prefix_is_read_in_any_case() -> None:
    body = fixture_bytes(PLATFORM, "cqm_created")
    presented = lp_signature(body, SECRET).replace("sha1=", "SHA1=", 1)
    verify({SIGNATURE: presented}, body, [SECRET])


def test_wrong_secret_is_rejected() -> None:
    body = fixture_bytes(PLATFORM, "content_text_from_agent")
    headers = {SIGNATURE: lp_signature(body, "not-the-channel-secret")}
    assert "does not match" in rejection(headers, body, [SECRET])


def test_tampered_body_is_rejected() -> None:
    body = fixture_bytes(PLATFORM, "content_text_from_agent")
    headers = {SIGNATURE: lp_signature(body, SECRET)}
    tampered = body.replace(b"Guten Morgen", b"Guten Abend")
    assert "does not match" in rejection(headers, tampered, [SECRET])


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_or_blank_signature_header_is_rejected(value: str | None) -> None:
    body = fixture_bytes(PLATFORM, "content_text_from_agent")
    headers = {"X-LivePerson-Account-Id": "73820514"}
    if value is not None:
        headers[SIGNATURE] = value
    assert f"{SIGNATURE} header is missing" in rejection(headers, body, [SECRET])


def test_no_configured_secret_rejects_everything() -> None:
    body = fixture_bytes(PLATFORM, "content_text_from_agent")
    assert "no usable webhook secret" in rejection(
        {SIGNATURE: lp_signature(body, SECRET)}, body, []
    )
    # An empty secret must not let an attacker sign with an empty HMAC key.
    assert "no usable webhook secret" in rejection({SIGNATURE: lp_signature(body, "")}, body, [""])


def test_rotated_secrets_accept_a_signature_made_with_the_second() -> None:
    body = fixture_bytes(PLATFORM, "cqm_agent_joined")
    headers = {SIGNATURE: lp_signature(body, "new-secret-2026")}
    verify(headers, body, ["old-secret-2025", "new-secret-2026"])
    verify(headers, body, ["", "new-secret-2026"])
    with pytest.raises(SignatureError):
        verify(headers, body, ["old-secret-2025"])


def test_every_secret_is_compared_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[bytes] = []
    real_compare = hmac.compare_digest

    def counting_compare(presented: bytes, expected: bytes) -> bool:
        compared.append(expected)
        return real_compare(presented, expected)

    monkeypatch.setattr(hmac, "compare_digest", counting_compare)
    body = fixture_bytes(PLATFORM, "cqm_agent_joined")
    verify({SIGNATURE: lp_signature(body, "first")}, body, ["first", "second", "third"])
    assert len(compared) == 3


def test_signature_is_checked_with_the_algorithm_its_prefix_names() -> None:
    body = fixture_bytes(PLATFORM, "cqm_created")
    sha1_digest = lp_signature(body, SECRET).removeprefix("sha1=")
    assert "does not match" in rejection({SIGNATURE: f"sha256={sha1_digest}"}, body, [SECRET])


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("md5=e/TfS0wv1HbvEsMqcBMmFLcMslI=", "no known algorithm"),
        ("e/TfS0wv1HbvEsMqcBMmFLcMslI=", "no known algorithm"),
        ("=e/TfS0wv1HbvEsMqcBMmFLcMslI=", "no known algorithm"),
        ("sha1", "has no digest"),
        ("sha1=", "has no digest"),
        ("sha1=@@", "does not match"),
        ("sha1=Grüße😕", "does not match"),
    ],
)
def test_unknown_prefix_or_garbled_signature_is_rejected_with_its_reason(
    value: str, reason: str
) -> None:
    facts = fixture_json(PLATFORM, "signature_vectors")
    body = facts["vectors"][0]["body"].encode("utf-8")
    assert reason in rejection({SIGNATURE: value}, body, [facts["client_secret"]])


def test_rejections_never_quote_a_secret_or_a_digest() -> None:
    body = fixture_bytes(PLATFORM, "content_text_from_agent")
    presented = lp_signature(body, "attacker-guess")
    expected = lp_signature(body, SECRET)
    cases = [
        {SIGNATURE: presented},
        {SIGNATURE: presented.replace("sha1=", "md5=")},
        {SIGNATURE: presented.removeprefix("sha1=")},
    ]
    for headers in cases:
        message = rejection(headers, body, [SECRET])
        for secret_or_digest in (SECRET, presented, expected):
            assert secret_or_digest.split("=", 1)[-1] not in message


def test_non_ascii_body_is_signed_over_its_raw_bytes() -> None:
    body = fixture_bytes(PLATFORM, "content_text_from_consumer")
    assert "Grüße".encode() in body
    assert "😕".encode() in body
    headers = {SIGNATURE: lp_signature(body, SECRET)}
    verify(headers, body, [SECRET])
    reserialised = json.dumps(json.loads(body)).encode("utf-8")  # \u escapes the text
    with pytest.raises(SignatureError):
        verify(headers, reserialised, [SECRET])


def test_signature_header_is_found_in_any_case() -> None:
    body = fixture_bytes(PLATFORM, "chat_state_pause")
    verify({"x-liveperson-signature": lp_signature(body, SECRET)}, body, [SECRET])


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
    assert [item.event_name for item in split(fixture_json(PLATFORM, name))] == [event_name]


@pytest.mark.parametrize("event", [None, "ContentEvent", {"type": 7}, {"message": "hi"}])
def test_messaging_change_without_a_readable_event_type_is_named_by_its_notification(
    event: Any,
) -> None:
    (item,) = split(edited("content_text_from_agent", lambda change: change.update(event=event)))
    assert item.event_name == MS


def test_each_change_is_one_item_holding_the_change_as_sent() -> None:
    document = fixture_json(PLATFORM, "mixed_batch")
    items = split(document)
    assert [item.event_name for item in items] == [
        f"{MS}.ContentEvent",
        f"{MS}.AcceptStatusEvent",
        f"{MS}.ChatStateEvent",
    ]
    for item, change in zip(items, document["body"]["changes"], strict=True):
        assert item.payload == change
        assert item.envelope == {
            "kind": "notification",
            "body": {
                "subscriptionId": "e41f7a90-3c2b-4d85-a6e7-5b09c8d1f234",
                "sentTs": 1773307362412,
            },
            "type": MS,
        }


def test_split_leaves_the_original_document_untouched() -> None:
    document = fixture_json(PLATFORM, "mixed_batch")
    before = copy.deepcopy(document)
    split(document)
    assert document == before


def test_notification_without_changes_is_one_item_of_its_envelope() -> None:
    document = {
        "kind": "notification",
        "body": {"changes": [], "sentTs": 1773307000000},
        "type": MS,
    }
    (item,) = split(document)
    assert item.event_name == MS
    assert item.payload == []
    assert item.envelope == {"kind": "notification", "body": {"sentTs": 1773307000000}, "type": MS}
    assert item.dedup_key.startswith("hash:")
    assert item.dedup_key == split(copy.deepcopy(document))[0].dedup_key
    assert parse_item(item) == []


@pytest.mark.parametrize("change", ["text", 7, None, [], ["nested"]])
def test_change_that_is_not_an_object_is_stored_as_invalid_and_fails_when_parsed(
    change: Any,
) -> None:
    (item,) = split(with_changes("content_text_from_agent", change))
    assert item.event_name == "invalid"
    assert item.payload == change
    assert item.dedup_key.startswith("hash:")
    with pytest.raises(PayloadError, match=r"^change is missing or not an object"):
        parse_item(item)


def test_one_bad_change_in_a_batch_fails_alone() -> None:
    good = first_change("content_text_from_agent")
    huge_sequence = {**good, "sequence": 10**30}
    document = with_changes("content_text_from_agent", good, "garbage", huge_sequence)
    items = split(document)
    assert [item.event_name for item in items] == [
        f"{MS}.ContentEvent",
        "invalid",
        f"{MS}.ContentEvent",
    ]
    (message,) = parse_item(items[0])
    assert isinstance(message, MessageUpserted)
    assert message.message_id == f"{CONV}:4"
    for bad in items[1:]:
        with pytest.raises(PayloadError):
            parse_item(bad)


def test_malformed_change_of_an_unused_notification_type_is_ignored() -> None:
    (item,) = split(with_changes("unknown_notification_type", "garbage"))
    assert item.event_name == "invalid"
    assert parse_item(item) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "notification is missing or not an object"),
        ("notification", "notification is missing or not an object"),
        (None, "notification is missing or not an object"),
        ({"kind": "notification", "type": MS}, "notification.body is missing"),
        ({"kind": "notification", "body": [], "type": MS}, "notification.body is missing or not"),
        ({"kind": "notification", "body": {}, "type": MS}, "notification.body.changes is missing"),
        (
            {"kind": "notification", "body": {"changes": {"sequence": 1}}, "type": MS},
            "notification.body.changes is missing or not a list",
        ),
        ({"kind": "notification", "body": {"changes": []}}, "notification.type is missing"),
        ({"body": {"changes": []}, "type": ""}, "notification.type is empty"),
    ],
)
def test_documents_of_a_foreign_shape_raise_payload_error(document: Any, message: str) -> None:
    with pytest.raises(PayloadError, match=f"^{message}"):
        split(document)


@pytest.mark.parametrize(
    ("envelope", "message"),
    [
        ({}, "notification.type is missing"),
        ({"type": 7}, "notification.type is missing or not a string"),
        ([], "notification is missing or not an object"),
    ],
)
def test_item_with_a_broken_envelope_raises_payload_error(envelope: Any, message: str) -> None:
    with pytest.raises(PayloadError, match=f"^{message}"):
        connector.parse(
            event_name=f"{MS}.ContentEvent",
            payload=first_change("content_text_from_agent"),
            envelope=envelope,
            context=CONTEXT,
        )


# --- dedup keys ------------------------------------------------------------------------------


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
        ("content_post_survey_question", [f"ms:{SURVEY_DIALOG}:0:ContentEvent"]),
        ("cqm_created", [f"cqm:{CONV}:UPSERT:1773306845210"]),
        ("cqm_closed_by_consumer", [f"cqm:{CONV}:UPSERT:1773307458936"]),
        ("cqm_deleted", [f"cqm:{CONV}:DELETE:1773393859001"]),
    ],
)
def test_dedup_keys_name_the_platform_event(name: str, keys: list[str]) -> None:
    assert [item.dedup_key for item in split(fixture_json(PLATFORM, name))] == keys


def test_sequence_sent_as_digits_gives_the_same_key() -> None:
    (item,) = split(edited("content_text_from_agent", lambda change: change.update(sequence="4")))
    assert item.dedup_key == f"ms:{CONV}:4:ContentEvent"


def test_long_identifiers_keep_their_natural_key() -> None:
    # The way in fits over-long keys into the column; the connector never shortens them.
    long_id = "d" * 300

    def lengthen(change: dict[str, Any]) -> None:
        change["dialogId"] = change["conversationId"] = long_id

    (item,) = split(edited("content_text_from_agent", lengthen))
    assert item.dedup_key == f"ms:{long_id}:4:ContentEvent"


def test_chat_state_is_keyed_by_a_hash_of_the_change() -> None:
    change = first_change("chat_state_pause")
    change["serverTimestamp"] = 1773310000000
    (item,) = split(with_changes("chat_state_pause", change))
    assert item.dedup_key == f"ms:{CONV}:chat:{hashlib.sha256(canonical(change)).hexdigest()}"


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_identical_chat_states_without_a_server_time_share_one_key() -> None:
    change = first_change("chat_state_pause")
    assert "serverTimestamp" not in change
    keys = {item.dedup_key for item in split(with_changes("chat_state_pause", *[change] * 50))}
    assert keys == {f"ms:{CONV}:chat:{hashlib.sha256(canonical(change)).hexdigest()}"}


def test_different_chat_states_of_one_dialog_get_different_keys() -> None:
    composing = first_change("chat_state_composing")
    paused = copy.deepcopy(composing)
    paused["event"]["chatState"] = "PAUSE"
    keys = {
        item.dedup_key for item in split(with_changes("chat_state_composing", composing, paused))
    }
    assert len(keys) == 2


def test_unknown_event_without_a_sequence_is_keyed_by_a_hash_of_the_change() -> None:
    change = first_change("unknown_event_type")
    del change["sequence"]
    (item,) = split(with_changes("unknown_event_type", change))
    expected = canonical({"type": MS, "data": change})
    assert item.dedup_key == f"hash:{hashlib.sha256(expected).hexdigest()}"


@pytest.mark.parametrize("sequence", [10**30, "later", -1, 2.5, True])
def test_change_with_an_unusable_sequence_is_keyed_by_a_hash(sequence: Any) -> None:
    (item,) = split(
        edited("content_text_from_agent", lambda change: change.update(sequence=sequence))
    )
    assert item.dedup_key.startswith("hash:")


@pytest.mark.parametrize(
    "edit",
    [
        lambda change: details_of(change).pop("metaDataLastUpdateTs"),
        lambda change: details_of(change).update(metaDataLastUpdateTs=1.5),
        lambda change: change["result"].pop("convId"),
        lambda change: change.pop("type"),
        lambda change: change.pop("result"),
    ],
)
def test_conversation_change_without_its_natural_key_is_keyed_by_a_hash(
    edit: Callable[[dict[str, Any]], object],
) -> None:
    (item,) = split(edited("cqm_created", edit))
    assert item.dedup_key.startswith("hash:")


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_redelivery_gives_the_same_dedup_keys(name: str) -> None:
    first = split(fixture_json(PLATFORM, name))
    again = split(json.loads(fixture_bytes(PLATFORM, name)))
    assert [item.dedup_key for item in first] == [item.dedup_key for item in again]


def test_retry_with_another_sent_time_and_key_order_gives_the_same_key() -> None:
    document = fixture_json(PLATFORM, "chat_state_composing")
    retried = fixture_json(PLATFORM, "chat_state_composing")
    retried["body"]["sentTs"] = 1773306999999
    change = retried["body"]["changes"][0]
    retried["body"]["changes"][0] = dict(reversed(list(change.items())))
    assert split(document)[0].dedup_key == split(retried)[0].dedup_key


def test_every_fixture_change_has_its_own_dedup_key() -> None:
    keys = [item.dedup_key for name in ALL_FIXTURES for item in split(fixture_json(PLATFORM, name))]
    assert len(keys) == len(set(keys))


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
        statuses=(StatusObserved(message_id, step=Step.SENT, at=sent_at),),
    )


def test_agent_text_is_inbound_and_visible_to_all_when_audience_is_missing() -> None:
    event = only_event("content_text_from_agent")
    assert isinstance(event, MessageUpserted)
    assert event.message_id == f"{CONV}:4"
    assert event.direction is Direction.IN
    assert event.sender == AGENT_PARTY
    assert event.conversation == ConversationRef(CONV, participants=(AGENT_PARTY,))
    assert event.conversation.provisional is False
    assert event.text == "Guten Morgen! Ich sehe mir die Abbuchung gleich an."
    assert event.audience is Audience.ALL
    assert event.sent_at == utc(2026, 3, 12, 9, 16, 2, 744000)
    assert event.sequence == 4
    assert event.choices == ()


def test_message_without_conversation_id_joins_its_dialog_provisionally() -> None:
    event = only_event("content_text_without_conversation_id")
    dialog = "a0d6e3f1-58b2-4c7e-9f14-6e2b8d0c3a97"
    sender = Party(
        "4be81f6a09d2c73e5b18a4f60e9d2c7b31a5f8e04d6c9b27e3f1a08d5c4b6e92", role="CONSUMER"
    )
    assert isinstance(event, MessageUpserted)
    assert event.conversation == ConversationRef(dialog, participants=(sender,), provisional=True)
    assert event.message_id == f"{dialog}:7"
    assert event.direction is Direction.OUT
    assert event.text == "Is the store on Linden Street open on Sunday?"
    assert event.sent_at == utc(2026, 2, 27, 16, 41, 9, 512000)


def test_message_with_an_empty_conversation_id_is_provisional_too() -> None:
    document = edited("content_text_from_agent", lambda change: change.update(conversationId=""))
    assert only_message(document).conversation.provisional is True


def test_message_without_a_dialog_id_is_numbered_in_its_conversation() -> None:
    event = only_message(edited("content_text_from_agent", lambda change: change.pop("dialogId")))
    assert event.message_id == f"{CONV}:4"
    assert event.conversation.external_id == CONV
    assert event.conversation.provisional is False


def test_survey_question_arrives_under_a_dialog_the_snapshot_names_as_an_alias() -> None:
    question = only_event("content_post_survey_question")
    snapshot = only_event("cqm_post_survey")
    assert isinstance(question, MessageUpserted)
    assert isinstance(snapshot, ConversationChanged)
    assert question.conversation.external_id == SURVEY_DIALOG
    assert question.conversation.provisional is True
    assert question.message_id == f"{SURVEY_DIALOG}:0"
    assert question.sender == Party(BOT, role="CONTROLLER")
    assert question.direction is Direction.IN
    assert SURVEY_DIALOG in snapshot.aliases


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


def test_hosted_file_without_caption_type_or_preview_is_still_an_attachment() -> None:
    def strip(change: dict[str, Any]) -> None:
        for key in ("caption", "fileType", "preview"):
            del change["event"]["message"][key]

    event = only_message(edited("content_hosted_file", strip))
    path = first_change("content_hosted_file")["event"]["message"]["relativePath"]
    assert event.text == ""
    assert event.attachments == (
        AttachmentInfo(external_id=path, filename=path.rsplit("/", 1)[1], url=path),
    )


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
    document = edited(
        "content_hosted_file", lambda change: change["event"]["message"].update(fileType=file_type)
    )
    assert only_message(document).attachments[0].mime_type == mime_type


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
    document = edited(
        "content_secure_form_invitation", lambda change: change["event"]["message"].pop("title")
    )
    assert only_message(document).text == "Secure form invitation"


def test_empty_text_message_is_kept() -> None:
    document = edited("content_text_from_agent", lambda change: change["event"].update(message=""))
    event = only_message(document)
    assert event.text == ""
    assert event.content_kind is ContentKind.TEXT


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


def test_sequence_sent_as_digits_is_read_as_a_number() -> None:
    event = only_message(
        edited("content_text_from_agent", lambda change: change.update(sequence="4"))
    )
    assert event.sequence == 4
    assert event.message_id == f"{CONV}:4"


def test_originator_metadata_id_stands_in_for_a_missing_originator_id() -> None:
    event = only_message(
        edited("content_text_from_agent", lambda change: change.pop("originatorId"))
    )
    assert event.sender == AGENT_PARTY


def test_message_without_a_server_time_has_no_sent_time() -> None:
    event = only_message(
        edited("content_text_from_agent", lambda change: change.pop("serverTimestamp"))
    )
    assert event.sent_at is None
    assert event.statuses == (StatusObserved(f"{CONV}:4", step=Step.SENT),)


# --- quick replies ---------------------------------------------------------------------------


def test_quick_replies_become_choices_sending_their_published_text() -> None:
    event = only_event("content_quick_replies")
    assert isinstance(event, MessageUpserted)
    assert event.text == "Wie möchten Sie die Erstattung erhalten?"
    assert event.content_kind is ContentKind.TEXT
    assert event.choices == (
        Choice("Überweisung", text="Bitte per Überweisung"),
        Choice("Gutschrift", text="Bitte als Gutschrift"),
        Choice("Weiß nicht", text="Weiß nicht"),  # no publishText action: the title is sent
    )


def test_message_content_keeps_the_whole_event_and_the_change_metadata() -> None:
    change = first_change("content_quick_replies")
    event = only_event("content_quick_replies")
    assert isinstance(event, MessageUpserted)
    assert event.content == {**change["event"], "metadata": change["metadata"]}
    assert event.content["quickReplies"]["replies"][0]["click"]["metadata"] == [
        {"type": "ExternalId", "id": "refund-bank-transfer"}
    ]


def test_event_keys_win_over_the_change_metadata_of_the_same_name() -> None:
    def collide(change: dict[str, Any]) -> None:
        change["event"]["metadata"] = {"own": True}

    assert only_message(edited("content_quick_replies", collide)).content["metadata"] == {
        "own": True
    }


def test_quick_reply_publishing_through_a_later_action_sends_that_text() -> None:
    def reorder(change: dict[str, Any]) -> None:
        actions = change["event"]["quickReplies"]["replies"][0]["click"]["actions"]
        actions.insert(0, {"type": "link", "uri": "https://example.com/refunds"})

    event = only_message(edited("content_quick_replies", reorder))
    assert event.choices[0] == Choice("Überweisung", text="Bitte per Überweisung")


def test_quick_replies_on_rich_content_become_choices_too() -> None:
    quick_replies = first_change("content_quick_replies")["event"]["quickReplies"]
    document = edited(
        "rich_content_card", lambda change: change["event"].update(quickReplies=quick_replies)
    )
    event = only_message(document)
    assert event.content_kind is ContentKind.RICH
    assert [choice.title for choice in event.choices] == ["Überweisung", "Gutschrift", "Weiß nicht"]
    assert event.content["quickReplies"] == quick_replies


def test_empty_quick_replies_offer_no_choices() -> None:
    document = edited(
        "content_quick_replies",
        lambda change: change["event"].update(quickReplies={"type": "quickReplies"}),
    )
    assert only_message(document).choices == ()


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
    assert event.statuses == (StatusObserved(f"{CONV}:8", step=Step.SENT, at=sent_at),)


def test_rich_content_skips_empty_and_non_text_values() -> None:
    content = {
        "type": "vertical",
        "metadata": [{"type": "ExternalId", "text": "hidden"}],
        "elements": [{"type": "text", "text": ""}, {"type": "text", "text": 7}, "loose"],
    }
    document = edited("rich_content_card", lambda change: change["event"].update(content=content))
    assert only_message(document).text == ""


def test_rich_content_without_content_has_no_text() -> None:
    document = edited("rich_content_card", lambda change: change["event"].pop("content"))
    assert only_message(document).text == ""


# --- AcceptStatusEvent -----------------------------------------------------------------------


def receipt(message_id: str, at: datetime | None, participant: str, **kind: Any) -> StatusChanged:
    return StatusChanged(CONV, StatusObserved(message_id, at=at, participant=participant, **kind))


def test_accept_receipt_marks_every_listed_sequence_delivered() -> None:
    at = utc(2026, 3, 12, 9, 15, 32, 550000)
    assert events_of("accept_status_accept") == [
        receipt(f"{CONV}:0", at, AGENT, step=Step.DELIVERED),
        receipt(f"{CONV}:1", at, AGENT, step=Step.DELIVERED),
    ]


def test_read_receipt_marks_every_listed_sequence_read() -> None:
    at = utc(2026, 3, 12, 9, 15, 40, 118000)
    assert events_of("accept_status_read") == [
        receipt(f"{CONV}:0", at, AGENT, step=Step.READ),
        receipt(f"{CONV}:1", at, AGENT, step=Step.READ),
    ]


def statuses_of(status: str) -> list[StatusObserved]:
    document = edited("accept_status_read", lambda change: change["event"].update(status=status))
    return [event.observation for event in receipts_of(document)]


def test_access_receipt_means_the_message_was_read() -> None:
    assert [(o.step, o.flag) for o in statuses_of("ACCESS")] == [(Step.READ, "")] * 2


@pytest.mark.parametrize("status", ["NACK", "ACTION", "SHOWN"])
def test_other_receipt_statuses_are_recorded_as_flags(status: str) -> None:
    assert [(o.step, o.flag) for o in statuses_of(status)] == [(None, status)] * 2


def test_misspelled_accept_status_event_is_a_receipt_too() -> None:
    document = edited(
        "accept_status_accept", lambda change: change["event"].update(type="AccpetStatusEvent")
    )
    (item,) = split(document)
    assert item.event_name == f"{MS}.AccpetStatusEvent"
    assert item.dedup_key == f"ms:{CONV}:2:AcceptStatusEvent"
    assert parse_document(document) == events_of("accept_status_accept")


def test_receipt_with_an_empty_sequence_list_changes_nothing() -> None:
    document = edited("accept_status_read", lambda change: change["event"].update(sequenceList=[]))
    assert parse_document(document) == []


def test_receipt_listing_a_sequence_twice_observes_it_once() -> None:
    document = edited(
        "accept_status_read", lambda change: change["event"].update(sequenceList=[1, "1", 0, 1])
    )
    assert [event.observation.message_id for event in receipts_of(document)] == [
        f"{CONV}:1",
        f"{CONV}:0",
    ]


def test_receipt_naming_only_its_dialog_is_filed_under_the_dialog() -> None:
    def dialog_only(change: dict[str, Any]) -> None:
        change.pop("conversationId")
        change["dialogId"] = SURVEY_DIALOG

    events = receipts_of(edited("accept_status_read", dialog_only))
    assert [(e.conversation_id, e.observation.message_id) for e in events] == [
        (SURVEY_DIALOG, f"{SURVEY_DIALOG}:0"),
        (SURVEY_DIALOG, f"{SURVEY_DIALOG}:1"),
    ]


def test_receipt_without_an_originator_is_about_every_recipient() -> None:
    def anonymous(change: dict[str, Any]) -> None:
        del change["originatorId"], change["originatorMetadata"]

    events = receipts_of(edited("accept_status_read", anonymous))
    assert [event.observation.participant for event in events] == ["", ""]


# --- ChatStateEvent --------------------------------------------------------------------------


def test_composing_agent_is_typing() -> None:
    assert only_event("chat_state_composing") == Typing(
        conversation_id=CONV, address=AGENT, typing=True, at=utc(2026, 3, 12, 9, 15, 55, 20000)
    )


def test_paused_consumer_stopped_typing_and_has_no_time() -> None:
    assert only_event("chat_state_pause") == Typing(
        conversation_id=CONV, address=CONSUMER, typing=False, at=None
    )


def test_typing_naming_only_its_dialog_is_filed_under_the_dialog() -> None:
    def dialog_only(change: dict[str, Any]) -> None:
        change.pop("conversationId")
        change["dialogId"] = SURVEY_DIALOG

    (event,) = parse_document(edited("chat_state_pause", dialog_only))
    assert isinstance(event, Typing)
    assert event.conversation_id == SURVEY_DIALOG


# --- batches and unknown events --------------------------------------------------------------


def test_batch_yields_the_events_of_every_change_in_order() -> None:
    read_at = utc(2026, 3, 12, 9, 22, 42, 190000)
    message, *receipts, typing = events_of("mixed_batch")
    assert isinstance(message, MessageUpserted)
    assert message.message_id == f"{CONV}:9"
    assert message.text == "Die Erstattung ist veranlasst. Kann ich sonst noch etwas tun?"
    assert receipts == [
        receipt(f"{CONV}:8", read_at, CONSUMER, step=Step.READ),
        receipt(f"{CONV}:9", read_at, CONSUMER, step=Step.READ),
    ]
    assert typing == Typing(CONV, CONSUMER, typing=True, at=None)


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
        aliases=(),
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


def test_survey_dialog_keeps_the_conversation_open() -> None:
    event = only_event("cqm_post_survey")
    assert isinstance(event, ConversationChanged)
    assert event.status is ConversationStatus.OPEN
    assert event.state is not None
    assert (event.state["stage"], event.state["state"]) == ("OPEN", "CLOSE")
    assert [(d["dialogType"], d["state"]) for d in event.state["dialogs"]] == [
        ("MAIN", "CLOSE"),
        ("POST_SURVEY", "OPEN"),
    ]
    assert event.aliases == (SURVEY_DIALOG,)


@pytest.mark.parametrize(
    ("stage", "state", "status"),
    [
        ("OPEN", "CLOSE", ConversationStatus.OPEN),
        ("CLOSE", "OPEN", ConversationStatus.CLOSED),
        ("CLOSE", "CLOSE", ConversationStatus.CLOSED),
        ("PENDING", "CLOSE", ConversationStatus.OPEN),
        (None, "CLOSE", ConversationStatus.CLOSED),
        ("", "CLOSE", ConversationStatus.CLOSED),
        (None, "OPEN", ConversationStatus.OPEN),
        (None, None, None),
    ],
)
def test_stage_decides_the_status_and_state_stands_in_only_without_one(
    stage: str | None, state: str | None, status: ConversationStatus | None
) -> None:
    def restate(change: dict[str, Any]) -> None:
        details = details_of(change)
        for key, value in (("stage", stage), ("state", state)):
            details.pop(key)
            if value is not None:
                details[key] = value

    assert only_conversation(edited("cqm_created", restate)).status is status


def test_deleted_conversation_is_deleted() -> None:
    event = only_event("cqm_deleted")
    assert isinstance(event, ConversationChanged)
    assert event.conversation_id == CONV
    assert event.status is ConversationStatus.DELETED
    assert event.at == utc(2026, 3, 13, 9, 24, 19, 1000)


def test_deleted_conversation_is_deleted_whatever_its_stage() -> None:
    document = edited("cqm_deleted", lambda change: details_of(change).update(stage="OPEN"))
    assert only_conversation(document).status is ConversationStatus.DELETED


def test_conversation_change_with_only_an_id_leaves_everything_as_stored() -> None:
    change = {"type": "UPSERT", "result": {"convId": CONV}}
    assert only_conversation(with_changes("cqm_created", change)) == ConversationChanged(
        conversation_id=CONV, at=None, kind=ConversationKind.DIRECT, status=None
    )


def test_delete_without_details_still_deletes() -> None:
    change = {"type": "DELETE", "result": {"convId": CONV}}
    event = only_conversation(with_changes("cqm_created", change))
    assert event.status is ConversationStatus.DELETED
    assert event.participants is None
    assert event.aliases == ()


def test_unknown_conversation_change_type_is_ignored() -> None:
    assert parse_document(edited("cqm_created", lambda change: change.update(type="ARCHIVE"))) == []


def test_empty_participant_list_says_there_is_nobody() -> None:
    assert only_conversation(with_participants([])).participants == ()


# --- participants and roles ------------------------------------------------------------------


def test_participant_listed_under_several_roles_keeps_the_most_significant() -> None:
    event = only_event("cqm_post_survey")
    assert isinstance(event, ConversationChanged)
    # The agent is listed as ASSIGNED_AGENT and, later, as READER.
    assert event.participants == (CONSUMER_PARTY, AGENT_PARTY, Party(BOT, role="CONTROLLER"))


ROLE_ORDER = ["CONSUMER", "ASSIGNED_AGENT", "MANAGER", "AGENT", "CONTROLLER", "READER", "OBSERVER"]


@pytest.mark.parametrize(
    ("stronger", "weaker"),
    [*itertools.pairwise(ROLE_ORDER), ("CONSUMER", "READER"), ("OBSERVER", "")],
)
def test_more_significant_role_wins_in_either_listing_order(stronger: str, weaker: str) -> None:
    for roles in ([stronger, weaker], [weaker, stronger]):
        document = with_participants([{"id": AGENT, "role": role} for role in roles])
        assert only_conversation(document).participants == (Party(AGENT, role=stronger),)


def test_two_unranked_roles_give_the_same_winner_in_either_order() -> None:
    winners = set()
    for roles in (["OBSERVER", "AUDITOR"], ["AUDITOR", "OBSERVER"]):
        document = with_participants([{"id": AGENT, "role": role} for role in roles])
        winners.add(only_conversation(document).participants)
    assert len(winners) == 1


def test_participants_given_as_a_role_map_keep_each_id_once_with_its_strongest_role() -> None:
    event = only_event("cqm_participants_role_map")
    assert isinstance(event, ConversationChanged)
    assert event.participants == (
        CONSUMER_PARTY,
        AGENT_PARTY,
        Party(MANAGER, role="MANAGER"),
    )


def test_dialog_participants_given_as_a_role_map_are_summarised_as_a_list() -> None:
    event = only_event("cqm_participants_role_map")
    assert isinstance(event, ConversationChanged)
    assert event.state is not None
    assert event.state["dialogs"][0]["participants"] == [
        {"id": CONSUMER, "role": "CONSUMER"},
        {"id": AGENT, "role": "ASSIGNED_AGENT"},
    ]


def test_participant_without_a_role_is_kept_without_one() -> None:
    assert only_conversation(with_participants([{"id": AGENT}])).participants == (Party(AGENT),)


# --- dialogs and aliases ---------------------------------------------------------------------


def test_aliases_list_each_other_dialog_once_in_document_order() -> None:
    def more_dialogs(change: dict[str, Any]) -> None:
        dialogs = details_of(change)["dialogs"]
        dialogs.extend(
            [
                {"dialogId": "dialog-b", "dialogType": "POST_SURVEY"},
                {"dialogId": "dialog-a", "dialogType": "OTHER"},
                {"dialogId": "dialog-b", "dialogType": "POST_SURVEY"},
                {"dialogType": "OTHER"},
            ]
        )

    assert only_conversation(edited("cqm_created", more_dialogs)).aliases == (
        "dialog-b",
        "dialog-a",
    )


def test_snapshot_without_dialogs_keeps_no_dialog_state() -> None:
    document = edited("cqm_created", lambda change: details_of(change).pop("dialogs"))
    event = only_conversation(document)
    assert event.state is not None
    assert "dialogs" not in event.state
    assert event.aliases == ()


def test_dialog_without_participants_is_summarised_without_them() -> None:
    document = edited(
        "cqm_created", lambda change: details_of(change)["dialogs"][0].pop("participantsDetails")
    )
    state = only_conversation(document).state
    assert state is not None
    assert "participants" not in state["dialogs"][0]


# --- malformed changes -----------------------------------------------------------------------


def _drop(name: str, *path: str | int) -> dict[str, Any]:
    def drop(change: Any) -> None:
        for key in path[:-1]:
            change = change[key]
        del change[path[-1]]

    return edited(name, drop)


def _set(name: str, value: Any, *path: str | int) -> dict[str, Any]:
    def assign(change: Any) -> None:
        for key in path[:-1]:
            change = change[key]
        change[path[-1]] = value

    return edited(name, assign)


REPLY = ("event", "quickReplies", "replies", 0)
PARTICIPANTS = ("result", "conversationDetails", "participants")
DIALOGS = ("result", "conversationDetails", "dialogs")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_drop("content_text_from_agent", "sequence"), "change.sequence is missing"),
        (_drop("content_text_from_agent", "event"), "change.event is missing"),
        (_set("content_text_from_agent", "text", "event"), "change.event is missing or not an"),
        (_drop("content_text_from_agent", "event", "type"), "change.event.type is missing"),
        (_set("content_text_from_agent", "later", "sequence"), "change.sequence is not an integer"),
        (_set("content_text_from_agent", 10**30, "sequence"), "change.sequence is out of range"),
        (_set("content_text_from_agent", -1, "sequence"), "change.sequence is not a sequence"),
        (
            _set("content_text_from_agent", {"text": "hi"}, "event", "message"),
            "change.event.message",
        ),
        (_drop("content_text_from_agent", "event", "message"), "change.event.message is missing"),
        (
            _set("content_text_from_agent", "soon", "serverTimestamp"),
            "serverTimestamp is not epoch",
        ),
        (
            _set("content_text_from_agent", 10**30, "serverTimestamp"),
            "serverTimestamp is not epoch",
        ),
        (_set("content_text_from_agent", 7, "conversationId"), "change.conversationId"),
        (_set("content_text_from_agent", "ok", "originatorMetadata"), "change.originatorMetadata"),
        (_set("content_text_from_agent", 3, "messageAudience"), "change.messageAudience"),
        (_drop("content_hosted_file", "event", "message", "relativePath"), "relativePath"),
        (_set("content_hosted_file", "photo.png", "event", "message"), "change.event.message"),
        (_set("content_hosted_file", 5, "event", "message", "caption"), "message.caption"),
        (_set("content_secure_form_invitation", "x", "event", "message"), "change.event.message"),
        (_set("content_quick_replies", "yes/no", "event", "quickReplies"), "quickReplies"),
        (_set("content_quick_replies", {}, "event", "quickReplies", "replies"), "replies"),
        (_set("content_quick_replies", "Ja", *REPLY), "replies[0] is missing or not an object"),
        (_drop("content_quick_replies", *REPLY, "title"), "replies[0].title is missing"),
        (_drop("content_quick_replies", *REPLY, "click", "actions", 0, "text"), "actions[0].text"),
        (_set("content_quick_replies", "go", *REPLY, "click", "actions"), "click.actions"),
        (_set("accept_status_read", "0,1", "event", "sequenceList"), "event.sequenceList is"),
        (_set("accept_status_read", ["zero"], "event", "sequenceList"), "sequenceList[0]"),
        (_set("accept_status_read", [10**30], "event", "sequenceList"), "sequenceList[0] is out"),
        (_drop("accept_status_read", "event", "status"), "change.event.status is missing"),
        (_set("accept_status_read", "", "event", "status"), "change.event.status is empty"),
        (_drop("chat_state_pause", "event", "chatState"), "change.event.chatState is missing"),
        (_drop("cqm_created", "result", "convId"), "change.result.convId is missing"),
        (_drop("cqm_created", "result"), "change.result is missing"),
        (_drop("cqm_created", "type"), "change.type is missing"),
        (_set("cqm_created", "details", "result", "conversationDetails"), "conversationDetails"),
        (
            _set("cqm_created", 10**30, "result", "conversationDetails", "metaDataLastUpdateTs"),
            "conversationDetails.metaDataLastUpdateTs is not epoch milliseconds",
        ),
        (
            _set("cqm_created", 3, "result", "conversationDetails", "stage"),
            "conversationDetails.stage is",
        ),
        (
            _set("cqm_created", "all", *PARTICIPANTS),
            "participants is neither a list nor a role map",
        ),
        (_set("cqm_created", ["x"], *PARTICIPANTS), "participants[0] is missing or not an object"),
        (_set("cqm_created", [{"role": "READER"}], *PARTICIPANTS), "participants[0].id is missing"),
        (_set("cqm_created", {"READER": "x"}, *PARTICIPANTS), "participants.READER is missing or"),
        (_set("cqm_created", {"READER": [1]}, *PARTICIPANTS), "participants.READER[0] is missing"),
        (_set("cqm_created", [{"id": AGENT, "role": 1}], *PARTICIPANTS), "participants[0].role"),
        (_set("cqm_created", "MAIN", *DIALOGS), "conversationDetails.dialogs is missing or not"),
        (_set("cqm_created", ["MAIN"], *DIALOGS), "conversationDetails.dialogs[0] is missing"),
        (_set("cqm_created", 9, *DIALOGS, 0, "dialogId"), "dialogs[0].dialogId"),
        (_set("cqm_created", "x", *DIALOGS, 0, "participantsDetails"), "participantsDetails is"),
    ],
)
def test_misshapen_changes_raise_payload_error_naming_the_path(
    document: dict[str, Any], message: str
) -> None:
    with pytest.raises(PayloadError) as excinfo:
        parse_document(document)
    assert message in str(excinfo.value)
    assert str(excinfo.value).startswith("change")


def test_change_without_dialog_or_conversation_id_raises_payload_error() -> None:
    def anonymous(change: dict[str, Any]) -> None:
        del change["dialogId"], change["conversationId"]

    for name in ("content_text_from_agent", "accept_status_read", "chat_state_pause"):
        with pytest.raises(
            PayloadError,
            match=r"^change\['(dialogId\|conversationId|conversationId\|dialogId)'\] is missing",
        ):
            parse_document(edited(name, anonymous))


@pytest.mark.parametrize("name", ["content_text_from_agent", "chat_state_pause"])
def test_change_without_any_originator_raises_payload_error(name: str) -> None:
    def anonymous(change: dict[str, Any]) -> None:
        del change["originatorId"], change["originatorMetadata"]

    with pytest.raises(PayloadError, match=r"^change\.originatorId is missing"):
        parse_document(edited(name, anonymous))


# --- stored shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_items_and_events_hold_json_data_and_aware_utc_times(name: str) -> None:
    for item in split(fixture_json(PLATFORM, name)):
        assert json.loads(json.dumps(item.payload)) == item.payload
        assert json.loads(json.dumps(item.envelope)) == item.envelope
    for event in events_of(name):
        for value in vars(event).values():
            if isinstance(value, datetime):
                assert value.tzinfo is UTC
        if isinstance(event, MessageUpserted):
            assert json.loads(json.dumps(event.content)) == event.content
            hash((event.conversation, event.attachments, event.statuses, event.sender))
            hash(event.choices)
        if isinstance(event, ConversationChanged):
            assert json.loads(json.dumps(event.state)) == event.state
            hash((event.participants, event.aliases))
