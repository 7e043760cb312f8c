"""Uploads ahead of a reply: the channel's limits at once, attached by id, sent once, private
to their owner, and pruned when nobody attached them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from inbox import services
from inbox.models import Attachment, Conversation, Message, MessageStatus, Upload
from inbox.outbound import process_due_commands
from inbox.services.uploads import prune_expired
from inbox.tasks import prune_uploads
from tests import test_replies
from tests.fakes.scalar import FakeScalar

pytestmark = pytest.mark.django_db

URL = "/api/v1/uploads/"
conversation = test_replies.conversation  # the fixture: a peer wrote to the Connector
reply = test_replies.reply


def upload(api: APIClient, channel: Any, name: str, body: bytes, mime: str) -> Any:
    return api.post(
        URL, {"channel": channel.pk, "file": SimpleUploadedFile(name, body, mime)}, "multipart"
    )


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


def test_an_uploaded_file_is_attached_by_id_and_reaches_the_connector(
    member_api: APIClient,
    conversation: Conversation,
    connector: Any,
) -> None:
    answer = upload(
        member_api, conversation.channel, "form.pdf", b"%PDF-1.7 form", "application/pdf"
    )
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
    assert (body["filename"], body["mime_type"], body["size"]) == (
        "form.pdf",
        "application/pdf",
        13,
    )
    stored = Upload.objects.get().file.name

    sent = reply(member_api, conversation, text="The signed form.", attachments=[body["id"]])
    assert sent.status_code == 201, sent.content
    [attachment] = Attachment.objects.filter(message_id=sent.json()["id"])
    assert attachment.file.name == stored  # taken, not copied
    assert not Upload.objects.exists()
    assert process_due_commands() == {"done": 1}
    message = Message.objects.get(pk=sent.json()["id"])
    assert message.status == MessageStatus.SENT
    [file_id] = connector.messages[message.external_id]["attachments"]
    described, content = connector.files[file_id]
    assert (described["filename"], content) == ("form.pdf", b"%PDF-1.7 form")


def test_a_consumed_or_unknown_upload_is_a_400_naming_attachments(
    member_api: APIClient,
    conversation: Conversation,
) -> None:
    first = upload(member_api, conversation.channel, "a.txt", b"hello", "text/plain").json()["id"]
    assert reply(member_api, conversation, text="x", attachments=[first]).status_code == 201
    again = reply(member_api, conversation, text="y", attachments=[first])
    assert again.status_code == 400
    assert list(again.json()["fields"]) == ["attachments"]
    bad = reply(member_api, conversation, text="y", attachments=["not-a-uuid"])
    assert list(bad.json()["fields"]) == ["attachments.0"]


def test_a_repeat_with_the_same_key_is_the_same_message(
    member_api: APIClient,
    conversation: Conversation,
) -> None:
    first = upload(member_api, conversation.channel, "a.txt", b"hello", "text/plain").json()["id"]
    one = reply(member_api, conversation, "k-1", text="x", attachments=[first])
    two = reply(member_api, conversation, "k-1", text="x", attachments=[first])
    assert (one.status_code, two.status_code) == (201, 200)
    assert one.json()["id"] == two.json()["id"]
    other = reply(member_api, conversation, "k-1", text="changed", attachments=[first])
    assert other.status_code == 409


def test_the_channels_limits_apply_when_uploading(agent: Any) -> None:
    api = APIClient()
    api.force_authenticate(agent)
    with FakeScalar() as fake:  # only its settings: uploading calls nobody
        scalar = services.create_channel(
            platform="scalar",
            name="Fleet",
            settings=fake.settings(),
            credentials=fake.credentials(),
        )
    scalar.members.add(agent)
    assert upload(api, scalar, "p.png", b"\x89PNG....", "image/png").status_code == 201
    wrong = upload(api, scalar, "a.txt", b"hello", "text/plain")
    assert wrong.status_code == 400
    assert "text/plain" in wrong.json()["fields"]["file"][0]
    empty = upload(api, scalar, "p.png", b"", "image/png")
    assert empty.json()["fields"]["file"] == ["p.png is empty."]
    scalar.settings = {**scalar.settings, "max_file_size": 4}
    scalar.save()
    big = upload(api, scalar, "p.png", b"\x89PNG....", "image/png")
    assert "bytes" in big.json()["fields"]["file"][0]
    assert Upload.objects.count() == 1


def test_uploads_are_private_and_another_channel_is_refused(
    agent: Any,
    outsider: Any,
    member_api: APIClient,
    conversation: Conversation,
) -> None:
    mine = upload(member_api, conversation.channel, "a.txt", b"hi", "text/plain").json()["id"]
    other = APIClient()
    other.force_authenticate(outsider)
    assert other.get(f"{URL}{mine}/").status_code == 404
    assert other.delete(f"{URL}{mine}/").status_code == 404
    refused = upload(other, conversation.channel, "a.txt", b"hi", "text/plain")
    assert refused.status_code == 400
    assert list(refused.json()["fields"]) == ["channel"]
    assert member_api.get(f"{URL}{mine}/").json()["id"] == mine
    stored = Upload.objects.get().file.name
    assert member_api.delete(f"{URL}{mine}/").status_code == 204
    assert not default_storage.exists(stored)
    assert APIClient().post(URL, {}).status_code == 401


def test_expired_uploads_are_pruned_with_their_files(
    member_api: APIClient,
    conversation: Conversation,
) -> None:
    for name in ("old.txt", "new.txt"):
        upload(member_api, conversation.channel, name, b"x", "text/plain")
    old = Upload.objects.get(filename="old.txt")
    Upload.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert prune_uploads() == 1
    assert not default_storage.exists(old.file.name)
    assert list(Upload.objects.values_list("filename", flat=True)) == ["new.txt"]
    assert prune_expired() == 0
    # An expired upload can no longer be attached.
    new = Upload.objects.get()
    Upload.objects.filter(pk=new.pk).update(expires_at=timezone.now())
    late = reply(member_api, conversation, text="x", attachments=[str(new.pk)])
    assert list(late.json()["fields"]) == ["attachments"]
