from __future__ import annotations

from django.db import models
from django.db.models import Q

from .work import QueuedWork


class PollCursor(QueuedWork):
    """Where a channel's polling stands. Due like queued work (``next_attempt_at`` is the next
    poll), so a claim's lease is the "one poll in flight per channel" rule; ``cursor`` advances in
    the same transaction as the events a poll stored, and ``error`` keeps the last failure."""

    channel = models.OneToOneField(
        "inbox.Channel", on_delete=models.CASCADE, related_name="poll_cursor"
    )
    cursor = models.JSONField(default=dict, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # Failures in a row (reset by a success): the backoff grows with them.
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(
                fields=("next_attempt_at", "id"),
                condition=Q(next_attempt_at__isnull=False),
                name="pollcursor_due",
            ),
        ]

    def __str__(self) -> str:
        return f"poll cursor of channel {self.channel_id}"
