from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inbox import services
from inbox.choices import Platform


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CommandError(f"{option} takes KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


class Command(BaseCommand):
    help = "Create a channel and print its key and webhook URL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("platform", choices=[p.value for p in Platform])
        parser.add_argument("name")
        parser.add_argument(
            "--webhook-secret",
            action="append",
            default=[],
            dest="secrets",
            help="A secret that authenticates webhooks (repeat to rotate).",
        )
        parser.add_argument(
            "--setting",
            action="append",
            default=[],
            help="KEY=VALUE, one of the platform's settings (secret ones are stored encrypted); "
            "a wrong or missing one is refused with the list of valid ones.",
        )
        parser.add_argument(
            "--credential",
            action="append",
            default=[],
            help="KEY=VALUE, a secret setting (the same as --setting for those).",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            channel = services.create_channel(
                platform=options["platform"],
                name=options["name"],
                webhook_secrets=options["secrets"],
                settings=_pairs(options["setting"], "--setting"),
                credentials=_pairs(options["credential"], "--credential"),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        url = settings.PUBLIC_BASE_URL.rstrip("/") + channel.webhook_path()
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "id": channel.pk,
                        "platform": channel.platform,
                        "name": channel.name,
                        "key": str(channel.key),
                        "webhook_url": url,
                    }
                )
            )
            return
        self.stdout.write(f"Created {channel.platform} channel {channel.name!r}")
        self.stdout.write(f"  key:         {channel.key}")
        self.stdout.write(f"  webhook URL: {url}")
