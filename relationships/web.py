"""The relationships pages of the web inbox: pending requests to decide, the rest by status, and
own templates with their QR codes.

Every queryset is narrowed to the channels the user may see (``visible_to``), so another
channel's relationship or template answers 404. Decisions go through ``relationships.decisions``
(recorded here, carried out by the outbound worker); templates through
``relationships.templates`` (the Connector is asked while the user waits).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from inbox.choices import Platform
from inbox.connectors.outbound import PlatformError
from inbox.models import Channel, Contact, OutboundCommand, Participant

from . import decisions, templates
from .admin import content_fields
from .models import Relationship, RelationshipStatus, RelationshipTemplate

# Pending requests are few and all of them wait for someone; the rest are paged.
PENDING_SHOWN = 200
PAGE_SIZE = 50
TEMPLATES_SHOWN = 100
SHOWN_JSON_CHARS = 20_000

DECIDERS: dict[str, Callable[..., decisions.Queued]] = {
    decisions.Decision.ACCEPT: decisions.accept_relationship,
    decisions.Decision.REJECT: decisions.reject_relationship,
    decisions.Decision.REVOKE: decisions.revoke_relationship,
    decisions.Decision.TERMINATE: decisions.terminate_relationship,
}


# --- querysets ---------------------------------------------------------------------------------


def visible_relationships(user: Any) -> QuerySet[Relationship]:
    return Relationship.objects.filter(channel__in=Channel.objects.visible_to(user))


def visible_templates(user: Any) -> QuerySet[RelationshipTemplate]:
    return RelationshipTemplate.objects.filter(channel__in=Channel.objects.visible_to(user))


def with_peer_names(queryset: QuerySet[Relationship]) -> QuerySet[Relationship]:
    """Annotate ``peer_name``: the channel's contact name for the peer, else a name a
    conversation participant of the channel goes by, else "" — in the same query."""
    contact = (
        Contact.objects.filter(channel=OuterRef("channel"), address=OuterRef("peer"))
        .exclude(name="")
        .values("name")[:1]
    )
    participant = (
        Participant.objects.filter(
            conversation__channel=OuterRef("channel"), address=OuterRef("peer")
        )
        .exclude(name="")
        .order_by("-id")
        .values("name")[:1]
    )
    return queryset.annotate(
        peer_name=Coalesce(Subquery(contact), Subquery(participant), Value(""))
    )


def listed(queryset: QuerySet[Relationship]) -> QuerySet[Relationship]:
    # A decision still queued takes no other (decide() refuses): its buttons are not offered.
    waiting = OutboundCommand.objects.filter(
        relationship=OuterRef("pk"),
        kind=OutboundCommand.Kind.DECIDE,
        state=OutboundCommand.State.QUEUED,
    )
    # ``changes`` tells a 1.x relationship apart when the channel has not learnt its
    # generation (allowed_decisions asks): prefetched, it costs one query per list, not per row.
    return (
        with_peer_names(queryset)
        .annotate(decision_waiting=Exists(waiting))
        .select_related("channel", "decided_by", "template")
        .prefetch_related("changes")
        .order_by("-platform_updated_at", "-id")
    )


# --- rows --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """A relationship as the page shows it."""

    relationship: Relationship
    peer_name: str
    fields: SafeString | str
    json: str
    allowed: list[str]
    waiting: bool


def as_json(value: Any) -> str:
    """``value`` as indented JSON text (the template escapes it); never fails on odd values."""
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    if len(text) > SHOWN_JSON_CHARS:
        text = text[:SHOWN_JSON_CHARS] + f"\n… ({len(text) - SHOWN_JSON_CHARS} more characters)"
    return text


def rows(relationships: Any) -> list[Row]:
    found = []
    for r in relationships:
        waiting = bool(getattr(r, "decision_waiting", False))
        found.append(
            Row(
                relationship=r,
                peer_name=getattr(r, "peer_name", ""),
                # The admin's helper: escaped, a 7.x value or 1.x attributes as name → value.
                fields=content_fields(r.creation_content),
                json=as_json(r.creation_content),
                allowed=[] if waiting else [str(d) for d in decisions.allowed_decisions(r)],
                waiting=waiting,
            )
        )
    return found


def capped(queryset: QuerySet[Relationship]) -> tuple[list[Row], bool]:
    """The first PENDING_SHOWN rows, and whether there are more (one query, no count)."""
    found = list(queryset[: PENDING_SHOWN + 1])
    return rows(found[:PENDING_SHOWN]), len(found) > PENDING_SHOWN


# --- pages -------------------------------------------------------------------------------------


@login_required
@require_GET
def relationship_list(request: HttpRequest) -> HttpResponse:
    """Incoming pending requests first, then our own pending ones, then the rest by status."""
    visible = visible_relationships(request.user)
    pending = visible.filter(status=RelationshipStatus.PENDING)
    incoming, more_incoming = capped(
        listed(pending.filter(direction=Relationship.Direction.INCOMING))
    )
    outgoing, more_outgoing = capped(
        listed(pending.filter(direction=Relationship.Direction.OUTGOING))
    )
    status = request.GET.get("status", "")
    if status not in RelationshipStatus.values or status == RelationshipStatus.PENDING:
        status = ""
    rest = visible.exclude(status=RelationshipStatus.PENDING)
    if status:
        rest = rest.filter(status=status)
    page = Paginator(listed(rest), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "relationships/list.html",
        {
            "incoming": incoming,
            "more_incoming": more_incoming,
            "outgoing": outgoing,
            "more_outgoing": more_outgoing,
            "page": page,
            "rest": rows(page.object_list),
            "next_url": request.get_full_path(),
            "status": status,
            "statuses": [
                (value, label)
                for value, label in RelationshipStatus.choices
                if value != RelationshipStatus.PENDING
            ],
        },
    )


@login_required
@require_GET
def relationship_card(request: HttpRequest, pk: int) -> HttpResponse:
    """One relationship's card: a card waiting for a decision's outcome polls it (htmx) and
    stops once the outcome is in, so the answer shows without a reload."""
    found = rows(listed(visible_relationships(request.user).filter(pk=pk)))
    if not found:
        raise Http404("no such relationship")
    row = found[0]
    return render(
        request,
        "relationships/_relationship.html",
        {
            "row": row,
            "open": row.relationship.is_incoming_pending,
            "next_url": reverse("relationships_web:list"),
        },
    )


@login_required
@require_POST
def decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    """Record a decision (the worker carries it out) and go back with a message saying so."""
    act = DECIDERS.get(decision)
    if act is None:
        raise Http404("no such decision")
    relationship = get_object_or_404(
        visible_relationships(request.user).select_related("channel"), pk=pk
    )
    name = f"{relationship.peer or 'unknown peer'} ({relationship.external_id})"
    past = decisions.PAST[decisions.Decision(decision)]
    try:
        queued = act(relationship, user=request.user)
    except decisions.DecisionNotAllowed as exc:
        messages.error(request, f"{name}: not {past}: {exc.reason}")
    else:
        said = "queued" if queued.created else "was queued already"
        messages.success(
            request, f"{name}: {decision} {said}; the outcome shows here when it comes back."
        )
    return redirect(back_to(request, reverse("relationships_web:list")))


def back_to(request: HttpRequest, default: str) -> str:
    """The page a form came from (its ``next``), if it is one of ours."""
    wanted = request.POST.get("next", "")
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return default


# --- templates ---------------------------------------------------------------------------------


class TemplateForm(forms.Form):
    """A new own template; the view asks the Connector once the form is valid."""

    channel = forms.ModelChoiceField(queryset=Channel.objects.none(), empty_label=None)
    title = forms.CharField(max_length=templates.TITLE_MAX)
    expires_at = forms.DateTimeField(
        label="Expires",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    max_allocations = forms.IntegerField(
        label="Max. allocations",
        min_value=1,
        required=False,
        help_text="How many relationships may be made on it; empty: no limit.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        channel = cast(forms.ModelChoiceField, self.fields["channel"])
        channel.queryset = Channel.objects.visible_to(user).filter(platform=Platform.ENMESHED)
        zone = timezone.get_current_timezone_name()
        self.fields["expires_at"].help_text = f"In {zone}."

    def create(self) -> RelationshipTemplate | None:
        """Ask the Connector; its refusal (or the inbox's) becomes a form error."""
        data = self.cleaned_data
        try:
            return templates.create_template(
                channel=data["channel"],
                title=data["title"],
                expires_at=data["expires_at"],
                max_allocations=data.get("max_allocations"),
            )
        except templates.TemplateNotPossible as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.reason)
        except PlatformError as exc:
            if exc.permanent:
                self.add_error(None, f"The Connector refused: {exc}")
            else:
                self.add_error(None, f"The Connector could not be asked: {exc}. Try again later.")
        return None


