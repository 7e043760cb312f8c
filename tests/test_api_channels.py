"""The staff-only channels API: create (checked like ``add_channel``), change, disable, poll now
and health — and that no secret ever comes back, not even in an error."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from inbox import services
from inbox.connectors.contract import Capabilities, PayloadError
from inbox.connectors.registry import get_connector
from inbox.inbound import process_due_events
from inbox.models import Channel, Conversation, InboundEvent, OutboundCommand, PollCursor
from inbox.tasks import poll_channels
from tests.factories import ChannelFactory
from tests.fakes.enmeshed import API_KEY, FakeConnector
from tests.helpers import fixture_bytes

pytestmark = pytest.mark.django_db

URL = "/api/v1/channels/"
# Every secret of these tests: none may appear in any answer or log line.
SECRET = "Sup3r-S3cret-Value-0xC0FFEE"
WEBHOOK_SECRET = "Webhook-S3cret-0xBEEF"
OTHER_SECRET = "Rotated-S3cret-0xF00D"
SECRETS = (SECRET, WEBHOOK_SECRET, OTHER_SECRET, API_KEY)

# What each platform's channel needs to do its work (see inbox/connectors/*/channel.py).
VALID: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "enmeshed": (
        {"base_url": "http://connector.example:8080", "poll_interval": 30, "sync": "false"},
        {"api_key": SECRET},
    ),
    "liveperson": (
        {
            "account_id": "12345",
            "client_id": "app-1",
            "sentinel_url": "sentinel.liveperson.example",
            "idp_url": "idp.liveperson.example",
            "messaging_url": "messaging.liveperson.example",
        },
        {"client_secret": SECRET},
    ),
    "comapi": (
        {
            "api_space_id": "space-1",
            "profile_id": "us",
            "jwt_issuer": "switchboard",
            "jwt_audience": "comapi",
        },
        {"jwt_secret": SECRET},
    ),
    "scalar": (
        {
            "auth_url": "https://auth.scalar.example/token",
            "messaging_url": "https://api.scalar.example",
            "client_id": "fleet",
            "sender_id": "dispatch-1",
        },
        {"client_secret": SECRET},
    ),
}


def make_channel(**fields: Any) -> Channel:
    channel: Channel = ChannelFactory.create(**fields)
    return channel


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def staff(api: APIClient, owner: Any) -> APIClient:
    api.force_authenticate(owner)
    return api


@pytest.fixture
def enmeshed(db: Any) -> Channel:
    settings_, credentials = VALID["enmeshed"]
    return services.create_channel(
        platform="enmeshed",
        name="Mailbox",
        webhook_secrets=[WEBHOOK_SECRET],
        settings=settings_,
        credentials=credentials,
    )


def text(response: Any) -> str:
    return response.content.decode()


def assert_no_secret(response: Any) -> None:
    body = text(response)
    for secret in SECRETS:
        assert secret not in body, f"a secret is in the answer: {body[:300]}"


def assert_refused(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["fields"]) == [field], body
    assert_no_secret(response)
    return body


# --- the representation -------------------------------------------------------------------------


def test_a_channel_shows_its_settings_and_names_its_secrets(staff, enmeshed, agent):
    enmeshed.members.add(agent)
    response = staff.get(f"{URL}{enmeshed.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id",
        "platform",
        "name",
        "key",
        "webhook_url",
        "settings",
        "credential_names",
        "webhook_secret_count",
        "is_active",
        "members",
        "credentials_error",
        "credentials_error_at",
        "created_at",
        "capabilities",
    }
    assert body["key"] == str(enmeshed.key)
    assert body["webhook_url"] == settings.PUBLIC_BASE_URL.rstrip("/") + (
        f"/webhooks/enmeshed/{enmeshed.key}/"
    )
    assert body["settings"] == {
        "base_url": "http://connector.example:8080",
        "poll_interval": 30,
        "sync": False,
    }
    assert body["credential_names"] == ["api_key"]
    assert body["webhook_secret_count"] == 1
    assert body["members"] == [agent.pk]
    assert body["capabilities"]["reply"] is True
    assert body["capabilities"]["poll"] is True
    assert body["capabilities"]["decide"] is True
    assert_no_secret(response)


def test_every_capability_is_shown() -> None:
    from inbox.api.channels import ChannelCapabilitiesSerializer

    shown = set(ChannelCapabilitiesSerializer().fields)
    assert shown == {field.name for field in dataclasses.fields(Capabilities)}


def test_the_list_is_paginated_and_filtered(staff, enmeshed):
    make_channel(platform="scalar", name="Fleet")
    make_channel(platform="scalar", name="Old fleet", is_active=False)

    everything = staff.get(URL).json()
    assert everything["count"] == 3
    assert [c["name"] for c in everything["results"]] == ["Mailbox", "Fleet", "Old fleet"]
    scalar = staff.get(URL, {"platform": "scalar"}).json()
    assert [c["name"] for c in scalar["results"]] == ["Fleet", "Old fleet"]
    active = staff.get(URL, {"platform": "scalar", "is_active": "false"}).json()
    assert [c["name"] for c in active["results"]] == ["Old fleet"]
    paged = staff.get(URL, {"limit": 1, "offset": 1}).json()
    assert [c["name"] for c in paged["results"]] == ["Fleet"]
    assert paged["next"]
    assert paged["previous"]
    assert_refused(staff.get(URL, {"platform": "fax"}), "platform")


@pytest.mark.parametrize("channels", [1, 50])
def test_the_list_takes_the_same_queries_for_1_and_50_channels(
    staff, agent, channels, django_assert_num_queries
):
    for i in range(channels):
        channel = make_channel(name=f"Channel {i:02}")
        channel.members.add(agent)
    # count, page, members
    with django_assert_num_queries(3):
        response = staff.get(URL, {"limit": 50})
    assert len(response.json()["results"]) == channels
    assert all(c["members"] == [agent.pk] for c in response.json()["results"])


def test_an_unknown_channel_is_a_404(staff):
    for path in ("999999/", "999999/health/", "abc/health/"):
        assert staff.get(URL + path).status_code == 404
    assert staff.patch(URL + "999999/", {"name": "x"}, format="json").status_code == 404
    assert staff.delete(URL + "999999/").status_code == 404
    assert staff.post(URL + "999999/poll/").status_code == 404


# --- who may --------------------------------------------------------------------------------------


def routes(channel: Channel) -> list[tuple[str, str, dict[str, Any] | None]]:
    one = f"{URL}{channel.pk}/"
    return [
        ("get", URL, None),
        ("post", URL, {"platform": "scalar", "name": "Mine"}),
        ("get", one, None),
        ("patch", one, {"name": "Mine"}),
        ("delete", one, None),
        ("post", f"{one}poll/", None),
        ("get", f"{one}health/", None),
    ]


def test_agents_who_are_not_staff_are_refused_everywhere(api, agent, enmeshed):
    enmeshed.members.add(agent)  # even on their own channel
    api.force_authenticate(agent)
    for method, path, data in routes(enmeshed):
        response = getattr(api, method)(path, data, format="json")
        assert response.status_code == 403, (method, path)
        assert response.json()["code"] == "permission_denied"
    enmeshed.refresh_from_db()
    assert (enmeshed.name, enmeshed.is_active) == ("Mailbox", True)
    assert not Channel.objects.filter(name="Mine").exists()
    assert not PollCursor.objects.exists()


def test_anonymous_visitors_are_refused_everywhere(api, enmeshed):
    for method, path, data in routes(enmeshed):
        response = getattr(api, method)(path, data, format="json")
        assert response.status_code == 401, (method, path)
    assert Channel.objects.count() == 1


def test_a_token_of_staff_works(api, owner, enmeshed):
    from rest_framework.authtoken.models import Token

    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=owner).key}")
    assert api.get(URL).json()["count"] == 1


# --- create ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", sorted(VALID))
def test_staff_create_a_channel_of_every_platform(staff, agent, platform):
    plain, credentials = VALID[platform]
    response = staff.post(
        URL,
        {
            "platform": platform,
            "name": f"Our {platform}",
            "settings": plain,
            "credentials": credentials,
            "webhook_secrets": [WEBHOOK_SECRET, OTHER_SECRET],
            "members": [agent.pk],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert_no_secret(response)
    body = response.json()
    channel = Channel.objects.get(pk=body["id"])
    assert (channel.platform, channel.name, channel.is_active) == (
        platform,
        f"Our {platform}",
        True,
    )
    assert channel.credentials == credentials
    assert channel.webhook_secrets == [WEBHOOK_SECRET, OTHER_SECRET]
    assert list(channel.members.all()) == [agent]
    assert body["credential_names"] == sorted(credentials)
    assert body["webhook_secret_count"] == 2
    assert body["members"] == [agent.pk]
    assert body["settings"] == channel.settings
    assert body["webhook_url"].endswith(channel.webhook_path())
    assert body["capabilities"]["reply"] is True, body["capabilities"]["why_not"]
    assert body["capabilities"] == dataclasses.asdict(services.channels.capabilities(channel)) | {
        "file_types": list(services.channels.capabilities(channel).file_types)
    }


def test_a_secret_given_among_the_settings_is_kept_as_a_credential(staff):
    """As with ``add_channel --setting``: a secret setting is encrypted whichever field named it."""
    response = staff.post(
        URL,
        {
            "platform": "enmeshed",
            "name": "Mailbox",
            "settings": {"base_url": "http://connector:8080", "api_key": SECRET},
            "is_active": False,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert_no_secret(response)
    channel = Channel.objects.get()
    assert channel.settings == {"base_url": "http://connector:8080"}
    assert channel.credentials == {"api_key": SECRET}
    assert channel.is_active is False
    assert response.json()["credential_names"] == ["api_key"]


def test_a_minimal_channel_needs_only_platform_and_name(staff):
    response = staff.post(URL, {"platform": "scalar", "name": "Fleet"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["credential_names"], body["webhook_secret_count"], body["members"]) == ([], 0, [])
    assert body["capabilities"]["reply"] is False
    assert "needs" in body["capabilities"]["why_not"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"platform": "fax"}, "platform", "valid choice"),
        ({"name": "Mailbox"}, "name", "exists already"),
        ({"name": ""}, "name", "blank"),
        ({"settings": {"colour": "blue"}}, "settings", "unknown enmeshed setting(s): colour"),
        ({"settings": {"poll_interval": "soon"}}, "settings", "whole number"),
        ({"settings": {"api_version": "v9"}}, "settings", "one of auto, v1, core-v1"),
        ({"settings": {"api_key": SECRET}}, "settings", "missing enmeshed setting(s): base_url"),
        ({"settings": {"base_url": "http://c"}, "credentials": {}}, "credentials", "api_key"),
        ({"credentials": {"colour": SECRET}}, "credentials", "unknown enmeshed setting(s)"),
        ({"credentials": {"api_version": SECRET}}, "credentials", "one of auto, v1, core-v1"),
        ({"credentials": {"api_key": True}}, "credentials.api_key", "Not a valid string"),
        ({"credentials": ["api_key"]}, "credentials", "dictionary"),
        ({"settings": "base_url=x"}, "settings", "dictionary"),
        ({"webhook_secrets": SECRET}, "webhook_secrets", "list"),
        ({"webhook_secrets": [None]}, "webhook_secrets.0", "null"),
        ({"members": [999999]}, "members", "does not exist"),
        # A secret value that the reader would quote (it takes text): never repeated.
        ({"settings": {"base_url": "http://c", "api_key": 987654321}}, "settings", "text"),
    ],
)
def test_an_invalid_channel_is_refused_naming_the_field(staff, enmeshed, change, field, words):
    data = {
        "platform": "enmeshed",
        "name": "Second mailbox",
        "settings": {"base_url": "http://connector:8080"},
        "credentials": {"api_key": OTHER_SECRET},
        "webhook_secrets": [WEBHOOK_SECRET],
        **change,
    }
    response = staff.post(URL, data, format="json")
    body = assert_refused(response, field)
    assert words in body["fields"][field][0], body
    assert "987654321" not in text(response)
    assert Channel.objects.count() == 1


def test_a_missing_required_setting_lists_the_valid_ones(staff):
    response = staff.post(URL, {"platform": "enmeshed", "name": "M"}, format="json")
    body = assert_refused(response, "settings")
    assert "missing enmeshed setting(s): base_url, api_key" in body["detail"]
    assert "valid: base_url (required), api_key (required, secret)" in body["detail"]


def test_members_are_set_only_when_the_channel_is_created(staff, agent):
    response = staff.post(
        URL,
        {"platform": "scalar", "name": "Fleet", "settings": {"x": 1}, "members": [agent.pk]},
        format="json",
    )
    assert_refused(response, "settings")
    assert not Channel.objects.exists()
    assert not agent.channels.exists()


# --- change ---------------------------------------------------------------------------------------


def patch(client: APIClient, channel: Channel, data: dict[str, Any]) -> Any:
    return client.patch(f"{URL}{channel.pk}/", data, format="json")


def test_staff_change_a_channel(staff, enmeshed, agent, outsider):
    enmeshed.members.add(outsider)
    response = patch(
        staff,
        enmeshed,
        {
            "name": "Renamed",
            "settings": {"base_url": "http://other:8080", "timeout": 5},
            "webhook_secrets": [OTHER_SECRET, WEBHOOK_SECRET],
            "members": [agent.pk],
            "is_active": False,
        },
    )
    assert response.status_code == 200, response.content
    assert_no_secret(response)
    body = response.json()
    enmeshed.refresh_from_db()
    assert enmeshed.name == body["name"] == "Renamed"
    # settings replace the plain settings; the credentials stay
    assert enmeshed.settings == body["settings"] == {"base_url": "http://other:8080", "timeout": 5}
    assert enmeshed.credentials == {"api_key": SECRET}
    assert enmeshed.webhook_secrets == [OTHER_SECRET, WEBHOOK_SECRET]
    assert body["webhook_secret_count"] == 2
    assert list(enmeshed.members.all()) == [agent]
    assert body["members"] == [agent.pk]
    assert enmeshed.is_active is False
    assert body["is_active"] is False


def test_credentials_merge_and_an_empty_value_removes_one(staff):
    channel = services.create_channel(
        platform="liveperson", name="Brand", credentials={"client_secret": SECRET}
    )
    # Nothing given: nothing changes (and the settings stay).
    assert patch(staff, channel, {}).status_code == 200
    channel.refresh_from_db()
    assert channel.credentials == {"client_secret": SECRET}

    response = patch(staff, channel, {"credentials": {"client_secret": OTHER_SECRET}})
    assert response.status_code == 200
    assert_no_secret(response)
    channel.refresh_from_db()
    assert channel.credentials == {"client_secret": OTHER_SECRET}

    response = patch(staff, channel, {"credentials": {"client_secret": ""}})
    assert response.status_code == 200
    assert response.json()["credential_names"] == []
    channel.refresh_from_db()
    assert channel.credentials == {}


def test_an_empty_list_removes_every_webhook_secret(staff, enmeshed):
    response = patch(staff, enmeshed, {"webhook_secrets": []})
    assert response.json()["webhook_secret_count"] == 0
    enmeshed.refresh_from_db()
    assert enmeshed.webhook_secrets == []


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"name": "Taken"}, "name", "exists already"),
        ({"settings": {"colour": "blue"}}, "settings", "unknown enmeshed setting(s): colour"),
        ({"settings": {"timeout": 5}}, "settings", "missing enmeshed setting(s): base_url"),
        ({"settings": {"base_url": "http://c", "api_key": SECRET}}, "settings", "secret"),
        ({"settings": {"base_url": "http://c", "api_key": 987654321}}, "settings", "text"),
        ({"credentials": {"base_url": SECRET}}, "credentials", "not secret"),
        ({"credentials": {"colour": SECRET}}, "credentials", "unknown enmeshed setting(s)"),
        ({"credentials": {"api_version": SECRET}}, "credentials", "one of auto, v1, core-v1"),
        ({"platform": "scalar"}, "platform", "cannot change"),
        ({"is_active": "perhaps"}, "is_active", "boolean"),
        ({"members": [999999]}, "members", "does not exist"),
    ],
)
def test_an_invalid_change_is_refused_naming_the_field_and_changes_nothing(
    staff, enmeshed, agent, change, field, words
):
    make_channel(platform="enmeshed", name="Taken")
    before = (enmeshed.name, enmeshed.settings, enmeshed.credentials, enmeshed.webhook_secrets)
    response = patch(
        staff, enmeshed, {"webhook_secrets": [OTHER_SECRET], "members": [agent.pk], **change}
    )
    body = assert_refused(response, field)
    assert words in body["fields"][field][0], body
    assert "987654321" not in text(response)
    enmeshed.refresh_from_db()
    after = (enmeshed.name, enmeshed.settings, enmeshed.credentials, enmeshed.webhook_secrets)
    assert after == before
    assert not enmeshed.members.exists()


def test_put_is_not_offered(staff, enmeshed):
    """A whole replacement would need the write-only secrets again: PATCH changes what it names."""
    response = staff.put(f"{URL}{enmeshed.pk}/", {"name": "x"}, format="json")
    assert response.status_code == 405


# --- disable --------------------------------------------------------------------------------------


def test_delete_disables_the_channel_and_keeps_everything(staff, post_webhook):
    channel = make_channel(platform="scalar", name="Fleet")
    assert post_webhook(channel, fixture_bytes("scalar", "chat_message_sent")).status_code == 202
    process_due_events()
    events = InboundEvent.objects.filter(channel=channel).count()
    assert Conversation.objects.filter(channel=channel).exists()

    response = staff.delete(f"{URL}{channel.pk}/")

    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is False
    channel.refresh_from_db()
    assert channel.is_active is False
    assert Conversation.objects.filter(channel=channel).exists()
    assert InboundEvent.objects.filter(channel=channel).count() == events
    # Disabled: its webhooks are no longer taken. Asked again: the same answer.
    assert post_webhook(channel, fixture_bytes("scalar", "chat_message_seen")).status_code == 404
    assert staff.delete(f"{URL}{channel.pk}/").json()["is_active"] is False
    # And it can be enabled again.
    assert patch(staff, channel, {"is_active": True}).json()["is_active"] is True


# --- poll now -------------------------------------------------------------------------------------


@pytest.fixture
def fake_connector() -> Any:
    with FakeConnector("core-v1") as fake:
        yield fake
        assert fake.crashes == []


def test_poll_queues_the_channels_poll_and_a_worker_runs_it(staff, fake_connector):
    channel = services.create_channel(
        platform="enmeshed",
        name="Connector",
        settings={"base_url": fake_connector.base_url, "poll_interval": 600},
        credentials={"api_key": API_KEY},
    )
    # Polled a minute ago: by its interval the next poll is far off.
    later = timezone.now() + timedelta(minutes=9)
    PollCursor.objects.create(
        channel=channel, last_polled_at=timezone.now() - timedelta(minutes=1), next_attempt_at=later
    )
    fake_connector.receive_message(subject="Polled", body="Found by the poll.")
    before = timezone.now()

    response = staff.post(f"{URL}{channel.pk}/poll/")

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["channel"] == channel.pk
    assert body["last_poll_error"] == ""
    cursor = PollCursor.objects.get(channel=channel)
    assert cursor.next_attempt_at is not None
    assert before <= cursor.next_attempt_at <= timezone.now()
    assert body["due_at"] == cursor.next_attempt_at.isoformat().replace("+00:00", "Z")
    assert not InboundEvent.objects.exists()  # nothing polled inside the request

    # What the woken worker (or beat's next run) does:
    assert poll_channels() == {"polled": 1, "failed": 0, "new_events": 1}
    cursor.refresh_from_db()
    assert cursor.last_polled_at is not None
    assert cursor.last_polled_at >= before
    assert cursor.next_attempt_at is not None
    assert cursor.next_attempt_at > timezone.now() + timedelta(minutes=9)
    assert InboundEvent.objects.filter(channel=channel, request__source="poll").count() == 1


def test_poll_of_a_channel_that_never_polled_creates_its_cursor(staff, enmeshed):
    response = staff.post(f"{URL}{enmeshed.pk}/poll/")
    assert response.status_code == 202
    assert response.json()["last_poll_at"] is None
    assert PollCursor.objects.get(channel=enmeshed).next_attempt_at is not None


@pytest.mark.parametrize(
    "make",
    [
        lambda: make_channel(platform="scalar"),  # SCALAR has nothing to poll
        lambda: make_channel(platform="liveperson"),
        lambda: make_channel(platform="enmeshed", settings={"base_url": "http://c"}),  # no key
        lambda: services.create_channel(
            platform="enmeshed",
            name="Off",
            settings={"base_url": "http://c", "poll_interval": 0},
            credentials={"api_key": SECRET},
        ),
    ],
)
def test_poll_of_a_channel_that_cannot_poll_is_a_409(staff, make):
    channel = make()
    response = staff.post(f"{URL}{channel.pk}/poll/")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "conflict"
    assert "cannot poll" in response.json()["detail"]
    assert not PollCursor.objects.exists()


def test_poll_of_a_disabled_channel_is_a_409(staff, enmeshed):
    services.update_channel(channel=enmeshed, is_active=False)
    response = staff.post(f"{URL}{enmeshed.pk}/poll/")
    assert response.status_code == 409
    assert response.json()["detail"] == "The channel is disabled."
    assert not PollCursor.objects.exists()


# --- health ---------------------------------------------------------------------------------------


@pytest.fixture
def broken_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scalar parser fails every item (so its events end failed)."""

    def buggy(**kwargs: Any) -> Any:
        raise PayloadError("the parser had a bug")

    monkeypatch.setattr(get_connector("scalar"), "parse", buggy)


