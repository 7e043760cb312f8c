"""SCALAR end to end: a driver writes, an agent replies (text, then a PDF) through the inbox, the
fake platform receives the multipart sends, the ``message.sent`` echo meets the outbound row
and the later statuses move its tick — one message each, never two."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from inbox import services
from inbox.inbound import process_due_events
from inbox.models import Conversation, Message, MessageStatus, OutboundCommand
from inbox.outbound import process_due_commands
from inbox.services import sending
from tests.factories import UserFactory
from tests.fakes.scalar import FakeScalar

PDF = (Path(__file__).parent.parent / "fixtures" / "scalar" / "send").glob("*.pdf")


@pytest.fixture
def fake() -> Any:
    from inbox.connectors.scalar.client import clear_token_cache

    clear_token_cache()
    with FakeScalar() as fake:
        yield fake
        assert fake.crashes == []
    clear_token_cache()


@pytest.fixture
def channel(db: Any, fake: FakeScalar) -> Any:
    return services.create_channel(
        platform="scalar",
        name="Fleet",
        webhook_secrets=["secret-current"],
        settings=fake.settings(),
        credentials=fake.credentials(),
    )


def driver_writes(fake: FakeScalar, driver: str, text: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "eventBatchId": str(uuid.uuid4()),
        "eventSubscriptionId": fake.subscription_id,
        "eventBatchTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
        "eventsData": [
            {
                "eventType": "message.sent",
                "eventVersion": 1,
                "eventData": {
                    "registeredOn": now,
                    "messageId": str(uuid.uuid4()),
                    "conversationId": f"{fake.user_id}:{driver}",
                    "conversationType": "chat",
                    "sender": {"senderId": driver, "roleType": "Driver"},
                    "recipientId": fake.user_id,
                    "contentType": "text",
                    "content": text,
                    "replyToMessageId": None,
                    "statusHistory": {
                        "currentStatus": "Pending",
                        "lastUpdatedAt": now,
                        "events": [{"status": "Pending", "timestamp": now}],
                    },
                },
            }
        ],
    }


@pytest.fixture
def conversation(fake: FakeScalar, channel: Any, post_webhook: Any) -> Conversation:
    driver = fake.add_driver()
    response = post_webhook(channel, driver_writes(fake, driver, "Dock 3 is closed, where now?"))
    assert response.status_code == 202, response.content
    process_due_events()
    return Conversation.objects.get(channel=channel)


def test_a_reply_is_sent_once_and_its_echo_and_receipts_move_its_tick(
    fake: FakeScalar, channel: Any, conversation: Conversation, post_webhook: Any
) -> None:
    author = UserFactory()
    queued = sending.send_reply(conversation=conversation, author=author, text="Use dock 5.")
    assert queued.message.status == MessageStatus.QUEUED

    assert process_due_commands()["done"] == 1
    [sent] = fake.messages
    assert (sent.sender, sent.content_type, sent.text) == (fake.user_id, "text", "Use dock 5.")
    assert fake.rejected() == []
    message = Message.objects.get(pk=queued.message.pk)
    assert (message.external_id, message.status) == (sent.message_id, MessageStatus.SENT)

    for status, expected in (
        ("Pending", MessageStatus.SENT),
        ("Delivered", MessageStatus.DELIVERED),
        ("Seen", MessageStatus.READ),
    ):
        response = post_webhook(channel, fake.batch_for(sent.message_id, status))
        assert response.status_code == 202
        process_due_events()
        message.refresh_from_db()
        assert message.status == expected, status
    assert conversation.messages.filter(direction="out").count() == 1


def test_a_pdf_goes_inline_in_the_send_and_its_echo_is_the_same_message(
    fake: FakeScalar, channel: Any, conversation: Conversation, post_webhook: Any
) -> None:
    path = next(PDF)
    upload = SimpleUploadedFile(path.name, path.read_bytes(), "application/pdf")
    queued = sending.send_reply(
        conversation=conversation,
        author=UserFactory(),
        text="",
        files=[sending.ReplyFile.from_upload(upload)],
    )
    process_due_commands()
    [sent] = fake.messages
    assert (sent.content_type, sent.file_name, sent.file_bytes) == (
        "file",
        path.name,
        path.read_bytes(),
    )
    post_webhook(channel, fake.batch_for(sent.message_id, "Delivered"))
    process_due_events()
    message = Message.objects.get(pk=queued.message.pk)
    assert (message.external_id, message.status) == (sent.message_id, MessageStatus.DELIVERED)
    assert conversation.messages.filter(direction="out").count() == 1
    assert message.attachments.count() == 1


def test_text_and_file_together_and_group_chats_are_refused_before_queueing(
    fake: FakeScalar, channel: Any, conversation: Conversation
) -> None:
    upload = SimpleUploadedFile("note.pdf", b"%PDF-1.4 tiny", "application/pdf")
    with pytest.raises(sending.InvalidReply) as refused:
        sending.send_reply(
            conversation=conversation,
            author=UserFactory(),
            text="and a note",
            files=[sending.ReplyFile.from_upload(upload)],
        )
    assert refused.value.field == "files"
    with pytest.raises(sending.InvalidReply, match="takes image/jpeg"):
        sending.send_reply(
            conversation=conversation,
            author=UserFactory(),
            text="",
            files=[sending.ReplyFile.from_upload(SimpleUploadedFile("a.txt", b"x", "text/plain"))],
        )
    Conversation.objects.filter(pk=conversation.pk).update(kind="group")
    conversation.refresh_from_db()
    assert "read-only" in sending.why_not(conversation)
    assert not OutboundCommand.objects.exists()


def test_a_server_error_is_retried_and_sends_once(
    fake: FakeScalar, channel: Any, conversation: Conversation
) -> None:
    queued = sending.send_reply(conversation=conversation, author=UserFactory(), text="Dock 5.")
    fake.fail_next(503)
    assert process_due_commands()["queued"] == 1
    OutboundCommand.objects.update(next_attempt_at=datetime.now(UTC))
    assert process_due_commands()["done"] == 1
    assert len(fake.messages) == 1
    assert Message.objects.get(pk=queued.message.pk).status == MessageStatus.SENT


def test_refused_credentials_put_the_channel_in_error_until_a_call_succeeds(
    fake: FakeScalar, channel: Any, conversation: Conversation
) -> None:
    from inbox.connectors.scalar.client import clear_token_cache

    services.update_channel(channel=channel, credentials={"client_secret": "wrong"})
    sending.send_reply(conversation=conversation, author=UserFactory(), text="Dock 5.")
    assert process_due_commands()["failed"] == 1
    channel.refresh_from_db()
    assert "refused" in channel.credentials_error
    assert "wrong" not in channel.credentials_error

    clear_token_cache()
    services.update_channel(channel=channel, credentials=fake.credentials())
    failed = Message.objects.get(direction="out")
    sending.retry_message(failed, user=UserFactory())
    assert process_due_commands()["done"] == 1
    channel.refresh_from_db()
    assert channel.credentials_error == ""
