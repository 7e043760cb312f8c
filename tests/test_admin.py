"""Django admin: every page renders, what the way in writes is read-only, actions go through the
services, channel secrets are write-only and API token keys are never shown."""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token

from inbox import services
from inbox.inbound import process_due_events
from inbox.models import (
    Channel,
    Conversation,
    ConversationAlias,
    InboundEvent,
    InboundRequest,
    Message,
)
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes

pytestmark = pytest.mark.django_db

READ_ONLY = [
    "inbox.conversation",
    "inbox.conversationalias",
    "inbox.message",
    "inbox.messagestatusevent",
    "inbox.attachment",
    "inbox.readstate",
    "inbox.contact",
    "inbox.inboundevent",
    "inbox.inboundrequest",
    "relationships.relationship",
    "relationships.relationshiptemplate",
    "relationships.relationshipchange",
]
# Own templates are created from the admin (through the Connector); the rest stays read-only.
CREATED_IN_ADMIN = {"relationships.relationshiptemplate"}


@pytest.fixture
def demo(capsys, owner, post_webhook):
    """The demo data, plus the rows it has none of: a read state, an alias, 1.x changes."""
    call_command("demo")
    capsys.readouterr()
    conversation = Conversation.objects.filter(last_position__gt=0).first()
    services.mark_read(user=owner, conversation=conversation)
    ConversationAlias.objects.create(
        channel=conversation.channel, external_id="dialog-1", conversation=conversation
    )
    legacy = ChannelFactory(platform="enmeshed", name="Legacy", settings={})
    post_webhook(legacy, fixture_bytes("enmeshed", "legacy_v1_account_sync_response"))
    process_due_events()


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def registered_models():
    return [model for model in apps.get_models() if admin.site.is_registered(model)]


def test_every_list_and_change_page_renders(staff_client, demo):
    for model in registered_models():
        assert staff_client.get(url(model, "changelist")).status_code == 200, model
        row = model._default_manager.first()
        if row is not None:
            assert staff_client.get(url(model, "change", row.pk)).status_code == 200, model


