"""Fill an empty PostgreSQL database with a realistic inbox, fast, for the benchmarks.

    manage.py bench_seed --messages 1000000 --conversations 100000 --channels 20 --users 50

Channels on the four platforms (saved through the model, so their secrets are encrypted);
regular users, members of a few channels each, and one staff user ``bench-staff``;
conversations with 2-4 participants; messages spread unevenly over them (a long tail, and one
conversation of exactly ``--long-conversation`` messages), sent over the last six months, their
texts drawn from about 2,000 words in a Zipf distribution (so full-text search meets both very
common and rare words); read states for every user.

The pipeline's invariants hold: positions 1..n per conversation in arrival order,
``last_position`` = n, ``last_message`` the newest message and ``last_activity_at`` its time;
message ids grow with arrival across conversations, as the way in assigns them. The rows go in
with COPY in one transaction (ids reserved from the tables' sequences), then the tables are
vacuumed and analysed. ``--json`` prints one JSON object: counts, seconds and the ids a
benchmark needs (the staff user, a member and their channels, the long conversation, search
words with the number of messages they occur in).
"""

# ruff: noqa: S311 - seeded pseudo-random data, reproducible on purpose; secrets use `secrets`

from __future__ import annotations

import json
import math
import random
import secrets
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.db.models import Field, Model
from django.utils import timezone

from inbox.choices import Platform
from inbox.models import Channel, Conversation, Message, Participant, ReadState

from ._bench_words import people, vocabulary

HISTORY_DAYS = 180  # messages are spread over this many days before now
CHUNK = 5000  # COPY lines per write
NULL = "\\N"  # COPY's text format for NULL
SEQUENCED = {Platform.LIVEPERSON, Platform.COMAPI}  # platforms that number their messages
ROLES: dict[str, tuple[str, str]] = {  # (our agents, the customers), as platforms name them
    Platform.ENMESHED: ("", ""),
    Platform.LIVEPERSON: ("ASSIGNED_AGENT", "CONSUMER"),
    Platform.COMAPI: ("owner", "member"),
    Platform.SCALAR: ("BackOffice", "Driver"),
}
BULK_TABLES = (Conversation, Participant, Message, ReadState)
MESSAGE_FIELDS = (
    "id",
    "channel",
    "conversation",
    "external_id",
    "direction",
    "sender",
    "sent_at",
    "received_at",
    "updated_at",
    "position",
    "text",
    "subject",
    "content_kind",
    "choices",
    "audience",
    "reply_to_external_id",
    "sequence",
    "status",
    "error",
)


