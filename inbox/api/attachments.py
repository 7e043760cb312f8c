"""Serving downloaded attachments to the members of their channel."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.views import APIView

from inbox.models import Attachment, Message

from .errors import Conflict

# type/subtype (and parameters) as RFC 6838 allows: anything else is served as bytes.
MEDIA_TYPE = re.compile(r"[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*(\s*;[ -~]*)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class AttachmentDownloadView(APIView):
    """``GET /api/v1/attachments/<id>/download/``: the stored file, as a download.

    Other channels' attachments are not found (404). Until the file is downloaded — or when
    it could not be — the answer is 409 with the reason.
    """

    @extend_schema(
        operation_id="attachment_download",
        responses={
            # The file's own type (application/octet-stream when it has none we can trust).
            (200, "*/*"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="Not found, or another channel's attachment."),
            409: OpenApiResponse(description="Not downloaded yet, or the download failed."),
        },
    )
    def get(self, request: Request, pk: int, *args: Any, **kwargs: Any) -> Any:
        attachment = get_object_or_404(
            Attachment.objects.filter(message__in=Message.objects.visible_to(request.user)),
            pk=pk,
        )
        if attachment.state == Attachment.State.FAILED:
            raise Conflict(f"the file could not be downloaded: {attachment.error}")
        if attachment.state != Attachment.State.READY or not attachment.file:
            reason = f" (the last attempt: {attachment.error})" if attachment.error else ""
            raise Conflict(f"the file is not downloaded yet{reason}")
        try:
            handle = attachment.file.open("rb")
        except OSError:
            raise NotFound("the stored file is missing") from None
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=download_name(attachment),
            content_type=media_type(attachment.mime_type),
        )
        # Platform bytes are never rendered by the browser as something else, nor run.
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox; default-src 'none'"
        return response


def download_name(attachment: Attachment) -> str:
    """The name the browser saves the file as: the platform's, without directories or control
    characters (Django writes it as RFC 5987 ``filename*`` when it is not plain ASCII)."""
    name = PurePosixPath(attachment.filename.replace("\\", "/")).name
    name = _CONTROL.sub("_", name).strip()
    return name if name not in ("", ".", "..") else f"attachment-{attachment.pk}"


def media_type(value: str) -> str:
    return value if MEDIA_TYPE.fullmatch(value or "") else "application/octet-stream"
