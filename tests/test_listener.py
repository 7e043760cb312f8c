"""The Comapi websocket listener against the fake API space, over real websockets and
PostgreSQL: frames become events (and, processed, messages), a dropped socket reconnects and the
gap fill brings what it missed, duplicates collapse, keep-alives go out, and a stop is prompt.

The listener runs in a thread of its own with its own event loop, as ``manage.py listen`` runs
it, so its rows are committed for real (``transactional_db``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from inbox import services
from inbox.choices import ConversationStatus
from inbox.connectors.comapi.client import clear_sessions
from inbox.connectors.comapi.socket import _backoff, listen
from inbox.connectors.outbound import ClientConfig, PlatformError
from inbox.inbound import process_due_events, store_document
from inbox.models import Channel, Conversation, InboundEvent, Message, PollCursor, Source
from inbox.services.listening import can_listen, comapi_gap_hint, listen_channels
from tests.factories import ChannelFactory
from tests.fakes.comapi import FakeComapi, webhook_headers

ROOT = Path(__file__).resolve().parent.parent
CUSTOMER = "jonas.weber"
FAST = {"keepalive": 0.2, "max_backoff": 0.3, "base_backoff": 0.05, "recheck": 0.2}


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


def comapi_channel(fake: FakeComapi, name: str = "App chat", **settings: Any) -> Channel:
    return services.create_channel(
        platform="comapi",
        name=name,
        webhook_secrets=["comapi-webhook-secret"],
        settings=fake.settings(**settings),
    )


class Listener:
    """``listen_channels`` in a thread with its own event loop, stopped as a signal would."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.failure: BaseException | None = None

    def __enter__(self) -> Listener:
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.halt()

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop = asyncio.Event()
            self._ready.set()
            await listen_channels(stop=self.stop, **self.options)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.failure = exc

    def halt(self) -> float:
        """Set the stop event; returns how long the listener took to return."""
        started = time.monotonic()
        if self.loop is not None and self.stop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the listener did not stop"
        assert self.failure is None
        return time.monotonic() - started


def eventually(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("the condition did not come true in time")


def stored(frame: dict[str, Any]) -> InboundEvent | None:
    return InboundEvent.objects.select_related("request").filter(dedup_key=frame["eventId"]).first()


# --- frames in ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_frames_become_websocket_events_and_then_messages(
    fake: FakeComapi, conversation: str
) -> None:
    channel = comapi_channel(fake)
    with Listener(**FAST):
        eventually(lambda: fake.open_sockets == 1)
        frame = fake.add_message(conversation, "Mein Paket ist beschädigt", sender=CUSTOMER)
        event = eventually(lambda: stored(frame))

    assert event.channel_id == channel.pk
    assert event.event_name == "conversationMessage.sent"
    assert event.request.source == Source.WEBSOCKET
    assert event.payload == frame
    # The greeting is stored too (and ignored when processed).
    assert InboundEvent.objects.filter(event_name="socket.info").exists()

    process_due_events()
    message = Message.objects.get()
    assert message.external_id == frame["payload"]["messageId"]
    assert (message.text, message.direction, message.sequence) == (
        "Mein Paket ist beschädigt",
        "in",
        0,
    )
    assert message.conversation.external_id == conversation


@pytest.mark.django_db(transaction=True)
def test_a_dropped_socket_reconnects_and_fills_the_gap(fake: FakeComapi, conversation: str) -> None:
    channel = comapi_channel(fake)
    with Listener(**FAST):
        eventually(lambda: fake.open_sockets == 1)
        first = fake.add_message(conversation, "first", sender=CUSTOMER)
        eventually(lambda: stored(first))
        process_due_events()  # the conversation is known now, with its last event id

        fake.refuse_next_connections(2)
        assert fake.drop_connections() == 1
        missed = fake.add_message(conversation, "while you were away", sender=CUSTOMER, push=False)
        receipt = fake.add_receipt(
            conversation, first["payload"]["messageId"], profile_id=CUSTOMER, push=False
        )

        gap = eventually(lambda: stored(missed))
        eventually(lambda: stored(receipt))
        eventually(lambda: fake.open_sockets == 1)
        after = fake.add_message(conversation, "live again", sender=CUSTOMER)
        eventually(lambda: stored(after))

    assert gap.request.source == Source.POLL
    assert [a.status for a in fake.socket_attempts][-3:] == [503, 503, 101]
    # The gap fill asked for what came after the last event the inbox had.
    asked = [r.query["from"] for r in fake.requests_to(f"/conversations/{conversation}/events")]
    assert ["1"] in asked
    assert PollCursor.objects.get(channel=channel).cursor["conversations"][conversation] >= 2

    process_due_events()
    texts = list(Message.objects.order_by("sequence").values_list("text", flat=True))
    assert texts == ["first", "while you were away", "live again"]


