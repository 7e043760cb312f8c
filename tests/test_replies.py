"""Replies on the way out, end to end against the fake enmeshed Connector (both generations):
the API queues, the outbound worker uploads and sends, the answer and the echo meet the
outbound row, retries never send twice."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from inbox.inbound import process_due_events
from inbox.models import Attachment, Conversation, Message, MessageStatus, OutboundCommand
from inbox.outbound import process_due_commands
from inbox.services import sending
from tests.factories import UserFactory

WEBHOOK_SECRET = "connector-webhook-secret"


def deliver(post_webhook: Any, channel: Any, trigger: str, dto: dict[str, Any]) -> None:
    """What the Connector's webhook module posts for ``dto``."""
    response = post_webhook(
        channel, {"trigger": trigger, "data": dto}, headers={"X-API-KEY": WEBHOOK_SECRET}
    )
    assert response.status_code == 202, response.content


@pytest.fixture
def conversation(connector: Any, connected: Any, post_webhook: Any) -> Conversation:
    """A peer with an active relationship wrote to us; the inbox knows both."""
    peer = connector.new_address()
    relationship = connector.add_active_relationship(peer)
    deliver(post_webhook, connected, "transport.relationshipChanged", relationship)
    message = connector.receive_message(peer, subject="Claim 4711", body="Where is my refund?")
    deliver(post_webhook, connected, "transport.messageReceived", message)
    process_due_events()
    return Conversation.objects.get(channel=connected, external_id=peer)


def reply(api: APIClient, conversation: Conversation, key: str = "", **data: Any) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    files = data.pop("files", None)
    if files is not None:
        return api.post(
            f"/api/v1/conversations/{conversation.pk}/messages/",
            {**data, "files": files},
            format="multipart",
            headers=headers,
        )
    return api.post(
        f"/api/v1/conversations/{conversation.pk}/messages/", data, format="json", headers=headers
    )


def messages_of(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.order_by("position"))


def test_a_reply_with_two_files_is_queued_then_sent_once(
    member_api: APIClient,
    conversation: Conversation,
    connector: Any,
    post_webhook: Any,
    tmp_path: Any,
    settings: Any,
) -> None:
    settings.MEDIA_ROOT = tmp_path
    answer = reply(
        member_api,
        conversation,
        subject="Re: Claim 4711",
        text="Your refund is on its way.\nKind regards",
        files=[
            SimpleUploadedFile("Überweisung_报告.pdf", b"%PDF-1.7 receipt", "application/pdf"),
            SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n....", "image/png"),
        ],
    )
    assert answer.status_code == 201, answer.content
    queued = answer.json()
    assert (queued["status"], queued["direction"], queued["external_id"]) == ("queued", "out", None)
    assert [a["filename"] for a in queued["attachments"]] == ["Überweisung_报告.pdf", "photo.png"]
    assert not connector.requests_to("/Messages", "POST")  # the API only recorded it

    assert process_due_commands() == {"done": 1}
    sent = Message.objects.get(pk=queued["id"])
    assert sent.status == MessageStatus.SENT
    assert sent.external_id in connector.messages
    dto = connector.messages[sent.external_id]
    files = [connector.files[file_id][0] for file_id in dto["attachments"]]
    assert [f["filename"] for f in files] == ["Überweisung_报告.pdf", "photo.png"]
    assert sorted(a.external_id for a in sent.attachments.all()) == sorted(dto["attachments"])
    assert dto["content"]["body"] == "Your refund is on its way.\nKind regards"
    assert dto["content"]["subject"] == "Re: Claim 4711"
    assert connector.rejected() == []

    # The Connector's answer and its messageSent webhook both come back: still one message.
    process_due_events()
    deliver(post_webhook, conversation.channel, "transport.messageSent", dto)
    process_due_events()
    assert [m.pk for m in messages_of(conversation)][-1] == sent.pk
    assert conversation.messages.filter(direction="out").count() == 1
    sent.refresh_from_db()
    assert sent.author_id is not None
    assert sent.status in (MessageStatus.SENT, "delivered")
    assert list(sent.recipients.values_list("address", flat=True)) == [conversation.external_id]


@pytest.mark.django_db(transaction=True)
def test_an_echo_that_arrives_before_the_send_answer_is_the_same_message(
    member_api: APIClient, conversation: Conversation, connector: Any
) -> None:
    from django.test import Client

    seen: list[int] = []

    def echo_first(dto: dict[str, Any]) -> None:
        # The Connector fires its webhook before answering the send; the inbox applies it.
        response = Client().post(
            conversation.channel.webhook_path(),
            data=json.dumps({"trigger": "transport.messageSent", "data": dto}),
            content_type="application/json",
            headers={"X-API-KEY": WEBHOOK_SECRET},
        )
        seen.append(response.status_code)
        process_due_events()
        connection.close()  # this thread's own connection: the test database is dropped later

    connector.on_send = echo_first
    queued = reply(member_api, conversation, text="Thanks, we are on it.").json()
    assert process_due_commands() == {"done": 1}
    assert seen == [202]
    outgoing = list(conversation.messages.filter(direction="out"))
    assert [m.pk for m in outgoing] == [queued["id"]]
    assert outgoing[0].external_id in connector.messages
    assert outgoing[0].status == MessageStatus.SENT
    process_due_events()  # the send answer, stored through the way in: nothing new
    assert conversation.messages.filter(direction="out").count() == 1


