from __future__ import annotations

from django.db import models


class InboundEvent(models.Model):
    """One raw delivery from a platform, stored before anything else happens.

    The audit trail of the way in and the unit the pipeline processes and retries.
    """

    class Source(models.TextChoices):
        WEBHOOK = "webhook"
        WEBSOCKET = "websocket"
        POLL = "poll"
        REPLAY = "replay"

    class State(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        IGNORED = "ignored"  # authentic, but nothing the inbox uses
        FAILED = "failed"  # retried while next_attempt_at is set

    channel = models.ForeignKey(
        "inbox.Channel", on_delete=models.CASCADE, related_name="inbound_events"
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    event_name = models.CharField(max_length=200, blank=True)
    dedup_key = models.CharField(max_length=255)
    payload = models.JSONField(null=True, blank=True)
    # Only for bodies that were not JSON: the bytes as they came, for forensics.
    raw_body = models.BinaryField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(
                fields=("channel", "dedup_key"), name="inboundevent_channel_dedup_key"
            ),
        ]
        indexes = [models.Index(fields=("state", "next_attempt_at"), name="inboundevent_due")]

    def __str__(self) -> str:
        return f"{self.event_name or 'event'} #{self.pk} ({self.state})"
