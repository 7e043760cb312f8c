"""Attachments of received messages, and what of the platform's links the inbox keeps."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from inbox.connectors.events import AttachmentInfo
from inbox.db import insert_rows, update_rows
from inbox.models import Attachment, Message

from .downloads import queue_downloads

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


def store_attachments(found: Sequence[tuple[Message, Sequence[AttachmentInfo]]]) -> None:
    """Create the messages' attachments, or fill in what an earlier event did not know."""
    found = [(message, infos) for message, infos in found if infos]
    if not found:
        return
    existing = {
        (a.message_id, a.external_id): a
        for a in Attachment.objects.filter(message_id__any={m.pk for m, _ in found})
    }
    new: dict[tuple[int, str], Attachment] = {}
    filled: dict[int, Attachment] = {}
    for message, infos in found:
        for info in infos:
            key = (message.pk, info.external_id[:1024])
            values, note = _values(info, message)
            row = existing.get(key) or new.get(key)
            if row is None:
                new[key] = Attachment(message=message, external_id=key[1], note=note, **values)
                continue
            # A webhook may know only the file id and a later poll the full metadata: fill gaps.
            gaps = [f for f, v in values.items() if v not in ("", None) and not getattr(row, f)]
            for name in gaps:
                setattr(row, name, values[name])
            if note and not row.note:
                row.note = note
                gaps.append("note")
            if gaps and row.pk is not None:
                filled[row.pk] = row
    insert_rows(new.values(), ignore_conflicts=True)
    if new:
        # Platforms whose files the inbox fetches itself: the downloader runs after commit.
        queue_downloads({row.message.channel_id for row in new.values()})
    if filled:
        update_rows(filled.values(), [*FILLED_FIELDS, "note"])


FILLED_FIELDS = ("filename", "mime_type", "size", "caption", "preview", "url")


def _values(info: AttachmentInfo, message: Message) -> tuple[dict[str, Any], str]:
    url, url_note = safe_link(info.url)
    preview, preview_note = safe_link(info.preview)
    note = "; ".join(n for n in (url_note, preview_note) if n)
    if note:
        logger.info("attachment %r of message %s: %s", info.external_id, message.pk, note)
    values = {
        "filename": info.filename[:255],
        "mime_type": info.mime_type[:120],
        "size": info.size,
        "caption": info.caption,
        "preview": preview,
        "url": url[:2048],
    }
    return values, note
