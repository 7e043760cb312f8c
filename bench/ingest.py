"""Webhook ingest benchmark: signed LivePerson deliveries over HTTP, against a bare reference.

One gunicorn server with production settings (``bench.wsgi`` on ``bench.settings``: DEBUG off,
PostgreSQL, the Redis broker, ``CONN_MAX_AGE`` 600) serves both the real webhook
(``/webhooks/liveperson/<key>/``) and the reference (``/bench/reference/``, bench/reference.py:
parse the JSON, one INSERT, 202). wrk, on the same machine with 2 threads and 16 connections,
replays pre-generated notifications - each a new text message in its own dialog position,
signed the way LivePerson signs - first to warm both up, then alternately (reference, webhook,
reference, webhook, ...), so that noise hits both; the medians are compared.

Targets (the issue): webhook requests/s at least 0.8 times the reference's, p99 at most 1.5 times.

Every run is checked, and a failed check exits non-zero (a missed target does not): every answer
was a 202, no socket errors, no request was sent twice, and the webhook stored one request and
one event per delivery - at least one per 202 and at most one per request sent (wrk abandons
the few requests in flight when its time is up; the server may still store them).

In process (Django's test client, the same settings and database) it also counts what one
request sends - SQL statements (``counting_queries``), PostgreSQL round trips (libpq's protocol
trace: BEGIN, COMMIT and Django's connection health check too) and Redis commands - for a new
delivery, the same bytes again, the same item in new bytes, and the reference.

    python -m bench.ingest [--quick] [--workers N] [--threads N] [--profile FILE]

``--quick`` (1 round of 3 s) only prints; a full run (3 rounds of 15 s) also writes the
``ingest`` section of docs/PERFORMANCE.md. ``--profile FILE`` adds one more webhook run under
py-spy (all workers; ``.svg`` a flame graph, ``.json`` speedscope, else collapsed stacks).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import math
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from bench import common

SECRET = "bench-liveperson-client-secret-7f3a9c"  # the bench channel's webhook secret
ACCOUNT_ID = "42257269"
CLIENT_ID = "81fad476-88af-4d08-bc0e-20bc69439ed4"
WRK_THREADS = 2
CONNECTIONS = 16
LUA_SCRIPT = Path(__file__).with_name("ingest.lua")
REFERENCE_PATH = "/bench/reference/"
MESSAGES_PER_DIALOG = 8  # sequences 0..7 of one dialog, then the next dialog
FIRST_POOL_RATE = 4_000  # requests/s assumed before anything was measured
POOL_MARGIN = 1.5  # requests generated per request expected, beyond the fastest rate seen
TARGET_RATE = 0.8  # webhook requests/s ÷ reference requests/s, at least
TARGET_P99 = 1.5  # webhook p99 ÷ reference p99, at most
TIMES = "x"  # as common.ratio writes ratios

PHRASES = (
    "Grüße! Meine Märzrechnung wurde doppelt abgebucht 😕 — können Sie helfen?",
    "Hello, my parcel was marked as delivered but nothing arrived.",
    "Ich habe die Bestellnummer {order} – wann wird sie versendet?",  # noqa: RUF001
    "Thanks, that worked! 👍",
    "Could you change the delivery address for order {order} to Hauptstraße 12, Köln?",
    "Der Gutschein {code} wird an der Kasse nicht akzeptiert.",
    "Is there any way to speed up the refund? It has been two weeks.",
    "Bonjour, je voudrais annuler ma commande {order}, s'il vous plaît.",
    "Wir prüfen das gerade und melden uns in wenigen Minuten.",
    "I have attached the receipt. The amount was €{amount}.",
    "Können Sie mir die Rechnung noch einmal per E-Mail schicken?",
    "Sure — I have escalated ticket {code} to our billing team.",
)


# --- the deliveries ----------------------------------------------------------------------------


def notifications(seed: int, count: int) -> list[bytes]:
    """``count`` distinct notifications, each one new text message, as LivePerson sends them.

    Deterministic: the same seed yields the same sequence, so a longer list starts with the
    shorter one. Different seeds share no conversation, so no delivery repeats another.
    """
    rng = random.Random(seed)
    bodies: list[bytes] = []
    started_ms = 1_773_306_845_880 + seed * 86_400_000
    subscription = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    conversation = consumer = ""
    agent = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    for n in range(count):
        sequence = n % MESSAGES_PER_DIALOG
        if sequence == 0:
            conversation = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            consumer = hashlib.sha256(conversation.encode()).hexdigest()
        from_consumer = rng.random() < 0.6
        sender, role = (consumer, "CONSUMER") if from_consumer else (agent, "ASSIGNED_AGENT")
        at = started_ms + n * 211 + rng.randrange(200)
        text = rng.choice(PHRASES).format(
            order=rng.randrange(10_000_000, 99_999_999),
            code=f"{rng.randrange(16**6):06X}",
            amount=f"{rng.randrange(500, 50_000) / 100:.2f}",
        )
        document = {
            "kind": "notification",
            "body": {
                "subscriptionId": subscription,
                "sentTs": at + 120,
                "changes": [
                    common.liveperson_text(
                        conversation=conversation,
                        sequence=sequence,
                        sender=sender,
                        role=role,
                        at=at,
                        text=text,
                    )
                ],
            },
            "type": "ms.MessagingEventNotification",
        }
        compact = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        bodies.append(compact.encode("utf-8"))
    return bodies


def signed_headers(body: bytes) -> dict[str, str]:
    """What LivePerson sends beside ``body``: sha1= base64 HMAC-SHA1 of the raw bytes."""
    digest = hmac.new(SECRET.encode("utf-8"), body, hashlib.sha1).digest()
    return {
        "Content-Type": "application/json",
        "X-LivePerson-Signature": "sha1=" + base64.b64encode(digest).decode("ascii"),
        "X-LivePerson-Account-Id": ACCOUNT_ID,
        "X-LivePerson-Client-Id": CLIENT_ID,
    }


def write_requests(file: Path, bodies: list[bytes], *, host: str, path: str) -> None:
    """Write whole HTTP requests in the records ingest.lua reads (10-digit length, bytes)."""
    with file.open("wb") as out:
        for body in bodies:
            lines = [f"POST {path} HTTP/1.1", f"Host: {host}"]
            lines += [f"{name}: {value}" for name, value in signed_headers(body).items()]
            lines.append(f"Content-Length: {len(body)}")
            raw = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body
            out.write(b"%010d" % len(raw) + raw)


# --- the server --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerConfig:
    workers: int
    threads: int

    @property
    def worker_class(self) -> str:
        return "gthread" if self.threads > 1 else "sync"

    def describe(self) -> str:
        if self.worker_class == "sync":
            return f"gunicorn {self.workers} sync workers (no keep-alive)"
        return f"gunicorn {self.workers} gthread workers x {self.threads} threads (keep-alive)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(config: ServerConfig, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run gunicorn on ``bench.wsgi`` until the block ends; wait until it answers."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "bench.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={config.workers}",
        f"--worker-class={config.worker_class}",
        f"--threads={config.threads}",
        f"--chdir={common.ROOT}",
        "--log-level=warning",
        "--error-logfile=-",
    ]
    # Everything the server says (gunicorn's log and Django's, both on stderr) goes to ``log``.
    output = log.open("ab")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command,
        env=common.environment(DJANGO_SETTINGS_MODULE="bench.settings"),
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_answering(process, port, log)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.close()


def wait_until_answering(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited ({process.returncode}):\n{tail(log)}")
        try:
            # A 202 (a 4xx would be logged as a warning, which fails the run).
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("POST", REFERENCE_PATH, b"{}", {"Content-Type": "application/json"})
            status = connection.getresponse().status
            connection.close()
        except OSError:
            time.sleep(0.1)
            continue
        if status != 202:
            raise SystemExit(f"the reference answered {status} instead of 202:\n{tail(log)}")
        return
    raise SystemExit(f"gunicorn did not answer within 30 s:\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text().splitlines()[-lines:]) if log.exists() else "(no log)"


def worker_pids(master: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            pids.append(int(stat.parent.name))
    return sorted(pids)


# --- wrk ---------------------------------------------------------------------------------------


@dataclass
class Run:
    target: str  # "webhook" or "reference"
    rate: float  # requests/s, as wrk reports it
    p50: float  # seconds
    p99: float
    completed: int  # responses wrk received
    sent: int  # requests wrk started (completed + those in flight at the end)
    wrapped: int  # requests sent a second time because the pool ran out
    statuses: dict[int, int]
    socket_errors: dict[str, int]
    stored: int = 0  # webhook: events stored during the run; reference: rows
    stored_requests: int = 0  # webhook: InboundRequests stored during the run
    tasks: int = 0  # processing tasks queued during the run
    problems: list[str] = field(default_factory=list)


LOGGED_TROUBLE = re.compile(r"WARNING|ERROR|CRITICAL|Traceback")
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def run_wrk(wrk: str, url: str, requests_file: Path, seconds: int, target: str) -> Run:
    command = [
        wrk,
        f"--threads={WRK_THREADS}",
        f"--connections={CONNECTIONS}",
        f"--duration={seconds}s",
        "--timeout=10s",
        "--latency",
        f"--script={LUA_SCRIPT}",
        url,
        "--",
        str(requests_file),
        str(WRK_THREADS),
    ]
    done = subprocess.run(  # noqa: S603 - wrk found on PATH, fixed arguments
        command, capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    if done.returncode:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout, target)


def parse_wrk(output: str, target: str) -> Run:
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    percentiles = {
        share: float(number) * UNITS[unit]
        for share, number, unit in re.findall(
            r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M
        )
    }
    result = re.search(r"^ingest-result (.*)$", output, re.MULTILINE)
    if not (rate and result and "50" in percentiles and "99" in percentiles):
        raise SystemExit(f"cannot read wrk's output:\n{output}")
    values = dict(pair.split("=", 1) for pair in result.group(1).split())
    statuses = {
        int(status): int(count)
        for status, count in (item.split(":") for item in values["statuses"].split(",") if item)
    }
    return Run(
        target=target,
        rate=float(rate.group(1)),
        p50=percentiles["50"],
        p99=percentiles["99"],
        completed=int(values["requests"]),
        sent=int(values["sent"]),
        wrapped=int(values["wrapped"]),
        statuses=statuses,
        socket_errors={name: int(values[name]) for name in ("connect", "read", "write", "timeout")},
    )


# --- what the database and the broker hold ---------------------------------------------------


def redis_client() -> Any:
    import redis

    return redis.Redis.from_url(common.BENCH_REDIS_URL)


def queued_tasks() -> int:
    """Messages waiting in the broker's queues (every list in the bench Redis database)."""
    client = redis_client()
    return sum(client.llen(key) for key in client.scan_iter() if client.type(key) == b"list")


