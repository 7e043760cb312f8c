"""Processing stored events: claim a batch, parse it, apply it, finish it.

A claimed batch is parsed event by event (outside any transaction: parsing is pure), then applied
in **one** transaction by the registered appliers, each taking all events of its type at once.
Before applying, the batch takes the locks of every conversation it writes to, without waiting:
events whose conversation another worker holds are handed back (due again in a moment), so two
workers never queue behind each other. If the batch fails, each of its events is applied again in
a transaction of its own, so one bad event fails alone and leaves no partial rows. Outcomes:

- applied -> ``processed``; parsed to nothing (authentic, but nothing the inbox uses) ->
  ``ignored``;
- a payload the connector cannot understand, or values that cannot fit a column (a sequence of
  1e30, a date past year 9999) -> ``failed`` for good, with the reason: retrying cannot help;
- any other error -> ``failed`` with a retry after a growing delay, until ``INBOUND_MAX_ATTEMPTS``
  attempts (counted at claim, so an event that kills its worker is given up too).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DataError, transaction
from django.db.models import F
from django.utils import timezone

from inbox.connectors.contract import ChannelContext, PayloadError
from inbox.connectors.registry import get_connector
from inbox.db import lock_key, try_lock, update_rows
from inbox.live import publish_on_commit
from inbox.models import Channel, InboundEvent
from inbox.queue import WorkQueue

from .appliers import Applying, apply_all, registration

logger = logging.getLogger(__name__)

INBOUND_QUEUE = WorkQueue(
    InboundEvent,
    lease=timedelta(minutes=5),
    max_attempts=lambda: settings.INBOUND_MAX_ATTEMPTS,
)

# What processing reads of a claimed event.
LOADED = ("channel_id", "event_name", "payload", "envelope", "attempts", "error", "received_at")
# Besides PayloadError: errors the same event would raise again on every retry.
PERMANENT = (DataError, OverflowError)
# When a whole batch was handed back, the worker waits this long before claiming again.
HANDED_BACK_PAUSE = 0.05
HANDED_BACK_ROUNDS = 400  # then the rest waits for the sweeper (a lock held that long is odd)


@dataclass
class Outcome:
    """How a batch ended: states to write and events handed back."""

    finished: dict[int, tuple[str, str, datetime | None]] = field(default_factory=dict)
    handed_back: list[int] = field(default_factory=list)

    def finish(
        self, event: InboundEvent, state: str, error: str = "", retry: datetime | None = None
    ) -> None:
        self.finished[event.pk] = (state, error[:4000], retry)


def process_event(event: InboundEvent) -> str:
    """Parse and apply one claimed event; record and return its state."""
    process_batch([event])
    event.refresh_from_db(fields=["state", "error", "next_attempt_at", "processed_at"])
    return event.state


def process_batch(events: Sequence[InboundEvent]) -> Counter[str]:
    """Parse, apply and finish claimed events; returns how many ended in each state (events
    handed back to the queue are counted as ``handed back``)."""
    outcome = Outcome()
    parsed: list[tuple[InboundEvent, list[Applying]]] = []
    for event in _with_channels(events):
        if INBOUND_QUEUE.exhausted(event):
            why = event.error or "its worker stopped before it finished (killed or out of memory?)"
            outcome.finish(
                event,
                InboundEvent.State.FAILED,
                f"gave up after {event.attempts - 1} attempts; the last: {why}",
            )
            continue
        try:
            parsed.append((event, _parse(event)))
        except PayloadError as exc:
            outcome.finish(event, InboundEvent.State.FAILED, f"unreadable payload: {exc}")
    if parsed:
        try:
            with transaction.atomic():
                ready = _lock(parsed, outcome)
                publish_on_commit(apply_all([a for _, applying in ready for a in applying]))
                for event, applying in ready:
                    outcome.finish(event, _applied_state(applying))
        except Exception:  # one bad event: apply each alone to find it
            outcome.handed_back.clear()
            for event, applying in parsed:
                _apply_alone(event, applying, outcome)
    _write(outcome)
    counts: Counter[str] = Counter(state for state, _, _ in outcome.finished.values())
    if outcome.handed_back:
        counts["handed back"] += len(outcome.handed_back)
    return counts


def _with_channels(events: Sequence[InboundEvent]) -> list[InboundEvent]:
    """The events with their channels, loaded once per channel and without the secrets."""
    channels = {
        c.pk: c
        for c in Channel.objects.filter(id__any={e.channel_id for e in events}).defer(
            "credentials", "webhook_secrets"
        )
    }
    for event in events:
        event.channel = channels[event.channel_id]
    return list(events)


def _parse(event: InboundEvent) -> list[Applying]:
    channel = event.channel
    normalized = get_connector(channel.platform).parse(
        event_name=event.event_name,
        payload=event.payload,
        envelope=event.envelope or {},
        # What the channel learnt from its platform (our own address…) fills settings not given.
        context=ChannelContext(
            platform=channel.platform, settings={**channel.learned, **channel.settings}
        ),
    )
    return [Applying(channel, item, event) for item in normalized]


def _applied_state(applying: Sequence[Applying]) -> str:
    return InboundEvent.State.PROCESSED if applying else InboundEvent.State.IGNORED


def _locks(applying: Sequence[Applying]) -> set[int]:
    return {
        lock_key(a.channel.pk, name)
        for a in applying
        for name in registration(type(a.event)).locks(a.event)
    }


def _lock(
    parsed: Sequence[tuple[InboundEvent, list[Applying]]], outcome: Outcome
) -> list[tuple[InboundEvent, list[Applying]]]:
    """Take the locks of every event's conversations without waiting; events whose locks
    another worker holds are handed back. Returns the events that may be applied."""
    wanted = {event.pk: _locks(applying) for event, applying in parsed}
    taken = try_lock(set().union(*wanted.values()))
    ready = []
    for event, applying in parsed:
        if wanted[event.pk] <= taken:
            ready.append((event, applying))
        else:
            outcome.handed_back.append(event.pk)
    return ready


def _apply_alone(event: InboundEvent, applying: Sequence[Applying], outcome: Outcome) -> None:
    try:
        with transaction.atomic():
            wanted = _locks(applying)
            if not wanted <= try_lock(wanted):
                outcome.handed_back.append(event.pk)
                return
            publish_on_commit(apply_all(applying))
        outcome.finish(event, _applied_state(applying))
    except PayloadError as exc:
        outcome.finish(event, InboundEvent.State.FAILED, f"unreadable payload: {exc}")
    except PERMANENT as exc:
        outcome.finish(event, InboundEvent.State.FAILED, f"value does not fit: {exc}")
    except Exception as exc:  # any other failure is recorded on the event and retried
        logger.exception("inbound event %s failed (attempt %s)", event.pk, event.attempts)
        outcome.finish(
            event,
            InboundEvent.State.FAILED,
            f"{type(exc).__name__}: {exc}",
            INBOUND_QUEUE.next_attempt(event),
        )


def _write(outcome: Outcome) -> None:
    """Record the outcome: finished events by state, handed-back events due again soon (their
    attempt did not happen)."""
    now = timezone.now()
    plain: dict[str, list[int]] = {}
    detailed: list[InboundEvent] = []
    for pk, (state, error, retry) in outcome.finished.items():
        if error or retry:
            detailed.append(
                InboundEvent(
                    pk=pk, state=state, error=error, next_attempt_at=retry, processed_at=now
                )
            )
        else:
            plain.setdefault(state, []).append(pk)
    for state, pks in plain.items():
        InboundEvent.objects.filter(pk__any=pks).update(
            state=state, error="", next_attempt_at=None, processed_at=now
        )
    if detailed:
        update_rows(detailed, ["state", "error", "next_attempt_at", "processed_at"])
    if outcome.handed_back:
        InboundEvent.objects.filter(pk__any=outcome.handed_back).update(
            attempts=F("attempts") - 1, next_attempt_at=now
        )


def process_due_events(
    *, limit: int | None = None, received_before: datetime | None = None
) -> Counter[str]:
    """Claim and process due events batch by batch until none are left (or ``limit`` is hit).

    ``received_before`` leaves younger work alone (the sweeper's grace period). Events handed
    back because another worker held their conversation are due again at once, and this run
    takes them too before it returns. Returns how many ended in each state.
    """
    counts: Counter[str] = Counter()
    batch_size = settings.INBOUND_BATCH_SIZE
    cutoff, rounds = received_before, 0
    while limit is None or counts.total() < limit:
        size = batch_size if limit is None else min(batch_size, limit - counts.total())
        ids = INBOUND_QUEUE.claim(size=size, before=cutoff)
        if not ids:
            break
        done = process_batch(list(InboundEvent.objects.filter(id__any=ids).only(*LOADED)))
        handed_back = done.pop("handed back", 0)
        counts += done
        if handed_back:
            cutoff = None  # what was handed back is due now, whatever the grace period
            if handed_back == len(ids):
                rounds += 1
                if rounds > HANDED_BACK_ROUNDS:
                    break
                time.sleep(HANDED_BACK_PAUSE)
    return counts
