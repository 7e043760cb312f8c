"""The SCALAR messaging client against the fake SCALAR (token endpoint + messaging API).

Every test talks to a real local HTTP server that refuses what SCALAR would refuse (see
:mod:`tests.fakes.scalar`), so a send that the fake accepted with no refused request proves the
request was well formed. No database is involved.
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine

from inbox.choices import Direction, Step
from inbox.connectors import scalar as connector
from inbox.connectors.contract import ChannelContext
from inbox.connectors.events import MessageUpserted
from inbox.connectors.outbound import ClientConfig, OutgoingFile, PlatformError, Target
from inbox.connectors.registry import get_connector
from inbox.connectors.scalar.channel import FILE_TYPES, MAX_FILE_SIZE
from inbox.connectors.scalar.client import RENEW_BEFORE, SEND_PATH, ScalarClient, clear_token_cache
from tests.fakes.scalar import (
    CLIENT_SECRET,
    SEND,
    TOKEN,
    USER_ID,
    FakeScalar,
    problem,
    statuses_of,
)

SEND_FILES = Path(__file__).parent / "fixtures" / "scalar" / "send"
PDF = SEND_FILES / "delivery_note_2026-0512.pdf"
JPEG = SEND_FILES / "trailer_seal.jpg"
PNG = SEND_FILES / "dock_3_map.png"
FAST = httpx.Timeout(0.3)


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    """The cache is per process: every test starts and ends without cached tokens."""
    clear_token_cache()
    yield
    clear_token_cache()


@pytest.fixture
def fake() -> Iterator[FakeScalar]:
    with FakeScalar() as server:
        yield server
        assert server.crashes == []


@pytest.fixture
def driver(fake: FakeScalar) -> str:
    return fake.add_driver()


@pytest.fixture
def client(fake: FakeScalar) -> Iterator[ScalarClient]:
    with make_client(fake) as made:
        yield made


def make_client(
    fake: FakeScalar,
    *,
    credentials: dict[str, str] | None = None,
    timeout: httpx.Timeout | None = None,
    **settings: Any,
) -> ScalarClient:
    config = ClientConfig(
        settings=fake.settings(**settings),
        credentials=fake.credentials() if credentials is None else credentials,
    )
    return ScalarClient(config, timeout=timeout)


def chat(fake: FakeScalar, driver: str) -> Target:
    """A one-to-one chat as the inbox hands it over: ``<user>:<driver>``, the driver to send to."""
    return Target(
        conversation_id=f"{fake.user_id}:{driver}",
        recipients=[driver],
        participants=[(fake.user_id, "User"), (driver, "Driver")],
    )


def outgoing(path: Path, content_type: str, name: str | None = None) -> OutgoingFile:
    data = path.read_bytes()
    return OutgoingFile(
        name=path.name if name is None else name,
        content_type=content_type,
        size=len(data),
        stream=io.BytesIO(data),
    )


def assert_all_valid(fake: FakeScalar) -> None:
    """The fake refused nothing, and every send carried a token it had issued."""
    assert [(r.route, r.status, r.body[:200]) for r in fake.rejected()] == []
    for record in fake.requests_to(SEND):
        scheme, _, token = record.headers["authorization"].partition(" ")
        assert scheme == "Bearer"
        assert token in fake.tokens
    for record in fake.requests:
        assert record.headers["accept"] == "application/json"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- sending -----------------------------------------------------------------------------------


def test_sends_a_text_as_multipart_with_the_documented_fields(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    sent = client.send(target=chat(fake, driver), text="Please confirm ETA at depot Gent")

    [message] = fake.messages
    assert sent.platform_id == message.message_id
    assert sent.sent_at == message.sent_at
    assert sent.document is None  # the message.sent echo is what the way in stores
    assert (message.sender, message.recipient) == (USER_ID, driver)
    assert message.content_type == "text"
    assert message.text == "Please confirm ETA at depot Gent"
    token_request, send_request = fake.requests
    assert token_request.json() == {
        "clientId": fake.client_id,
        "clientSecret": CLIENT_SECRET,
        "audience": "COMAPI",
    }
    assert send_request.path.endswith(SEND_PATH)
    assert send_request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert send_request.fields == {
        "senderId": USER_ID,
        "recipientId": driver,
        "conversationType": "chat",
        "contentType": "text",
        "content": "Please confirm ETA at depot Gent",
    }
    assert_all_valid(fake)


def test_non_ascii_text_arrives_unchanged(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    text = "Grüße aus Gent, Tor 3 frei 🚛\nBitte „Ladung prüfen“ 東京"
    client.send(target=chat(fake, driver), text=text)
    assert fake.messages[0].text == text
    assert_all_valid(fake)


@pytest.mark.parametrize(
    ("path", "media_type", "content_type"),
    [(JPEG, "image/jpeg", "image"), (PNG, "image/png", "image"), (PDF, "application/pdf", "file")],
)
def test_sends_one_image_or_pdf_as_the_file_part(
    fake: FakeScalar,
    client: ScalarClient,
    driver: str,
    path: Path,
    media_type: str,
    content_type: str,
) -> None:
    sent = client.send(target=chat(fake, driver), text="", files=[outgoing(path, media_type)])

    [message] = fake.messages
    assert sent.platform_id == message.message_id
    assert message.content_type == content_type
    assert message.file_bytes == path.read_bytes()
    assert message.file_name == path.name
    assert message.file_type == media_type
    assert message.text is None
    record = fake.requests_to(SEND)[0]
    assert "content" not in record.fields  # a file message carries no text
    assert record.fields["contentType"] == content_type
    assert_all_valid(fake)


def test_a_jpg_alias_goes_as_jpeg_and_a_nameless_file_gets_a_name(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    client.send(target=chat(fake, driver), text="", files=[outgoing(JPEG, "image/jpg", "")])
    client.send(
        target=chat(fake, driver), text=" ", files=[outgoing(PDF, "Application/PDF; x=y", "")]
    )
    assert [(m.file_type, m.file_name) for m in fake.messages] == [
        ("image/jpeg", "image.jpg"),
        ("application/pdf", "file.pdf"),
    ]
    assert_all_valid(fake)


class _Unsized(io.RawIOBase):
    """A stream of unknown length that cannot seek, noting each read's size."""

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


