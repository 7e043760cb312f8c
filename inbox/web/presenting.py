"""What the inbox pages show for conversations and messages, computed once per row in Python.

Everything that comes from a platform is untrusted: it is escaped here (``format_html`` /
``escape``) or left to the template's autoescaping. The only HTML built from platform data is
highlighting (escaped pieces around ``<mark>``) and enmeshed Markdown, sanitized by nh3.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import nh3
from django.template.defaultfilters import linebreaksbr
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from inbox.choices import Audience, ContentKind, Direction, Platform
from inbox.models import Attachment, Conversation, Message, MessageStatus
from inbox.services.conversations import conversation_title
from inbox.services.typing import typing_in

# A letter and a colour per platform: no external assets.
PLATFORM_BADGES: dict[str, tuple[str, str]] = {
    Platform.ENMESHED: ("E", "enmeshed"),
    Platform.LIVEPERSON: ("L", "LivePerson"),
    Platform.COMAPI: ("C", "Comapi"),
    Platform.SCALAR: ("S", "SCALAR"),
}

TICKS = {
    MessageStatus.QUEUED: ("◷", "Queued"),
    MessageStatus.SENDING: ("◔", "Sending"),
    MessageStatus.SENT: ("✓", "Sent"),
    MessageStatus.DELIVERED: ("✓✓", "Delivered"),
    MessageStatus.READ: ("✓✓", "Read"),
    MessageStatus.FAILED: ("!", "Failed"),
}

PREVIEW_LENGTH = 140
# Raw HTML in Markdown stays text (html=False); nh3 then removes whatever else is unsafe.
# Images would load from anywhere (and the CSP refuses them): a Markdown image stays its text.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).disable("image")
_MARKDOWN_TAGS = nh3.ALLOWED_TAGS - {"img"}


def search_terms(query: str) -> list[str]:
    return [term for term in re.findall(r"\w+", query) if term.lower() != "or"]


def highlight(text: str, terms: Sequence[str]) -> SafeString:
    """``text`` escaped, with every occurrence of a search term wrapped in ``<mark>``.

    The text is split at the matches first and each piece escaped on its own, so a term can
    never match inside an entity that escaping produced (``amp`` in ``&amp;``).
    """
    if not terms:
        return escape(text)
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.I)
    pieces: list[str] = []
    end = 0
    for match in pattern.finditer(text):
        pieces.append(escape(text[end : match.start()]))
        pieces.append(format_html("<mark>{}</mark>", match.group()))
        end = match.end()
    pieces.append(escape(text[end:]))
    return mark_safe("".join(pieces))  # noqa: S308  # every piece escaped above


def preview(message: Message | None, terms: Sequence[str]) -> SafeString:
    if message is None:
        return escape("")
    text = " ".join((message.text or message.subject or _kind_label(message)).split())
    if len(text) > PREVIEW_LENGTH:
        text = text[: PREVIEW_LENGTH - 1] + "…"
    return highlight(text, terms)


def body_html(message: Message, platform: str, terms: Sequence[str]) -> SafeString:
    """The message's text: enmeshed Markdown as sanitized HTML, anything else as plain text
    with its line breaks (and search matches highlighted)."""
    content = message.content if isinstance(message.content, dict) else {}
    if platform == Platform.ENMESHED and content.get("bodyFormat") == "Markdown":
        html = nh3.clean(
            _MARKDOWN.render(message.text),
            tags=_MARKDOWN_TAGS,
            link_rel="noopener noreferrer nofollow",
            url_schemes={"http", "https", "mailto"},
        )
        return mark_safe(html)  # noqa: S308  # sanitized by nh3
    return linebreaksbr(highlight(message.text, terms), autoescape=True)


def ago(moment: datetime, now: datetime) -> str:
    """A short relative time, as inbox lists show it."""
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    local = timezone.localtime(moment)
    if seconds < 24 * 3600:
        return f"{int(seconds // 3600)} h"
    if local.year == timezone.localtime(now).year:
        return local.strftime("%-d %b")
    return local.strftime("%-d %b %Y")


def file_size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def _kind_label(message: Message) -> str:
    labels = {
        ContentKind.FILE: "File",
        ContentKind.RICH: "Rich content",
        ContentKind.FORM: "Form",
        ContentKind.SYSTEM: "System message",
        ContentKind.UNSUPPORTED: "Unsupported content",
    }
    return labels.get(ContentKind(message.content_kind), "")


@dataclass(frozen=True)
class Row:
    """One line of the conversation list."""

    conversation: Conversation
    title: str
    preview: SafeString
    platform: str
    badge: str
    platform_label: str
    when: str
    unread: int


def rows(
    conversations: Iterable[Conversation],
    own_by_channel: Mapping[int, set[str]],
    terms: Sequence[str],
    now: datetime,
) -> list[Row]:
    result = []
    for conversation in conversations:
        platform: str = getattr(conversation, "platform", "")
        badge, label = PLATFORM_BADGES.get(platform, ("?", platform))
        result.append(
            Row(
                conversation=conversation,
                title=conversation_title(
                    conversation,
                    list(conversation.participants.all()),
                    own_by_channel.get(conversation.channel_id, set()),
                ),
                preview=preview(conversation.last_message, terms),
                platform=platform,
                badge=badge,
                platform_label=label,
                when=ago(conversation.last_activity_at, now),
                unread=getattr(conversation, "unread_count", 0),
            )
        )
    return result


@dataclass(frozen=True)
class AttachmentView:
    attachment: Attachment
    name: str
    size: str
    mime_type: str
    url: str  # "" until the file is stored
    is_image: bool
    preview: str  # a data:image URI the platform sent, or ""


@dataclass(frozen=True)
class Flag:
    address: str
    name: str
    at: str


@dataclass
class MessageView:
    """One bubble of the timeline (``separator``: the day heading above it, if any)."""

    message: Message
    body: SafeString
    sender_name: str
    sender_role: str
    outgoing: bool
    internal: bool
    day: date
    time: str
    tick: str
    tick_label: str
    structured: bool
    raw_json: str
    attachments: list[AttachmentView] = field(default_factory=list)
    quote_sender: str = ""
    quote_text: str = ""
    flags: list[Flag] = field(default_factory=list)
    separator: str = ""


def message_views(
    messages: Iterable[Message], platform: str, terms: Sequence[str] = ()
) -> list[MessageView]:
    """Bubbles in timeline order, a day heading above the first of each day."""
    views = [message_view(message, platform, terms) for message in messages]
    today = timezone.localdate()
    previous = None
    for view in views:
        if view.day != previous:
            view.separator = day_label(view.day, today)
            previous = view.day
    return views


def message_view(message: Message, platform: str, terms: Sequence[str] = ()) -> MessageView:
    local = timezone.localtime(message.sent_at)
    tick, tick_label = TICKS.get(MessageStatus(message.status), ("", message.status))
    structured = message.content_kind in (
        ContentKind.RICH,
        ContentKind.FORM,
        ContentKind.SYSTEM,
        ContentKind.UNSUPPORTED,
    )
    quote = message.reply_to
    return MessageView(
        message=message,
        body=body_html(message, platform, terms),
        sender_name=_sender_name(message),
        sender_role=message.sender.role if message.sender else "",
        outgoing=message.direction == Direction.OUT,
        internal=message.audience == Audience.INTERNAL,
        day=local.date(),
        time=local.strftime("%H:%M"),
        tick=tick,
        tick_label=tick_label,
        structured=structured,
        raw_json=json.dumps(message.content, indent=2, ensure_ascii=False, sort_keys=True)
        if message.content is not None
        else "",
        attachments=[_attachment_view(a) for a in message.attachments.all()],
        quote_sender=_sender_name(quote) if quote else "",
        quote_text=(quote.text or quote.subject or _kind_label(quote))[:200] if quote else "",
        flags=[
            Flag(address=recipient.address, name=str(name), at=_flag_time(at))
            for recipient in message.recipients.all()
            for name, at in sorted((recipient.flags or {}).items())
        ],
    )


def _sender_name(message: Message) -> str:
    if message.author is not None:
        return message.author.get_full_name() or message.author.get_username()
    if message.sender is not None:
        return message.sender.name or message.sender.address
    return "You" if message.direction == Direction.OUT else "Unknown sender"


def _flag_time(value: Any) -> str:
    if isinstance(value, str):
        try:
            return timezone.localtime(datetime.fromisoformat(value)).strftime("%-d %b %H:%M")
        except ValueError:
            return value
    return ""


def _attachment_view(attachment: Attachment) -> AttachmentView:
    ready = attachment.state == Attachment.State.READY and bool(attachment.file)
    mime_type = attachment.mime_type or "application/octet-stream"
    preview = attachment.preview if attachment.preview.startswith("data:image/") else ""
    return AttachmentView(
        attachment=attachment,
        name=attachment.filename or f"attachment-{attachment.pk}",
        size=file_size(attachment.size),
        mime_type=mime_type,
        url=reverse("attachment-download", kwargs={"pk": attachment.pk}) if ready else "",
        is_image=mime_type.startswith("image/") and mime_type != "image/svg+xml",
        preview=preview,
    )


def day_label(day: date, today: date) -> str:
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    return day.strftime("%A, %-d %B %Y")


def typing_names(conversation: Conversation) -> list[str]:
    """Who is typing in ``conversation`` now: participant names where known, else addresses."""
    addresses = typing_in(conversation=conversation)
    if not addresses:
        return []
    names = dict(
        conversation.participants.filter(address__in=addresses).values_list("address", "name")
    )
    return [names.get(address) or address for address in addresses]


def file_kinds(media_types: Sequence[str]) -> str:
    """``("image/jpeg", "application/pdf")`` as a person reads it: ``JPEG, PDF``."""
    return ", ".join(t.split("/")[-1].upper() for t in media_types)
