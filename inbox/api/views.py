"""Read API of the inbox. Querysets are narrowed to what the user may see (permissions.py)."""

from __future__ import annotations

from typing import Any

from django.db.models import F, Prefetch, QuerySet
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from inbox.models import Conversation, InboundEvent, Message, Participant

from .filters import ConversationFilter, InboundEventFilter
from .permissions import IsStaff
from .serializers import ConversationSerializer, InboundEventSerializer, MessageSerializer


class TimelinePagination(CursorPagination):
    """Oldest to newest by platform time, then platform sequence; stable under inserts."""

    ordering = ("sent_at", "sequence", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ConversationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ConversationSerializer
    filterset_class = ConversationFilter

    def get_queryset(self) -> QuerySet[Conversation]:
        return (
            Conversation.objects.visible_to(self.request.user)
            .select_related("channel")
            .prefetch_related(Prefetch("participants", Participant.objects.order_by("id")))
            # Conversations known only from a state snapshot (no message yet) come last.
            .order_by(F("last_activity_at").desc(nulls_last=True), "-id")
        )

    @action(detail=True, methods=["get"])
    def messages(self, request: Request, pk: Any = None) -> Response:
        conversation = self.get_object()
        messages = (
            Message.objects.filter(conversation=conversation)
            .select_related("sender")
            .prefetch_related("attachments", "recipients")
        )
        paginator = TimelinePagination()
        page = paginator.paginate_queryset(messages, request, view=self)
        return paginator.get_paginated_response(MessageSerializer(page, many=True).data)


class InboundEventViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = InboundEventSerializer
    permission_classes = (IsStaff,)
    filterset_class = InboundEventFilter

    def get_queryset(self) -> QuerySet[InboundEvent]:
        return InboundEvent.objects.select_related("channel").defer("raw_body").order_by("-id")