def drain_broker() -> None:
    """Empty the bench Redis database except kombu's exchange bindings.

    ``FLUSHDB`` would drop the bindings too, and a server that declared its queue once would then
    publish into nothing (kombu finds no queue and drops the message) - cheaper than the real
    thing, so not what should be measured.
    """
    client = redis_client()
    doomed = [key for key in client.scan_iter() if not key.startswith(b"_kombu.binding.")]
    for offset in range(0, len(doomed), 1000):
        client.delete(*doomed[offset : offset + 1000])


def stored_counts(channel_id: int) -> tuple[int, int, int]:
    """(InboundRequests, InboundEvents of the bench channel, reference rows)."""
    from django.db import connection

    from bench.reference import TABLE
    from inbox.models import InboundEvent, InboundRequest

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE}")  # noqa: S608 - a constant
        rows = int(cursor.fetchone()[0])
    return (
        InboundRequest.objects.filter(channel_id=channel_id).count(),
        InboundEvent.objects.filter(channel_id=channel_id).count(),
        rows,
    )


def settled_counts(channel_id: int) -> tuple[int, int, int]:
    """The counts once requests still in the server when wrk stopped are done."""
    counts = stored_counts(channel_id)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.3)
        again = stored_counts(channel_id)
        if again == counts:
            break
        counts = again
    return counts


