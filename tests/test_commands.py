"""Management commands: channel set-up from the command line and the demo replay."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from inbox.models import Channel, Conversation, InboundEvent, InboundRequest, Message
from relationships.models import Relationship

pytestmark = pytest.mark.django_db


def test_add_channel_prints_key_and_webhook_url(capsys, settings):
    settings.PUBLIC_BASE_URL = "https://inbox.example.org/"
    call_command(
        "add_channel",
        "liveperson",
        "Shop support",
        "--webhook-secret",
        "s1",
        "--webhook-secret",
        "s2",
        "--setting",
        "account_id=41873265",
        "--credential",
        "client_secret=very-secret",
    )
    out = capsys.readouterr().out
    channel = Channel.objects.get()
    assert (channel.platform, channel.name) == ("liveperson", "Shop support")
    assert channel.webhook_secrets == ["s1", "s2"]
    assert channel.settings == {"account_id": "41873265"}
    assert channel.credentials == {"client_secret": "very-secret"}
    assert str(channel.key) in out
    assert f"https://inbox.example.org/webhooks/liveperson/{channel.key}/" in out
    assert "very-secret" not in out
    assert "s1" not in out


def test_add_channel_json_output(capsys):
    call_command("add_channel", "scalar", "Fleet", "--json")
    data = json.loads(capsys.readouterr().out)
    channel = Channel.objects.get()
    assert data["key"] == str(channel.key)
    assert data["webhook_url"].endswith(f"/webhooks/scalar/{channel.key}/")
    assert data["platform"] == "scalar"


def test_secrets_are_encrypted_at_rest():
    call_command(
        "add_channel",
        "comapi",
        "App",
        "--webhook-secret",
        "plain-secret-value",
        "--credential",
        "jwt_secret=plain-api-key",
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials, webhook_secrets FROM inbox_channel")
        credentials, secrets = cursor.fetchone()
    assert "plain-api-key" not in credentials
    assert "plain-secret-value" not in secrets


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scalar", "Fleet", "--setting", "no-equals-sign"], "KEY=VALUE"),
        (["scalar", "Fleet", "--credential", "=value"], "KEY=VALUE"),
    ],
)
def test_add_channel_rejects_bad_pairs(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("add_channel", *args)


def test_add_channel_rejects_a_taken_name():
    call_command("add_channel", "scalar", "Fleet")
    with pytest.raises(CommandError, match="exists already"):
        call_command("add_channel", "scalar", "Fleet")


def test_add_channel_rejects_an_unknown_platform():
    with pytest.raises(CommandError):
        call_command("add_channel", "telegram", "Chats")


def test_demo_replays_samples_through_the_webhook_and_processes_them(capsys):
    call_command("demo")
    out = capsys.readouterr().out
    assert Channel.objects.count() == 4
    assert "failed 0" in out
    assert not InboundEvent.objects.filter(state="failed").exists()
    assert set(InboundRequest.objects.values_list("source", flat=True)) == {"webhook"}
    for channel in Channel.objects.all():
        assert Conversation.objects.filter(channel=channel).count() >= 2, channel
        assert Message.objects.filter(channel=channel).exists(), channel
    assert Relationship.objects.filter(status="Pending", direction="incoming").exists()
    assert Message.objects.filter(audience="internal").exists()
    assert Message.objects.filter(status="read").exists()

    counts = (Channel.objects.count(), Message.objects.count(), InboundEvent.objects.count())
    call_command("demo")  # a second run adds nothing
    assert (
        Channel.objects.count(),
        Message.objects.count(),
        InboundEvent.objects.count(),
    ) == counts


def test_demo_admin_needs_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("demo", "--admin")


def test_enmeshed_settings_are_checked_and_secret_ones_encrypted_whichever_flag(capsys):
    call_command(
        "add_channel",
        "enmeshed",
        "Mailbox",
        "--setting",
        "base_url=http://connector:8080",
        "--setting",
        "api_key=the-connector-key",
        "--setting",
        "api_version=core-v1",
        "--setting",
        "poll_interval=120",
        "--setting",
        "sync=false",
    )
    channel = Channel.objects.get()
    assert channel.settings == {
        "base_url": "http://connector:8080",
        "api_version": "core-v1",
        "poll_interval": 120,
        "sync": False,
    }
    assert channel.credentials == {"api_key": "the-connector-key"}
    assert "the-connector-key" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--setting", "base_url=http://c", "--setting", "colour=red"], "unknown enmeshed setting"),
        (["--setting", "base_url=http://c"], "missing enmeshed setting.*api_key"),
        (["--setting", "api_key=k"], "missing enmeshed setting.*base_url"),
        (
            [
                "--setting",
                "base_url=http://c",
                "--credential",
                "api_key=k",
                "--setting",
                "api_version=v9",
            ],
            "api_version is one of auto, v1, core-v1",
        ),
        (
            [
                "--setting",
                "base_url=http://c",
                "--setting",
                "api_key=k",
                "--setting",
                "poll_interval=soon",
            ],
            "poll_interval takes a whole number",
        ),
        (
            ["--setting", "base_url=http://c", "--setting", "api_key=k", "--setting", "sync=maybe"],
            "sync takes true or false",
        ),
    ],
)
def test_wrong_or_missing_settings_are_refused_before_anything_is_saved(args, message):
    with pytest.raises(CommandError, match=message) as refused:
        call_command("add_channel", "enmeshed", "Mailbox", *args)
    if "unknown" in message or "missing" in message:
        # The valid ones are listed, the required and secret ones marked.
        assert "base_url (required)" in str(refused.value)
        assert "api_key (required, secret)" in str(refused.value)
    assert not Channel.objects.exists()