def test_health_tells_the_way_in_the_newest_error_and_the_queue(
    staff, post_webhook, broken_parser, django_assert_num_queries
):
    channel = make_channel(platform="scalar", name="Fleet")
    other = make_channel(platform="scalar", name="Other")
    assert post_webhook(channel, fixture_bytes("scalar", "chat_message_sent")).status_code == 202
    process_due_events()  # failed
    assert post_webhook(channel, fixture_bytes("scalar", "chat_message_seen")).status_code == 202
    assert post_webhook(other, fixture_bytes("scalar", "chat_message_seen")).status_code == 202
    polled = timezone.now() - timedelta(minutes=3)
    PollCursor.objects.create(channel=channel, last_polled_at=polled, error="timed out")
    for i, state in enumerate(["queued", "queued", "done", "failed"]):
        OutboundCommand.objects.create(channel=channel, kind="send", key=f"k{i}", state=state)
    OutboundCommand.objects.create(channel=other, kind="send", key="k", state="queued")
    failed = InboundEvent.objects.get(channel=channel, state="failed")

    # the channel with its cursor and newest webhook and failure; inbound and outbound counts
    with django_assert_num_queries(3):
        response = staff.get(f"{URL}{channel.pk}/health/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["last_webhook_at"] is not None
    assert body["last_poll_at"] == polled.isoformat().replace("+00:00", "Z")
    assert body["last_poll_error"] == "timed out"
    assert body["next_poll_at"] is None  # SCALAR is not polled
    assert body["last_error"]["kind"] == "inbound_event"
    assert "the parser had a bug" in body["last_error"]["error"]
    assert body["last_error"]["at"] == failed.received_at.isoformat().replace("+00:00", "Z")
    assert body["backlog"]["pending"] == 1
    assert body["backlog"]["failed"] == 1
    assert body["backlog"]["oldest_pending_at"] is not None
    assert body["outbound"] == {"queued": 2, "failed": 1}


def test_health_of_a_quiet_channel_and_a_refused_credential(staff, enmeshed):
    body = staff.get(f"{URL}{enmeshed.pk}/health/").json()
    assert body == {
        "last_webhook_at": None,
        "last_poll_at": None,
        "last_poll_error": "",
        "next_poll_at": None,
        "last_error": None,
        "backlog": {"pending": 0, "failed": 0, "retrying": 0, "oldest_pending_at": None},
        "outbound": {"queued": 0, "failed": 0},
    }
    refused_at = timezone.now()
    Channel.objects.filter(pk=enmeshed.pk).update(
        credentials_error="The platform refused the channel's credentials: 401",
        credentials_error_at=refused_at,
    )
    staff.post(f"{URL}{enmeshed.pk}/poll/")
    body = staff.get(f"{URL}{enmeshed.pk}/health/").json()
    assert body["last_error"] == {
        "kind": "credentials",
        "error": "The platform refused the channel's credentials: 401",
        "at": refused_at.isoformat().replace("+00:00", "Z"),
    }
    assert body["next_poll_at"] is not None  # queued by the poll above


# --- secrets never come back --------------------------------------------------------------------


def test_no_secret_is_in_any_answer_or_log_line(staff, agent, caplog):
    caplog.set_level(logging.DEBUG)
    answers = []
    plain, credentials = VALID["enmeshed"]
    create = {
        "platform": "enmeshed",
        "name": "Mailbox",
        "settings": plain,
        "credentials": credentials,
        "webhook_secrets": [WEBHOOK_SECRET],
    }
    answers.append(staff.post(URL, create, format="json"))
    pk = answers[-1].json()["id"]
    one = f"{URL}{pk}/"
    answers += [
        staff.post(URL, create, format="json"),  # the name is taken
        staff.post(URL, {**create, "name": "B", "credentials": {"x": SECRET}}, format="json"),
        staff.get(URL),
        staff.get(one),
        staff.get(URL, {"format": "api"}),  # the browsable API's page and forms
        staff.patch(one, {"credentials": {"api_key": OTHER_SECRET}}, format="json"),
        staff.patch(one, {"credentials": {"nope": OTHER_SECRET}}, format="json"),
        staff.patch(one, {"credentials": {"api_version": OTHER_SECRET}}, format="json"),
        staff.patch(one, {"settings": {"api_key": OTHER_SECRET}}, format="json"),
        staff.patch(one, {"webhook_secrets": [OTHER_SECRET], "name": ""}, format="json"),
        staff.post(f"{one}poll/"),
        staff.get(f"{one}health/"),
        staff.delete(one),
        staff.post(f"{one}poll/"),  # disabled now: 409
    ]
    assert [a.status_code for a in answers] == [
        *(201, 400, 400, 200, 200, 200, 200, 400, 400, 400, 400, 202, 200, 200, 409)
    ]
    for answer in answers:
        assert_no_secret(answer)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in SECRETS:
        assert secret not in logged
    # It was stored all the same.
    assert Channel.objects.get(pk=pk).credentials == {"api_key": OTHER_SECRET}


# --- the schema -----------------------------------------------------------------------------------


def test_the_schema_describes_every_answer(staff):
    import yaml

    schema = yaml.safe_load(staff.get("/api/schema/").content)
    paths = schema["paths"]
    assert set(paths[URL]) == {"get", "post"}
    assert set(paths["/api/v1/channels/{id}/"]) == {"get", "patch", "delete"}
    poll = paths["/api/v1/channels/{id}/poll/"]["post"]["responses"]
    assert {"202", "401", "403", "404", "409"} <= set(poll)
    assert set(paths["/api/v1/channels/{id}/health/"]["get"]["responses"]) == {
        "200",
        "401",
        "403",
        "404",
    }
    request = schema["components"]["schemas"]["ChannelCreateRequest"]["properties"]
    assert request["credentials"]["writeOnly"] is True
    assert request["webhook_secrets"]["writeOnly"] is True
    answer = schema["components"]["schemas"]["Channel"]["properties"]
    assert "credentials" not in answer
    assert "webhook_secrets" not in answer
    assert json.dumps(answer["capabilities"]) == json.dumps(
        {"allOf": [{"$ref": "#/components/schemas/ChannelCapabilities"}], "readOnly": True}
    )
