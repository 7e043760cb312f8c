from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inbox import inbound
from inbox.models import InboundEvent, InboundRequest


class Command(BaseCommand):
    help = (
        "Replay inbound traffic with the current code: events are parsed again, requests are "
        "split again from their stored bytes. Processing is queued (or run `process_events`)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--event", type=int, action="append", default=[], help="Event id.")
        parser.add_argument("--request", type=int, action="append", default=[], help="Request id.")
        parser.add_argument(
            "--failed", action="store_true", help="Every failed event (and unsplittable request)."
        )
        parser.add_argument("--channel", help="Only this channel (its key).")

    def handle(self, *args: Any, **options: Any) -> None:
        events = InboundEvent.objects.filter(id__in=options["event"])
        requests = InboundRequest.objects.filter(id__in=options["request"])
        if options["failed"]:
            events = events | InboundEvent.objects.filter(state=InboundEvent.State.FAILED)
            requests = requests | InboundRequest.objects.exclude(error="")
        elif not options["event"] and not options["request"]:
            raise CommandError("name --event, --request or --failed")
        if options["channel"]:
            events = events.filter(channel__key=options["channel"])
            requests = requests.filter(channel__key=options["channel"])
        split = inbound.replay_requests(requests.select_related("channel"))
        parsed = inbound.replay_events(events)
        self.stdout.write(
            f"{split.queued + parsed.queued} event(s) queued again "
            f"({split.queued} from {requests.count()} request(s) split again); "
            f"{split.skipped + parsed.skipped} cannot be replayed (no storable item)"
        )
