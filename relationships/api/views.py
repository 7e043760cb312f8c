from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import viewsets

from inbox.models import Channel
from relationships.models import Relationship

from .filters import RelationshipFilter
from .serializers import RelationshipSerializer


class RelationshipViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = RelationshipSerializer
    filterset_class = RelationshipFilter

    def get_queryset(self) -> QuerySet[Relationship]:
        return (
            Relationship.objects.filter(channel__in=Channel.objects.visible_to(self.request.user))
            .select_related("template")
            .prefetch_related("changes")
            .order_by("-platform_updated_at", "-id")
        )