def unsized_pdf(padding: int = 256 * 1024) -> tuple[bytes, OutgoingFile, _Unsized]:
    data = PDF.read_bytes() + b"\n%" + b"x" * padding
    stream = _Unsized(data)
    file = OutgoingFile(
        name="long.pdf", content_type="application/pdf", size=len(data), stream=stream
    )
    return data, file, stream


def test_streams_a_file_of_unknown_length_in_chunks(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    data, file, stream = unsized_pdf()
    client.send(target=chat(fake, driver), text="", files=[file])
    assert fake.messages[0].file_bytes == data
    assert max(stream.reads) < len(data)  # read in chunks, never whole
    assert fake.requests_to(SEND)[0].headers["transfer-encoding"] == "chunked"
    assert_all_valid(fake)


def test_uses_the_configured_field_names() -> None:
    with FakeScalar(sender_field="fromUserId", recipient_field="toUserId") as fake:
        driver = fake.add_driver()
        with make_client(fake) as client:
            client.send(target=chat(fake, driver), text="hello")
        assert fake.requests_to(SEND)[0].fields["toUserId"] == driver
        assert_all_valid(fake)

        # A channel left on the defaults is refused by the platform, naming what it missed.
        with (
            make_client(fake, sender_field="", recipient_field="") as client,
            pytest.raises(PlatformError) as caught,
        ):
            client.send(target=chat(fake, driver), text="hello")
    assert caught.value.permanent
    assert caught.value.status == 400
    assert "fromUserId: The fromUserId field is required." in caught.value.message
    assert "senderId: Unknown field." in caught.value.message
    assert len(fake.messages) == 1


@pytest.mark.parametrize("answer", ["messageId", "id", "nested"])
def test_reads_the_message_id_from_each_answer_shape(driver: str, answer: str) -> None:
    with FakeScalar(answer=answer) as fake:
        fake.add_driver(driver)
        with make_client(fake) as client:
            sent = client.send(target=chat(fake, driver), text="hi")
    assert sent.platform_id == fake.messages[0].message_id
    if answer == "id":
        assert sent.sent_at is None  # that answer names no time
    else:
        assert sent.sent_at == fake.messages[0].sent_at


@pytest.mark.parametrize("body", [{"status": "Accepted"}, {"messageId": ""}, b"OK", None])
def test_an_accepted_send_without_a_message_id_is_not_retried(
    fake: FakeScalar, client: ScalarClient, driver: str, body: Any
) -> None:
    fake.answer_next(200, body, route=SEND)
    with pytest.raises(PlatformError) as caught:
        client.send(target=chat(fake, driver), text="hi")
    # It was probably sent: a retry could send it twice, so a person decides.
    assert caught.value.permanent
    assert caught.value.code == "invalid_response"
    assert "may have been sent" in caught.value.message


def test_a_messaging_url_ending_in_v1_is_not_doubled(fake: FakeScalar, driver: str) -> None:
    with make_client(fake, messaging_url=fake.messaging_url + "/v1/") as client:
        client.send(target=chat(fake, driver), text="hi")
    assert fake.requests_to(SEND)[0].path.endswith(SEND_PATH)
    assert_all_valid(fake)


# --- what is refused before any request --------------------------------------------------------


def two(name: str = "a.pdf") -> list[OutgoingFile]:
    return [outgoing(PDF, "application/pdf", name), outgoing(PDF, "application/pdf", "b.pdf")]


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    # (case, send arguments against recipient DRIVER, code or "")
    (
        "a group chat",
        {"target": Target(conversation_id="GROUP", recipients=["DRIVER"])},
        "groupchat_unsupported",
    ),
    ("no recipient", {"target": Target(conversation_id="USER:DRIVER")}, "one_recipient"),
    (
        "two recipients",
        {"target": Target(conversation_id="USER:DRIVER", recipients=["DRIVER", "OTHER"])},
        "one_recipient",
    ),
    (
        "a stranger to the chat",
        {"target": Target(conversation_id="USER:DRIVER", recipients=["OTHER"])},
        "not_a_participant",
    ),
    ("ourselves", {"target": Target(conversation_id="USER:DRIVER", recipients=["USER"])}, ""),
    ("a subject", {"subject": "Hello"}, ""),
    ("uploaded attachments", {"text": "", "attachments": ["file-1"]}, ""),
    ("two files", {"text": "", "files": "two"}, "one_file"),
    ("a text with a file", {"text": "see attached", "files": "pdf"}, "one_part"),
    ("nothing", {"text": "  \n"}, ""),
    ("a GIF", {"text": "", "files": "gif"}, "unsupported_file_type"),
    ("an untyped file", {"text": "", "files": "untyped"}, "unsupported_file_type"),
    ("a file over the limit", {"text": "", "files": "large"}, "file_too_large"),
]


