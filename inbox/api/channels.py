"""Staff only: the channels — create, change, disable, poll now, and how each one is doing.

Secrets (credentials, webhook secrets) are write-only: an answer names the stored credentials
and counts the webhook secrets, never shows a value, and an error never repeats one. The
checks are the services' (the same as ``add_channel`` and the admin); this module only says
which input field an error is about.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import django_filters
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from inbox import services
from inbox.choices import Platform, labelled
from inbox.connectors.registry import get_connector
from inbox.connectors.settings import read_settings
from inbox.models import Channel
from inbox.ops import stats
from inbox.services.channels import capabilities
from inbox.services.polling import CannotPoll, pollable, queue_poll

from .errors import Conflict, ErrorSerializer
from .filters import PLATFORMS
from .permissions import IsStaff

User = get_user_model()

# Room for any platform's keys and tokens, and a bound on what a request makes us encrypt.
MAX_SECRET_LENGTH = 8192
HIDDEN = "(hidden)"


# --- answers -------------------------------------------------------------------------------------


class ChannelCapabilitiesSerializer(serializers.Serializer):
    """What the channel can do on the way out (its platform's answer for its settings)."""

    reply = serializers.BooleanField()
    why_not = serializers.CharField(help_text="Why it cannot reply, where a person would ask.")
    files = serializers.BooleanField()
    max_file_size = serializers.IntegerField(help_text="Bytes; 0 without files.")
    file_types = serializers.ListField(
        child=serializers.CharField(), help_text="The media types it takes; empty: any."
    )
    max_files = serializers.IntegerField(help_text="Per message; 0 for no limit.")
    text_with_files = serializers.BooleanField(help_text="False: a text or files, not both.")
    inline_files = serializers.BooleanField()
    max_text_length = serializers.IntegerField(help_text="Characters; 0 for no limit.")
    subject = serializers.BooleanField()
    read_receipts = serializers.BooleanField()
    typing = serializers.BooleanField()
    close = serializers.BooleanField()
    start = serializers.BooleanField(help_text="Can open a new conversation (for a consumer).")
    poll = serializers.BooleanField()
    decide = serializers.BooleanField(help_text="Relationship decisions (enmeshed).")


class ChannelSerializer(serializers.ModelSerializer):
    """A channel as staff see it: settings in the clear, secrets only named and counted."""

    webhook_url = serializers.SerializerMethodField()
    credential_names = serializers.SerializerMethodField()
    webhook_secret_count = serializers.SerializerMethodField()
    members: Any = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    capabilities = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = (
            "id",
            "platform",
            "name",
            "key",
            "webhook_url",
            "settings",
            "credential_names",
            "webhook_secret_count",
            "is_active",
            "members",
            "credentials_error",
            "credentials_error_at",
            "created_at",
            "capabilities",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_webhook_url(self, channel: Channel) -> str:
        """Where the platform delivers (``PUBLIC_BASE_URL`` and the channel's path)."""
        return django_settings.PUBLIC_BASE_URL.rstrip("/") + channel.webhook_path()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_credential_names(self, channel: Channel) -> list[str]:
        """The names of the stored credentials, sorted (never their values)."""
        stored = channel.credentials if isinstance(channel.credentials, dict) else {}
        return sorted(name for name, value in stored.items() if value)

    @extend_schema_field(OpenApiTypes.INT)
    def get_webhook_secret_count(self, channel: Channel) -> int:
        stored = channel.webhook_secrets
        return len(stored) if isinstance(stored, list) else 0

    @extend_schema_field(ChannelCapabilitiesSerializer)
    def get_capabilities(self, channel: Channel) -> dict[str, Any]:
        return ChannelCapabilitiesSerializer(dataclasses.asdict(capabilities(channel))).data


# --- input ---------------------------------------------------------------------------------------


def _secret_text() -> serializers.CharField:
    # Kept exactly as given: a secret's spaces are part of it. DRF's messages for a wrong one
    # ("Not a valid string.") never repeat the value.
    return serializers.CharField(
        allow_blank=True, trim_whitespace=False, max_length=MAX_SECRET_LENGTH
    )


class _ChannelInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    settings = serializers.DictField(
        required=False,
        help_text="The platform's plain settings by name (its declared ones: an unknown or "
        "missing one is refused with the list of valid ones).",
    )
    credentials = serializers.DictField(
        child=_secret_text(),
        required=False,
        write_only=True,
        help_text="Secret settings by name (API keys, client secrets), stored encrypted.",
    )
    webhook_secrets = serializers.ListField(
        child=_secret_text(),
        required=False,
        write_only=True,
        max_length=20,
        help_text="Any of these authenticates a webhook (several while rotating).",
    )
    is_active = serializers.BooleanField(required=False)
    members = serializers.PrimaryKeyRelatedField(
        many=True,
        required=False,
        queryset=User.objects.all(),
        help_text="The users (ids) who see the channel's conversations.",
    )


class ChannelCreateSerializer(_ChannelInput):
    # The model's choices: one platform enum in the schema, for the answer and the input.
    platform = serializers.ChoiceField(choices=labelled(Platform))


class ChannelUpdateSerializer(_ChannelInput):
    """Only what is given changes. ``credentials`` merge into the stored ones (an empty value
    removes its name); ``webhook_secrets`` replace the list; ``settings`` replace the plain
    settings; ``members`` replace the members."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "platform" in self.initial_data:
            raise serializers.ValidationError(
                {"platform": ["A channel's platform cannot change: create another channel."]}
            )
        return attrs


# --- other answers -------------------------------------------------------------------------------


class ChannelPollQueuedSerializer(serializers.Serializer):
    channel = serializers.IntegerField()
    due_at = serializers.DateTimeField(help_text="When the poll was made due (now).")
    last_poll_at = serializers.DateTimeField(allow_null=True)
    last_poll_error = serializers.CharField(help_text="Why the last poll failed, if it did.")


class ChannelLastErrorSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["inbound_event", "credentials"],
        help_text="A failed inbound event, or the platform refusing the credentials.",
    )
    error = serializers.CharField()
    at = serializers.DateTimeField(
        allow_null=True, help_text="When the failed event was received, or the refusal noted."
    )


class ChannelBacklogSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    failed = serializers.IntegerField()
    retrying = serializers.IntegerField(help_text="Of the failed ones, due to be tried again.")
    oldest_pending_at = serializers.DateTimeField(allow_null=True)


class ChannelOutboundSerializer(serializers.Serializer):
    queued = serializers.IntegerField()
    failed = serializers.IntegerField()


class ChannelHealthSerializer(serializers.Serializer):
    last_webhook_at = serializers.DateTimeField(allow_null=True)
    last_poll_at = serializers.DateTimeField(allow_null=True)
    last_poll_error = serializers.CharField()
    next_poll_at = serializers.DateTimeField(
        allow_null=True, help_text="Null when the channel is not polled."
    )
    last_error = ChannelLastErrorSerializer(allow_null=True, help_text="The newest error.")
    backlog = ChannelBacklogSerializer(help_text="Inbound events still to process.")
    outbound = ChannelOutboundSerializer(help_text="Commands to the platform.")


class ChannelListFilter(django_filters.FilterSet):
    platform = django_filters.ChoiceFilter(choices=PLATFORMS)

    class Meta:
        model = Channel
        fields = ("platform", "is_active")


# --- the views -----------------------------------------------------------------------------------

CANNOT_POLL = OpenApiResponse(
    ErrorSerializer, "The channel is disabled or cannot poll (`capabilities.poll` is false)."
)


class ChannelViewSet(viewsets.GenericViewSet):
    """Staff only: every channel, ordered by platform and name."""

    serializer_class = ChannelSerializer
    permission_classes = (IsStaff,)
    filterset_class = ChannelListFilter

    def get_serializer_class(self) -> Any:
        # The browsable API's forms: the input of the write being offered.
        if self.request is not None and self.request.method == "POST" and not self.detail:
            return ChannelCreateSerializer
        if self.request is not None and self.request.method == "PATCH":
            return ChannelUpdateSerializer
        return ChannelSerializer

    def get_queryset(self) -> QuerySet[Channel]:
        if getattr(self, "swagger_fake_view", False):  # the schema's generation: no user
            return Channel.objects.none()
        return Channel.objects.visible_to(self.request.user).prefetch_related(
            Prefetch("members", User.objects.only("id").order_by("id"))
        )

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ChannelSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: Any = None) -> Response:
        return Response(ChannelSerializer(self.get_object()).data)

    @extend_schema(request=ChannelCreateSerializer, responses={201: ChannelSerializer})
    def create(self, request: Request) -> Response:
        """Create a channel, checked like ``add_channel``: 400 names the field at fault."""
        form = ChannelCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        platform = data["platform"]
        secret = _secret_values(platform, data)
        with transaction.atomic():
            _check_credentials(platform, data.get("credentials") or {}, secret)
            try:
                channel = services.create_channel(
                    platform=platform,
                    name=data["name"],
                    webhook_secrets=data.get("webhook_secrets", ()),
                    settings=data.get("settings") or {},
                    credentials=data.get("credentials") or {},
                    **({"is_active": data["is_active"]} if "is_active" in data else {}),
                )
            except ValueError as exc:
                raise _refused(exc, _create_field(exc, platform, data), secret) from None
            if "members" in data:
                channel.members.set(data["members"])
        return Response(self._answer(channel.pk), status=201)

    @extend_schema(request=ChannelUpdateSerializer, responses={200: ChannelSerializer})
    def partial_update(self, request: Request, pk: Any = None) -> Response:
        """Change what is given; secrets stay write-only (see the input's fields)."""
        form = ChannelUpdateSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        with transaction.atomic():
            channel = self._locked(pk)  # changes in turn: credentials merge into the latest
            secret = _secret_values(channel.platform, data)
            credentials = data.get("credentials")
            if credentials:
                _check_credentials(
                    channel.platform, {k: v for k, v in credentials.items() if v}, secret
                )
            fields = {
                name: data[name] for name in ("name", "settings", "is_active") if name in data
            }
            try:
                services.update_channel(
                    channel=channel,
                    webhook_secrets=data.get("webhook_secrets"),
                    credentials=credentials,
                    **fields,
                )
            except ValueError as exc:
                raise _refused(exc, _update_field(exc), secret) from None
            if "members" in data:
                channel.members.set(data["members"])
        return Response(self._answer(channel.pk))

    @extend_schema(request=None, responses={200: ChannelSerializer})
    def destroy(self, request: Request, pk: Any = None) -> Response:
        """Disable the channel (``is_active`` false): nothing is deleted — its conversations
        and audit trail stay, and PATCH ``is_active`` enables it again. Its webhooks are
        refused and it is no longer polled."""
        with transaction.atomic():
            channel = self._locked(pk)
            if channel.is_active:
                services.update_channel(channel=channel, is_active=False)
        return Response(self._answer(channel.pk))

    @extend_schema(request=None, responses={202: ChannelPollQueuedSerializer, 409: CANNOT_POLL})
    @action(detail=True, methods=["post"])
    def poll(self, request: Request, pk: Any = None) -> Response:
        """Poll the channel soon: its poll is made due now and a worker runs it like any
        scheduled poll (one at a time per channel). 409 where it cannot poll."""
        channel = get_object_or_404(Channel.objects.visible_to(request.user), pk=pk)
        try:
            cursor = queue_poll(channel)
        except CannotPoll as exc:
            raise Conflict(str(exc)) from exc
        answer = {
            "channel": channel.pk,
            "due_at": cursor.next_attempt_at,
            "last_poll_at": cursor.last_polled_at,
            "last_poll_error": cursor.error,
        }
        return Response(ChannelPollQueuedSerializer(answer).data, status=202)

    @extend_schema(request=None, responses=ChannelHealthSerializer)
    @action(detail=True, methods=["get"])
    def health(self, request: Request, pk: Any = None) -> Response:
        """How the channel is doing: the way in (webhooks, polls, backlog), the newest error and
        the way out's queue — the figures of the operations page."""
        try:
            health = stats.channel_health(int(pk))
        except (TypeError, ValueError):
            health = None
        if health is None:
            raise Http404("No such channel.")
        return Response(ChannelHealthSerializer(_health(health)).data)

    # --- helpers -------------------------------------------------------------------------------

    def _locked(self, pk: Any) -> Channel:
        return get_object_or_404(
            Channel.objects.visible_to(self.request.user).select_for_update(), pk=pk
        )

    def _answer(self, pk: int) -> Any:
        """The channel as stored now (its members fetched again after a change)."""
        return ChannelSerializer(self.get_queryset().get(pk=pk)).data


def _health(health: stats.ChannelHealth) -> dict[str, Any]:
    channel, cursor = health.channel, health.poll
    errors = [
        ("inbound_event", health.last_error, health.last_error_at),
        ("credentials", channel.credentials_error, channel.credentials_error_at),
    ]
    # The newest of the two kinds (an error without a time counts as oldest).
    found = [e for e in errors if e[1]]
    newest = max(found, key=lambda e: e[2].timestamp() if e[2] else 0, default=None)
    return {
        "last_webhook_at": health.last_webhook_at,
        "last_poll_at": cursor.last_polled_at if cursor else None,
        "last_poll_error": cursor.error if cursor else "",
        "next_poll_at": cursor.next_attempt_at if cursor and pollable(channel) else None,
        "last_error": dict(zip(("kind", "error", "at"), newest, strict=True)) if newest else None,
        "backlog": {
            "pending": health.pending,
            "failed": health.failed,
            "retrying": health.retrying,
            "oldest_pending_at": health.oldest_pending_at,
        },
        "outbound": {
            "queued": health.outbound.get("queued", 0),
            "failed": health.outbound.get("failed", 0),
        },
    }


# --- which field an error is about, said without a secret ---------------------------------------


def _secret_values(platform: str, data: Mapping[str, Any]) -> list[Any]:
    """Every value of the input that is a secret: never to appear in an answer."""
    declared = {s.name for s in get_connector(platform).SETTINGS if s.secret}
    given = [*(data.get("credentials") or {}).values(), *data.get("webhook_secrets", ())]
    given += [v for k, v in (data.get("settings") or {}).items() if k in declared]
    return [value for value in given if value not in ("", None)]


def _check_credentials(platform: str, credentials: Mapping[str, Any], secret: list[Any]) -> None:
    """The credentials read on their own, so that an error in them names ``credentials`` (the
    services read them together with the settings)."""
    try:
        read_settings(
            get_connector(platform).SETTINGS, credentials, platform=platform, partial=True
        )
    except ValueError as exc:
        raise _refused(exc, "credentials", secret) from None


# The services say what is wrong in a ValueError's words (the same for add_channel and the
# admin); the few kinds of message they have tell which input field it is about.
def _create_field(exc: ValueError, platform: str, data: Mapping[str, Any]) -> str:
    message = str(exc)
    if message.startswith("unknown platform"):
        return "platform"
    if message.endswith("exists already"):
        return "name"
    if message.startswith("missing"):
        given = {**(data.get("credentials") or {}), **(data.get("settings") or {})}
        missing = [
            s for s in get_connector(platform).SETTINGS if s.required and s.name not in given
        ]
        if missing and all(s.secret for s in missing):
            return "credentials"
    return "settings"  # the credentials were read on their own before: the rest is settings


def _update_field(exc: ValueError) -> str:
    message = str(exc)
    if message.endswith("exists already"):
        return "name"
    if message.startswith("not secret"):
        return "credentials"
    return "settings"


def _refused(exc: ValueError, field: str, secret: Iterable[Any]) -> ValidationError:
    """The service's message under ``field``, with any secret of the input it quotes hidden."""
    message = str(exc)
    for value in secret:
        message = message.replace(repr(value), HIDDEN)
        if isinstance(value, str) and len(value) >= 4:
            message = message.replace(value, HIDDEN)
    return ValidationError({field: [message]})
