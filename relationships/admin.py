"""Relationships are written by the way in: read-only here. Decisions are admin actions calling
the services (``relationships.decisions``), carried out by the outbound worker; own templates are
added through ``relationships.templates``, which asks the Connector at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from inbox.admin import ReadOnlyAdmin, ReadOnlyTabularInline, pretty_json
from inbox.connectors.outbound import PlatformError
from inbox.models import Channel

from . import decisions, templates
from .models import Relationship, RelationshipChange, RelationshipStatus, RelationshipTemplate

SHOWN_VALUE_CHARS = 500


def content_fields(content: Any) -> SafeString | str:
    """The fields of a creation or template content as a table (escaped): a 7.x typed content
    shows its ``value``, a 1.x one its ``attributes`` (name → value), anything else its keys."""
    rows: list[tuple[str, str]] = []
    body = content
    if isinstance(content, dict) and isinstance(content.get("value"), dict):
        body = content["value"]
    if isinstance(body, dict) and isinstance(body.get("attributes"), list):
        rows = [
            (str(item.get("name", "")), _short(item.get("value")))
            for item in body["attributes"]
            if isinstance(item, dict)
        ]
    elif isinstance(body, dict):
        rows = [(str(key), _short(value)) for key, value in body.items() if key != "@type"]
    if not rows:
        return "—"
    kind = content.get("@type") if isinstance(content, dict) else None
    caption = format_html("<caption>{}</caption>", kind) if isinstance(kind, str) else ""
    return format_html(
        "<table>{}{}</table>",
        caption,
        format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
    )


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value) if value is not None else ""
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 1] + "…"


class RelationshipChangeInline(ReadOnlyTabularInline):
    model = RelationshipChange
    fields = (
        "external_id",
        "type",
        "status",
        "requested_by",
        "requested_at",
        "request_content",
        "response",
    )


def _decision_action(decision: decisions.Decision) -> Callable[..., None]:
    def act(
        modeladmin: RelationshipAdmin, request: HttpRequest, queryset: QuerySet[Relationship]
    ) -> None:
        modeladmin.decide(request, queryset, decision)

    act.__name__ = str(decision)
    description = {
        decisions.Decision.ACCEPT: "Accept the selected incoming requests",
        decisions.Decision.REJECT: "Reject the selected incoming requests",
        decisions.Decision.REVOKE: "Revoke the selected requests of ours",
        decisions.Decision.TERMINATE: "Terminate the selected active relationships (7.x)",
    }[decision]
    return admin.action(description=description, permissions=["decide"])(act)


@admin.register(Relationship)
class RelationshipAdmin(ReadOnlyAdmin):
    list_display = (
        "external_id",
        "peer",
        "direction",
        "status",
        "decision_outcome",
        "channel",
        "platform_updated_at",
        "decided_by",
    )
    list_filter = ("status", "direction", "channel")
    search_fields = ("external_id", "peer")
    list_select_related = ("channel", "decided_by")
    # Pending first: they wait for someone's decision. (Django takes expressions here; the
    # stubs know only field names.)
    ordering = (  # type: ignore[assignment]
        Case(
            When(status=RelationshipStatus.PENDING, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        ).asc(),
        "-platform_updated_at",
        "-id",
    )
    fieldsets = (
        (None, {"fields": ("channel", "external_id", "peer", "direction", "status", "template")}),
        ("Creation content", {"fields": ("creation_content_fields", "creation_content_json")}),
        (
            "Decision",
            {
                "fields": (
                    "allowed_decisions",
                    "decision",
                    "decided_by",
                    "decided_at",
                    "decision_outcome",
                )
            },
        ),
        (
            "From the platform",
            {
                "classes": ("collapse",),
                "fields": (
                    "peer_public_key",
                    "audit_log_json",
                    "peer_deletion_json",
                    "revision",
                    "platform_updated_at",
                    "created_at",
                    "updated_at",
                ),
            },
        ),
    )
    readonly_fields = (
        "creation_content_fields",
        "creation_content_json",
        "allowed_decisions",
        "audit_log_json",
        "peer_deletion_json",
        "created_at",
        "updated_at",
    )
    inlines = (RelationshipChangeInline,)
    actions = tuple(_decision_action(decision) for decision in decisions.Decision)

    def has_decide_permission(self, request: HttpRequest) -> bool:
        # Rows stay read-only; deciding is what "change" means for a relationship.
        return request.user.has_perm("relationships.change_relationship")

    def decide(
        self,
        request: HttpRequest,
        queryset: QuerySet[Relationship],
        decision: decisions.Decision,
    ) -> None:
        """One message per row: queued, already queued, or why not."""
        for relationship in queryset.select_related("channel"):
            name = f"{relationship.external_id} ({relationship.peer or 'unknown peer'})"
            try:
                queued = decisions.decide(relationship, decision, user=request.user)
            except decisions.DecisionNotAllowed as exc:
                self.message_user(
                    request,
                    f"{name}: not {decisions.PAST[decision]}: {exc.reason}",
                    messages.WARNING,
                )
                continue
            said = "queued" if queued.created else "was queued already"
            self.message_user(request, f"{name}: {decision} {said}.", messages.SUCCESS)

    @admin.display(description="Fields")
    def creation_content_fields(self, obj: Relationship) -> SafeString | str:
        return content_fields(obj.creation_content)

    @admin.display(description="As sent (JSON)")
    def creation_content_json(self, obj: Relationship) -> str:
        return pretty_json(obj.creation_content)

    @admin.display(description="Can be")
    def allowed_decisions(self, obj: Relationship) -> str:
        allowed = decisions.allowed_decisions(obj)
        return ", ".join(decisions.PAST[d] for d in allowed) if allowed else "—"

    @admin.display(description="Audit log")
    def audit_log_json(self, obj: Relationship) -> str:
        return pretty_json(obj.audit_log)

    @admin.display(description="Peer deletion")
    def peer_deletion_json(self, obj: Relationship) -> str:
        return pretty_json(obj.peer_deletion)


# --- templates ---------------------------------------------------------------------------------


class TemplateAddForm(forms.ModelForm):
    """Asks the Connector for the template when valid, so that a refusal is a form error."""

    class Meta:
        model = RelationshipTemplate
        fields = ("channel", "title", "expires_at", "max_allocations")
        help_texts = {
            "max_allocations": "How many relationships may be made on it; empty: no limit.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the add page has fields: a template's own page is read-only.
        for name in ("title", "expires_at"):
            if name in self.fields:
                self.fields[name].required = True
        self.created: RelationshipTemplate | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or not all(data.get(f) for f in ("channel", "title", "expires_at")):
            return data
        try:
            self.created = templates.create_template(
                channel=data["channel"],
                title=data["title"],
                expires_at=data["expires_at"],
                max_allocations=data.get("max_allocations"),
            )
        except templates.TemplateNotPossible as exc:
            if exc.field in self.fields:
                self.add_error(exc.field, exc.reason)
            else:
                raise forms.ValidationError(exc.reason) from exc
        except PlatformError as exc:
            if exc.permanent:
                raise forms.ValidationError(f"The Connector refused: {exc}") from exc
            raise forms.ValidationError(
                f"The Connector could not be asked: {exc}. Try again later."
            ) from exc
        return data


TEMPLATE_FIELDS = (
    "channel",
    "external_id",
    "title",
    "is_own",
    "created_by",
    "created_at",
    "expires_at",
    "max_allocations",
    "qr_code",
    "content_table",
    "content_json",
)


@admin.register(RelationshipTemplate)
class RelationshipTemplateAdmin(admin.ModelAdmin):
    """Listed and viewed like the way in's rows; an own template can be added (on the
    Connector, at once) and its QR code is shown on its page."""

    form = TemplateAddForm
    list_display = (
        "external_id",
        "title",
        "channel",
        "is_own",
        "created_by",
        "created_at",
        "expires_at",
        "max_allocations",
    )
    list_filter = ("is_own", "channel")
    search_fields = ("external_id", "title", "created_by")
    list_select_related = ("channel",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return TemplateAddForm.Meta.fields if obj is None else TEMPLATE_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else TEMPLATE_FIELDS

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {
            "expires_at": timezone.now() + timedelta(days=30),
            **super().get_changeform_initial_data(request),
        }

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "channel":
            kwargs["queryset"] = Channel.objects.visible_to(request.user).filter(
                platform="enmeshed"
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # The form's clean() made it through the service: the admin goes on with that row.
        created = form.created
        for field in RelationshipTemplate._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        response = super().response_add(request, obj, post_url_continue)
        if "_addanother" in request.POST:
            return response
        # Straight to its page: the QR code is what one adds a template for.
        return HttpResponseRedirect(
            reverse("admin:relationships_relationshiptemplate_change", args=[obj.pk])
        )

    def get_urls(self) -> list[URLPattern]:
        qr = path(
            "<path:object_id>/qr.png",
            self.admin_site.admin_view(self.qr_view),
            name="relationships_relationshiptemplate_qr",
        )
        return [qr, *super().get_urls()]

    def qr_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The template's QR code (PNG) from the Connector, for the <img> on its page."""
        template = self.get_object(request, unquote(object_id))
        if template is None or not self.has_view_permission(request, template):
            raise Http404("no such template")
        try:
            png = templates.template_qr(template)
        except (templates.TemplateNotPossible, PlatformError) as exc:
            return HttpResponse(str(exc), status=502, content_type="text/plain; charset=utf-8")
        response = HttpResponse(png, content_type="image/png")
        response["Cache-Control"] = "private, no-store"
        return response

    @admin.display(description="QR code")
    def qr_code(self, obj: RelationshipTemplate) -> SafeString | str:
        if not obj.is_own:
            return "Only our own templates have a QR code here."
        source = reverse("admin:relationships_relationshiptemplate_qr", args=[obj.pk])
        return format_html(
            '<img src="{}" alt="QR code of {}" width="240" height="240" '
            'style="image-rendering: pixelated">',
            source,
            obj.external_id,
        )

    @admin.display(description="Content fields")
    def content_table(self, obj: RelationshipTemplate) -> SafeString | str:
        return content_fields(obj.content)

    @admin.display(description="Content (JSON)")
    def content_json(self, obj: RelationshipTemplate) -> str:
        return pretty_json(obj.content)


@admin.register(RelationshipChange)
class RelationshipChangeAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "relationship", "type", "status", "requested_by", "requested_at")
    list_filter = ("type", "status")
    search_fields = ("external_id", "relationship__external_id", "requested_by")
    list_select_related = ("relationship",)