@pytest.mark.parametrize(("case", "arguments", "code"), REFUSED, ids=[c for c, _, _ in REFUSED])
def test_refuses_what_scalar_cannot_take_before_any_request(
    fake: FakeScalar,
    client: ScalarClient,
    driver: str,
    case: str,
    arguments: dict[str, Any],
    code: str,
) -> None:
    names = {
        "USER": fake.user_id,
        "DRIVER": driver,
        "OTHER": fake.add_driver(),
        "GROUP": fake.add_group(),
    }
    files = {
        "two": two(),
        "pdf": [outgoing(PDF, "application/pdf")],
        "gif": [OutgoingFile("a.gif", "image/gif", 6, io.BytesIO(b"GIF89a"))],
        "untyped": [OutgoingFile("a", "", 3, io.BytesIO(b"abc"))],
        "large": [
            OutgoingFile("big.pdf", "application/pdf", MAX_FILE_SIZE + 1, io.BytesIO(b"%PDF-"))
        ],
    }
    asked: dict[str, Any] = {"target": chat(fake, driver), "text": "hello"} | arguments
    target = asked["target"]
    asked["target"] = Target(
        conversation_id=":".join(names.get(p, p) for p in target.conversation_id.split(":")),
        recipients=[names.get(r, r) for r in target.recipients],
    )
    if isinstance(asked.get("files"), str):
        asked["files"] = files[asked["files"]]

    with pytest.raises(PlatformError) as caught:
        client.send(**asked)
    assert caught.value.permanent
    assert caught.value.code == code
    assert caught.value.status is None
    assert fake.requests == []  # not even a token was asked for


def test_a_channel_with_files_turned_off_refuses_files(fake: FakeScalar, driver: str) -> None:
    with make_client(fake, max_file_size=0) as client, pytest.raises(PlatformError) as caught:
        client.send(target=chat(fake, driver), text="", files=[outgoing(PDF, "application/pdf")])
    assert caught.value.permanent
    assert "no files" in caught.value.message
    with make_client(fake, max_file_size=100) as client, pytest.raises(PlatformError) as small:
        client.send(target=chat(fake, driver), text="", files=[outgoing(PDF, "application/pdf")])
    assert small.value.code == "file_too_large"
    assert fake.requests == []


def test_a_group_the_client_cannot_tell_is_refused_by_the_platform(
    fake: FakeScalar, client: ScalarClient
) -> None:
    group = fake.add_group()
    with pytest.raises(PlatformError) as caught:
        client.send(target=Target(recipients=[group]), text="to everybody")
    assert caught.value.permanent
    assert caught.value.status == 400
    assert caught.value.code == "GroupChatNotSupported"
    assert "group chat" in caught.value.message
    assert fake.messages == []


# --- the token ---------------------------------------------------------------------------------


def test_one_token_serves_many_sends_and_clients(fake: FakeScalar, driver: str) -> None:
    with make_client(fake) as first, make_client(fake) as second:
        first.send(target=chat(fake, driver), text="one")
        second.send(target=chat(fake, driver), text="two")
        first.send(target=chat(fake, driver), text="three")
    assert len(fake.requests_to(TOKEN)) == 1
    tokens = {r.headers["authorization"] for r in fake.requests_to(SEND)}
    assert len(tokens) == 1
    assert_all_valid(fake)


def test_tokens_are_kept_per_token_endpoint(driver: str) -> None:
    with FakeScalar() as one, FakeScalar() as other:
        for fake in (one, other, one, other):
            fake.add_driver(driver)
            with make_client(fake) as client:
                client.send(target=chat(fake, driver), text="hi")
        assert len(one.requests_to(TOKEN)) == len(other.requests_to(TOKEN)) == 1
        assert_all_valid(one)
        assert_all_valid(other)


@pytest.mark.parametrize(
    ("credentials", "settings"),
    [({"client_secret": "a-wrong-secret-0000"}, {}), (None, {"client_id": "another-client"})],
)
def test_a_cached_token_does_not_vouch_for_other_credentials(
    fake: FakeScalar,
    driver: str,
    credentials: dict[str, str] | None,
    settings: dict[str, str],
) -> None:
    with make_client(fake) as good:
        good.send(target=chat(fake, driver), text="hi")
    with (
        make_client(fake, credentials=credentials, **settings) as other,
        pytest.raises(PlatformError) as caught,
    ):
        other.send(target=chat(fake, driver), text="hi")
    assert caught.value.permanent
    assert caught.value.status == 401
    assert len(fake.requests_to(TOKEN)) == 2


