"""Read API of the inbox. Querysets are narrowed to what the user may see (``visible_to``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import F, Prefetch, QuerySet, Value
from django.db.models.functions import Coalesce
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from inbox.models import Conversation, InboundEvent, Message, Participant
from inbox.services import sending

from .filters import ConversationFilter, InboundEventFilter
from .pagination import Key, KeysetPagination
from .permissions import IsStaff
from .serializers import (
    ConversationSerializer,
    InboundEventSerializer,
    MessageSerializer,
    ReplySerializer,
)

# Newest activity first, exactly the order of the conversation indexes.
CONVERSATION_ORDER = (
    Key("last_activity_at", descending=True, kind=datetime),
    Key("id", descending=True),
)
# Oldest to newest by platform time, then platform sequence (absent: first), then arrival.
TIMELINE_ORDER = (
    Key("sent_at", kind=datetime),
    Key("timeline_sequence"),
    Key("id"),
)


class ConversationViewSet(viewsets.ReadOnlyModelViewSet):
    """Conversations, newest activity first, keyset-paginated (``after`` / ``page_size``)."""

    serializer_class = ConversationSerializer
    filterset_class = ConversationFilter

    def get_queryset(self) -> QuerySet[Conversation]:
        return (
            Conversation.objects.visible_to(self.request.user)
            .with_unread(self.request.user)
            # Only the platform of the channel: joining the whole row would decrypt its
            # credentials and webhook secrets for every conversation listed.
            .annotate(platform=F("channel__platform"))
            .prefetch_related(Prefetch("participants", Participant.objects.order_by("id")))
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        paginator = KeysetPagination(CONVERSATION_ORDER)
        rows, links = paginator.paginate(self.filter_queryset(self.get_queryset()), request)
        return paginator.response(request, self.get_serializer(rows, many=True).data, links)

    @action(detail=True, methods=["get", "post"])
    def messages(self, request: Request, pk: Any = None) -> Response:
        """GET: the conversation's messages in timeline order: from the oldest, or with
        ``start=end`` from the newest page, scrolling back with ``before``. POST: a reply,
        queued at once (201; 200 for a repeat of the same ``Idempotency-Key`` and request)."""
        # Only the permission check: the conversation's participants are not needed here.
        conversation = get_object_or_404(Conversation.objects.visible_to(request.user), pk=pk)
        if request.method == "POST":
            return self._reply(request, conversation)
        messages = (
            Message.objects.filter(conversation=conversation)
            .annotate(timeline_sequence=Coalesce("sequence", Value(-1)))
            .select_related("sender")
            .prefetch_related("attachments", "recipients")
        )
        paginator = KeysetPagination(TIMELINE_ORDER)
        rows, links = paginator.paginate(messages, request)
        return paginator.response(request, MessageSerializer(rows, many=True).data, links)

    def _reply(self, request: Request, conversation: Conversation) -> Response:
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 255:
            return Response({"Idempotency-Key": ["At most 255 characters."]}, status=400)
        form = ReplySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        files = [sending.ReplyFile.from_upload(upload) for upload in form.validated_data["files"]]
        try:
            reply = sending.send_reply(
                conversation=conversation,
                author=request.user,
                text=form.validated_data["text"],
                subject=form.validated_data["subject"],
                files=files,
                idempotency_key=key,
            )
        except (sending.CannotSend, sending.IdempotencyConflict) as exc:
            return Response({"detail": str(exc)}, status=409)
        except sending.InvalidReply as exc:
            return Response({exc.field: [str(exc)]}, status=400)
        message = (
            Message.objects.select_related("sender")
            .prefetch_related("attachments", "recipients")
            .get(pk=reply.message.pk)
        )
        return Response(MessageSerializer(message).data, status=201 if reply.created else 200)


class MessageViewSet(viewsets.GenericViewSet):
    """One message, and retrying a failed outgoing one."""

    serializer_class = MessageSerializer

    def get_queryset(self) -> QuerySet[Message]:
        return (
            Message.objects.visible_to(self.request.user)
            .select_related("sender", "conversation")
            .prefetch_related("attachments", "recipients")
        )

    def retrieve(self, request: Request, pk: Any = None) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: Any = None) -> Response:
        """Send a failed outgoing message again (409 for any other message)."""
        message = self.get_object()
        try:
            sending.retry_message(message, user=request.user)
        except sending.CannotSend as exc:
            return Response({"detail": str(exc)}, status=409)
        return Response(self.get_serializer(self.get_queryset().get(pk=message.pk)).data)


class InboundEventViewSet(viewsets.ReadOnlyModelViewSet):
    """Staff only: the raw audit trail, newest first, keyset-paginated."""

    serializer_class = InboundEventSerializer
    permission_classes = (IsStaff,)
    filterset_class = InboundEventFilter

    def get_queryset(self) -> QuerySet[InboundEvent]:
        return InboundEvent.objects.select_related("channel", "request").defer("request__body")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        paginator = KeysetPagination((Key("id", descending=True),))
        rows, links = paginator.paginate(self.filter_queryset(self.get_queryset()), request)
        return paginator.response(request, self.get_serializer(rows, many=True).data, links)
