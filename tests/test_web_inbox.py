"""The web inbox: who sees what, the list and the conversation (with exact query counts), the
composer, read state, and the page's defences (escaping, CSRF, the Content-Security-Policy)."""

from __future__ import annotations

import copy
import json
import re
import uuid
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from inbox.models import Attachment, Conversation, Message, MessageStatus, Participant, ReadState
from inbox.services import read_state
from inbox.web import presenting
from inbox.web.csp import POLICY
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes, fixture_json, fleet_and_mailbox

pytestmark = pytest.mark.django_db

HX_PANE = {"HX-Request": "true", "HX-Target": "pane"}
HX_LIST = {"HX-Request": "true", "HX-Target": "list"}
HX_COMPOSER = {"HX-Request": "true", "HX-Target": "composer"}
DRIVER = "33af2322-880a-4358-8a3e-0196124387b8"


def scalar_message(
    *, text: str, conversation: str | None = None, message_id: str | None = None
) -> bytes:
    """A SCALAR "message.sent" from the dispatcher to a driver, in a chat of its own."""
    batch = copy.deepcopy(fixture_json("scalar", "chat_message_sent"))
    data = batch["eventsData"][0]["eventData"]
    data["messageId"] = message_id or str(uuid.uuid4())
    if conversation:
        data["conversationId"] = conversation
        data["recipientId"] = conversation.split(":")[1]
    data["content"] = text
    return json.dumps(batch).encode()


@pytest.fixture
def channels(agent: Any, post_webhook: Any, process: Any) -> tuple[Any, Any]:
    """A SCALAR channel the agent is a member of and an enmeshed one they are not."""
    return fleet_and_mailbox(
        agent,
        post_webhook,
        process,
        scalar=("chat_message_sent", "chat_message_delivered", "chat_image_reply"),
        enmeshed=("webhook_message_received_mail_v7",),
    )


@pytest.fixture
def chat(channels: tuple[Any, Any]) -> Conversation:
    return Conversation.objects.get(channel=channels[0], kind="direct")


@pytest.fixture
def hidden(channels: tuple[Any, Any]) -> Conversation:
    return Conversation.objects.get(channel=channels[1])


@pytest.fixture
def agent_client(client: Client, agent: Any) -> Client:
    client.force_login(agent)
    return client


def more_chats(channel: Any, post_webhook: Any, process: Any, count: int) -> None:
    for _ in range(count):
        driver = str(uuid.uuid4())
        body = scalar_message(
            text="Are you at the dock?",
            conversation=f"6378b144-b6d2-405a-8785-946c8f3867b4:{driver}",
        )
        assert post_webhook(channel, body).status_code == 202
    process()


# --- who sees what ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/"),
        ("get", "/c/{pk}/"),
        ("get", "/c/{pk}/messages/"),
        ("post", "/c/{pk}/reply/"),
        ("post", "/c/{pk}/unread/"),
        ("post", "/m/{message}/retry/"),
    ],
)
def test_anonymous_visitors_are_sent_to_the_login_page(client, chat, method, path):
    url = path.format(pk=chat.pk, message=chat.last_message_id)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_the_login_page_logs_in_and_leads_to_the_inbox(client, agent):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b'name="username"' in page.content
    response = client.post(
        "/accounts/login/",
        {"username": "agent", "password": "correct horse battery staple"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_logging_out_is_a_post_and_ends_the_session(agent_client):
    response = agent_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert agent_client.get("/").status_code == 302


def test_a_member_sees_only_their_channels_conversations(agent_client, channels, chat, hidden):
    page = agent_client.get("/").content.decode()
    assert f'data-id="{chat.pk}"' in page
    assert f'data-id="{hidden.pk}"' not in page
    assert "Mailbox" not in page  # not even as a channel filter


def test_staff_see_every_channel_and_the_admin_link(staff_client, channels, chat, hidden):
    page = staff_client.get("/").content.decode()
    assert f'data-id="{chat.pk}"' in page
    assert f'data-id="{hidden.pk}"' in page
    assert 'href="/admin/"' in page
    assert 'href="/ops/"' in page


def test_an_agent_sees_no_admin_or_operations_links(agent_client, channels):
    page = agent_client.get("/").content.decode()
    assert 'href="/admin/"' not in page
    assert 'href="/ops/"' not in page
    assert 'href="/relationships/"' in page


def test_an_outsider_sees_an_empty_inbox(client, outsider, channels):
    client.force_login(outsider)
    page = client.get("/").content.decode()
    assert "data-id=" not in page
    assert "You are not a member of any channel yet." in page


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/c/{pk}/"),
        ("get", "/c/{pk}/messages/"),
        ("post", "/c/{pk}/reply/"),
        ("post", "/c/{pk}/unread/"),
        ("post", "/m/{message}/retry/"),
    ],
)
def test_another_channels_conversation_and_message_are_not_found(
    agent_client, hidden, method, path
):
    url = path.format(pk=hidden.pk, message=hidden.last_message_id)
    assert getattr(agent_client, method)(url).status_code == 404


