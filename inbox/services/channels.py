"""Channels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from inbox.connectors.base import Platform
from inbox.models import Channel


def create_channel(
    *,
    platform: str,
    name: str,
    webhook_secrets: Sequence[str] = (),
    settings: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any] | None = None,
) -> Channel:
    """Create a channel. Raises ``ValueError`` for an unknown platform or a taken name."""
    if platform not in Platform.__members__.values():
        raise ValueError(f"unknown platform {platform!r}; one of {', '.join(Platform)}")
    with transaction.atomic():
        if Channel.objects.filter(platform=platform, name=name).exists():
            raise ValueError(f"a {platform} channel named {name!r} exists already")
        return Channel.objects.create(
            platform=platform,
            name=name,
            webhook_secrets=list(webhook_secrets),
            settings=dict(settings or {}),
            credentials=dict(credentials or {}),
        )
