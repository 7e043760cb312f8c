from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .models import (
    Attachment,
    Channel,
    Contact,
    Conversation,
    InboundEvent,
    Message,
    MessageStatusEvent,
    Participant,
    ReadState,
    Recipient,
)


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "platform",
        "key",
        "is_active",
        "poll_interval",
        "last_polled_at",
        "created_at",
    )
    list_filter = ("platform", "is_active")
    search_fields = ("name", "key")
    filter_horizontal = ("members",)
    readonly_fields = ("key", "webhook_url", "last_polled_at", "created_at")
    # Secrets are write-only from the command line (add_channel); never displayed here.
    exclude = ("credentials", "webhook_secrets")

    @admin.display(description="Webhook URL")
    def webhook_url(self, obj: Channel) -> str:
        return obj.webhook_path() if obj.pk else ""


class ParticipantInline(admin.TabularInline):
    model = Participant
    extra = 0
    fields = ("address", "name", "role", "is_present", "joined_at", "left_at")


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "channel", "kind", "status", "last_activity_at")
    list_filter = ("status", "kind", "channel__platform", "channel")
    search_fields = ("external_id", "title", "participants__address", "participants__name")
    list_select_related = ("channel",)
    raw_id_fields = ("last_message",)
    inlines = (ParticipantInline,)


class RecipientInline(admin.TabularInline):
    model = Recipient
    extra = 0
    readonly_fields = (
        "address",
        "status",
        "delivered_at",
        "read_at",
        "flags",
        "relationship_external_id",
    )


class AttachmentInline(admin.TabularInline):
    model = Attachment
    extra = 0
    fields = ("external_id", "filename", "mime_type", "size", "state", "file")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "conversation",
        "direction",
        "content_kind",
        "audience",
        "status",
        "sent_at",
    )
    list_filter = ("direction", "status", "content_kind", "audience", "channel__platform")
    search_fields = ("external_id", "text", "subject", "conversation__external_id")
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation", "sender", "reply_to")
    date_hierarchy = "sent_at"
    inlines = (RecipientInline, AttachmentInline)


@admin.register(MessageStatusEvent)
class MessageStatusEventAdmin(admin.ModelAdmin):
    list_display = ("message_external_id", "status", "participant", "at", "channel")
    list_filter = ("status", "channel")
    search_fields = ("message_external_id", "participant")
    list_select_related = ("channel",)
    raw_id_fields = ("message", "inbound_event")


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ("__str__", "message", "mime_type", "size", "state")
    list_filter = ("state", "mime_type")
    search_fields = ("external_id", "filename", "caption")
    raw_id_fields = ("message",)


@admin.register(ReadState)
class ReadStateAdmin(admin.ModelAdmin):
    list_display = ("user", "conversation", "last_read_at", "manual_unread")
    list_filter = ("manual_unread",)
    search_fields = ("user__username", "conversation__external_id")
    raw_id_fields = ("conversation", "last_read_message")


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "event_name",
        "channel",
        "source",
        "state",
        "attempts",
        "received_at",
        "processed_at",
    )
    list_filter = ("state", "source", "channel__platform", "channel")
    search_fields = ("dedup_key", "event_name", "error")
    list_select_related = ("channel",)
    readonly_fields = (
        "channel",
        "source",
        "event_name",
        "dedup_key",
        "payload",
        "headers",
        "state",
        "attempts",
        "error",
        "received_at",
        "next_attempt_at",
        "processed_at",
    )
    exclude = ("raw_body",)
    actions = ("retry_events",)

    @admin.action(description="Run selected events through the pipeline again")
    def retry_events(self, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> None:
        count = 0
        for event in queryset.filter(payload__isnull=False):
            services.retry_inbound_event(event=event)
            count += 1
        self.message_user(request, f"{count} event(s) queued again.", messages.SUCCESS)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("address", "name", "channel", "name_at")
    list_filter = ("channel",)
    search_fields = ("address", "name")
    list_select_related = ("channel",)
