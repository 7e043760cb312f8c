"""API filters. The ``channel`` filters offer only the channels the user may see, so a foreign
channel's id is refused exactly like one that does not exist."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet

from inbox.choices import Platform
from inbox.models import Channel, Conversation, InboundEvent, Participant, Source


def visible_channels(request: Any) -> QuerySet[Channel]:
    if request is None:  # the schema generator and the browsable API's empty form
        return Channel.objects.none()
    return Channel.objects.visible_to(request.user)


class ChannelFilter(django_filters.ModelChoiceFilter):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(queryset=visible_channels, **kwargs)


PLATFORMS = [(p.value, p.value) for p in Platform]
# Longer search input is refused (400) rather than searched: nobody types it, and every word
# of it would be one more index lookup.
MAX_SEARCH_LENGTH = 500


class ConversationFilter(django_filters.FilterSet):
    channel = ChannelFilter()
    platform = django_filters.ChoiceFilter(field_name="channel__platform", choices=PLATFORMS)
    q = django_filters.CharFilter(
        method="search",
        max_length=MAX_SEARCH_LENGTH,
        label="Words in a message's text or subject",
    )
    unread = django_filters.BooleanFilter(
        method="by_unread",
        label="true: only those with messages the requesting user has not read; false: none",
    )
    participant = django_filters.CharFilter(
        method="with_participant",
        max_length=255,
        label="Only those with this participant (their platform address, exactly)",
    )
    updated_after = django_filters.IsoDateTimeFilter(
        field_name="updated_at",
        lookup_expr="gt",
        label="Only those changed after this time (ISO 8601): to catch up since the last look",
    )

    class Meta:
        model = Conversation
        fields = ("channel", "platform", "status", "kind", "q")

    def search(
        self, queryset: QuerySet[Conversation], name: str, value: str
    ) -> QuerySet[Conversation]:
        return queryset.matching(value)  # type: ignore[attr-defined]

    def by_unread(
        self, queryset: QuerySet[Conversation], name: str, value: bool
    ) -> QuerySet[Conversation]:
        # ``unread_count`` is the per-user annotation of the view's queryset (with_unread).
        unread = Q(unread_count__gt=0)
        return queryset.filter(unread if value else ~unread)

    def with_participant(
        self, queryset: QuerySet[Conversation], name: str, value: str
    ) -> QuerySet[Conversation]:
        # EXISTS, not a join: a conversation is listed once however its participants match.
        present = Participant.objects.filter(conversation=OuterRef("pk"), address=value)
        return queryset.filter(Exists(present))


class InboundEventFilter(django_filters.FilterSet):
    channel = ChannelFilter()
    platform = django_filters.ChoiceFilter(field_name="channel__platform", choices=PLATFORMS)
    source = django_filters.ChoiceFilter(field_name="request__source", choices=Source.choices)

    class Meta:
        model = InboundEvent
        fields = ("channel", "platform", "state", "source", "event_name")
