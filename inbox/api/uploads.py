"""``/api/v1/uploads/``: a file sent ahead of the reply that attaches it (by its id), checked
against the channel's limits at once. Uploads are private to the user who made them: another
user's id answers 404, as an unknown one does."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from inbox.models import Upload
from inbox.services import sending, uploads

from .errors import ErrorSerializer, invalid
from .serializers import VisibleChannelField

NOT_YOURS = {404: OpenApiResponse(ErrorSerializer, "Not found, or another user's upload.")}


class UploadSerializer(serializers.ModelSerializer):
    class Meta:
        model = Upload
        fields = ("id", "channel", "filename", "mime_type", "size", "created_at", "expires_at")
        read_only_fields = fields


class NewUploadSerializer(serializers.Serializer):
    channel = VisibleChannelField(help_text="The channel the reply goes to: its limits apply.")
    # Empty files pass here so that the channel's rules say why (one message for both ways).
    file = serializers.FileField(allow_empty_file=True)


class UploadViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Upload (multipart ``channel`` + ``file``) → 201 with the id to put in a reply's
    ``attachments``; GET one's own; DELETE one's own upload before a reply takes it."""

    serializer_class = UploadSerializer
    parser_classes = (MultiPartParser, FormParser)

    def get_serializer_class(self) -> Any:
        # The browsable API's form: the input of an upload.
        if self.request is not None and self.request.method == "POST":
            return NewUploadSerializer
        return UploadSerializer

    def get_queryset(self) -> QuerySet[Upload]:
        if getattr(self, "swagger_fake_view", False):  # the schema's generation: no user
            return Upload.objects.none()
        return Upload.objects.filter(owner_id=self.request.user.pk)

    @extend_schema(
        request={"multipart/form-data": NewUploadSerializer},
        responses={201: UploadSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Store a file for a reply on ``channel``, checked against what the channel sends
        (types, size; an empty file is refused): 400 names ``file`` or ``channel``. Attach it
        by its id before ``expires_at``; after that it is deleted."""
        form = NewUploadSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        try:
            upload = uploads.store_upload(
                channel=form.validated_data["channel"],
                user=request.user,
                file=form.validated_data["file"],
            )
        except sending.InvalidReply as exc:
            raise invalid(exc.field, str(exc)) from exc
        return Response(UploadSerializer(upload).data, status=201)

    @extend_schema(responses={200: UploadSerializer, **NOT_YOURS})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One's own upload, not attached yet."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        responses={204: OpenApiResponse(description="Deleted, with its file."), **NOT_YOURS}
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete one's own upload that no reply took."""
        if not uploads.discard(self.get_object()):
            raise Http404  # a reply took it meanwhile
        return Response(status=204)
