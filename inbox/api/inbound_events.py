"""Staff only: the raw audit trail of the way in, and replaying events after a parser fix.

Replay is :func:`inbox.inbound.replay.replay_events`, as in the admin and on ``/ops/``: the
events are queued again with fresh attempts and run through the current parser by the worker.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from inbox.inbound.replay import replay_events
from inbox.models import InboundEvent

from .errors import BadRequest, Conflict, ErrorSerializer
from .filters import InboundEventFilter
from .pagination import Key, KeysetPages, KeysetPagination, keyset_list
from .permissions import IsStaff
from .serializers import InboundEventSerializer

# At most this many events per replay request: a bigger set is refused, not cut, so that the
# answer never leaves a part of it unsaid. Narrow the filters (a channel, an event name).
MAX_REPLAY = 10_000
# The filters that choose what to replay: the list's own.
REPLAY_FILTERS = tuple(InboundEventFilter.base_filters)


class ReplayedSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Events queued to be processed again.")
    skipped = serializers.IntegerField(
        help_text="Events whose item could not be stored (replay their request instead)."
    )


class InboundEventViewSet(viewsets.ReadOnlyModelViewSet):
    """Staff only: the raw audit trail, newest first, keyset-paginated."""

    serializer_class = InboundEventSerializer
    permission_classes = (IsStaff,)
    filterset_class = InboundEventFilter
    pagination_class = KeysetPages

    def get_queryset(self) -> QuerySet[InboundEvent]:
        return InboundEvent.objects.select_related("channel", "request").defer("request__body")

    @keyset_list(InboundEventSerializer)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        paginator = KeysetPagination((Key("id", descending=True),))
        rows, links = paginator.paginate(self.filter_queryset(self.get_queryset()), request)
        return paginator.response(request, self.get_serializer(rows, many=True).data, links)

    @extend_schema(
        operation_id="v1_inbound_events_replay",
        request=None,
        responses={
            202: ReplayedSerializer,
            409: OpenApiResponse(
                ErrorSerializer, "Its item could not be stored: replay its request instead."
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: Any = None) -> Response:
        """Queue the event to be parsed and applied again by the current code, whatever its
        state, with fresh attempts: 202 ``{queued, skipped}``."""
        event = get_object_or_404(InboundEvent.objects.only("id", "request_id"), pk=pk)
        result = replay_events([event])
        if not result.queued:
            where = f"request #{event.request_id}" if event.request_id else "request"
            raise Conflict(
                f"Event #{event.pk} holds no storable item: replay its {where} instead "
                "(admin → Inbound requests)."
            )
        return Response(ReplayedSerializer(result).data, status=202)

    @extend_schema(
        operation_id="v1_inbound_events_replay_matching",
        request=None,
        filters=True,
        responses={
            202: ReplayedSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                f"No filter given (`filter_required`), more than {MAX_REPLAY:,} events match "
                "(`too_many`), or an invalid filter value (`invalid`, the field named).",
            ),
        },
    )
    @action(detail=False, methods=["post"], url_path="replay", url_name="replay-matching")
    def replay_matching(self, request: Request) -> Response:
        """Queue every event the filters choose (the list's, as query parameters; at least
        one, at most 10,000 events) to be processed again: 202 ``{queued, skipped}``."""
        if not any(request.query_params.get(name) for name in REPLAY_FILTERS):
            raise BadRequest(
                "Give at least one filter as a query parameter "
                f"({', '.join(REPLAY_FILTERS)}): replaying every event is not allowed.",
                code="filter_required",
            )
        chosen = self.filter_queryset(InboundEvent.objects.order_by("id")).only("id")
        batch = list(chosen[: MAX_REPLAY + 1])
        if len(batch) > MAX_REPLAY:
            raise BadRequest(
                f"too many: more than {MAX_REPLAY} events match; narrow the filters "
                "(a channel, an event name, a state).",
                code="too_many",
            )
        return Response(ReplayedSerializer(replay_events(batch)).data, status=202)
