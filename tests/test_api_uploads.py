"""Uploads ahead of a reply: the channel's limits at once, attached by id (the stored file is
taken, not copied), sent end to end, private to their owner, idempotent repeats, and pruned when
nobody attached them."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from inbox import services
from inbox.inbound import process_due_events
from inbox.models import Attachment, Channel, Conversation, Message, MessageStatus, Upload
from inbox.outbound import process_due_commands
from inbox.services import lifecycle
from inbox.services.channels import capabilities
from inbox.services.uploads import prune_expired
from inbox.tasks import prune_uploads
from tests import test_replies
from tests.factories import ChannelFactory, UserFactory
from tests.fakes.liveperson import FakeLivePerson
from tests.fakes.scalar import FakeScalar

pytestmark = pytest.mark.django_db

URL = "/api/v1/uploads/"
conversation = test_replies.conversation  # the fixture: a peer wrote to the enmeshed Connector
reply = test_replies.reply


def upload(api: APIClient, channel: Any, name: str, body: bytes, mime: str) -> Any:
    return api.post(
        URL, {"channel": channel.pk, "file": SimpleUploadedFile(name, body, mime)}, "multipart"
    )


def upload_id(api: APIClient, channel: Any, name: str = "a.txt", body: bytes = b"hello") -> str:
    answer = upload(api, channel, name, body, "text/plain")
    assert answer.status_code == 201, answer.content
    return str(answer.json()["id"])


def png(width: int = 40) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, 30), (20, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def fields(answer: Any) -> list[str]:
    assert answer.status_code == 400, answer.content
    return list(answer.json()["fields"])


def api_for(user: Any) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def scalar(agent: Any) -> Channel:
    with FakeScalar() as fake:  # only its settings: uploading calls nobody
        channel = services.create_channel(
            platform="scalar",
            name="Fleet",
            settings=fake.settings(),
            credentials=fake.credentials(),
        )
    channel.members.add(agent)
    return channel


@pytest.fixture
def liveperson() -> Any:
    from inbox.connectors.liveperson.client import clear_token_cache

    clear_token_cache()
    with FakeLivePerson() as fake:
        yield fake
        assert fake.crashes == []
        assert fake.rejected() == []
    clear_token_cache()


@pytest.fixture
def lp_channel(liveperson: FakeLivePerson, agent: Any) -> Channel:
    channel = services.create_channel(
        platform="liveperson",
        name="Support",
        webhook_secrets=["secret-current"],
        settings=liveperson.settings(),
        credentials=liveperson.credentials(),
    )
    channel.members.add(agent)
    return channel


@pytest.fixture
def lp_conversation(
    liveperson: FakeLivePerson, lp_channel: Channel, agent: Any, post_webhook: Any
) -> Conversation:
    """The inbox opened a LivePerson conversation for a consumer; the snapshot followed."""
    lifecycle.start_conversation(channel=lp_channel, user=agent, consumer="customer-42")
    assert process_due_commands()["done"] == 1
    [opened] = liveperson.conversations
    answer = post_webhook(lp_channel, liveperson.conversation_notification(opened))
    assert answer.status_code == 202, answer.content
    process_due_events()
    return Conversation.objects.get(channel=lp_channel, external_id=opened)


# --- uploading: the channel's limits -------------------------------------------------------------


def test_an_upload_answers_its_description_and_stores_the_bytes(
    member_api: APIClient, connected: Channel
) -> None:
    answer = upload(member_api, connected, "form.pdf", b"%PDF-1.7 form", "application/pdf")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert set(body) == {
        "id",
        "channel",
        "filename",
        "mime_type",
        "size",
        "created_at",
        "expires_at",
    }
    assert (body["channel"], body["filename"], body["mime_type"], body["size"]) == (
        connected.pk,
        "form.pdf",
        "application/pdf",
        13,
    )
    assert len(body["id"]) == 36  # a uuid: ids say nothing about how many there are
    stored = Upload.objects.get()
    assert stored.file.name.startswith("attachments/")
    assert stored.file.name.endswith(".pdf")
    assert stored.file.read() == b"%PDF-1.7 form"
    lifetime = stored.expires_at - stored.created_at
    assert timedelta(hours=23, minutes=59) < lifetime <= timedelta(hours=24)
    assert member_api.get(f"{URL}{body['id']}/").json() == body


def test_enmeshed_takes_any_type_up_to_its_setting(
    member_api: APIClient, connected: Channel
) -> None:
    for name, mime in (("a.bin", "application/x-whatever"), ("b.txt", "text/plain")):
        assert upload(member_api, connected, name, b"1234", mime).status_code == 201
    connected.settings = {**connected.settings, "max_file_size": 4}
    connected.save()
    too_big = upload(member_api, connected, "c.txt", b"12345", "text/plain")
    assert fields(too_big) == ["file"]
    assert too_big.json()["fields"]["file"] == [
        "c.txt is 5 bytes; this channel takes files up to 4 bytes."
    ]
    empty = upload(member_api, connected, "e.txt", b"", "text/plain")
    assert empty.json()["fields"] == {"file": ["e.txt is empty."]}
    assert Upload.objects.count() == 2


def test_scalar_takes_jpeg_png_and_pdf_of_10_mb(agent: Any, scalar: Channel) -> None:
    api = api_for(agent)
    assert capabilities(scalar).max_file_size == 10 * 1024 * 1024
    for name, mime in (
        ("p.png", "image/png"),
        ("j.jpg", "image/jpeg"),
        ("d.pdf", "application/pdf"),
    ):
        assert upload(api, scalar, name, b"\x89PNG....", mime).status_code == 201
    wrong = upload(api, scalar, "a.txt", b"hello", "text/plain")
    assert fields(wrong) == ["file"]
    assert "text/plain" in wrong.json()["fields"]["file"][0]
    assert fields(upload(api, scalar, "p.png", b"", "image/png")) == ["file"]
    scalar.settings = {**scalar.settings, "max_file_size": 4}  # the same rule, cheaply
    scalar.save()
    big = upload(api, scalar, "p.png", b"\x89PNG....", "image/png")
    assert "takes files up to 4 bytes" in big.json()["fields"]["file"][0]
    assert Upload.objects.count() == 3


def test_liveperson_takes_jpg_png_and_gif_of_3_mb(agent: Any, lp_channel: Channel) -> None:
    api = api_for(agent)
    for name, mime in (("p.png", "image/png"), ("j.jpg", "image/jpeg"), ("g.gif", "image/gif")):
        assert upload(api, lp_channel, name, b"GIF89a..", mime).status_code == 201
    assert fields(upload(api, lp_channel, "d.pdf", b"%PDF-1.7", "application/pdf")) == ["file"]
    limit = 3 * 1024 * 1024
    assert upload(api, lp_channel, "max.png", b"x" * limit, "image/png").status_code == 201
    over = upload(api, lp_channel, "big.png", b"x" * (limit + 1), "image/png")
    assert over.json()["fields"]["file"] == [
        f"big.png is {limit + 1:,} bytes; this channel takes files up to {limit:,} bytes."
    ]
    assert Upload.objects.count() == 4


def test_a_channel_that_cannot_send_files_refuses_uploads(agent: Any) -> None:
    idle: Any = ChannelFactory()  # a SCALAR channel without its settings: it cannot send at all
    idle.members.add(agent)
    assert fields(upload(api_for(agent), idle, "a.txt", b"x", "text/plain")) == ["file"]


def test_another_channel_or_none_or_no_file_is_a_400_naming_it(
    outsider: Any, member_api: APIClient, connected: Channel
) -> None:
    refused = upload(api_for(outsider), connected, "a.txt", b"hi", "text/plain")
    assert fields(refused) == ["channel"]
    unknown = member_api.post(
        URL, {"channel": 999999, "file": SimpleUploadedFile("a.txt", b"x")}, "multipart"
    )
    assert fields(unknown) == ["channel"]
    said = [answer.json()["fields"]["channel"][0] for answer in (refused, unknown)]
    assert said == [f'Invalid pk "{connected.pk}" - object does not exist.', said[1]]  # alike
    assert fields(member_api.post(URL, {"channel": connected.pk}, "multipart")) == ["file"]
    assert not Upload.objects.exists()
    assert not default_storage.exists("attachments")


def test_staff_may_upload_to_any_channel_but_see_only_their_own(
    owner: Any, member_api: APIClient, connected: Channel
) -> None:
    staff = api_for(owner)
    own = upload(staff, connected, "s.txt", b"staff", "text/plain")
    assert own.status_code == 201
    assert staff.get(f"{URL}{own.json()['id']}/").status_code == 200
    theirs = upload_id(member_api, connected)
    assert staff.get(f"{URL}{theirs}/").status_code == 404


def test_uploads_are_private_to_their_owner(
    outsider: Any, member_api: APIClient, connected: Channel
) -> None:
    mine = upload_id(member_api, connected)
    colleague: Any = UserFactory()
    connected.members.add(colleague)  # even on the same channel
    for other in (api_for(outsider), api_for(colleague)):
        assert other.get(f"{URL}{mine}/").status_code == 404
        assert other.delete(f"{URL}{mine}/").status_code == 404
    assert member_api.get(f"{URL}not-a-uuid/").status_code == 404
    assert member_api.get(f"{URL}{mine}/").json()["id"] == mine
    stored = Upload.objects.get().file.name
    assert member_api.delete(f"{URL}{mine}/").status_code == 204
    assert not default_storage.exists(stored)
    assert not Upload.objects.exists()
    assert member_api.delete(f"{URL}{mine}/").status_code == 404


def test_anonymous_is_refused(member_api: APIClient, connected: Channel) -> None:
    mine = upload_id(member_api, connected)
    anonymous = APIClient()
    sent = {"channel": connected.pk, "file": SimpleUploadedFile("a.txt", b"x")}
    assert anonymous.post(URL, sent, "multipart").status_code == 401
    assert anonymous.get(f"{URL}{mine}/").status_code == 401
    assert anonymous.delete(f"{URL}{mine}/").status_code == 401
    assert Upload.objects.count() == 1


# --- attaching to a reply ------------------------------------------------------------------------


def test_an_uploaded_file_is_attached_by_id_and_reaches_the_connector(
    member_api: APIClient, conversation: Conversation, connector: Any
) -> None:
    answer = upload(
        member_api, conversation.channel, "form.pdf", b"%PDF-1.7 form", "application/pdf"
    )
    stored = Upload.objects.get().file.name
    files_before = set(default_storage.listdir(stored.rsplit("/", 1)[0])[1])

    sent = reply(
        member_api, conversation, text="The signed form.", attachments=[answer.json()["id"]]
    )
    assert sent.status_code == 201, sent.content
    assert [(a["filename"], a["size"]) for a in sent.json()["attachments"]] == [("form.pdf", 13)]
    [attachment] = Attachment.objects.filter(message_id=sent.json()["id"])
    assert attachment.file.name == stored  # taken, not copied
    assert set(default_storage.listdir(stored.rsplit("/", 1)[0])[1]) == files_before
    assert attachment.file.read() == b"%PDF-1.7 form"
    assert (attachment.mime_type, attachment.size) == ("application/pdf", 13)
    assert not Upload.objects.exists()

    assert process_due_commands() == {"done": 1}
    message = Message.objects.get(pk=sent.json()["id"])
    assert message.status == MessageStatus.SENT
    [file_id] = connector.messages[message.external_id]["attachments"]
    described, content = connector.files[file_id]
    assert (described["filename"], content) == ("form.pdf", b"%PDF-1.7 form")
    assert connector.rejected() == []


def test_files_and_uploads_together_in_a_multipart_reply(
    member_api: APIClient, conversation: Conversation, connector: Any
) -> None:
    first = upload_id(member_api, conversation.channel, "uploaded.txt", b"ahead")
    sent = reply(
        member_api,
        conversation,
        text="Both.",
        files=[SimpleUploadedFile("inline.txt", b"with it", "text/plain")],
        attachments=[first],
    )
    assert sent.status_code == 201, sent.content
    attachments = Attachment.objects.filter(message_id=sent.json()["id"]).order_by("id")
    assert [(a.filename, a.file.read()) for a in attachments] == [
        ("inline.txt", b"with it"),
        ("uploaded.txt", b"ahead"),
    ]
    assert process_due_commands() == {"done": 1}
    message = Message.objects.get(pk=sent.json()["id"])
    contents = [
        connector.files[f][1] for f in connector.messages[message.external_id]["attachments"]
    ]
    assert contents == [b"with it", b"ahead"]


def test_an_uploaded_image_reaches_liveperson_as_a_hosted_file(
    agent: Any, liveperson: FakeLivePerson, lp_conversation: Conversation
) -> None:
    api = api_for(agent)
    image = png()
    answer = upload(api, lp_conversation.channel, "map.png", image, "image/png")
    assert answer.status_code == 201, answer.content
    sent = reply(api, lp_conversation, text="Here is the map", attachments=[answer.json()["id"]])
    assert sent.status_code == 201, sent.content
    assert process_due_commands()["done"] == 1
    assert Message.objects.get(pk=sent.json()["id"]).status == MessageStatus.SENT
    assert [f.content for f in liveperson.files.values()] == [image]


def test_the_platforms_count_rules_cover_files_and_uploads_together(
    agent: Any, lp_conversation: Conversation
) -> None:
    api = api_for(agent)
    one, two = (upload_id_png(api, lp_conversation.channel) for _ in range(2))
    both = reply(api, lp_conversation, text="x", attachments=[one, two])
    assert fields(both) == ["attachments"]
    mixed = reply(
        api,
        lp_conversation,
        text="x",
        files=[SimpleUploadedFile("b.png", png(), "image/png")],
        attachments=[one],
    )
    assert fields(mixed) == ["files"]
    assert Upload.objects.count() == 2  # nothing taken
    assert not Message.objects.filter(direction="out").exists()


def upload_id_png(api: APIClient, channel: Channel) -> str:
    answer = upload(api, channel, "a.png", png(), "image/png")
    assert answer.status_code == 201, answer.content
    return str(answer.json()["id"])


def test_a_taken_unknown_or_repeated_upload_is_a_400_naming_attachments(
    member_api: APIClient, conversation: Conversation
) -> None:
    first = upload_id(member_api, conversation.channel)
    assert reply(member_api, conversation, text="x", attachments=[first]).status_code == 201
    assert fields(reply(member_api, conversation, text="y", attachments=[first])) == ["attachments"]
    unknown = "00000000-0000-4000-8000-000000000000"
    assert fields(reply(member_api, conversation, text="y", attachments=[unknown])) == [
        "attachments"
    ]
    bad = reply(member_api, conversation, text="y", attachments=["not-a-uuid"])
    assert fields(bad) == ["attachments.0"]
    second = upload_id(member_api, conversation.channel)
    twice = reply(member_api, conversation, text="y", attachments=[second, second])
    assert fields(twice) == ["attachments"]
    assert Upload.objects.filter(pk=second).exists()
    assert conversation.messages.filter(direction="out").count() == 1


def test_another_users_or_another_channels_upload_cannot_be_attached(
    member_api: APIClient,
    conversation: Conversation,
    agent: Any,
    scalar: Channel,
) -> None:
    colleague: Any = UserFactory()
    conversation.channel.members.add(colleague)
    theirs = upload_id(api_for(colleague), conversation.channel)
    elsewhere = upload(member_api, scalar, "p.png", b"\x89PNG", "image/png").json()["id"]
    for ids in ([theirs], [elsewhere]):
        refused = reply(member_api, conversation, text="x", attachments=ids)
        assert fields(refused) == ["attachments"]
    assert Upload.objects.count() == 2


def test_a_repeat_with_the_same_key_is_the_same_message(
    member_api: APIClient, conversation: Conversation
) -> None:
    first = upload_id(member_api, conversation.channel)
    one = reply(member_api, conversation, "k-1", text="x", attachments=[first])
    two = reply(member_api, conversation, "k-1", text="x", attachments=[first])
    assert (one.status_code, two.status_code) == (201, 200), two.content
    assert one.json()["id"] == two.json()["id"]
    assert Attachment.objects.count() == 1
    assert (
        reply(member_api, conversation, "k-1", text="changed", attachments=[first]).status_code
        == 409
    )
    assert reply(member_api, conversation, "k-1", text="x").status_code == 409  # no file now
    other = upload_id(member_api, conversation.channel, "b.txt")
    more = reply(member_api, conversation, "k-1", text="x", attachments=[first, other])
    assert more.status_code == 409
    assert Upload.objects.filter(pk=other).exists()  # a refused repeat takes nothing
    assert conversation.messages.filter(direction="out").count() == 1


# --- expiry ---------------------------------------------------------------------------------


def test_expired_uploads_are_pruned_with_their_files(
    member_api: APIClient, conversation: Conversation, settings: Any
) -> None:
    for name in ("old.txt", "new.txt"):
        upload_id(member_api, conversation.channel, name)
    old = Upload.objects.get(filename="old.txt")
    Upload.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert default_storage.exists(old.file.name)
    assert prune_uploads() == 1
    assert not default_storage.exists(old.file.name)
    assert list(Upload.objects.values_list("filename", flat=True)) == ["new.txt"]
    assert prune_expired() == 0
    # An expired upload can no longer be attached, even before the sweep.
    new = Upload.objects.get()
    Upload.objects.filter(pk=new.pk).update(expires_at=timezone.now())
    late = reply(member_api, conversation, text="x", attachments=[str(new.pk)])
    assert fields(late) == ["attachments"]
    assert prune_expired() == 1

    settings.UPLOAD_LIFETIME_SECONDS = 60  # the lifetime is a setting
    short = Upload.objects.get(pk=upload_id(member_api, conversation.channel))
    assert short.expires_at - short.created_at <= timedelta(seconds=60)


def test_the_sweep_is_scheduled() -> None:
    from config.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "inbox.tasks.prune_uploads" in tasks


@pytest.mark.django_db(transaction=True)
def test_the_same_request_at_once_takes_the_uploads_once(
    agent: Any, member_api: APIClient, conversation: Conversation
) -> None:
    import threading

    from django.db import connection

    from inbox.services import uploads

    ids = [upload_id(member_api, conversation.channel, f"{n}.txt") for n in range(2)]
    start = threading.Barrier(4)
    answers: list[Any] = []

    def request() -> None:
        try:
            start.wait(timeout=10)
            answers.append(
                uploads.send_reply(
                    conversation=conversation,
                    author=agent,
                    text="Both files.",
                    uploads=[UUID(i) for i in ids],
                    idempotency_key="at-once",
                )
            )
        except Exception as exc:
            answers.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(a.created for a in answers) == [False, False, False, True], answers
    assert len({a.message.pk for a in answers}) == 1
    assert not Upload.objects.exists()
    assert Attachment.objects.count() == 2
