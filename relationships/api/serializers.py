from __future__ import annotations

from rest_framework import serializers

from inbox.api.serializers import VisibleChannelField
from inbox.models import Channel
from relationships.models import Relationship, RelationshipChange, RelationshipTemplate


class RelationshipChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = RelationshipChange
        fields = ("external_id", "type", "status", "requested_by", "requested_at")


class RelationshipSerializer(serializers.ModelSerializer):
    template = serializers.CharField(
        source="template.external_id", default=None, allow_null=True, read_only=True
    )
    changes = RelationshipChangeSerializer(many=True, read_only=True)
    decided_by = serializers.CharField(
        source="decided_by.username", default=None, allow_null=True, read_only=True
    )

    class Meta:
        model = Relationship
        fields = (
            "id",
            "channel",
            "external_id",
            "peer",
            "status",
            "direction",
            "template",
            "creation_content",
            "audit_log",
            "changes",
            "peer_deletion",
            "platform_updated_at",
            "decision",
            "decided_by",
            "decided_at",
            "decision_outcome",
        )


class RelationshipTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = RelationshipTemplate
        fields = (
            "id",
            "channel",
            "external_id",
            "title",
            "is_own",
            "created_by",
            "created_at",
            "expires_at",
            "max_allocations",
            "content",
        )


class NewTemplateSerializer(serializers.Serializer):
    """``POST /relationship-templates/``: ``{channel, title, expires_at, max_allocations?}``."""

    channel = VisibleChannelField()
    title = serializers.CharField(max_length=200)
    expires_at = serializers.DateTimeField()
    max_allocations = serializers.IntegerField(min_value=1, required=False, allow_null=True)

    def validate_channel(self, channel: Channel) -> Channel:
        if channel.platform != "enmeshed":
            raise serializers.ValidationError("Only enmeshed channels have relationship templates.")
        return channel
