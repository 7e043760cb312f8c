"""Django admin. What the way in writes is read-only here (its actions call the services);
channels are editable, with secrets write-only."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from rest_framework.authtoken.admin import TokenAdmin as DRFTokenAdmin
from rest_framework.authtoken.models import TokenProxy

from . import inbound, services
from .connectors.registry import get_connector
from .connectors.settings import read_settings
from .models import (
    Attachment,
    Channel,
    Contact,
    Conversation,
    ConversationAlias,
    InboundEvent,
    InboundRequest,
    Message,
    MessageStatusEvent,
    OutboundCommand,
    Participant,
    ReadState,
    Recipient,
)
from .models.fields import Unreadable
from .services import sending
from .services.channels import own_addresses
from .web import presenting

SHOWN_BODY_BYTES = 20_000


def pretty_json(value: Any) -> str:
    """``value`` as indented JSON in a <pre>, escaped; never fails on odd values."""
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)[:SHOWN_BODY_BYTES]
    return format_html("<pre style='white-space: pre-wrap'>{}</pre>", text)


class ReadOnlyMixin:
    """Rows the way in writes: viewable, never added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    pass


class ReadOnlyTabularInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0


# --- channels ----------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class ChannelForm(forms.ModelForm):
    new_webhook_secrets = forms.CharField(
        label="Webhook secrets",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="One per line; any of them authenticates a webhook. Leave empty to keep the "
        "stored ones; anything entered replaces them all. Stored secrets are never shown.",
    )
    credential_changes = forms.CharField(
        label="Credentials",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="KEY=VALUE per line, merged into the stored credentials; KEY= removes a key. "
        "Stored values are never shown.",
    )

    class Meta:
        model = Channel
        fields = ("platform", "name", "is_active", "settings", "members")

    def clean_credential_changes(self) -> dict[str, str]:
        changes = {}
        for line in _lines(self.cleaned_data["credential_changes"]):
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise forms.ValidationError(f"write KEY=VALUE, not {line[:40]!r}")
            changes[key.strip()] = value.strip()
        return changes

    def clean_new_webhook_secrets(self) -> list[str] | None:
        return _lines(self.cleaned_data["new_webhook_secrets"]) or None

    def clean(self) -> dict[str, Any]:
        # The platform's declared settings, checked here so a mistake is a form error.
        data = super().clean() or {}
        platform = data.get("platform") or self.instance.platform
        settings, credentials = data.get("settings"), data.get("credential_changes")
        if not platform or not isinstance(settings, dict) or credentials is None:
            return data
        declared = get_connector(platform).SETTINGS
        try:
            if self.instance.pk:
                read = read_settings(declared, settings, platform=platform, partial=True)
                given = {k: v for k, v in credentials.items() if v}
                read_settings(declared, given, platform=platform, partial=True)
            else:
                read = read_settings(declared, {**credentials, **settings}, platform=platform)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if self.instance.pk and read.secret:
            self.add_error("settings", "secret settings go with the credentials")
        return data


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ("name", "platform", "key", "is_active", "credentials_state", "last_polled_at")
    list_filter = ("platform", "is_active")
    search_fields = ("name", "key")
    filter_horizontal = ("members",)
    readonly_fields = (
        "key",
        "webhook_url",
        "stored_secrets",
        "learned",
        "credentials_error",
        "credentials_error_at",
        "last_polled_at",
        "poll_error",
        "created_at",
    )
    fields = (
        "platform",
        "name",
        "is_active",
        "key",
        "webhook_url",
        "settings",
        "stored_secrets",
        "new_webhook_secrets",
        "credential_changes",
        "learned",
        "credentials_error",
        "credentials_error_at",
        "last_polled_at",
        "poll_error",
        "members",
        "created_at",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The platform decides the webhook URL and the connector: fixed once created.
        return (*self.readonly_fields, "platform") if obj else self.readonly_fields

    @admin.display(description="Credentials", boolean=True)
    def credentials_state(self, obj: Channel) -> bool:
        """False while the platform refuses the channel's credentials (see the error)."""
        return not obj.credentials_error

    @admin.display(description="Webhook URL")
    def webhook_url(self, obj: Channel) -> str:
        return obj.webhook_path() if obj.pk else ""

    @admin.display(description="Last polled")
    def last_polled_at(self, obj: Channel) -> Any:
        cursor = getattr(obj, "poll_cursor", None) if obj.pk else None
        return cursor.last_polled_at if cursor else None

    @admin.display(description="Last poll error")
    def poll_error(self, obj: Channel) -> str:
        cursor = getattr(obj, "poll_cursor", None) if obj.pk else None
        return cursor.error if cursor and cursor.failures else ""

    @admin.display(description="Stored secrets")
    def stored_secrets(self, obj: Channel) -> str:
        if not obj.pk:
            return "none yet"
        if isinstance(obj.webhook_secrets, Unreadable) or isinstance(obj.credentials, Unreadable):
            return "cannot be decrypted with the configured FIELD_ENCRYPTION_KEY"
        secrets, credentials = obj.webhook_secrets or [], sorted(obj.credentials or {})
        return f"{len(secrets)} webhook secret(s); credentials: {', '.join(credentials) or 'none'}"

    def save_model(self, request: HttpRequest, obj: Channel, form: Any, change: bool) -> None:
        secrets = form.cleaned_data["new_webhook_secrets"]
        credentials = form.cleaned_data["credential_changes"]
        if change:
            services.update_channel(
                channel=obj,
                webhook_secrets=secrets,
                credentials=credentials,
                settings=obj.settings,
            )
            return
        created = services.create_channel(
            platform=obj.platform,
            name=obj.name,
            webhook_secrets=secrets or [],
            settings=obj.settings,
            credentials=credentials,
            is_active=obj.is_active,
        )
        # The admin goes on with ``obj`` (members, the log entry, the redirect).
        obj.pk, obj.key, obj.created_at = created.pk, created.key, created.created_at
        obj._state.adding, obj._state.db = False, created._state.db


# --- conversations and messages ----------------------------------------------------------------


class ParticipantInline(ReadOnlyTabularInline):
    model = Participant
    fields = ("address", "name", "role", "is_present", "joined_at", "left_at")


def human_title(conversation: Conversation) -> str:
    """The title the inbox shows (the lists prefetch the participants)."""
    return presenting.conversation_title(
        conversation,
        list(conversation.participants.all()),
        own_addresses(conversation.channel),
    )


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("human_title", "channel", "kind", "status", "last_activity_at", "last_position")
    list_filter = ("status", "kind", "channel__platform", "channel")
    search_fields = ("external_id", "title", "participants__address", "participants__name")
    list_select_related = ("channel",)
    inlines = (ParticipantInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).prefetch_related("participants")

    @admin.display(description="Conversation", ordering="title")
    def human_title(self, obj: Conversation) -> str:
        return human_title(obj)


@admin.register(ConversationAlias)
class ConversationAliasAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "conversation", "channel")
    search_fields = ("external_id", "conversation__external_id")
    list_select_related = ("conversation", "channel")


