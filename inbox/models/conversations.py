from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from inbox.choices import ConversationKind, ConversationStatus, labelled


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def visible_to(self, user: Any) -> ConversationQuerySet:
        from .channels import Channel

        return self.filter(channel__in=Channel.objects.visible_to(user))

    def with_unread(self, user: Any) -> ConversationQuerySet:
        """Annotate ``unread_count`` for ``user``: messages that arrived after their read
        position (all of them when they never opened the conversation), in the same query."""
        read_position = ReadState.objects.filter(conversation=OuterRef("pk"), user=user).values(
            "read_position"
        )[:1]
        return self.annotate(
            unread_count=Greatest(
                F("last_position") - Coalesce(Subquery(read_position), Value(0)), Value(0)
            )
        )

    def matching(self, words: str) -> ConversationQuerySet:
        """Conversations with at least one message matching ``words``, by the messages' one
        definition of search (``MessageQuerySet.matching``). Blank ``words`` filter nothing;
        the order and every other filter stay as they are."""
        from .messages import Message

        if not words.strip():
            return self
        messages = Message.objects.using(self.db).filter(conversation=OuterRef("pk"))
        return self.filter(Exists(messages.matching(words)))


class Conversation(models.Model):
    # Foreign keys without an index of their own are led by a composite index below.
    channel = models.ForeignKey(
        "inbox.Channel", on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    external_id = models.CharField(max_length=255)
    kind = models.CharField(
        max_length=10, choices=labelled(ConversationKind), default=ConversationKind.DIRECT
    )
    title = models.CharField(max_length=300, blank=True)
    status = models.CharField(
        max_length=10, choices=labelled(ConversationStatus), default=ConversationStatus.OPEN
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
    # When the newest message was sent; the conversation's creation time until one arrives.
    last_activity_at = models.DateTimeField(default=timezone.now)
    # The position of the newest message to arrive (see Message.position).
    last_position = models.PositiveBigIntegerField(default=0)
    # How far the platform was told the conversation is read (read receipts are sent once).
    receipt_position = models.PositiveBigIntegerField(default=0, db_default=0)
    # Platform time of the newest complete participant list applied.
    participants_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ("-last_activity_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("channel", "external_id"), name="conversation_channel_external_id"
            ),
        ]
        # Exactly the list's order, alone and per status filter: a page is an index range scan.
        indexes = [
            models.Index(
                F("last_activity_at").desc(), F("id").desc(), name="conversation_activity"
            ),
            models.Index(
                "status",
                F("last_activity_at").desc(),
                F("id").desc(),
                name="conversation_status_activity",
            ),
            models.Index(
                "channel",
                F("last_activity_at").desc(),
                F("id").desc(),
                name="conversation_channel_activity",
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.external_id


class ConversationAlias(models.Model):
    """Another platform id under which a conversation's items arrive (a LivePerson dialog).

    Messages that name only the alias before the conversation is known wait in a provisional
    conversation of that id, and move here when the alias is learned.
    """

    channel = models.ForeignKey(
        "inbox.Channel", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    external_id = models.CharField(max_length=255)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("channel", "external_id"), name="alias_channel_id"),
        ]

    def __str__(self) -> str:
        return self.external_id


class Contact(models.Model):
    """A platform identity as the channel knows it across conversations (its profile name).

    A profile update can arrive before the conversations the person appears in; new
    participants take their name from here.
    """

    channel = models.ForeignKey(
        "inbox.Channel", on_delete=models.CASCADE, related_name="contacts", db_index=False
    )
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
        Conversation, on_delete=models.CASCADE, related_name="participants", db_index=False
    )
    address = models.CharField(max_length=255)
    name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=40, blank=True)
    # Presence and role each follow the newest fact about them (a join, a leave, a complete
    # participant list, a message), so the order facts arrive in does not matter.
    is_present = models.BooleanField(default=True)
    presence_at = models.DateTimeField(null=True, blank=True)
    role_at = models.DateTimeField(null=True, blank=True, help_text="When the platform said so.")
    # Explicit joins and leaves only (a list that leaves someone out does not say when).
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)

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
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="read_states",
        db_index=False,
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="read_states"
    )
    # The position of the last message read (see Message.position); only moves forward.
    read_position = models.PositiveBigIntegerField(default=0)
    last_read_at = models.DateTimeField(null=True, blank=True)
    manual_unread = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("user", "conversation"), name="readstate_user_conversation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.conversation}"