def test_staff_open_any_channels_conversation(staff_client, hidden):
    assert staff_client.get(f"/c/{hidden.pk}/").status_code == 200


# --- the list --------------------------------------------------------------------------------


def test_a_row_shows_a_human_title_preview_badge_time_and_unread_count(agent_client, chat):
    Participant.objects.filter(conversation=chat, address=DRIVER).update(name="Jana Nowak")
    page = agent_client.get("/", headers=HX_LIST).content.decode()
    row = page[page.index(f'data-id="{chat.pk}"') :]
    row = row[: row.index("</li>")]
    assert '<span class="row-title">Jana Nowak</span>' in row
    assert DRIVER not in row.split("row-title")[1].split("</span>")[0]
    assert 'class="badge platform-scalar"' in row
    assert "<time datetime=" in row
    assert 'class="unread-count" title="2 unread">2<' in row


def test_the_title_falls_back_to_the_other_participants_addresses():
    conversation = Conversation(external_id="x", title="")
    us = Participant(address="us", name="Dispatch")
    them = Participant(address="them-address")
    assert presenting.conversation_title(conversation, [us, them], {"us"}) == "them-address"
    them.name = "Jana"
    assert presenting.conversation_title(conversation, [us, them], {"us"}) == "Jana"
    conversation.title = "Trailer 4711"
    assert presenting.conversation_title(conversation, [us, them], {"us"}) == "Trailer 4711"


def test_the_list_filters_by_channel_platform_status_and_unread(
    staff_client, owner, channels, chat, hidden
):
    scalar, _ = channels

    def listed(query: str) -> set[int]:
        page = staff_client.get(f"/?{query}", headers=HX_LIST).content.decode()
        return {int(pk) for pk in re.findall(r'data-id="(\d+)"', page)}

    assert listed(f"channel={scalar.pk}") == {chat.pk}
    assert listed("platform=enmeshed") == {hidden.pk}
    assert listed("status=closed") == set()
    assert listed("status=open") == {chat.pk, hidden.pk}
    read_state.mark_read(user=owner, conversation=chat)
    assert listed("unread=on") == {hidden.pk}
    assert listed("channel=999999") == {chat.pk, hidden.pk}  # not a visible channel: ignored


def test_search_finds_matching_conversations_and_highlights_the_words(
    agent_client, channels, chat, post_webhook, process
):
    more_chats(channels[0], post_webhook, process, 1)
    page = agent_client.get("/?q=trailer", headers=HX_LIST).content.decode()
    assert re.findall(r'data-id="(\d+)"', page) == [str(chat.pk)]
    opened = agent_client.get(f"/c/{chat.pk}/?q=trailer", headers=HX_PANE).content.decode()
    assert "<mark>Trailer</mark> 4711" in opened


