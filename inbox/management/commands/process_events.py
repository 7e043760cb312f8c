from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inbox import inbound


class Command(BaseCommand):
    help = "Process every due inbound event in this process and print how each ended."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="Stop after this many.")

    def handle(self, *args: Any, **options: Any) -> None:
        counts = inbound.process_due_events(limit=options["limit"])
        summary = ", ".join(f"{counts[s]} {s}" for s in ("processed", "ignored", "failed"))
        self.stdout.write(f"{counts.total()} events: {summary}")
