"""The LivePerson client against the fake LivePerson (Sentinel, IDP, messaging and swift).

Every test runs against a real local HTTP server that refuses what LivePerson would refuse (see
:mod:`tests.fakes.liveperson`), so a happy path with no refused request proves the requests are
valid. No database is involved.
"""

from __future__ import annotations

import base64
import io
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine
from PIL import Image

from inbox.choices import Direction, Step
from inbox.connectors import liveperson
from inbox.connectors.events import ConversationChanged, MessageUpserted, StatusChanged, Typing
from inbox.connectors.liveperson.client import (
    MAX_REQUEST_CHARS,
    LivePersonClient,
    clear_token_cache,
)
from inbox.connectors.outbound import ClientConfig, OutgoingFile, PlatformError, Target
from tests.fakes.liveperson import AGENT_ID, CLIENT_SECRET, FakeLivePerson, Recorded
from tests.helpers import fixture_json, parse_document

PLATFORM = "liveperson"
CUSTOMER = "crm-contact-5521"
MESSAGING = "/messaging/consumer/conversation"
SEND = "/messaging/consumer/conversation/send"
TOKEN = "/app/token"
CONSUMER_ROUTE = "/consumer"


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    clear_token_cache()
    yield
    clear_token_cache()


@pytest.fixture
def fake() -> Iterator[FakeLivePerson]:
    with FakeLivePerson() as server:
        yield server
        assert server.crashes == []


@pytest.fixture
def client(fake: FakeLivePerson) -> Iterator[LivePersonClient]:
    with make_client(fake) as made:
        yield made


def make_client(
    fake: FakeLivePerson,
    *,
    state: dict[str, Any] | None = None,
    timeout: httpx.Timeout | None = None,
    credentials: dict[str, str] | None = None,
    **settings: str,
) -> LivePersonClient:
    return LivePersonClient(
        ClientConfig(
            settings=fake.settings(**settings),
            credentials=fake.credentials() if credentials is None else credentials,
            state=state or {},
        ),
        timeout=timeout,
    )


def opened(fake: FakeLivePerson, client: LivePersonClient, ext: str = CUSTOMER) -> Target:
    """A new conversation of ``ext``, as the inbox knows it once its webhooks came in."""
    conversation = client.open_conversation(target=Target(sender=ext)).conversation_id
    return Target(
        conversation_id=conversation,
        participants=[(fake.consumer_id(ext), "CONSUMER"), (AGENT_ID, "ASSIGNED_AGENT")],
    )


def assert_all_valid(fake: FakeLivePerson) -> None:
    """The fake refused nothing, and every conversation call spoke as it should."""
    assert [(r.method, r.path, r.refusals) for r in fake.rejected()] == []
    for record in fake.requests:
        if MESSAGING in record.path:
            assert record.headers["authorization"] in fake.app_tokens  # bare, no "Bearer"
            assert record.headers["x-lp-on-behalf"] in fake.consumer_tokens
            assert record.headers["content-type"] == "application/json"
            assert len(record.body.decode()) <= MAX_REQUEST_CHARS


def inner_answer(name: str) -> Any:
    """A fixture answer whose reqIds the fake replaces with the request's own."""
    document = fixture_json(PLATFORM, f"send/{name}")
    if isinstance(document, list):
        return [item | {"reqId": f"{{reqId{index}}}"} for index, item in enumerate(document)]
    return document | {"reqId": "{reqId}"}


def requests_of(fake: FakeLivePerson, kind: str) -> list[dict[str, Any]]:
    return [call for call in fake.conversation_calls() if call.get("type") == kind]


