"""The operations page: per-channel health in a fixed number of queries, the events-per-minute
chart as escaped inline SVG, replay of failed events (one, or all of a channel), staff only."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from inbox.connectors.contract import PayloadError
from inbox.connectors.registry import get_connector
from inbox.inbound import process_due_events
from inbox.models import InboundEvent, Message, OutboundCommand, PollCursor
from inbox.ops import stats
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.web_urls")]

OPS = "/ops/"
SENT = fixture_bytes("scalar", "chat_message_sent")
DELIVERED = fixture_bytes("scalar", "chat_message_delivered")


@pytest.fixture
def channel() -> Any:
    return ChannelFactory(platform="scalar", name="Fleet chat")


@pytest.fixture
def broken_parser(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The scalar parser fails every item until the fixture's ``fix()`` is called."""
    connector = get_connector("scalar")
    real = connector.parse

    def buggy(**kwargs: Any) -> Any:
        raise PayloadError("the parser had a bug")

    monkeypatch.setattr(connector, "parse", buggy)

    class Switch:
        @staticmethod
        def fix() -> None:
            monkeypatch.setattr(connector, "parse", real)

    return Switch


def failed_events(channel: Any, post_webhook: Any, *bodies: bytes) -> list[InboundEvent]:
    """Deliver ``bodies`` while the parser is broken: each ends failed for good."""
    for body in bodies:
        assert post_webhook(channel, body).status_code == 202
    process_due_events()
    events = list(InboundEvent.objects.filter(channel=channel, state="failed"))
    assert len(events) == len(bodies)
    assert all(e.next_attempt_at is None for e in events)
    return events


def said(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def page(client: Client) -> str:
    response = client.get(OPS)
    assert response.status_code == 200, response.content[:500]
    return str(response.content.decode())


def row(html: str, channel: Any) -> str:
    found = re.search(rf'<tr id="channel-{channel.pk}"[^>]*>.*?</tr>', html, re.S)
    assert found, f"channel {channel.pk} is not on the page"
    return found.group(0)


def cells(html: str) -> list[str]:
    """The text of a row's cells, tags removed, whitespace collapsed."""
    return [
        " ".join(re.sub(r"<[^>]+>", " ", c).split())
        for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", html, re.S)
    ]


# --- who may see it ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", OPS), ("post", "/ops/events/1/replay/"), ("post", "/ops/channels/1/replay/")],
)
def test_anonymous_visitors_are_sent_to_log_in(client: Client, method: str, path: str) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_agents_who_are_not_staff_get_a_404(
    client: Client, agent: Any, channel: Any, post_webhook: Any, broken_parser: Any
) -> None:
    channel.members.add(agent)
    [event] = failed_events(channel, post_webhook, SENT)
    client.force_login(agent)

    assert client.get(OPS).status_code == 404
    assert client.post(f"/ops/events/{event.pk}/replay/").status_code == 404
    assert client.post(f"/ops/channels/{channel.pk}/replay/").status_code == 404
    event.refresh_from_db()
    assert event.state == "failed"


def test_staff_without_superuser_see_it(client: Client, owner: Any, channel: Any) -> None:
    client.force_login(owner)  # is_staff only
    assert "Fleet chat" in page(client)


# --- what it shows -----------------------------------------------------------------------------


def test_a_channel_row_shows_webhooks_polls_errors_backlog_and_the_outbound_queue(
    staff_client: Client, channel: Any, post_webhook: Any, broken_parser: Any
) -> None:
    failed_events(channel, post_webhook, SENT)
    assert post_webhook(channel, DELIVERED).status_code == 202  # stays pending
    backlog_from = InboundEvent.objects.get(state="pending").received_at
    PollCursor.objects.create(
        channel=channel,
        last_polled_at=timezone.now() - timedelta(minutes=3),
        failures=2,
        error="timed out after 10 s",
    )
    for i, state in enumerate(["queued", "queued", "done", "failed"]):
        OutboundCommand.objects.create(channel=channel, kind="send", key=f"k{i}", state=state)
    quiet = ChannelFactory(platform="comapi", name="Quiet")

    html = page(staff_client)

    busy = cells(row(html, channel))
    assert busy[0] == f"Fleet chat {channel.get_platform_display()}"
    assert busy[1].endswith(" ago")  # last webhook
    assert busy[2].startswith("3 minutes ago")
    assert "2 failures in a row" in busy[2]
    assert "timed out after 10 s" in busy[2]
    assert "the parser had a bug" in busy[3]
    assert (busy[4], busy[5]) == ("1", "1")
    assert busy[6] != "—"  # a backlog age
    assert busy[7] == "queued 2 done 1 failed 1"
    assert "Replay 1 failed" in busy[9]
    assert backlog_from is not None

    idle = cells(row(html, quiet))
    assert idle[1:8] == ["never", "not polled", "—", "0", "0", "—", "queued 0 done 0 failed 0"]
    assert "Replay" not in idle[9]


