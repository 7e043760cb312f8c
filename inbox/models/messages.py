from __future__ import annotations

from django.db import models
from django.db.models import Q

from inbox.choices import Audience, ContentKind, Direction, Step, labelled


class MessageStatus(models.TextChoices):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


# Statuses only move forward along this order.
STATUS_RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.FAILED: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
}


class Message(models.Model):
    channel = models.ForeignKey("inbox.Channel", on_delete=models.CASCADE, related_name="messages")
    conversation = models.ForeignKey(
        "inbox.Conversation", on_delete=models.CASCADE, related_name="messages"
    )
    # Null (not "") until the platform accepted an outbound message, so that many unsent
    # messages do not collide in the unique constraint.
    external_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # Idempotency key of an outbound message created by the inbox.
    client_id = models.UUIDField(null=True, blank=True)
    direction = models.CharField(max_length=3, choices=labelled(Direction))
    sender = models.ForeignKey(
        "inbox.Participant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(help_text="Platform time (arrival time if it gave none).")
    received_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Arrival order within the conversation (1, 2, …), assigned under the conversation lock:
    # unread counts compare it with a user's read position, so a message back-filled with an
    # old platform time still counts as new.
    position = models.PositiveBigIntegerField()
    text = models.TextField(blank=True)
    subject = models.CharField(max_length=300, blank=True)
    content = models.JSONField(null=True, blank=True, help_text="The platform's original content.")
    content_kind = models.CharField(
        max_length=12, choices=labelled(ContentKind), default=ContentKind.TEXT
    )
    # Answers the sender offers (LivePerson quick replies): [{"title": …, "text": …}].
    choices = models.JSONField(default=list, blank=True)
    audience = models.CharField(max_length=10, choices=labelled(Audience), default=Audience.ALL)
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    # Kept so a reply that arrives before its original is linked when the original arrives.
    reply_to_external_id = models.CharField(max_length=255, blank=True)
    sequence = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.SENT
    )
    recalled_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("sent_at", "sequence", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("channel", "external_id"), name="message_channel_external_id"
            ),
            models.UniqueConstraint(
                fields=("channel", "client_id"), name="message_channel_client_id"
            ),
            models.UniqueConstraint(
                fields=("conversation", "position"), name="message_conversation_position"
            ),
        ]
        indexes = [
            models.Index(
                fields=("conversation", "sent_at", "sequence", "id"), name="message_timeline"
            ),
            models.Index(fields=("channel", "reply_to_external_id"), name="message_reply_to"),
        ]

    def __str__(self) -> str:
        return self.external_id or f"outbound #{self.pk}"


class Recipient(models.Model):
    """One addressee of a message and how far delivery to them got."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="recipients")
    address = models.CharField(max_length=255)
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.SENT
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Per-participant platform flags with their time, e.g. {"DriverSeen": "2026-…"}.
    flags = models.JSONField(default=dict, blank=True)
    relationship_external_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(
                fields=("message", "address"), name="recipient_message_address"
            ),
        ]

    def __str__(self) -> str:
        return self.address


class MessageStatusEvent(models.Model):
    """The status history: each row a delivery ``step`` or a platform ``flag`` (one of the two).

    Kept by the message's platform id, so a receipt that arrives before its message is not
    lost: it is linked (and counted) once the message exists."""

    channel = models.ForeignKey("inbox.Channel", on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="status_events"
    )
    message_external_id = models.CharField(max_length=255)
    step = models.CharField(max_length=10, choices=labelled(Step), blank=True)
    flag = models.CharField(max_length=40, blank=True, help_text="A platform word, e.g. Treated.")
    participant = models.CharField(max_length=255, blank=True)
    at = models.DateTimeField()
    inbound_event = models.ForeignKey(
        "inbox.InboundEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("channel", "message_external_id", "step", "flag", "participant", "at"),
                name="statusevent_unique_observation",
            ),
            models.CheckConstraint(
                condition=(Q(step="") & ~Q(flag="")) | (~Q(step="") & Q(flag="")),
                name="statusevent_step_or_flag",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_external_id} {self.step or self.flag}"


class Attachment(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        FAILED = "failed"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    external_id = models.CharField(max_length=1024, help_text="Platform file id, path or URL.")
    filename = models.CharField(max_length=255, blank=True)
    mime_type = models.CharField(max_length=120, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    caption = models.TextField(blank=True)
    preview = models.TextField(
        blank=True, help_text="A small data: URI, when the platform sent one."
    )
    url = models.CharField(max_length=2048, blank=True)
    # What the inbox changed about the platform's data, e.g. an unsafe URL it dropped.
    note = models.CharField(max_length=300, blank=True)
    file = models.FileField(upload_to="attachments/%Y/%m/", blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(
                fields=("message", "external_id"), name="attachment_message_external_id"
            ),
        ]

    def __str__(self) -> str:
        return self.filename or self.external_id