def test_the_same_idempotency_key_gives_the_same_message_and_another_body_a_conflict(
    member_api: APIClient, conversation: Conversation
) -> None:
    first = reply(member_api, conversation, "key-1", text="Hello")
    again = reply(member_api, conversation, "key-1", text="Hello")
    other = reply(member_api, conversation, "key-1", text="Something else")
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
    assert first.json()["id"] == again.json()["id"]
    assert "different request" in other.json()["detail"]
    assert OutboundCommand.objects.count() == 1


def test_a_lost_answer_is_found_before_sending_again(
    member_api: APIClient, conversation: Conversation, connector: Any
) -> None:
    conversation.channel.settings = {**conversation.channel.settings, "timeout": 1}
    conversation.channel.save()
    connector.delay_next(2.5)  # the Connector sends, but answers after the client gave up
    queued = reply(member_api, conversation, text="Sent once, whatever happens.").json()
    assert process_due_commands() == {"queued": 1}
    message = Message.objects.get(pk=queued["id"])
    assert message.status == MessageStatus.SENDING
    command = OutboundCommand.objects.get()
    assert command.error  # why it will be tried again
    OutboundCommand.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    import time

    time.sleep(2)  # the delayed answer has been written by now
    assert process_due_commands() == {"done": 1}
    assert len(connector.requests_to("/Messages", "POST")) == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.external_id in connector.messages


def test_a_transient_failure_is_retried_and_sends_once(
    member_api: APIClient, conversation: Conversation, connector: Any
) -> None:
    connector.fail_next(1, status=503, route="/Messages")
    reply(member_api, conversation, text="Second time lucky")
    assert process_due_commands() == {"queued": 1}
    assert process_due_commands() == {}  # not due yet: backoff
    OutboundCommand.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert process_due_commands() == {"done": 1}
    assert len([r for r in connector.requests_to("/Messages", "POST") if not r.injected]) == 1


def test_a_permanent_failure_fails_the_message_with_the_platform_words_and_can_be_retried(
    member_api: APIClient, conversation: Conversation, connector: Any
) -> None:
    connector.fail_next(
        1,
        status=400,
        code="error.transport.relationships.wrongRelationshipStatus",
        message="The relationship is not active.",
        route="/Messages",
    )
    queued = reply(member_api, conversation, text="This one fails").json()
    assert process_due_commands() == {"failed": 1}
    failed = member_api.get(f"/api/v1/messages/{queued['id']}/").json()
    assert failed["status"] == "failed"
    assert failed["error_code"] == "error.transport.relationships.wrongRelationshipStatus"
    assert "not active" in failed["error"]

    retried = member_api.post(f"/api/v1/messages/{queued['id']}/retry/")
    assert retried.status_code == 200
    assert retried.json()["status"] == "queued"
    assert process_due_commands() == {"done": 1}
    assert Message.objects.get(pk=queued["id"]).status == MessageStatus.SENT
    again = member_api.post(f"/api/v1/messages/{queued['id']}/retry/")
    assert again.status_code == 409


def test_a_conversation_without_an_active_relationship_cannot_take_a_reply(
    member_api: APIClient, conversation: Conversation, connector: Any, post_webhook: Any
) -> None:
    [relationship] = list(conversation.channel.relationships.all())
    relationship.status = "Terminated"
    relationship.save()
    answer = reply(member_api, conversation, text="Anyone there?")
    assert answer.status_code == 409
    assert "No active relationship with" in answer.json()["detail"]
    assert not Message.objects.filter(direction="out").exists()


def test_bad_replies_answer_400_naming_the_field(
    member_api: APIClient, conversation: Conversation, settings: Any
) -> None:
    conversation.channel.settings = {**conversation.channel.settings, "max_file_size": 10}
    conversation.channel.save()
    empty = reply(member_api, conversation, text="")
    assert empty.json()["fields"] == {"text": ["A reply needs a text or a file."]}
    too_big = reply(
        member_api, conversation, text="x", files=[SimpleUploadedFile("a.bin", b"0" * 11)]
    )
    assert too_big.status_code == 400
    assert "files" in too_big.json()["fields"]
    long_subject = reply(member_api, conversation, text="x", subject="s" * 301)
    assert long_subject.status_code == 400
    assert "subject" in long_subject.json()["fields"]
    assert reply(member_api, conversation, "k" * 256, text="x").status_code == 400
    assert not Message.objects.filter(direction="out").exists()
    assert not Attachment.objects.filter(message__direction="out").exists()


def test_another_channels_conversation_is_a_404(conversation: Conversation) -> None:
    stranger = APIClient()
    stranger.force_authenticate(UserFactory())
    answer = reply(stranger, conversation, text="Let me in")
    assert answer.status_code == 404


def test_a_channel_without_send_settings_says_why(db: Any) -> None:
    from tests.factories import ChannelFactory

    channel = ChannelFactory(platform="enmeshed", settings={})
    conversation = Conversation.objects.create(channel=channel, external_id="did:e:x:dids:1")
    with pytest.raises(sending.CannotSend, match="no Connector URL and API key"):
        sending.send_reply(conversation=conversation, author=UserFactory(), text="Hi")