def test_failed_events_still_retrying_are_told_apart(
    staff_client: Client, channel: Any, post_webhook: Any
) -> None:
    post_webhook(channel, SENT)
    InboundEvent.objects.update(
        state="failed", error="boom", next_attempt_at=timezone.now() + timedelta(minutes=5)
    )

    html = page(staff_client)

    assert cells(row(html, channel))[5] == "1 (1 retrying)"
    failures = re.search(r'<table class="ops-table ops-failures">.*?</table>', html, re.S)
    assert failures
    assert "boom" in failures.group(0)


def test_the_recent_failures_table_has_a_replay_button_per_event(
    staff_client: Client, channel: Any, post_webhook: Any, broken_parser: Any
) -> None:
    events = failed_events(channel, post_webhook, SENT, DELIVERED)

    html = page(staff_client)

    for event in events:
        found = re.search(rf'<tr id="event-{event.pk}">.*?</tr>', html, re.S)
        assert found
        assert f'action="/ops/events/{event.pk}/replay/"' in found.group(0)
        assert 'name="csrfmiddlewaretoken"' in found.group(0)
        assert "for good" in found.group(0)


def test_the_chart_counts_events_per_minute_as_svg_bars(
    staff_client: Client, channel: Any, post_webhook: Any
) -> None:
    post_webhook(channel, SENT)
    post_webhook(channel, DELIVERED)
    old = InboundEvent.objects.order_by("id").first()
    assert old is not None
    InboundEvent.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - timedelta(minutes=30)
    )
    # Older than the hour: not counted.
    seen = set(InboundEvent.objects.values_list("id", flat=True))
    post_webhook(channel, fixture_bytes("scalar", "chat_message_seen"))
    InboundEvent.objects.exclude(id__in=seen).update(
        received_at=timezone.now() - timedelta(hours=2)
    )

    html = page(staff_client)

    svg = re.findall(r"<svg class=\"ops-chart ops-chart-large\".*?</svg>", html, re.S)
    assert len(svg) == 1
    bars = re.findall(
        r'<rect class="ops-bar" [^>]*><title>(\d\d:\d\d): (\d+) events?</title>', svg[0]
    )
    assert [count for _, count in bars] == ["1", "1"]
    assert 'aria-label="All channels: 2 events in the last hour, at most 1 a minute"' in svg[0]
    assert not re.search(r"\sstyle=|\son\w+=|<script(?![^>]*\ssrc=)", html)  # the CSP
    assert "ops/ops.css" in html


def test_channel_names_are_escaped_in_the_table_and_the_chart(
    staff_client: Client, post_webhook: Any
) -> None:
    evil = ChannelFactory(platform="scalar", name='<script>alert(1)</script>"')
    post_webhook(evil, SENT)

    html = page(staff_client)

    assert "<script>alert(1)" not in html
    assert 'aria-label="&lt;script&gt;alert(1)&lt;/script&gt;&quot;: 1 events' in html


def test_the_chart_scales_bars_to_the_busiest_minute() -> None:
    start = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.get_current_timezone())
    counts = [0] * 60
    counts[0], counts[1], counts[59] = 4, 1, 2

    chart = stats.chart(counts, start)

    assert (chart.total, chart.peak) == (7, 4)
    assert [(b.x, b.y, b.width, b.height, b.count) for b in chart.bars] == [
        (0, 0, 8, 100, 4),
        (10, 75, 8, 25, 1),
        (590, 50, 8, 50, 2),
    ]
    assert chart.bars[2].minute == start + timedelta(minutes=59)
    assert stats.chart([0] * 60, start).bars == []


