from __future__ import annotations

from django.db import models
from django.db.models import Q

from .work import QueuedWork


class Source(models.TextChoices):
    WEBHOOK = "webhook"
    WEBSOCKET = "websocket"
    POLL = "poll"
    ANSWER = "answer"  # what a platform answered a call of ours (a sent message, a decision)


class InboundRequest(models.Model):
    """One authenticated delivery exactly as received: the body's bytes and the headers that
    matter, whatever its content. Its items are InboundEvents; replay re-splits it.

    A body received again byte for byte is the same row (``body_sha256`` is unique per channel).
    """

    channel = models.ForeignKey(
        "inbox.Channel", on_delete=models.CASCADE, related_name="inbound_requests", db_index=False
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    body = models.BinaryField()
    body_sha256 = models.CharField(max_length=64)
    headers = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField()
    item_count = models.PositiveIntegerField(default=0)
    # Why the body could not be split into items (not JSON, nested too deep, a foreign shape).
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=("channel", "body_sha256"), name="inboundrequest_channel_body"
            ),
        ]
        indexes = [models.Index(fields=("received_at",), name="inboundrequest_received")]

    def __str__(self) -> str:
        return f"{self.source} request #{self.pk}"


class InboundEvent(QueuedWork):
    """One platform item of an inbound request, stored before anything else happens.

    ``payload`` is the platform's item unchanged and ``envelope`` the fields around it; both are
    null/empty when the item could not be stored as JSON (then the request's bytes still hold
    it, and the event is failed with the reason). The audit trail of the way in and the unit the
    pipeline processes, retries and replays.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        IGNORED = "ignored"  # authentic, but nothing the inbox uses
        FAILED = "failed"  # retried while next_attempt_at is set; for good once it is null

    channel = models.ForeignKey(
        "inbox.Channel", on_delete=models.CASCADE, related_name="inbound_events", db_index=False
    )
    # The request that first brought the item (null only for items stored before requests
    # were kept whole).
    request = models.ForeignKey(
        InboundRequest, on_delete=models.CASCADE, related_name="events", null=True, blank=True
    )
    event_name = models.CharField(max_length=200, blank=True)
    dedup_key = models.CharField(max_length=255)
    payload = models.JSONField(null=True, blank=True)
    envelope = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(
                fields=("channel", "dedup_key"), name="inboundevent_channel_dedup_key"
            ),
        ]
        indexes = [
            # Only work still to do: claiming stays fast with millions of processed rows.
            models.Index(
                fields=("next_attempt_at", "id"),
                condition=Q(next_attempt_at__isnull=False),
                name="inboundevent_due",
            ),
            models.Index(fields=("state", "received_at"), name="inboundevent_state_received"),
        ]

    def __str__(self) -> str:
        return f"{self.event_name or 'event'} #{self.pk} ({self.state})"
