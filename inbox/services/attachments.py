"""Attachments of received messages, and what of the platform's links the inbox keeps."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from inbox.connectors.events import AttachmentInfo
from inbox.models import Attachment, Message

logger = logging.getLogger(__name__)

SAFE_SCHEMES = frozenset({"http", "https"})
# Raster images only: an SVG or HTML data: URI can carry script.
SAFE_DATA = re.compile(r"data:image/(png|jpeg|jpg|gif|webp)[;,]", re.IGNORECASE)
# Browsers ignore these inside a scheme ("java\tscript:"), so they are removed before judging.
_IGNORED = re.compile(r"[\x00-\x20\x7f]")


def safe_link(value: str) -> tuple[str, str]:
    """``(value, "")`` for a link that is safe to show or fetch, else ``("", note)``.

    Safe: ``https:``/``http:`` URLs, raster ``data:image/…`` URIs, and platform-relative paths
    (no scheme), which only the platform's own client resolves.
    """
    if not value:
        return "", ""
    compact = _IGNORED.sub("", value)
    try:
        scheme = urlsplit(compact).scheme.lower()
    except ValueError:  # e.g. an unbalanced "[" in the host
        return "", "dropped a link that is not a URL"
    if not scheme or scheme in SAFE_SCHEMES or SAFE_DATA.match(compact):
        return value, ""
    return "", f"dropped a {scheme}: link"


def store_attachments(message: Message, attachments: Iterable[AttachmentInfo]) -> None:
    """Create the message's attachments, or fill in what an earlier event did not know."""
    existing = {a.external_id: a for a in message.attachments.all()}
    for info in attachments:
        url, url_note = safe_link(info.url)
        preview, preview_note = safe_link(info.preview)
        values = {
            "filename": info.filename[:255],
            "mime_type": info.mime_type[:120],
            "size": info.size,
            "caption": info.caption,
            "preview": preview,
            "url": url[:2048],
        }
        note = "; ".join(n for n in (url_note, preview_note) if n)
        if note:
            logger.info("attachment %r of message %s: %s", info.external_id, message.pk, note)
        row = existing.get(info.external_id[:1024])
        if row is None:
            Attachment.objects.bulk_create(
                [
                    Attachment(
                        message=message, external_id=info.external_id[:1024], note=note, **values
                    )
                ],
                ignore_conflicts=True,
            )
            continue
        # A webhook may know only the file id and a later poll the full metadata: fill gaps.
        gaps = [f for f, v in values.items() if v not in ("", None) and not getattr(row, f)]
        for name in gaps:
            setattr(row, name, values[name])
        if note and not row.note:
            row.note = note
            gaps.append("note")
        if gaps:
            row.save(update_fields=gaps)