def check(run: Run, *, expect_new: bool) -> None:
    """Record in ``run.problems`` what went wrong (see the module's docstring)."""
    answered = run.statuses.get(202, 0)
    others = {status: count for status, count in run.statuses.items() if status != 202}
    if others:
        run.problems.append(f"answers other than 202: {others}")
    if answered != run.completed:
        run.problems.append(f"{run.completed} responses, but {answered} were 202")
    if any(run.socket_errors.values()):
        run.problems.append(f"socket errors: {run.socket_errors}")
    if not expect_new:
        return
    if run.wrapped:
        run.problems.append(f"the request pool ran out: {run.wrapped} bodies sent twice")
    if run.stored_requests != run.stored:
        run.problems.append(f"{run.stored_requests} requests stored, {run.stored} events")
    if not answered <= run.stored <= run.sent:
        run.problems.append(
            f"{run.stored} events stored for {answered} answered 202 and {run.sent} sent"
        )


# --- statements per request, in process -----------------------------------------------------


@contextmanager
def round_trips() -> Iterator[dict[str, list[str]]]:
    """What this process sends PostgreSQL and Redis while the block runs, one entry per round
    trip: PostgreSQL's from libpq's protocol trace (so it includes what ``counting_queries``
    cannot see: BEGIN, COMMIT and Django's connection health check), Redis's by command - the
    calling thread's only (the wake-up thread publishes off the request path)."""
    import threading

    import redis
    from django.db import connection
    from psycopg import pq

    sent: dict[str, list[str]] = {"postgresql": [], "redis": []}
    execute_command, execute_pipeline = redis.Redis.execute_command, redis.client.Pipeline.execute

    caller = threading.get_ident()

    def command(self: Any, *args: Any, **options: Any) -> Any:
        if threading.get_ident() == caller:
            sent["redis"].append(str(args[0]))
        return execute_command(self, *args, **options)

    def pipeline(self: Any, *args: Any, **options: Any) -> Any:
        if threading.get_ident() == caller:
            sent["redis"].append("pipeline")
        return execute_pipeline(self, *args, **options)

    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            with (
                mock.patch.object(redis.Redis, "execute_command", command),
                mock.patch.object(redis.client.Pipeline, "execute", pipeline),
            ):
                yield sent
        finally:
            pgconn.untrace()
        trace.seek(0)
        for line in trace:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[0] == "F" and parts[2] in ("Query", "Sync"):
                sent["postgresql"].append(
                    parts[3].strip().strip('"') if parts[2] == "Query" else ""
                )


