"""What every benchmark shares: the database it runs in, the machine it ran on, timing helpers
and the report in docs/PERFORMANCE.md.

Benchmarks run against PostgreSQL and Redis with production settings (``DEBUG`` off, real keys),
in a database of their own (``BENCH_DATABASE_URL``, default ``switchboard_bench_<script>`` on the
test server), which each run recreates. Timings on a shared machine are noisy, so every figure is
reported beside a reference measured in the same run, as a ratio.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "PERFORMANCE.md"
# A database per benchmark (bench.lists -> switchboard_bench_lists…), so they can run side by side.
_SCRIPT = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] not in ("", "-c") else "bench"
BENCH_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/switchboard_bench_{_SCRIPT}"
)
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
# Fixed keys: the bench database is thrown away, and every process of a run must agree.
BENCH_SECRET_KEY = "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG"
BENCH_FIELD_KEY = "tqpn7m0qJ-0DhfYk0tq0-CFyx9Y2m4hYQb1vHVLk0qE="


def environment(**extra: str) -> dict[str, str]:
    """The environment of every process a benchmark starts: production settings, bench DB."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": BENCH_SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": BENCH_FIELD_KEY,
        "DATABASE_URL": BENCH_DATABASE_URL,
        "BENCH_DATABASE_URL": BENCH_DATABASE_URL,
        "REDIS_URL": BENCH_REDIS_URL,
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "SECURE_COOKIES": "0",
        "SECURE_HSTS_SECONDS": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SWITCHBOARD_VAR_DIR": str(ROOT / "var" / "bench"),
    }
    env.update(extra)
    return env


def setup_django() -> None:
    """Configure this process for the bench database (call before importing models)."""
    os.environ.update(environment())
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def recreate_database() -> None:
    """Drop and create the bench database and migrate it (in a child process)."""
    import psycopg
    from django.apps import apps

    if apps.ready:  # this process was connected to the database dropped now
        from django.db import connections

        connections.close_all()
    name = BENCH_DATABASE_URL.rsplit("/", 1)[1]
    admin_url = BENCH_DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    run_manage("migrate", "--noinput", "-v0")


def run_manage(*args: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Timing:
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def time_calls(call: Callable[[], Any], *, repeat: int, warmup: int = 2) -> Timing:
    for _ in range(warmup):
        call()
    timing = Timing()
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        timing.seconds.append(time.perf_counter() - started)
    return timing


@contextmanager
def counting_queries() -> Iterator[list[int]]:
    """Count the SQL statements this process sends (``counted[0]``) while the block runs."""
    from django.db import connection

    counted = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        counted[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield counted


# --- the machine and the report ----------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = found.group(1).strip() if found else cpu
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"MemTotal:\s*(\d+)", meminfo.read_text())
        memory = f"{int(found.group(1)) / 1024 / 1024:.0f} GiB" if found else memory
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": memory,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "postgresql": _version(["psql", "--version"]),
        "redis": _version(["redis-server", "--version"]),
    }


def _version(command: Sequence[str]) -> str:
    try:
        return subprocess.run(  # noqa: S603 - fixed commands
            list(command), capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return "not found"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, markdown: str) -> None:
    """Replace the report's section ``name`` (between its markers) with ``markdown``."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    text = REPORT.read_text() if REPORT.exists() else "# Performance\n"
    block = f"{start}\n{markdown.strip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    REPORT.write_text(text)


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}x" if reference else "n/a"


def liveperson_text(
    *, conversation: str, sequence: int, sender: str, role: str, at: int, text: str
) -> dict[str, Any]:
    """One change of a LivePerson messaging notification: a plain-text message."""
    return {
        "sequence": sequence,
        "originatorId": sender,
        "originatorMetadata": {"id": sender, "role": role},
        "serverTimestamp": at,
        "event": {"type": "ContentEvent", "message": text, "contentType": "text/plain"},
        "conversationId": conversation,
        "dialogId": conversation,
        "messageAudience": "ALL",
    }
