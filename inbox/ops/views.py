"""The operations page and its replay buttons. Staff only: anyone else signed in gets a 404,
so that the page's existence tells them nothing; anonymous visitors are sent to log in."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from inbox import inbound
from inbox.inbound.replay import Replayed
from inbox.models import Channel, InboundEvent

from . import stats

View = Callable[..., HttpResponse]


def staff_only(view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            raise Http404("no such page")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


@staff_only
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    overview = stats.overview()
    return render(
        request,
        "ops/index.html",
        {
            "overview": overview,
            "failures": stats.recent_failures(),
            "now": timezone.now(),
        },
    )


@staff_only
@require_POST
def replay_event(request: HttpRequest, pk: int) -> HttpResponse:
    """Replay one failed event: parsed again by the current code, with fresh attempts."""
    event = get_object_or_404(InboundEvent.objects.only("id", "state", "event_name"), pk=pk)
    name = f"Event #{event.pk} ({event.event_name or 'unnamed'})"
    if event.state != InboundEvent.State.FAILED:
        messages.warning(request, f"{name} is {event.state}, not failed: nothing replayed.")
    else:
        _report(request, name, inbound.replay_events([event]))
    return redirect("ops:index")


@staff_only
@require_POST
def replay_channel(request: HttpRequest, pk: int) -> HttpResponse:
    """Replay every failed event of one channel."""
    channel = get_object_or_404(Channel, pk=pk)
    failed = InboundEvent.objects.filter(channel=channel, state=InboundEvent.State.FAILED).only(
        "id"
    )
    _report(request, channel.name, inbound.replay_events(failed))
    return redirect("ops:index")


def _report(request: HttpRequest, name: str, result: Replayed) -> None:
    messages.success(request, f"{name}: {result.queued} event(s) queued again.")
    if result.skipped:
        messages.warning(
            request,
            f"{name}: {result.skipped} event(s) hold no storable item; replay their request "
            "instead (admin → Inbound requests).",
        )
