"""LivePerson end to end against the fake: the inbox opens a conversation for a consumer, an
agent writes, reading sends one READ receipt, a reply with an image goes out as a hosted file,
its echo is the same message and the agent's receipt reads it; typing, closing, a send into a
conversation the agent closed, and starting anew. Then the inbox's buttons for these (the
platform that has them all)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from inbox import services
from inbox.inbound import process_due_events
from inbox.models import Attachment, Conversation, Message, MessageStatus, OutboundCommand
from inbox.outbound import process_due_commands
from inbox.services import lifecycle, read_state, sending
from inbox.services.downloads import download_due_attachments
from inbox.services.typing import signal_typing
from tests.factories import UserFactory
from tests.fakes.liveperson import FakeLivePerson

CONSUMER = "customer-42"


@pytest.fixture
def fake() -> Any:
    from inbox.connectors.liveperson.client import clear_token_cache

    clear_token_cache()
    with FakeLivePerson() as fake:
        yield fake
        assert fake.crashes == []
        assert fake.rejected() == []
    clear_token_cache()


@pytest.fixture
def channel(db: Any, fake: FakeLivePerson) -> Any:
    return services.create_channel(
        platform="liveperson",
        name="Support",
        webhook_secrets=["secret-current"],
        settings=fake.settings(),
        credentials=fake.credentials(),
    )


@pytest.fixture
def user(db: Any) -> Any:
    return UserFactory()


def deliver(post_webhook: Any, channel: Any, *documents: Any) -> None:
    for document in documents:
        response = post_webhook(channel, document)
        assert response.status_code == 202, response.content
    process_due_events()


@pytest.fixture
def conversation(fake: FakeLivePerson, channel: Any, user: Any, post_webhook: Any) -> Conversation:
    """The inbox opened a conversation for the consumer; LivePerson's snapshot followed."""
    lifecycle.start_conversation(channel=channel, user=user, consumer=CONSUMER)
    assert process_due_commands()["done"] == 1
    [opened] = fake.conversations
    deliver(post_webhook, channel, fake.conversation_notification(opened))
    return Conversation.objects.get(channel=channel, external_id=opened)


def png(name: str = "map.png") -> sending.ReplyFile:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 120, 200)).save(buffer, "PNG")
    return sending.ReplyFile.from_upload(SimpleUploadedFile(name, buffer.getvalue(), "image/png"))


def published(fake: FakeLivePerson, event_type: str) -> list[Any]:
    return [p for p in fake.published if p.event.get("type") == event_type and p.role == "CONSUMER"]


def test_an_opened_conversation_names_the_consumer_as_webhooks_do(
    fake: FakeLivePerson, conversation: Conversation
) -> None:
    addresses = set(conversation.participants.values_list("address", flat=True))
    assert fake.consumer_id(CONSUMER) in addresses
    assert CONSUMER not in addresses  # our id for them is not an address of the conversation
    conversation.channel.refresh_from_db()
    assert conversation.channel.learned["consumers"] == {fake.consumer_id(CONSUMER): CONSUMER}


def test_reading_sends_one_receipt_and_never_for_internal_notes(
    fake: FakeLivePerson, channel: Any, conversation: Conversation, user: Any, post_webhook: Any
) -> None:
    deliver(
        post_webhook,
        channel,
        fake.agent_message(conversation.external_id, "Hello, how can I help?"),
        fake.agent_message(conversation.external_id, "VIP!", audience="AGENTS_AND_MANAGERS"),
    )
    conversation.refresh_from_db()
    read_state.mark_read(user=user, conversation=conversation)
    read_state.mark_read(user=UserFactory(), conversation=conversation)  # a colleague: no more
    assert process_due_commands()["done"] == 1
    [receipt] = published(fake, "AcceptStatusEvent")
    greeting = Message.objects.get(text="Hello, how can I help?")
    assert receipt.event["status"] == "READ"
    assert receipt.event["sequenceList"] == [greeting.sequence]


def test_a_reply_with_an_image_is_one_message_from_queued_to_read(
    fake: FakeLivePerson, channel: Any, conversation: Conversation, user: Any, post_webhook: Any
) -> None:
    queued = sending.send_reply(
        conversation=conversation, author=user, text="Here is the map", files=[png()]
    ).message
    assert process_due_commands()["done"] == 1
    [file_event] = published(fake, "ContentEvent")
    assert file_event.event["contentType"] == "hosted/file"
    assert file_event.event["message"]["caption"] == "Here is the map"
    assert file_event.event["message"]["preview"].startswith("data:image/")
    queued.refresh_from_db()
    assert queued.external_id == f"{file_event.dialog_id}:{file_event.sequence}"
    assert queued.status == MessageStatus.SENT

    deliver(post_webhook, channel, fake.echo_of(file_event))
    assert conversation.messages.filter(direction="out").count() == 1
    deliver(post_webhook, channel, fake.agent_read(conversation.external_id, [file_event.sequence]))
    queued.refresh_from_db()
    assert queued.status == MessageStatus.READ


