"""Files uploaded ahead of a reply: checked against the channel's limits when they arrive (the
rules ``sending`` applies to each file of a reply), taken by the reply that names them — their
stored file becomes the attachment's and the row goes, in the reply's transaction — and deleted
when no reply took them in time.

Rows are locked while a reply takes them, and pruning and deleting skip or wait for those locks,
so a file is never deleted under the attachment that just took it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
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


def store_upload(*, channel: Channel, user: Any, file: Any) -> Upload:
    """Store ``file`` (an ``UploadedFile``) for ``user`` to attach to a reply on ``channel``.
    Raises ``sending.InvalidReply("file", why)`` when the channel cannot send it."""
    described = sending.ReplyFile.from_upload(file)
    reason = sending.file_refused(capabilities(channel), described)
    if reason:
        raise sending.InvalidReply("file", reason)
    name = default_storage.save(stored_name(described.name, described.content_type), file)
    try:
        return Upload.objects.create(
            owner=user,
            channel=channel,
            file=name,
            filename=described.name[:255],
            mime_type=described.content_type[:120],
            size=described.size,
            expires_at=timezone.now() + timedelta(seconds=settings.UPLOAD_LIFETIME_SECONDS),
        )
    except BaseException:
        default_storage.delete(name)  # no row, no file
        raise


def take_uploads(ids: Sequence[UUID], user: Any, conversation: Conversation) -> list[Upload]:
    """The uploads ``ids`` names, in its order, locked until the transaction ends: each must be
    ``user``'s, for the conversation's channel and not expired. Raises
    ``sending.InvalidReply("attachments", why)``; call it inside a transaction."""
    if len(set(ids)) != len(ids):
        raise sending.InvalidReply("attachments", "An upload is named more than once.")
    rows = {
        row.pk: row
        for row in Upload.objects.select_for_update().filter(
            pk__in=ids,
            owner_id=user.pk,
            channel_id=conversation.channel_id,
            expires_at__gt=timezone.now(),
        )
    }
    missing = [str(pk) for pk in ids if pk not in rows]
    if missing:
        # Another user's, another channel's, expired, taken by a reply or unknown: all alike, so
        # that an id says nothing about someone else's upload.
        raise sending.InvalidReply(
            "attachments",
            f"No upload of yours for this channel (taken, expired or unknown): "
            f"{', '.join(missing)}.",
        )
    return [rows[pk] for pk in ids]


def send_reply(
    *,
    conversation: Conversation,
    author: Any,
    uploads: Sequence[UUID] = (),
    files: Sequence[sending.ReplyFile] = (),
    idempotency_key: str = "",
    **reply: Any,
) -> sending.Reply:
    """``sending.send_reply`` with ``uploads`` (ids, see :func:`take_uploads`) attached after
    ``files``; the uploads are taken in the reply's transaction. A repeat of an earlier request
    (the same Idempotency-Key) answers as ``sending.send_reply`` does, although that request
    took the uploads: they are described as it stored them."""
    if not uploads:
        return sending.send_reply(
            conversation=conversation,
            author=author,
            files=files,
            idempotency_key=idempotency_key,
            **reply,
        )
    with transaction.atomic():
        earlier = _earlier(author, idempotency_key)
        taken: list[Upload] = []
        if earlier is None:
            try:
                taken = take_uploads(uploads, author, conversation)
            except sending.InvalidReply:
                # The same request at once, which took them first and made the message?
                earlier = _earlier(author, idempotency_key)
                if earlier is None:
                    raise
        if earlier is not None:
            more = [*files, *_repeated(earlier, len(files), len(uploads))]
        else:
            more = [*files, *(sending.ReplyFile.from_stored(upload) for upload in taken)]
        try:
            answer = sending.send_reply(
                conversation=conversation,
                author=author,
                files=more,
                idempotency_key=idempotency_key,
                **reply,
            )
        except sending.InvalidReply as exc:
            if exc.field == "files" and not files:  # the files refused are the uploads
                raise sending.InvalidReply("attachments", str(exc)) from exc
            raise
        if answer.created:  # their files are the message's now
            Upload.objects.filter(pk__in=[upload.pk for upload in taken]).delete()
    return answer


def discard(upload: Upload) -> bool:
    """Delete an upload nobody attached, with its file; False when a reply took it meanwhile."""
    with transaction.atomic():
        if not list(Upload.objects.select_for_update().filter(pk=upload.pk).values("pk")):
            return False  # a reply took it (waited for it, then found it gone)
        Upload.objects.filter(pk=upload.pk).delete()
    default_storage.delete(upload.file.name)
    return True


def prune_expired(now: datetime | None = None) -> int:
    """Delete expired uploads and their files (skipping any a reply is taking right now); the
    number deleted."""
    with transaction.atomic():
        expired = list(
            Upload.objects.select_for_update(skip_locked=True)
            .filter(expires_at__lte=now or timezone.now())
            .values_list("pk", "file")
        )
        Upload.objects.filter(pk__in=[pk for pk, _ in expired]).delete()
    for _, name in expired:
        default_storage.delete(name)
    return len(expired)


def _earlier(author: Any, key: str) -> Message | None:
    if not key:
        return None
    return Message.objects.filter(author=author, idempotency_key=key).first()


def _repeated(earlier: Message, after: int, count: int) -> list[sending.ReplyFile]:
    """The uploaded files of ``earlier`` (its attachments after the ``after`` sent with it) as
    its request described them, for the idempotency check; a different count is a different
    request."""
    attachments = list(Attachment.objects.filter(message=earlier).order_by("id")[after:])
    if len(attachments) != count:
        raise sending.IdempotencyConflict("This Idempotency-Key was used for a different request.")
    return [
        sending.ReplyFile(name=a.filename, content_type=a.mime_type, size=a.size or 0, content=None)
        for a in attachments
    ]