def statements_per_request(key: str, channel_id: int) -> list[dict[str, Any]]:
    """What one request costs in statements and round trips, by Django's test client: the
    webhook with a new delivery, the same bytes again and the same item in other bytes; and the
    reference."""
    from django.db import close_old_connections
    from django.test import Client

    from inbox.inbound.wakeup import WAKER

    client = Client(HTTP_HOST="127.0.0.1")
    webhook = f"/webhooks/liveperson/{key}/"
    warm, new = notifications(seed=1_000_000, count=2)
    # The same item in other bytes: a redelivery with a later sentTs.
    document = json.loads(new)
    document["body"]["sentTs"] += 60_000
    same_item = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()

    def deliver(path: str, body: bytes, label: str) -> dict[str, Any]:
        WAKER.flush()
        drain_broker()
        before = stored_counts(channel_id)
        # What the server does when a request starts (the test client skips it): among others,
        # Django then checks the kept connection again before its first use.
        close_old_connections()
        with round_trips() as trips, common.counting_queries() as counted:
            response = client.post(
                path, data=body, content_type="application/json", headers=signed_headers(body)
            )
        WAKER.flush()  # the wake-up, if the request asked for one, is published by now
        after = stored_counts(channel_id)
        if response.status_code != 202:
            raise SystemExit(f"{label}: answered {response.status_code}")
        if not trips["postgresql"]:
            raise SystemExit(f"{label}: the PostgreSQL trace saw nothing (a new connection?)")
        return {
            "label": label,
            "statements": counted[0],
            "postgresql": trips["postgresql"],
            "redis": trips["redis"],
            "tasks": queued_tasks(),
            "new_requests": after[0] - before[0],
            "new_events": after[1] - before[1],
        }

    deliver(webhook, warm, "warm-up")
    deliver(REFERENCE_PATH, warm, "warm-up")
    results = [
        deliver(webhook, new, "webhook: a new delivery"),
        deliver(webhook, new, "webhook: the same bytes again"),
        deliver(webhook, same_item, "webhook: the same item in new bytes"),
        deliver(REFERENCE_PATH, new, "reference"),
    ]
    drain_broker()
    return results


