"""Downloading received attachments into the inbox's own storage.

Every attachment of a received message gets a row (``pending``) when its message is applied.
For platforms whose capabilities say ``files`` (enmeshed), the inbox fetches the file itself:
:func:`download_attachment` streams it through the channel's client into a temporary file (never
whole into memory), then into Django's default storage under a generated name, and marks the row
``ready``. Other platforms' attachments keep their ``url`` and are left alone.

Retries: the row stays ``pending`` after a transient failure (its ``error`` says why), and the
periodic sweep (:func:`download_due_attachments`, Celery beat, also woken after commit when new
attachments arrive) simply tries every pending row again, oldest first. There is no backoff per
file to keep (the model has no field for it, and one request per sweep per failing file is
cheap); instead, when the platform as a whole fails (unreachable, overloaded, refusing our key)
the sweep leaves the channel's other files for the next sweep rather than failing through them.
A file still failing ``DOWNLOAD_GIVE_UP_SECONDS`` after its message arrived is failed for good.
A file over the channel's ``max_file_size``, or one the platform no longer has, fails at once.
"""

from __future__ import annotations

import logging
import mimetypes
import re
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from inbox.connectors.outbound import Client, PlatformError
from inbox.db import lock_key, session_lock
from inbox.inbound.storing import plain_text
from inbox.inbound.wakeup import Waker
from inbox.models import Attachment, Channel

from .channels import capabilities, client_for, note_answer, remember
from .targets import target_of

logger = logging.getLogger(__name__)

State = Attachment.State

DOWNLOAD_WAKER = Waker("inbox.tasks.download_attachments")
# The stored name's extension: letters and digits only, from the platform's name or media type.
SAFE_EXTENSION = re.compile(r"\.[a-z0-9]{1,10}")
# Answers that say the platform itself is failing, not this one file.
PLATFORM_DOWN = frozenset({401, 403, 429, 502, 503, 504})


@dataclass(frozen=True)
class DownloadResult:
    """How one download ended. ``platform_down``: the platform as a whole failed (so the
    channel's other files should wait for the next sweep)."""

    state: str
    error: str = ""
    platform_down: bool = False


def downloads_files(channel: Channel) -> bool:
    """True when the inbox downloads the channel's attachments itself."""
    return channel.is_active and capabilities(channel).files


def wake_downloads() -> None:
    """Ask for a download sweep soon (after a commit that created pending attachments)."""
    DOWNLOAD_WAKER.request()


def queue_downloads(channel_ids: Iterable[int]) -> None:
    """Wake the downloader after commit when one of ``channel_ids`` downloads its files."""
    ids = set(channel_ids)
    if ids and any(downloads_files(c) for c in Channel.objects.filter(pk__in=ids)):
        transaction.on_commit(wake_downloads)


def download_due_attachments() -> Counter[str]:
    """Try every pending attachment of every channel that downloads files, oldest first;
    returns how many ended in each state (``pending`` counts the ones to retry)."""
    counts: Counter[str] = Counter()
    for channel in Channel.objects.filter(is_active=True).order_by("id"):
        if downloads_files(channel):
            counts += _download_channel(channel)
    return counts


def _download_channel(channel: Channel) -> Counter[str]:
    counts: Counter[str] = Counter()
    try:
        client = client_for(channel)
    except PlatformError as exc:
        logger.warning("cannot download the files of channel %s: %s", channel.pk, exc)
        return counts
    try:
        last = 0
        while True:
            batch = list(
                Attachment.objects.filter(
                    message__channel=channel, state=State.PENDING, id__gt=last
                )
                .order_by("id")
                .values_list("id", flat=True)[: settings.DOWNLOAD_BATCH_SIZE]
            )
            if not batch:
                return counts
            for pk in batch:
                last = pk
                try:
                    result = _download_one(pk, client)
                except Exception:  # a bug or a database hiccup: the next sweep tries again
                    logger.exception("downloading attachment %s failed", pk)
                    counts["error"] += 1
                    continue
                counts[result.state] += 1
                if result.platform_down:
                    logger.warning(
                        "downloads of channel %s wait for the next sweep: %s",
                        channel.pk,
                        result.error,
                    )
                    return counts
    finally:
        remember(channel, client.state())
        client.close()


def download_attachment(attachment: Attachment, *, client: Client | None = None) -> DownloadResult:
    """Download one pending attachment now (with ``client``, or the channel's own).

    Never raises for the platform or the storage: the outcome is recorded on the row and
    returned. An attachment that is not pending, or whose download another worker is doing,
    is left as it is.
    """
    return _download_one(attachment.pk, client)


