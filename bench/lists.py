"""List benchmark: the read API's pages at two database sizes ten times apart.

For each size the bench database is recreated and filled by ``manage.py bench_seed`` (timed);
the web runs under gunicorn with production settings, and one persistent HTTP client times,
sequentially and after a warm-up, as the staff user and as a member of three channels:

- the conversation list's first page, and a filtered one (``status=closed&platform=…``);
- the 20th page, reached by following ``next`` (only the 20th request is timed);
- the newest page (``start=end``) of a conversation of 2,000 messages;
- full-text search (``q``) for a common, an uncommon and a rare word.

Every figure is also given as a ratio to a reference measured in the same run: ``GET
/admin/login/``, a plain Django page that runs no query. The SQL statements per request are
counted in this process (Django's test client against the same database): they must not
depend on the size. At the bigger size the page queries are explained with EXPLAIN (ANALYZE,
BUFFERS) — the exact statements the endpoints sent, as psycopg bound them, so cursor values
and visibility subqueries are the real ones.

    python -m bench.lists [--quick]

``--quick`` (2,000 and 20,000 messages, conversations of 1,000) only prints; the full run
writes the "lists" section of docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench import common

# (messages, conversations) per size, and the long conversation's length.
FULL = {"sizes": [(100_000, 10_000), (1_000_000, 100_000)], "long": 2000, "repeat": 50}
QUICK = {"sizes": [(2_000, 200), (20_000, 2_000)], "long": 1000, "repeat": 8}
CHANNELS, USERS = 20, 50
DEEP_PAGE = 20
# Targets at the big size (ms): median and p95 of a page, median of a search.
PAGE_MEDIAN, PAGE_P95, SEARCH_MEDIAN = 50, 100, 150
REFERENCE = "/admin/login/"
# Words in about 5 %, 0.4 % and 0.05 % of the messages (bench_seed picks them).
SEARCHES = ("common", "uncommon", "rare")


@dataclass
class Endpoint:
    name: str
    path: str
    search: bool = False
    explain: bool = False


@dataclass
class Result:
    endpoint: str
    user: str
    median_ms: float
    p95_ms: float
    queries: int
    search: bool


@dataclass
class Size:
    messages: int
    conversations: int
    seed: dict[str, Any] = field(default_factory=dict)
    seed_seconds: float = 0.0
    reference_ms: float = 0.0
    results: list[Result] = field(default_factory=list)
    plans: dict[str, str] = field(default_factory=dict)


def endpoints(seed: dict[str, Any]) -> list[Endpoint]:
    long = seed["long_conversation"]["id"]
    words = seed["search_words"]
    lists = "/api/v1/conversations/"
    return [
        Endpoint("list, first page", lists, explain=True),
        Endpoint("list, closed on enmeshed", f"{lists}?status=closed&platform=enmeshed"),
        Endpoint(f"list, page {DEEP_PAGE}", lists, explain=True),  # reached through `next`
        Endpoint("messages, newest page", f"{lists}{long}/messages/?start=end", explain=True),
        *(
            Endpoint(f"search, {kind} word", f"{lists}?q={words[kind]['word']}", True, True)
            for kind in SEARCHES
        ),
    ]


# --- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_web() -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and app
        [
            *(sys.executable, "-m", "gunicorn", "config.wsgi"),
            *("--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"),
        ],
        cwd=common.ROOT,
        env=common.environment(),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            if httpx.get(base + REFERENCE, timeout=2).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_web(server)
    raise SystemExit("gunicorn did not answer within a minute")


def stop_web(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- measuring -----------------------------------------------------------------------------


def tokens(seed: dict[str, Any]) -> dict[str, str]:
    from rest_framework.authtoken.models import Token

    users = {"staff": seed["staff"]["id"], "member": seed["member"]["id"]}
    return {who: Token.objects.get_or_create(user_id=pk)[0].key for who, pk in users.items()}


def deep_page_url(get: Any, path: str) -> str:
    """The URL of page DEEP_PAGE (or of the last page, if the list is shorter)."""
    url = path
    for _ in range(DEEP_PAGE - 1):
        following = get(url)["next"]
        if following is None:
            break
        url = following
    return url


def count_queries(path: str, token: str) -> tuple[int, list[str]]:
    """Statements one request sends (authentication included), and their SQL."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}")
    client.get(path)  # warm: the same connection state as the measured request
    with common.counting_queries() as counted, CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code} in process")
    return counted[0], [query["sql"] for query in captured.captured_queries]


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def page_query(statements: list[str]) -> str:
    """The statement that reads the page: a keyset page asks for one row more than it shows
    (the permission check of a conversation's messages has a LIMIT too, of 21)."""
    return next(sql for sql in statements if sql.endswith(" LIMIT 51"))


def measure(size: Size, *, repeat: int) -> None:
    import httpx

    keys = tokens(size.seed)
    server, base = start_web()
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            reference = common.time_calls(lambda: ok(http.get(REFERENCE)), repeat=repeat * 2)
            size.reference_ms = reference.median * 1000
            for who, key in keys.items():
                headers = {"Authorization": f"Token {key}"}

                def get(url: str, headers: dict[str, str] = headers) -> Any:
                    return ok(http.get(url, headers=headers)).json()

                for endpoint in endpoints(size.seed):
                    path = endpoint.path
                    if endpoint.name.startswith("list, page"):
                        path = deep_page_url(get, path).removeprefix(base)
                    timing = common.time_calls(lambda p=path: get(p), repeat=repeat, warmup=3)
                    queries, statements = count_queries(path, key)
                    size.results.append(
                        Result(
                            endpoint.name,
                            who,
                            timing.median * 1000,
                            timing.percentile(0.95) * 1000,
                            queries,
                            endpoint.search,
                        )
                    )
                    if endpoint.explain and who == "staff":
                        size.plans[endpoint.name] = explain(page_query(statements))
            # The member's search too: its plan differs (the channel filter).
            for endpoint in endpoints(size.seed):
                if endpoint.search:
                    _, statements = count_queries(endpoint.path, keys["member"])
                    size.plans[f"{endpoint.name} (member)"] = explain(page_query(statements))
    finally:
        stop_web(server)


