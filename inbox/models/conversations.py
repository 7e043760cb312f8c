from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from inbox.connectors.base import ConversationKind, ConversationStatus


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def visible_to(self, user: Any) -> ConversationQuerySet:
        from .channels import Channel

        return self.filter(channel__in=Channel.objects.visible_to(user))


class Conversation(models.Model):
    channel = models.ForeignKey(
        "inbox.Channel", on_delete=models.CASCADE, related_name="conversations"
    )
    external_id = models.CharField(max_length=255)
    kind = models.CharField(
        max_length=10,
        choices=[(k.value, k.name.title()) for k in ConversationKind],
        default=ConversationKind.DIRECT,
    )
    title = models.CharField(max_length=300, blank=True)
    status = models.CharField(
        max_length=10,
        choices=[(s.value, s.name.title()) for s in ConversationStatus],
        default=ConversationStatus.OPEN,
    )
    platform_state = models.JSONField(
        default=dict, blank=True, help_text="The platform's own view (stage, skill, dialogs…)."
    )
    # Platform time of the snapshot the title/state (and, separately, the status) came from:
    # an older snapshot never overwrites a newer one.
    state_at = models.DateTimeField(null=True, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)
    last_message = models.ForeignKey(
        "inbox.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_activity_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = (models.F("last_activity_at").desc(nulls_last=True), "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("channel", "external_id"), name="conversation_channel_external_id"
            ),
        ]
        indexes = [
            models.Index(fields=("channel", "-last_activity_at"), name="conversation_activity")
        ]

    def __str__(self) -> str:
        return self.title or self.external_id


class Contact(models.Model):
    """A platform identity as the channel knows it across conversations (its profile name).

    A profile update can arrive before the conversations the person appears in; new
    participants take their name from here.
    """

    channel = models.ForeignKey("inbox.Channel", on_delete=models.CASCADE, related_name="contacts")
    address = models.CharField(max_length=255)
    name = models.CharField(max_length=200, blank=True)
    # Platform time of the profile the name came from; an older profile is ignored.
    name_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("address",)
        constraints = [
            models.UniqueConstraint(fields=("channel", "address"), name="contact_channel_address"),
        ]

    def __str__(self) -> str:
        return self.name or self.address


class Participant(models.Model):
    """A platform identity in a conversation."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="participants"
    )
    address = models.CharField(max_length=255)
    name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=40, blank=True)
    is_present = models.BooleanField(default=True)
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    # Platform time of the last join/leave applied; an older one is ignored.
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(
                fields=("conversation", "address"), name="participant_conversation_address"
            ),
        ]
        indexes = [models.Index(fields=("address",), name="participant_address")]

    def __str__(self) -> str:
        return self.name or self.address


class ReadState(models.Model):
    """How far one user has read one conversation."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="read_states"
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="read_states"
    )
    last_read_at = models.DateTimeField(null=True, blank=True)
    last_read_message = models.ForeignKey(
        "inbox.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    manual_unread = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("user", "conversation"), name="readstate_user_conversation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.conversation}"