class RecipientInline(ReadOnlyTabularInline):
    model = Recipient
    fields = ("address", "status", "delivered_at", "read_at", "flags", "relationship_external_id")


class AttachmentInline(ReadOnlyTabularInline):
    model = Attachment
    fields = ("external_id", "filename", "mime_type", "size", "state", "note", "file")


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "conversation_title",
        "preview",
        "direction",
        "content_kind",
        "audience",
        "status",
        "sent_at",
    )
    list_filter = ("direction", "status", "content_kind", "audience", "channel__platform")
    search_fields = ("external_id", "text", "subject", "conversation__external_id")
    list_select_related = ("conversation__channel",)
    date_hierarchy = "sent_at"
    exclude = ("content",)
    readonly_fields = ("content_json",)
    inlines = (RecipientInline, AttachmentInline)
    actions = ("retry_sending",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).prefetch_related("conversation__participants")

    @admin.display(description="Conversation")
    def conversation_title(self, obj: Message) -> str:
        return human_title(obj.conversation)

    @admin.display(description="Text")
    def preview(self, obj: Message) -> str:
        text = " ".join((obj.text or obj.subject).split())
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description="Content")
    def content_json(self, obj: Message) -> str:
        return pretty_json(obj.content)

    @admin.action(description="Send again: the selected failed outgoing messages")
    def retry_sending(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        for message in queryset.select_related("conversation", "channel"):
            try:
                sending.retry_message(message, user=request.user)
            except sending.CannotSend as exc:
                self.message_user(request, f"{message}: {exc}", messages.WARNING)
            else:
                self.message_user(request, f"{message}: queued to send again.", messages.SUCCESS)


@admin.register(OutboundCommand)
class OutboundCommandAdmin(ReadOnlyAdmin):
    """What the inbox asked platforms to do, and how it went (written by the outbound worker)."""

    list_display = ("__str__", "channel", "message", "state", "attempts", "error", "created_at")
    list_filter = ("kind", "state", "channel")
    search_fields = ("key", "error", "error_code")
    list_select_related = ("channel", "message")


@admin.register(MessageStatusEvent)
class MessageStatusEventAdmin(ReadOnlyAdmin):
    list_display = ("message_external_id", "step", "flag", "participant", "at", "channel")
    list_filter = ("step", "channel")
    search_fields = ("message_external_id", "participant", "flag")
    list_select_related = ("channel",)


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "message", "mime_type", "size", "state", "note")
    list_filter = ("state", "mime_type")
    search_fields = ("external_id", "filename", "caption")


