"""The one reader of platform JSON: typed reads whose errors name the path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inbox.connectors.contract import Headers, PayloadError
from inbox.connectors.payload import Payload, canonical_hash

DOCUMENT = {
    "changes": [{"event": {"type": "ContentEvent", "sequence": "12"}}, "junk"],
    "weird key": 1,
    "count": 3,
    "flag": True,
    "empty": "",
    "at": "2026-03-12T09:14:05.8801234Z",
    "ms": 1773306845880,
}


@pytest.fixture
def doc():
    return Payload(DOCUMENT, "notification")


def error(read) -> str:
    with pytest.raises(PayloadError) as raised:
        read()
    return str(raised.value)


def test_navigation_keeps_the_path(doc):
    assert doc["changes"][0]["event"]["type"].string() == "ContentEvent"
    assert error(lambda: doc["changes"][0]["event"]["kind"].string()) == (
        "notification.changes[0].event.kind is missing"
    )
    assert error(lambda: doc["changes"][1]["event"]) == (
        "notification.changes[1] is not an object (got a string)"
    )
    assert error(lambda: doc["changes"][5]) == "notification.changes[5] is missing"
    assert error(lambda: doc.get("weird key").string()).startswith("notification['weird key']")


def test_optional_reads_of_missing_values_are_empty(doc):
    missing = doc.get("nothing")
    assert missing.is_missing
    assert missing.get("deeper").get("still").optional_string() == ""
    assert missing.optional_integer() is None
    assert missing.optional_boolean() is None
    assert missing.optional_elements() == []
    assert missing.strings() == ()
    assert missing.optional_timestamp() is None
    assert missing.optional_epoch_ms() is None
    assert missing.optional_identifier() == ""
    assert list(missing.items()) == []
    assert error(lambda: missing["key"]) == "notification.nothing is missing"


def test_first_takes_the_first_present_value(doc):
    assert doc.first("nothing", "empty", "count").raw == 3
    assert doc.first("nothing", "empty").is_missing
    assert doc.first("nothing", "empty").path == "notification['nothing|empty']"


def test_scalars_are_read_strictly(doc):
    assert doc["count"].integer() == 3
    assert doc["changes"][0]["event"]["sequence"].integer(digits=True) == 12
    assert "is not an integer" in error(lambda: doc["changes"][0]["event"]["sequence"].integer())
    assert "not an integer (got a boolean)" in error(lambda: doc["flag"].integer())
    assert doc["flag"].boolean() is True
    assert "not a boolean" in error(lambda: doc["count"].boolean())
    assert doc.get("empty").string(allow_empty=True) == ""
    assert error(lambda: doc.get("empty").string()) == "notification.empty is empty"
    assert doc["count"].identifier() == "3"
    assert "not an id (got a boolean)" in error(lambda: doc["flag"].identifier())


def test_integers_that_overflow_a_64_bit_column_are_refused():
    assert Payload(2**63 - 1).integer() == 2**63 - 1
    assert Payload(-(2**63)).integer() == -(2**63)
    assert error(lambda: Payload(10**30, "change.sequence").integer()) == (
        f"change.sequence is out of range: {10**30}"
    )
    assert "out of range" in error(lambda: Payload(str(10**30)).integer(digits=True))


def test_times_in_iso_or_epoch_milliseconds(doc):
    assert doc["at"].timestamp() == datetime(2026, 3, 12, 9, 14, 5, 880123, tzinfo=UTC)
    assert doc["ms"].epoch_ms() == datetime(2026, 3, 12, 9, 14, 5, 880000, tzinfo=UTC)
    assert Payload("2026-03-12T10:14:05+01:00").timestamp().hour == 9
    assert Payload("2026-03-12T09:14:05").timestamp().tzinfo is UTC
    assert error(lambda: Payload("soon", "x.at").timestamp()) == "x.at is not a timestamp: 'soon'"
    assert "is not a timestamp" in error(lambda: Payload("9999-12-31T23:59:59-01:00").timestamp())
    assert "not epoch milliseconds" in error(lambda: Payload(10**20).epoch_ms())
    assert "not epoch milliseconds" in error(lambda: Payload([1]).epoch_ms())
    assert error(lambda: doc.get("never").timestamp()) == "notification.never is missing"
    assert error(lambda: doc.get("never").epoch_ms()) == "notification.never is missing"


def test_objects_and_lists(doc):
    assert [key for key, _ in doc.items()][:2] == ["changes", "weird key"]
    assert "count" in doc
    assert "nothing" not in doc
    assert set(doc.keys()) == set(DOCUMENT)
    assert doc.mapping() is doc
    assert doc.get("nothing").optional_mapping().is_missing
    assert "missing or not an object" in error(lambda: doc["count"].mapping())
    assert "is not an object" in error(lambda: doc["count"].optional_mapping())
    assert "not a list" in error(lambda: doc["count"].elements())
    assert Payload(["a", "b"]).strings() == ("a", "b")
    assert "[1] is missing or not a string" in error(lambda: Payload(["a", 2], "ids").strings())


def test_a_payload_is_not_iterated_by_accident(doc):
    with pytest.raises(TypeError, match="iterate notification with"):
        list(doc)


def test_canonical_hashes_ignore_key_order_and_take_any_decoded_json():
    assert canonical_hash({"a": 1, "b": [2]}) == canonical_hash({"b": [2], "a": 1})
    assert canonical_hash({"text": "\ud800"}) != canonical_hash({"text": "\ud801"})
    assert canonical_hash([float("nan")])


def test_headers_are_looked_up_in_any_case_and_never_show_values():
    headers = Headers({"X-Comapi-Signature": "abc", "Content-Type": "application/json", "X": 1})
    assert headers["x-comapi-signature"] == headers["X-COMAPI-SIGNATURE"] == "abc"
    assert len(headers) == 2  # a value that is not text is no header
    assert sorted(headers) == ["Content-Type", "X-Comapi-Signature"]
    assert "abc" not in repr(headers)