@pytest.mark.django_db(transaction=True)
def test_the_same_frame_twice_is_one_event(fake: FakeComapi, conversation: str) -> None:
    comapi_channel(fake)
    with Listener(**FAST):
        eventually(lambda: fake.open_sockets == 1)
        frame = fake.add_message(conversation, "once", sender=CUSTOMER)
        fake.push(frame)
        marker = fake.add_message(conversation, "after both copies", sender=CUSTOMER)
        eventually(lambda: stored(marker))

    assert InboundEvent.objects.filter(dedup_key=frame["eventId"]).count() == 1
    process_due_events()
    assert Message.objects.filter(text="once").count() == 1


@pytest.mark.django_db(transaction=True)
def test_frames_that_are_not_json_objects_are_skipped(fake: FakeComapi, conversation: str) -> None:
    comapi_channel(fake)
    with Listener(**FAST):
        eventually(lambda: fake.open_sockets == 1)
        fake.push("this is not JSON")
        fake.push('["a", "list"]')
        marker = fake.add_message(conversation, "still listening", sender=CUSTOMER)
        eventually(lambda: stored(marker))
        assert fake.connections_opened == 1  # the connection survived them

    assert set(InboundEvent.objects.values_list("event_name", flat=True)) == {
        "socket.info",
        "conversationMessage.sent",
    }


@pytest.mark.django_db(transaction=True)
def test_unknown_frames_are_stored_and_ignored(fake: FakeComapi) -> None:
    comapi_channel(fake)
    with Listener(**FAST):
        eventually(lambda: fake.open_sockets == 1)
        frame = {"eventId": str(uuid.uuid4()), "name": "apiSpace.somethingNew", "payload": {}}
        fake.push(frame)
        eventually(lambda: stored(frame))
    process_due_events()
    assert stored(frame).state == InboundEvent.State.IGNORED


# --- the socket's upkeep ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_keep_alives_go_out_while_connected(fake: FakeComapi) -> None:
    comapi_channel(fake)
    with Listener(**{**FAST, "keepalive": 0.05}):
        eventually(lambda: len(fake.echoes()) >= 3)
    echo = fake.echoes()[0]
    assert (echo["name"], echo["payload"]) == ("echo", {})
    assert echo["publishedOn"].endswith("Z")


@pytest.mark.django_db(transaction=True)
def test_a_refused_token_is_renewed_on_reconnect(fake: FakeComapi) -> None:
    comapi_channel(fake)
    with Listener(**FAST):
        eventually(lambda: fake.open_sockets == 1)
        fake.expire_sessions()
        fake.drop_connections()
        eventually(lambda: fake.connections_opened == 2)
    statuses = [(a.status, a.token_known) for a in fake.socket_attempts]
    assert statuses == [(101, True), (401, False), (101, True)]
    assert fake.sessions_opened == 2


@pytest.mark.django_db(transaction=True)
def test_stop_returns_promptly_and_closes_the_socket(fake: FakeComapi) -> None:
    comapi_channel(fake)
    listener = Listener(**{**FAST, "keepalive": 30, "recheck": 30})
    with listener:
        eventually(lambda: fake.open_sockets == 1)
        assert listener.halt() < 2.0
    assert fake.wait_until(lambda: fake.open_sockets == 0)


@pytest.mark.django_db(transaction=True)
def test_stop_returns_promptly_while_waiting_to_reconnect(fake: FakeComapi) -> None:
    comapi_channel(fake)
    listener = Listener(**{**FAST, "max_backoff": 30, "base_backoff": 30})
    with listener:
        eventually(lambda: fake.open_sockets == 1)
        fake.refuse_next_connections(100)
        fake.drop_connections()
        eventually(lambda: fake.open_sockets == 0)
        time.sleep(0.1)  # now in its (long) wait before the next attempt
        assert listener.halt() < 2.0


@pytest.mark.django_db(transaction=True)
def test_stop_returns_promptly_while_a_session_is_being_opened(fake: FakeComapi) -> None:
    comapi_channel(fake)
    fake.delay_next(3)  # the session start hangs
    listener = Listener(**FAST)
    with listener:
        eventually(lambda: fake.requests_to("/sessions/start"))
        assert listener.halt() < 1.0
    assert fake.connections_opened == 0