# --- the benchmark -----------------------------------------------------------------------------


def pool_size(fastest: float, seconds: int) -> int:
    """Requests to generate for a run: more than wrk can send at the fastest rate seen."""
    return math.ceil(fastest * seconds * POOL_MARGIN) + 100 * CONNECTIONS


def measure(
    *,
    wrk: str,
    port: int,
    key: str,
    channel_id: int,
    workdir: Path,
    seconds: int,
    phase: int,
    target: str,
    fastest: float,
    profile: Callable[[], AbstractContextManager[None]] = nullcontext,
) -> Run:
    """One wrk run against ``target`` with the deliveries of ``phase``, checked; ``profile``
    is entered around the load."""
    host = f"127.0.0.1:{port}"
    path = f"/webhooks/liveperson/{key}/" if target == "webhook" else REFERENCE_PATH
    requests_file = workdir / f"{target}-{phase}.requests"
    write_requests(
        requests_file, notifications(phase, pool_size(fastest, seconds)), host=host, path=path
    )
    drain_broker()
    before = stored_counts(channel_id)
    with profile():
        run = run_wrk(wrk, f"http://{host}{path}", requests_file, seconds, target)
    after = settled_counts(channel_id)
    run.tasks = queued_tasks()
    drain_broker()
    requests_file.unlink()
    if target == "webhook":
        run.stored_requests, run.stored = after[0] - before[0], after[1] - before[1]
    else:
        run.stored = after[2] - before[2]
        if after[:2] != before[:2]:
            run.problems.append("the reference run stored inbound requests or events")
    check(run, expect_new=target == "webhook")
    if target == "reference" and not run.statuses.get(202, 0) <= run.stored <= run.sent:
        run.problems.append(f"{run.stored} reference rows for {run.sent} requests sent")
    print(
        f"  {target:9} {run.rate:8.0f} req/s  p50 {run.p50 * 1000:6.2f} ms  "
        f"p99 {run.p99 * 1000:6.2f} ms  ({run.completed} answered, {run.stored} stored"
        + (f", {run.tasks} tasks queued" if target == "webhook" else "")
        + ")",
        flush=True,
    )
    for problem in run.problems:
        print(f"    PROBLEM: {problem}", flush=True)
    return run


@contextmanager
def py_spy(output: Path, master: int, seconds: int, *, native: bool) -> Iterator[None]:
    """Sample every gunicorn worker while the block runs (at most ``seconds`` + 5 s)."""
    form = {".svg": "flamegraph", ".json": "speedscope"}.get(output.suffix.lower(), "raw")
    command = [
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        f"--pid={master}",
        "--subprocesses",
        "--idle",  # waiting on PostgreSQL and Redis is where a request's time goes too
        "--rate=200",
        f"--duration={seconds + 5}",
        f"--format={form}",
        f"--output={output}",
        *(["--native"] if native else []),
    ]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603 - the venv's py-spy
    time.sleep(1)  # let it attach before the load starts
    try:
        yield
    finally:
        spy.wait(timeout=seconds + 60)
    print(f"  profile written to {output}", flush=True)


def median_run(runs: list[Run]) -> tuple[float, float, float]:
    return (
        statistics.median(r.rate for r in runs),
        statistics.median(r.p50 for r in runs),
        statistics.median(r.p99 for r in runs),
    )


def milliseconds(value: float) -> str:
    return f"{value * 1000:.2f} ms"


