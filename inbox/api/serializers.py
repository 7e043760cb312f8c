from __future__ import annotations

from typing import Any, TypedDict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inbox.models import (
    Attachment,
    Conversation,
    InboundEvent,
    Message,
    OutboundCommand,
    Participant,
    Recipient,
)

from .filters import visible_channels


class SenderSummary(TypedDict):
    address: str
    name: str


class ParticipantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Participant
        fields = ("address", "name", "role", "is_present", "presence_at", "joined_at", "left_at")


# How much of the newest message's text a conversation list shows.
PREVIEW_LENGTH = 200


class LastMessageSerializer(serializers.ModelSerializer):
    """What a list of conversations shows of the newest message (read from the same query)."""

    sender = serializers.SerializerMethodField()
    preview = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ("id", "direction", "sender", "subject", "preview", "sent_at", "status")
        read_only_fields = fields

    def get_sender(self, message: Message) -> SenderSummary | None:
        sender = message.sender
        return {"address": sender.address, "name": sender.name} if sender else None

    def get_preview(self, message: Message) -> str:
        """The text's beginning, cut at PREVIEW_LENGTH characters with "…"."""
        text = " ".join(message.text.split())
        return text if len(text) <= PREVIEW_LENGTH else text[: PREVIEW_LENGTH - 1] + "…"


class ConversationSerializer(serializers.ModelSerializer):
    platform = serializers.CharField(read_only=True, help_text="The channel's platform.")
    participants = ParticipantSerializer(many=True, read_only=True)
    last_message = LastMessageSerializer(read_only=True, allow_null=True)
    unread_count = serializers.IntegerField(
        read_only=True, help_text="Messages that arrived after the requesting user's read position."
    )

    class Meta:
        model = Conversation
        fields = (
            "id",
            "channel",
            "platform",
            "external_id",
            "kind",
            "title",
            "status",
            "participants",
            "last_activity_at",
            "last_message",
            "unread_count",
            "platform_state",
            "updated_at",
        )
        read_only_fields = fields  # never a form of every channel's names


class AttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attachment
        fields = (
            "id",
            "external_id",
            "filename",
            "mime_type",
            "size",
            "caption",
            "preview",
            "state",
            "note",
        )


class RecipientSerializer(serializers.ModelSerializer):
    class Meta:
        model = Recipient
        fields = (
            "address",
            "status",
            "delivered_at",
            "read_at",
            "flags",
            "relationship_external_id",
        )


class SenderSerializer(serializers.ModelSerializer):
    class Meta:
        model = Participant
        fields = ("address", "name", "role")


class MessageSerializer(serializers.ModelSerializer):
    sender = SenderSerializer(read_only=True, allow_null=True, help_text="Null: none named.")
    attachments = AttachmentSerializer(many=True, read_only=True)
    recipients = RecipientSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = (
            "id",
            "conversation",
            "external_id",
            "direction",
            "sender",
            "text",
            "subject",
            "content_kind",
            "content",
            "audience",
            "choices",
            "sent_at",
            "position",
            "status",
            "recalled_at",
            "reply_to",
            "sequence",
            "attachments",
            "recipients",
            "author",
            "error",
            "error_code",
            "updated_at",
        )


class InboundEventSerializer(serializers.ModelSerializer):
    platform = serializers.CharField(source="channel.platform", read_only=True)
    # A declared field named like Field.source: the serializer's metaclass takes it as a field.
    source = serializers.CharField(  # type: ignore[assignment]
        source="request.source", default=None, read_only=True
    )

    class Meta:
        model = InboundEvent
        fields = (
            "id",
            "channel",
            "platform",
            "source",
            "event_name",
            "dedup_key",
            "state",
            "attempts",
            "error",
            "received_at",
            "next_attempt_at",
            "processed_at",
            "request",
            "payload",
            "envelope",
        )


class ReplySerializer(serializers.Serializer):
    """A reply: JSON ``{text, subject?, attachments?}`` or multipart with ``files`` (repeat the
    field) and/or ``attachments``."""

    text = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=50_000, trim_whitespace=False
    )
    subject = serializers.CharField(required=False, default="", allow_blank=True, max_length=300)
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=False),
        required=False,
        default=list,
        max_length=20,
    )
    attachments = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        default=list,
        max_length=20,
        help_text="Ids of the user's uploads (POST /api/v1/uploads/) to attach, after `files`.",
    )


class CommandSerializer(serializers.ModelSerializer):
    """Something the inbox asked the platform to do, carried out by the outbound worker."""

    class Meta:
        model = OutboundCommand
        fields = ("id", "kind", "state", "attempts", "error", "error_code", "created_at")
        read_only_fields = fields


class TypingSerializer(serializers.Serializer):
    active = serializers.BooleanField(help_text="true: the user types; false: they stopped.")


class StartSerializer(serializers.Serializer):
    """A new conversation on a channel that can open them (LivePerson), for a consumer."""

    channel = serializers.IntegerField(min_value=1)
    consumer = serializers.CharField(max_length=255, help_text="Whom the conversation is for.")


class ReadPositionSerializer(serializers.Serializer):
    read_position = serializers.IntegerField(help_text="The position read up to.")
    unread_count = serializers.IntegerField(help_text="Messages after it.")


class SignalledSerializer(serializers.Serializer):
    signalled = serializers.BooleanField(help_text="Whether the platform will be told.")


@extend_schema_field(OpenApiTypes.INT)
class VisibleChannelField(serializers.PrimaryKeyRelatedField):
    """A channel the requesting user may see: another one reads as one that does not exist."""

    def get_queryset(self) -> Any:
        return visible_channels(self.context.get("request"))
