"""The Comapi client against the fake API space (tests/fakes/comapi.py): sessions, every
operation's request shape, the gap fill, errors and capabilities.

The fake refuses what the real API would refuse (wrong JWT claims, missing bearer tokens, bodies
of the wrong shape), so a happy path with nothing in ``fake.rejected()`` proves the requests are
valid. No database is involved.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import time_machine

from inbox.connectors.comapi import capabilities, make_client, split
from inbox.connectors.comapi.channel import MAX_FILE_SIZE
from inbox.connectors.comapi.client import (
    EVENTS_PAGE,
    SESSION_REFUSED,
    ComapiClient,
    clear_sessions,
    session_token,
)
from inbox.connectors.comapi.documents import parse
from inbox.connectors.contract import ChannelContext
from inbox.connectors.events import MessageUpserted
from inbox.connectors.outbound import ClientConfig, OutgoingFile, PlatformError, Target
from tests.fakes.comapi import JWT_SECRET, FakeComapi

CUSTOMER = "lena.fischer"
FAST = httpx.Timeout(0.5, connect=0.5)


@pytest.fixture(autouse=True)
def _fresh_sessions() -> Iterator[None]:
    clear_sessions()
    yield
    clear_sessions()


@pytest.fixture
def fake() -> Iterator[FakeComapi]:
    with FakeComapi() as api:
        yield api
        assert api.crashes == []


@pytest.fixture
def conversation(fake: FakeComapi) -> str:
    return fake.add_conversation(participants=[CUSTOMER])


@pytest.fixture
def client(fake: FakeComapi) -> Iterator[ComapiClient]:
    with new_client(fake) as made:
        yield made


def config_for(fake: FakeComapi, **overrides: Any) -> ClientConfig:
    settings = fake.settings(**overrides)
    secret = settings.pop("jwt_secret")
    return ClientConfig(settings=settings, credentials={"jwt_secret": secret} if secret else {})


def new_client(fake: FakeComapi, *, timeout: httpx.Timeout | None = None, **overrides: Any):
    return ComapiClient(config_for(fake, **overrides), timeout=timeout)


def to(conversation: str) -> Target:
    return Target(conversation_id=conversation)


def assert_all_valid(fake: FakeComapi) -> None:
    """The fake refused nothing, and every call past the session carried a bearer token."""
    assert [(r.method, r.path, r.status, r.body[:300]) for r in fake.rejected()] == []
    for record in fake.requests:
        if "/sessions" not in record.path and "/content/" not in record.path:
            assert record.headers.get("authorization", "").startswith("Bearer sess-")


def outgoing(name: str, data: bytes, content_type: str = "application/pdf") -> OutgoingFile:
    return OutgoingFile(
        name=name, content_type=content_type, size=len(data), stream=io.BytesIO(data)
    )


def parsed_messages(document: Any, profile_id: str) -> list[MessageUpserted]:
    """What the connector's own split and parse make of ``document`` (a frame or a list)."""
    context = ChannelContext(platform="comapi", settings={"profile_id": profile_id})
    events = []
    for item in split(document=document):
        events.extend(
            parse(
                event_name=item.event_name,
                payload=item.payload,
                envelope=item.envelope,
                context=context,
            )
        )
    return [e for e in events if isinstance(e, MessageUpserted)]


# --- sessions ------------------------------------------------------------------------------------


def test_a_session_is_opened_with_a_jwt_signed_over_the_nonce(
    fake: FakeComapi, client: ComapiClient
) -> None:
    token = client.session_token()

    start, opened = fake.requests
    assert (start.method, start.path) == ("GET", f"{fake.prefix}/sessions/start")
    assert (opened.method, opened.path) == ("POST", f"{fake.prefix}/sessions")
    body = opened.json()
    assert set(body) >= {"authenticationId", "authenticationToken", "deviceId", "platform"}
    header = jwt.get_unverified_header(body["authenticationToken"])
    assert header["alg"] == "HS256"
    claims = jwt.decode(
        body["authenticationToken"],
        JWT_SECRET,
        algorithms=["HS256"],
        audience=fake.audience,
        issuer=fake.issuer,
    )
    assert claims["sub"] == fake.profile_id
    assert claims["iat"] < claims["exp"] <= claims["iat"] + 600
    assert token in fake.sessions
    assert_all_valid(fake)


