"""Suite-wide fixtures. The suite runs against real PostgreSQL and Redis and refuses to start
without them: a silent fallback to SQLite would hide the behaviour we test."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest


def pytest_sessionstart(session: pytest.Session) -> None:
    if not session.config.pluginmanager.hasplugin("django"):
        return  # pure parser tests run with -p no:django
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.exit(
            "The suite needs PostgreSQL: set DATABASE_URL=postgres://… (make test does).",
            returncode=3,
        )
    import psycopg

    try:
        psycopg.connect(
            host=db["HOST"],
            port=db["PORT"] or 5432,
            user=db["USER"],
            password=db["PASSWORD"],
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.OperationalError as exc:
        pytest.exit(
            f"PostgreSQL at {db['HOST']}:{db['PORT']} is not reachable ({exc}). Start "
            "it: pg_ctlcluster --skip-systemctl-redirect <version> main start",
            returncode=3,
        )
    if not settings.REDIS_URL:
        pytest.exit(
            "The suite needs Redis: set REDIS_URL=redis://… (make test does).", returncode=3
        )
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.exit(
            f"Redis at {settings.REDIS_URL} is not reachable ({exc}). Start it: "
            "redis-server --daemonize yes --port 6379",
            returncode=3,
        )


@pytest.fixture(scope="session")
def django_db_modify_db_settings() -> None:
    """A test database of this run's own, so that runs side by side never drop each other's."""
    from django.conf import settings
    from django.db import connection

    # Django has filled in TEST (NAME None) by now: the connection's own dict is the one used.
    test = connection.settings_dict.setdefault("TEST", {})
    if not test.get("NAME"):
        test["NAME"] = f"test_{connection.settings_dict['NAME']}_{os.getpid()}"
    settings.DATABASES["default"]["TEST"] = test


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> Any:
    """A fast hasher for the suite's users: the real one costs a good fraction of a second per
    password, which the suite's fixtures pay hundreds of times (never in production)."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _clean_cache(request: pytest.FixtureRequest) -> None:
    if request.config.pluginmanager.hasplugin("django"):
        from django.core.cache import cache

        cache.clear()


@pytest.fixture
def owner(db: Any) -> Any:
    from tests.factories import UserFactory

    return UserFactory(username="owner", is_staff=True)


@pytest.fixture
def agent(db: Any) -> Any:
    from tests.factories import UserFactory

    return UserFactory(username="agent")


@pytest.fixture
def outsider(db: Any) -> Any:
    from tests.factories import UserFactory

    return UserFactory(username="outsider")


@pytest.fixture
def staff_client(client: Any, owner: Any) -> Any:
    """Django's test client, logged in as a superuser (the admin)."""
    owner.is_superuser = True
    owner.save()
    client.force_login(owner)
    return client


@pytest.fixture
def post_webhook(client: Any) -> Callable[..., Any]:
    """POST a body to a channel's webhook, signed with ``secret`` unless ``headers`` are given.

    The signature comes from the connector's own ``sign`` (as the demo replay does); the
    security tests sign with their own, independent implementations instead.
    """
    from inbox.connectors.registry import get_connector

    def post(
        channel: Any,
        body: bytes | dict[str, Any] | list[Any],
        *,
        secret: str | None = "secret-current",
        headers: dict[str, str] | None = None,
        path: str | None = None,
    ) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if headers is None:
            headers = {}
            if secret is not None:
                headers = get_connector(channel.platform).sign(
                    body=raw, secret=secret, settings=channel.settings
                )
        return client.post(
            path or channel.webhook_path(),
            data=raw,
            content_type="application/json",
            headers=headers,
        )

    return post


@pytest.fixture
def deliver(channel: Any, post_webhook: Callable[..., Any], process: Any) -> Callable[..., Any]:
    """Post fixtures (by name) or documents (bytes, dicts, lists) in order to ``channel`` (the
    test module's fixture) or to ``to``, expect each to be accepted, then run the pipeline;
    returns how many events ended in each state."""
    from tests.helpers import fixture_bytes

    def deliver(*items: str | bytes | dict[str, Any] | list[Any], to: Any = None) -> Any:
        target = to or channel
        for item in items:
            body = fixture_bytes(target.platform, item) if isinstance(item, str) else item
            response = post_webhook(target, body)
            assert response.status_code == 202, response.content
        return process()

    return deliver


@pytest.fixture
def process() -> Callable[[], Any]:
    from inbox.inbound import process_due_events

    return process_due_events


# --- the enmeshed Connector, faked -------------------------------------------------------------


@pytest.fixture(params=["v1", "core-v1"])
def connector(request: pytest.FixtureRequest) -> Any:
    """A fake enmeshed Connector (tests/fakes/enmeshed.py) of each API generation in turn."""
    from tests.fakes.enmeshed import FakeConnector

    with FakeConnector(request.param) as fake:
        yield fake
        assert fake.crashes == []


@pytest.fixture
def connected(db: Any, connector: Any) -> Any:
    """An enmeshed channel of the inbox, connected to ``connector`` (generation detected)."""
    from inbox import services
    from tests.fakes.enmeshed import API_KEY

    return services.create_channel(
        platform="enmeshed",
        name=f"Connector {connector.generation}",
        webhook_secrets=["connector-webhook-secret"],
        settings={
            "base_url": connector.base_url,
            "api_key": API_KEY,
            "poll_interval": "60",
        },
    )


@pytest.fixture
def member(agent: Any, connected: Any) -> Any:
    """``agent``, a member (not staff) of the ``connected`` channel."""
    connected.members.add(agent)
    return agent


@pytest.fixture
def member_api(member: Any) -> Any:
    """An API client authenticated as ``member``."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(member)
    return client
