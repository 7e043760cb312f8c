"""Replies: recorded at once as queued outbound messages, sent later by the outbound worker.

``send_reply`` checks what the conversation can take (the connector's capabilities, then the
platform's own rules, e.g. an enmeshed Mail needs an active relationship with every recipient),
stores the message and its files and records a ``send`` command, all in one transaction. The
command's handler (:func:`perform_send`) uploads the files, sends, and records the platform's id.

A send never happens twice: a retry after a lost answer first asks the platform for a message it
already sent (``Client.find_sent``); and the platform's echo of our message — a webhook or a poll,
possibly arriving before the send call returned — is matched to the outbound row
(``adopt_echoes`` in :mod:`.messages`) instead of becoming a second message.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from inbox.choices import ConversationKind, ConversationStatus, Direction
from inbox.connectors.contract import Capabilities
from inbox.connectors.outbound import Client, OutgoingFile, PlatformError, Sent, Target
from inbox.db import lock_conversation
from inbox.live import Change, publish_on_commit
from inbox.models import (
    Attachment,
    Conversation,
    Message,
    MessageStatus,
    OutboundCommand,
    Participant,
    Source,
)
from inbox.outbound import record

from .channels import capabilities
from .conversations import conversation_updated
from .downloads import stored_name
from .targets import recipients_of, target_of


class CannotSend(Exception):
    """The conversation cannot take this reply; the message says why (a person reads it)."""


class IdempotencyConflict(Exception):
    """The idempotency key was used before for a different request."""


class InvalidReply(ValueError):
    """A part of the reply is not acceptable; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ReplyFile:
    """A file of a reply: as received (read once into storage) or already stored."""

    name: str
    content_type: str
    size: int
    content: File[Any] | None
    stored: str = ""  # already in storage under this name (an upload): taken, not copied

    @classmethod
    def from_upload(cls, upload: Any) -> ReplyFile:
        """A file as a form or the API received it (an ``UploadedFile``)."""
        name = upload.name or "file"
        return cls(
            name=name,
            content_type=guess_type(name, upload.content_type or ""),
            size=upload.size or 0,
            content=upload,
        )

    @classmethod
    def from_stored(cls, upload: Any) -> ReplyFile:
        """A file uploaded ahead (an ``inbox.models.Upload``): its stored file is taken as the
        attachment's, not copied."""
        return cls(
            name=upload.filename,
            content_type=upload.mime_type,
            size=upload.size,
            content=None,
            stored=upload.file.name,
        )


@dataclass(frozen=True)
class Reply:
    message: Message
    created: bool  # False: the same idempotency key and request as before


# Per platform, rules a conversation must meet beyond the channel's capabilities: a function of
# the conversation and its recipients returning why not, or "" (registered by the apps that know,
# e.g. relationships: an enmeshed Mail needs an active relationship with every recipient).
ConversationRule = Callable[[Conversation, Sequence[str]], str]
CONVERSATION_RULES: dict[str, ConversationRule] = {}


def register_conversation_rule(platform: str, rule: ConversationRule) -> None:
    CONVERSATION_RULES[platform] = rule


def direct_chats_only(conversation: Conversation, recipients: Sequence[str]) -> str:
    """SCALAR's rule: its group chats take no messages from integrations."""
    if conversation.kind == ConversationKind.GROUP:
        return "Group chats are read-only on SCALAR: write to the driver in a 1:1 chat."
    if len(recipients) != 1:
        return "A SCALAR message goes to exactly one driver; this chat has someone else too."
    return ""


def why_not(conversation: Conversation) -> str:
    """Why ``conversation`` cannot take a reply now; "" when it can."""
    able = capabilities(conversation.channel)
    if not able.reply:
        return able.why_not or "This channel cannot send."
    if conversation.status != ConversationStatus.OPEN:
        return f"The conversation is {conversation.status}."
    recipients = recipients_of(conversation)
    if not recipients:
        return "The conversation has nobody to send to."
    rule = CONVERSATION_RULES.get(conversation.channel.platform)
    return rule(conversation, recipients) if rule else ""


