"""The enmeshed Connector client against the fake Connector, for both API generations.

Every test runs against a real local HTTP server that refuses what the real Connector would
refuse (see :mod:`tests.fakes.enmeshed`), so a happy path with no refused request proves that
the client's requests are valid for the generation. No database is involved.
"""

from __future__ import annotations

import io
import socket
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from inbox.connectors.enmeshed import split
from inbox.connectors.enmeshed.client import (
    CORE_V1,
    V1,
    EnmeshedClient,
    content_disposition_filename,
    iso,
    mail_subject,
)
from inbox.connectors.outbound import ClientConfig, OutgoingFile, PlatformError, Target
from tests.fakes.enmeshed import (
    API_KEY,
    NOT_FOUND,
    VALIDATION,
    WRONG_STATUS,
    FakeConnector,
    new_id,
    qr_png,
)

GENERATIONS = [V1, CORE_V1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(params=GENERATIONS)
def fake(request: pytest.FixtureRequest) -> Iterator[FakeConnector]:
    with FakeConnector(request.param) as connector:
        yield connector
        assert connector.crashes == []


@pytest.fixture
def client(fake: FakeConnector) -> Iterator[EnmeshedClient]:
    with make_client(fake) as made:
        yield made


def make_client(
    fake: FakeConnector,
    *,
    api_key: str = API_KEY,
    state: dict[str, Any] | None = None,
    timeout: httpx.Timeout | None = None,
    **settings: Any,
) -> EnmeshedClient:
    return EnmeshedClient(
        ClientConfig(
            settings={"base_url": fake.base_url, **settings},
            credentials={"api_key": api_key},
            state=state or {},
        ),
        timeout=timeout,
    )


def assert_all_valid(fake: FakeConnector) -> None:
    """The fake refused nothing: every request fit its generation's spec."""
    assert [(r.method, r.path, r.status, r.body[:300]) for r in fake.rejected()] == []
    for record in fake.requests:
        assert record.headers.get("x-api-key") == API_KEY
        assert "accept" in record.headers


def outgoing(name: str, data: bytes, content_type: str = "application/pdf") -> OutgoingFile:
    return OutgoingFile(
        name=name, content_type=content_type, size=len(data), stream=io.BytesIO(data)
    )


def keys(document: Any) -> dict[str, str]:
    """Item payload id -> dedup key of a document, through the connector's own ``split``."""
    return {item.payload["id"]: item.dedup_key for item in split(document=document)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- generation and identity ---------------------------------------------------------------------


def test_detects_the_generation_once_and_learns_the_own_address(
    fake: FakeConnector, client: EnmeshedClient
) -> None:
    assert client.api_version() == fake.generation
    assert client.own_address() == fake.address
    assert client.api_version() == fake.generation
    assert [r.path for r in fake.requests] == [
        "/Monitoring/Version",  # unprefixed in every generation
        fake.prefix + "/Account/IdentityInfo",
    ]
    assert client.state() == {"api_version": fake.generation, "address": fake.address}
    assert_all_valid(fake)


def test_a_pinned_or_remembered_generation_is_not_detected(fake: FakeConnector) -> None:
    with make_client(fake, api_version=fake.generation) as pinned:
        pinned.list_templates()
    remembered_state = {"api_version": fake.generation, "address": fake.address}
    with make_client(fake, state=remembered_state) as remembered:
        remembered.list_templates()
        assert remembered.own_address() == fake.address
    assert [r.path for r in fake.requests] == [fake.prefix + "/RelationshipTemplates/Own"] * 2


@pytest.mark.parametrize(
    ("version", "generation"),
    [("1.0.3", V1), ("2.3.5", V1), ("7.4.6", CORE_V1), ("v8.0.0", CORE_V1)],
)
def test_maps_connector_versions_to_generations(version: str, generation: str) -> None:
    with FakeConnector(generation, version=version) as fake, make_client(fake) as client:
        assert client.api_version() == generation


@pytest.mark.parametrize("version", ["4.1.0", "6.9.2", "nightly"])
def test_refuses_the_v2_generation_and_unreadable_versions(version: str) -> None:
    with (
        FakeConnector(CORE_V1, version=version) as fake,
        make_client(fake) as client,
        pytest.raises(PlatformError) as caught,
    ):
        client.api_version()
    assert caught.value.permanent
    assert caught.value.code in ("unsupported_version", "unknown_version")


def test_probes_the_prefixes_when_monitoring_is_not_reachable() -> None:
    for generation in GENERATIONS:
        with (
            FakeConnector(generation, monitoring=False) as fake,
            make_client(fake) as client,
        ):
            assert client.api_version() == generation
            assert client.own_address() == fake.address


# --- upload and send ---------------------------------------------------------------------------


def test_uploads_non_latin_files_and_sends_them_in_one_mail(
    fake: FakeConnector, client: EnmeshedClient
) -> None:
    peer = fake.add_active_relationship()["peer"]
    invoice = 'Rechnung №42 - Ärger "quoted".pdf'
    photo = "東京の写真.jpg"
    first = client.upload(file=outgoing(invoice, b"%PDF-1.7 invoice"))
    second = client.upload(file=outgoing(photo, b"\xff\xd8\xff jpeg", "image/jpeg"))

    assert first.platform_id.startswith("FIL")
    assert len(first.platform_id) == 20
    assert fake.files[first.platform_id][0]["filename"] == invoice
    assert fake.files[first.platform_id][1] == b"%PDF-1.7 invoice"
    assert fake.files[second.platform_id][0]["filename"] == photo
    assert fake.files[second.platform_id][0]["mimetype"] == "image/jpeg"
    assert first.document["id"] == first.platform_id
    upload = fake.requests_to("/Files/Own", "POST")[0]
    # 1.x requires title and expiresAt beside the file; they are sent to both generations.
    assert b'name="title"' in upload.body
    assert b'name="expiresAt"' in upload.body

    sent = client.send(
        target=Target(recipients=[peer]),
        text="Dear customer,\nboth files attached.",
        subject="Your documents",
        attachments=[first.platform_id, second.platform_id],
    )
    stored = fake.messages[sent.platform_id]
    assert stored["attachments"] == [first.platform_id, second.platform_id]
    assert stored["content"]["subject"] == "Your documents"
    assert ("bodyFormat" in stored["content"]) == (fake.generation == CORE_V1)
    assert sent.sent_at is not None
    assert iso(sent.sent_at) == stored["createdAt"]
    assert sent.document == {"trigger": "transport.messageSent", "data": stored}
    assert keys(sent.document) == keys({"trigger": "transport.messageSent", "data": stored})
    assert_all_valid(fake)


class _Unsized(io.RawIOBase):
    """A stream of unknown length (no fileno, seek or tell) that notes each read's size."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.reads: list[int] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        self.reads.append(len(chunk))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_streams_an_upload_of_unknown_length(fake: FakeConnector, client: EnmeshedClient) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB
    stream = _Unsized(data)
    upload = OutgoingFile(name="stream.bin", content_type="", size=len(data), stream=stream)
    uploaded = client.upload(file=upload)
    assert fake.files[uploaded.platform_id][1] == data
    assert fake.files[uploaded.platform_id][0]["mimetype"] == "application/octet-stream"
    assert max(stream.reads) < len(data)  # read in chunks, never whole
    assert fake.requests_to("/Files/Own")[0].headers["transfer-encoding"] == "chunked"
    assert_all_valid(fake)


def test_sending_needs_an_active_relationship(fake: FakeConnector, client: EnmeshedClient) -> None:
    peer = fake.add_outgoing_pending()["peer"]
    with pytest.raises(PlatformError) as caught:
        client.send(target=Target(recipients=[peer]), text="hi", subject="Hi")
    assert caught.value.permanent
    assert caught.value.status == 400
    assert caught.value.code == WRONG_STATUS
    assert fake.messages == {}


def test_sends_to_a_direct_conversation_and_derives_a_missing_subject(
    fake: FakeConnector, client: EnmeshedClient
) -> None:
    peer = fake.add_active_relationship()["peer"]
    sent = client.send(target=Target(conversation_id=peer), text="\n  First line\nSecond line")
    assert fake.messages[sent.platform_id]["recipients"][0]["address"] == peer
    assert fake.messages[sent.platform_id]["content"]["subject"] == "First line"
    with pytest.raises(PlatformError) as caught:
        client.send(target=Target(conversation_id="group:0123abcd"), text="hi")
    assert caught.value.permanent
    assert_all_valid(fake)


def test_mail_subject() -> None:
    assert mail_subject("Given", "text") == "Given"
    assert mail_subject("", "  \n hello \nworld") == "hello"
    assert mail_subject("", "") == "(no subject)"
    long = mail_subject("", "x" * 500)
    assert len(long) == 80
    assert long.endswith("…")


def test_on_send_runs_before_the_send_answer(fake: FakeConnector, client: EnmeshedClient) -> None:
    peer = fake.add_active_relationship()["peer"]
    seen: list[str] = []
    fake.on_send = lambda dto: seen.append(dto["id"])
    sent = client.send(target=Target(recipients=[peer]), text="hi", subject="Hi")
    assert seen == [sent.platform_id]


def test_find_sent_finds_only_the_same_own_message(
    fake: FakeConnector, client: EnmeshedClient
) -> None:
    peer = fake.add_active_relationship()["peer"]
    other = fake.add_active_relationship()["peer"]
    before = datetime.now(UTC) - timedelta(seconds=5)
    fake.receive_message(peer, subject="Same", body="Same text")  # theirs, not ours
    sent = client.send(target=Target(recipients=[peer]), text="Same text", subject="Same")

    found = client.find_sent(
        target=Target(recipients=[peer]), text="Same text", subject="Same", since=before
    )
    assert found is not None
    assert found.platform_id == sent.platform_id
    assert found.document == sent.document

    def lookup(**changes: Any) -> Any:
        asked: dict[str, Any] = {
            "target": Target(recipients=[peer]),
            "text": "Same text",
            "subject": "Same",
            "since": before,
        }
        return client.find_sent(**(asked | changes))

    assert lookup(text="Other text") is None
    assert lookup(subject="Other") is None
    assert lookup(target=Target(recipients=[other])) is None
    assert lookup(since=datetime.now(UTC) + timedelta(minutes=1)) is None
    query = fake.requests_to("/Messages", "GET")[0].query
    assert query["createdAt"][0].startswith(">=")
    assert query["createdAt"][0].endswith("Z")
    if fake.generation == CORE_V1:
        assert query["isOwn"] == ["true"]
    else:
        assert query["createdBy"] == [fake.address]
    assert_all_valid(fake)


# --- download ----------------------------------------------------------------------------------


def test_downloads_an_attachment_with_a_non_latin_name(
    fake: FakeConnector, client: EnmeshedClient
) -> None:
    data = bytes(range(256)) * 300
    message = fake.receive_message(
        attachments=[("Prüfbericht_東京 (1).pdf", data, "application/pdf")]
    )
    sink = io.BytesIO()
    downloaded = client.download(ref=message["attachments"][0], sink=sink, max_bytes=len(data))
    assert downloaded.name == "Prüfbericht_東京 (1).pdf"
    assert downloaded.content_type == "application/pdf"
    assert downloaded.size == len(data)
    assert sink.getvalue() == data
    assert_all_valid(fake)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        (
            "attachment; filename=\"Pr?fbericht.pdf\"; filename*=UTF-8''Pr%C3%BCfbericht.pdf",
            "Prüfbericht.pdf",
        ),
        ("attachment; filename*=utf-8''%E6%9D%B1%E4%BA%AC.png", "東京.png"),
        ("attachment; filename*=iso-8859-1'de'%E4rger.txt", "ärger.txt"),
        ('attachment; filename="say \\"hi\\".txt"', 'say "hi".txt'),
        ("attachment; filename=plain.txt", "plain.txt"),
        ("inline", ""),
    ],
)
def test_content_disposition_filename(header: str, name: str) -> None:
    assert content_disposition_filename(header) == name


def test_refuses_a_file_declared_too_large_before_downloading(
    fake: FakeConnector, client: EnmeshedClient
) -> None:
    meta = fake.add_file("big.bin", b"x" * 2000, owner=fake.new_address())
    sink = io.BytesIO()
    with pytest.raises(PlatformError) as caught:
        client.download(ref=meta["id"], sink=sink, max_bytes=1000)
    assert caught.value.permanent
    assert caught.value.code == "file_too_large"
    assert fake.requests_to("/Download") == []
    assert sink.getvalue() == b""


def test_stops_a_download_that_grows_beyond_max_bytes(
    fake: FakeConnector, client: EnmeshedClient
) -> None:
    content = b"y" * (24 * 1024 * 1024)
    # The metadata lies: only the stream itself can tell.
    meta = fake.add_file("liar.bin", content, declared_size=10, owner=fake.new_address())
    sink = io.BytesIO()
    with pytest.raises(PlatformError) as caught:
        client.download(ref=meta["id"], sink=sink, max_bytes=100_000)
    assert caught.value.permanent
    assert caught.value.code == "file_too_large"
    assert len(sink.getvalue()) <= 100_000
    assert fake.bytes_sent[meta["id"]] < len(content)


# --- poll --------------------------------------------------------------------------------------


def test_the_first_poll_returns_everything_keyed_like_the_webhooks(
    fake: FakeConnector, client: EnmeshedClient
) -> None:
    first = fake.receive_message(subject="One", attachments=[("a.txt", b"a", "text/plain")])
    second = fake.receive_message(subject="Two")
    pending = fake.add_incoming_pending()

    polled = client.poll(cursor={})

    document = polled.document
    message_ids = [m["id"] for m in document["messages"]]
    assert sorted(message_ids) == sorted([first["id"], second["id"]])
    assert len(message_ids) == len(set(message_ids))
    assert pending["id"] in [r["id"] for r in document["relationships"]]
    polled_keys = keys(document)
    for message in (first, second):
        webhook = {"trigger": "transport.messageReceived", "data": fake.messages[message["id"]]}
        assert polled_keys[message["id"]] == keys(webhook)[message["id"]]
    webhook = {"trigger": "transport.relationshipChanged", "data": fake.relationship(pending["id"])}
    assert polled_keys[pending["id"]] == keys(webhook)[pending["id"]]

    assert polled.cursor["since"] == max(first["createdAt"], second["createdAt"])
    assert polled.cursor["known_pending"] == [pending["id"]]
    assert polled.state == {"api_version": fake.generation, "address": fake.address}
    assert fake.requests_to("/Account/Sync")[0].method == "POST"
    assert fake.requests_to("/Messages", "GET")[0].query == {}  # no cursor: everything
    assert fake.requests_to("/Relationships", "GET")[0].query == {"status": ["Pending"]}
    assert_all_valid(fake)


def test_polls_overlap_and_return_recent_messages_again_with_the_same_keys(
    fake: FakeConnector, client: EnmeshedClient
) -> None:
    now = datetime.now(UTC)
    old = fake.receive_message(subject="Old", created_at=now - timedelta(hours=1))
    recent = fake.receive_message(subject="Recent", created_at=now - timedelta(minutes=1))

    first = client.poll(cursor={})
    second = client.poll(cursor=first.cursor)

    assert first.cursor["since"] == recent["createdAt"]
    assert [m["id"] for m in second.document["messages"]] == [recent["id"]]
    assert keys(second.document)[recent["id"]] == keys(first.document)[recent["id"]]
    assert second.cursor == first.cursor
    asked = fake.requests_to("/Messages", "GET")[-1].query["createdAt"]
    assert asked == [">=" + iso(now - timedelta(minutes=6))]
    assert old["id"] not in keys(second.document)

    newer = fake.receive_message(subject="Newer")
    third = client.poll(cursor=second.cursor)
    assert newer["id"] in keys(third.document)
    assert third.cursor["since"] == newer["createdAt"]
    assert_all_valid(fake)


def test_a_poll_can_leave_syncing_to_the_connector(fake: FakeConnector) -> None:
    message = fake.receive_message()
    with make_client(fake, sync=False) as client:
        polled = client.poll(cursor={})
    assert message["id"] in keys(polled.document)
    assert fake.requests_to("/Account/Sync") == []
    assert_all_valid(fake)


def test_a_poll_without_news_keeps_the_cursor(fake: FakeConnector, client: EnmeshedClient) -> None:
    empty = client.poll(cursor={})
    assert empty.document is None
    assert empty.cursor == {}
    kept = client.poll(cursor={"since": "2025-01-01T00:00:00.000Z"})
    assert kept.document is None
    assert kept.cursor == {"since": "2025-01-01T00:00:00.000Z"}
    assert_all_valid(fake)


def test_a_poll_refreshes_relationships_known_to_be_pending(
    fake: FakeConnector, client: EnmeshedClient
) -> None:
    ours = fake.add_outgoing_pending()
    first = client.poll(cursor={})
    assert first.cursor["known_pending"] == [ours["id"]]

    fake.peer_decides(ours["id"], "accept")
    vanished = new_id("REL")
    second = client.poll(cursor=first.cursor | {"known_pending": [ours["id"], vanished]})

    relationships = {r["id"]: r for r in second.document["relationships"]}
    assert relationships[ours["id"]]["status"] == "Active"
    assert vanished not in relationships
    assert "known_pending" not in second.cursor
    assert [r.status for r in fake.rejected()] == [404]  # the vanished one, and only it


def test_a_poll_never_advances_on_an_error(fake: FakeConnector, client: EnmeshedClient) -> None:
    first = client.poll(cursor={})
    message = fake.receive_message(subject="While down")

    fake.down()
    with pytest.raises(PlatformError) as down:
        client.poll(cursor=first.cursor)
    assert not down.value.permanent
    fake.up()

    fake.fail_next(status=503, route="/Messages")  # fails halfway, after the sync
    with pytest.raises(PlatformError) as halfway:
        client.poll(cursor=first.cursor)
    assert not halfway.value.permanent

    again = client.poll(cursor=first.cursor)
    assert message["id"] in keys(again.document)


# --- decisions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "start", "incoming", "outcome"),
    [
        ("accept", "Pending", True, "Active"),
        ("reject", "Pending", True, "Rejected"),
        ("revoke", "Pending", False, "Revoked"),
        ("terminate", "Active", True, "Terminated"),
    ],
)
def test_decides_relationships(
    fake: FakeConnector,
    client: EnmeshedClient,
    decision: str,
    start: str,
    incoming: bool,
    outcome: str,
) -> None:
    relationship = fake.add_relationship(status=start, incoming=incoming)
    if decision == "terminate" and fake.generation == V1:
        with pytest.raises(PlatformError) as caught:
            client.decide(relationship_id=relationship["id"], change_id="", decision=decision)
        assert caught.value.permanent
        assert caught.value.code == "unsupported"
        assert fake.requests_to("/Terminate") == []
        return

    answer = client.decide(relationship_id=relationship["id"], change_id="", decision=decision)

    assert answer["trigger"] == "transport.relationshipChanged"
    assert answer["data"]["status"] == outcome
    assert answer["data"] == fake.relationship(relationship["id"])
    assert len(split(document=answer)) == 1
    put = fake.requests[-1]
    assert put.method == "PUT"
    if fake.generation == CORE_V1:
        assert put.path.endswith(f"/Relationships/{relationship['id']}/{decision.capitalize()}")
        assert put.body == b""
    else:
        change = fake.creation_change_id(relationship["id"])
        assert put.path.endswith(f"/Changes/{change}/{decision.capitalize()}")
        assert put.json() == {"content": {}}
    assert_all_valid(fake)


@pytest.mark.parametrize("decision", ["accept", "reject"])
def test_deciding_in_the_wrong_status_is_permanent(
    fake: FakeConnector, client: EnmeshedClient, decision: str
) -> None:
    relationship = fake.add_active_relationship()
    change = fake.creation_change_id(relationship["id"]) if fake.generation == V1 else ""
    with pytest.raises(PlatformError) as caught:
        client.decide(relationship_id=relationship["id"], change_id=change, decision=decision)
    assert caught.value.permanent
    assert caught.value.status == 400
    assert caught.value.code == WRONG_STATUS


def test_refuses_unknown_decisions_and_malformed_ids(
    fake: FakeConnector, client: EnmeshedClient
) -> None:
    for relationship_id, change_id, decision in [
        (new_id("REL"), "", "approve"),
        ("../Files/FIL", "", "accept"),
        # 7.x decides a relationship as a whole: the change id is not used there.
        *([(new_id("REL"), "RCH/../x", "accept")] if fake.generation == V1 else []),
    ]:
        with pytest.raises(PlatformError) as caught:
            client.decide(relationship_id=relationship_id, change_id=change_id, decision=decision)
        assert caught.value.permanent
    assert not any("/Relationships/" in r.path for r in fake.requests)


# --- templates and relationships -----------------------------------------------------------------


def test_creates_lists_and_renders_templates(fake: FakeConnector, client: EnmeshedClient) -> None:
    expires = datetime.now(UTC) + timedelta(days=7)
    template = client.create_template(
        expires_at=expires, content={"greeting": "Hallo"}, max_allocations=1
    )
    assert template["id"].startswith("RLT")
    assert template["expiresAt"] == iso(expires)
    if fake.generation == CORE_V1:
        assert template["maxNumberOfAllocations"] == 1
        assert template["content"] == {
            "@type": "ArbitraryRelationshipTemplateContent",
            "value": {"greeting": "Hallo"},
        }
    else:
        assert template["maxNumberOfRelationships"] == 1
        assert template["content"] == {"greeting": "Hallo"}
    assert template["id"] in [t["id"] for t in client.list_templates()]

    png = client.template_qr(template["id"])
    assert png.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", png[16:24])
    assert width == height > 0
    qr = fake.requests[-1]
    assert qr.headers["accept"] == "image/png"
    if fake.generation == CORE_V1:
        assert (qr.method, qr.path) == (
            "GET",
            f"{fake.prefix}/RelationshipTemplates/{template['id']}",
        )
    else:  # 1.x renders a QR code only for a token of the template
        assert qr.path == f"{fake.prefix}/RelationshipTemplates/Own/{template['id']}/Token"
    assert_all_valid(fake)


def test_gets_a_relationship(fake: FakeConnector, client: EnmeshedClient) -> None:
    relationship = fake.add_incoming_pending()
    assert client.get_relationship(relationship["id"]) == relationship
    with pytest.raises(PlatformError) as caught:
        client.get_relationship(new_id("REL"))
    assert caught.value.permanent
    assert caught.value.status == 404
    assert caught.value.code == NOT_FOUND


# --- failures ----------------------------------------------------------------------------------


def test_a_wrong_api_key_is_permanent_and_never_shown(fake: FakeConnector) -> None:
    wrong = "Not-The-Key-0123456789-abcdEF!"
    with make_client(fake, api_key=wrong) as client, pytest.raises(PlatformError) as caught:
        client.api_version()
    assert caught.value.permanent
    assert caught.value.status == 401
    assert caught.value.code == "error.connector.unauthorized"
    assert "Not-The-Key" not in str(caught.value)


def test_an_echoed_api_key_is_scrubbed_from_errors(fake: FakeConnector) -> None:
    fake.fail_next(status=400, code="error.runtime.validation", message=f"bad key {API_KEY}")
    with make_client(fake) as client, pytest.raises(PlatformError) as caught:
        client.api_version()
    assert API_KEY not in str(caught.value)
    assert API_KEY not in caught.value.message


def test_server_errors_are_transient(fake: FakeConnector, client: EnmeshedClient) -> None:
    fake.fail_next(status=500)
    with pytest.raises(PlatformError) as caught:
        client.api_version()
    assert not caught.value.permanent
    assert caught.value.status == 500
    assert caught.value.code == "error.platform.unexpected"
    assert client.api_version() == fake.generation  # the next call passes


@pytest.mark.parametrize(("status", "retry_after"), [(429, 7.0), (408, None), (503, 2.5)])
def test_throttling_is_transient_and_says_when_to_retry(
    fake: FakeConnector, client: EnmeshedClient, status: int, retry_after: float | None
) -> None:
    fake.fail_next(status=status, code="error.connector.throttled", retry_after=retry_after)
    with pytest.raises(PlatformError) as caught:
        client.list_templates()
    assert not caught.value.permanent
    assert caught.value.status == status
    assert caught.value.retry_after == retry_after


def test_a_refused_connection_is_transient() -> None:
    config = ClientConfig(
        settings={"base_url": f"http://127.0.0.1:{free_port()}", "api_version": CORE_V1},
        credentials={"api_key": API_KEY},
    )
    with EnmeshedClient(config) as client, pytest.raises(PlatformError) as caught:
        client.list_templates()
    assert not caught.value.permanent
    assert API_KEY not in str(caught.value)


def test_a_dropped_connection_is_transient(fake: FakeConnector, client: EnmeshedClient) -> None:
    fake.drop_next()
    with pytest.raises(PlatformError) as caught:
        client.api_version()
    assert not caught.value.permanent


def test_a_timeout_is_transient(fake: FakeConnector) -> None:
    fake.delay_next(1.0)
    with (
        make_client(fake, timeout=httpx.Timeout(0.2)) as client,
        pytest.raises(PlatformError) as caught,
    ):
        client.api_version()
    assert not caught.value.permanent


@pytest.mark.parametrize(
    ("settings", "credentials"),
    [
        ({}, {"api_key": API_KEY}),
        ({"base_url": "http://127.0.0.1:1"}, {}),
        ({"base_url": "http://127.0.0.1:1", "api_version": "v2"}, {"api_key": API_KEY}),
        ({"base_url": "http://127.0.0.1:1"}, {"api_key": "Schlüssel"}),
    ],
)
def test_a_broken_configuration_is_permanent(
    settings: dict[str, str], credentials: dict[str, str]
) -> None:
    with pytest.raises(PlatformError) as caught:
        EnmeshedClient(ClientConfig(settings=settings, credentials=credentials))
    assert caught.value.permanent


# --- the fake itself refuses what the real Connector refuses ---------------------------------


def raw(fake: FakeConnector, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request as written here, not by the client."""
    headers = {"X-API-KEY": API_KEY, "Accept": "application/json"} | kwargs.pop("headers", {})
    with httpx.Client(base_url=fake.base_url, verify=False) as http:  # noqa: S501 (plain http)
        return http.request(method, path, headers=headers, **kwargs)


def test_the_fake_answers_with_the_connector_envelopes(fake: FakeConnector) -> None:
    unauthorized = raw(fake, "GET", f"{fake.prefix}/Messages", headers={"X-API-KEY": "nope"})
    assert unauthorized.status_code == 401
    error = unauthorized.json()["error"]
    assert set(error) == {"id", "code", "message", "docs", "time"}
    assert error["id"].startswith("ERR")
    assert len(error["id"]) == 20
    assert error["time"].endswith("Z")

    assert raw(fake, "GET", f"{fake.prefix}/Nothing").status_code == 404
    assert raw(fake, "DELETE", f"{fake.prefix}/Messages").status_code == 405
    not_acceptable = raw(fake, "GET", f"{fake.prefix}/Messages", headers={"Accept": "text/html"})
    assert not_acceptable.status_code == 406
    assert not_acceptable.json()["error"]["code"] == "error.connector.http.notAcceptable"

    sync = raw(fake, "POST", f"{fake.prefix}/Account/Sync")
    if fake.generation == CORE_V1:
        assert sync.status_code == 204
        assert sync.content == b""
    else:
        assert sync.status_code == 200
        assert sync.json() == {"result": {"messages": [], "relationships": []}}


def test_the_fake_validates_bodies_per_generation(fake: FakeConnector) -> None:
    peer = fake.add_active_relationship()["peer"]
    mail = {"@type": "Mail", "to": [peer], "cc": [], "subject": "s", "body": "b"}
    without_format = raw(
        fake, "POST", f"{fake.prefix}/Messages", json={"recipients": [peer], "content": mail}
    )
    with_format = raw(
        fake,
        "POST",
        f"{fake.prefix}/Messages",
        json={"recipients": [peer], "content": mail | {"bodyFormat": "PlainText"}},
    )
    untitled = raw(fake, "POST", f"{fake.prefix}/Files/Own", files={"file": ("a.txt", b"a")})
    own_filter = raw(fake, "GET", f"{fake.prefix}/Messages", params={"isOwn": "true"})
    wrong_to = raw(
        fake,
        "POST",
        f"{fake.prefix}/Messages",
        json={"recipients": [peer], "content": mail | {"to": [fake.new_address()]}},
    )
    assert wrong_to.status_code == 400
    if fake.generation == CORE_V1:
        assert without_format.status_code == 400
        assert "bodyFormat" in without_format.json()["error"]["message"]
        assert with_format.status_code == 201
        assert untitled.status_code == 201  # 7.x needs only the file
        assert own_filter.status_code == 200
    else:
        assert without_format.status_code == 201
        assert with_format.status_code == 400  # 1.x Mail has no bodyFormat
        assert untitled.status_code == 400
        assert "title" in untitled.json()["error"]["message"]
        assert own_filter.status_code == 400  # 1.x messages have no isOwn
    for answer in (without_format, with_format, untitled, own_filter, wrong_to):
        if answer.status_code == 400:
            assert answer.json()["error"]["code"] == VALIDATION


def test_the_fake_filters_with_the_mini_language(fake: FakeConnector) -> None:
    now = datetime.now(UTC)
    old = fake.receive_message(subject="!old", created_at=now - timedelta(days=2))
    new = fake.receive_message(subject="new", created_at=now)

    def ids(**params: Any) -> list[str]:
        answer = raw(fake, "GET", f"{fake.prefix}/Messages", params=params)
        assert answer.status_code == 200, answer.text
        return sorted(m["id"] for m in answer.json()["result"])

    assert ids(createdAt=">=" + iso(now - timedelta(days=1))) == [new["id"]]
    assert ids(createdAt="<" + iso(now - timedelta(days=1))) == [old["id"]]
    assert ids(**{"content.subject": ["new", "other"]}) == [new["id"]]
    assert ids(**{"content.subject": "!new"}) == [old["id"]]
    assert ids(**{"content.subject": "^!o"}) == [old["id"]]
    assert ids(createdBy=old["createdBy"]) == [old["id"]]


def test_the_fake_qr_code_is_a_valid_png() -> None:
    png = qr_png("RLTexample")
    assert png.startswith(PNG_SIGNATURE)
    chunks = {}
    position = 8
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        tag = png[position + 4 : position + 8]
        chunks[tag] = png[position + 8 : position + 8 + length]
        crc = png[position + 8 + length : position + 12 + length]
        assert struct.unpack(">I", crc)[0] == zlib.crc32(tag + chunks[tag]) & 0xFFFFFFFF
        position += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (width * depth // 8 + 1)
    assert color == 0
    assert b"IEND" in chunks
