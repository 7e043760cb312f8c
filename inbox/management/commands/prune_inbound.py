from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from inbox import inbound


class Command(BaseCommand):
    help = (
        "Delete processed and ignored inbound events older than the retention, and requests "
        "left without events. Failed events are kept. Celery beat runs this every hour."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=settings.INBOUND_RETENTION_DAYS,
            help="Retention in days (default INBOUND_RETENTION_DAYS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        pruned = inbound.prune_inbound(older_than=timedelta(days=options["days"]))
        self.stdout.write(f"deleted {pruned.events} event(s) and {pruned.requests} request(s)")