def test_highlighting_escapes_first_and_never_marks_inside_an_entity():
    assert presenting.highlight("Tom & Amp <b>", ["amp"]) == (
        "Tom &amp; <mark>Amp</mark> &lt;b&gt;"
    )


def test_the_list_is_keyset_paginated_with_load_more(
    agent_client, channels, post_webhook, process, settings
):
    more_chats(channels[0], post_webhook, process, 50)
    first = agent_client.get("/", headers=HX_LIST).content.decode()
    assert first.count('<li class="row') == 50
    more = re.search(r'id="load-more".*?hx-get="([^"]+)"', first, re.S)
    assert more is not None
    url = more.group(1).replace("&amp;", "&")
    assert "after=" in url
    assert "offset" not in url
    rest = agent_client.get(url, headers={"HX-Request": "true", "HX-Target": "load-more"})
    rest_ids = set(re.findall(r'data-id="(\d+)"', rest.content.decode()))
    assert len(rest_ids) == 1  # 51 conversations of the agent's channel
    assert not rest_ids & set(re.findall(r'data-id="(\d+)"', first))
    assert 'id="load-more"' not in rest.content.decode()


def test_a_cursor_of_another_list_is_400(agent_client, channels):
    assert agent_client.get("/?after=WzFd", headers=HX_LIST).status_code == 400


@pytest.mark.parametrize("conversations", [1, 50])
def test_the_inbox_query_count_is_the_same_for_1_and_50_conversations(
    client, agent, post_webhook, process, conversations, django_assert_num_queries
):
    channel = ChannelFactory(platform="scalar", name="Fleet")
    channel.members.add(agent)
    more_chats(channel, post_webhook, process, conversations)
    client.force_login(agent)
    # session, user, channels (sidebar and own addresses), the page (each row's unread count,
    # platform and last message in the same query), participants
    with django_assert_num_queries(5):
        response = client.get("/")
    assert response.content.decode().count('<li class="row') == conversations
    with django_assert_num_queries(5):
        client.get("/?q=dock&unread=on&status=open", headers=HX_LIST)


# --- the conversation ------------------------------------------------------------------------


def test_opening_a_conversation_renders_all_three_panes_and_marks_it_read(
    agent_client, agent, chat
):
    page = agent_client.get(f"/c/{chat.pk}/").content.decode()
    assert 'aria-label="Channels and filters"' in page
    assert f'data-conversation="{chat.pk}"' in page
    assert "Trailer 4711 is ready at dock 3" in page
    state = ReadState.objects.get(user=agent, conversation=chat)
    assert state.read_position == chat.last_position


def test_htmx_gets_the_conversation_pane_alone(agent_client, chat):
    page = agent_client.get(f"/c/{chat.pk}/", headers=HX_PANE).content.decode()
    assert f'data-conversation="{chat.pk}"' in page
    assert "<html" not in page
    assert "Channels and filters" not in page


def test_a_bubble_shows_sender_role_ticks_reply_quote_and_attachment(agent_client, chat):
    page = agent_client.get(f"/c/{chat.pk}/", headers=HX_PANE).content.decode()
    assert 'class="msg out' in page
    assert 'class="msg in' in page
    assert '<span class="role">User</span>' in page
    assert 'class="tick tick-delivered" title="Delivered"' in page
    assert '<blockquote class="quote">' in page
    assert 'role="separator"' in page  # the day heading


def test_attachments_show_name_size_type_and_images_as_thumbnails(agent_client, chat):
    message = chat.messages.order_by("position").last()
    photo = Attachment.objects.create(
        message=message,
        external_id="photo",
        filename="seal.png",
        mime_type="image/png",
        size=2048,
        state="ready",
        file="attachments/seal.png",
    )
    Attachment.objects.create(
        message=message, external_id="doc", filename="cmr.pdf", mime_type="application/pdf"
    )
    page = agent_client.get(f"/c/{chat.pk}/", headers=HX_PANE).content.decode()
    url = f"/api/v1/attachments/{photo.pk}/download/"
    assert f'<img src="{url}" alt="seal.png" class="thumb"' in page
    assert "2.0 KB · image/png" in page
    assert "cmr.pdf" in page
    assert "size unknown · application/pdf · not downloaded yet" in page