def png(width: int = 300, height: int = 200) -> bytes:
    image = Image.new("RGB", (width, height))
    image.putdata([(x % 256, y % 256, (x * y) % 256) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def outgoing(data: bytes, content_type: str = "image/png", name: str = "photo.png") -> OutgoingFile:
    return OutgoingFile(
        name=name, content_type=content_type, size=len(data), stream=io.BytesIO(data)
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- AppJWT ------------------------------------------------------------------------------------


def test_gets_the_app_token_once_per_process_for_every_client(fake: FakeLivePerson) -> None:
    for ext in ("first-customer", "second-customer"):
        with make_client(fake) as client:
            client.open_conversation(target=Target(sender=ext))
    tokens = fake.requests_to(TOKEN)
    assert len(tokens) == 1
    request = tokens[0]
    assert request.method == "POST"
    assert request.path == f"/sentinel/api/account/{fake.account_id}/app/token"
    assert request.query == {"v": ["1.0"], "grant_type": ["client_credentials"]}
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in request.headers
    assert len({r.headers["authorization"] for r in fake.requests if r is not request}) == 1
    assert_all_valid(fake)


@pytest.mark.parametrize(("send_expires_in", "lifetime"), [(False, 3600), (True, 600)])
def test_renews_the_app_token_a_minute_before_it_ends(send_expires_in: bool, lifetime: int) -> None:
    with (
        FakeLivePerson(app_token_ttl=lifetime, send_expires_in=send_expires_in) as fake,
        make_client(fake) as client,
        time_machine.travel(datetime.now(UTC), tick=False) as clock,
    ):
        target = opened(fake, client)
        clock.shift(timedelta(seconds=lifetime - 61))
        client.typing(target=target, active=True)
        assert len(fake.requests_to(TOKEN)) == 1  # still cached
        clock.shift(timedelta(seconds=2))
        client.typing(target=target, active=False)
        assert len(fake.requests_to(TOKEN)) == 2  # renewed before it ended
        assert all(r.status == 200 for r in fake.requests_to(SEND))
        assert_all_valid(fake)


def test_an_expired_app_token_is_renewed_and_the_call_repeated_once(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    fake.expire_app_token()
    sent = client.send(target=target, text="Still there?")
    sends = fake.requests_to(SEND)
    assert [r.status for r in sends] == [401, 200]
    assert sends[0].answer["body"]["errorCode"] == 40102
    assert sends[0].headers["authorization"] != sends[1].headers["authorization"]
    assert len(fake.requests_to(TOKEN)) == 2
    assert sent.platform_id == f"{target.conversation_id}:0"
    assert_all_valid(fake)


def test_an_app_token_refused_twice_in_a_row_is_not_retried_again(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    expired = fixture_json(PLATFORM, "send/app_token_expired_401")
    fake.fail_next(401, expired, route=SEND, count=2)
    with pytest.raises(PlatformError) as caught:
        client.send(target=target, text="hello")
    assert caught.value.permanent
    assert caught.value.code == "40102"
    assert caught.value.status == 401
    assert len(fake.requests_to(SEND)) == 2


def test_other_authorization_errors_are_not_retried(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    fake.fail_next(401, fixture_json(PLATFORM, "send/app_token_missing_401"), route=SEND)
    with pytest.raises(PlatformError) as caught:
        client.send(target=target, text="hello")
    assert caught.value.permanent
    assert caught.value.code == "40104"
    assert "AppJWT is missing" in caught.value.message
    assert len(fake.requests_to(SEND)) == 1
    # The ConsumerJWS it was sent with is forgotten: the next call asks the IDP again.
    client.send(target=target, text="hello")
    assert len(fake.requests_to(CONSUMER_ROUTE)) == 2


def test_refused_credentials_are_permanent_and_never_shown(fake: FakeLivePerson) -> None:
    wrong = "not-the-secret-9f8e7d"
    with (
        make_client(fake, credentials={"client_secret": wrong}) as client,
        pytest.raises(PlatformError) as caught,
    ):
        client.open_conversation(target=Target(sender=CUSTOMER))
    assert caught.value.permanent
    assert caught.value.status == 401
    assert "refused the app's credentials" in caught.value.message
    assert wrong not in str(caught.value)
    assert [r.path for r in fake.requests] == [f"/sentinel/api/account/{fake.account_id}/app/token"]


@pytest.mark.parametrize("status", [401, 403])
def test_a_refusing_sentinel_gives_its_error_code(fake: FakeLivePerson, status: int) -> None:
    fake.fail_next(status, fixture_json(PLATFORM, "send/sentinel_credentials_refused_401"))
    with make_client(fake) as client, pytest.raises(PlatformError) as caught:
        client.open_conversation(target=Target(sender=CUSTOMER))
    assert caught.value.permanent
    assert caught.value.code == "40101"
    assert caught.value.status == status


def test_sentinel_server_errors_are_transient(fake: FakeLivePerson) -> None:
    fake.fail_next(503, retry_after=4, route=TOKEN)
    with make_client(fake) as client, pytest.raises(PlatformError) as caught:
        client.open_conversation(target=Target(sender=CUSTOMER))
    assert not caught.value.permanent
    assert caught.value.retry_after == 4.0


def test_echoed_secrets_and_tokens_are_scrubbed_from_errors(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    app_token = next(iter(fake.app_tokens))
    consumer_token = next(iter(fake.consumer_tokens))
    details = f"got {app_token} for {consumer_token} with {CLIENT_SECRET}"
    document = {"kind": "resp", "code": 400, "body": {"title": "Bad", "details": details}}
    fake.fail_next(400, document, route=SEND)
    with pytest.raises(PlatformError) as caught:
        client.send(target=target, text="hello")
    for secret in (app_token, consumer_token, CLIENT_SECRET):
        assert secret not in str(caught.value)
    assert "***" in caught.value.message


# --- ConsumerJWS and whom the client speaks for ------------------------------------------------


def test_asks_for_one_consumer_token_per_consumer(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    first = opened(fake, client)
    client.send(target=first, text="one")
    client.send(target=first, text="two")
    with make_client(fake) as another:
        another.send(target=first, text="three")  # the process cache serves other clients too
    opened(fake, client, "someone-else")
    bodies = [r.json() for r in fake.requests_to(CONSUMER_ROUTE)]
    assert bodies == [{"ext_consumer_id": CUSTOMER}, {"ext_consumer_id": "someone-else"}]
    idp = fake.requests_to(CONSUMER_ROUTE)[0]
    assert idp.path == f"/api/account/{fake.account_id}/consumer"
    assert idp.query == {"v": ["1.0"]}
    assert idp.headers["authorization"] in fake.app_tokens
    assert_all_valid(fake)


def test_learns_the_address_each_consumer_has_in_webhooks(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    lp_id = fake.consumer_id(CUSTOMER)
    state = client.state()
    assert state == {"consumers": {lp_id: CUSTOMER}}
    assert not any(token in json.dumps(state) for token in fake.consumer_tokens)

    clear_token_cache()  # another process: nothing cached, only the channel's state
    with make_client(fake, state=state) as later:
        later.send(target=target, text="I speak for the same consumer")
    assert fake.requests_to(CONSUMER_ROUTE)[-1].json() == {"ext_consumer_id": CUSTOMER}
    assert fake.published[-1].originator == lp_id
    assert_all_valid(fake)


def test_learns_the_address_from_the_consumer_token_payload(fake: FakeLivePerson) -> None:
    answer = fixture_json(PLATFORM, "send/idp_consumer_token_201")
    fake.fail_next(201, answer, route=CONSUMER_ROUTE)
    with make_client(fake) as client, pytest.raises(PlatformError):
        # The fake did not issue that token, so the conversation call is refused; the
        # address was learnt before.
        client.open_conversation(target=Target(sender="crm-contact-5521"))
    lp_id = "e41b7c09d2a85f36c0b9e17d4a2f68c3b5d09e7a1f4c62b8d3e05a97c1f2b4d6"
    assert client.state() == {"consumers": {lp_id: "crm-contact-5521"}}


def test_speaks_for_the_conversations_consumer(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    reordered = Target(
        conversation_id=target.conversation_id,
        participants=[(AGENT_ID, "ASSIGNED_AGENT"), *target.participants[:1]],
        sender="somebody-else",  # the consumer participant wins over the sender
    )
    client.send(target=reordered, text="hi")
    assert fake.published[-1].originator == fake.consumer_id(CUSTOMER)
    assert_all_valid(fake)


def test_a_conversation_without_a_consumer_is_refused(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    agents_only = Target(
        conversation_id="c0ffee00-0000-4000-8000-000000000000",
        participants=[(AGENT_ID, "ASSIGNED_AGENT")],
    )
    with pytest.raises(PlatformError) as caught:
        client.send(target=agents_only, text="hi")
    assert caught.value.permanent
    assert "consumer" in caught.value.message
    assert fake.requests == []


def test_the_state_of_earlier_runs_is_kept_and_malformed_entries_dropped(
    fake: FakeLivePerson,
) -> None:
    state = {"consumers": {"lp-1": "ext-1", "lp-2": 7, "": "ext-3"}}
    with make_client(fake, state=state) as client:
        assert client.state() == {"consumers": {"lp-1": "ext-1"}}


# --- opening conversations ---------------------------------------------------------------------


def test_opens_a_conversation_with_the_profile_first(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    result = client.open_conversation(target=Target(sender=CUSTOMER))
    assert result.document is None
    conversation = fake.conversations[result.conversation_id]
    assert conversation.consumer == fake.consumer_id(CUSTOMER)
    assert conversation.state == "OPEN"
    [call] = fake.requests_to(MESSAGING)
    assert call.query == {"v": ["3"]}
    profile, wanted = call.json()
    assert profile["type"] == "userprofile.SetUserProfile"
    assert profile["kind"] == "req"
    assert profile["body"] == {}
    assert wanted["type"] == "cm.ConsumerRequestConversation"
    assert wanted["body"] == {"brandId": fake.account_id, "skillId": "-1"}
    assert profile["id"] != wanted["id"]
    assert_all_valid(fake)


def test_opens_conversations_under_the_configured_skill(fake: FakeLivePerson) -> None:
    with make_client(fake, skill_id="2771044", brand_id=fake.account_id) as client:
        result = client.open_conversation(target=Target(sender=CUSTOMER))
    assert fake.conversations[result.conversation_id].skill_id == "2771044"
    assert requests_of(fake, "cm.ConsumerRequestConversation")[0]["body"]["skillId"] == "2771044"
    assert_all_valid(fake)


def test_an_already_open_conversation_is_used_when_livePerson_names_it() -> None:
    with FakeLivePerson(names_open_conversation=True) as fake, make_client(fake) as client:
        first = client.open_conversation(target=Target(sender=CUSTOMER))
        again = client.open_conversation(target=Target(sender=CUSTOMER))
        assert again.conversation_id == first.conversation_id
        assert len(fake.conversations) == 1
        assert_all_valid(fake)


def test_an_already_open_conversation_named_in_the_message_is_used(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    answer = inner_answer("open_answer_already_open")
    named = "5a7c2e90-1b3d-4f68-a0c4-e29b7d15f386"
    answer[1]["body"]["msg"] += f" Open conversation: {named}"
    fake.fail_next(200, answer, route=MESSAGING)
    assert client.open_conversation(target=Target(sender=CUSTOMER)).conversation_id == named


def test_an_already_open_conversation_that_is_not_named_is_permanent(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    client.open_conversation(target=Target(sender=CUSTOMER))
    with pytest.raises(PlatformError) as caught:
        client.open_conversation(target=Target(sender=CUSTOMER))
    assert caught.value.permanent
    assert caught.value.code == "BAD_REQUEST"
    assert "already has an open conversation" in caught.value.message
    assert_all_valid(fake)  # an answer about state, not a refused request


def test_an_open_answer_from_the_fixture_is_read_by_request_id(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    fake.fail_next(200, inner_answer("open_answer_ok"), route=MESSAGING)
    result = client.open_conversation(target=Target(sender=CUSTOMER))
    assert result.conversation_id == "b2d94e17-6c3a-4f05-8e71-d9a0c5b38f24"


def test_an_answer_to_other_requests_is_transient(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    fake.fail_next(200, fixture_json(PLATFORM, "send/open_answer_ok"), route=MESSAGING)
    with pytest.raises(PlatformError) as caught:
        client.open_conversation(target=Target(sender=CUSTOMER))
    assert not caught.value.permanent
    assert caught.value.code == "invalid_response"


# --- sending -----------------------------------------------------------------------------------


def test_sends_text_as_the_consumer(fake: FakeLivePerson, client: LivePersonClient) -> None:
    target = opened(fake, client)
    first = client.send(target=target, text="Hallo, ist mein Paket 📦 unterwegs?")
    second = client.send(target=target, text='second "line"\nthird')
    assert (first.platform_id, first.sequence) == (f"{target.conversation_id}:0", 0)
    assert (second.platform_id, second.sequence) == (f"{target.conversation_id}:1", 1)
    assert first.conversation_id == ""
    assert first.document is None
    request = requests_of(fake, "ms.PublishEvent")[0]
    assert request["kind"] == "req"
    assert request["body"] == {
        "dialogId": target.conversation_id,
        "event": {
            "type": "ContentEvent",
            "contentType": "text/plain",
            "message": "Hallo, ist mein Paket 📦 unterwegs?",
        },
    }
    assert "📦".encode() in fake.requests_to(SEND)[0].body  # sent as UTF-8, not \\u-escaped
    assert_all_valid(fake)


def test_the_echo_of_a_sent_message_has_the_id_the_send_returned(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    sent = client.send(target=target, text="where is my parcel?")
    [echo] = parse_document(PLATFORM, fake.echo_of(fake.published[-1]))
    assert isinstance(echo, MessageUpserted)
    assert echo.message_id == sent.platform_id
    assert echo.direction == Direction.OUT
    assert echo.sender.address == fake.consumer_id(CUSTOMER)
    assert echo.sequence == sent.sequence
    assert echo.text == "where is my parcel?"


def test_a_closed_conversation_is_replaced_and_the_message_sent_in_the_new_one(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    client.send(target=target, text="first")
    fake.close_conversation(target.conversation_id)
    sent = client.send(target=target, text="after the agent closed it")
    assert sent.conversation_id
    assert sent.conversation_id != target.conversation_id
    assert sent.platform_id == f"{sent.conversation_id}:0"
    assert fake.conversations[sent.conversation_id].state == "OPEN"
    closed_answer = fake.requests_to(SEND)[1].answer
    assert closed_answer["body"]["msg"] == "Bad Request, Conversation is close"
    assert [p.event["message"] for p in fake.published] == ["first", "after the agent closed it"]
    assert_all_valid(fake)


def test_a_send_without_a_conversation_opens_one(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    sent = client.send(target=Target(sender=CUSTOMER), text="a first question")
    assert sent.conversation_id in fake.conversations
    assert sent.platform_id == f"{sent.conversation_id}:0"
    assert_all_valid(fake)


def test_a_closed_answer_from_the_fixture_reopens_the_conversation(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    fake.fail_next(200, inner_answer("publish_answer_conversation_closed"), route=SEND)
    fake.close_conversation(target.conversation_id)  # so that the consumer may open another
    sent = client.send(target=target, text="hello again")
    assert sent.conversation_id not in ("", target.conversation_id)


def test_refuses_a_request_over_5000_characters_before_sending(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    calls = len(fake.requests)
    with pytest.raises(PlatformError) as caught:
        client.send(target=target, text="x" * 4900)
    assert caught.value.permanent
    assert caught.value.code == "request_too_large"
    assert len(fake.requests) == calls


def test_the_longest_text_the_capabilities_allow_is_sent(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    able = liveperson.capabilities(settings=fake.settings(), secrets={"client_secret"})
    target = opened(fake, client)
    sent = client.send(target=target, text="ä" * able.max_text_length)
    assert sent.sequence == 0
    assert_all_valid(fake)


def test_an_inner_too_large_answer_is_permanent(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    fake.fail_next(200, inner_answer("publish_answer_too_large"), route=SEND)
    with pytest.raises(PlatformError) as caught:
        client.send(target=target, text="hi")
    assert caught.value.permanent
    assert caught.value.code == "BAD_REQUEST"
    assert caught.value.message == "Bad Request"


def test_an_inner_server_error_is_transient(fake: FakeLivePerson, client: LivePersonClient) -> None:
    target = opened(fake, client)
    fake.fail_next(200, inner_answer("publish_answer_internal_error"), route=SEND)
    with pytest.raises(PlatformError) as caught:
        client.send(target=target, text="hi")
    assert not caught.value.permanent
    assert caught.value.code == "INTERNAL_SERVER_ERROR"


def test_an_answer_with_the_sequence_as_in_the_fixture_is_read(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    fake.fail_next(200, inner_answer("publish_answer_ok"), route=SEND)
    sent = client.send(target=target, text="hi")
    assert (sent.platform_id, sent.sequence) == (f"{target.conversation_id}:12", 12)


def test_an_answer_without_a_sequence_is_transient(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    fake.fail_next(200, {"code": "OK", "body": {}, "reqId": "{reqId}"}, route=SEND)
    with pytest.raises(PlatformError) as caught:
        client.send(target=target, text="hi")
    assert not caught.value.permanent
    assert caught.value.code == "invalid_response"


def test_an_empty_message_is_refused(fake: FakeLivePerson, client: LivePersonClient) -> None:
    with pytest.raises(PlatformError) as caught:
        client.send(target=Target(sender=CUSTOMER), text="")
    assert caught.value.permanent
    assert fake.requests == []


def test_find_sent_finds_nothing_to_look_for(client: LivePersonClient) -> None:
    since = datetime.now(UTC)
    assert (
        client.find_sent(target=Target(sender=CUSTOMER), text="t", subject="", since=since) is None
    )


# --- files -------------------------------------------------------------------------------------


def test_uploads_an_image_and_sends_it_with_a_thumbnail(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    data = png()
    uploaded = client.upload(file=outgoing(data), target=target)
    stored = fake.files[uploaded.platform_id]
    assert stored.content == data
    assert stored.content_type == "image/png"
    assert uploaded.document == {"relativePath": uploaded.platform_id, "fileType": "PNG"}
    [url_request] = requests_of(fake, "ms.GenerateURLForUploadFile")
    assert url_request["body"] == {"fileSize": str(len(data)), "fileType": "PNG"}
    [put] = fake.requests_to(uploaded.platform_id, "PUT")
    assert set(put.query) == {"temp_url_sig", "temp_url_expires"}
    assert put.headers["content-length"] == str(len(data))
    assert "authorization" not in put.headers  # the signed URL is the authority

    sent = client.send(target=target, text="my receipt", attachments=[uploaded.platform_id])
    assert sent.platform_id == f"{target.conversation_id}:0"
    event = fake.published[-1].event
    assert event["contentType"] == "hosted/file"
    message = event["message"]
    assert message["caption"] == "my receipt"
    assert message["relativePath"] == uploaded.platform_id
    assert message["fileType"] == "PNG"
    prefix = "data:image/jpeg;base64,"
    assert message["preview"].startswith(prefix)
    thumbnail = Image.open(io.BytesIO(base64.b64decode(message["preview"][len(prefix) :])))
    assert max(thumbnail.size) <= 96
    assert_all_valid(fake)


def test_the_echo_of_a_sent_file_names_the_uploaded_path(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    uploaded = client.upload(file=outgoing(png(40, 40)), target=target)
    sent = client.send(target=target, text="", attachments=[uploaded.platform_id])
    [echo] = parse_document(PLATFORM, fake.echo_of(fake.published[-1]))
    assert echo.message_id == sent.platform_id
    assert [a.external_id for a in echo.attachments] == [uploaded.platform_id]
    assert echo.attachments[0].mime_type == "image/png"
    assert "caption" not in fake.published[-1].event["message"]


class _Unsized(io.RawIOBase):
    """A stream that notes the size of each read."""

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


def test_streams_an_upload_in_chunks(fake: FakeLivePerson, client: LivePersonClient) -> None:
    target = opened(fake, client)
    image = Image.new("RGB", (900, 900))
    image.putdata([(i % 251, i % 241, i % 239) for i in range(900 * 900)])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    data = out.getvalue()
    assert len(data) > 256 * 1024
    stream = _Unsized(data)
    file = OutgoingFile(name="scan.jpg", content_type="image/jpeg", size=len(data), stream=stream)
    uploaded = client.upload(file=file, target=target)
    assert fake.files[uploaded.platform_id].content == data
    assert uploaded.platform_id.endswith(".JPG")
    assert max(stream.reads) < len(data)  # read in chunks, never whole
    client.send(target=target, text="scan", attachments=[uploaded.platform_id])
    assert fake.published[-1].event["message"]["fileType"] == "JPG"
    assert_all_valid(fake)


def test_a_retry_in_a_new_client_sends_the_file_without_a_thumbnail(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    uploaded = client.upload(file=outgoing(png(), "image/gif", "a.gif"), target=target)
    with make_client(fake) as retry:
        retry.send(target=target, text="again", attachments=[uploaded.platform_id])
    message = fake.published[-1].event["message"]
    assert message["fileType"] == "GIF"
    assert "preview" not in message
    assert_all_valid(fake)


def test_a_thumbnail_that_does_not_fit_beside_a_long_caption_is_left_out(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    uploaded = client.upload(file=outgoing(png()), target=target)
    client.send(target=target, text="c" * 4000, attachments=[uploaded.platform_id])
    message = fake.published[-1].event["message"]
    assert "preview" not in message
    assert message["caption"] == "c" * 4000
    assert_all_valid(fake)


def test_several_files_are_published_in_order_with_the_caption_on_the_first(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    paths = [
        client.upload(file=outgoing(png(20 + i, 20)), target=target).platform_id for i in (0, 1)
    ]
    sent = client.send(target=target, text="both", attachments=paths)
    assert sent.sequence == 0
    messages = [p.event["message"] for p in fake.published]
    assert [m["relativePath"] for m in messages] == paths
    assert [m.get("caption") for m in messages] == ["both", None]
    assert_all_valid(fake)


@pytest.mark.parametrize(
    ("file", "code"),
    [
        (outgoing(b"%PDF-1.7", "application/pdf", "a.pdf"), "unsupported_file_type"),
        (outgoing(b"", "image/png"), "empty_file"),
        (
            OutgoingFile(
                name="big.png",
                content_type="image/png",
                size=3 * 1024 * 1024 + 1,
                stream=io.BytesIO(b""),
            ),
            "file_too_large",
        ),
    ],
)
def test_refuses_files_livePerson_does_not_take_before_any_call(
    fake: FakeLivePerson, client: LivePersonClient, file: OutgoingFile, code: str
) -> None:
    with pytest.raises(PlatformError) as caught:
        client.upload(file=file, target=Target(sender=CUSTOMER))
    assert caught.value.permanent
    assert caught.value.code == code
    assert fake.requests == []


def test_an_upload_needs_the_conversation(fake: FakeLivePerson, client: LivePersonClient) -> None:
    with pytest.raises(PlatformError) as caught:
        client.upload(file=outgoing(png(10, 10)))
    assert caught.value.permanent
    assert fake.requests == []


def test_a_stream_longer_than_its_declared_size_is_stopped(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    data = png()
    file = OutgoingFile(name="p.png", content_type="image/png", size=100, stream=io.BytesIO(data))
    with pytest.raises(PlatformError) as caught:
        client.upload(file=file, target=target)
    assert caught.value.permanent
    assert caught.value.code == "file_too_large"
    assert all(stored.content is None for stored in fake.files.values())


def test_a_file_that_is_not_readable_as_an_image_goes_without_a_thumbnail(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    uploaded = client.upload(file=outgoing(b"\x89PNG broken", "image/png"), target=target)
    client.send(target=target, text="odd file", attachments=[uploaded.platform_id])
    assert "preview" not in fake.published[-1].event["message"]
    assert_all_valid(fake)


def test_downloads_a_file_an_agent_sent(fake: FakeLivePerson, client: LivePersonClient) -> None:
    target = opened(fake, client)
    data = png(64, 64)
    document = fake.agent_file(target.conversation_id, data, caption="label")
    [message] = parse_document(PLATFORM, document)
    ref = message.attachments[0].external_id
    sink = io.BytesIO()
    result = client.download(ref=ref, sink=sink, max_bytes=len(data), target=target)
    assert sink.getvalue() == data
    assert result.size == len(data)
    assert result.content_type == "image/png"
    assert result.name == ref.rsplit("/", 1)[1]
    [url_request] = requests_of(fake, "ms.GenerateURLForDownloadFile")
    assert url_request["body"] == {"relativePath": ref}
    [get] = fake.requests_to(ref, "GET")
    assert set(get.query) == {"temp_url_sig", "temp_url_expires"}
    assert_all_valid(fake)


def test_a_download_beyond_max_bytes_is_stopped(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    data = png()
    ref = fake.add_file(data)
    sink = io.BytesIO()
    with pytest.raises(PlatformError) as caught:
        client.download(ref=ref, sink=sink, max_bytes=len(data) - 1, target=target)
    assert caught.value.permanent
    assert caught.value.code == "file_too_large"
    assert len(sink.getvalue()) < len(data)


@pytest.mark.parametrize(
    "ref",
    [
        "//evil.example/steal",
        "/v1/../../etc/passwd",
        "https://evil.example/v1/x.png",
        "/v1/AUTH_async-images/x.png?redirect=1",
    ],
)
def test_only_plain_paths_are_downloaded_from_the_configured_host(
    fake: FakeLivePerson, client: LivePersonClient, ref: str
) -> None:
    with pytest.raises(PlatformError) as caught:
        client.download(ref=ref, sink=io.BytesIO(), max_bytes=1000, target=Target(sender="x"))
    assert caught.value.permanent
    assert fake.requests == []


def test_a_signed_url_with_a_foreign_path_is_not_followed(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    ref = fake.add_file(png(8, 8))
    answer = fixture_json(PLATFORM, "send/upload_url_answer") | {"reqId": "{reqId}"}
    answer["body"]["relativePath"] = "//evil.example/x.png"
    fake.fail_next(200, answer, route=SEND)
    with pytest.raises(PlatformError) as caught:
        client.download(ref=ref, sink=io.BytesIO(), max_bytes=1000, target=target)
    assert caught.value.permanent
    assert fake.requests_to(ref, "GET") == []


def test_a_download_needs_the_conversation(fake: FakeLivePerson, client: LivePersonClient) -> None:
    ref = fake.add_file(png(8, 8))
    with pytest.raises(PlatformError) as caught:
        client.download(ref=ref, sink=io.BytesIO(), max_bytes=10_000)
    assert caught.value.permanent
    assert fake.requests == []


def test_storage_errors_are_permanent_or_transient_by_status(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    ref = fake.add_file(png(8, 8))
    fake.fail_next(401, {"error": "Unauthorized"}, route=ref)
    with pytest.raises(PlatformError) as refused:
        client.download(ref=ref, sink=io.BytesIO(), max_bytes=10_000, target=target)
    assert refused.value.permanent
    fake.fail_next(503, route=ref, retry_after=9)
    with pytest.raises(PlatformError) as unavailable:
        client.download(ref=ref, sink=io.BytesIO(), max_bytes=10_000, target=target)
    assert not unavailable.value.permanent
    assert unavailable.value.retry_after == 9.0


# --- receipts, typing, closing -----------------------------------------------------------------


def test_marks_messages_read_with_one_receipt_per_dialog(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    conversation = target.conversation_id
    for text in ("one", "two"):
        fake.agent_message(conversation, text)
    other = opened(fake, client, "second-customer")
    fake.agent_message(other.conversation_id, "three")
    client.mark_read(
        target=target, messages=[f"{conversation}:0", f"{conversation}:1", f"{conversation}:1"]
    )
    [receipt] = requests_of(fake, "ms.PublishEvent")
    assert receipt["body"] == {
        "dialogId": conversation,
        "event": {"type": "AcceptStatusEvent", "status": "READ", "sequenceList": [0, 1]},
    }
    assert fake.published[-1].sequence == 2  # receipts take a sequence of their own
    assert_all_valid(fake)


def test_marks_read_in_each_dialog_named(fake: FakeLivePerson, client: LivePersonClient) -> None:
    target = opened(fake, client)
    fake.agent_message(target.conversation_id, "hello")
    elsewhere = fake.add_conversation(CUSTOMER)  # the consumer's conversation on another brand
    fake.agent_message(elsewhere, "hello from there")
    client.mark_read(target=target, messages=[])
    assert requests_of(fake, "ms.PublishEvent") == []
    with pytest.raises(PlatformError) as caught:
        client.mark_read(target=target, messages=["not-a-message-id"])
    assert caught.value.permanent
    client.mark_read(target=target, messages=[f"{target.conversation_id}:0", f"{elsewhere}:0"])
    dialogs = [r["body"]["dialogId"] for r in requests_of(fake, "ms.PublishEvent")]
    assert dialogs == [target.conversation_id, elsewhere]
    assert_all_valid(fake)


def test_a_receipt_for_an_agent_read_parses_back_as_read(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    sent = client.send(target=target, text="hi")
    [status] = parse_document(
        PLATFORM, fake.agent_read(target.conversation_id, [sent.sequence or 0])
    )
    assert isinstance(status, StatusChanged)
    assert status.observation.message_id == sent.platform_id
    assert status.observation.step == Step.READ


def test_typing_is_composing_then_active_without_sequences(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    client.typing(target=target, active=True)
    client.typing(target=target, active=False)
    states = [r["body"]["event"] for r in requests_of(fake, "ms.PublishEvent")]
    assert states == [
        {"type": "ChatStateEvent", "chatState": "COMPOSING"},
        {"type": "ChatStateEvent", "chatState": "ACTIVE"},
    ]
    assert [p.sequence for p in fake.published] == [None, None]
    assert client.send(target=target, text="now").sequence == 0
    [typing] = parse_document(PLATFORM, fake.echo_of(fake.published[0]))
    assert isinstance(typing, Typing)
    assert typing.typing
    assert_all_valid(fake)


def test_closes_a_conversation(fake: FakeLivePerson, client: LivePersonClient) -> None:
    target = opened(fake, client)
    assert client.close_conversation(target=target) is None
    [request] = requests_of(fake, "cm.UpdateConversationField")
    assert request["body"] == {
        "conversationId": target.conversation_id,
        "conversationField": {"field": "ConversationStateField", "conversationState": "CLOSE"},
    }
    assert fake.conversations[target.conversation_id].state == "CLOSE"
    assert (
        fake.requests_to(SEND)[-1].answer["body"]["msg"] == "OK Conversation resolved successfully"
    )
    [snapshot] = parse_document(PLATFORM, fake.conversation_notification(target.conversation_id))
    assert isinstance(snapshot, ConversationChanged)
    assert snapshot.status == "closed"
    assert_all_valid(fake)


def test_typing_and_closing_need_a_conversation(client: LivePersonClient) -> None:
    for call in (
        lambda: client.typing(target=Target(sender=CUSTOMER), active=True),
        lambda: client.close_conversation(target=Target(sender=CUSTOMER)),
    ):
        with pytest.raises(PlatformError) as caught:
            call()
        assert caught.value.permanent


# --- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (404, True), (500, False)])
def test_http_errors_are_permanent_for_4xx_and_transient_for_5xx(
    fake: FakeLivePerson, client: LivePersonClient, status: int, permanent: bool
) -> None:
    target = opened(fake, client)
    fake.fail_next(status, route=SEND)
    with pytest.raises(PlatformError) as caught:
        client.send(target=target, text="hi")
    assert caught.value.permanent is permanent
    assert caught.value.status == status
    assert client.send(target=target, text="hi").sequence == 0  # the next call passes


@pytest.mark.parametrize(("status", "retry_after"), [(429, 7.0), (503, 2.5), (408, None)])
def test_throttling_is_transient_and_says_when_to_retry(
    fake: FakeLivePerson, client: LivePersonClient, status: int, retry_after: float | None
) -> None:
    target = opened(fake, client)
    fake.fail_next(status, retry_after=retry_after, route=SEND)
    with pytest.raises(PlatformError) as caught:
        client.typing(target=target, active=True)
    assert not caught.value.permanent
    assert caught.value.retry_after == retry_after


def test_a_refused_connection_says_nothing_was_sent() -> None:
    config = ClientConfig(
        settings={
            "account_id": "73820514",
            "client_id": "app",
            "sentinel_url": f"http://127.0.0.1:{free_port()}",
            "idp_url": "idp.example",
            "messaging_url": "msg.example",
        },
        credentials={"client_secret": CLIENT_SECRET},
    )
    with LivePersonClient(config) as client, pytest.raises(PlatformError) as caught:
        client.open_conversation(target=Target(sender=CUSTOMER))
    assert not caught.value.permanent
    assert caught.value.code == "connect_failed"
    assert "not sent" in caught.value.message
    assert CLIENT_SECRET not in str(caught.value)


def test_a_read_timeout_says_the_request_may_have_been_carried_out(
    fake: FakeLivePerson,
) -> None:
    with make_client(fake, timeout=httpx.Timeout(0.3)) as client:
        target = opened(fake, client)
        fake.delay_next(1.0)
        with pytest.raises(PlatformError) as caught:
            client.send(target=target, text="slow")
    assert not caught.value.permanent
    assert caught.value.code == "read_timeout"
    assert "may have been carried out" in caught.value.message


def test_a_dropped_connection_is_transient(fake: FakeLivePerson, client: LivePersonClient) -> None:
    target = opened(fake, client)
    fake.drop_next()
    with pytest.raises(PlatformError) as caught:
        client.send(target=target, text="hi")
    assert not caught.value.permanent
    assert caught.value.code == "connection_lost"


def test_a_platform_that_went_down_and_came_back(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    fake.down()
    with pytest.raises(PlatformError) as caught:
        client.send(target=target, text="hi")
    assert caught.value.code == "connect_failed"
    fake.up()
    assert client.send(target=target, text="hi").sequence == 0


def test_a_bare_host_is_reached_over_https(fake: FakeLivePerson) -> None:
    with (
        make_client(fake, sentinel_url=f"127.0.0.1:{fake.port}") as client,
        pytest.raises(PlatformError) as caught,
    ):
        client.open_conversation(target=Target(sender=CUSTOMER))
    # A TLS handshake against the plain-HTTP fake fails before any HTTP request.
    assert caught.value.code == "connect_failed"
    assert "SSL" in caught.value.message
    assert fake.requests_to(TOKEN) == []


@pytest.mark.parametrize(
    ("settings", "credentials"),
    [
        ({"messaging_url": ""}, None),
        ({"account_id": ""}, None),
        ({}, {}),
        ({"idp_url": "ftp://idp.example"}, None),
        ({"account_id": "../73820514"}, None),
    ],
)
def test_a_channel_that_is_not_set_up_is_refused_for_good(
    fake: FakeLivePerson, settings: dict[str, str], credentials: dict[str, str] | None
) -> None:
    with (
        make_client(fake, credentials=credentials, **settings) as client,
        pytest.raises(PlatformError) as caught,
    ):
        client.send(target=Target(sender=CUSTOMER), text="hi")
    assert caught.value.permanent
    assert caught.value.code == "not_configured"
    assert fake.requests == []


def test_files_need_the_swift_host(fake: FakeLivePerson) -> None:
    with make_client(fake, swift_url="") as client, pytest.raises(PlatformError) as caught:
        client.upload(file=outgoing(png(8, 8)), target=Target(sender=CUSTOMER))
    assert caught.value.code == "not_configured"
    assert "swift_url" in caught.value.message


# --- the fake's webhooks, as the lead's end-to-end tests use them ------------------------------


def test_the_fake_webhooks_parse_with_the_connector(
    fake: FakeLivePerson, client: LivePersonClient
) -> None:
    target = opened(fake, client)
    [agent] = parse_document(PLATFORM, fake.agent_message(target.conversation_id, "Hi, Anna here"))
    assert isinstance(agent, MessageUpserted)
    assert agent.direction == Direction.IN
    assert agent.message_id == f"{target.conversation_id}:0"
    [note] = parse_document(
        PLATFORM,
        fake.agent_message(target.conversation_id, "VIP", audience="AGENTS_AND_MANAGERS"),
    )
    assert note.audience == "internal"
    [snapshot] = parse_document(PLATFORM, fake.conversation_notification(target.conversation_id))
    assert isinstance(snapshot, ConversationChanged)
    assert snapshot.participants is not None
    roles = {party.address: party.role for party in snapshot.participants}
    assert roles == {fake.consumer_id(CUSTOMER): "CONSUMER", AGENT_ID: "ASSIGNED_AGENT"}
    [typing] = parse_document(PLATFORM, fake.agent_typing(target.conversation_id))
    assert isinstance(typing, Typing)
    assert typing.address == AGENT_ID


def test_the_fake_refuses_what_livePerson_refuses(fake: FakeLivePerson) -> None:
    def post(path: str, **kwargs: Any) -> Recorded:
        with httpx.Client(base_url=fake.base_url) as http:
            http.post(path, **kwargs)
        return fake.requests[-1]

    account = fake.account_id
    token = post(
        f"/sentinel/api/account/{account}/app/token",
        params={"v": "1.0", "grant_type": "client_credentials"},
        data={"client_id": fake.client_id, "client_secret": fake.client_secret},
    ).answer["access_token"]
    bearer = post(
        f"/api/account/{account}/consumer",
        params={"v": "1.0"},
        headers={"Authorization": f"Bearer {token}"},
        json={"ext_consumer_id": "x"},
    )
    assert (bearer.status, bearer.answer["body"]["errorCode"]) == (401, 40103)
    missing = post(f"/api/account/{account}/consumer", params={"v": "1.0"}, json={})
    assert missing.answer == fixture_json(PLATFORM, "send/app_token_missing_401")
    jws = post(
        f"/api/account/{account}/consumer",
        params={"v": "1.0"},
        headers={"Authorization": token},
        json={"ext_consumer_id": "x"},
    ).answer["token"]
    without_jws = post(
        f"/api/account/{account}{SEND}",
        params={"v": "3"},
        headers={"Authorization": token},
        json={"kind": "req", "id": "1", "type": "ms.PublishEvent", "body": {}},
    )
    assert without_jws.status == 401
    headers = {"Authorization": token, "X-LP-ON-BEHALF": jws}
    unknown = post(
        f"/api/account/{account}{SEND}",
        params={"v": "3"},
        headers=headers,
        json={"kind": "req", "id": "7", "type": "ms.Nothing", "body": {}},
    )
    assert unknown.status == 200
    assert unknown.answer["code"] == "BAD_REQUEST"
    assert unknown.answer["reqId"] == "7"
    too_long = post(
        f"/api/account/{account}{SEND}",
        params={"v": "3"},
        headers=headers,
        json={"kind": "req", "id": "8", "type": "ms.PublishEvent", "body": {"p": "y" * 5000}},
    )
    assert too_long.status == 200
    assert too_long.answer == {"code": "BAD_REQUEST", "body": {"msg": "Bad Request"}, "reqId": "8"}
    not_json = post(
        f"/api/account/{account}{SEND}",
        params={"v": "3"},
        headers=headers,
        content=b'{"kind": "req"}',
    )
    assert not_json.status == 400
    assert len(fake.rejected()) == 6  # all but the token and the JWS
    # A temporary URL only works with its own signature.
    path = fake.add_file(png(4, 4))
    with httpx.Client(base_url=fake.base_url) as http:
        answer = http.get(path, params={"temp_url_sig": "0" * 40, "temp_url_expires": "9999999999"})
    assert answer.status_code == 401


# --- capabilities ------------------------------------------------------------------------------


FULL_SETTINGS = {
    "account_id": "73820514",
    "client_id": "app",
    "sentinel_url": "va.sentinel.liveperson.net",
    "idp_url": "va.idp.liveperson.net",
    "messaging_url": "va.msg.liveperson.net",
    "swift_url": "va.objectstorage.liveperson.net",
}


def test_a_fully_set_up_channel_can_do_everything_livePerson_offers() -> None:
    able = liveperson.capabilities(settings=FULL_SETTINGS, secrets={"client_secret"})
    assert able.reply
    assert able.why_not == ""
    assert able.files
    assert able.max_file_size == 3 * 1024 * 1024
    assert able.file_types == ("image/jpeg", "image/png", "image/gif")
    assert able.max_files == 1
    assert able.text_with_files
    assert not able.inline_files
    assert 0 < able.max_text_length < MAX_REQUEST_CHARS
    assert (able.read_receipts, able.typing, able.close) == (True, True, True)
    assert (able.poll, able.subject, able.decide) == (False, False, False)


def test_a_channel_without_swift_replies_without_files() -> None:
    settings = {k: v for k, v in FULL_SETTINGS.items() if k != "swift_url"}
    able = liveperson.capabilities(settings=settings, secrets={"client_secret"})
    assert able.reply
    assert not able.files
    assert able.max_file_size == 0
    assert able.file_types == ()


@pytest.mark.parametrize(
    ("missing", "secrets", "words"),
    [
        ("", set(), "app client secret"),
        ("messaging_url", {"client_secret"}, "messaging host"),
        ("account_id", {"client_secret"}, "account id"),
        ("idp_url", set(), "app client secret and IDP host"),
    ],
)
def test_a_channel_missing_a_setting_says_which(
    missing: str, secrets: set[str], words: str
) -> None:
    settings = dict(FULL_SETTINGS, **({missing: "  "} if missing else {}))
    able = liveperson.capabilities(settings=settings, secrets=secrets)
    assert not able.reply
    assert not able.files
    assert not able.read_receipts
    assert not able.typing
    assert not able.close
    assert able.why_not == f"To reply, the channel still needs its {words}."


def test_a_channel_with_nothing_set_lists_everything() -> None:
    able = liveperson.capabilities(settings={}, secrets=set())
    assert able.why_not == (
        "To reply, the channel still needs its account id, app client id, app client secret, "
        "Sentinel host, IDP host and messaging host."
    )


def test_make_client_builds_the_livePerson_client(fake: FakeLivePerson) -> None:
    config = ClientConfig(settings=fake.settings(), credentials=fake.credentials())
    client = liveperson.make_client(config=config)
    try:
        assert isinstance(client, LivePersonClient)
        assert client.open_conversation(target=Target(sender=CUSTOMER)).conversation_id
    finally:
        client.close()
