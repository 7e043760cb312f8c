"""Relationships and their templates. Querysets are narrowed to what the user may see
(``visible_to``): another channel's relationship or template answers 404."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response

from inbox.api.errors import BadGateway, BadRequest, Conflict, invalid
from inbox.connectors.outbound import PlatformError
from inbox.models import Channel
from relationships import decisions, templates
from relationships.models import Relationship, RelationshipTemplate

from .filters import RelationshipFilter, RelationshipTemplateFilter
from .serializers import (
    NewTemplateSerializer,
    RelationshipSerializer,
    RelationshipTemplateSerializer,
)

# What a decision answers: queued, or why the relationship cannot take it now.
DECIDED = {
    202: RelationshipSerializer,
    409: OpenApiResponse(description="Not allowed in its state, or a decision is queued."),
}
CONNECTOR_ERRORS = {
    400: OpenApiResponse(description="The Connector found the request invalid."),
    409: OpenApiResponse(description="Not possible on this channel or Connector."),
    502: OpenApiResponse(description="The Connector did not answer: try again later."),
}


class RelationshipViewSet(viewsets.ReadOnlyModelViewSet):
    """Relationships; ``POST …/<id>/accept|reject|revoke|terminate/`` queue a decision (202)."""

    serializer_class = RelationshipSerializer
    filterset_class = RelationshipFilter

    def get_queryset(self) -> QuerySet[Relationship]:
        return (
            Relationship.objects.filter(channel__in=Channel.objects.visible_to(self.request.user))
            .select_related("template", "decided_by")
            .prefetch_related("changes")
            .order_by("-platform_updated_at", "-id")
        )

    @extend_schema(request=None, responses=DECIDED)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: Any = None) -> Response:
        """Accept an incoming pending request."""
        return self._decide(request, decisions.Decision.ACCEPT)

    @extend_schema(request=None, responses=DECIDED)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: Any = None) -> Response:
        """Reject an incoming pending request."""
        return self._decide(request, decisions.Decision.REJECT)

    @extend_schema(request=None, responses=DECIDED)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: Any = None) -> Response:
        """Withdraw our own pending request."""
        return self._decide(request, decisions.Decision.REVOKE)

    @extend_schema(request=None, responses=DECIDED)
    @action(detail=True, methods=["post"])
    def terminate(self, request: Request, pk: Any = None) -> Response:
        """End an active relationship (7.x Connectors)."""
        return self._decide(request, decisions.Decision.TERMINATE)

    def _decide(self, request: Request, decision: decisions.Decision) -> Response:
        relationship = self.get_object()
        try:
            decisions.decide(relationship, decision, user=request.user)
        except decisions.DecisionNotAllowed as exc:
            raise Conflict(exc.reason) from exc
        fresh = self.get_queryset().get(pk=relationship.pk)
        return Response(self.get_serializer(fresh).data, status=202)


class IgnoreAccept(BaseContentNegotiation):
    """The QR route answers a PNG (or a JSON error) whatever is asked: an <img> accepts
    ``image/*``, a script ``image/png``; neither should get a 406."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0]

    def select_renderer(self, request: Request, renderers: Any, format_suffix: Any = None) -> Any:
        return (renderers[0], renderers[0].media_type)


def connector_error(exc: PlatformError) -> APIException:
    """A Connector error as one to raise: 502 when it may pass (retry later), 400 when the
    Connector found the request invalid, 409 when it refuses for good (a wrong API key, an
    unsupported generation, a template it does not have). ``code`` is the Connector's."""
    code = exc.code or None
    if not exc.permanent:
        return BadGateway(exc.message, code=code)
    if exc.status == 400:
        return BadRequest(exc.message, code=code)
    return Conflict(exc.message, code=code)


class RelationshipTemplateViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Relationship templates of the visible channels; ``POST`` creates an own one on the
    Connector (synchronously, 201); ``…/<id>/qr/`` is its QR code (``image/png``)."""

    serializer_class = RelationshipTemplateSerializer
    filterset_class = RelationshipTemplateFilter

    def get_queryset(self) -> QuerySet[RelationshipTemplate]:
        return RelationshipTemplate.objects.filter(
            channel__in=Channel.objects.visible_to(self.request.user)
        ).order_by("-created_at", "-id")

    @extend_schema(
        request=NewTemplateSerializer,
        responses={201: RelationshipTemplateSerializer, **CONNECTOR_ERRORS},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = NewTemplateSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            template = templates.create_template(
                channel=data["channel"],
                title=data["title"],
                expires_at=data["expires_at"],
                max_allocations=data.get("max_allocations"),
            )
        except templates.TemplateNotPossible as exc:
            if exc.field:
                raise invalid(exc.field, exc.reason) from exc
            raise Conflict(exc.reason) from exc
        except PlatformError as exc:
            raise connector_error(exc) from exc
        return Response(self.get_serializer(template).data, status=201)

    @extend_schema(
        responses={(200, "image/png"): OpenApiTypes.BINARY, **CONNECTOR_ERRORS},
    )
    @action(detail=True, methods=["get"], content_negotiation_class=IgnoreAccept)
    def qr(self, request: Request, pk: Any = None) -> Response | HttpResponse:
        """The template's QR code, rendered by the Connector."""
        template = self.get_object()
        try:
            png = templates.template_qr(template)
        except templates.TemplateNotPossible as exc:
            raise Conflict(exc.reason) from exc
        except PlatformError as exc:
            raise connector_error(exc) from exc
        response = HttpResponse(png, content_type="image/png")
        # Made for this request (a 1.x Connector makes a new token each time).
        response["Cache-Control"] = "private, no-store"
        return response
