"""Channels: creating them and changing their settings and secrets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from inbox.choices import Platform
from inbox.models import Channel


def create_channel(
    *,
    platform: str,
    name: str,
    webhook_secrets: Sequence[str] = (),
    settings: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Channel:
    """Create a channel; ``fields`` sets other plain fields (is_active, poll_interval…).

    Raises ``ValueError`` for an unknown platform or a taken name.
    """
    if platform not in Platform.__members__.values():
        raise ValueError(f"unknown platform {platform!r}; one of {', '.join(Platform)}")
    with transaction.atomic():
        if Channel.objects.filter(platform=platform, name=name).exists():
            raise ValueError(f"a {platform} channel named {name!r} exists already")
        return Channel.objects.create(
            platform=platform,
            name=name,
            webhook_secrets=[s for s in webhook_secrets if s],
            settings=dict(settings or {}),
            credentials=dict(credentials or {}),
            **fields,
        )


def update_channel(
    *,
    channel: Channel,
    webhook_secrets: Sequence[str] | None = None,
    credentials: Mapping[str, str] | None = None,
    **fields: Any,
) -> Channel:
    """Change a channel. Secrets are write-only: ``webhook_secrets`` replaces the list when
    given (``None`` keeps it); ``credentials`` merges into the stored ones, an empty value
    removing its key. Other keyword arguments set plain fields (name, settings, is_active…).
    Raises ``ValueError`` when the new name is taken on the platform.
    """
    with transaction.atomic():
        name = fields.get("name", channel.name)
        taken = Channel.objects.filter(platform=channel.platform, name=name).exclude(pk=channel.pk)
        if taken.exists():
            raise ValueError(f"a {channel.platform} channel named {name!r} exists already")
        for field, value in fields.items():
            setattr(channel, field, value)
        if webhook_secrets is not None:
            channel.webhook_secrets = [s for s in webhook_secrets if s]
        if credentials:
            merged = dict(channel.credentials or {})
            for key, value in credentials.items():
                if value:
                    merged[key] = value
                else:
                    merged.pop(key, None)
            channel.credentials = merged
        channel.save()
    return channel
