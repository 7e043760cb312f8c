"""Attachment downloads, against the fake enmeshed Connector of both API generations: from the
pending row to the stored file and the API that serves it, with the size limit, retries and
names that must not decide where a file is stored."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import time_machine
from django.utils import timezone

from inbox.inbound import process_due_events
from inbox.models import Attachment, Channel
from inbox.services.downloads import (
    download_attachment,
    download_due_attachments,
    stored_name,
    wake_downloads,
)
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "connector-webhook-secret"
UNICODE_NAME = "Größe_Ünïcødé_报告.pdf"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 300 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 5000
STORED = re.compile(r"attachments/\d{4}/\d{2}/[0-9a-f]{32}(\.[a-z0-9]{1,10})?")


@pytest.fixture(autouse=True)
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def receive(connector, connected, post_webhook):
    """A message with attachments reaches the inbox by webhook (which names only file ids)
    and is processed; returns its attachment rows in the message's order."""

    def receive(*files: tuple[str, bytes, str]) -> list[Attachment]:
        dto = connector.receive_message(subject="With files", attachments=files)
        response = post_webhook(
            connected,
            {"trigger": "transport.messageReceived", "data": dto},
            headers={"X-API-KEY": WEBHOOK_SECRET},
        )
        assert response.status_code == 202, response.content
        process_due_events()
        rows = {a.external_id: a for a in Attachment.objects.filter(message__channel=connected)}
        return [rows[file_id] for file_id in dto["attachments"]]

    return receive


def set_setting(channel: Channel, name: str, value) -> None:
    channel.settings = {**channel.settings, name: value}
    Channel.objects.filter(pk=channel.pk).update(settings=channel.settings)


def fresh(attachment: Attachment) -> Attachment:
    attachment.refresh_from_db()
    return attachment


def url(attachment: Attachment) -> str:
    return f"/api/v1/attachments/{attachment.pk}/download/"


# --- the happy path ----------------------------------------------------------------------------


def test_received_attachments_are_downloaded_and_served(connector, receive, client, member, media):
    pdf, png = receive((UNICODE_NAME, PDF, "application/pdf"), ("photo.png", PNG, "image/png"))
    assert (pdf.state, png.state) == ("pending", "pending")
    assert (pdf.filename, png.filename) == ("", "")  # the webhook knows only the ids

    assert download_due_attachments() == {"ready": 2}

    for row, data, name, media_type in (
        (fresh(pdf), PDF, UNICODE_NAME, "application/pdf"),
        (fresh(png), PNG, "photo.png", "image/png"),
    ):
        assert row.state == "ready"
        assert row.error == ""
        assert row.filename == name  # non-Latin names survive
        assert row.mime_type == media_type
        assert row.size == len(data)
        assert STORED.fullmatch(row.file.name), row.file.name
        assert Path(row.file.path).is_relative_to(media)
        with row.file.open("rb") as stored:
            assert stored.read() == data

        client.force_login(member)
        response = client.get(url(row))
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == data
        assert response["Content-Type"] == media_type
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Disposition"].startswith("attachment; ")

    disposition = client.get(url(pdf))["Content-Disposition"]
    assert disposition == f"attachment; filename*=utf-8''{quote(UNICODE_NAME)}"
    assert client.get(url(png))["Content-Disposition"] == 'attachment; filename="photo.png"'
    assert connector.rejected() == []

    # Done is done: nothing pending is left, and a second sweep fetches nothing.
    connector.clear_requests()
    assert download_due_attachments() == {}
    assert connector.requests == []


def test_metadata_from_the_platform_wins_over_the_download(connector, connected, receive):
    (row,) = receive(("report.pdf", PDF, "application/pdf"))
    Attachment.objects.filter(pk=row.pk).update(filename="Kept name.pdf", mime_type="text/x-kept")
    assert download_attachment(row).state == "ready"
    row = fresh(row)
    assert (row.filename, row.mime_type, row.size) == ("Kept name.pdf", "text/x-kept", len(PDF))


def test_new_attachments_wake_the_downloader_after_commit(
    connector, connected, post_webhook, django_capture_on_commit_callbacks
):
    dto = connector.receive_message(attachments=[("a.txt", b"a", "text/plain")])
    post_webhook(
        connected,
        {"trigger": "transport.messageReceived", "data": dto},
        headers={"X-API-KEY": WEBHOOK_SECRET},
    )
    with django_capture_on_commit_callbacks() as callbacks:
        process_due_events()
    assert wake_downloads in callbacks