def test_the_session_token_is_cached_for_every_client_of_the_process(
    fake: FakeComapi, conversation: str
) -> None:
    with new_client(fake) as first, new_client(fake) as second:
        first.typing(target=to(conversation), active=True)
        second.typing(target=to(conversation), active=False)
        token = first.session_token()
        assert second.session_token() == token
    assert session_token(config_for(fake)) == token  # the socket's too
    assert fake.sessions_opened == 1
    assert len(fake.requests_to("/sessions/start")) == 1


def test_a_session_is_renewed_shortly_before_it_expires(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    first = client.session_token()
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=3400), tick=True):
        assert client.session_token() == first  # still well within the hour
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=3560), tick=True):
        # 40 s before Comapi would end it: a new one, before any call is refused.
        client.typing(target=to(conversation), active=True)
        assert client.session_token() != first
    assert fake.sessions_opened == 2
    assert [r for r in fake.requests if r.status == 401] == []


def test_a_refused_token_opens_a_new_session_and_the_call_is_made_once_more(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    old = client.session_token()
    fake.expire_sessions()

    client.typing(target=to(conversation), active=True)

    typing_calls = fake.requests_to("/typing")
    assert [r.status for r in typing_calls] == [401, 204]
    assert typing_calls[0].headers["authorization"] == f"Bearer {old}"
    assert typing_calls[1].headers["authorization"] != f"Bearer {old}"
    assert fake.sessions_opened == 2


def test_a_call_refused_twice_is_a_permanent_error(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    fake.fail_next(401, 2, route="/typing", code="Unauthorized", message="Denied")
    with pytest.raises(PlatformError) as caught:
        client.typing(target=to(conversation), active=True)
    assert caught.value.permanent
    assert caught.value.status == 401
    assert len(fake.requests_to("/typing")) == 2


@pytest.mark.parametrize(
    "wrong",
    [
        {"jwt_secret": "not-the-shared-secret-of-this-space-at-all"},
        {"jwt_issuer": "https://someone.else/"},
        {"jwt_audience": "https://another.audience/"},
    ],
)
def test_wrong_jwt_settings_are_a_refused_session(fake: FakeComapi, wrong: dict[str, str]) -> None:
    with new_client(fake, **wrong) as client, pytest.raises(PlatformError) as caught:
        client.session_token()
    error = caught.value
    assert error.permanent
    assert error.message == SESSION_REFUSED
    assert error.status == 401
    assert "not-the-shared-secret-of-this-space-at-all" not in str(error)
    assert fake.sessions == {}


def test_a_session_start_refused_with_403_is_a_refused_session(fake: FakeComapi) -> None:
    fake.fail_next(403, route="/sessions/start", code="Forbidden", message="API space disabled")
    with new_client(fake) as client, pytest.raises(PlatformError) as caught:
        client.session_token()
    assert caught.value.permanent
    assert caught.value.message == SESSION_REFUSED


def test_a_session_service_failing_is_transient(fake: FakeComapi) -> None:
    fake.fail_next(503, route="/sessions", retry_after=7)
    with new_client(fake) as client, pytest.raises(PlatformError) as caught:
        client.session_token()
    assert not caught.value.permanent
    assert caught.value.retry_after == 7


def test_channels_signing_differently_do_not_share_a_session(fake: FakeComapi) -> None:
    good = session_token(config_for(fake))
    with pytest.raises(PlatformError, match="refused the session"):
        session_token(config_for(fake, jwt_secret="another-secret-for-the-same-space-0000"))
    assert session_token(config_for(fake)) == good


def test_session_token_renew_drops_the_cached_token(fake: FakeComapi) -> None:
    config = config_for(fake)
    first = session_token(config)
    assert session_token(config) == first
    renewed = session_token(config, renew=True)
    assert renewed != first
    assert session_token(config) == renewed
    assert fake.sessions_opened == 2


def test_the_client_refuses_to_start_without_its_settings(fake: FakeComapi) -> None:
    with pytest.raises(PlatformError, match="API space id"):
        new_client(fake, api_space_id="")
    with pytest.raises(PlatformError, match="jwt_secret"):
        new_client(fake, jwt_secret="")


# --- sending ----------------------------------------------------------------------------------


def test_send_posts_one_text_part_and_returns_the_message_id(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    sent = client.send(target=to(conversation), text="Your refund is on its way. ✓")

    (post,) = fake.requests_to(f"/conversations/{conversation}/messages", "POST")
    assert post.json() == {
        "parts": [{"type": "text/plain", "data": "Your refund is on its way. ✓"}]
    }
    (message,) = fake.messages_of(conversation)
    assert sent.platform_id == message["id"]
    assert sent.sequence == message["sentEventId"] == 0
    # The echo (the socket's frame) is our message, outgoing, under the same id.
    (echo,) = parsed_messages(fake.events_of(conversation), fake.profile_id)
    assert echo.message_id == sent.platform_id
    assert echo.direction == "out"
    assert echo.text == "Your refund is on its way. ✓"
    assert_all_valid(fake)


def test_an_uploaded_file_is_sent_as_a_part_with_its_url(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    uploaded = client.upload(file=outgoing("Rückgabe Formular.pdf", b"%PDF-1.7 fake"))

    (upload,) = fake.requests_to("/content", "POST")
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert b'name="file"' in upload.body
    assert uploaded.platform_id == uploaded.document["url"]
    assert uploaded.platform_id.startswith(fake.base_url)

    sent = client.send(target=to(conversation), text="The form", attachments=[uploaded.platform_id])

    (post,) = fake.requests_to(f"/conversations/{conversation}/messages", "POST")
    assert post.json()["parts"] == [
        {"type": "text/plain", "data": "The form"},
        {
            "type": "application/pdf",
            "url": uploaded.platform_id,
            "name": "Rückgabe Formular.pdf",
            "size": len(b"%PDF-1.7 fake"),
        },
    ]
    # The parse side keys the echo's attachment by its url: the very attachment uploaded.
    (echo,) = parsed_messages(fake.events_of(conversation), fake.profile_id)
    assert echo.message_id == sent.platform_id
    assert [a.external_id for a in echo.attachments] == [uploaded.platform_id]
    assert echo.attachments[0].filename == "Rückgabe Formular.pdf"
    assert_all_valid(fake)


def test_a_file_uploaded_by_another_process_is_described_from_its_url(
    fake: FakeComapi, conversation: str
) -> None:
    with new_client(fake) as uploader:
        url = uploader.upload(file=outgoing("photo.jpg", b"\xff\xd8jpeg", "image/jpeg")).platform_id
    with new_client(fake) as retry:
        retry.send(target=to(conversation), text="", attachments=[url])

    (post,) = fake.requests_to(f"/conversations/{conversation}/messages", "POST")
    assert post.json()["parts"] == [{"type": "image/jpeg", "url": url, "name": "photo.jpg"}]
    assert_all_valid(fake)


class ChunkedOnly(io.BytesIO):
    """A stream that fails the test if anyone reads it whole."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        assert size is not None, "the upload read the whole file at once"
        assert size > 0, "the upload read the whole file at once"
        self.reads.append(size)
        return super().read(size)


def test_uploads_stream_the_file_in_chunks(fake: FakeComapi, client: ComapiClient) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB
    stream = ChunkedOnly(data)
    file = OutgoingFile(name="big.bin", content_type="", size=len(data), stream=stream)

    uploaded = client.upload(file=file)

    assert len(stream.reads) > 1
    name, media_type, stored = fake.content[uploaded.document["id"]]
    assert (name, media_type, stored) == ("big.bin", "application/octet-stream", data)


def test_an_upload_refused_with_401_is_sent_again_from_the_start(
    fake: FakeComapi, client: ComapiClient
) -> None:
    client.session_token()
    fake.expire_sessions()
    uploaded = client.upload(file=outgoing("notes.txt", b"all of it", "text/plain"))
    assert [r.status for r in fake.requests_to("/content", "POST")] == [401, 200]
    assert fake.content[uploaded.document["id"]][2] == b"all of it"


class OneWay(io.RawIOBase):
    """A stream that cannot be rewound (a pipe)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


def test_an_upload_that_cannot_be_rewound_is_retried_later_after_a_401(
    fake: FakeComapi, client: ComapiClient
) -> None:
    client.session_token()
    fake.expire_sessions()
    file = OutgoingFile(name="pipe.txt", content_type="text/plain", size=4, stream=OneWay(b"data"))
    with pytest.raises(PlatformError) as caught:
        client.upload(file=file)
    assert (caught.value.permanent, caught.value.status) == (False, None)
    assert [r.status for r in fake.requests_to("/content", "POST")] == [401]
    # The refused token is gone: the next attempt opens a session first.
    client.upload(file=outgoing("pipe.txt", b"data", "text/plain"))
    assert fake.sessions_opened == 2


def test_a_file_too_large_for_comapi_is_refused_for_good() -> None:
    with (
        FakeComapi(max_content_size=10) as fake,
        new_client(fake) as client,
        pytest.raises(PlatformError) as caught,
    ):
        client.upload(file=outgoing("big.pdf", b"x" * 11))
    assert caught.value.permanent
    assert caught.value.status == 413


def test_a_message_with_neither_text_nor_files_is_not_sent(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    with pytest.raises(PlatformError, match="needs a text or a file") as caught:
        client.send(target=to(conversation), text="")
    assert caught.value.permanent
    assert fake.requests == []


@pytest.mark.parametrize("conversation_id", ["", ".", "..", "bad\nid", "x" * 300])
def test_conversation_ids_that_cannot_be_one_path_segment_are_refused(
    fake: FakeComapi, client: ComapiClient, conversation_id: str
) -> None:
    with pytest.raises(PlatformError) as caught:
        client.send(target=to(conversation_id), text="hello")
    assert caught.value.permanent
    assert fake.requests == []


def test_a_conversation_id_is_encoded_as_one_segment(
    fake: FakeComapi, client: ComapiClient
) -> None:
    conversation = fake.add_conversation("orders/55120 ?#", participants=[CUSTOMER])
    client.send(target=to(conversation), text="hello")
    assert fake.messages_of(conversation)[0]["parts"][0]["data"] == "hello"
    assert_all_valid(fake)


def test_sending_to_an_unknown_conversation_is_permanent_with_comapis_words(
    fake: FakeComapi, client: ComapiClient
) -> None:
    with pytest.raises(PlatformError) as caught:
        client.send(target=to("no-such-conversation"), text="hello")
    error = caught.value
    assert (error.permanent, error.status, error.code) == (True, 404, "NotFound")
    assert "no-such-conversation not found" in error.message


def test_sending_where_we_are_no_participant_is_forbidden(
    fake: FakeComapi, client: ComapiClient
) -> None:
    conversation = fake.add_conversation(participants=[CUSTOMER])
    del fake.conversations[conversation].participants[fake.profile_id]
    with pytest.raises(PlatformError) as caught:
        client.send(target=to(conversation), text="hello")
    assert (caught.value.permanent, caught.value.status) == (True, 403)


# --- finding a send whose answer was lost ------------------------------------------------------


def test_find_sent_finds_our_message_with_the_same_text_and_files(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    url = client.upload(file=outgoing("a.pdf", b"pdf")).platform_id
    sent = client.send(target=to(conversation), text="Line one\nline two", attachments=[url])

    with new_client(fake) as retry:
        found = retry.find_sent(
            target=to(conversation),
            text="Line one\nline two",
            subject="",
            since=since,
            attachments=[url],
        )
        assert found is not None
        assert (found.platform_id, found.sequence) == (sent.platform_id, sent.sequence)
        assert (
            retry.find_sent(
                target=to(conversation), text="Line one", subject="", since=since, attachments=[url]
            )
            is None
        )
        assert (
            retry.find_sent(
                target=to(conversation), text="Line one\nline two", subject="", since=since
            )
            is None
        )
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert (
            retry.find_sent(
                target=to(conversation),
                text="Line one\nline two",
                subject="",
                since=later,
                attachments=[url],
            )
            is None
        )
    (listing, *_) = fake.requests_to(f"/conversations/{conversation}/messages", "GET")
    assert listing.query["limit"] == ["100"]
    assert_all_valid(fake)


def test_find_sent_ignores_the_same_text_from_someone_else(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    fake.add_message(conversation, "Thanks!", sender=CUSTOMER)
    assert (
        client.find_sent(target=to(conversation), text="Thanks!", subject="", since=since) is None
    )


def test_find_sent_pages_back_through_newer_messages(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    sent = client.send(target=to(conversation), text="the one")
    for number in range(150):
        fake.add_message(conversation, f"chatter {number}", sender=CUSTOMER, push=False)

    found = client.find_sent(target=to(conversation), text="the one", subject="", since=since)

    assert found is not None
    assert found.platform_id == sent.platform_id
    pages = fake.requests_to(f"/conversations/{conversation}/messages", "GET")
    assert [r.query.get("from") for r in pages] == [None, ["50"]]


# --- receipts and typing ------------------------------------------------------------------------


def test_mark_read_posts_a_read_status_update(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    first = fake.add_message(conversation, "one", sender=CUSTOMER)["payload"]["messageId"]
    second = fake.add_message(conversation, "two", sender=CUSTOMER)["payload"]["messageId"]

    client.mark_read(target=to(conversation), messages=[first, second, first])

    (post,) = fake.requests_to("/messages/statusupdates", "POST")
    (status,) = post.json()
    assert status["status"] == "read"
    assert status["messageIds"] == [first, second]
    assert datetime.fromisoformat(status["timestamp"]) > datetime.now(UTC) - timedelta(minutes=1)
    assert status["timestamp"].endswith("Z")
    reads = [e for e in fake.events_of(conversation) if e["name"] == "conversationMessage.read"]
    assert [e["payload"]["messageId"] for e in reads] == [first, second]
    assert_all_valid(fake)


def test_many_receipts_go_out_in_batches(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    ids = [
        fake.add_message(conversation, str(n), sender=CUSTOMER, push=False)["payload"]["messageId"]
        for n in range(150)
    ]
    client.mark_read(target=to(conversation), messages=ids)
    (post,) = fake.requests_to("/messages/statusupdates", "POST")
    assert [len(s["messageIds"]) for s in post.json()] == [100, 50]
    assert_all_valid(fake)


def test_no_receipt_is_sent_for_no_messages(fake: FakeComapi, client: ComapiClient) -> None:
    client.mark_read(target=to("anything"), messages=[])
    assert fake.requests == []


def test_typing_on_and_off(fake: FakeComapi, client: ComapiClient, conversation: str) -> None:
    client.typing(target=to(conversation), active=True)
    client.typing(target=to(conversation), active=False)
    calls = fake.requests_to(f"/conversations/{conversation}/typing")
    assert [(r.method, r.status, r.body) for r in calls] == [
        ("POST", 204, b""),
        ("DELETE", 204, b""),
    ]
    assert_all_valid(fake)


# --- downloads -----------------------------------------------------------------------------------


def test_download_streams_a_file_of_the_api_host(fake: FakeComapi, client: ComapiClient) -> None:
    data = b"\x89PNG" + bytes(200_000)
    url = client.upload(file=outgoing("scan 1.png", data, "image/png")).platform_id
    sink = io.BytesIO()

    downloaded = client.download(ref=url, sink=sink, max_bytes=len(data))

    assert sink.getvalue() == data
    assert (downloaded.name, downloaded.content_type, downloaded.size) == (
        "scan 1.png",
        "image/png",
        len(data),
    )
    # Content is public: the download carries no session token.
    (get,) = fake.requests_to("/scan%201.png", "GET")
    assert "authorization" not in get.headers


def test_a_download_beyond_max_bytes_is_refused_for_good(
    fake: FakeComapi, client: ComapiClient
) -> None:
    url = client.upload(file=outgoing("big.bin", bytes(100_000))).platform_id
    sink = io.BytesIO()
    with pytest.raises(PlatformError) as caught:
        client.download(ref=url, sink=sink, max_bytes=99_999)
    assert (caught.value.permanent, caught.value.code) == (True, "file_too_large")
    assert len(sink.getvalue()) <= 99_999


@pytest.mark.parametrize(
    "ref",
    [
        "https://evil.example/apispaces/x/content/1/a.png",
        "http://127.0.0.2:{port}/apispaces/x/content/1/a.png",
        "http://127.0.0.1:1/apispaces/x/content/1/a.png",
        "https://127.0.0.1:{port}/apispaces/x/content/1/a.png",
        "file:///etc/passwd",
        "not a url at all",
    ],
)
def test_downloads_never_leave_the_configured_host(
    fake: FakeComapi, client: ComapiClient, ref: str
) -> None:
    with pytest.raises(PlatformError) as caught:
        client.download(ref=ref.format(port=fake.port), sink=io.BytesIO(), max_bytes=1000)
    assert (caught.value.permanent, caught.value.code) == (True, "foreign_url")
    assert fake.requests == []


def test_a_missing_file_is_a_permanent_error(fake: FakeComapi, client: ComapiClient) -> None:
    url = f"{fake.base_url}{fake.prefix}/content/0000/gone.pdf"
    with pytest.raises(PlatformError) as caught:
        client.download(ref=url, sink=io.BytesIO(), max_bytes=1000)
    assert (caught.value.permanent, caught.value.status) == (True, 404)


# --- the gap fill ---------------------------------------------------------------------------------


def test_poll_fetches_the_events_after_the_cursor_in_the_sockets_shape(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    seen = fake.add_message(conversation, "seen by the socket", sender=CUSTOMER)
    missed = fake.add_message(conversation, "missed", sender=CUSTOMER, push=False)
    receipt = fake.add_receipt(
        conversation, missed["payload"]["messageId"], profile_id=CUSTOMER, status="delivered"
    )

    polled = client.poll(cursor={"conversations": {conversation: seen["conversationEventId"]}})

    assert polled.document == [missed, receipt]
    assert polled.cursor == {"conversations": {conversation: receipt["conversationEventId"]}}
    (events,) = fake.requests_to(f"/conversations/{conversation}/events")
    assert events.query == {"from": ["1"], "limit": [str(EVENTS_PAGE)]}
    # The way in keys them by eventId: the socket's copy of a frame is the same event.
    keys = [item.dedup_key for item in split(document=polled.document)]
    assert keys == [missed["eventId"], receipt["eventId"]]
    assert split(document=seen)[0].dedup_key == seen["eventId"]
    (message,) = parsed_messages(polled.document, fake.profile_id)
    assert (message.text, message.sequence) == ("missed", 1)
    assert_all_valid(fake)


def test_poll_pages_until_a_short_page(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    for number in range(250):
        fake.add_message(conversation, f"m{number}", sender=CUSTOMER, push=False)

    polled = client.poll(cursor={"conversations": {conversation: -1}})

    assert len(polled.document) == 250
    assert polled.cursor["conversations"] == {conversation: 249}
    pages = fake.requests_to(f"/conversations/{conversation}/events")
    assert [r.query["from"] for r in pages] == [["0"], ["100"], ["200"]]


def test_poll_keeps_quiet_conversations_and_answers_no_document_without_news(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    quiet = fake.add_conversation(participants=[CUSTOMER])
    fake.add_message(quiet, "old", sender=CUSTOMER)
    cursor = {"conversations": {conversation: -1, quiet: 0}}

    polled = client.poll(cursor=cursor)

    assert polled.document is None
    assert polled.cursor == {"conversations": {conversation: -1, quiet: 0}}
    assert client.poll(cursor={}).cursor == {"conversations": {}}


def test_a_conversation_gone_from_comapi_leaves_the_cursor(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    fake.add_message(conversation, "still here", sender=CUSTOMER)

    polled = client.poll(cursor={"conversations": {conversation: -1, "deleted-one": 4}})

    assert polled.cursor["conversations"] == {conversation: 0}
    assert set(polled.cursor["gone"]) == {"deleted-one"}
    assert len(polled.document) == 1
    # Asked again later, it stays gone until something puts it back in the cursor.
    again = client.poll(cursor=polled.cursor)
    assert again.cursor["gone"] == polled.cursor["gone"]


def test_a_failing_conversation_fails_the_gap_fill(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    fake.fail_next(502, route="/events", retry_after=3)
    with pytest.raises(PlatformError) as caught:
        client.poll(cursor={"conversations": {conversation: -1}})
    assert (caught.value.permanent, caught.value.retry_after) == (False, 3)


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "permanent"), [(400, True), (409, True), (408, False), (429, False), (500, False)]
)
def test_statuses_map_to_permanent_or_transient(
    fake: FakeComapi, client: ComapiClient, conversation: str, status: int, permanent: bool
) -> None:
    fake.fail_next(status, route="/messages", code="Code", message=f"status {status}")
    with pytest.raises(PlatformError) as caught:
        client.send(target=to(conversation), text="hello")
    assert (caught.value.permanent, caught.value.status) == (permanent, status)
    assert caught.value.message == f"status {status}"


def test_retry_after_as_an_http_date(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    when = (datetime.now(UTC) + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    fake.fail_next(503, route="/typing", retry_after=when)
    with pytest.raises(PlatformError) as caught:
        client.typing(target=to(conversation), active=True)
    assert not caught.value.permanent
    assert 80 < (caught.value.retry_after or 0) <= 90


def test_validation_errors_name_the_property(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    fake.fail_next(
        400,
        route="/messages",
        code="ValidationFailed",
        message="The request is invalid",
        validation=[("parts[0].data", "is too long")],
    )
    with pytest.raises(PlatformError) as caught:
        client.send(target=to(conversation), text="x" * 10)
    assert caught.value.permanent
    assert caught.value.code == "ValidationFailed"
    assert caught.value.message == "The request is invalid; parts[0].data: is too long"


def test_a_slow_answer_is_a_transient_timeout(fake: FakeComapi, conversation: str) -> None:
    with new_client(fake, timeout=FAST) as client:
        client.session_token()
        fake.delay_next(1.5)
        with pytest.raises(PlatformError, match="did not answer in time") as caught:
            client.typing(target=to(conversation), active=True)
    assert not caught.value.permanent


def test_an_unreachable_api_is_transient(fake: FakeComapi) -> None:
    fake.down()
    with new_client(fake, timeout=FAST) as client, pytest.raises(PlatformError) as caught:
        client.session_token()
    assert not caught.value.permanent
    assert "cannot reach Comapi" in caught.value.message


def test_an_answer_that_is_not_json_is_transient(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    fake.answer_next(200, b"<html>maintenance</html>", content_type="text/html", route="/messages")
    with pytest.raises(PlatformError) as caught:
        client.send(target=to(conversation), text="hello")
    assert (caught.value.permanent, caught.value.code) == (False, "invalid_response")


def test_errors_never_show_the_secret_or_the_token(fake: FakeComapi, conversation: str) -> None:
    with new_client(fake) as client:
        token = client.session_token()
        fake.fail_next(400, route="/typing", message=f"bad {token} and {JWT_SECRET}")
        with pytest.raises(PlatformError) as caught:
            client.typing(target=to(conversation), active=True)
        assert token not in str(caught.value)
        assert JWT_SECRET not in str(caught.value)
        assert "***" in caught.value.message
        assert client.state() == {}


# --- capabilities and the client factory -----------------------------------------------------


FULL = {
    "api_space_id": "space",
    "profile_id": "inbox.desk",
    "jwt_issuer": "issuer",
    "jwt_audience": "audience",
}


def test_a_fully_configured_channel_can_do_what_comapi_offers() -> None:
    found = capabilities(settings=FULL, secrets={"jwt_secret"})
    assert (found.reply, found.files, found.read_receipts, found.typing, found.poll) == (
        True,
        True,
        True,
        True,
        True,
    )
    assert found.max_file_size == MAX_FILE_SIZE
    assert (found.close, found.subject, found.decide, found.inline_files) == (False,) * 4
    assert found.why_not == ""


def test_the_file_size_and_gap_fill_follow_the_settings() -> None:
    found = capabilities(
        settings={**FULL, "max_file_size": 2048, "poll_interval": 0}, secrets={"jwt_secret"}
    )
    assert found.max_file_size == 2048
    assert not found.poll
    assert found.reply


@pytest.mark.parametrize(
    ("settings", "secrets", "named"),
    [
        (
            {},
            set(),
            "the API space id, the profile id, the JWT issuer, the JWT audience and the JWT secret",
        ),
        ({**FULL, "jwt_issuer": ""}, {"jwt_secret"}, "needs the JWT issuer of"),
        (FULL, set(), "needs the JWT secret of"),
        ({**FULL, "profile_id": "  "}, set(), "the profile id and the JWT secret"),
    ],
)
def test_a_partly_configured_channel_says_what_is_missing(
    settings: dict[str, Any], secrets: set[str], named: str
) -> None:
    found = capabilities(settings=settings, secrets=secrets)
    assert not any((found.reply, found.files, found.read_receipts, found.typing, found.poll))
    assert named in found.why_not
    assert found.why_not.startswith("Replying needs ")
    assert found.why_not.endswith(".")


def test_make_client_builds_a_comapi_client_with_the_timeout_setting(fake: FakeComapi) -> None:
    config = config_for(fake, timeout=1)
    client = make_client(
        config=ClientConfig(settings={**config.settings}, credentials=config.credentials)
    )
    try:
        assert isinstance(client, ComapiClient)
        assert client._http.timeout.read == 1.0
    finally:
        client.close()


def test_documents_the_client_returns_are_json(
    fake: FakeComapi, client: ComapiClient, conversation: str
) -> None:
    fake.add_message(conversation, "hi", sender=CUSTOMER)
    polled = client.poll(cursor={"conversations": {conversation: -1}})
    assert json.loads(json.dumps(polled.document)) == polled.document
    assert json.loads(json.dumps(polled.cursor)) == polled.cursor
