"""``GET /api/v1/search/?q=``: messages across every conversation the user sees, newest first,
each with a highlighted snippet (:mod:`inbox.services.search`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import django_filters
from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from inbox.choices import Direction, labelled
from inbox.models import Conversation, Message
from inbox.services import search

from .filters import MAX_SEARCH_LENGTH, PLATFORMS, ChannelFilter
from .pagination import Key, KeysetPages, KeysetPagination, keyset_list

# Newest first. No index has this order (the timeline index leads with the conversation): the
# GIN index finds the matching messages and PostgreSQL sorts only those, keeping the top page.
SEARCH_ORDER = (Key("sent_at", descending=True, kind=datetime), Key("id", descending=True))


def visible_conversations(request: Any) -> QuerySet[Conversation]:
    if request is None:  # the schema generator and the browsable API's empty form
        return Conversation.objects.none()
    return Conversation.objects.visible_to(request.user)


class MessageSearchFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="search",
        required=True,
        max_length=MAX_SEARCH_LENGTH,
        label='Words in a message\'s text or subject: "a phrase", or, -word',
    )
    channel = ChannelFilter()
    platform = django_filters.ChoiceFilter(field_name="channel__platform", choices=PLATFORMS)
    # A conversation the user does not see is refused like one that does not exist.
    conversation = django_filters.ModelChoiceFilter(queryset=visible_conversations)
    direction = django_filters.ChoiceFilter(choices=labelled(Direction))

    class Meta:
        model = Message
        fields = ("q", "channel", "platform", "conversation", "direction")

    def search(self, queryset: QuerySet[Message], name: str, value: str) -> QuerySet[Message]:
        return queryset.matching(value)  # type: ignore[attr-defined]


class SearchSenderSerializer(serializers.Serializer):
    address = serializers.CharField()
    name = serializers.CharField()


class SearchResultSerializer(serializers.Serializer):
    """One message found (reads a ``search.Hit``)."""

    message = serializers.IntegerField(source="message.pk", help_text="The message's id.")
    conversation = serializers.IntegerField(source="message.conversation_id")
    channel = serializers.IntegerField(source="message.channel_id")
    platform = serializers.CharField(source="message.platform")
    conversation_title = serializers.CharField(
        help_text="Its title, else the names (or addresses) of the people it is with."
    )
    sender = SearchSenderSerializer(
        source="message.sender", allow_null=True, help_text="Null where the platform named none."
    )
    sent_at = serializers.DateTimeField(source="message.sent_at")
    direction = serializers.ChoiceField(source="message.direction", choices=labelled(Direction))
    subject = serializers.CharField(source="message.subject")
    snippet = serializers.CharField(
        help_text=(
            "HTML: about 160 characters of the text around the first match, escaped, every "
            "matched word in <mark>, … where cut."
        )
    )


class SearchView(GenericAPIView):
    """Messages of every conversation the user sees whose text or subject matches ``q``,
    newest first, keyset-paginated; each with a snippet of its text, the words highlighted."""

    filterset_class = MessageSearchFilter
    serializer_class = SearchResultSerializer
    pagination_class = KeysetPages

    def get_queryset(self) -> QuerySet[Message]:
        if getattr(self, "swagger_fake_view", False):  # the schema's generation: no user
            return Message.objects.none()
        return search.searchable(self.request.user)

    @keyset_list(SearchResultSerializer, operation_id="search", filters=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        messages = self.filter_queryset(self.get_queryset())  # validates q: 400 naming it
        paginator = KeysetPagination(SEARCH_ORDER)
        rows, links = paginator.paginate(messages, request)
        found = search.hits(rows, request.query_params["q"])
        return paginator.response(request, SearchResultSerializer(found, many=True).data, links)
