"""Schemathesis against the running API: every operation of ``/api/schema/``, with a staff token,
must answer no server error, nothing the schema does not describe, and no undocumented status.

``python -m tests.api_conformance`` (``make api-check``; ``.ci/run`` runs it) builds a database
of its own on the PostgreSQL of DATABASE_URL, fills it with the demo data, starts gunicorn on a
free port and runs schemathesis there. EXAMPLES (default 20) sets the cases per operation.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

from tests.fakes.enmeshed import FakeConnector

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DATABASE = "switchboard_api_conformance"
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    )
)


def main() -> int:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/switchboard")
    parts = urlsplit(base)
    _recreate(urlunsplit(parts._replace(path="/postgres")))
    media = tempfile.mkdtemp(prefix="api-conformance-")
    env = {
        **os.environ,
        "DATABASE_URL": urlunsplit(parts._replace(path=f"/{DATABASE}")),
        "REDIS_URL": os.environ.get("API_CHECK_REDIS_URL", "redis://127.0.0.1:6379/7"),
        "MEDIA_ROOT": media,
        "DEBUG": "1",  # the demo data's admin; errors are still answered by the API's handler
        "API_WRITE_RATE": "",  # every generated case reaches its view
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    manage = [str(BIN / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "demo", "--admin"], cwd=ROOT, env=env, check=True)
    token = subprocess.run(
        [*manage, "drf_create_token", "admin"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[2]
    # The calls the API makes while answering (relationship templates, their QR codes) go to the
    # fake Connector, as in the suite; the other platforms are only called by the workers.
    connector = FakeConnector().start()
    script = (
        "from inbox import services; from inbox.models import Channel; "
        "channel = Channel.objects.get(platform='enmeshed'); "
        "services.update_channel(channel=channel, "
        f"credentials={{'api_key': {connector.api_key!r}}}, "
        f"settings={{**channel.settings, 'base_url': {connector.base_url!r}}})"
    )
    subprocess.run([*manage, "shell", "-c", script], cwd=ROOT, env=env, check=True)
    port = _free_port()
    # Served as in production: DEBUG off (Django's own pages for errors, not the debug ones).
    served = {**env, "DEBUG": "0", "LOG_LEVEL": "ERROR"}  # 4xx by the thousand: not logged
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "config.wsgi",
            *("--bind", f"127.0.0.1:{port}", "--workers", "2", "--log-level", "warning"),
            # The app, not gunicorn, answers long query strings (a proxy limits them in front).
            *("--limit-request-line", "0"),
        ],
        cwd=ROOT,
        env=served,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        schema = Path(media) / "schema.json"
        schema.write_bytes(_schema(url, token))
        command = [
            str(BIN / "schemathesis"),
            "run",
            str(schema),
            "--url",
            url,
            "--header",
            f"Authorization: Token {token}",
            "--checks",
            CHECKS,
            "--max-examples",
            os.environ.get("EXAMPLES", "20"),
            "--seed",
            os.environ.get("SEED", "1"),
            "--workers",
            "2",
            "--request-timeout",
            "30",
        ]
        return subprocess.run(command, cwd=ROOT, env=env).returncode
    finally:
        server.terminate()
        server.wait(timeout=30)
        connector.stop()


def _recreate(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _schema(url: str, token: str) -> bytes:
    deadline = time.monotonic() + 60
    while True:
        try:
            response = httpx.get(
                f"{url}/api/schema/?format=json",
                headers={"Authorization": f"Token {token}"},
                timeout=30,
            )
            response.raise_for_status()
            return response.content
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