def test_renews_the_token_a_minute_before_it_expires(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    start = datetime.now(UTC)
    client.send(target=chat(fake, driver), text="one")
    with time_machine.travel(start + timedelta(seconds=3600 - RENEW_BEFORE - 5), tick=False):
        client.send(target=chat(fake, driver), text="two")
        assert len(fake.requests_to(TOKEN)) == 1
    with time_machine.travel(start + timedelta(seconds=3600 - RENEW_BEFORE + 5), tick=False):
        client.send(target=chat(fake, driver), text="three")
        assert len(fake.requests_to(TOKEN)) == 2
    first, _, third = (r.headers["authorization"] for r in fake.requests_to(SEND))
    assert first != third
    assert_all_valid(fake)


@pytest.mark.parametrize(
    ("lifetime_key", "lifetime", "renewed_after"),
    [("expiresIn", 600, 540), ("expriesIn", 90, 45), ("", 7200, 3540)],
)
def test_reads_the_token_lifetime_in_either_spelling(
    driver: str, lifetime_key: str, lifetime: int, renewed_after: int
) -> None:
    # No lifetime in the answer: the documented hour. Under two minutes: renewed halfway.
    with FakeScalar(lifetime_key=lifetime_key, token_lifetime=lifetime) as fake:
        fake.add_driver(driver)
        start = datetime.now(UTC)
        with make_client(fake) as client:
            client.send(target=chat(fake, driver), text="one")
            with time_machine.travel(start + timedelta(seconds=renewed_after - 3), tick=False):
                client.send(target=chat(fake, driver), text="two")
                assert len(fake.requests_to(TOKEN)) == 1
            with time_machine.travel(start + timedelta(seconds=renewed_after + 3), tick=False):
                client.send(target=chat(fake, driver), text="three")
                assert len(fake.requests_to(TOKEN)) == 2
        assert_all_valid(fake)


def test_an_expired_token_is_replaced_once_on_a_401(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    client.send(target=chat(fake, driver), text="one")
    fake.expire_tokens()
    sent = client.send(target=chat(fake, driver), text="two")

    assert sent.platform_id == fake.messages[-1].message_id
    assert [m.text for m in fake.messages] == ["one", "two"]
    assert [(r.route, r.status) for r in fake.requests] == [
        (TOKEN, 200),
        (SEND, 200),
        (SEND, 401),
        (TOKEN, 200),
        (SEND, 200),
    ]
    # The new token is cached: the next send asks for none.
    client.send(target=chat(fake, driver), text="three")
    assert len(fake.requests_to(TOKEN)) == 2


def test_the_retry_after_a_401_sends_the_whole_file_again(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    client.send(target=chat(fake, driver), text="warm up the token")
    fake.expire_tokens()
    client.send(target=chat(fake, driver), text="", files=[outgoing(PDF, "application/pdf")])
    assert fake.messages[-1].file_bytes == PDF.read_bytes()
    assert [r.status for r in fake.requests_to(SEND)] == [200, 401, 200]


def test_a_401_with_a_file_that_cannot_be_read_again_is_retried_later(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    client.send(target=chat(fake, driver), text="warm up the token")
    fake.expire_tokens()
    _, file, _ = unsized_pdf()
    with pytest.raises(PlatformError) as caught:
        client.send(target=chat(fake, driver), text="", files=[file])
    assert not caught.value.permanent
    assert caught.value.code == "token_refused"
    assert caught.value.status is None  # not the channel's credentials being refused
    assert len(fake.messages) == 1

    data, again, _ = unsized_pdf()  # the worker's next attempt opens the file anew
    client.send(target=chat(fake, driver), text="", files=[again])
    assert fake.messages[-1].file_bytes == data
    assert len(fake.requests_to(TOKEN)) == 2


def test_a_401_for_a_new_token_too_is_permanent(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    header = {
        "WWW-Authenticate": 'Bearer error="insufficient_scope", error_description="no COMAPI"'
    }
    fake.answer_next(401, None, count=2, route=SEND, headers=header)
    with pytest.raises(PlatformError) as caught:
        client.send(target=chat(fake, driver), text="hi")
    assert caught.value.permanent
    assert caught.value.status == 401
    assert caught.value.code == "token_refused"
    assert "insufficient_scope: no COMAPI" in caught.value.message
    assert [r.route for r in fake.requests] == [TOKEN, SEND, TOKEN, SEND]
    # Neither token stays cached.
    client.send(target=chat(fake, driver), text="hi")
    assert len(fake.requests_to(TOKEN)) == 3


def test_parallel_sends_of_a_process_fetch_one_token(fake: FakeScalar, driver: str) -> None:
    fake.delay_next(0.2, route=TOKEN)  # the first fetch is slow; the others wait for it
    errors: list[BaseException] = []

    def send(number: int) -> None:
        try:
            with make_client(fake) as client:
                client.send(target=chat(fake, driver), text=f"message {number}")
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert len(fake.messages) == 6
    assert len(fake.requests_to(TOKEN)) == 1
    assert_all_valid(fake)


def test_wrong_credentials_are_permanent_and_never_shown(fake: FakeScalar, driver: str) -> None:
    wrong = "a-wrong-secret-0000"
    with (
        make_client(fake, credentials={"client_secret": wrong}) as client,
        pytest.raises(PlatformError) as caught,
    ):
        client.send(target=chat(fake, driver), text="hi")
    assert caught.value.permanent
    assert caught.value.status == 401
    assert caught.value.code == "InvalidClientCredentials"
    assert caught.value.message == (
        "SCALAR refused the client credentials (Invalid client credentials.)"
    )
    assert wrong not in str(caught.value)
    assert fake.requests_to(SEND) == []


def test_a_403_from_the_token_endpoint_is_refused_credentials(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    fake.answer_next(403, None, route=TOKEN)
    with pytest.raises(PlatformError) as caught:
        client.send(target=chat(fake, driver), text="hi")
    assert caught.value.permanent
    assert caught.value.status == 403
    assert caught.value.code == "credentials_refused"
    assert caught.value.message == "SCALAR refused the client credentials"


def test_an_unknown_audience_is_permanent_in_the_platforms_words(
    fake: FakeScalar, driver: str
) -> None:
    with make_client(fake, audience="FLEET") as client, pytest.raises(PlatformError) as caught:
        client.send(target=chat(fake, driver), text="hi")
    assert caught.value.permanent
    assert caught.value.status == 400
    assert caught.value.code == "InvalidAudience"
    assert caught.value.message == "The requested audience is not known."


@pytest.mark.parametrize(
    "answer",
    [{"tokenType": "Bearer", "expriesIn": 3600}, {"accessToken": "two words"}, [1], b"nope"],
)
def test_a_token_answer_without_a_usable_token_is_transient(
    fake: FakeScalar, client: ScalarClient, driver: str, answer: Any
) -> None:
    fake.answer_next(200, answer, route=TOKEN)
    with pytest.raises(PlatformError) as caught:
        client.send(target=chat(fake, driver), text="hi")
    assert not caught.value.permanent
    assert caught.value.code == "invalid_response"
    assert fake.requests_to(SEND) == []


def test_token_endpoint_outages_are_transient(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    fake.fail_next(503, route=TOKEN, retry_after=30)
    with pytest.raises(PlatformError) as unavailable:
        client.send(target=chat(fake, driver), text="hi")
    assert not unavailable.value.permanent
    assert unavailable.value.retry_after == 30.0
    assert "token endpoint" not in unavailable.value.message  # the platform's own words
    assert unavailable.value.message == "The service is temporarily unavailable."

    with make_client(fake, timeout=FAST) as impatient:
        fake.delay_next(1.0, route=TOKEN)
        with pytest.raises(PlatformError) as slow:
            impatient.send(target=chat(fake, driver), text="hi")
    assert not slow.value.permanent
    assert "token endpoint did not answer in time" in slow.value.message
    assert fake.messages == []


# --- failures of the send ----------------------------------------------------------------------


def test_an_unknown_recipient_is_permanent_in_the_platforms_words(
    fake: FakeScalar, client: ScalarClient
) -> None:
    stranger = "9f0c2d4e-0000-4000-8000-000000000001"
    with pytest.raises(PlatformError) as caught:
        client.send(target=Target(recipients=[stranger]), text="hi")
    assert caught.value.permanent
    assert caught.value.status == 404
    assert caught.value.code == "NotFound"
    assert caught.value.message == f"Recipient '{stranger}' was not found."


def test_validation_errors_name_the_fields(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    body = problem(400, errors={"content": ["Too long.", "Forbidden word."], "recipientId": []})
    fake.answer_next(400, body, route=SEND)
    with pytest.raises(PlatformError) as caught:
        client.send(target=chat(fake, driver), text="hi")
    assert caught.value.permanent
    assert caught.value.message == (
        "One or more validation errors occurred. (content: Too long. Forbidden word.; recipientId)"
    )


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [(500, None, None), (502, "5", 5.0), (503, "120", 120.0), (429, "7", 7.0), (408, None, None)],
)
def test_server_errors_and_throttling_are_transient(
    fake: FakeScalar,
    client: ScalarClient,
    driver: str,
    status: int,
    retry_after: str | None,
    expected: float | None,
) -> None:
    fake.fail_next(status, route=SEND, code="Busy", retry_after=retry_after)
    with pytest.raises(PlatformError) as caught:
        client.send(target=chat(fake, driver), text="hi")
    assert not caught.value.permanent
    assert caught.value.status == status
    assert caught.value.code == "Busy"
    assert caught.value.retry_after == expected
    client.send(target=chat(fake, driver), text="hi")  # the next attempt passes
    assert len(fake.messages) == 1


def test_reads_retry_after_as_an_http_date(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    fake.fail_next(503, route=SEND, retry_after=later)
    with pytest.raises(PlatformError) as caught:
        client.send(target=chat(fake, driver), text="hi")
    assert caught.value.retry_after is not None
    assert 80 <= caught.value.retry_after <= 90


def test_a_plain_text_error_is_shown_as_sent(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    fake.answer_next(502, "upstream connect error or disconnect/reset", route=SEND)
    with pytest.raises(PlatformError) as caught:
        client.send(target=chat(fake, driver), text="hi")
    assert not caught.value.permanent
    assert caught.value.message == "upstream connect error or disconnect/reset"


def test_a_timeout_is_transient(fake: FakeScalar, driver: str) -> None:
    with make_client(fake, timeout=FAST) as client:
        client.send(target=chat(fake, driver), text="warm up the token")
        fake.delay_next(1.0, route=SEND)
        with pytest.raises(PlatformError) as caught:
            client.send(target=chat(fake, driver), text="hi")
    assert not caught.value.permanent
    assert "messaging API did not answer in time" in caught.value.message


def test_a_refused_or_dropped_connection_is_transient(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    client.send(target=chat(fake, driver), text="warm up the token")
    fake.drop_next()
    with pytest.raises(PlatformError) as dropped:
        client.send(target=chat(fake, driver), text="hi")
    assert not dropped.value.permanent

    fake.down()
    with pytest.raises(PlatformError) as down:
        client.send(target=chat(fake, driver), text="hi")
    assert not down.value.permanent
    assert "cannot reach the SCALAR messaging API" in down.value.message
    fake.up()
    client.send(target=chat(fake, driver), text="hi")
    assert len(fake.messages) == 2


def test_nothing_listening_at_all_is_transient(driver: str) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    config = ClientConfig(
        settings={
            "auth_url": nowhere + "/v1/integrators/token",
            "messaging_url": nowhere,
            "client_id": "c",
            "sender_id": USER_ID,
        },
        credentials={"client_secret": CLIENT_SECRET},
    )
    with ScalarClient(config) as client, pytest.raises(PlatformError) as caught:
        client.send(target=Target(recipients=[driver]), text="hi")
    assert not caught.value.permanent
    assert "cannot reach the SCALAR token endpoint" in caught.value.message
    assert CLIENT_SECRET not in str(caught.value)


def test_a_redirect_is_not_followed_with_the_token(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    elsewhere = f"http://127.0.0.1:{free_port()}/collect"
    fake.answer_next(307, None, route=SEND, headers={"Location": elsewhere})
    with pytest.raises(PlatformError) as caught:
        client.send(target=chat(fake, driver), text="hi")
    assert caught.value.permanent
    assert caught.value.status == 307
    assert "redirected" in caught.value.message
    assert len(fake.requests_to(SEND)) == 1


def test_echoed_secrets_and_tokens_are_scrubbed(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    fake.fail_next(400, route=TOKEN, detail=f"clientSecret {CLIENT_SECRET} is malformed")
    with pytest.raises(PlatformError) as secret:
        client.send(target=chat(fake, driver), text="hi")
    assert CLIENT_SECRET not in str(secret.value)
    assert secret.value.message == "clientSecret *** is malformed"

    client.send(target=chat(fake, driver), text="hi")
    token = fake.requests_to(SEND)[0].headers["authorization"].removeprefix("Bearer ")
    fake.fail_next(400, route=SEND, detail=f"token {token} lacks a claim", code=token)
    # Another client of the process, which only took the token from the cache.
    with make_client(fake) as other, pytest.raises(PlatformError) as echoed:
        other.send(target=chat(fake, driver), text="hi")
    assert token not in str(echoed.value)
    assert echoed.value.message == "token *** lacks a claim"
    assert token not in repr(client)
    assert CLIENT_SECRET not in repr(client)


# --- what SCALAR does not have -----------------------------------------------------------------


def test_find_sent_finds_nothing_without_asking(fake: FakeScalar, client: ScalarClient) -> None:
    found = client.find_sent(
        target=Target(recipients=["d"]), text="hi", subject="", since=datetime.now(UTC)
    )
    assert found is None
    assert fake.requests == []


def test_refuses_the_operations_scalar_does_not_document(
    fake: FakeScalar, client: ScalarClient
) -> None:
    target = Target(conversation_id="u:d", recipients=["d"])
    calls = [
        lambda: client.upload(file=outgoing(PDF, "application/pdf")),
        lambda: client.download(ref="x", sink=io.BytesIO(), max_bytes=10),
        lambda: client.mark_read(target=target, messages=["m"]),
        lambda: client.typing(target=target, active=True),
        lambda: client.close_conversation(target=target),
        lambda: client.open_conversation(target=target),
        lambda: client.poll(cursor={}),
        lambda: client.decide(relationship_id="r", change_id="", decision="accept"),
    ]
    for call in calls:
        with pytest.raises(PlatformError) as caught:
            call()
        assert caught.value.permanent
        assert caught.value.message.startswith("scalar channels cannot ")
    assert client.state() == {}
    assert fake.requests == []


# --- configuration and capabilities ------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "credentials", "words"),
    [
        ({"auth_url": ""}, None, "auth_url"),
        ({"auth_url": "ftp://auth.example/token"}, None, "auth_url"),
        ({"messaging_url": "not a url"}, None, "messaging_url"),
        ({"client_id": " "}, None, "client_id"),
        ({"sender_id": None}, None, "sender_id"),
        ({}, {}, "client_secret"),
        ({"sender_field": "to", "recipient_field": "to"}, None, "two different names"),
        ({"recipient_field": "content"}, None, "two different names"),
    ],
)
def test_a_configuration_that_cannot_work_is_permanent(
    fake: FakeScalar, changes: dict[str, Any], credentials: dict[str, str] | None, words: str
) -> None:
    with pytest.raises(PlatformError) as caught:
        make_client(fake, credentials=credentials, **changes)
    assert caught.value.permanent
    assert words in caught.value.message


FULL = {
    "auth_url": "https://auth.api.eu1.scalar.zf.com/v1/integrators/token",
    "messaging_url": "https://messaging.api.eu1.scalar.zf.com",
    "client_id": "integrator",
    "sender_id": USER_ID,
}


def test_a_fully_configured_channel_replies_with_one_inline_file() -> None:
    able = connector.capabilities(settings=FULL, secrets={"client_secret"})
    assert able.reply
    assert able.why_not == ""
    assert able.files
    assert able.inline_files
    assert able.max_files == 1
    assert not able.text_with_files
    assert able.file_types == FILE_TYPES == ("image/jpeg", "image/png", "application/pdf")
    assert able.max_file_size == MAX_FILE_SIZE == 10 * 1024 * 1024
    others = ("subject", "read_receipts", "typing", "close", "start", "poll", "decide")
    assert [name for name in others if getattr(able, name)] == []


@pytest.mark.parametrize(
    ("missing", "words"),
    [
        ("auth_url", "token endpoint (auth_url)"),
        ("messaging_url", "messaging API URL (messaging_url)"),
        ("client_id", "client id (client_id)"),
        ("client_secret", "client secret (client_secret)"),
        ("sender_id", "back-office user id to send as (sender_id)"),
    ],
)
def test_a_partly_configured_channel_says_what_it_needs(missing: str, words: str) -> None:
    settings = {name: value for name, value in FULL.items() if name != missing}
    secrets = set() if missing == "client_secret" else {"client_secret"}
    able = connector.capabilities(settings=settings, secrets=secrets)
    assert not able.reply
    assert not able.files
    assert able.why_not == f"Replying on SCALAR needs the channel's {words}."


def test_an_unconfigured_channel_lists_everything_it_needs() -> None:
    able = connector.capabilities(settings={"sender_id": "  "}, secrets=set())
    assert not able.reply
    assert able.why_not == (
        "Replying on SCALAR needs the channel's token endpoint (auth_url), messaging API URL "
        "(messaging_url), client id (client_id), client secret (client_secret) and back-office "
        "user id to send as (sender_id)."
    )


@pytest.mark.parametrize(
    ("value", "size"), [(2_000_000, 2_000_000), ("big", MAX_FILE_SIZE), (True, MAX_FILE_SIZE)]
)
def test_the_file_size_limit_is_a_setting(value: Any, size: int) -> None:
    able = connector.capabilities(
        settings=FULL | {"max_file_size": value}, secrets={"client_secret"}
    )
    assert able.max_file_size == size
    off = connector.capabilities(settings=FULL | {"max_file_size": 0}, secrets={"client_secret"})
    assert off.reply
    assert not off.files


def test_settings_keep_their_names_and_defaults() -> None:
    settings = {s.name: s for s in connector.SETTINGS}
    assert {"auth_url", "messaging_url", "client_id", "client_secret", "audience"} <= set(settings)
    assert {"sender_id", "sender_field", "recipient_field", "max_file_size"} <= set(settings)
    assert settings["client_secret"].secret
    assert settings["audience"].default == "COMAPI"
    assert settings["sender_field"].default == "senderId"
    assert settings["recipient_field"].default == "recipientId"
    assert settings["max_file_size"].kind == "int"
    assert settings["max_file_size"].default == MAX_FILE_SIZE


def test_make_client_builds_a_working_scalar_client(fake: FakeScalar, driver: str) -> None:
    config = ClientConfig(settings=fake.settings(), credentials=fake.credentials())
    client = get_connector("scalar").make_client(config=config)
    assert isinstance(client, ScalarClient)
    try:
        client.send(target=chat(fake, driver), text="made by the connector")
    finally:
        client.close()
    assert fake.messages[0].text == "made by the connector"


# --- the batches the fake's messages produce -----------------------------------------------------


def parsed(document: dict[str, Any]) -> tuple[list[str], list[MessageUpserted]]:
    """Dedup keys and events of a batch, through the connector's own split and parse."""
    context = ChannelContext(platform="scalar", settings={"sender_id": USER_ID})
    keys, events = [], []
    for item in connector.split(document=document):
        keys.append(item.dedup_key)
        for event in connector.parse(
            event_name=item.event_name,
            payload=item.payload,
            envelope=item.envelope,
            context=context,
        ):
            assert isinstance(event, MessageUpserted)
            events.append(event)
    return keys, events


def test_the_echo_and_later_statuses_of_a_send_read_as_our_message(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    sent = client.send(target=chat(fake, driver), text="Trailer 4711 at dock 3")
    seen_keys = []
    for status, steps in [
        ("Pending", [Step.SENT]),
        ("Delivered", [Step.SENT, Step.DELIVERED]),
        ("Seen", [Step.SENT, Step.DELIVERED, Step.READ]),
    ]:
        document = fake.batch_for(sent.platform_id, status)
        assert document["eventSubscriptionId"] == fake.subscription_id
        keys, [event] = parsed(document)
        seen_keys.extend(keys)
        assert event.message_id == sent.platform_id
        assert event.direction == Direction.OUT
        assert event.conversation.external_id == f"{USER_ID}:{driver}"
        assert event.text == "Trailer 4711 at dock 3"
        assert event.sent_at == fake.messages[0].sent_at
        assert sorted({s.step for s in event.statuses if s.step}) == sorted(steps)
    assert statuses_of(fake.batch_for(sent.platform_id, "Delivered")) == [
        ("message.delivered", "Delivered")
    ]
    assert len(set(seen_keys)) == 3  # each status is an event of its own
    # Redelivered, or spelled with the group prefix, it is the same event.
    again, _ = parsed(fake.batch_for(sent.platform_id, "Delivered", prefixed=True))
    assert again == [seen_keys[1]]


def test_batches_of_file_messages_and_chosen_times(
    fake: FakeScalar, client: ScalarClient, driver: str
) -> None:
    photo = client.send(target=chat(fake, driver), text="", files=[outgoing(JPEG, "image/jpeg")])
    note = client.send(target=chat(fake, driver), text="Lieferschein folgt")
    read_at = datetime(2026, 5, 12, 6, 30, tzinfo=UTC)
    document = fake.batch(
        fake.event_for(photo.platform_id, "Recalled"),
        fake.event_for(note.platform_id, "Seen", at={"Seen": read_at}),
    )
    assert statuses_of(document) == [("message.recalled", "Recalled"), ("message.seen", "Seen")]
    _, (recalled, read) = parsed(document)
    assert recalled.text in ("", None)
    assert recalled.content["contentType"] == "image"
    assert Step.RECALLED in {s.step for s in recalled.statuses}
    assert any(s.step == Step.READ and s.at == read_at for s in read.statuses)
    with pytest.raises(ValueError, match="pass history"):
        fake.event_for(note.platform_id, "Treated")
    flagged = fake.event_for(note.platform_id, "Treated", history=["Pending", "Treated"])
    assert flagged["eventType"] == "message.treated"


# --- the fake itself refuses what SCALAR would refuse ------------------------------------------


def raw(fake: FakeScalar, path: str, **kwargs: Any) -> httpx.Response:
    """One request as written here, not by the client."""
    with httpx.Client(base_url=fake.base_url) as http:
        return http.post(path, **kwargs)


def token_of(fake: FakeScalar) -> str:
    answer = raw(
        fake,
        "/auth/v1/integrators/token",
        json={"clientId": fake.client_id, "clientSecret": CLIENT_SECRET, "audience": "COMAPI"},
    )
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"accessToken", "expriesIn", "tokenType"}
    assert body["tokenType"] == "Bearer"
    assert body["expriesIn"] == 3600
    return str(body["accessToken"])


def test_the_fake_token_endpoint_checks_the_request(fake: FakeScalar) -> None:
    token_path = "/auth/v1/integrators/token"
    as_form = raw(fake, token_path, data={"clientId": fake.client_id})
    assert as_form.status_code == 415
    incomplete = raw(fake, token_path, json={"clientId": fake.client_id})
    assert incomplete.status_code == 400
    assert incomplete.headers["content-type"].startswith("application/problem+json")
    assert set(incomplete.json()["errors"]) == {"clientSecret", "audience"}
    wrong = raw(
        fake,
        token_path,
        json={"clientId": "x", "clientSecret": CLIENT_SECRET, "audience": "COMAPI"},
    )
    assert wrong.status_code == 401
    assert set(wrong.json()) == {"type", "title", "status", "detail", "errorCode", "traceId"}
    assert raw(fake, "/v1/integrators/token", json={}).status_code == 404
    assert token_of(fake) in fake.tokens


def form(fake: FakeScalar, driver: str, **fields: str) -> dict[str, Any]:
    base = {"senderId": fake.user_id, "recipientId": driver, "conversationType": "chat"}
    return {name: (None, value) for name, value in (base | fields).items()}


def test_the_fake_messaging_api_checks_the_send(fake: FakeScalar, driver: str) -> None:
    path = "/messaging/v1/messages/actions/send"
    bearer = {"Authorization": f"Bearer {token_of(fake)}"}
    pdf = ("note.pdf", PDF.read_bytes(), "application/pdf")

    def status(**kwargs: Any) -> tuple[int, Any]:
        answer = raw(fake, path, **kwargs)
        return answer.status_code, answer.json() if answer.content else None

    unauthenticated = raw(fake, path, files=form(fake, driver, contentType="text", content="x"))
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["www-authenticate"] == "Bearer"
    assert status(headers=bearer, data={"contentType": "text"})[0] == 415

    group = status(
        headers=bearer,
        files=form(fake, driver, conversationType="groupchat", contentType="text", content="x"),
    )
    assert group[0] == 400
    assert group[1]["errorCode"] == "GroupChatNotSupported"
    assert group[1]["detail"] == "Sending messages to group chats is not supported."

    refused = {
        "text with a file": form(fake, driver, contentType="text", content="x") | {"file": pdf},
        "text without content": form(fake, driver, contentType="text"),
        "an image that is a pdf": form(fake, driver, contentType="image") | {"file": pdf},
        "a pdf that is not one": form(fake, driver, contentType="file")
        | {"file": ("a.pdf", b"MZ\x90\x00", "application/pdf")},
        "a file without its file": form(fake, driver, contentType="file"),
        "an unknown field": form(fake, driver, contentType="text", content="x", priority="high"),
        "an unknown content type": form(fake, driver, contentType="video"),
    }
    for case, files in refused.items():
        code, body = status(headers=bearer, files=files)
        assert code == 400, case
        assert body["title"] == "One or more validation errors occurred.", case
        assert body["errors"], case
    assert fake.messages == []

    # The seed documents a caption with a file: the platform takes it.
    code, body = status(
        headers=bearer,
        files=form(fake, driver, contentType="file", content="ETA 9:00") | {"file": pdf},
    )
    assert code == 200
    assert body["messageId"] == fake.messages[0].message_id
    assert fake.messages[0].text == "ETA 9:00"
    assert body["conversationId"] == f"{fake.user_id}:{driver}"
