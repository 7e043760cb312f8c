"""The inbox's API. Querysets are narrowed to what the user may see (``visible_to``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import F, Prefetch, QuerySet, Value
from django.db.models.functions import Coalesce
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from inbox.models import Channel, Conversation, Message, OutboundCommand, Participant
from inbox.services import lifecycle, read_state, sending, uploads
from inbox.services.typing import signal_typing

from .errors import Conflict, invalid
from .filters import ConversationFilter
from .pagination import Key, KeysetPages, KeysetPagination, keyset_list
from .serializers import (
    CommandSerializer,
    ConversationSerializer,
    MessageSerializer,
    ReadPositionSerializer,
    ReplySerializer,
    SignalledSerializer,
    StartSerializer,
    TypingSerializer,
)

# What the actions answer when the conversation or channel cannot do it now.
REFUSED = {409: OpenApiResponse(description="Not possible now; `detail` says why.")}

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
    pagination_class = KeysetPages

    def get_serializer_class(self) -> Any:
        # The browsable API's form for POST on the list is the one of creating.
        if self.request is not None and self.request.method == "POST" and not self.detail:
            return StartSerializer
        return ConversationSerializer

    def get_queryset(self) -> QuerySet[Conversation]:
        if getattr(self, "swagger_fake_view", False):  # the schema's generation: no user
            return Conversation.objects.none()
        return (
            Conversation.objects.visible_to(self.request.user)
            .with_unread(self.request.user)
            # Only the platform of the channel: joining the whole row would decrypt its
            # credentials and webhook secrets for every conversation listed.
            .annotate(platform=F("channel__platform"))
            .select_related("last_message__sender")
            .prefetch_related(Prefetch("participants", Participant.objects.order_by("id")))
        )

    @keyset_list(ConversationSerializer)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        paginator = KeysetPagination(CONVERSATION_ORDER)
        rows, links = paginator.paginate(self.filter_queryset(self.get_queryset()), request)
        return paginator.response(request, self.get_serializer(rows, many=True).data, links)

    @extend_schema(
        request=StartSerializer,
        responses={
            202: CommandSerializer,
            404: OpenApiResponse(description="No such channel, or not one of the user's."),
            **REFUSED,
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Open a new conversation for a consumer on a channel that can (LivePerson): 202 with
        the command; the conversation appears once the platform has opened it."""
        form = StartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        channel = get_object_or_404(
            Channel.objects.visible_to(request.user), pk=form.validated_data["channel"]
        )
        return self._command(
            lambda: lifecycle.start_conversation(
                channel=channel, user=request.user, consumer=form.validated_data["consumer"]
            )
        )

    @extend_schema(request=None, responses=ReadPositionSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: Any = None) -> Response:
        """Mark the conversation read for this user (and queue the platform's read receipt
        where it has one)."""
        conversation = self._visible(pk)
        position = read_state.mark_read(user=request.user, conversation=conversation)
        return Response({"read_position": position, "unread_count": 0})

    @extend_schema(request=None, responses=ReadPositionSerializer)
    @action(detail=True, methods=["post"])
    def unread(self, request: Request, pk: Any = None) -> Response:
        """Mark the conversation unread for this user (its newest message counts as unread)."""
        conversation = self._visible(pk)
        position = read_state.mark_unread(user=request.user, conversation=conversation)
        unread = max(conversation.last_position - position, 0)
        return Response({"read_position": position, "unread_count": unread})

    @extend_schema(request=None, responses={202: CommandSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: Any = None) -> Response:
        """Ask the platform to close the conversation (409 where it cannot): 202 with the
        command."""
        conversation = self._visible(pk)
        return self._command(
            lambda: lifecycle.close_conversation(conversation=conversation, user=request.user)
        )

    @extend_schema(request=None, responses={202: CommandSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: Any = None) -> Response:
        """Open a new conversation with the people of this (closed) one: 202 with the command."""
        conversation = self._visible(pk)
        return self._command(
            lambda: lifecycle.start_conversation(
                channel=conversation.channel, user=request.user, like=conversation
            )
        )

    @extend_schema(request=TypingSerializer, responses={202: SignalledSerializer})
    @action(detail=True, methods=["post"])
    def typing(self, request: Request, pk: Any = None) -> Response:
        """``{"active": true}`` while the user types, ``false`` when they stop: the platform is
        told where it shows typing (``{"signalled": false}`` where not, or for a repeat)."""
        conversation = self._visible(pk)
        form = TypingSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        signalled = signal_typing(
            conversation=conversation, user=request.user, active=form.validated_data["active"]
        )
        return Response({"signalled": signalled}, status=202)

    def _visible(self, pk: Any) -> Conversation:
        return get_object_or_404(
            Conversation.objects.visible_to(self.request.user).select_related("channel"), pk=pk
        )

    @staticmethod
    def _command(ask: Callable[[], OutboundCommand]) -> Response:
        try:
            command = ask()
        except lifecycle.CannotAct as exc:
            raise Conflict(str(exc)) from exc
        return Response(CommandSerializer(command).data, status=202)

    @keyset_list(MessageSerializer, methods=["GET"], filters=False)
    @extend_schema(
        methods=["POST"],
        request={
            "application/json": ReplySerializer,
            "multipart/form-data": ReplySerializer,
        },
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="The same key and request give the same message (at most 255).",
            )
        ],
        responses={
            201: MessageSerializer,
            200: OpenApiResponse(MessageSerializer, "A repeat of the same key and request."),
            409: OpenApiResponse(description="The conversation cannot take a reply now."),
        },
    )
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
            raise invalid("Idempotency-Key", "At most 255 characters.")
        form = ReplySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        files = [sending.ReplyFile.from_upload(upload) for upload in form.validated_data["files"]]
        try:
            reply = uploads.send_reply(
                conversation=conversation,
                author=request.user,
                text=form.validated_data["text"],
                subject=form.validated_data["subject"],
                files=files,
                uploads=form.validated_data["attachments"],
                idempotency_key=key,
            )
        except (sending.CannotSend, sending.IdempotencyConflict) as exc:
            raise Conflict(str(exc)) from exc
        except sending.InvalidReply as exc:
            raise invalid(exc.field, str(exc)) from exc
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

    @extend_schema(
        request=None,
        responses={200: MessageSerializer, 409: OpenApiResponse(description="Not a failed one.")},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: Any = None) -> Response:
        """Send a failed outgoing message again (409 for any other message)."""
        message = self.get_object()
        try:
            sending.retry_message(message, user=request.user)
        except sending.CannotSend as exc:
            raise Conflict(str(exc)) from exc
        return Response(self.get_serializer(self.get_queryset().get(pk=message.pk)).data)