@pytest.mark.django_db(transaction=True)
def test_the_session_token_never_reaches_the_logs(
    fake: FakeComapi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    comapi_channel(fake)
    with Listener(**FAST):
        eventually(lambda: fake.open_sockets == 1)
        fake.expire_sessions()
        fake.drop_connections()
        eventually(lambda: fake.connections_opened == 2)
    # The fake's own server logs what it received; everything of ours is checked.
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("websockets"))
    assert "socket?token=***" in ours  # websockets' request line, as our connection logs it
    tokens = list(fake.sessions_issued)
    assert len(tokens) == 2
    for token in tokens:
        assert token not in ours
    for record in fake.requests_to("/sessions", "POST"):
        assert record.json()["authenticationToken"] not in ours


def test_backoff_grows_with_failures_jittered_and_capped() -> None:
    waits = {n: [_backoff(n, base=1, cap=30) for _ in range(200)] for n in (1, 2, 3, 6, 20)}
    assert all(0.5 <= w <= 1 for w in waits[1])
    assert all(1 <= w <= 2 for w in waits[2])
    assert all(2 <= w <= 4 for w in waits[3])
    assert all(15 <= w <= 30 for w in waits[6] + waits[20])
    assert len(set(waits[20])) > 1  # jittered, so channels do not reconnect in step


def test_a_channel_without_a_usable_socket_url_cannot_listen() -> None:
    async def attempt(settings: dict[str, Any]) -> None:
        await listen(
            ClientConfig(settings=settings, credentials={"jwt_secret": "s"}),
            on_frame=_nothing_with,
            on_connect=_nothing,
            stop=asyncio.Event(),
        )

    with pytest.raises(PlatformError, match="not a ws"):
        asyncio.run(attempt({"api_space_id": "space", "ws_url": "https://api.comapi.com"}))
    with pytest.raises(PlatformError, match="API space id"):
        asyncio.run(attempt({"ws_url": "wss://api.comapi.com"}))


async def _nothing() -> None:
    return None


async def _nothing_with(frame: dict[str, Any]) -> None:
    return None


def test_a_webhook_of_an_event_the_socket_brought_is_the_same_event(
    db: Any, fake: FakeComapi, conversation: str, post_webhook: Any
) -> None:
    channel = comapi_channel(fake)
    frame = fake.add_message(conversation, "one event, two ways", sender=CUSTOMER, push=False)
    store_document(channel=channel, source=Source.WEBSOCKET, document=frame)
    body = fake.webhook_body(frame)

    response = post_webhook(channel, body, headers=webhook_headers(body, "comapi-webhook-secret"))

    assert response.status_code == 202, response.content
    assert InboundEvent.objects.filter(dedup_key=frame["eventId"]).count() == 1
    process_due_events()
    assert Message.objects.get().text == "one event, two ways"


# --- which channels listen ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_idle_without_channels_then_new_and_removed_ones_are_picked_up(
    fake: FakeComapi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="inbox.services.listening")
    ChannelFactory(platform="comapi", settings={"profile_id": "someone"})  # no JWT settings
    with Listener(**FAST):
        eventually(lambda: "listener idle" in caplog.text)
        channel = comapi_channel(fake)
        eventually(lambda: fake.open_sockets == 1)
        Channel.objects.filter(pk=channel.pk).update(is_active=False)
        eventually(lambda: fake.open_sockets == 0)
    assert caplog.text.count("listener idle") == 2  # before the channel came, and after it left


@pytest.mark.django_db(transaction=True)
def test_a_channel_whose_settings_change_listens_afresh(fake: FakeComapi) -> None:
    channel = comapi_channel(fake)
    with Listener(**FAST):
        eventually(lambda: fake.open_sockets == 1)
        services.update_channel(channel=channel, settings={**channel.settings, "keepalive": 7})
        eventually(lambda: fake.connections_opened == 2 and fake.open_sockets == 1)


@pytest.mark.django_db(transaction=True)
def test_only_the_channels_named_listen(fake: FakeComapi) -> None:
    with FakeComapi(api_space_id="other-space") as other:
        named = comapi_channel(fake)
        comapi_channel(other, name="Other app")
        with Listener(keys=[named.key], **FAST):
            eventually(lambda: fake.open_sockets == 1)
            time.sleep(0.3)
            assert other.open_sockets == 0
        assert other.crashes == []


def test_can_listen_needs_the_session_settings(db: Any) -> None:
    full = {
        "api_space_id": "space",
        "profile_id": "desk",
        "jwt_issuer": "issuer",
        "jwt_audience": "audience",
    }
    assert can_listen(
        ChannelFactory(platform="comapi", settings=full, credentials={"jwt_secret": "s"})
    )
    assert not can_listen(ChannelFactory(platform="comapi", settings=full))
    assert not can_listen(
        ChannelFactory(
            platform="comapi", settings=full, credentials={"jwt_secret": "s"}, is_active=False
        )
    )
    assert not can_listen(ChannelFactory(platform="scalar", settings=full))