def ok(response: Any) -> Any:
    if response.status_code != 200:
        raise SystemExit(f"{response.request.url} answered {response.status_code}")
    return response


def seed(size: Size, long: int) -> None:
    from django.db import connections

    connections.close_all()  # the database is dropped and created again
    common.recreate_database()
    started = time.perf_counter()
    output = common.run_manage(
        "bench_seed",
        *("--messages", str(size.messages), "--conversations", str(size.conversations)),
        *("--channels", str(CHANNELS), "--users", str(USERS), "--long-conversation", str(long)),
        "--json",
    )
    size.seed_seconds = time.perf_counter() - started
    size.seed = json.loads(output)


# --- the report ----------------------------------------------------------------------------


def verdict(result: Result, big: bool) -> str:
    if not big:
        return ""
    if result.search:
        return "✓" if result.median_ms <= SEARCH_MEDIAN else "✗ (median > 150)"
    if result.median_ms > PAGE_MEDIAN:
        return "✗ (median > 50)"
    return "✓" if result.p95_ms <= PAGE_P95 else "✗ (p95 > 100)"


def report(sizes: list[Size]) -> str:
    machine = common.machine()
    lines = [
        "Machine: " + "; ".join(f"{key} {value}" for key, value in machine.items()) + ".",
        "",
        common.table(
            ["messages", "conversations", "participants", "read states", "seeded in", "words"],
            [
                [
                    f"{s.messages:,}",
                    f"{s.conversations:,}",
                    f"{s.seed['counts']['participants']:,}",
                    f"{s.seed['counts']['read_states']:,}",
                    f"{s.seed_seconds:.1f} s (vacuum, analyse "
                    f"{s.seed['seconds']['vacuum_analyze']:.1f} s)",
                    ", ".join(
                        f"{kind} “{w['word']}” in {w['messages']:,}"
                        for kind, w in s.seed["search_words"].items()
                        if kind != "top"
                    ),
                ]
                for s in sizes
            ],
        ),
        "",
        f"{CHANNELS} channels, {USERS} users + staff; the member sees "
        f"{len(sizes[-1].seed['member']['channel_ids'])} channels. Reference: `GET {REFERENCE}`"
        " (no query), median "
        + ", ".join(f"{s.reference_ms:.1f} ms at {s.messages:,}" for s in sizes)
        + ". Sequential requests over one keep-alive connection to gunicorn (2 sync workers);"
        " queries per request include the token lookup. Targets at the big size: a page "
        f"median ≤ {PAGE_MEDIAN} ms and p95 ≤ {PAGE_P95} ms, a search median ≤ "
        f"{SEARCH_MEDIAN} ms.",
        "",
    ]
    rows = []
    small, big = sizes[0], sizes[-1]
    for index, result in enumerate(big.results):
        before = small.results[index]
        rows.append(
            [
                result.endpoint,
                result.user,
                f"{before.median_ms:.1f} / {before.p95_ms:.1f}",
                common.ratio(before.median_ms, small.reference_ms),
                f"{result.median_ms:.1f} / {result.p95_ms:.1f}",
                common.ratio(result.median_ms, big.reference_ms),
                common.ratio(result.median_ms, before.median_ms),
                f"{before.queries} / {result.queries}",
                verdict(result, True),
            ]
        )
    lines.append(
        common.table(
            [
                "request",
                "user",
                f"{small.messages:,}: median / p95 ms",
                "÷ ref",
                f"{big.messages:,}: median / p95 ms",
                "÷ ref",
                "big ÷ small",
                "queries",
                "target",
            ],
            rows,
        )
    )
    lines += ["", f"### Plans at {big.messages:,} messages (staff unless noted)"]
    for name, plan in big.plans.items():
        lines += ["", f"{name}:", "", "```text", plan, "```"]
    return "\n".join(lines)


def progress(started: float, what: str) -> None:
    print(f"[{time.perf_counter() - started:5.0f} s] {what}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; print only")
    options = parser.parse_args()
    plan = QUICK if options.quick else FULL
    # WhiteNoise warns about a missing STATIC_ROOT in every process otherwise.
    (common.ROOT / "var" / "bench" / "static").mkdir(parents=True, exist_ok=True)
    common.setup_django()
    sizes = [Size(messages, conversations) for messages, conversations in plan["sizes"]]
    started = time.perf_counter()
    for size in sizes:
        seed(size, plan["long"])
        progress(started, f"{size.messages:,} messages seeded in {size.seed_seconds:.1f} s")
        measure(size, repeat=plan["repeat"])
        progress(started, f"{size.messages:,} messages measured")
    text = report(sizes)
    print(text)
    counts = [[r.queries for r in size.results] for size in sizes]
    if any(c != counts[0] for c in counts):
        raise SystemExit(f"query counts depend on the size: {counts}")
    if not options.quick:
        common.write_section("lists", "## Lists at scale\n\n" + text)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