def test_typing_goes_out_as_chat_states(
    fake: FakeLivePerson, conversation: Conversation, user: Any
) -> None:
    assert signal_typing(conversation=conversation, user=user, active=True)
    signal_typing(conversation=conversation, user=user, active=True)  # the same moment: once
    signal_typing(conversation=conversation, user=user, active=False)
    assert process_due_commands()["done"] == 2
    states = [p.event["chatState"] for p in published(fake, "ChatStateEvent")]
    assert states == ["COMPOSING", "ACTIVE"]


def test_closing_from_the_inbox_closes_it_there_and_here(
    fake: FakeLivePerson, conversation: Conversation, user: Any
) -> None:
    first = lifecycle.close_conversation(conversation=conversation, user=user)
    assert lifecycle.close_conversation(conversation=conversation, user=user) == first
    assert lifecycle.pending(conversation) == {"close"}
    assert process_due_commands()["done"] == 1
    assert fake.conversations[conversation.external_id].state == "CLOSE"
    conversation.refresh_from_db()
    assert conversation.status == "closed"
    with pytest.raises(lifecycle.CannotAct):
        lifecycle.close_conversation(conversation=conversation, user=user)


def test_a_reply_into_a_conversation_the_agent_closed_moves_to_a_new_one(
    fake: FakeLivePerson, conversation: Conversation, user: Any
) -> None:
    fake.close_conversation(conversation.external_id)  # the inbox has not heard yet
    queued = sending.send_reply(conversation=conversation, author=user, text="Still there?").message
    assert process_due_commands()["done"] == 1
    queued.refresh_from_db()
    assert queued.conversation.external_id != conversation.external_id
    assert fake.conversations[queued.conversation.external_id].state == "OPEN"
    assert queued.status == MessageStatus.SENT
    assert not conversation.messages.filter(pk=queued.pk).exists()
    assert queued.conversation.last_message_id == queued.pk


def test_a_closed_conversation_can_be_started_anew_with_its_consumer(
    fake: FakeLivePerson, channel: Any, conversation: Conversation, user: Any, post_webhook: Any
) -> None:
    deliver(post_webhook, channel, fake.close_conversation(conversation.external_id))
    conversation.refresh_from_db()
    assert conversation.status == "closed"
    assert "closed" in sending.why_not(conversation)
    lifecycle.start_conversation(channel=channel, user=user, like=conversation)
    assert lifecycle.pending(conversation) == {"open"}
    assert process_due_commands()["done"] == 1
    fresh = Conversation.objects.exclude(pk=conversation.pk).get(channel=channel)
    assert fake.conversations[fresh.external_id].consumer == fake.consumer_id(CONSUMER)
    assert sending.why_not(fresh) == ""


def test_an_agents_file_is_downloaded_into_storage(
    fake: FakeLivePerson, channel: Any, conversation: Conversation, post_webhook: Any
) -> None:
    deliver(post_webhook, channel, fake.agent_file(conversation.external_id, b"\x89PNG fake"))
    assert download_due_attachments()["ready"] == 1
    attachment = Attachment.objects.get()
    with attachment.file.open("rb") as stored:
        assert stored.read() == b"\x89PNG fake"


def test_a_refused_app_secret_shows_on_the_channel(
    fake: FakeLivePerson, channel: Any, conversation: Conversation, user: Any
) -> None:
    from inbox.connectors.liveperson.client import clear_token_cache

    clear_token_cache()
    services.update_channel(channel=channel, credentials={"client_secret": "not-it"})
    sending.send_reply(conversation=conversation, author=user, text="Hello?")
    assert process_due_commands()["failed"] == 1
    channel.refresh_from_db()
    assert "refused" in channel.credentials_error
    assert OutboundCommand.objects.filter(state="failed").count() == 1


# --- the inbox's buttons -----------------------------------------------------------------------