def test_the_page_shows_why_a_conversation_cannot_take_a_reply(agent_client, chat):
    page = agent_client.get(f"/c/{chat.pk}/", headers=HX_PANE).content.decode()
    assert 'class="cannot-reply"' in page
    assert "<textarea" not in page


def test_internal_notes_structured_content_and_flags_are_shown(agent_client, chat):
    note = chat.messages.order_by("position").first()
    note.audience = "internal"
    note.content_kind = "rich"
    note.content = {"type": "vertical", "elements": [{"type": "text", "text": "Card"}]}
    note.save()
    recipient = note.recipients.first()
    recipient.flags = {"DriverSeen": "2026-05-12T06:16:00+00:00"}
    recipient.save()
    page = agent_client.get(f"/c/{chat.pk}/", headers=HX_PANE).content.decode()
    assert "msg out internal kind-rich" in page
    assert "Internal note" in page
    assert '<details class="raw"><summary>Show the raw content</summary><pre>{' in page
    assert "&quot;vertical&quot;" in page
    assert '<span class="flag">DriverSeen</span>' in page


def test_message_text_is_escaped_not_run(agent_client, channels, post_webhook, process):
    attack = "<img src=x onerror=alert(1)>"
    chat_id = f"6378b144-b6d2-405a-8785-946c8f3867b4:{uuid.uuid4()}"
    post_webhook(channels[0], scalar_message(text=attack, conversation=chat_id))
    process()
    conversation = Conversation.objects.get(external_id=chat_id)
    Participant.objects.filter(conversation=conversation).update(name=attack)
    for page in (
        agent_client.get("/").content.decode(),
        agent_client.get(f"/c/{conversation.pk}/").content.decode(),
    ):
        assert "<img src=x" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_enmeshed_markdown_is_rendered_sanitized():
    message = Message(
        text="**claim** <script>alert(1)</script> [x](javascript:alert(1)) ![i](http://e/x.png)",
        content={"@type": "Mail", "bodyFormat": "Markdown"},
    )
    html = presenting.body_html(message, "enmeshed", [])
    assert "<strong>claim</strong>" in html
    assert "<script" not in html
    assert 'href="javascript' not in html
    assert "<img" not in html
    plain = presenting.body_html(Message(text="**a**\n<b>", content={}), "scalar", [])
    assert plain == "**a**<br>&lt;b&gt;"


@pytest.mark.parametrize("extra", [0, 30])
def test_the_conversation_query_count_is_constant(
    client, agent, post_webhook, process, extra, django_assert_num_queries
):
    channel = ChannelFactory(platform="scalar", name="Fleet")
    channel.members.add(agent)
    chat_id = "6378b144-b6d2-405a-8785-946c8f3867b4:33af2322-880a-4358-8a3e-0196124387b8"
    for name in ("chat_message_sent", "chat_message_delivered", "chat_image_reply"):
        post_webhook(channel, fixture_bytes("scalar", name))
    for number in range(extra):
        post_webhook(channel, scalar_message(text=f"Update {number}", conversation=chat_id))
    process()
    more_chats(channel, post_webhook, process, extra)
    conversation = Conversation.objects.get(external_id=chat_id)
    client.force_login(agent)
    # session, user, conversation with its channel, the read state (get_or_create: select, and
    # insert in a savepoint: 3), message page, attachments, recipients, participants (SCALAR
    # cannot reply: why_not asks for no recipients)
    with django_assert_num_queries(11):
        response = client.get(f"/c/{conversation.pk}/", headers=HX_PANE)
    assert response.content.decode().count('class="item"') == 2 + extra
    # Read already (no insert); the whole page adds the channels, the list and its participants.
    with django_assert_num_queries(11):
        client.get(f"/c/{conversation.pk}/")  # read already: no insert this time