@login_required
@require_http_methods(["GET", "POST"])
def template_list(request: HttpRequest) -> HttpResponse:
    """The visible templates and a form for a new own one."""
    if request.method == "POST":
        form = TemplateForm(request.POST, user=request.user)
        if form.is_valid() and (template := form.create()) is not None:
            messages.success(request, f"Template {template.external_id} created.")
            return redirect("relationships_web:template", pk=template.pk)
    else:
        form = TemplateForm(
            user=request.user,
            initial={"expires_at": timezone.localtime() + timedelta(days=30)},
        )
    found = list(
        visible_templates(request.user)
        .select_related("channel")
        .order_by("-created_at", "-id")[: TEMPLATES_SHOWN + 1]
    )
    return render(
        request,
        "relationships/templates.html",
        {
            "form": form,
            "templates": found[:TEMPLATES_SHOWN],
            "more_templates": len(found) > TEMPLATES_SHOWN,
        },
    )


@login_required
@require_GET
def template_detail(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(visible_templates(request.user).select_related("channel"), pk=pk)
    return render(
        request,
        "relationships/template.html",
        {
            "template": template,
            "fields": content_fields(template.content),
            "json": as_json(template.content),
        },
    )


@login_required
@require_GET
def template_qr(request: HttpRequest, pk: int) -> HttpResponse:
    """The template's QR code (PNG) from the Connector, for the <img> on its page."""
    template = get_object_or_404(visible_templates(request.user).select_related("channel"), pk=pk)
    try:
        png = templates.template_qr(template)
    except (templates.TemplateNotPossible, PlatformError) as exc:
        response = HttpResponse(str(exc), status=502, content_type="text/plain; charset=utf-8")
    else:
        response = HttpResponse(png, content_type="image/png")
    # Made for this request (a 1.x Connector renders a new token each time): never kept.
    response["Cache-Control"] = "private, no-store"
    return response