def page(client: Any, conversation: Conversation) -> str:
    response = client.get(reverse("inbox:conversation", args=[conversation.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_close_is_offered_asked_once_and_shown_as_closing(
    client: Any, agent: Any, channel: Any, conversation: Conversation
) -> None:
    channel.members.add(agent)
    client.force_login(agent)
    assert "Close conversation" in page(client, conversation)
    url = reverse("inbox:close", args=[conversation.pk])
    assert client.post(url).status_code == 302
    assert client.post(url).status_code == 302
    assert OutboundCommand.objects.filter(kind="close").count() == 1
    html = page(client, conversation)
    assert "Closing…" in html
    assert "Close conversation" not in html


def test_a_closed_conversation_offers_a_new_one(
    client: Any, agent: Any, channel: Any, conversation: Conversation
) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(status="closed")
    channel.members.add(agent)
    client.force_login(agent)
    html = page(client, conversation)
    assert "The conversation is closed." in html
    assert "Start a new conversation" in html
    assert client.post(reverse("inbox:start", args=[conversation.pk])).status_code == 302
    assert OutboundCommand.objects.filter(kind="open", arguments={"like": conversation.pk}).exists()
    assert "Opening a new conversation…" in page(client, conversation)
    # Closing what is closed is refused, with the reason.
    refused = client.post(reverse("inbox:close", args=[conversation.pk]))
    assert refused.status_code == 409
    assert "closed already" in refused.content.decode()


def test_the_composer_says_its_limits_and_signals_typing(
    client: Any, agent: Any, channel: Any, conversation: Conversation
) -> None:
    channel.members.add(agent)
    client.force_login(agent)
    html = page(client, conversation)
    composing = reverse("inbox:composing", args=[conversation.pk])
    assert f'data-composing="{composing}"' in html
    assert 'accept="image/jpeg,image/png,image/gif"' in html
    assert 'data-max-files="1"' in html
    assert "multiple" not in html.split('name="attachments"')[1][:80]
    assert client.post(composing, {"active": "1"}).status_code == 204
    assert client.post(composing, {"active": "1"}).status_code == 204  # the same signal
    assert client.post(composing, {"active": "0"}).status_code == 204
    assert OutboundCommand.objects.filter(kind="typing").count() == 2
    assert client.post(composing, {"active": "yes"}).status_code == 400
    assert client.get(composing).status_code == 405


def test_another_channels_agent_gets_404_and_anonymous_the_login(
    client: Any, outsider: Any, conversation: Conversation
) -> None:
    urls = [
        reverse(name, args=[conversation.pk])
        for name in ("inbox:close", "inbox:start", "inbox:composing")
    ]
    for url in urls:
        assert client.post(url, {"active": "1"}).status_code == 302
    client.force_login(outsider)
    for url in urls:
        assert client.post(url, {"active": "1"}).status_code == 404
    assert OutboundCommand.objects.count() == 1  # the fixture's opening, nothing more


# --- the same through the API ------------------------------------------------------------------


@pytest.fixture
def api(agent: Any, channel: Any) -> Any:
    from rest_framework.test import APIClient

    channel.members.add(agent)
    client = APIClient()
    client.force_authenticate(agent)
    return client


def test_the_api_starts_a_conversation_for_a_consumer(
    api: Any, channel: Any, fake: FakeLivePerson
) -> None:
    answer = api.post("/api/v1/conversations/", {"channel": channel.pk, "consumer": "c-9"})
    assert answer.status_code == 202, answer.content
    assert (answer.json()["kind"], answer.json()["state"]) == ("open", "queued")
    assert process_due_commands()["done"] == 1
    opened = Conversation.objects.get(channel=channel)
    assert opened.participants.get().address == fake.consumer_id("c-9")

    assert api.post("/api/v1/conversations/", {"channel": channel.pk}).json()["fields"] == {
        "consumer": ["This field is required."]
    }
    other = services.create_channel(platform="liveperson", name="Elsewhere")
    refused = api.post("/api/v1/conversations/", {"channel": other.pk, "consumer": "c-9"})
    assert refused.status_code == 404


def test_the_api_reads_unreads_closes_and_signals_typing(
    api: Any, fake: FakeLivePerson, channel: Any, conversation: Conversation, post_webhook: Any
) -> None:
    deliver(post_webhook, channel, fake.agent_message(conversation.external_id, "Hi there"))
    base = f"/api/v1/conversations/{conversation.pk}"
    read = api.post(f"{base}/read/")
    assert read.status_code == 200
    assert read.json()["unread_count"] == 0
    assert api.post(f"{base}/unread/").json()["unread_count"] == 1
    assert OutboundCommand.objects.filter(kind="read").count() == 1

    assert api.post(f"{base}/typing/", {"active": True}, format="json").json() == {
        "signalled": True
    }
    assert api.post(f"{base}/typing/", {"active": "maybe"}, format="json").status_code == 400

    closing = api.post(f"{base}/close/")
    assert closing.status_code == 202
    assert api.post(f"{base}/close/").json()["id"] == closing.json()["id"]
    process_due_commands()
    conversation.refresh_from_db()
    assert conversation.status == "closed"
    assert api.post(f"{base}/close/").status_code == 409
    assert api.post(f"{base}/start/").status_code == 202


def test_the_api_actions_are_404_for_another_channel_and_need_a_login(
    conversation: Conversation, outsider: Any
) -> None:
    from rest_framework.test import APIClient

    client = APIClient()
    base = f"/api/v1/conversations/{conversation.pk}"
    for action in ("read", "unread", "close", "start", "typing"):
        assert client.post(f"{base}/{action}/").status_code in (401, 403)
    client.force_authenticate(outsider)
    for action in ("read", "unread", "close", "start", "typing"):
        assert client.post(f"{base}/{action}/", {"active": True}).status_code == 404


def test_without_a_webhook_secret_the_client_secret_signs_webhooks(
    fake: FakeLivePerson, post_webhook: Any, db: Any
) -> None:
    channel = services.create_channel(
        platform="liveperson",
        name="Signed",
        settings=fake.settings(),
        credentials=fake.credentials(),
    )
    document = fake.agent_message(fake.add_conversation(CONSUMER), "Hello")
    assert post_webhook(channel, document, secret=fake.client_secret).status_code == 202
    assert post_webhook(channel, document, secret="secret-current").status_code == 401
