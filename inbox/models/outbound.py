from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from .work import QueuedWork


class OutboundCommand(QueuedWork):
    """One thing the inbox asked a platform to do — send a message, decide on a relationship,
    send a read receipt or a typing signal — recorded before anyone calls the platform and carried
    out by the outbound worker (:mod:`inbox.outbound`), claimed, leased and retried like inbound
    work. ``key`` makes recording idempotent: the same key is the same command."""

    class Kind(models.TextChoices):
        SEND = "send"
        DECIDE = "decide"
        READ = "read"
        TYPING = "typing"
        CLOSE = "close"  # close the conversation
        OPEN = "open"  # open a new conversation (LivePerson, for a consumer)

    class State(models.TextChoices):
        QUEUED = "queued"  # waiting, or between attempts (``error`` says what went wrong)
        DONE = "done"
        FAILED = "failed"  # for good: a permanent answer, or attempts used up

    channel = models.ForeignKey(
        "inbox.Channel", on_delete=models.CASCADE, related_name="commands", db_index=False
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    key = models.CharField(max_length=255, help_text="Idempotency key, unique per channel.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    message = models.ForeignKey(
        "inbox.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="commands"
    )
    relationship = models.ForeignKey(
        "relationships.Relationship",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="commands",
    )
    # What the command needs beyond its target: {"decision": "accept"}, {"sequences": […]}, …
    arguments = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The platform's error code of the last failure (its text is in ``error``).
    error_code = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(fields=("channel", "key"), name="command_channel_key"),
        ]
        indexes = [
            models.Index(
                fields=("next_attempt_at", "id"),
                condition=Q(next_attempt_at__isnull=False),
                name="command_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.state})"
