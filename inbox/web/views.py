"""The inbox pages. Every query is narrowed by ``visible_to(user)``: another channel's
conversation or message is a 404, exactly like one that does not exist.

One view serves a whole page or, for htmx, only the part it swaps (named by ``HX-Target``):
the list (``list``, ``load-more``), the open conversation (``pane``).
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

from django.contrib.auth.decorators import login_required
from django.db.models import F, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from inbox.api.pagination import Key, KeysetPagination
from inbox.api.views import CONVERSATION_ORDER, TIMELINE_ORDER
from inbox.models import Channel, Conversation, Message, Participant
from inbox.services import lifecycle, read_state, sending
from inbox.services.channels import capabilities, own_addresses
from inbox.services.typing import signal_typing

from . import presenting
from .forms import FilterForm, ReplyForm


class HtmxHttpRequest(HttpRequest):
    """A request as django-htmx's middleware leaves it (``request.htmx`` is always there)."""

    htmx: HtmxDetails


LIST_PAGE_SIZE = 50
TIMELINE_PAGE_SIZE = 50
# InvalidReply.field (the API's names) -> the composer's field.
REPLY_FIELDS = {"text": "text", "subject": "subject", "files": "attachments"}


class _Cursor:
    """What ``KeysetPagination`` reads of a request (its parameters and URL), for cursors
    given by the inbox's own query strings rather than an API request."""

    def __init__(self, params: dict[str, str]) -> None:
        self.query_params = QueryDict(mutable=True)
        self.query_params.update({k: v for k, v in params.items() if v})

    def build_absolute_uri(self) -> str:
        return "/?" + self.query_params.urlencode()


def keyset_page(
    queryset: QuerySet[Any], keys: tuple[Key, ...], params: dict[str, str], size: int
) -> tuple[list[Any], str, str]:
    """One keyset page (never OFFSET) and the cursors beyond it: (rows, after, before);
    raises ValidationError for a cursor that is not one of this list."""
    paginator = KeysetPagination(keys)
    paginator.page_size = size
    rows, links = paginator.paginate(queryset, cast(Request, _Cursor(params)))
    return rows, _param(links["next"], "after"), _param(links["previous"], "before")


def _param(link: str | None, name: str) -> str:
    return parse_qs(urlsplit(link).query).get(name, [""])[0] if link else ""


# --- the inbox and its list ----------------------------------------------------------------


def _channels(user: Any) -> list[Channel]:
    # Only what the sidebar and the titles need: the credentials are never decrypted here.
    return list(
        Channel.objects.visible_to(user).only("id", "name", "platform", "settings", "learned")
    )


def _list_context(request: HtmxHttpRequest, channels: list[Channel]) -> dict[str, Any]:
    form = FilterForm(request.GET)
    filters = form.filters()
    visible = {channel.pk for channel in channels}
    if filters.get("channel") not in visible:
        filters.pop("channel", None)
    conversations = (
        Conversation.objects.visible_to(request.user)
        .with_unread(request.user)
        # Only the platform of the channel: joining the whole row would decrypt its secrets.
        .annotate(platform=F("channel__platform"))
        .select_related("last_message")
        .defer("last_message__content", "platform_state")
        .prefetch_related(Prefetch("participants", Participant.objects.order_by("id")))
    )
    if "channel" in filters:
        conversations = conversations.filter(channel_id=filters["channel"])
    if "platform" in filters:
        conversations = conversations.filter(channel__platform=filters["platform"])
    if "status" in filters:
        conversations = conversations.filter(status=filters["status"])
    if filters.get("unread"):
        conversations = conversations.filter(Q(unread_count__gt=0))  # Q: an annotation
    if filters.get("q"):
        conversations = conversations.matching(filters["q"])
    page, after, _ = keyset_page(
        conversations, CONVERSATION_ORDER, {"after": request.GET.get("after", "")}, LIST_PAGE_SIZE
    )
    terms = presenting.search_terms(filters.get("q", ""))
    own = {channel.pk: own_addresses(channel) for channel in channels}
    query = QueryDict(mutable=True)
    query.update({name: str(value) for name, value in filters.items()})
    more = query.copy()
    more["after"] = after
    return {
        "form": form,
        "filters": filters,
        "channels": channels,
        "rows": presenting.rows(page, own, terms, timezone.now()),
        "query": query.urlencode(),
        "more_url": f"{reverse('inbox:index')}?{more.urlencode()}" if after else "",
    }