@pytest.mark.parametrize("channels", [1, 5])
def test_the_page_takes_a_fixed_number_of_queries(
    staff_client: Client,
    post_webhook: Any,
    broken_parser: Any,
    django_assert_num_queries: Any,
    channels: int,
) -> None:
    made = [ChannelFactory(platform="scalar", name=f"Channel {i}") for i in range(channels)]
    for channel in made:
        failed_events(channel, post_webhook, SENT)
    for channel in made:
        post_webhook(channel, DELIVERED)  # left pending
        PollCursor.objects.create(channel=channel, last_polled_at=timezone.now())
        OutboundCommand.objects.create(channel=channel, kind="send", key="k", state="queued")

    with django_assert_num_queries(QUERIES):
        html = page(staff_client)

    for channel in made:
        assert cells(row(html, channel))[4:6] == ["1", "1"]


# Session and user; the channels (with poll cursors, last webhook and last error); inbound
# counts; outbound counts; events per minute; recent failures.
QUERIES = 2 + 5


# --- replay ------------------------------------------------------------------------------------


def test_replaying_one_failed_event_parses_it_again(
    staff_client: Client, channel: Any, post_webhook: Any, broken_parser: Any
) -> None:
    event, other = failed_events(channel, post_webhook, SENT, DELIVERED)
    broken_parser.fix()

    response = staff_client.post(f"/ops/events/{event.pk}/replay/")

    assert response.status_code == 302
    assert response["Location"] == OPS
    assert said(response) == [f"Event #{event.pk} ({event.event_name}): 1 event(s) queued again."]
    event.refresh_from_db()
    other.refresh_from_db()
    assert (event.state, event.attempts, event.error) == ("pending", 0, "")
    assert other.state == "failed"
    assert process_due_events() == {"processed": 1}
    assert Message.objects.count() == 1


def test_replaying_an_event_that_has_not_failed_does_nothing(
    staff_client: Client, channel: Any, post_webhook: Any
) -> None:
    post_webhook(channel, SENT)
    process_due_events()
    event = InboundEvent.objects.get()

    response = staff_client.post(f"/ops/events/{event.pk}/replay/", follow=True)

    assert response.redirect_chain == [(OPS, 302)]
    assert (
        f'<li class="ops-message ops-message-warning">Event #{event.pk} ({event.event_name}) '
        "is processed, not failed: nothing replayed.</li>"
    ) in response.content.decode()
    event.refresh_from_db()
    assert event.state == "processed"


def test_replaying_a_channel_replays_all_its_failed_events_and_no_others(
    staff_client: Client, channel: Any, post_webhook: Any, broken_parser: Any
) -> None:
    failed_events(channel, post_webhook, SENT, DELIVERED)
    elsewhere = ChannelFactory(platform="scalar", name="Elsewhere")
    [theirs] = failed_events(elsewhere, post_webhook, SENT)
    broken_parser.fix()

    response = staff_client.post(f"/ops/channels/{channel.pk}/replay/", follow=True)

    assert "Fleet chat: 2 event(s) queued again." in response.content.decode()
    assert set(InboundEvent.objects.filter(channel=channel).values_list("state", flat=True)) == {
        "pending"
    }
    theirs.refresh_from_db()
    assert theirs.state == "failed"
    assert process_due_events() == {"processed": 2}


def test_an_event_without_a_storable_item_is_reported_as_skipped(
    staff_client: Client, channel: Any, post_webhook: Any
) -> None:
    post_webhook(channel, SENT)
    InboundEvent.objects.update(state="failed", payload=None, error="not JSON")

    response = staff_client.post(f"/ops/channels/{channel.pk}/replay/")

    assert said(response) == [
        "Fleet chat: 0 event(s) queued again.",
        "Fleet chat: 1 event(s) hold no storable item; replay their request instead "
        "(admin → Inbound requests).",
    ]


def test_replay_routes_take_only_posts_and_known_rows(
    staff_client: Client, channel: Any, post_webhook: Any, broken_parser: Any
) -> None:
    [event] = failed_events(channel, post_webhook, SENT)

    assert staff_client.get(f"/ops/events/{event.pk}/replay/").status_code == 405
    assert staff_client.post("/ops/events/999999/replay/").status_code == 404
    assert staff_client.post("/ops/channels/999999/replay/").status_code == 404
    event.refresh_from_db()
    assert event.state == "failed"


def test_csrf_is_enforced(owner: Any, channel: Any, post_webhook: Any, broken_parser: Any) -> None:
    [event] = failed_events(channel, post_webhook, SENT)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    response = client.post(f"/ops/channels/{channel.pk}/replay/")

    assert response.status_code == 403
    event.refresh_from_db()
    assert event.state == "failed"