# --- the gap fill's cursor hint -----------------------------------------------------------------


def _conversation_with(
    channel: Channel,
    external_id: str,
    *sequences: int,
    outgoing: tuple[int, ...] = (),
    **fields: Any,
) -> None:
    conversation = Conversation.objects.create(channel=channel, external_id=external_id, **fields)
    numbered = [(s, "in") for s in sequences] + [(s, "out") for s in outgoing]
    for position, (sequence, direction) in enumerate(numbered, start=1):
        Message.objects.create(
            channel=channel,
            conversation=conversation,
            external_id=f"{external_id}-{sequence}",
            direction=direction,
            sent_at=timezone.now(),
            position=position,
            sequence=sequence,
        )


def test_the_hint_adds_open_conversations_at_their_last_incoming_event(db: Any) -> None:
    channel = ChannelFactory(platform="comapi")
    _conversation_with(channel, "new", 3, 7)
    _conversation_with(channel, "replied", 4, outgoing=(9,))  # our reply may skip a hole
    _conversation_with(channel, "ours-only", outgoing=(2,))
    _conversation_with(channel, "empty")
    _conversation_with(channel, "closed", 5, status=ConversationStatus.CLOSED)
    _conversation_with(ChannelFactory(platform="comapi"), "elsewhere", 9)
    cursor: dict[str, Any] = {"conversations": {}}

    comapi_gap_hint(channel, cursor)

    assert cursor == {"conversations": {"new": 7, "replied": 4, "ours-only": -1, "empty": -1}}


def test_the_hint_keeps_what_the_gap_fill_read_and_drops_what_is_no_longer_open(db: Any) -> None:
    channel = ChannelFactory(platform="comapi")
    _conversation_with(channel, "behind", 12)  # the socket saw more: the gap fill reads again
    _conversation_with(channel, "ahead", 2)
    _conversation_with(channel, "deleted", 5, status=ConversationStatus.DELETED)
    cursor: dict[str, Any] = {
        "conversations": {"behind": 4, "ahead": 20, "deleted": 5, "unknown-here": 1}
    }

    comapi_gap_hint(channel, cursor)

    assert cursor == {"conversations": {"behind": 4, "ahead": 20, "unknown-here": 1}}


def test_the_hint_keeps_gone_conversations_out_until_they_come_alive(db: Any) -> None:
    channel = ChannelFactory(platform="comapi")
    went = timezone.now() - timedelta(minutes=10)
    _conversation_with(channel, "still-gone", 4)
    Message.objects.filter(conversation__external_id="still-gone").update(
        received_at=went - timedelta(minutes=1)
    )
    _conversation_with(channel, "back", 6)  # a message received after it went
    gone = {"still-gone": went.isoformat(), "back": went.isoformat()}
    cursor: dict[str, Any] = {"conversations": {}, "gone": dict(gone)}

    comapi_gap_hint(channel, cursor)

    assert cursor == {"conversations": {"back": 6}, "gone": {"still-gone": went.isoformat()}}


def test_the_hint_leaves_other_platforms_alone(db: Any) -> None:
    channel = ChannelFactory(platform="scalar")
    cursor: dict[str, Any] = {"since": "x"}
    comapi_gap_hint(channel, cursor)
    assert cursor == {"since": "x"}


# --- the command ---------------------------------------------------------------------------------


def test_listen_names_an_unknown_channel_key(db: Any) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(CommandError, match=missing):
        call_command("listen", missing)
    with pytest.raises(CommandError, match="not-a-key"):
        call_command("listen", "not-a-key")


def test_listen_refuses_a_channel_without_a_websocket(db: Any) -> None:
    scalar = ChannelFactory(platform="scalar", name="Fleet")
    with pytest.raises(CommandError, match=f"cannot listen to Fleet \\({scalar.key}\\)"):
        call_command("listen", str(scalar.key))


@pytest.mark.django_db(transaction=True)
def test_the_listen_command_stops_cleanly_on_sigterm(fake: FakeComapi, conversation: str) -> None:
    channel = comapi_channel(fake)
    db = connection.settings_dict
    environment = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
    }
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "listen", str(channel.key)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        eventually(lambda: fake.open_sockets == 1 or process.poll() is not None, timeout=30)
        assert process.poll() is None
        frame = fake.add_message(conversation, "to the command", sender=CUSTOMER)
        eventually(lambda: stored(frame))
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    text = output.decode()
    assert process.returncode == 0, text[-3000:]
    assert f"listening to 1 channel(s): App chat ({channel.key})" in text
    assert "listener stopped" in text
    assert "token=" not in text.replace("token=***", "")
    assert fake.wait_until(lambda: fake.open_sockets == 0)
