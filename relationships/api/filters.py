from __future__ import annotations

import django_filters

from inbox.api.filters import ChannelFilter
from relationships.models import Relationship


class RelationshipFilter(django_filters.FilterSet):
    channel = ChannelFilter()

    class Meta:
        model = Relationship
        fields = ("channel", "status", "direction")