def test_older_messages_load_above_with_a_cursor(
    agent_client, channels, chat, post_webhook, process
):
    for number in range(55):
        post_webhook(
            channels[0], scalar_message(text=f"Update {number}", conversation=chat.external_id)
        )
    process()
    page = agent_client.get(f"/c/{chat.pk}/", headers=HX_PANE).content.decode()
    assert page.count('class="item"') == 50
    older = re.search(r'id="load-older".*?hx-get="([^"]+)"', page, re.S)
    assert older is not None
    rest = agent_client.get(older.group(1).replace("&amp;", "&")).content.decode()
    assert rest.count('class="item"') == 7
    assert "Trailer 4711 is ready" in rest
    assert 'id="load-older"' not in rest


def test_the_poll_returns_the_newest_bubbles_keyed_by_message_id(agent_client, chat):
    page = agent_client.get(f"/c/{chat.pk}/messages/").content.decode()
    ids = re.findall(r'<li id="m-(\d+)"', page)
    assert [int(i) for i in ids] == list(
        chat.messages.order_by("sent_at", "id").values_list("pk", flat=True)
    )


# --- read state ------------------------------------------------------------------------------


def test_mark_as_unread_counts_the_newest_message_again(agent_client, agent, chat):
    agent_client.get(f"/c/{chat.pk}/")
    response = agent_client.post(f"/c/{chat.pk}/unread/")
    assert response.status_code == 302
    assert response["Location"] == "/"
    row = Conversation.objects.with_unread(agent).get(pk=chat.pk)
    assert row.unread_count == 1
    assert ReadState.objects.get(user=agent, conversation=chat).manual_unread
    agent_client.get(f"/c/{chat.pk}/")
    state = ReadState.objects.get(user=agent, conversation=chat)
    assert (state.read_position, state.manual_unread) == (chat.last_position, False)


def test_mark_unread_never_moves_the_read_position_forward(agent, chat):
    assert read_state.mark_unread(user=agent, conversation=chat) == chat.last_position - 1
    ReadState.objects.filter(user=agent).update(read_position=0)
    assert read_state.mark_unread(user=agent, conversation=chat) == 0


# --- replying (enmeshed, against the fake Connector) -----------------------------------------

WEBHOOK_SECRET = "connector-webhook-secret"


@pytest.fixture
def mail(connector: Any, connected: Any, member: Any, post_webhook: Any, process: Any) -> Any:
    """A peer with an active relationship wrote to the ``connected`` channel ``member`` is in."""
    peer = connector.new_address()
    for trigger, dto in (
        ("transport.relationshipChanged", connector.add_active_relationship(peer)),
        ("transport.messageReceived", connector.receive_message(peer, subject="Claim", body="Hi")),
    ):
        response = post_webhook(
            connected, {"trigger": trigger, "data": dto}, headers={"X-API-KEY": WEBHOOK_SECRET}
        )
        assert response.status_code == 202
    process()
    return Conversation.objects.get(channel=connected, external_id=peer)


@pytest.fixture
def member_client(client: Client, member: Any) -> Client:
    client.force_login(member)
    return client


