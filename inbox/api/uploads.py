"""``/api/v1/uploads/``: a file sent ahead of the reply that attaches it (by its id), checked
against the channel's limits at once. Uploads are private to the user who made them."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from inbox.models import Upload
from inbox.services import sending, uploads

from .errors import invalid
from .serializers import VisibleChannelField


class UploadSerializer(serializers.ModelSerializer):
    class Meta:
        model = Upload
        fields = ("id", "channel", "filename", "mime_type", "size", "created_at", "expires_at")
        read_only_fields = fields


class NewUploadSerializer(serializers.Serializer):
    channel = VisibleChannelField(help_text="The channel the reply goes to: its limits apply.")
    file = serializers.FileField(allow_empty_file=True)


class UploadViewSet(mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Upload (multipart ``channel`` + ``file``) → 201 with the id to put in a reply's
    ``attachments``; GET one's own; DELETE one's own (unattached) upload."""

    serializer_class = UploadSerializer
    parser_classes = (MultiPartParser, FormParser)

    def get_queryset(self) -> QuerySet[Upload]:
        if getattr(self, "swagger_fake_view", False):
            return Upload.objects.none()
        return Upload.objects.filter(owner_id=self.request.user.pk)

    @extend_schema(
        request={"multipart/form-data": NewUploadSerializer},
        responses={201: UploadSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = NewUploadSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        try:
            upload = uploads.store_upload(
                channel=form.validated_data["channel"],
                owner=request.user,
                upload=form.validated_data["file"],
            )
        except sending.InvalidReply as exc:
            raise invalid(exc.field, str(exc)) from exc
        return Response(UploadSerializer(upload).data, status=201)

    @extend_schema(responses={204: OpenApiResponse(description="Deleted with its file.")})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        uploads.discard(self.get_object())
        return Response(status=204)