def send_reply(
    *,
    conversation: Conversation,
    author: Any,
    text: str,
    subject: str = "",
    files: Sequence[ReplyFile] = (),
    idempotency_key: str = "",
) -> Reply:
    """Queue a reply by ``author`` (a user). With ``idempotency_key``, asking again with the same
    key and request gives the same message; the same key with another request raises
    IdempotencyConflict. Raises CannotSend (the conversation cannot take it) or InvalidReply."""
    digest = _digest(conversation, text, subject, files)
    if idempotency_key:
        earlier = _earlier(author, idempotency_key, digest)
        if earlier is not None:
            return Reply(earlier, created=False)
    reason = why_not(conversation)
    if reason:
        raise CannotSend(reason)
    _check(conversation, text, subject, files)
    try:
        with transaction.atomic():
            message = _queue(conversation, author, text, subject, files, idempotency_key, digest)
    except IntegrityError:
        # The same key, asked twice at once: the other request made the message.
        earlier = _earlier(author, idempotency_key, digest) if idempotency_key else None
        if earlier is None:
            raise
        return Reply(earlier, created=False)
    return Reply(message, created=True)


def retry_message(message: Message, *, user: Any) -> Message:
    """Send a failed outbound message again (a new command; the old one stays failed)."""
    if message.direction != Direction.OUT or message.status != MessageStatus.FAILED:
        raise CannotSend("Only a failed outgoing message can be retried.")
    with transaction.atomic():
        lock_conversation(message.channel_id, message.conversation.external_id)
        message.refresh_from_db(fields=["status"])
        if message.status != MessageStatus.FAILED:
            raise CannotSend("The message is not failed any more.")
        attempt = message.commands.count()
        Message.objects.filter(pk=message.pk).update(
            status=MessageStatus.QUEUED, error="", error_code="", updated_at=timezone.now()
        )
        message.refresh_from_db()
        record(
            channel=message.channel,
            kind=OutboundCommand.Kind.SEND,
            key=f"send:{message.pk}:{attempt}",
            message=message,
            created_by=user,
        )
        publish_on_commit([_updated(message)])
    return message


def _earlier(author: Any, key: str, digest: str) -> Message | None:
    earlier = Message.objects.filter(author=author, idempotency_key=key).first()
    if earlier is not None and earlier.request_digest != digest:
        raise IdempotencyConflict("This Idempotency-Key was used for a different request.")
    return earlier


def _digest(conversation: Conversation, text: str, subject: str, files: Sequence[ReplyFile]) -> str:
    described = [conversation.pk, text, subject, [(f.name, f.content_type, f.size) for f in files]]
    return hashlib.sha256(json.dumps(described, ensure_ascii=False).encode()).hexdigest()


def _check(conversation: Conversation, text: str, subject: str, files: Sequence[ReplyFile]) -> None:
    able = capabilities(conversation.channel)
    if not text.strip() and not files:
        raise InvalidReply("text", "A reply needs a text or a file.")
    if subject and not able.subject:
        raise InvalidReply("subject", "This platform's messages have no subject.")
    if len(subject) > 300:
        raise InvalidReply("subject", "A subject has at most 300 characters.")
    if able.max_text_length and len(text) > able.max_text_length:
        raise InvalidReply(
            "text",
            f"The text is {len(text):,} characters; this platform takes up to "
            f"{able.max_text_length:,}.",
        )
    if files and not able.files:
        raise InvalidReply("files", "This channel cannot send files.")
    if able.max_files and len(files) > able.max_files:
        raise InvalidReply("files", f"This platform takes {able.max_files} file per message.")
    if files and text.strip() and not able.text_with_files:
        raise InvalidReply("files", "This platform sends a text or a file, not both at once.")
    for file in files:
        reason = file_refused(able, file)
        if reason:
            raise InvalidReply("files", reason)