def test_other_platforms_attachments_keep_their_links_and_are_not_fetched(
    post_webhook, django_capture_on_commit_callbacks
):
    channel = ChannelFactory(platform="liveperson")
    assert (
        post_webhook(channel, fixture_bytes("liveperson", "content_hosted_file")).status_code == 202
    )
    with django_capture_on_commit_callbacks() as callbacks:
        process_due_events()
    assert wake_downloads not in callbacks
    attachment = Attachment.objects.get()
    assert attachment.url

    assert download_due_attachments() == {}
    assert download_attachment(attachment).state == "pending"
    assert fresh(attachment).state == "pending"
    assert not attachment.file


# --- limits and failures -----------------------------------------------------------------------


def test_a_file_over_the_channel_limit_fails_without_downloading(connector, connected, receive):
    set_setting(connected, "max_file_size", 1000)
    (row,) = receive(("big.pdf", PDF, "application/pdf"))

    assert download_due_attachments() == {"failed": 1}

    row = fresh(row)
    assert row.state == "failed"
    assert "larger than 1000 bytes" in row.error
    assert not row.file
    assert connector.requests_to("/Download") == []  # the metadata said so: nothing streamed


def test_a_file_growing_over_the_limit_stops_the_stream(connector, connected, receive, media):
    set_setting(connected, "max_file_size", 100_000)
    content = b"y" * (24 * 1024 * 1024)
    (row,) = receive(("liar.bin", content, "application/octet-stream"))
    connector.files[row.external_id][0]["filesize"] = 10  # the metadata lies

    result = download_attachment(row)

    assert result.state == "failed"
    row = fresh(row)
    assert row.state == "failed"
    assert "larger than 100000 bytes" in row.error
    assert connector.bytes_sent[row.external_id] < len(content)
    assert [p for p in Path(media).rglob("*") if p.is_file()] == []  # nothing half-stored


def test_a_transient_failure_stays_pending_and_the_next_sweep_downloads(
    connector, connected, receive
):
    first, second = receive(("one.txt", b"one", "text/plain"), ("two.txt", b"two", "text/plain"))
    connector.fail_next(status=500, route="/Download")

    # A failure of one file: the sweep goes on with the next.
    assert download_due_attachments() == {"pending": 1, "ready": 1}
    first, second = fresh(first), fresh(second)
    assert first.state == "pending"
    assert "error.platform.unexpected" in first.error
    assert second.state == "ready"

    assert download_due_attachments() == {"ready": 1}
    first = fresh(first)
    assert (first.state, first.error) == ("ready", "")
    with first.file.open("rb") as stored:
        assert stored.read() == b"one"


def test_a_connector_that_is_down_leaves_the_channel_for_the_next_sweep(
    connector, connected, receive
):
    first, second = receive(("one.txt", b"one", "text/plain"), ("two.txt", b"two", "text/plain"))
    connector.down()

    assert download_due_attachments() == {"pending": 1}  # not one failure per file
    assert "cannot reach the Connector" in fresh(first).error
    assert fresh(second).error == ""

    connector.up()
    assert download_due_attachments() == {"ready": 2}


def test_a_key_the_connector_refuses_is_not_the_files_fault(connector, connected, receive):
    (row,) = receive(("one.txt", b"one", "text/plain"))
    connector.fail_next(status=401, code="error.connector.unauthorized", message="Unauthorized.")
    assert download_due_attachments() == {"pending": 1}
    assert fresh(row).state == "pending"
    assert download_due_attachments() == {"ready": 1}


def test_a_file_the_connector_no_longer_has_fails_for_good(connector, connected, receive):
    (row,) = receive(("gone.txt", b"gone", "text/plain"))
    del connector.files[row.external_id]
    assert download_due_attachments() == {"failed": 1}
    assert fresh(row).state == "failed"


