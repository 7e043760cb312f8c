"""Channels: creating them, changing their settings and secrets, finding them for webhooks."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from inbox.choices import Platform
from inbox.connectors.contract import Capabilities
from inbox.connectors.outbound import Client, ClientConfig, PlatformError
from inbox.connectors.registry import get_connector
from inbox.connectors.settings import read_settings
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
    """Create a channel; ``fields`` sets other plain fields (is_active…).

    ``settings`` and ``credentials`` are read together against the platform's declared settings
    (:data:`Connector.SETTINGS`): secret ones are stored encrypted whichever of the two named
    them. Raises ``ValueError`` for an unknown platform, a taken name, or settings that are
    unknown, missing or unreadable (nothing is saved then).
    """
    if platform not in Platform.__members__.values():
        raise ValueError(f"unknown platform {platform!r}; one of {', '.join(Platform)}")
    read = read_settings(
        get_connector(platform).SETTINGS,
        {**(credentials or {}), **(settings or {})},
        platform=platform,
    )
    with transaction.atomic():
        if Channel.objects.filter(platform=platform, name=name).exists():
            raise ValueError(f"a {platform} channel named {name!r} exists already")
        return Channel.objects.create(
            platform=platform,
            name=name,
            webhook_secrets=[s for s in webhook_secrets if s],
            settings=read.plain,
            credentials=read.secret,
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
    removing its key. Other keyword arguments set plain fields (name, settings, is_active…);
    ``settings`` replaces the plain settings. Raises ``ValueError`` when the new name is taken on
    the platform or a setting is unknown or unreadable.
    """
    declared = get_connector(channel.platform).SETTINGS
    if "settings" in fields:
        read = read_settings(
            declared, fields["settings"] or {}, platform=channel.platform, partial=True
        )
        if read.secret:
            raise ValueError(f"secret settings go with the credentials: {', '.join(read.secret)}")
        missing = [
            s.name for s in declared if s.required and not s.secret and s.name not in read.plain
        ]
        if missing:
            raise ValueError(f"missing {channel.platform} setting(s): {', '.join(missing)}")
        fields["settings"] = read.plain
    if credentials:
        given = {key: value for key, value in credentials.items() if value}
        read = read_settings(declared, given, platform=channel.platform, partial=True)
        if read.plain:
            raise ValueError(f"not secret, so not credentials: {', '.join(read.plain)}")
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


def capabilities(channel: Channel) -> Capabilities:
    """What ``channel`` can do on the way out (its platform's answer for its settings)."""
    secrets = channel.credentials if isinstance(channel.credentials, dict) else {}
    return get_connector(channel.platform).capabilities(
        settings=channel.settings or {}, secrets={k for k, v in secrets.items() if v}
    )


def own_addresses(channel: Channel) -> set[str]:
    """The addresses under which the channel itself appears in its conversations."""
    settings = channel.settings or {}
    learned = channel.learned or {}
    candidates = (
        settings.get("address"),
        settings.get("sender_id"),
        settings.get("profile_id"),
        learned.get("address"),
    )
    return {value for value in candidates if isinstance(value, str) and value}


def webhook_secrets(channel: Channel) -> list[str]:
    """The secrets that authenticate the channel's webhooks: its own, else the credentials its
    platform signs webhooks with (``Setting.signs_webhooks``). Raises nothing for unreadable
    secrets: the caller checks ``Unreadable`` first."""
    if channel.webhook_secrets:
        return list(channel.webhook_secrets)
    credentials = channel.credentials if isinstance(channel.credentials, dict) else {}
    signing = (s.name for s in get_connector(channel.platform).SETTINGS if s.signs_webhooks)
    return [str(credentials[name]) for name in signing if credentials.get(name)]


def client_for(channel: Channel) -> Client:
    """The platform client of ``channel``, built from its settings, decrypted credentials and
    what was learnt from the platform before (see :func:`remember`)."""
    credentials = channel.credentials if isinstance(channel.credentials, dict) else {}
    return get_connector(channel.platform).make_client(
        config=ClientConfig(
            settings=channel.settings or {},
            credentials={k: str(v) for k, v in credentials.items()},
            state=channel.learned or {},
        )
    )


def remember(channel: Channel, learned: Mapping[str, Any]) -> None:
    """Keep facts a client learnt (the detected API generation, our own address)."""
    merged = {**(channel.learned or {}), **learned}
    if merged != channel.learned:
        channel.learned = merged
        Channel.objects.filter(pk=channel.pk).update(learned=merged)


def note_answer(channel: Channel, error: PlatformError | None = None) -> None:
    """Keep whether the platform refused the channel's credentials, so the admin
    and /ops/ show the channel in error instead of its calls failing one by one; any call the
    platform answers otherwise clears it."""
    refused = error is not None and error.credentials
    if refused:
        text = f"The platform refused the channel's credentials: {error}"[:2000]
        channel.credentials_error, channel.credentials_error_at = text, timezone.now()
    elif error is None and channel.credentials_error:
        channel.credentials_error, channel.credentials_error_at = "", None
    else:
        return
    Channel.objects.filter(pk=channel.pk).update(
        credentials_error=channel.credentials_error,
        credentials_error_at=channel.credentials_error_at,
    )


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
