from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inbox.models import Channel
from inbox.services.listening import can_listen, listening_channels, run_listener


class Command(BaseCommand):
    help = (
        "Listen to Comapi channels' websockets until SIGTERM/SIGINT, storing every frame "
        "through the way in and filling gaps after each reconnect. Without keys, every active "
        "Comapi channel with the websocket settings (re-checked every minute; idle when none)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("keys", nargs="*", metavar="CHANNEL_KEY", help="Channel keys.")

    def handle(self, *args: Any, **options: Any) -> None:
        keys: list[str] = options["keys"]
        wanted = self._keys(keys) if keys else None
        channels = listening_channels(wanted)
        if channels:
            names = ", ".join(f"{c.name} ({c.key})" for c in channels)
            self.stdout.write(f"listening to {len(channels)} channel(s): {names}")
        run_listener(wanted)

    def _keys(self, keys: list[str]) -> list[uuid.UUID]:
        wanted: list[uuid.UUID] = []
        for key in keys:
            try:
                wanted.append(uuid.UUID(key))
            except ValueError:
                raise CommandError(f"unknown channel key {key!r}") from None
        found = {channel.key: channel for channel in Channel.objects.filter(key__in=wanted)}
        unknown = [str(key) for key in wanted if key not in found]
        if unknown:
            raise CommandError(f"unknown channel key(s): {', '.join(unknown)}")
        unable = [found[key] for key in wanted if not can_listen(found[key])]
        if unable:
            raise CommandError(
                "cannot listen to "
                + ", ".join(f"{c.name} ({c.key})" for c in unable)
                + ": only active Comapi channels with api_space_id, profile_id, jwt_issuer, "
                "jwt_audience and jwt_secret set have a websocket"
            )
        return list(dict.fromkeys(wanted))