def test_downloads_failing_for_too_long_are_given_up(connector, connected, receive, settings):
    settings.DOWNLOAD_GIVE_UP_SECONDS = 3600
    (row,) = receive(("late.txt", b"late", "text/plain"))
    connector.down()
    assert download_due_attachments() == {"pending": 1}
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert download_due_attachments() == {"failed": 1}
    row = fresh(row)
    assert row.state == "failed"
    assert row.error.startswith("gave up after 1 hours; the last error: cannot reach")


# --- the endpoint ------------------------------------------------------------------------------


def test_the_endpoint_answers_409_until_downloaded_and_with_the_reason_after_failing(
    connector, connected, receive, client, member
):
    set_setting(connected, "max_file_size", 1000)
    small, big = receive(("small.txt", b"small", "text/plain"), ("big.pdf", PDF, "application/pdf"))
    client.force_login(member)

    response = client.get(url(small))
    assert response.status_code == 409
    assert response.json()["detail"] == "the file is not downloaded yet"

    download_due_attachments()
    assert client.get(url(small)).status_code == 200
    response = client.get(url(big))
    assert response.status_code == 409
    assert response.json()["detail"].startswith("the file could not be downloaded: ")
    assert "larger than 1000 bytes" in response.json()["detail"]


def test_only_members_of_the_channel_get_the_file(
    connector, connected, receive, client, member, outsider, owner
):
    (row,) = receive(("secret.txt", b"secret", "text/plain"))
    download_due_attachments()

    assert client.get(url(row)).status_code in (401, 403)  # not logged in
    client.force_login(outsider)
    assert client.get(url(row)).status_code == 404  # another channel's: not found
    assert client.get("/api/v1/attachments/999999/download/").status_code == 404
    client.force_login(owner)  # staff see every channel
    assert client.get(url(row)).status_code == 200
    client.force_login(member)
    assert client.get(url(row)).status_code == 200


def test_a_stored_file_that_disappeared_is_not_found(connector, connected, receive, client, member):
    (row,) = receive(("gone.txt", b"gone", "text/plain"))
    download_due_attachments()
    Path(fresh(row).file.path).unlink()
    client.force_login(member)
    response = client.get(url(row))
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "detail": "the stored file is missing",
        "fields": {},
    }


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "..\\..\\windows\\system32\\evil.exe",
        "/absolute/path.txt",
        "a/../../../b.sh",
        "new\nline\r.txt",
        "..",
    ],
)
def test_platform_names_never_decide_where_a_file_is_stored(
    connector, connected, receive, client, member, media, name
):
    (row,) = receive((name, b"payload", "text/plain"))
    assert download_attachment(row).state == "ready"

    row = fresh(row)
    assert row.filename == name  # kept as the platform said
    assert STORED.fullmatch(row.file.name), row.file.name
    assert Path(row.file.path).resolve().is_relative_to(Path(media).resolve())
    client.force_login(member)
    response = client.get(url(row))
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert "/" not in disposition
    assert "\\" not in disposition.replace('\\"', "")
    assert "\n" not in disposition
    assert "\r" not in disposition


def test_stored_names_are_generated_with_a_safe_extension():
    assert stored_name("Report.PDF", "").endswith(".pdf")
    assert stored_name("archive.tar.gz", "").endswith(".gz")
    assert stored_name("passwd", "image/png").endswith(".png")
    assert stored_name("x.p%hp", "").count(".") == 0
    assert stored_name("x.php\x00.jpg", "").endswith(".jpg")
    assert stored_name("name", "text/html; charset=utf-8").endswith(".html")
    assert stored_name("", "") != stored_name("", "")
    assert STORED.fullmatch(stored_name("../../etc/passwd", "application/x-evil"))


def test_an_unsafe_media_type_is_served_as_bytes(connector, connected, receive, client, member):
    (row,) = receive(("x.bin", b"x", "text/plain"))
    download_attachment(row)
    Attachment.objects.filter(pk=row.pk).update(mime_type="text/html\r\nSet-Cookie: a=b")
    client.force_login(member)
    response = client.get(url(row))
    assert response["Content-Type"] == "application/octet-stream"
    assert "Set-Cookie" not in response


def test_the_celery_task_downloads_and_beat_runs_it(connector, connected, receive):
    from config.celery import app
    from inbox.tasks import download_attachments

    receive(("a.txt", b"a", "text/plain"))
    assert download_attachments() == {"ready": 1}
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "inbox.tasks.download_attachments" in tasks
