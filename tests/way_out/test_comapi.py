"""Comapi end to end against the fake API space: a customer writes (webhook), reading sends a
status update, a reply with a file uploads it and sends parts, the echo is the same message and
the customer's receipt reads it; typing, and the gap fill finding what no webhook brought."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from inbox import services
from inbox.inbound import process_due_events
from inbox.models import Conversation, Message, MessageStatus
from inbox.outbound import process_due_commands
from inbox.services import read_state, sending
from inbox.services.polling import poll_channel
from inbox.services.typing import signal_typing
from tests.factories import UserFactory
from tests.fakes.comapi import FakeComapi

CUSTOMER = "customer-7"


@pytest.fixture
def fake() -> Any:
    from inbox.connectors.comapi.client import clear_sessions

    clear_sessions()
    with FakeComapi() as fake:
        yield fake
        assert fake.crashes == []
        assert fake.rejected() == []
    clear_sessions()


@pytest.fixture
def channel(db: Any, fake: FakeComapi) -> Any:
    return services.create_channel(
        platform="comapi", name="App", webhook_secrets=["secret-current"], settings=fake.settings()
    )


def deliver(post_webhook: Any, channel: Any, fake: FakeComapi, *frames: Any) -> None:
    response = post_webhook(channel, fake.webhook_body(*frames))
    assert response.status_code == 202, response.content
    process_due_events()


@pytest.fixture
def conversation(fake: FakeComapi, channel: Any, post_webhook: Any) -> Conversation:
    conversation_id = fake.add_conversation(participants=[CUSTOMER])
    frame = fake.add_message(conversation_id, "My order is late", sender=CUSTOMER, push=False)
    deliver(post_webhook, channel, fake, frame)
    return Conversation.objects.get(channel=channel, external_id=conversation_id)


def test_reading_a_conversation_sends_one_status_update(
    fake: FakeComapi, conversation: Conversation
) -> None:
    read_state.mark_read(user=UserFactory(), conversation=conversation)
    read_state.mark_read(user=UserFactory(), conversation=conversation)
    assert process_due_commands()["done"] == 1
    [update] = fake.requests_to("/messages/statusupdates", "POST")
    [entry] = update.json()
    incoming = Message.objects.get(text="My order is late")
    assert (entry["status"], entry["messageIds"]) == ("read", [incoming.external_id])


def test_a_reply_with_a_file_is_one_message_from_queued_to_read(
    fake: FakeComapi, channel: Any, conversation: Conversation, post_webhook: Any
) -> None:
    upload = SimpleUploadedFile("label.pdf", b"%PDF-1.4 label", "application/pdf")
    queued = sending.send_reply(
        conversation=conversation,
        author=UserFactory(),
        text="Here is the return label",
        files=[sending.ReplyFile.from_upload(upload)],
    ).message
    assert process_due_commands()["done"] == 1
    assert len(fake.requests_to("/content", "POST")) == 1
    queued.refresh_from_db()
    assert queued.status == MessageStatus.SENT
    [sent] = [
        m for m in fake.messages_of(conversation.external_id) if m["id"] == queued.external_id
    ]
    assert [part["type"] for part in sent["parts"]] == ["text/plain", "application/pdf"]

    echo = fake.events_of(conversation.external_id)[-1]
    deliver(post_webhook, channel, fake, echo)
    assert conversation.messages.filter(direction="out").count() == 1
    assert queued.attachments.count() == 1
    receipt = fake.add_receipt(
        conversation.external_id, queued.external_id, profile_id=CUSTOMER, push=False
    )
    deliver(post_webhook, channel, fake, receipt)
    queued.refresh_from_db()
    assert queued.status == MessageStatus.READ


def test_typing_switches_on_and_off(fake: FakeComapi, conversation: Conversation) -> None:
    user = UserFactory()
    signal_typing(conversation=conversation, user=user, active=True)
    signal_typing(conversation=conversation, user=user, active=False)
    assert process_due_commands()["done"] == 2
    calls = [r.method for r in fake.requests if r.path.endswith("/typing")]
    assert calls == ["POST", "DELETE"]


def test_the_gap_fill_finds_a_message_no_webhook_brought(
    fake: FakeComapi, channel: Any, conversation: Conversation
) -> None:
    fake.add_message(conversation.external_id, "Hello? Anyone?", sender=CUSTOMER, push=False)
    assert poll_channel(channel).ok
    assert conversation.messages.filter(text="Hello? Anyone?").count() == 0  # stored, pending
    process_due_events()
    assert conversation.messages.filter(text="Hello? Anyone?").count() == 1
    assert poll_channel(channel).new_events == 0  # asked again: nothing new, nothing twice