def _download_one(pk: int, client: Client | None) -> DownloadResult:
    with _download_lock(pk) as taken:
        if not taken:
            return DownloadResult(State.PENDING, "another download of this file is in flight")
        attachment = Attachment.objects.select_related(
            "message__channel", "message__conversation"
        ).get(pk=pk)
        if attachment.state != State.PENDING:
            return DownloadResult(attachment.state, attachment.error)
        channel = attachment.message.channel
        limits = capabilities(channel)
        if not limits.files:
            return DownloadResult(State.PENDING, "the inbox does not download this channel's files")
        own = client is None
        try:
            client = client or client_for(channel)
        except PlatformError as exc:
            return _transient(attachment, str(exc), platform_down=True)
        try:
            return _fetch(attachment, client, limits.max_file_size)
        finally:
            if own:
                remember(channel, client.state())
                client.close()


def _fetch(attachment: Attachment, client: Client, max_bytes: int) -> DownloadResult:
    with tempfile.TemporaryFile(prefix="switchboard-download-") as sink:
        try:
            got = client.download(
                ref=attachment.external_id,
                sink=sink,
                max_bytes=max_bytes,
                target=target_of(attachment.message.conversation),
            )
        except PlatformError as exc:
            note_answer(attachment.message.channel, exc)
            error = str(exc) or "the download failed"
            # 401/403 are "permanent" for the call, but say the channel's key is wrong, which
            # an operator fixes: not the file's fault.
            if exc.permanent and exc.status not in PLATFORM_DOWN:
                return _failed(attachment, error)
            down = exc.status is None or exc.status in PLATFORM_DOWN
            return _transient(attachment, error, platform_down=down)
        name = plain_text(got.name)[:255]
        content_type = plain_text(got.content_type)[:120]
        try:
            sink.seek(0)
            stored = default_storage.save(
                stored_name(attachment.filename or name, attachment.mime_type or content_type),
                File(sink),
            )
        except Exception as exc:  # a full disk, an unwritable media root: every file fails so
            logger.exception("storing attachment %s failed", attachment.pk)
            return _transient(attachment, f"{type(exc).__name__}: {exc}", platform_down=True)
    try:
        updated = Attachment.objects.filter(pk=attachment.pk, state=State.PENDING).update(
            state=State.READY,
            file=stored,
            size=got.size,
            error="",
            # The platform's own metadata (from the message) wins; the download fills gaps.
            filename=Case(When(filename="", then=Value(name)), default=F("filename")),
            mime_type=Case(When(mime_type="", then=Value(content_type)), default=F("mime_type")),
        )
    except Exception:
        default_storage.delete(stored)
        raise
    if not updated:  # finished elsewhere meanwhile: keep one copy
        default_storage.delete(stored)
        attachment.refresh_from_db(fields=["state", "error"])
        return DownloadResult(attachment.state, attachment.error)
    return DownloadResult(State.READY)


def _failed(attachment: Attachment, error: str) -> DownloadResult:
    Attachment.objects.filter(pk=attachment.pk, state=State.PENDING).update(
        state=State.FAILED, error=error[:4000]
    )
    logger.info("attachment %s failed for good: %s", attachment.pk, error)
    return DownloadResult(State.FAILED, error)


def _transient(attachment: Attachment, error: str, *, platform_down: bool) -> DownloadResult:
    """Keep the attachment pending for the next sweep, unless it has been failing too long."""
    give_up = timedelta(seconds=settings.DOWNLOAD_GIVE_UP_SECONDS)
    if attachment.message.received_at < timezone.now() - give_up:
        hours = settings.DOWNLOAD_GIVE_UP_SECONDS / 3600
        return _failed(attachment, f"gave up after {hours:g} hours; the last error: {error}")
    Attachment.objects.filter(pk=attachment.pk, state=State.PENDING).update(error=error[:4000])
    return DownloadResult(State.PENDING, error, platform_down=platform_down)


def stored_name(filename: str, content_type: str, *, now: datetime | None = None) -> str:
    """Where a downloaded file is stored: ``attachments/YYYY/MM/<uuid><ext>``.

    Generated, so no platform text decides the path (``../../etc/passwd`` cannot escape the
    storage); only an extension of letters and digits is kept, from the file name or else the
    media type, so the file still opens by type when an operator looks at the storage.
    """
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if not SAFE_EXTENSION.fullmatch(suffix):
        guessed = mimetypes.guess_extension(content_type.split(";")[0].strip().lower()) or ""
        suffix = guessed if SAFE_EXTENSION.fullmatch(guessed) else ""
    moment = now or timezone.now()
    return f"attachments/{moment:%Y/%m}/{uuid.uuid4().hex}{suffix}"


def _download_lock(pk: int) -> AbstractContextManager[bool]:
    """The attachment's download lock, held by this database session (no transaction stays
    open while the platform streams) and released when the download ends or its process dies."""
    return session_lock(lock_key(0, f"attachment-download:{pk}"))
