"""Files uploaded ahead of a reply: checked against the channel's limits when they arrive, taken
by the reply that names them (their stored file becomes the attachment's, the row goes), and
deleted when no reply took them in time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from inbox.models import Attachment, Channel, Conversation, Message, Upload

from . import sending
from .channels import capabilities
from .downloads import stored_name


def store_upload(*, channel: Channel, owner: Any, upload: Any) -> Upload:
    """Store an uploaded file (an ``UploadedFile``) for ``owner`` to attach to a reply on
    ``channel``. Raises InvalidReply("file", why) when the channel cannot send it."""
    file = sending.ReplyFile.from_upload(upload)
    reason = sending.file_refused(capabilities(channel), file)
    if reason:
        raise sending.InvalidReply("file", reason)
    name = default_storage.save(stored_name(file.name, file.content_type), upload)
    lifetime = timedelta(seconds=settings.UPLOAD_LIFETIME_SECONDS)
    return Upload.objects.create(
        owner=owner,
        channel=channel,
        file=name,
        filename=file.name[:255],
        mime_type=file.content_type[:120],
        size=file.size,
        expires_at=timezone.now() + lifetime,
    )


def send_reply(
    *,
    conversation: Conversation,
    author: Any,
    uploads: Sequence[UUID],
    files: Sequence[sending.ReplyFile] = (),
    idempotency_key: str = "",
    **reply: Any,
) -> sending.Reply:
    """``sending.send_reply`` with ``uploads`` (ids of the author's uploads on the conversation's
    channel) attached after ``files``; the uploads are taken in the same transaction. A repeat
    of an earlier request (its Idempotency-Key), whose uploads that request took, answers the
    earlier message as ``sending.send_reply`` does."""
    with transaction.atomic():
        rows = {
            row.pk: row
            for row in Upload.objects.select_for_update().filter(
                pk__in=uploads,
                owner=author,
                channel_id=conversation.channel_id,
                expires_at__gt=timezone.now(),
            )
        }
        missing = [str(pk) for pk in uploads if pk not in rows]
        if missing:
            earlier = _earlier(author, idempotency_key)
            if earlier is None:
                raise sending.InvalidReply(
                    "attachments",
                    f"No upload of yours for this channel (or expired): {', '.join(missing)}.",
                )
            # A repeat: the files as the first request stored them (its uploads are taken).
            files = _described(earlier)
        else:
            files = [*files, *(_reply_file(rows[pk]) for pk in uploads)]
        answer = sending.send_reply(
            conversation=conversation,
            author=author,
            files=files,
            idempotency_key=idempotency_key,
            **reply,
        )
        if answer.created:
            Upload.objects.filter(pk__in=list(rows)).delete()  # their files are the message's
    return answer


def discard(upload: Upload) -> None:
    """Delete an upload nobody attached, with its file."""
    upload.file.delete(save=False)
    upload.delete()


def prune_expired(now: Any = None) -> int:
    """Delete expired uploads and their files; the number deleted."""
    expired = list(Upload.objects.filter(expires_at__lte=now or timezone.now()))
    for upload in expired:
        upload.file.delete(save=False)
    Upload.objects.filter(pk__in=[upload.pk for upload in expired]).delete()
    return len(expired)


def _reply_file(upload: Upload) -> sending.ReplyFile:
    return sending.ReplyFile(
        name=upload.filename,
        content_type=upload.mime_type,
        size=upload.size,
        content=None,
        stored=upload.file.name,
    )


def _earlier(author: Any, key: str) -> Message | None:
    if not key:
        return None
    return Message.objects.filter(author=author, idempotency_key=key).first()


def _described(message: Message) -> list[sending.ReplyFile]:
    attachments = Attachment.objects.filter(message=message).order_by("id")
    return [
        sending.ReplyFile(name=a.filename, content_type=a.mime_type, size=a.size or 0, content=None)
        for a in attachments
    ]
