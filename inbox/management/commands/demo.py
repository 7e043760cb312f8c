from __future__ import annotations

import json
from importlib import resources
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test import RequestFactory

from inbox import inbound, services
from inbox.connectors.registry import get_connector
from inbox.models import Channel
from inbox.webhooks import receive_webhook

DEMO_SECRET = "demo-webhook-secret"  # noqa: S105 - the demo's own, printed for the user


class Command(BaseCommand):
    help = (
        "Create one demo channel per platform and replay the bundled sample payloads "
        "through the real webhook endpoint, then process them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--admin",
            action="store_true",
            help="Also create the demo admin user 'admin' / 'admin'.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["admin"]:
            if not settings.DEBUG:
                raise CommandError("--admin creates a well-known login: only with DEBUG=1")
            self._admin()
        plan = json.loads(resources.files("inbox.demo").joinpath("channels.json").read_text())
        factory = RequestFactory()
        for spec in plan:
            channel = Channel.objects.filter(platform=spec["platform"], name=spec["name"]).first()
            if channel is None:
                channel = services.create_channel(
                    platform=spec["platform"],
                    name=spec["name"],
                    webhook_secrets=[DEMO_SECRET],
                    settings=spec.get("settings", {}),
                )
            answers = [self._replay(factory, channel, body) for body in self._bodies(spec)]
            self.stdout.write(
                f"{channel.name}: replayed {len(answers)} webhooks ({answers.count(202)} accepted)"
            )
        counts = inbound.process_due_events()
        self.stdout.write(
            f"processed {counts['processed']}, ignored {counts['ignored']}, "
            f"failed {counts['failed']}"
        )

    def _bodies(self, spec: dict[str, Any]) -> list[bytes]:
        folder = resources.files("inbox.demo").joinpath(spec["platform"])
        names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))
        return [folder.joinpath(name).read_bytes() for name in names]

    def _replay(self, factory: RequestFactory, channel: Channel, body: bytes) -> int:
        connector = get_connector(channel.platform)
        headers = connector.sign(body=body, secret=DEMO_SECRET, settings=channel.settings)
        request = factory.post(
            channel.webhook_path(), data=body, content_type="application/json", headers=headers
        )
        return receive_webhook(request, platform=channel.platform, key=channel.key).status_code

    def _admin(self) -> None:
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            user_model.objects.create_superuser("admin", "admin@example.com", "admin")
        self.stdout.write(
            self.style.SUCCESS(
                "Demo admin: http://127.0.0.1:8000/admin/  username 'admin', password 'admin'"
            )
        )
