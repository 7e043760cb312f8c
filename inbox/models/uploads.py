from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Upload(models.Model):
    """A file sent ahead of the reply it goes with (``POST /api/v1/uploads/``), checked against
    its channel's limits. A reply naming it takes its stored file as the attachment's (no second
    copy) and the row is deleted; one nobody attached is deleted when it expires."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)
    channel = models.ForeignKey("inbox.Channel", on_delete=models.CASCADE, db_index=False)
    file = models.FileField(upload_to="attachments/%Y/%m/")
    filename = models.CharField(max_length=255)
    mime_type = models.CharField(max_length=120)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=("owner", "channel"), name="upload_owner_channel"),
            models.Index(fields=("expires_at",), name="upload_expires"),
        ]

    def __str__(self) -> str:
        return self.filename