@login_required
@require_GET
def inbox(request: HtmxHttpRequest) -> HttpResponse:
    """``/``: the three panes, nothing open. For htmx, the list alone (or its next page)."""
    channels = _channels(request.user)
    try:
        context = _list_context(request, channels)
    except ValidationError:
        return HttpResponseBadRequest("Not a cursor of this list.")
    if _swaps(request, "list", "load-more"):
        return render(request, "inbox/_list.html", context)
    return render(request, "inbox/index.html", context)


def _swaps(request: HtmxHttpRequest, *targets: str) -> bool:
    htmx = request.htmx
    return bool(htmx) and not htmx.history_restore_request and htmx.target in targets


# --- one conversation ----------------------------------------------------------------------


def _conversation(user: Any, pk: int) -> Conversation:
    return get_object_or_404(Conversation.objects.visible_to(user).select_related("channel"), pk=pk)


def _timeline(conversation: Conversation) -> QuerySet[Message]:
    return (
        Message.objects.filter(conversation=conversation)
        .annotate(timeline_sequence=Coalesce("sequence", Value(-1)))
        .select_related("sender", "author", "reply_to__sender", "reply_to__author")
        .prefetch_related("attachments", "recipients")
    )


def _pane_context(
    request: HtmxHttpRequest, conversation: Conversation, form: ReplyForm | None = None
) -> dict[str, Any]:
    terms = presenting.search_terms(request.GET.get("q", ""))
    page, _, before = keyset_page(
        _timeline(conversation), TIMELINE_ORDER, {"start": "end"}, TIMELINE_PAGE_SIZE
    )
    participants = list(conversation.participants.order_by("id"))
    own = own_addresses(conversation.channel)
    return {
        **_composer_context(conversation, form or ReplyForm()),
        "conversation": conversation,
        "title": presenting.conversation_title(conversation, participants, own),
        "participants": participants,
        "platform_label": presenting.PLATFORM_BADGES[conversation.channel.platform][1],
        "badge": presenting.PLATFORM_BADGES[conversation.channel.platform][0],
        "messages": presenting.message_views(page, conversation.channel.platform, terms),
        "older_url": _older_url(conversation, before),
        "query": request.GET.urlencode(),
    }


def _older_url(conversation: Conversation, before: str) -> str:
    if not before:
        return ""
    return reverse("inbox:messages", args=[conversation.pk]) + "?" + urlencode({"before": before})