def report(
    *,
    config: ServerConfig,
    rounds: list[tuple[Run, Run]],
    seconds: int,
    warmup: int,
    statements: list[dict[str, Any]],
    load: float,
) -> str:
    references = [reference for reference, _ in rounds]
    webhooks = [webhook for _, webhook in rounds]
    ref_rate, ref_p50, ref_p99 = median_run(references)
    hook_rate, hook_p50, hook_p99 = median_run(webhooks)
    rate_ratio, p99_ratio = hook_rate / ref_rate, hook_p99 / ref_p99
    rate_met = "met" if rate_ratio >= TARGET_RATE else "**missed**"
    p99_met = "met" if p99_ratio <= TARGET_P99 else "**missed**"
    summary = common.table(
        ["", "requests/s", "p50", "p99"],
        [
            ["webhook", f"{hook_rate:,.0f}", milliseconds(hook_p50), milliseconds(hook_p99)],
            ["reference", f"{ref_rate:,.0f}", milliseconds(ref_p50), milliseconds(ref_p99)],
            [
                "webhook ÷ reference",
                f"{common.ratio(hook_rate, ref_rate)} (target ≥ {TARGET_RATE}{TIMES}: {rate_met})",
                common.ratio(hook_p50, ref_p50),
                f"{common.ratio(hook_p99, ref_p99)} (target ≤ {TARGET_P99}{TIMES}: {p99_met})",
            ],
        ],
    )
    per_round = common.table(
        ["round", "reference req/s", "webhook req/s", "reference p99", "webhook p99"],
        [
            [
                n,
                f"{reference.rate:,.0f}",
                f"{webhook.rate:,.0f}",
                milliseconds(reference.p99),
                milliseconds(webhook.p99),
            ]
            for n, (reference, webhook) in enumerate(rounds, start=1)
        ],
    )
    answered = sum(r.statuses.get(202, 0) for r in webhooks)
    stored = sum(r.stored for r in webhooks)
    tasks = sum(r.tasks for r in webhooks)
    statement_rows = [
        [
            d["label"],
            d["statements"],
            len(d["postgresql"]),
            len(d["redis"]),
            "n/a" if d["label"] == "reference" else f"{d['new_requests']} / {d['new_events']}",
            "n/a" if d["label"] == "reference" else ("yes" if d["tasks"] else "no"),
        ]
        for d in statements
    ]
    machine = common.machine()
    return "\n".join(
        [
            "## Webhook ingest",
            "",
            "`python -m bench.ingest`: signed LivePerson deliveries over HTTP, each a new text "
            f"message (`ms.MessagingEventNotification`, one `ContentEvent`), sent by wrk on the "
            f"same machine ({WRK_THREADS} threads, {CONNECTIONS} connections). Server: "
            f"{config.describe()} on `bench.wsgi`, production settings (DEBUG off, PostgreSQL, "
            "Redis broker, `CONN_MAX_AGE` 600). Reference: a Django view served by the same "
            "server and middleware that parses the JSON and does one INSERT, answering 202 "
            f"(`bench/reference.py`), sent the same bodies. After a {warmup} s warm-up of each, "
            f"{len(rounds)} round{'s' if len(rounds) > 1 else ''} of {seconds} s alternate "
            "reference and webhook; the figures are medians over the rounds.",
            "",
            summary,
            "",
            per_round,
            "",
            f"Checked: all {answered:,} webhook answers were 202 and {stored:,} requests, one "
            "event each, were stored (at least one per 202, at most one per request sent: wrk "
            "drops the requests still in flight when its time is up); "
            f"{tasks:,} processing tasks were queued (nothing consumed them).",
            "",
            "One request in process (Django's test client, the same settings; the connection "
            "health check Django runs at each request's first query included). SQL statements "
            "as `counting_queries` counts them; round trips as the PostgreSQL protocol trace and "
            "the Redis client see them (BEGIN, COMMIT and the health check are round trips, not "
            "statements):",
            "",
            common.table(
                [
                    "request",
                    "SQL statements",
                    "PostgreSQL round trips",
                    "Redis commands",
                    "requests / events stored",
                    "task queued",
                ],
                statement_rows,
            ),
            "",
            common.table(
                ["machine", ""],
                [*machine.items(), ("load average (1 min) at the start", f"{load:.2f}")],
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s; only prints")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (4)")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per worker (1: sync, more: gthread)"
    )
    parser.add_argument("--profile", type=Path, help="also profile one webhook run into FILE")
    parser.add_argument("--native", action="store_true", help="py-spy --native (with --profile)")
    options = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    rounds, seconds, warmup = (1, 3, 1) if options.quick else (3, 15, 3)
    config = ServerConfig(workers=options.workers, threads=options.threads)
    began = time.perf_counter()
    load = os.getloadavg()[0]  # other work on the machine skews both sides, not evenly

    print(f"recreating the bench database (load average {load:.2f})", flush=True)
    common.recreate_database()
    # What collectstatic fills in production (WhiteNoise warns at every start without it).
    (common.ROOT / "var" / "bench" / "static").mkdir(parents=True, exist_ok=True)
    # This process serves the in-process requests: the server's settings, on the bench database.
    os.environ.update(common.environment(DJANGO_SETTINGS_MODULE="bench.settings"))
    sys.path.insert(0, str(common.ROOT))
    import django

    django.setup()
    from django.db import connection

    from bench.reference import CREATE_TABLE

    with connection.cursor() as cursor:
        cursor.execute(CREATE_TABLE)
    created = json.loads(
        common.run_manage(
            "add_channel", "liveperson", "Bench", "--webhook-secret", SECRET, "--json"
        )
    )
    key, channel_id = created["key"], int(created["id"])
    print(f"counting statements in process ({time.perf_counter() - began:.0f} s)", flush=True)
    statements = statements_per_request(key, channel_id)
    for delivery in statements:
        print(
            f"{delivery['label']}: {delivery['statements']} statements, "
            f"PostgreSQL round trips {len(delivery['postgresql'])}, Redis {delivery['redis']}"
        )
        for sql in delivery["postgresql"]:
            print(f"    {sql[:110]}")

    print(f"starting the server ({time.perf_counter() - began:.0f} s)", flush=True)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as directory:
        workdir = Path(directory)
        log = workdir / "gunicorn.log"
        with server(config, port, log) as process:
            print(f"{config.describe()} on port {port}, workers {worker_pids(process.pid)}")
            context = {"wrk": wrk, "port": port, "key": key, "channel_id": channel_id}
            problems: list[str] = []
            every: list[Run] = []  # the fastest of them sizes the next run's pool
            print(f"warm-up, {warmup} s each:", flush=True)
            for target in ("reference", "webhook"):
                run = measure(
                    **context,
                    workdir=workdir,
                    seconds=warmup,
                    phase=0,
                    target=target,
                    fastest=FIRST_POOL_RATE,
                )
                problems += [f"warm-up {target}: {p}" for p in run.problems]
                every.append(run)
            measured: list[tuple[Run, Run]] = []
            for number in range(1, rounds + 1):
                print(f"round {number} of {rounds}, {seconds} s each:", flush=True)
                pair = []
                for target in ("reference", "webhook"):
                    run = measure(
                        **context,
                        workdir=workdir,
                        seconds=seconds,
                        phase=number,
                        target=target,
                        fastest=max(r.rate for r in every),
                    )
                    problems += [f"round {number} {target}: {p}" for p in run.problems]
                    pair.append(run)
                    every.append(run)
                measured.append((pair[0], pair[1]))
            if options.profile:
                print("profiled webhook run (not counted):", flush=True)
                run = measure(
                    **context,
                    workdir=workdir,
                    seconds=seconds,
                    phase=rounds + 1,
                    target="webhook",
                    fastest=max(r.rate for r in every),
                    profile=lambda: py_spy(
                        options.profile.resolve(), process.pid, seconds, native=options.native
                    ),
                )
                problems += [f"profiled run: {p}" for p in run.problems]
        errors = [line for line in log.read_text().splitlines() if LOGGED_TROUBLE.search(line)]

    text = report(
        config=config,
        rounds=measured,
        seconds=seconds,
        warmup=warmup,
        statements=statements,
        load=load,
    )
    print()
    print(text)
    print(f"\n(the whole run took {time.perf_counter() - began:.0f} s)")
    if errors:
        problems.append("the server logged trouble:\n" + "\n".join(errors[:20]))
    if problems:
        raise SystemExit("the benchmark failed:\n" + "\n".join(problems))
    if not options.quick:
        common.write_section("ingest", text)
        print(f"written to {common.REPORT}")


if __name__ == "__main__":
    main()
