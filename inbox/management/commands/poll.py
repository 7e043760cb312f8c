from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inbox import inbound
from inbox.models import Channel
from inbox.services.polling import PollResult, poll_channel, pollable, pollable_channels


class Command(BaseCommand):
    help = (
        "Poll channels now, in this process (all pollable channels when no key is given), "
        "process the events the polls stored, and print what each poll found."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("keys", nargs="*", metavar="CHANNEL_KEY", help="Channel keys.")

    def handle(self, *args: Any, **options: Any) -> None:
        keys: list[str] = options["keys"]
        channels = self._channels(keys) if keys else pollable_channels()
        if not channels:
            self.stdout.write("no channel to poll")
            return
        failed = 0
        for channel in channels:
            if not pollable(channel):
                self.stdout.write(f"{channel.name} ({channel.key}): not polled, polling is off")
                continue
            result = poll_channel(channel)
            failed += bool(result.error) and not result.skipped
            self._report(result)
        counts = inbound.process_due_events()
        summary = ", ".join(f"{counts[s]} {s}" for s in ("processed", "ignored", "failed"))
        self.stdout.write(f"{counts.total()} events processed: {summary}")
        if failed:
            raise CommandError(f"{failed} of {len(channels)} polls failed")

    def _channels(self, keys: list[str]) -> list[Channel]:
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
        return [found[key] for key in dict.fromkeys(wanted)]

    def _report(self, result: PollResult) -> None:
        who = f"{result.channel.name} ({result.channel.key})"
        if result.skipped:
            self.stdout.write(f"{who}: skipped, {result.error}")
        elif result.error:
            self.stderr.write(f"{who}: poll failed: {result.error}")
        else:
            self.stdout.write(
                f"{who}: {result.messages} messages, {result.relationships} relationships, "
                f"{result.new_events} new events"
            )
