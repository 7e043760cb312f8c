from __future__ import annotations

import django_filters

from inbox.api.filters import ChannelFilter
from relationships.models import Relationship, RelationshipTemplate


class RelationshipFilter(django_filters.FilterSet):
    channel = ChannelFilter()

    class Meta:
        model = Relationship
        fields = ("channel", "status", "direction")


class RelationshipTemplateFilter(django_filters.FilterSet):
    channel = ChannelFilter()

    class Meta:
        model = RelationshipTemplate
        fields = ("channel", "is_own")