def file_refused(able: Capabilities, file: ReplyFile) -> str:
    """Why the channel cannot send ``file`` (its type, its size); "" when it can."""
    if not able.files:
        return "This channel cannot send files."
    if able.file_types and file.content_type not in able.file_types:
        return (
            f"{file.name} is {file.content_type}; this platform takes {', '.join(able.file_types)}."
        )
    if file.size > able.max_file_size:
        return (
            f"{file.name} is {file.size:,} bytes; this channel takes files up to "
            f"{able.max_file_size:,} bytes."
        )
    if not file.size:
        return f"{file.name} is empty."
    return ""


def _queue(
    conversation: Conversation,
    author: Any,
    text: str,
    subject: str,
    files: Sequence[ReplyFile],
    idempotency_key: str,
    digest: str,
) -> Message:
    lock_conversation(conversation.channel_id, conversation.external_id)
    conversation.refresh_from_db(fields=["last_position", "last_message", "last_activity_at"])
    now = timezone.now()
    conversation.last_position += 1
    message = Message.objects.create(
        channel_id=conversation.channel_id,
        conversation=conversation,
        direction=Direction.OUT,
        author=author,
        client_id=uuid.uuid4(),
        idempotency_key=idempotency_key,
        request_digest=digest,
        text=text,
        subject=subject,
        status=MessageStatus.QUEUED,
        sent_at=now,
        position=conversation.last_position,
    )
    for file in files:
        attachment = Attachment(
            message=message,
            # The platform's id once uploaded; until then a local one (unique per message).
            external_id=f"local:{uuid.uuid4()}",
            filename=file.name[:255],
            mime_type=file.content_type[:120],
            size=file.size,
            state=Attachment.State.READY,
        )
        attachment.file.name = file.stored or _store(file, attachment.mime_type)
        attachment.save()
    conversation.last_message = message
    conversation.last_activity_at = now
    conversation.save(
        update_fields=["last_position", "last_message", "last_activity_at", "updated_at"]
    )
    record(
        channel=conversation.channel,
        kind=OutboundCommand.Kind.SEND,
        key=f"send:{message.pk}:0",
        message=message,
        created_by=author,
    )
    publish_on_commit(
        [
            Change("message.created", message.channel_id, conversation.pk, message.pk),
            conversation_updated(conversation),
        ]
    )
    return message


def _store(file: ReplyFile, mime_type: str) -> str:
    if file.content is None:
        raise ValueError(f"{file.name}: neither stored nor received")
    return default_storage.save(stored_name(file.name, mime_type), file.content)


def guess_type(name: str, given: str = "") -> str:
    return given or mimetypes.guess_type(name)[0] or "application/octet-stream"


# --- carrying a send out (the outbound worker) -------------------------------------------------


def perform_send(command: OutboundCommand, client: Client) -> None:
    """Upload the message's files not uploaded yet (or hand them to the send itself, where the
    platform takes them inline), send it unless an earlier attempt did, and record the
    platform's id; the platform's answer goes through the way in."""
    message = Message.objects.select_related("conversation", "channel").get(
        pk=command.message_id or 0
    )
    if message.external_id:
        return  # its echo arrived first and was matched to it: sent
    Message.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(
        status=MessageStatus.SENDING, updated_at=timezone.now()
    )
    target = target_of(message.conversation)
    files = list(message.attachments.order_by("id"))
    if capabilities(message.channel).inline_files:
        with ExitStack() as opened:
            outgoing = [_outgoing(a, opened.enter_context(a.file.open("rb"))) for a in files]
            sent = _send_once(command, client, message, target, [], outgoing)
    else:
        uploaded = [_uploaded(client, a, target) for a in files]
        sent = _send_once(command, client, message, target, uploaded, [])
    _record_sent(message, sent)


def _send_once(
    command: OutboundCommand,
    client: Client,
    message: Message,
    target: Target,
    attachments: list[str],
    files: list[OutgoingFile],
) -> Sent:
    if command.attempts > 1:  # an earlier attempt may have sent it and lost the answer
        found = client.find_sent(
            target=target,
            text=message.text,
            subject=message.subject,
            since=message.received_at - timedelta(minutes=1),
            attachments=attachments,
        )
        if found is not None:
            return found
    return client.send(
        target=target,
        text=message.text,
        subject=message.subject,
        attachments=attachments,
        files=files,
    )


