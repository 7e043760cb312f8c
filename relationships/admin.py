from django.contrib import admin

from .models import Relationship, RelationshipChange, RelationshipTemplate


class RelationshipChangeInline(admin.TabularInline):
    model = RelationshipChange
    extra = 0
    can_delete = False
    readonly_fields = (
        "external_id",
        "type",
        "status",
        "requested_by",
        "requested_at",
        "request_content",
        "response",
    )


@admin.register(Relationship)
class RelationshipAdmin(admin.ModelAdmin):
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
    readonly_fields = (
        "channel",
        "external_id",
        "peer",
        "peer_public_key",
        "status",
        "direction",
        "template",
        "creation_content",
        "audit_log",
        "peer_deletion",
        "revision",
        "platform_updated_at",
        "decision",
        "decided_by",
        "decided_at",
        "decision_outcome",
    )
    inlines = (RelationshipChangeInline,)


@admin.register(RelationshipTemplate)
class RelationshipTemplateAdmin(admin.ModelAdmin):
    list_display = ("external_id", "channel", "is_own", "created_by", "created_at", "expires_at")
    list_filter = ("is_own", "channel")
    search_fields = ("external_id", "created_by")
    list_select_related = ("channel",)


@admin.register(RelationshipChange)
class RelationshipChangeAdmin(admin.ModelAdmin):
    list_display = ("external_id", "relationship", "type", "status", "requested_by", "requested_at")
    list_filter = ("type", "status")
    search_fields = ("external_id", "relationship__external_id", "requested_by")
    list_select_related = ("relationship",)
