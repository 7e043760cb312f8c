"""Processing benchmark: how fast worker processes turn a stored backlog into rows.

The backlog is LivePerson traffic in many conversations, stored through the real connector
(``split``) as InboundEvents: new messages, read and delivery receipts, conversation snapshots,
chat states, and 10 % duplicates (items applied before, stored again under another key, as a
replay or a poll overlapping a webhook would). One worker process, then two side by side, drain
it with the real pipeline (``process_due_events``); each reports its time, SQL statements and
peak memory.

Reference, in the same run: one process inserting as many plain rows (a text and a JSON column)
with psycopg in batches of 500 — what this machine and PostgreSQL do without any logic.

    python -m bench.process [--quick] [--events N] [--preload-messages N] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from typing import Any

from bench import common

CONVERSATION_EVERY = 10  # one conversation per this many events
TYPES = {"message": 0.69, "receipt": 0.18, "snapshot": 0.08, "chat": 0.05}
DUPLICATES = 0.10


def notification(kind: str, change: dict[str, Any]) -> dict[str, Any]:
    name = (
        "ms.MessagingEventNotification" if kind == "ms" else "cqm.ExConversationChangeNotification"
    )
    return {"kind": "notification", "body": {"changes": [change], "sentTs": 1}, "type": name}


def backlog(events: int, seed: int = 7) -> list[dict[str, Any]]:
    """The notifications of a mixed backlog, in arrival order (one change each)."""
    rng = random.Random(seed)
    conversations = [f"conv-{n:07d}" for n in range(max(1, events // CONVERSATION_EVERY))]
    consumers = {c: f"consumer-{i:07d}" for i, c in enumerate(conversations)}
    agents = [f"agent-{n:03d}" for n in range(40)]
    sequences = dict.fromkeys(conversations, 0)
    start = 1_780_000_000_000
    documents: list[dict[str, Any]] = []
    for n in range(events):
        conversation = rng.choice(conversations)
        at = start + n * 37
        kind = rng.choices(list(TYPES), weights=list(TYPES.values()))[0]
        if kind == "receipt" and sequences[conversation] == 0:
            kind = "message"
        if kind == "message":
            sequence = sequences[conversation]
            sequences[conversation] += 1
            consumer_speaks = rng.random() < 0.4
            sender = consumers[conversation] if consumer_speaks else rng.choice(agents)
            role = "CONSUMER" if consumer_speaks else "ASSIGNED_AGENT"
            text = f"Message {n} about order {rng.randint(1, 99999)}"
            change = common.liveperson_text(
                conversation=conversation,
                sequence=sequence,
                sender=sender,
                role=role,
                at=at,
                text=text,
            )
            documents.append(notification("ms", change))
        elif kind == "receipt":
            sequence = rng.randrange(sequences[conversation])
            documents.append(
                notification(
                    "ms",
                    {
                        "sequence": sequences[conversation] + 100_000 + n,
                        "originatorId": consumers[conversation],
                        "originatorMetadata": {"id": consumers[conversation], "role": "CONSUMER"},
                        "serverTimestamp": at,
                        "event": {
                            "type": "AcceptStatusEvent",
                            "status": rng.choice(["ACCEPT", "READ"]),
                            "sequenceList": [sequence],
                        },
                        "conversationId": conversation,
                        "dialogId": conversation,
                    },
                )
            )
        elif kind == "snapshot":
            agent = rng.choice(agents)
            documents.append(
                notification(
                    "cqm",
                    {
                        "type": "UPSERT",
                        "result": {
                            "convId": conversation,
                            "effectiveTTR": -1,
                            "conversationDetails": {
                                "skillId": "-1",
                                "participants": [
                                    {"id": consumers[conversation], "role": "CONSUMER"},
                                    {"id": agent, "role": "ASSIGNED_AGENT"},
                                ],
                                "dialogs": [
                                    {
                                        "dialogId": conversation,
                                        "dialogType": "MAIN",
                                        "state": "OPEN",
                                    }
                                ],
                                "brandId": "bench",
                                "state": "OPEN",
                                "stage": "OPEN",
                                "startTs": start,
                                "metaDataLastUpdateTs": at,
                            },
                        },
                    },
                )
            )
        else:
            documents.append(
                notification(
                    "ms",
                    {
                        "originatorId": consumers[conversation],
                        "originatorMetadata": {"id": consumers[conversation], "role": "CONSUMER"},
                        "serverTimestamp": at,
                        "event": {"type": "ChatStateEvent", "chatState": "COMPOSING"},
                        "conversationId": conversation,
                        "dialogId": conversation,
                    },
                )
            )
    return documents


def store_backlog(events: int) -> int:
    """Store the backlog as pending events of a new LivePerson channel; returns how many."""
    from django.utils import timezone

    from inbox.connectors.registry import get_connector
    from inbox.inbound.storing import clamp_key
    from inbox.models import InboundEvent
    from inbox.services import create_channel

    channel = create_channel(platform="liveperson", name=f"Bench {time.time_ns()}")
    connector = get_connector("liveperson")
    rng = random.Random(11)
    rows: list[InboundEvent] = []
    now = timezone.now()
    stored = [
        item
        for document in backlog(int(events / (1 + DUPLICATES)))
        for item in connector.split(document=document)
    ]
    duplicates = rng.sample(stored, k=events - len(stored)) if events > len(stored) else []
    for index, item in enumerate([*stored, *duplicates]):
        key = item.dedup_key if index < len(stored) else f"{item.dedup_key}#replay{index}"
        rows.append(
            InboundEvent(
                channel=channel,
                event_name=item.event_name,
                dedup_key=clamp_key(key),
                payload=item.payload,
                envelope=dict(item.envelope),
                received_at=now,
                next_attempt_at=now,
            )
        )
    InboundEvent.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


# --- the workers -------------------------------------------------------------------------------


def worker(profile: bool) -> None:
    """Run in a child process: drain the backlog and print what it cost, as JSON."""
    import resource

    from inbox.inbound import process_due_events

    started_cpu = time.process_time()
    started, wall = time.perf_counter(), time.time()
    with common.counting_queries() as queries:
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            counts = profiler.runcall(process_due_events)
            if os.environ.get("BENCH_PROFILE_OUT"):
                profiler.dump_stats(os.environ["BENCH_PROFILE_OUT"])
            stats = pstats.Stats(profiler, stream=sys.stderr).sort_stats(
                os.environ.get("BENCH_PROFILE_SORT", "cumulative")
            )
            stats.print_stats(45)
        else:
            counts = process_due_events()
    print(
        json.dumps(
            {
                "events": counts.total(),
                "states": {str(k): v for k, v in counts.items()},
                "seconds": time.perf_counter() - started,
                "cpu": time.process_time() - started_cpu,
                "queries": queries[0],
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                # Wall-clock times, comparable between the workers (start-up left out).
                "start": wall,
                "end": time.time(),
            }
        )
    )


def run_workers(count: int, profile: bool = False) -> dict[str, Any]:
    code = "from bench import common; common.setup_django(); from bench import process; "
    code += f"process.worker({profile!r})"
    children = [
        subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", code],
            env=common.environment(),
            cwd=common.ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    reports = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode:
            raise SystemExit(f"a worker failed (exit {child.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    events = sum(r["events"] for r in reports)
    return {
        "workers": count,
        "events": events,
        "seconds": elapsed,
        "rate": events / elapsed,
        "queries_per_event": sum(r["queries"] for r in reports) / max(events, 1),
        "peak_mb": max(r["peak_mb"] for r in reports),
        "cpu_ms_per_event": 1000 * sum(r["cpu"] for r in reports) / max(events, 1),
        "failed": sum(r["states"].get("failed", 0) for r in reports),
    }


def reference(rows: int) -> float:
    """Plain rows/s: psycopg inserting ``rows`` rows in batches of 500, one process."""
    import psycopg

    with psycopg.connect(common.BENCH_DATABASE_URL, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS bench_process_reference"
            " (id bigserial PRIMARY KEY, conversation text, body jsonb)"
        )
        connection.execute("TRUNCATE bench_process_reference")
        body = json.dumps({"message": "Message about order 12345", "type": "ContentEvent"})
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for offset in range(0, rows, 500):
                batch = [(f"conv-{n % 1000}", body) for n in range(offset, min(rows, offset + 500))]
                with connection.transaction():
                    cursor.executemany(
                        "INSERT INTO bench_process_reference (conversation, body) VALUES (%s, %s)",
                        batch,
                    )
        return rows / (time.perf_counter() - started)


def measure(events: int, profile: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for workers in (1, 2):
        store_backlog(events)
        results[workers] = run_workers(workers, profile=profile and workers == 1)
    results["reference"] = reference(events)
    return results


# Targets (one worker, two workers' speed-up, peak memory) and the figures of the code before
# this benchmark existed (the hardened way in, 3,000 events, measured with this script).
TARGET_RATE, TARGET_SCALING, TARGET_PEAK_MB = 1_500, 1.7, 300
BEFORE = {"rate": 64, "queries_per_event": 15.89, "cpu_ms_per_event": 10.16}


def report(runs: dict[tuple[int, int], dict[str, Any]]) -> str:
    rows = []
    for (events, preload), result in runs.items():
        one, two, ref = result[1], result[2], result["reference"]
        rows.append(
            [
                f"{events:,}",
                f"{preload:,}",
                f"{one['rate']:,.0f} ({_verdict(one['rate'] >= TARGET_RATE)})",
                f"{two['rate']:,.0f} = {two['rate'] / one['rate']:.2f}x one"
                f" ({_verdict(two['rate'] >= TARGET_SCALING * one['rate'])})",
                f"{ref:,.0f}",
                common.ratio(one["rate"], ref),
                f"{one['queries_per_event']:.3f}",
                f"{one['cpu_ms_per_event']:.2f}",
                f"{max(one['peak_mb'], two['peak_mb']):.0f}"
                f" ({_verdict(max(one['peak_mb'], two['peak_mb']) < TARGET_PEAK_MB)})",
            ]
        )
    figures = common.table(
        [
            "backlog (events)",
            "messages stored before",
            "1 worker (events/s)",
            "2 workers (events/s)",
            "reference (rows/s)",
            "1 worker / reference",
            "queries/event",
            "CPU ms/event (1 worker)",
            "peak MB per worker",
        ],
        rows,
    )
    before = (
        f"Before (the hardened way in, one event per transaction, 3,000 events): "
        f"{BEFORE['rate']} events/s, {BEFORE['queries_per_event']} queries and "
        f"{BEFORE['cpu_ms_per_event']} ms of CPU per event."
    )
    machine = common.table(["machine", ""], list(common.machine().items()))
    return "\n\n".join(
        [
            "## Processing",
            "`python -m bench.process`: "
            + __doc__.split("\n\n")[1].replace("\n", " ")
            + f" Targets: one worker at least {TARGET_RATE:,} events/s, two together at least"
            f" {TARGET_SCALING}x one, peak memory under {TARGET_PEAK_MB} MB, the same rate with"
            " 1,000,000 messages already stored.",
            figures,
            before,
            machine,
        ]
    )


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def preload(messages: int) -> None:
    """Fill the database with ``messages`` messages first (the list benchmark's seed)."""
    if messages:
        conversations = max(messages // 10, 1)
        common.run_manage(
            "bench_seed",
            f"--messages={messages}",
            f"--conversations={conversations}",
            "--channels=20",
            "--users=50",
            f"--long-conversation={min(2000, messages // 2)}",
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, action="append")
    parser.add_argument("--preload-messages", type=int, default=0)
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()
    if options.events:
        plan = [(events, options.preload_messages) for events in options.events]
    elif options.quick:
        plan = [(2_000, 0)]
    else:
        plan = [(5_000, 0), (50_000, 0), (50_000, 1_000_000)]
    runs: dict[tuple[int, int], dict[str, Any]] = {}
    for events, messages in plan:
        common.recreate_database()
        preload(messages)
        common.setup_django()
        runs[(events, messages)] = measure(events, options.profile)
    text = report(runs)
    print(text)
    for result in runs.values():
        if result[1]["failed"] or result[2]["failed"]:
            raise SystemExit("events failed while processing the backlog")
    if not options.quick and not options.events:
        common.write_section("process", text)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
