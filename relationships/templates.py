"""Own relationship templates: created on the Connector while the user waits (a template is
only useful with its QR code, so there is nothing to queue), then stored as a row.

Connector errors leave as :class:`~inbox.connectors.outbound.PlatformError` (the API maps them);
a request the inbox refuses before calling anyone raises :class:`TemplateNotPossible`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from django.db import transaction
from django.utils import timezone

from inbox.choices import Platform
from inbox.connectors.contract import PayloadError
from inbox.connectors.outbound import PlatformError
from inbox.connectors.timestamps import parse_iso
from inbox.models import Channel
from inbox.services.channels import capabilities, client_for, remember

from .models import RelationshipTemplate

TITLE_MAX = 200


class TemplateNotPossible(Exception):
    """The inbox will not ask the Connector; the message says why (a person reads it)."""

    def __init__(self, reason: str, *, field: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


@runtime_checkable
class TemplateClient(Protocol):
    """What the enmeshed client offers for templates (beyond the outbound Client contract)."""

    def create_template(
        self, *, expires_at: datetime, content: Mapping[str, Any], max_allocations: int | None
    ) -> dict[str, Any]: ...

    def template_qr(self, template_id: str) -> bytes: ...

    def state(self) -> Mapping[str, Any]: ...

    def close(self) -> None: ...


def create_template(
    *,
    channel: Channel,
    title: str,
    expires_at: datetime,
    max_allocations: int | None = None,
    content: Mapping[str, Any] | None = None,
) -> RelationshipTemplate:
    """Create an own template on ``channel``'s Connector and store it.

    ``content`` defaults to ``{"title": title}`` (a 7.x Connector wraps untyped content as
    ``ArbitraryRelationshipTemplateContent``). Raises TemplateNotPossible (nothing was asked) or
    PlatformError (the Connector refused or could not be reached; nothing was stored).
    """
    title = title.strip()
    if not title:
        raise TemplateNotPossible("A template needs a title.", field="title")
    if len(title) > TITLE_MAX:
        raise TemplateNotPossible(f"A title has at most {TITLE_MAX} characters.", field="title")
    if timezone.is_naive(expires_at):
        raise TemplateNotPossible("expires_at needs a time zone.", field="expires_at")
    if expires_at <= timezone.now():
        raise TemplateNotPossible("expires_at must be in the future.", field="expires_at")
    if max_allocations is not None and max_allocations < 1:
        raise TemplateNotPossible(
            "max_allocations must be at least 1 (or left out).", field="max_allocations"
        )
    _check_channel(channel)
    with _client(channel) as client:
        dto = client.create_template(
            expires_at=expires_at,
            content=dict(content) if content is not None else {"title": title},
            max_allocations=max_allocations,
        )
    return _store(channel, dto, title)


def template_qr(template: RelationshipTemplate) -> bytes:
    """The template's QR code as PNG bytes, rendered by the Connector (a 1.x Connector renders
    a new token of the template each time)."""
    _check_channel(template.channel)
    with _client(template.channel) as client:
        return client.template_qr(template.external_id)


def _check_channel(channel: Channel) -> None:
    if channel.platform != Platform.ENMESHED:
        raise TemplateNotPossible("Only enmeshed channels have relationship templates.")
    able = capabilities(channel)
    if not able.decide:
        raise TemplateNotPossible(able.why_not or "The channel is not connected.")


@contextmanager
def _client(channel: Channel) -> Iterator[TemplateClient]:
    client = client_for(channel)
    try:
        if not isinstance(client, TemplateClient):
            raise TemplateNotPossible("This channel's client cannot make templates.")
        yield client
    finally:
        remember(channel, client.state())
        client.close()


def _store(channel: Channel, dto: Mapping[str, Any], title: str) -> RelationshipTemplate:
    external_id = dto.get("id")
    if not isinstance(external_id, str) or not external_id.startswith("RLT"):
        raise PlatformError(
            "the Connector's template has no id", permanent=False, code="invalid_response"
        )
    limit = dto.get("maxNumberOfAllocations", dto.get("maxNumberOfRelationships"))
    created_by = dto.get("createdBy")
    values: dict[str, Any] = {
        "title": title,
        "is_own": dto.get("isOwn", True) is not False,
        "created_by": created_by[:255] if isinstance(created_by, str) else "",
        "created_at": _time(dto.get("createdAt")) or timezone.now(),
        "expires_at": _time(dto.get("expiresAt")),
        "content": dto.get("content"),
        "max_allocations": limit
        if isinstance(limit, int) and not isinstance(limit, bool)
        else None,
    }
    with transaction.atomic():
        # A relationship made on it may have brought the id in first (a bare 7.x templateId).
        template, created = RelationshipTemplate.objects.get_or_create(
            channel=channel, external_id=external_id, defaults=values
        )
        if not created:
            for field, value in values.items():
                setattr(template, field, value)
            template.save(update_fields=list(values))
    return template


def _time(value: Any) -> datetime | None:
    try:
        return parse_iso(value)
    except PayloadError:
        return None