def send_failed(command: OutboundCommand, error: PlatformError) -> None:
    """The message could not be sent: failed, with the platform's words (a person may retry)."""
    message = command.message
    if message is None or message.external_id:
        return
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.FAILED,
        error=error.message[:4000],
        error_code=error.code[:200],
        updated_at=timezone.now(),
    )
    publish_on_commit([_updated(message)])


def _uploaded(client: Client, attachment: Attachment, target: Target) -> str:
    """The platform id of ``attachment``, uploading it first if needed (kept at once, so a
    retry does not upload it again)."""
    if not attachment.external_id.startswith("local:"):
        return attachment.external_id
    with attachment.file.open("rb") as stream:
        uploaded = client.upload(file=_outgoing(attachment, stream), target=target)
    Attachment.objects.filter(pk=attachment.pk).update(external_id=uploaded.platform_id)
    return uploaded.platform_id


def _outgoing(attachment: Attachment, stream: Any) -> OutgoingFile:
    return OutgoingFile(
        name=attachment.filename or "file",
        content_type=guess_type(attachment.filename, attachment.mime_type),
        size=attachment.size or attachment.file.size,
        stream=stream,
        title=attachment.filename,
    )


def _record_sent(message: Message, sent: Sent) -> None:
    from inbox.inbound import store_document

    with transaction.atomic():
        lock_conversation(message.channel_id, message.conversation.external_id)
        message.refresh_from_db(fields=["external_id", "status"])
        if not message.external_id:
            # An echo stored apart (its text did not match ours) is the same message: ours stays.
            Message.objects.filter(
                channel_id=message.channel_id, external_id=sent.platform_id
            ).exclude(pk=message.pk).delete()
            status = message.status
            if status in (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.FAILED):
                status = MessageStatus.SENT
            Message.objects.filter(pk=message.pk).update(
                external_id=sent.platform_id,
                sequence=sent.sequence,
                status=status,
                error="",
                error_code="",
                updated_at=timezone.now(),
            )
            publish_on_commit([_updated(message)])
            if sent.conversation_id and sent.conversation_id != message.conversation.external_id:
                _move(message, sent.conversation_id)
        if sent.document is not None:
            store_document(channel=message.channel, source=Source.ANSWER, document=sent.document)


def _move(message: Message, external_id: str) -> None:
    """The platform took the message into another conversation (it opened a new one for a
    closed one): the message moves there, with the people of the old one, so it shows where its
    echo and the answers to it will arrive."""
    old = message.conversation
    lock_conversation(message.channel_id, external_id)
    new, created = Conversation.objects.get_or_create(
        channel_id=message.channel_id,
        external_id=external_id,
        defaults={"kind": old.kind, "title": old.title},
    )
    if created:
        Participant.objects.bulk_create(
            [
                Participant(conversation=new, address=p.address, name=p.name, role=p.role)
                for p in old.participants.filter(is_present=True)
            ]
        )
    new.last_position += 1
    Message.objects.filter(pk=message.pk).update(conversation=new, position=new.last_position)
    new.last_message_id = message.pk
    new.last_activity_at = max(new.last_activity_at, message.sent_at)
    new.save(update_fields=["last_position", "last_message", "last_activity_at", "updated_at"])
    previous = old.messages.exclude(pk=message.pk).order_by("-position").first()
    old.last_message = previous
    old.last_activity_at = previous.sent_at if previous is not None else old.created_at
    old.save(update_fields=["last_message", "last_activity_at", "updated_at"])
    publish_on_commit(
        [
            Change("message.created", message.channel_id, new.pk, message.pk),
            conversation_updated(new),
            conversation_updated(old),
        ]
    )


def _updated(message: Message) -> Change:
    return Change("message.updated", message.channel_id, message.conversation_id, message.pk)