@admin.register(ReadState)
class ReadStateAdmin(ReadOnlyAdmin):
    list_display = ("user", "conversation", "read_position", "last_read_at", "manual_unread")
    list_filter = ("manual_unread",)
    search_fields = ("user__username", "conversation__external_id")


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
    list_display = ("address", "name", "channel", "name_at")
    list_filter = ("channel",)
    search_fields = ("address", "name")
    list_select_related = ("channel",)


# --- the way in --------------------------------------------------------------------------------


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "event_name",
        "channel",
        "state",
        "attempts",
        "received_at",
        "processed_at",
    )
    list_filter = ("state", "request__source", "channel__platform", "channel")
    search_fields = ("dedup_key", "event_name", "error")
    list_select_related = ("channel",)
    exclude = ("payload", "envelope")
    readonly_fields = ("payload_json", "envelope_json")
    actions = ("replay",)

    @admin.display(description="Payload (the platform's item)")
    def payload_json(self, obj: InboundEvent) -> str:
        return pretty_json(obj.payload)

    @admin.display(description="Envelope")
    def envelope_json(self, obj: InboundEvent) -> str:
        return pretty_json(obj.envelope)

    @admin.action(description="Replay: parse the selected events again")
    def replay(self, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> None:
        result = inbound.replay_events(queryset)
        self.message_user(request, f"{result.queued} event(s) queued again.", messages.SUCCESS)
        if result.skipped:
            self.message_user(
                request,
                f"{result.skipped} event(s) hold no storable item; replay their request instead.",
                messages.WARNING,
            )


class RequestEventInline(ReadOnlyTabularInline):
    model = InboundEvent
    fields = ("event_name", "dedup_key", "state", "attempts", "error")
    show_change_link = True


@admin.register(InboundRequest)
class InboundRequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "channel", "source", "received_at", "item_count", "error")
    list_filter = ("source", "channel__platform", "channel")
    search_fields = ("body_sha256", "error")
    list_select_related = ("channel",)
    exclude = ("body",)
    readonly_fields = ("body_text",)
    inlines = (RequestEventInline,)
    actions = ("replay",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[InboundRequest]:
        # Bodies are up to a MiB each: only the page that shows one loads it.
        return super().get_queryset(request).defer("body")

    @admin.display(description="Body as received")
    def body_text(self, obj: InboundRequest) -> str:
        body = bytes(obj.body)
        text = body[:SHOWN_BODY_BYTES].decode("utf-8", "backslashreplace")
        if len(body) > SHOWN_BODY_BYTES:
            text += f"\n… ({len(body) - SHOWN_BODY_BYTES} more bytes)"
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", text)

    @admin.action(description="Replay: split the selected requests again")
    def replay(self, request: HttpRequest, queryset: QuerySet[InboundRequest]) -> None:
        result = inbound.replay_requests(queryset.select_related("channel"))
        self.message_user(request, f"{result.queued} event(s) queued again.", messages.SUCCESS)


# --- API tokens --------------------------------------------------------------------------------

admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class TokenAdmin(DRFTokenAdmin):
    """Tokens are listed (and revoked by deleting them) but their keys are never shown: create
    one with ``manage.py drf_create_token USER``, which prints it once. (DRF's admin, which this
    extends, already addresses tokens by their user's id, so no key appears in a URL.)"""

    list_display = ("user", "fingerprint", "created")
    fields = ("user", "fingerprint", "created")
    readonly_fields = fields

    @admin.display(description="Fingerprint")
    def fingerprint(self, obj: TokenProxy) -> str:
        return "sha256:" + hashlib.sha256(obj.key.encode()).hexdigest()[:12]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