def composer_key(page: str) -> str:
    found = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_the_composer_sends_once_and_returns_the_queued_message(
    member_client, mail, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path
    page = member_client.get(f"/c/{mail.pk}/", headers=HX_PANE).content.decode()
    assert '<label for="id_text">Reply</label>' in page
    assert 'data-max-file-size="' in page
    key = composer_key(page)
    data = {
        "text": "Your refund is on its way.",
        "subject": "Re: Claim",
        "idempotency_key": key,
        "attachments": [SimpleUploadedFile("receipt.pdf", b"%PDF-1.7", "application/pdf")],
    }
    first = member_client.post(f"/c/{mail.pk}/reply/", data, headers=HX_COMPOSER)
    assert first.status_code == 200
    body = first.content.decode()
    sent = Message.objects.get(conversation=mail, direction="out")
    assert sent.status == MessageStatus.QUEUED
    assert f'<div id="incoming" hx-swap-oob="innerHTML"><li id="m-{sent.pk}"' in body
    assert "receipt.pdf" in body
    assert 'class="tick tick-queued"' in body
    assert composer_key(body) != key  # a fresh composer, a fresh key
    data["attachments"] = [SimpleUploadedFile("receipt.pdf", b"%PDF-1.7", "application/pdf")]
    again = member_client.post(f"/c/{mail.pk}/reply/", data, headers=HX_COMPOSER)
    assert f'<li id="m-{sent.pk}"' in again.content.decode()
    assert Message.objects.filter(conversation=mail, direction="out").count() == 1


def test_a_reply_without_text_or_file_shows_the_error_next_to_the_field(member_client, mail):
    response = member_client.post(
        f"/c/{mail.pk}/reply/", {"text": " ", "idempotency_key": "k1"}, headers=HX_COMPOSER
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert '<p class="field-error" id="text-error">A reply needs a text or a file.</p>' in body
    assert not Message.objects.filter(conversation=mail, direction="out").exists()


def test_a_plain_form_post_is_redirected_back_to_the_conversation(member_client, mail):
    response = member_client.post(
        f"/c/{mail.pk}/reply/", {"text": "Thanks", "idempotency_key": "k2"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/c/{mail.pk}/"


def test_posting_without_the_csrf_token_is_refused(member, mail):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)
    response = strict.post(f"/c/{mail.pk}/reply/", {"text": "Hi", "idempotency_key": "k3"})
    assert response.status_code == 403
    assert not Message.objects.filter(conversation=mail, direction="out").exists()


def test_a_failed_message_shows_the_error_and_retry_queues_it_again(member_client, mail):
    member_client.post(f"/c/{mail.pk}/reply/", {"text": "Hi", "idempotency_key": "k4"})
    message = Message.objects.get(conversation=mail, direction="out")
    Message.objects.filter(pk=message.pk).update(status="failed", error="Peer is gone")
    page = member_client.get(f"/c/{mail.pk}/", headers=HX_PANE).content.decode()
    assert "Not sent: Peer is gone" in page
    assert f'hx-post="/m/{message.pk}/retry/"' in page
    response = member_client.post(
        f"/m/{message.pk}/retry/", headers={"HX-Request": "true", "HX-Target": f"m-{message.pk}"}
    )
    assert response.status_code == 200
    assert 'class="tick tick-queued"' in response.content.decode()
    message.refresh_from_db()
    assert (message.status, message.error) == (MessageStatus.QUEUED, "")


# --- the page's defences ---------------------------------------------------------------------


def test_inbox_pages_carry_the_content_security_policy(agent_client, chat):
    for path in ("/", f"/c/{chat.pk}/", "/accounts/login/"):
        assert agent_client.get(path)["Content-Security-Policy"] == POLICY
    assert "script-src 'self'" in POLICY
    page = agent_client.get(f"/c/{chat.pk}/").content.decode()
    assert "<script>" not in page
    assert "onclick=" not in page
    assert "<style" not in page


def test_the_admin_keeps_working_without_the_inbox_policy(staff_client, chat):
    response = staff_client.get("/admin/inbox/conversation/")
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response


def test_the_admin_lists_show_human_titles_and_previews(staff_client, chat):
    Participant.objects.filter(conversation=chat, address=DRIVER).update(name="Jana Nowak")
    conversations = staff_client.get("/admin/inbox/conversation/").content.decode()
    assert "Jana Nowak" in conversations
    messages = staff_client.get("/admin/inbox/message/").content.decode()
    assert "Jana Nowak" in messages
    assert "Trailer 4711 is ready at dock 3 in Duisburg." in messages