@login_required
@require_GET
def conversation(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """``/c/<id>/``: the conversation, marked read for this user; the whole inbox around it
    unless htmx asks for the pane alone."""
    found = _conversation(request.user, pk)
    read_state.mark_read(user=request.user, conversation=found)
    return _conversation_page(request, found)


def _conversation_page(
    request: HtmxHttpRequest,
    found: Conversation,
    form: ReplyForm | None = None,
    status: int = 200,
    refused: str = "",
) -> HttpResponse:
    """The conversation (the pane alone for htmx); ``refused`` says why an action was not
    taken."""
    context = _pane_context(request, found, form)
    context["refused"] = refused
    if _swaps(request, "pane"):
        return render(request, "inbox/_conversation.html", context, status=status)
    channels = _channels(request.user)
    try:
        context.update(_list_context(request, channels))
    except ValidationError:
        return HttpResponseBadRequest("Not a cursor of this list.")
    return render(request, "inbox/index.html", context, status=status)


@login_required
@require_GET
def messages(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Bubbles of a conversation: ``before=<cursor>`` the page older than it (with the next
    "Load older"); otherwise the newest page, which the open conversation polls and merges by
    message id (so nothing shows twice), marking what it shows as read."""
    found = _conversation(request.user, pk)
    before = request.GET.get("before", "")
    params = {"before": before} if before else {"start": "end"}
    try:
        page, _, older = keyset_page(_timeline(found), TIMELINE_ORDER, params, TIMELINE_PAGE_SIZE)
    except ValidationError:
        return HttpResponseBadRequest("Not a cursor of this list.")
    if not before:
        read_state.mark_read(user=request.user, conversation=found)
    views = presenting.message_views(page, found.channel.platform)
    return render(
        request,
        "inbox/_messages.html",
        {
            "conversation": found,
            "messages": views,
            "older_url": _older_url(found, older) if before else "",
            "older": bool(before),
        },
    )


@login_required
def typing(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Who is typing in the conversation now (names where the inbox knows them)."""
    found = _conversation(request.user, pk)
    return render(request, "inbox/_typing.html", {"typing": presenting.typing_names(found)})


@login_required
@require_POST
def reply(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Queue a reply (``send_reply``). htmx gets a fresh composer with the queued message to
    merge into the timeline; a plain form post is redirected back to the conversation."""
    found = _conversation(request.user, pk)
    form = ReplyForm(request.POST, request.FILES)
    message = None
    if form.is_valid():
        files = [
            sending.ReplyFile.from_upload(upload) for upload in form.cleaned_data["attachments"]
        ]
        try:
            message = sending.send_reply(
                conversation=found,
                author=request.user,
                text=form.cleaned_data["text"],
                subject=form.cleaned_data["subject"],
                files=files,
                idempotency_key=form.cleaned_data["idempotency_key"],
            ).message
        except sending.InvalidReply as exc:
            field = REPLY_FIELDS.get(exc.field)
            form.add_error(field if field in form.fields else None, str(exc))
        except (sending.CannotSend, sending.IdempotencyConflict) as exc:
            form.add_error(None, str(exc))
    if message is None:
        if _swaps(request, "composer"):
            # 200: htmx swaps only successful answers, and the errors are to be seen.
            return render(request, "inbox/_composer.html", _composer_context(found, form))
        return _conversation_page(request, found, form, status=422)
    # The author has read their own reply.
    found.refresh_from_db(fields=["last_position"])
    read_state.mark_read(user=request.user, conversation=found)
    if not _swaps(request, "composer"):
        return redirect("inbox:conversation", pk=found.pk)
    stored = _timeline(found).get(pk=message.pk)
    context = _composer_context(found, ReplyForm())
    context["sent"] = presenting.message_view(stored, found.channel.platform)
    return render(request, "inbox/_composer.html", context)


def _composer_context(found: Conversation, form: ReplyForm) -> dict[str, Any]:
    able = capabilities(found.channel)
    waiting = lifecycle.pending(found) if able.close or able.start else set()
    return {
        "conversation": found,
        "reply_form": form,
        "why_not": sending.why_not(found),
        "capabilities": able,
        "file_kinds": presenting.file_kinds(able.file_types),
        "closing": "close" in waiting,
        "starting": "open" in waiting,
    }


@login_required
@require_POST
def retry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Send a failed outgoing message again; htmx gets its bubble back."""
    message = get_object_or_404(
        Message.objects.visible_to(request.user).select_related("conversation", "channel"), pk=pk
    )
    error = ""
    try:
        sending.retry_message(message, user=request.user)
    except sending.CannotSend as exc:
        error = str(exc)
    if not request.htmx:
        return redirect("inbox:conversation", pk=message.conversation_id)
    stored = _timeline(message.conversation).get(pk=message.pk)
    view = presenting.message_view(stored, message.channel.platform)
    return render(
        request,
        "inbox/_message.html",
        {"m": view, "conversation": message.conversation, "retry_error": error},
    )


@login_required
@require_POST
def mark_unread(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Mark the conversation unread for this user and leave it (opening it reads it)."""
    found = _conversation(request.user, pk)
    read_state.mark_unread(user=request.user, conversation=found)
    return redirect("inbox:index")


@login_required
@require_POST
def close(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Ask the platform to close the conversation (where it can); back to the conversation,
    which says "Closing…" until the platform has."""
    found = _conversation(request.user, pk)
    try:
        lifecycle.close_conversation(conversation=found, user=request.user)
    except lifecycle.CannotAct as exc:
        return _conversation_page(request, found, status=409, refused=str(exc))
    return redirect("inbox:conversation", pk=found.pk)


@login_required
@require_POST
def start(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Open a new conversation with the people of this closed one (LivePerson); it appears in
    the list once the platform has opened it."""
    found = _conversation(request.user, pk)
    try:
        lifecycle.start_conversation(channel=found.channel, user=request.user, like=found)
    except lifecycle.CannotAct as exc:
        return _conversation_page(request, found, status=409, refused=str(exc))
    return redirect("inbox:conversation", pk=found.pk)


@login_required
@require_POST
def composing(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The composer says the user types (``active=1``) or stopped (``active=0``); the platform
    is told where it takes typing signals. 204 either way: nobody waits for it."""
    found = _conversation(request.user, pk)
    active = request.POST.get("active")
    if active not in ("0", "1"):
        return HttpResponseBadRequest("active: 1 (typing) or 0 (stopped).")
    signal_typing(conversation=found, user=request.user, active=active == "1")
    return HttpResponse(status=204)
