"""The HTTP contract of the one webhook view (DESIGN.md §4): 202/401/404/413/400/503, never 500."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection

from inbox.models import InboundEvent, InboundRequest, Message
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes

pytestmark = pytest.mark.django_db

SENT = fixture_bytes("scalar", "chat_message_sent")


@pytest.fixture
def channel():
    return ChannelFactory(platform="scalar")


def test_authentic_webhook_is_stored_and_answered_202(channel, post_webhook):
    response = post_webhook(channel, SENT)

    assert response.status_code == 202
    assert response.json() == {"detail": "accepted", "events": 1}
    request = InboundRequest.objects.get()
    assert (request.channel, request.source, request.item_count) == (channel, "webhook", 1)
    assert bytes(request.body) == SENT  # the request whole, byte for byte
    assert request.headers == {"Content-Type": "application/json"}  # no signature kept
    event = InboundEvent.objects.get()
    assert (event.channel, event.request, event.state) == (channel, request, "pending")
    assert event.event_name == "message.sent"
    assert event.payload == json.loads(SENT)["eventsData"][0]  # the platform's item unchanged
    assert set(event.envelope) == {"eventBatchId", "eventSubscriptionId", "eventBatchTime"}


def test_duplicate_delivery_is_accepted_and_stored_once(channel, post_webhook, process):
    first = post_webhook(channel, SENT)
    second = post_webhook(channel, SENT)
    process()
    third = post_webhook(channel, SENT)
    process()

    assert [r.status_code for r in (first, second, third)] == [202, 202, 202]
    assert InboundRequest.objects.count() == 1
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


def test_unknown_platform_is_404(channel, post_webhook):
    response = post_webhook(channel, SENT, path=f"/webhooks/telegram/{channel.key}/")
    assert response.status_code == 404
    assert not InboundEvent.objects.exists()


def test_unknown_channel_key_is_404(channel, post_webhook):
    response = post_webhook(channel, SENT, path=f"/webhooks/scalar/{uuid.uuid4()}/")
    assert response.status_code == 404


def test_channel_of_another_platform_is_404(channel, post_webhook):
    response = post_webhook(channel, SENT, path=f"/webhooks/comapi/{channel.key}/")
    assert response.status_code == 404
    assert not InboundEvent.objects.exists()


def test_inactive_channel_is_404(post_webhook):
    channel = ChannelFactory(platform="scalar", is_active=False)
    assert post_webhook(channel, SENT).status_code == 404


def test_body_over_one_mebibyte_is_413(channel, post_webhook):
    document = json.loads(SENT)
    document["padding"] = "x" * (1024 * 1024)
    response = post_webhook(channel, json.dumps(document).encode())
    assert response.status_code == 413
    assert not InboundEvent.objects.exists()


def test_body_of_exactly_one_mebibyte_is_accepted(channel, post_webhook):
    document = json.loads(SENT)
    document["padding"] = ""
    body = json.dumps(document).encode()
    document["padding"] = "x" * (1024 * 1024 - len(body))
    body = json.dumps(document).encode()
    assert len(body) == 1024 * 1024
    assert post_webhook(channel, body).status_code == 202


def test_authentic_body_that_is_not_json_is_400_and_kept(channel, post_webhook):
    response = post_webhook(channel, b"\xff\xfe not json at all")

    assert response.status_code == 400
    request = InboundRequest.objects.get()
    assert bytes(request.body) == b"\xff\xfe not json at all"
    assert request.error.startswith("not JSON")
    assert not InboundEvent.objects.exists()


def test_authentic_json_of_the_wrong_shape_is_400_and_kept(channel, post_webhook):
    response = post_webhook(channel, b'{"hello": "world"}')

    assert response.status_code == 400
    assert "scalar" in response.json()["detail"]
    assert InboundRequest.objects.get().error.startswith("not a valid scalar document")


def test_unsigned_garbage_is_401_not_400(channel, post_webhook):
    assert post_webhook(channel, b"garbage", secret=None).status_code == 401
    assert not InboundEvent.objects.exists()


def test_get_is_not_allowed(channel, client):
    assert client.get(channel.webhook_path()).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_database_outage_is_503_so_the_platform_retries(channel, post_webhook):
    settings_dict = connection.settings_dict
    original_port = settings_dict["PORT"]
    connection.close()
    settings_dict["PORT"] = "1"  # nothing listens there: every query fails to connect
    try:
        response = post_webhook(channel, SENT)
    finally:
        connection.close()
        settings_dict["PORT"] = original_port
    assert response.status_code == 503
    assert response.json()["detail"].startswith("temporarily unavailable")
    assert not InboundRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_database_that_fails_while_storing_is_503(channel, post_webhook):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE inbox_inboundrequest RENAME TO inbox_inboundrequest_away")
    try:
        response = post_webhook(channel, SENT)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE inbox_inboundrequest_away RENAME TO inbox_inboundrequest")
    assert response.status_code == 503
    assert not InboundEvent.objects.exists()
    assert post_webhook(channel, SENT).status_code == 202  # the platform's retry is stored


def test_a_body_nested_beyond_what_python_can_parse_is_400_and_kept(channel, post_webhook):
    body = b"[" * 200_000 + b"]" * 200_000
    response = post_webhook(channel, body)
    assert response.status_code == 400
    assert InboundRequest.objects.get().error == "nested deeper than 64 levels"
