"""Relationships are written by the way in (and, later, by decisions through the outbound
queue): read-only here."""

from django.contrib import admin

from inbox.admin import ReadOnlyAdmin, ReadOnlyTabularInline

from .models import Relationship, RelationshipChange, RelationshipTemplate


class RelationshipChangeInline(ReadOnlyTabularInline):
    model = RelationshipChange
    fields = (
        "external_id",
        "type",
        "status",
        "requested_by",
        "requested_at",
        "request_content",
        "response",
    )


@admin.register(Relationship)
class RelationshipAdmin(ReadOnlyAdmin):
    list_display = (
        "external_id",
        "peer",
        "status",
        "direction",
        "channel",
        "platform_updated_at",
        "decision",
        "decided_by",
    )
    list_filter = ("status", "direction", "channel")
    search_fields = ("external_id", "peer")
    list_select_related = ("channel", "decided_by")
    inlines = (RelationshipChangeInline,)


@admin.register(RelationshipTemplate)
class RelationshipTemplateAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "channel", "is_own", "created_by", "created_at", "expires_at")
    list_filter = ("is_own", "channel")
    search_fields = ("external_id", "created_by")
    list_select_related = ("channel",)


@admin.register(RelationshipChange)
class RelationshipChangeAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "relationship", "type", "status", "requested_by", "requested_at")
    list_filter = ("type", "status")
    search_fields = ("external_id", "relationship__external_id", "requested_by")
    list_select_related = ("relationship",)
