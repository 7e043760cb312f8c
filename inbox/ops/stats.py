"""What the operations page shows, computed with a fixed number of queries however many channels
there are: one for the channels (with their poll cursor and two subqueries), one grouped count
each for inbound events, outbound commands and the last hour's events per minute."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncMinute
from django.utils import timezone

from inbox.models import Channel, InboundEvent, InboundRequest, OutboundCommand, PollCursor, Source

MINUTES = 60
RECENT_FAILURES = 50
# The chart's drawing box (SVG user units; the CSS scales it to the page).
CHART_WIDTH = 600
CHART_HEIGHT = 100
BAR_GAP = 2

Event = InboundEvent.State
Command = OutboundCommand.State


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    minute: datetime
    count: int


@dataclass(frozen=True)
class Chart:
    """Events per minute, oldest minute first, as bars of an SVG drawing box."""

    counts: list[int]
    start: datetime
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    bars: list[Bar] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)


def chart(counts: list[int], start: datetime) -> Chart:
    """Bars for ``counts`` (one per minute from ``start``), scaled to the busiest minute; a
    minute with any event gets at least one unit, so that it never looks empty."""
    step = CHART_WIDTH // max(len(counts), 1)
    peak = max(counts, default=0)
    bars = []
    for i, count in enumerate(counts):
        if not count:
            continue
        height = max(1, round(count / peak * CHART_HEIGHT))
        bars.append(
            Bar(
                x=i * step,
                y=CHART_HEIGHT - height,
                width=step - BAR_GAP,
                height=height,
                minute=start + timedelta(minutes=i),
                count=count,
            )
        )
    return Chart(counts=counts, start=start, bars=bars)


@dataclass
class ChannelHealth:
    channel: Channel
    last_webhook_at: datetime | None
    poll: PollCursor | None
    last_error: str
    last_error_at: datetime | None = None  # when the event of ``last_error`` was received
    pending: int = 0
    failed: int = 0
    retrying: int = 0  # failed, but due again (not for good)
    oldest_pending_at: datetime | None = None
    outbound: dict[str, int] = field(default_factory=dict)
    chart: Chart | None = None

    @property
    def backlog_age(self) -> timedelta | None:
        if self.oldest_pending_at is None:
            return None
        return max(timezone.now() - self.oldest_pending_at, timedelta(0))


@dataclass(frozen=True)
class Overview:
    channels: list[ChannelHealth]
    chart: Chart
    outbound_states: list[str]


def overview(now: datetime | None = None) -> Overview:
    now = now or timezone.now()
    channels = _channels()
    _add_inbound(channels)
    _add_outbound(channels)
    start = (now - timedelta(minutes=MINUTES - 1)).replace(second=0, microsecond=0)
    per_channel = _events_per_minute(start)
    total = [0] * MINUTES
    for pk, health in channels.items():
        counts = per_channel.get(pk, [0] * MINUTES)
        health.chart = chart(counts, start)
        total = [a + b for a, b in zip(total, counts, strict=True)]
    return Overview(
        channels=list(channels.values()),
        chart=chart(total, start),
        outbound_states=list(Command.values),
    )


def channel_health(pk: int) -> ChannelHealth | None:
    """One channel's row of the overview (without its chart), for the API; None if none."""
    channels = _channels(pk)
    _add_inbound(channels, pk)
    _add_outbound(channels, pk)
    return channels.get(pk)


def _channels(only: int | None = None) -> dict[int, ChannelHealth]:
    last_webhook = (
        InboundRequest.objects.filter(channel=OuterRef("pk"), source=Source.WEBHOOK)
        .order_by("-received_at")
        .values("received_at")[:1]
    )
    last_failed = InboundEvent.objects.filter(channel=OuterRef("pk"), state=Event.FAILED).order_by(
        "-received_at", "-id"
    )
    found = (
        _of(Channel.objects.select_related("poll_cursor"), only, "pk")
        .annotate(
            last_webhook_at=Subquery(last_webhook),
            last_error=Subquery(last_failed.values("error")[:1]),
            last_error_at=Subquery(last_failed.values("received_at")[:1]),
        )
        .order_by("platform", "name")
    )
    return {
        channel.pk: ChannelHealth(
            channel=channel,
            last_webhook_at=getattr(channel, "last_webhook_at", None),
            # A channel that never polled has no cursor row.
            poll=getattr(channel, "poll_cursor", None),
            last_error=getattr(channel, "last_error", None) or "",
            last_error_at=getattr(channel, "last_error_at", None),
        )
        for channel in found
    }


def _of(rows: QuerySet[Any], only: int | None, field: str = "channel_id") -> QuerySet[Any]:
    """``rows`` of one channel when ``only`` names it, else all of them."""
    return rows if only is None else rows.filter(**{field: only})


def _add_inbound(channels: dict[int, ChannelHealth], only: int | None = None) -> None:
    pending, failed = Q(state=Event.PENDING), Q(state=Event.FAILED)
    # Only the (state, received_at) index's pending and failed ranges are read, never the
    # processed millions.
    counts = (
        _of(InboundEvent.objects.filter(state__in=[Event.PENDING, Event.FAILED]), only)
        .values("channel_id")
        .annotate(
            pending=Count("id", filter=pending),
            failed=Count("id", filter=failed),
            retrying=Count("id", filter=failed & Q(next_attempt_at__isnull=False)),
            oldest_pending_at=Min("received_at", filter=pending),
        )
        .order_by()
    )
    for row in counts:
        health = channels.get(row["channel_id"])
        if health is not None:
            health.pending = row["pending"]
            health.failed = row["failed"]
            health.retrying = row["retrying"]
            health.oldest_pending_at = row["oldest_pending_at"]


def _add_outbound(channels: dict[int, ChannelHealth], only: int | None = None) -> None:
    for health in channels.values():
        health.outbound = dict.fromkeys(Command.values, 0)
    counts = (
        _of(OutboundCommand.objects.all(), only)
        .values("channel_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in counts:
        found = channels.get(row["channel_id"])
        if found is not None:
            found.outbound[row["state"]] = row["n"]


def _events_per_minute(start: datetime) -> dict[int, list[int]]:
    """Events received per channel and minute since ``start`` (a minute's first moment)."""
    # Every state named: the (state, received_at) index then answers the time range; on its
    # own, received_at has no index of its own on events.
    rows = (
        InboundEvent.objects.filter(state__in=Event.values, received_at__gte=start)
        .annotate(minute=TruncMinute("received_at"))
        .values("channel_id", "minute")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[int, list[int]] = defaultdict(lambda: [0] * MINUTES)
    for row in rows:
        index = int((row["minute"] - start).total_seconds() // 60)
        if 0 <= index < MINUTES:
            counts[row["channel_id"]][index] += row["n"]
    return counts


def recent_failures(limit: int = RECENT_FAILURES) -> list[InboundEvent]:
    """The newest failed events (retrying or for good), without their payloads."""
    return list(
        InboundEvent.objects.filter(state=Event.FAILED)
        .select_related("channel")
        .defer("payload", "envelope")
        .order_by("-received_at", "-id")[:limit]
    )
