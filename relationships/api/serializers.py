from __future__ import annotations

from rest_framework import serializers

from relationships.models import Relationship, RelationshipChange


class RelationshipChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = RelationshipChange
        fields = ("external_id", "type", "status", "requested_by", "requested_at")


class RelationshipSerializer(serializers.ModelSerializer):
    template = serializers.CharField(source="template.external_id", default=None, read_only=True)
    changes = RelationshipChangeSerializer(many=True, read_only=True)

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
            "decided_at",
            "decision_outcome",
        )
