"""Searching messages across every conversation a user sees, with highlighted snippets.

Which messages match is ``MessageQuerySet.matching`` (the conversation list's search uses the
same definition). This module loads a page of them cheaply and says, for each, where the words
are: a short excerpt of its text, escaped, with the words wrapped in ``<mark>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import F, Prefetch
from django.utils.html import escape

from inbox.models import Channel, Message, Participant
from inbox.models.messages import MessageQuerySet

from .channels import own_addresses
from .conversations import conversation_title  # the title the web inbox shows

# The excerpt's length in characters (without the "…" at its ends): about two lines.
SNIPPET_LENGTH = 160
# What a page of results reads of each message and its conversation: never the platform's
# content, which can be large.
LOADED = (
    "id",
    "channel_id",
    "conversation_id",
    "sender_id",
    "sent_at",
    "direction",
    "subject",
    "text",
    "conversation__id",
    "conversation__title",
    "conversation__external_id",
    "sender__id",
    "sender__address",
    "sender__name",
)
# One operand of the web search syntax: a "phrase" (closed or not) or a run of other
# characters, either of them negated by a leading "-".
_OPERAND = re.compile(r'(-?)(?:"([^"]*)"?|([^\s"]+))')


@dataclass(frozen=True)
class Hit:
    """One message found, as the search lists it."""

    message: Message  # from searchable(): with its platform, conversation and sender
    conversation_title: str
    snippet: str  # HTML: escaped text, the words in <mark>


def searchable(user: Any) -> MessageQuerySet:
    """The messages ``user`` may search, loaded as a page of results needs them (filter them
    with ``.matching(words)``, then page them)."""
    messages: MessageQuerySet = Message.objects.visible_to(user)
    return (
        messages.annotate(platform=F("channel__platform"))
        .select_related("conversation", "sender")
        .only(*LOADED)
        # The conversations' people, for the titles of conversations without one.
        .prefetch_related(
            Prefetch("conversation__participants", Participant.objects.order_by("id"))
        )
    )


def hits(messages: Sequence[Message], words: str) -> list[Hit]:
    """``messages`` (found for ``words``) with their conversation's title and a snippet.

    One query besides the prefetch: the channels' own addresses, which a title leaves out.
    """
    if not messages:
        return []
    channel_ids = {message.channel_id for message in messages}
    channels = Channel.objects.filter(pk__in=channel_ids).only("id", "settings", "learned")
    own = {channel.pk: own_addresses(channel) for channel in channels}
    # Whole words where PostgreSQL matched them; SQLite's fallback matches any substring.
    whole = connection.vendor == "postgresql"
    pattern = highlighter(highlighted_terms(words), whole_words=whole)
    return [
        Hit(
            message=message,
            conversation_title=conversation_title(
                message.conversation,
                list(message.conversation.participants.all()),
                own.get(message.channel_id, set()),
            ),
            snippet=snippet(message.text or message.subject, pattern),
        )
        for message in messages
    ]


def highlighted_terms(words: str) -> list[str]:
    """The words of a search to highlight: every word it asks for, in phrases or not, but not
    the operator ``or`` nor the words it excludes (``-word``, ``-"a phrase"``)."""
    terms: dict[str, str] = {}
    for negated, phrase, bare in _OPERAND.findall(words):
        if negated or (not phrase and bare.lower() == "or"):
            continue
        for term in re.findall(r"\w+", phrase or bare):
            terms.setdefault(term.casefold(), term)
    return list(terms.values())


def highlighter(terms: Sequence[str], *, whole_words: bool = True) -> re.Pattern[str] | None:
    """One pattern finding any of ``terms`` (the longest first), ignoring case."""
    if not terms:
        return None
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    if whole_words:
        return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    return re.compile(alternatives, re.IGNORECASE)


def snippet(text: str, pattern: re.Pattern[str] | None, length: int = SNIPPET_LENGTH) -> str:
    """About ``length`` characters of ``text`` around the first match of ``pattern`` (from
    the start without one), "…" where it was cut, as HTML: escaped, every match in ``<mark>``.

    Whitespace is collapsed and cuts fall between words, never inside the first match.
    """
    text = " ".join(text.split())
    first = pattern.search(text) if pattern else None
    start, end = _window(text, first, length)
    return (
        ("…" if start > 0 else "")
        + mark(text[start:end], pattern)
        + ("…" if end < len(text) else "")
    )


def mark(text: str, pattern: re.Pattern[str] | None) -> str:
    """``text`` escaped, every match of ``pattern`` wrapped in ``<mark>``.

    The text is split at the matches first and each piece escaped on its own, so a word can
    never match inside an entity that escaping produced (``amp`` in ``&amp;``).
    """
    if pattern is None:
        return str(escape(text))
    pieces: list[str] = []
    end = 0
    for match in pattern.finditer(text):
        pieces.append(escape(text[end : match.start()]))
        pieces.append(f"<mark>{escape(match.group())}</mark>")
        end = match.end()
    pieces.append(escape(text[end:]))
    return "".join(pieces)


def _window(text: str, first: re.Match[str] | None, length: int) -> tuple[int, int]:
    if len(text) <= length:
        return 0, len(text)
    # A third of the room before the match: what leads to it, and more of what follows.
    at = first.start() if first else 0
    start = max(0, min(at - length // 3, len(text) - length))
    end = start + length
    if start > 0 and text[start - 1] != " ":  # inside a word: from the next one
        space = text.find(" ", start, at)
        start = space + 1 if space != -1 else start
    if end < len(text) and text[end] != " ":  # inside a word: up to the one before
        space = text.rfind(" ", first.end() if first else start, end)
        end = space if space != -1 else end
    return start, end
