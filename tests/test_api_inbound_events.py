"""The inbound events API (staff only): the list's filters and cost, and replay — one event, or
the set the list's filters choose — through the real pipeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from inbox.api import inbound_events
from inbox.models import InboundEvent, Message
from tests.factories import ChannelFactory
from tests.helpers import fleet_and_mailbox, scalar_group_messages

pytestmark = pytest.mark.django_db

LIST = "/api/v1/inbound-events/"
REPLAY = "/api/v1/inbound-events/replay/"


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def staff(api, owner):
    api.force_authenticate(owner)
    return api


START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def scalar_batch(*texts: str, broken: bool = False) -> bytes:
    """A SCALAR batch of ``message.sent`` events with these texts, each in its own group
    chat; ``broken``: without a conversation id, which the parser refuses for good."""
    batch = json.loads(scalar_group_messages(*texts, start=START))
    for event in batch["eventsData"] if broken else ():
        del event["eventData"]["conversationId"]
    return json.dumps(batch).encode()


@pytest.fixture
def channels(agent, post_webhook, process):
    """A SCALAR channel (the agent is a member) with two processed events and a failed one;
    an enmeshed channel with a processed mail and a relationship event."""
    return fleet_and_mailbox(
        agent,
        post_webhook,
        process,
        scalar=(
            "chat_message_sent",
            "groupchat_message_treated",
            scalar_batch("no conversation", broken=True),
        ),
        enmeshed=(
            "webhook_message_received_mail_v7",
            "webhook_relationship_changed_pending_incoming_v7",
        ),
    )


def listed(api, **params) -> list[int]:
    response = api.get(LIST, params)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def ids(**filters) -> list[int]:
    return list(InboundEvent.objects.filter(**filters).order_by("-id").values_list("id", flat=True))


def states() -> dict[int, str]:
    return dict(InboundEvent.objects.values_list("id", "state"))


# --- the list -------------------------------------------------------------------------------------


def test_the_list_is_newest_first_with_its_filters(staff, channels):
    scalar, enmeshed = channels
    assert listed(staff) == ids()
    assert len(ids()) == 5
    assert listed(staff, state="failed") == ids(state="failed") != []
    assert listed(staff, state="processed") == ids(state="processed")
    assert listed(staff, channel=scalar.pk) == ids(channel=scalar)
    assert listed(staff, platform="enmeshed") == ids(channel=enmeshed) != []
    assert listed(staff, source="webhook") == ids()
    assert listed(staff, source="poll") == []
    assert listed(staff, event_name="message.treated") == ids(event_name="message.treated")
    assert listed(staff, platform="scalar", state="failed") == ids(state="failed")
    row = staff.get(LIST, {"state": "failed"}).json()["results"][0]
    assert (row["platform"], row["source"], row["channel"]) == ("scalar", "webhook", scalar.pk)
    assert "conversationId" in row["error"]


@pytest.mark.parametrize(
    ("params", "field"), [({"state": "lost"}, "state"), ({"platform": "telegram"}, "platform")]
)
def test_an_invalid_filter_is_a_400_naming_it(staff, channels, params, field):
    for response in (staff.get(LIST, params), staff.post(f"{REPLAY}?state=failed&{_q(params)}")):
        assert response.status_code == 400
        assert field in response.json()["fields"]


def _q(params: dict[str, str]) -> str:
    return "&".join(f"{name}={value}" for name, value in params.items())


@pytest.mark.parametrize("count", [1, 50])
def test_the_list_query_count_is_the_same_for_1_and_50_events(
    staff, owner, post_webhook, count, django_assert_num_queries
):
    channel = ChannelFactory(platform="scalar")
    texts = [f"message {n}" for n in range(count)]
    assert post_webhook(channel, scalar_batch(*texts)).status_code == 202
    with django_assert_num_queries(1):  # the page, with channel and request joined
        response = staff.get(LIST)
    assert len(response.json()["results"]) == count


# --- replaying one event ------------------------------------------------------------------------


def test_replaying_an_event_runs_it_through_the_pipeline_again(staff, channels, process):
    scalar, _ = channels
    event = InboundEvent.objects.get(channel=scalar, event_name="message.sent", state="processed")
    first_processed_at = event.processed_at
    # What processing made is lost (as after a parser bug): replay makes it again.
    Message.objects.filter(text__startswith="Trailer 4711").delete()
    response = staff.post(f"{LIST}{event.pk}/replay/")
    assert response.status_code == 202, response.content
    assert response.json() == {"queued": 1, "skipped": 0}
    event.refresh_from_db()
    assert (event.state, event.attempts, event.processed_at) == ("pending", 0, None)
    assert event.next_attempt_at is not None
    others = {pk: state for pk, state in states().items() if pk != event.pk}
    assert process().get("processed", 0) >= 1
    event.refresh_from_db()
    assert event.state == "processed"
    assert event.processed_at > first_processed_at
    assert Message.objects.filter(text__startswith="Trailer 4711").count() == 1
    assert {pk: state for pk, state in states().items() if pk != event.pk} == others


def test_an_event_without_a_storable_item_is_a_409_naming_its_request(
    staff, channels, post_webhook
):
    scalar, _ = channels
    assert post_webhook(scalar, scalar_batch("a NUL \x00 here")).status_code == 202
    event = InboundEvent.objects.get(payload__isnull=True)
    response = staff.post(f"{LIST}{event.pk}/replay/")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "conflict"
    assert f"request #{event.request_id}" in body["detail"]
    assert InboundEvent.objects.get(pk=event.pk).state == "failed"


def test_replaying_a_missing_event_is_a_404(staff, channels):
    assert staff.post(f"{LIST}999999/replay/").status_code == 404
    assert staff.post(f"{LIST}nope/replay/").status_code == 404


# --- replaying the events the filters choose ------------------------------------------------


def test_replaying_the_failed_events(staff, channels, process):
    failed = ids(state="failed")
    before = states()
    response = staff.post(f"{REPLAY}?state=failed")
    assert response.status_code == 202, response.content
    assert response.json() == {"queued": len(failed), "skipped": 0}
    assert {pk: s for pk, s in states().items() if s == "pending"}.keys() == set(failed)
    assert {pk: s for pk, s in states().items() if pk not in failed} == {
        pk: s for pk, s in before.items() if pk not in failed
    }
    process()  # parsed again, and still broken: failed again, with fresh attempts
    assert all(
        (e.state, e.attempts) == ("failed", 1) for e in InboundEvent.objects.filter(pk__in=failed)
    )


def test_replaying_by_channel_and_event_name(staff, channels, process):
    scalar, enmeshed = channels
    chosen = ids(channel=scalar, event_name="message.sent", state="processed")
    assert len(chosen) == 1
    response = staff.post(f"{REPLAY}?channel={scalar.pk}&event_name=message.sent&state=processed")
    assert response.json() == {"queued": 1, "skipped": 0}
    assert [pk for pk, s in states().items() if s == "pending"] == chosen
    assert process().get("processed", 0) == 1
    response = staff.post(f"{REPLAY}?platform=enmeshed&source=webhook")
    assert response.json() == {"queued": len(ids(channel=enmeshed)), "skipped": 0}


def test_events_without_a_storable_item_are_counted_as_skipped(staff, channels, post_webhook):
    scalar, _ = channels
    assert post_webhook(scalar, scalar_batch("a NUL \x00 here")).status_code == 202
    response = staff.post(f"{REPLAY}?state=failed")
    assert response.json() == {"queued": 1, "skipped": 1}


def test_a_filter_that_matches_nothing_replays_nothing(staff, channels):
    response = staff.post(f"{REPLAY}?event_name=nothing.like.this")
    assert response.status_code == 202
    assert response.json() == {"queued": 0, "skipped": 0}


@pytest.mark.parametrize("query", ["", "?state=", "?page_size=10", "?states=failed"])
def test_replaying_without_a_filter_is_refused(staff, channels, query):
    before = states()
    response = staff.post(f"{REPLAY}{query}", {"state": "failed"}, format="json")  # body: ignored
    assert response.status_code == 400
    assert response.json()["code"] == "filter_required"
    assert "state" in response.json()["detail"]
    assert states() == before


def test_more_events_than_a_batch_takes_are_refused(staff, channels, monkeypatch):
    scalar, _ = channels
    monkeypatch.setattr(inbound_events, "MAX_REPLAY", 2)
    before = states()
    response = staff.post(f"{REPLAY}?channel={scalar.pk}")  # 3 events
    assert response.status_code == 400
    assert response.json()["code"] == "too_many"
    assert "more than 2" in response.json()["detail"]
    assert states() == before
    assert staff.post(f"{REPLAY}?channel={scalar.pk}&state=processed").status_code == 202


# --- who may -----------------------------------------------------------------------------------


def test_only_staff_may_list_or_replay(api, agent, channels):
    event = InboundEvent.objects.filter(state="failed").first()
    before = states()
    calls = (
        lambda: api.get(LIST),
        lambda: api.get(f"{LIST}{event.pk}/"),
        lambda: api.post(f"{LIST}{event.pk}/replay/"),
        lambda: api.post(f"{REPLAY}?state=failed"),
    )
    for call in calls:
        assert call().status_code in (401, 403)  # anonymous
    api.force_authenticate(agent)  # a member of the event's channel, not staff
    for call in calls:
        response = call()
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    assert states() == before


def test_replay_is_a_post(staff, channels):
    event = InboundEvent.objects.first()
    assert staff.get(REPLAY).status_code == 405
    assert staff.get(f"{LIST}{event.pk}/replay/").status_code == 405
