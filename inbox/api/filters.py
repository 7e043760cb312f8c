from __future__ import annotations

import django_filters

from inbox.connectors.base import Platform
from inbox.models import Conversation, InboundEvent


class ConversationFilter(django_filters.FilterSet):
    platform = django_filters.ChoiceFilter(
        field_name="channel__platform", choices=[(p.value, p.value) for p in Platform]
    )

    class Meta:
        model = Conversation
        fields = ("channel", "platform", "status", "kind")


class InboundEventFilter(django_filters.FilterSet):
    platform = django_filters.ChoiceFilter(
        field_name="channel__platform", choices=[(p.value, p.value) for p in Platform]
    )

    class Meta:
        model = InboundEvent
        fields = ("channel", "platform", "state", "source", "event_name")