class Command(BaseCommand):
    help = "Fill an empty PostgreSQL database with a realistic inbox for the benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--messages", type=int, default=100_000)
        parser.add_argument("--conversations", type=int, default=10_000)
        parser.add_argument("--channels", type=int, default=20)
        parser.add_argument("--users", type=int, default=50, help="regular users (plus staff)")
        parser.add_argument(
            "--long-conversation",
            type=int,
            default=2000,
            help="messages of the one long conversation (made when there are enough messages)",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("bench_seed needs PostgreSQL (it loads rows with COPY)")
        if Conversation.objects.exists() or Channel.objects.exists():
            raise CommandError("bench_seed fills an empty database: channels exist already")
        if options["channels"] < 1 or options["conversations"] < 1 or options["users"] < 0:
            raise CommandError("at least one channel and one conversation are needed")
        if options["messages"] < options["conversations"]:
            raise CommandError("every conversation has a message: --messages >= --conversations")
        started = time.perf_counter()
        seeder = Seeder(
            messages=options["messages"],
            conversations=options["conversations"],
            channels=options["channels"],
            users=options["users"],
            long_conversation=options["long_conversation"],
            seed=options["seed"],
        )
        with transaction.atomic():
            seeder.run()
        loaded = time.perf_counter()
        # Every table written, the small ones too: autovacuum leaves a table of fewer than 50
        # changed rows unanalysed, and the planner then guesses (the channels: 25 ms instead
        # of 1 ms for a `platform=` list at 1M messages). VACUUM cannot run inside a
        # transaction (a test's): then ANALYZE alone.
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        written = (*BULK_TABLES, Channel, Channel.members.through, get_user_model())
        with connection.cursor() as cursor:
            for model in written:
                cursor.execute(f'{command} "{model._meta.db_table}"')
        done = time.perf_counter()
        summary = seeder.summary()
        summary["seconds"] = {
            "load": round(loaded - started, 2),
            "vacuum_analyze": round(done - loaded, 2),
            "total": round(done - started, 2),
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(describe(summary))


def describe(summary: dict[str, Any]) -> str:
    counts = summary["counts"]
    lines = [
        f"{counts['messages']:,} messages in {counts['conversations']:,} conversations on "
        f"{counts['channels']} channels; {counts['participants']:,} participants, "
        f"{counts['users']} users, {counts['read_states']:,} read states; "
        f"{summary['seconds']['total']:.1f} s ({summary['seconds']['vacuum_analyze']:.1f} s "
        "of them vacuum and analyse)."
    ]
    if long := summary["long_conversation"]:
        lines.append(f"Conversation {long['id']} has {long['messages']:,} messages.")
    if member := summary["member"]:
        lines.append(f"{member['username']} sees channels {member['channel_ids']}.")
    lines += [
        f"{kind} word: {found['word']!r} in {found['messages']:,} messages"
        for kind, found in summary["search_words"].items()
    ]
    return "\n".join(lines)


class Seeder:
    """One seeding run. Conversation ``c`` (0-based) owns the messages ``offsets[c]`` ..
    ``offsets[c] + sizes[c] - 1`` of the plan, in its arrival order; ``rank`` places each of
    them in the global arrival order, which gives its id."""

    def __init__(
        self,
        *,
        messages: int,
        conversations: int,
        channels: int,
        users: int,
        long_conversation: int,
        seed: int,
    ) -> None:
        self.n_messages, self.n_conversations = messages, conversations
        self.n_channels, self.n_users = channels, users
        fits = long_conversation > 0 and messages - long_conversation >= conversations - 1
        self.long = long_conversation if fits else 0
        self.rng = random.Random(seed)
        self.now = timezone.now().timestamp()
        self.words = vocabulary()
        weights = [1 / (rank + 2.7) for rank in range(len(self.words))]  # Zipf-Mandelbrot
        self.cumulative = list(_running_total(weights))
        self.first_names, self.last_names = people()
        self.frequencies: Counter[str] = Counter()  # messages each word occurs in
        self.participants = 0
        self.read_states = 0

    def run(self) -> None:
        self.create_channels_and_users()
        self.plan()
        with _bulk_load(BULK_TABLES):
            _copy(Conversation, _fields(Conversation), self.conversation_rows())
            _copy(Participant, _fields(Participant), self.participant_rows())
            _copy(Message, MESSAGE_FIELDS, self.message_rows())
            _copy(ReadState, _fields(ReadState), self.read_state_rows())

    # --- the few rows saved through the ORM --------------------------------------------------

    def create_channels_and_users(self) -> None:
        platforms = list(Platform)
        self.channels = [
            Channel.objects.create(
                platform=platforms[n % len(platforms)],
                name=f"Bench {platforms[n % len(platforms)]} {n + 1}",
                webhook_secrets=[secrets.token_urlsafe(24)],
                credentials={"api_key": secrets.token_urlsafe(30)},
                settings=_channel_settings(platforms[n % len(platforms)], self.rng),
            )
            for n in range(self.n_channels)
        ]
        user_model = get_user_model()
        password = make_password("bench")  # one hash for all: each costs a good fraction of a s
        self.staff = user_model.objects.create(
            username="bench-staff", email="staff@bench.example", is_staff=True, password=password
        )
        self.users = user_model.objects.bulk_create(
            user_model(
                username=f"bench-user-{n}", email=f"user{n}@bench.example", password=password
            )
            for n in range(1, self.n_users + 1)
        )
        # The first user is a member of channel 0 (the long conversation's) and two more; the
        # others of one to four channels.
        self.visible: dict[int, list[int]] = {}
        for index, user in enumerate(self.users):
            if index == 0:
                chosen = {0, min(1, self.n_channels - 1), self.n_channels // 2}
            else:
                many = min(self.n_channels, self.rng.randint(1, 4))
                chosen = set(self.rng.sample(range(self.n_channels), many))
            self.visible[user.pk] = sorted(chosen)
        Channel.members.through.objects.bulk_create(
            Channel.members.through(channel_id=self.channels[c].pk, user_id=user_id)
            for user_id, chosen in self.visible.items()
            for c in chosen
        )

    # --- the plan ----------------------------------------------------------------------------

    def plan(self) -> None:
        """Each conversation's channel, kind and message count; each message's time; ids."""
        rng, count = self.rng, self.n_conversations
        channel_weights = [1 / math.sqrt(n + 1) for n in range(self.n_channels)]
        self.channel_of = array("i", rng.choices(range(self.n_channels), channel_weights, k=count))
        self.channel_of[0] = 0  # the long conversation
        self.is_group = array("b", (rng.random() < 0.2 for _ in range(count)))
        # Message counts: at least one each, then a long tail (log-normal weights).
        sizes = array("i", [1] * count)
        first = 0
        if self.long:
            sizes[0], first = self.long, 1
        rest = self.n_messages - sum(sizes)
        weights = [rng.lognormvariate(0, 1.2) for _ in range(count - first)]
        scale = rest / sum(weights) if weights else 0
        for index, weight in enumerate(weights, start=first):
            sizes[index] += int(weight * scale)
        for _ in range(self.n_messages - sum(sizes)):
            sizes[rng.randrange(first, count)] += 1
        self.sizes = sizes
        self.offsets = array("q", (0 for _ in range(count)))
        for index in range(1, count):
            self.offsets[index] = self.offsets[index - 1] + sizes[index - 1]

        self.times = array("d", bytes(8 * self.n_messages))
        history = HISTORY_DAYS * 86400
        for conv in range(count):
            self._plan_times(conv, self.now - history * (0.98 if conv == 0 else rng.random()))
        order = sorted(range(self.n_messages), key=self.times.__getitem__)
        self.order = array("q", order)
        self.rank = array("q", bytes(8 * self.n_messages))
        for rank, index in enumerate(order):
            self.rank[index] = rank
        self.conv_of = array("i", bytes(4 * self.n_messages))
        for conv in range(count):
            for index in range(self.offsets[conv], self.offsets[conv] + sizes[conv]):
                self.conv_of[index] = conv

        self.message_base = _reserve_ids(Message, self.n_messages)
        self.conversation_base = _reserve_ids(Conversation, count)
        self.participant_base = _reserve_ids(Participant, 4 * count)  # at most 4 each
        self.by_channel: dict[int, list[int]] = {}
        for conv in range(count):
            self.by_channel.setdefault(self.channel_of[conv], []).append(conv)
        seen = count  # the staff user sees everything
        seen += sum(len(self.by_channel.get(c, ())) for c in self.visible_channels())
        # Reserved before any COPY: the connection runs no other statement during one.
        self.read_state_base = _reserve_ids(ReadState, seen)
        self.agents = array("b", bytes(count))  # participants 0 .. agents-1 are ours
        self.people = array("b", bytes(count))

    def _plan_times(self, conv: int, start: float) -> None:
        """Minutes apart, now and then days; squeezed to end before now (the long one spans
        its whole history); strictly increasing, so the newest message is the last."""
        rng, size, offset = self.rng, self.sizes[conv], self.offsets[conv]
        stamps, at = [], start
        for _ in range(size):
            at += 1 + rng.expovariate(1 / (2 * 86400 if rng.random() < 0.05 else 600))
            stamps.append(at)
        squeeze = (self.now - 60 - start) / (at - start) if at > self.now or conv == 0 else 1
        previous = 0.0
        for n, stamp in enumerate(stamps):
            previous = max(start + (stamp - start) * squeeze, previous + 0.001)
            self.times[offset + n] = previous

    def visible_channels(self) -> Iterator[int]:
        """The channels of every regular user, one after the other."""
        for user in self.users:
            yield from self.visible[user.pk]

    def message_id(self, index: int) -> int:
        return self.message_base + self.rank[index]

    # --- the rows ----------------------------------------------------------------------------

    def conversation_rows(self) -> Iterator[tuple[Any, ...]]:
        rng = self.rng
        for conv in range(self.n_conversations):
            size, offset = self.sizes[conv], self.offsets[conv]
            first, last = self.times[offset], self.times[offset + size - 1]
            group = self.is_group[conv]
            roll = rng.random()
            status = "closed" if roll < 0.3 else "deleted" if roll < 0.32 else "open"
            titled = rng.random() < (0.7 if group else 0.15)
            yield (
                self.conversation_base + conv,
                self.channels[self.channel_of[conv]].pk,
                _uuid(rng),
                "group" if group else "direct",
                " ".join(self.pick(2, 5)).capitalize() if titled else "",
                status,
                "{}",
                NULL,
                NULL if status == "open" else _stamp(last),
                self.message_id(offset + size - 1),
                _stamp(last),
                size,
                0,  # receipt_position: no read receipt sent
                NULL,
                _stamp(first - 2),
                _stamp(last + 1),
            )

    def participant_rows(self) -> Iterator[tuple[Any, ...]]:
        """Our agents first (one; two in half the groups), then one customer (two in groups).
        Each channel has eight agents who appear in many conversations."""
        rng = self.rng
        agents = [
            [(_address(c.platform, rng), self.person()) for _ in range(8)] for c in self.channels
        ]
        for conv in range(self.n_conversations):
            channel = self.channel_of[conv]
            platform = self.channels[channel].platform
            group = self.is_group[conv]
            ours = rng.sample(agents[channel], 2 if group and rng.random() < 0.5 else 1)
            customers = [(_address(platform, rng), self.person()) for _ in range(1 + group)]
            self.agents[conv], self.people[conv] = len(ours), len(ours) + len(customers)
            self.participants += len(ours) + len(customers)
            joined = _stamp(self.times[self.offsets[conv]] - 5)
            for n, (address, name) in enumerate([*ours, *customers]):
                role = ROLES[platform][0 if n < len(ours) else 1]
                yield (
                    self.participant_base + 4 * conv + n,
                    self.conversation_base + conv,
                    address,
                    name,
                    role,
                    "t",
                    joined,
                    NULL,
                    NULL,
                    NULL,
                )

    def message_rows(self) -> Iterator[tuple[Any, ...]]:
        """In id (arrival) order. Any participant may write (our agents' messages are
        outbound); 3 % are files, 1 % system notes, a few of ours internal notes; mails
        (enmeshed) mostly have a subject."""
        rng, count = self.rng, self.frequencies.update
        channels = [
            (c.pk, c.platform == Platform.ENMESHED, c.platform in SEQUENCED) for c in self.channels
        ]
        for index in self.order:
            conv = self.conv_of[index]
            position = index - self.offsets[conv] + 1
            channel_id, is_mail, sequenced = channels[self.channel_of[conv]]
            sender = rng.randrange(self.people[conv])
            outbound = sender < self.agents[conv]
            words = self.pick(3, 14)
            text = " ".join(words).capitalize() + rng.choice(".?!.")
            if rng.random() < 0.2:
                more = self.pick(3, 10)
                text += " " + " ".join(more).capitalize() + "."
                words += more
            subject = ""
            if rng.random() < (0.6 if is_mail else 0.02):
                subject_words = self.pick(2, 6)
                subject = " ".join(subject_words).capitalize()
                words += subject_words
            count(set(words))
            roll = rng.random()
            sent = self.times[index]
            arrived = _stamp(sent + 1.5)
            yield (
                self.message_base + self.rank[index],
                channel_id,
                self.conversation_base + conv,
                _uuid(rng),
                "out" if outbound else "in",
                self.participant_base + 4 * conv + sender,
                _stamp(sent),
                arrived,
                arrived,
                position,
                text,
                subject,
                "file" if roll < 0.03 else "system" if roll < 0.04 else "text",
                "[]",
                "internal" if outbound and rng.random() < 0.04 else "all",
                "",
                position - 1 if sequenced else NULL,
                _status(outbound, rng),
                "",
            )

    def read_state_rows(self) -> Iterator[tuple[Any, ...]]:
        """Each user opened about 40 % of the conversations they see; most are read to the
        end, the others up to a random point."""
        rng, by_channel, base = self.rng, self.by_channel, self.read_state_base
        everyone = [(self.staff.pk, list(range(self.n_channels)))]
        everyone += [(user.pk, self.visible[user.pk]) for user in self.users]
        for user_id, channels in everyone:
            for channel in channels:
                for conv in by_channel.get(channel, ()):
                    if rng.random() >= 0.4:
                        continue
                    size = self.sizes[conv]
                    read = size if rng.random() < 0.6 else rng.randint(0, size)
                    at = _stamp(self.times[self.offsets[conv] + read - 1] + 30) if read else NULL
                    yield (
                        base + self.read_states,
                        user_id,
                        self.conversation_base + conv,
                        read,
                        at,
                        "f",
                    )
                    self.read_states += 1

    # --- words and names ---------------------------------------------------------------------

    def pick(self, fewest: int, most: int) -> list[str]:
        count = self.rng.randint(fewest, most)
        return self.rng.choices(self.words, cum_weights=self.cumulative, k=count)

    def person(self) -> str:
        return f"{self.rng.choice(self.first_names)} {self.rng.choice(self.last_names)}"

    # --- the result --------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        member = None
        if self.users:
            first = self.users[0]
            channel_ids = [self.channels[c].pk for c in self.visible[first.pk]]
            member = {"id": first.pk, "username": first.username, "channel_ids": channel_ids}
        long = None
        if self.long:
            channel_id = self.channels[0].pk
            long = {"id": self.conversation_base, "messages": self.long, "channel_id": channel_id}
        return {
            "counts": {
                "channels": self.n_channels,
                "users": len(self.users) + 1,
                "conversations": self.n_conversations,
                "participants": self.participants,
                "messages": self.n_messages,
                "read_states": self.read_states,
            },
            "staff": {"id": self.staff.pk, "username": self.staff.username},
            "member": member,
            "long_conversation": long,
            "search_words": self.search_words(),
        }

    def search_words(self) -> dict[str, dict[str, Any]]:
        """The most frequent word, a common one (in about 5 % of the messages), an uncommon
        one (about 0.4 %) and a rare one (about 0.05 %, at least two); all of at least four
        letters."""
        candidates = sorted((w, n) for w, n in self.frequencies.items() if len(w) >= 4)
        if not candidates:
            return {}

        def nearest(share: float, least: int) -> tuple[str, int]:
            target = max(least, share * self.n_messages)
            return min(candidates, key=lambda item: abs(math.log(item[1] / target)))

        found = {
            "top": max(candidates, key=lambda item: item[1]),
            "common": nearest(0.05, 1),
            "uncommon": nearest(0.004, 1),
            "rare": nearest(0.0005, 2),
        }
        return {kind: {"word": w, "messages": n} for kind, (w, n) in found.items()}


# --- loading ---------------------------------------------------------------------------------


def _fields(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.name for field in model._meta.concrete_fields)


def _column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)  # noqa: S101 - a concrete field, never a relation's reverse
    return str(field.column)


def _copy(model: type[Model], fields: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY ``rows`` (values in the order of ``fields``, NULL as ``NULL``) into the model's
    table. Values are written as they are: the generators never produce tabs, newlines or
    backslashes (tests/test_bench_seed.py checks the word lists)."""
    columns = ", ".join(f'"{_column(model, name)}"' for name in fields)
    sql = f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN'
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        lines: list[str] = []
        for row in rows:
            lines.append("\t".join(map(str, row)))
            if len(lines) == CHUNK:
                copy.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            copy.write("\n".join(lines) + "\n")


@contextmanager
def _bulk_load(models: Iterable[type[Model]]) -> Iterator[None]:
    """Load the tables of ``models`` without their plain indexes and foreign keys, then build
    those again, as the PostgreSQL manual advises for populating a database: one sorted build
    of an index and one join to validate a foreign key cost far less than 1M insertions into
    eight indexes and 1M deferred checks at commit. Primary keys and unique constraints stay
    in place during the load. Run inside the caller's transaction: a failure undoes it all.
    """
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])",
            [tables],
        )
        foreign_keys = cursor.fetchall()
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
            " WHERE indrelid = ANY(%s::regclass[]) AND NOT indisprimary"
            " AND NOT EXISTS (SELECT FROM pg_constraint WHERE conindid = indexrelid)",
            [tables],
        )
        indexes = cursor.fetchall()
        for table, name, _ in foreign_keys:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            cursor.execute(definition)
        for table, name, definition in foreign_keys:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def _reserve_ids(model: type[Model], count: int) -> int:
    """The first of ``count`` consecutive ids taken from the table's sequence."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [model._meta.db_table])
        (sequence,) = cursor.fetchone()
        cursor.execute("SELECT nextval(%s)", [sequence])
        (first,) = cursor.fetchone()
        if count > 1:
            cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return int(first)


def _running_total(values: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _address(platform: str, rng: random.Random) -> str:
    if platform == Platform.ENMESHED:
        return f"did:e:bench.example:dids:{rng.getrandbits(80):020x}"
    return _uuid(rng)


def _channel_settings(platform: str, rng: random.Random) -> dict[str, Any]:
    if platform == Platform.ENMESHED:
        return {"address": _address(platform, rng)}
    if platform == Platform.COMAPI:
        return {"profile_id": f"{rng.getrandbits(48):012x}"}
    if platform == Platform.SCALAR:
        return {"sender_id": _uuid(rng)}
    return {}


def _status(outbound: bool, rng: random.Random) -> str:
    """Inbound messages stay "sent"; ours mostly got delivered or read, a few failed."""
    if not outbound:
        return "sent"
    roll = rng.random()
    if roll < 0.6:
        return "read"
    return "delivered" if roll < 0.9 else "sent" if roll < 0.99 else "failed"
