"""Secrets at rest and the keys that protect them: refusing development keys in production,
rotating keys without 500s, re-encrypting with the newest key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from inbox import checks
from inbox.models import Channel
from inbox.models.fields import Unreadable, fernet
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
SENT = fixture_bytes("scalar", "chat_message_sent")


@pytest.fixture
def keys(settings):
    """Change FIELD_ENCRYPTION_KEY / SECRET_KEY in a test; the key ring follows."""
    fernet.cache_clear()
    yield settings
    fernet.cache_clear()


def stored(channel: Channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT webhook_secrets FROM inbox_channel WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


# --- refusing to start with development keys -------------------------------------------------


def error_ids(settings_) -> set[str]:
    return {error.id for error in checks.check_secrets()}


def test_development_keys_are_deploy_errors_with_debug_off(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = settings.DEVELOPMENT_SECRET_KEY
    settings.FIELD_ENCRYPTION_KEYS = []
    assert error_ids(settings) == {"inbox.E002", "inbox.E003"}
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    assert error_ids(settings) == {"inbox.E002", "inbox.E004"}
    settings.SECRET_KEY = "a-real-and-long-random-secret-key-for-this-deployment-0123456789"
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    assert error_ids(settings) == set()


def test_development_keys_are_fine_with_debug_on(settings):
    settings.DEBUG = True
    settings.FIELD_ENCRYPTION_KEYS = []
    assert checks.check_secrets() == []


def run_python(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY")}
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", **environment},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("entry_point", ["config.wsgi", "config.asgi"])
def test_the_production_entry_points_refuse_development_keys(entry_point):
    refused = run_python(f"import {entry_point}", DEBUG="0")
    assert refused.returncode != 0
    assert "Switchboard refuses to start" in refused.stderr
    assert "inbox.E002" in refused.stderr
    assert "inbox.E003" in refused.stderr

    started = run_python(
        f"import {entry_point}; print('served')",
        DEBUG="0",
        SECRET_KEY="a-real-and-long-random-secret-key-for-this-deployment-0123456789",
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "served"


@pytest.mark.parametrize("program", ["worker", "beat"])
def test_the_celery_processes_refuse_development_keys(program, tmp_path):
    code = (
        "import sys; from celery.__main__ import main; "
        f"sys.argv = ['celery', '-A', 'config', '{program}', '--loglevel', 'WARNING', "
        f"'--schedule', '{tmp_path / 'beat-schedule'}'] if '{program}' == 'beat' else "
        f"['celery', '-A', 'config', '{program}', '--loglevel', 'WARNING', '--pool', 'solo']; "
        "main()"
    )
    refused = run_python(code, DEBUG="0")
    assert refused.returncode != 0
    assert "Switchboard refuses to start" in refused.stdout + refused.stderr


def test_the_proxy_https_header_is_trusted_only_when_configured():
    code = "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"
    assert run_python(code, DEBUG="1").stdout.strip() == "None"
    configured = run_python(code, DEBUG="1", SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https")
    assert configured.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_a_fresh_key_is_printed_by_a_command(capsys):
    call_command("generate_encryption_key")
    Fernet(capsys.readouterr().out.strip())  # a valid key, or this raises


# --- rotation --------------------------------------------------------------------------------


def test_rotating_the_encryption_key_and_reencrypting(keys, capsys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keys.FIELD_ENCRYPTION_KEYS = [old]
    channel = ChannelFactory(platform="scalar", webhook_secrets=["rotate-me"])
    written_with_old = stored(channel)

    # The new key goes first; the old one stays until everything is re-encrypted.
    keys.FIELD_ENCRYPTION_KEYS = [new, old]
    fernet.cache_clear()
    assert Channel.objects.get().webhook_secrets == ["rotate-me"]
    call_command("reencrypt_secrets")
    assert capsys.readouterr().out.strip() == "re-encrypted 1 row(s)"
    assert stored(channel) != written_with_old

    keys.FIELD_ENCRYPTION_KEYS = [new]  # the old key is gone
    fernet.cache_clear()
    assert Channel.objects.get().webhook_secrets == ["rotate-me"]


def test_reencrypting_reports_values_no_key_fits(keys):
    keys.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    ChannelFactory(platform="scalar", webhook_secrets=["lost"])
    keys.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    fernet.cache_clear()
    with pytest.raises(CommandError, match="fit none of the keys"):
        call_command("reencrypt_secrets")


def test_rotating_the_secret_key_keeps_webhooks_working_with_fallbacks(keys, post_webhook):
    keys.FIELD_ENCRYPTION_KEYS = []  # development: field keys derived from SECRET_KEY
    keys.SECRET_KEY = "first-secret-key-of-this-installation-0123456789-abcdefghijklmnop"
    ChannelFactory(platform="scalar")

    keys.SECRET_KEY = "second-secret-key-of-this-installation-0123456789-abcdefghijklmn"
    keys.SECRET_KEY_FALLBACKS = [
        "first-secret-key-of-this-installation-0123456789-abcdefghijklmnop"
    ]
    fernet.cache_clear()
    assert post_webhook(Channel.objects.get(), SENT).status_code == 202


def test_a_key_rotated_away_never_costs_a_500(keys, post_webhook, client, owner):
    keys.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    ChannelFactory(platform="scalar")
    owner.is_superuser = True
    owner.save()
    client.force_login(owner)
    keys.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key is lost
    fernet.cache_clear()

    channel = Channel.objects.get()
    assert isinstance(channel.webhook_secrets, Unreadable)
    # The platform is told to retry (an operator can restore the key), nothing is a 500.
    assert post_webhook(channel, SENT).status_code == 503
    page = client.get(f"/admin/inbox/channel/{channel.pk}/change/")
    assert page.status_code == 200
    assert b"cannot be decrypted" in page.content
    assert client.get("/admin/inbox/channel/").status_code == 200
    assert client.get("/api/v1/conversations/").status_code == 200

    # Saving other fields keeps the unreadable value as it is, for when the key comes back.
    token = channel.webhook_secrets.token
    channel.name = "Renamed"
    channel.save()
    assert stored(channel) == token


def test_rotating_the_secret_key_logs_users_out_instead_of_failing(keys, client, owner):
    client.force_login(owner)
    assert client.get("/api/v1/conversations/").status_code == 200
    keys.SECRET_KEY = "a-completely-new-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    response = client.get("/admin/")
    assert response.status_code == 302  # to the login page, not an error
    assert client.get("/api/v1/conversations/").status_code in (401, 403)


def test_a_malformed_encryption_key_is_a_configuration_error(keys):
    from django.core.exceptions import ImproperlyConfigured

    keys.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="Fernet keys"):
        fernet()


def test_an_unreadable_value_reads_as_empty_and_keeps_its_token():
    lost = Unreadable("gAAAA-token")
    assert not lost
    assert list(lost) == []
    assert lost == Unreadable("gAAAA-token")
    assert len({lost, Unreadable("gAAAA-token")}) == 1
    assert "gAAAA" not in repr(lost)