@pytest.mark.parametrize("label", READ_ONLY)
def test_rows_the_way_in_writes_cannot_be_added_changed_or_deleted(staff_client, demo, label):
    model = apps.get_model(label)
    row = model._default_manager.first()
    if label not in CREATED_IN_ADMIN:
        assert staff_client.get(url(model, "add")).status_code == 403
    assert staff_client.post(url(model, "change", row.pk), {}).status_code == 403
    assert staff_client.post(url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    assert model._default_manager.filter(pk=row.pk).exists()


def test_an_event_nested_as_deep_as_the_way_in_allows_renders(staff_client):
    channel = ChannelFactory(platform="scalar")
    nested: list = []
    for _ in range(62):
        nested = [nested]
    request = InboundRequest.objects.create(
        channel=channel,
        source="webhook",
        body=b"[]",
        body_sha256="0" * 64,
        received_at="2026-05-12T06:00:00Z",
    )
    event = InboundEvent.objects.create(
        channel=channel,
        request=request,
        dedup_key="deep",
        event_name="message.sent",
        payload={"eventsData": nested},
        received_at="2026-05-12T06:00:00Z",
    )
    page = staff_client.get(url(InboundEvent, "change", event.pk))
    assert page.status_code == 200
    assert b"eventsData" in page.content


def test_the_request_page_shows_the_body_as_received_escaped(staff_client, post_webhook):
    channel = ChannelFactory(platform="scalar")
    post_webhook(channel, b'{"eventsData": "<script>alert(1)</script>" \xff}')
    request = InboundRequest.objects.get()
    page = staff_client.get(url(InboundRequest, "change", request.pk)).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert "\\xff" in page  # undecodable bytes are shown, not dropped


def test_the_replay_action_on_events_parses_them_again(staff_client, post_webhook):
    channel = ChannelFactory(platform="scalar")
    post_webhook(channel, fixture_bytes("scalar", "mixed_batch"))
    process_due_events()
    failed = InboundEvent.objects.get(state="failed")
    response = staff_client.post(
        url(InboundEvent, "changelist"),
        {"action": "replay", "_selected_action": [failed.pk]},
        follow=True,
    )
    assert b"1 event(s) queued again." in response.content
    failed.refresh_from_db()
    assert (failed.state, failed.attempts) == ("pending", 0)


def test_the_replay_action_on_requests_splits_them_again(staff_client, post_webhook):
    channel = ChannelFactory(platform="scalar")
    post_webhook(channel, fixture_bytes("scalar", "chat_message_sent"))
    process_due_events()
    request = InboundRequest.objects.get()
    response = staff_client.post(
        url(InboundRequest, "changelist"),
        {"action": "replay", "_selected_action": [request.pk]},
        follow=True,
    )
    assert b"1 event(s) queued again." in response.content
    assert process_due_events() == {"processed": 1}
    assert Message.objects.count() == 1


# --- channels: editable, secrets write-only --------------------------------------------------


def channel_form(**overrides):
    form = {
        "platform": "comapi",
        "name": "App chat",
        "is_active": "on",
        "settings": json.dumps({"profile_id": "support.agent.03"}),
        "new_webhook_secrets": "",
        "credential_changes": "",
    }
    return {**form, **overrides}


def test_a_channel_added_in_admin_stores_its_secrets_encrypted(staff_client, post_webhook):
    response = staff_client.post(
        url(Channel, "add"),
        channel_form(
            new_webhook_secrets="first-secret\nsecond-secret\n",
            credential_changes="jwt_secret=abc123",
        ),
    )
    assert response.status_code == 302
    channel = Channel.objects.get()
    assert channel.webhook_secrets == ["first-secret", "second-secret"]
    assert channel.credentials == {"jwt_secret": "abc123"}
    body = fixture_bytes("comapi", "ws_conversationMessage.sent")
    assert post_webhook(channel, body, secret="second-secret").status_code == 202


def test_the_channel_page_never_shows_secrets(staff_client):
    channel = ChannelFactory(platform="comapi", webhook_secrets=["hook-secret-value"])
    channel.credentials = {"api_key": "credential-value"}
    channel.save()
    page = staff_client.get(url(Channel, "change", channel.pk)).content.decode()
    assert "hook-secret-value" not in page
    assert "credential-value" not in page
    assert "1 webhook secret(s); credentials: api_key" in page


def test_saving_a_channel_without_new_secrets_keeps_them(staff_client):
    channel = ChannelFactory(platform="comapi", name="App chat", webhook_secrets=["kept"])
    channel.credentials = {"api_key": "old", "other": "stays"}
    channel.save()
    response = staff_client.post(
        url(Channel, "change", channel.pk),
        channel_form(name="Renamed", credential_changes="api_key=\njwt_secret=v"),
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "Renamed"
    assert channel.webhook_secrets == ["kept"]
    assert channel.credentials == {"other": "stays", "jwt_secret": "v"}


def test_new_secrets_replace_the_old_ones(staff_client):
    channel = ChannelFactory(platform="comapi", name="App chat", webhook_secrets=["old"])
    staff_client.post(url(Channel, "change", channel.pk), channel_form(new_webhook_secrets="new"))
    channel.refresh_from_db()
    assert channel.webhook_secrets == ["new"]


def test_an_unknown_setting_is_a_form_error_listing_the_valid_ones(staff_client):
    response = staff_client.post(
        url(Channel, "add"), channel_form(settings=json.dumps({"colour": "red"}))
    )
    assert response.status_code == 200
    assert "unknown comapi setting(s): colour; valid: base_url" in response.content.decode()
    assert not Channel.objects.exists()


def test_a_malformed_credential_line_is_refused_naming_the_field(staff_client):
    response = staff_client.post(url(Channel, "add"), channel_form(credential_changes="oops"))
    assert response.status_code == 200
    assert "write KEY=VALUE" in response.context["adminform"].form.errors["credential_changes"][0]
    assert not Channel.objects.exists()


def test_a_taken_channel_name_is_a_form_error_not_a_crash(staff_client):
    ChannelFactory(platform="comapi", name="App chat")
    response = staff_client.post(url(Channel, "add"), channel_form())
    assert response.status_code == 200
    assert Channel.objects.count() == 1


# --- API tokens --------------------------------------------------------------------------------


def test_the_token_admin_lists_tokens_without_their_keys(staff_client, owner):
    token = Token.objects.create(user=owner)
    listing = staff_client.get(reverse("admin:authtoken_tokenproxy_changelist")).content.decode()
    assert owner.username in listing
    assert token.key not in listing
    assert "sha256:" in listing
    change = staff_client.get(
        reverse("admin:authtoken_tokenproxy_change", args=[token.pk])
    ).content.decode()
    assert token.key not in change
    assert staff_client.get(reverse("admin:authtoken_tokenproxy_add")).status_code == 403
