"""Channels: creating them, changing their settings and secrets, finding them for webhooks."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

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


# --- the channel a webhook URL names -------------------------------------------------------------

# Looked up on every delivery: kept in this process for a few seconds, secrets decrypted once.
# A change to a channel reaches other processes within this time; this one's at once.
WEBHOOK_CHANNEL_SECONDS = 5.0
_webhook_channels: dict[tuple[str, str], tuple[float, Channel | None]] = {}


def webhook_channel(*, platform: str, key: str) -> Channel | None:
    """The active ``platform`` channel with webhook key ``key``, or None. Raises
    ``DatabaseError`` when the database cannot answer."""
    now = time.monotonic()
    known = _webhook_channels.get((platform, key))
    if known is not None and known[0] > now:
        return known[1]
    channel = Channel.objects.filter(key=key, platform=platform, is_active=True).first()
    _webhook_channels[(platform, key)] = (now + WEBHOOK_CHANNEL_SECONDS, channel)
    return channel


@receiver([post_save, post_delete], sender=Channel)
def _forget_webhook_channels(**_: Any) -> None:
    _webhook_channels.clear()
