from __future__ import annotations

from django.conf import settings
from django.db import models


class RelationshipStatus(models.TextChoices):
    PENDING = "Pending"
    ACTIVE = "Active"
    REJECTED = "Rejected"
    REVOKED = "Revoked"
    TERMINATING = "Terminating"  # 1.x only
    TERMINATED = "Terminated"
    DELETION_PROPOSED = "DeletionProposed"
    DECOMPOSED = "Decomposed"  # removed on our side; final


class RelationshipTemplate(models.Model):
    """An enmeshed relationship template (``RLT…``), ours or a peer's."""

    # Foreign keys without an index of their own are led by a composite index below.
    channel = models.ForeignKey(
        "inbox.Channel",
        on_delete=models.CASCADE,
        related_name="relationship_templates",
        db_index=False,
    )
    external_id = models.CharField(max_length=64)
    title = models.CharField(max_length=200, blank=True)
    is_own = models.BooleanField(null=True)
    created_by = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    content = models.JSONField(null=True, blank=True)
    max_allocations = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("channel", "external_id"), name="template_channel_external_id"
            ),
        ]

    def __str__(self) -> str:
        return self.external_id


class Relationship(models.Model):
    class Direction(models.TextChoices):
        INCOMING = "incoming"
        OUTGOING = "outgoing"

    channel = models.ForeignKey(
        "inbox.Channel", on_delete=models.CASCADE, related_name="relationships", db_index=False
    )
    external_id = models.CharField(max_length=64)
    peer = models.CharField(max_length=255)
    peer_public_key = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=RelationshipStatus.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    template = models.ForeignKey(
        RelationshipTemplate,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="relationships",
    )
    creation_content = models.JSONField(null=True, blank=True)
    audit_log = models.JSONField(default=list, blank=True)
    peer_deletion = models.JSONField(null=True, blank=True)
    # Grows with every change on the platform; an older snapshot never overwrites a newer one.
    revision = models.PositiveIntegerField(default=0)
    platform_updated_at = models.DateTimeField(null=True, blank=True)
    # The inbox user's decision and what the platform answered (carried out by a worker).
    decision = models.CharField(max_length=10, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_outcome = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-platform_updated_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("channel", "external_id"), name="relationship_channel_external_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.status})"

    @property
    def is_incoming_pending(self) -> bool:
        return (
            self.status == RelationshipStatus.PENDING and self.direction == self.Direction.INCOMING
        )


class RelationshipChange(models.Model):
    """A 1.x-4.x relationship change (``RCH…``); decisions there are made on a change."""

    relationship = models.ForeignKey(
        Relationship, on_delete=models.CASCADE, related_name="changes", db_index=False
    )
    external_id = models.CharField(max_length=64)
    type = models.CharField(max_length=40)
    status = models.CharField(max_length=20)
    requested_by = models.CharField(max_length=255, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    request_content = models.JSONField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ("requested_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("relationship", "external_id"), name="change_relationship_external_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} {self.type} ({self.status})"
