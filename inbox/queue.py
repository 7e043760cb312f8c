"""Claim, lease and back off: the mechanism every queue of work shares.

Work lives in rows (:class:`inbox.models.work.QueuedWork`): inbound events now, outbound
commands, attachment downloads and polls later. A worker *claims* due rows with
``SELECT … FOR UPDATE SKIP LOCKED`` (workers never wait on each other), which counts the attempt
and leases the row by moving ``next_attempt_at`` to the end of the lease. If the worker dies,
the row is due again when the lease runs out; once it has been claimed more than
``max_attempts`` times it is given up (:meth:`WorkQueue.exhausted`), so work that kills its
worker cannot loop forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from inbox.models.work import QueuedWork

W = TypeVar("W", bound=QueuedWork)


@dataclass(frozen=True)
class WorkQueue(Generic[W]):
    model: type[W]
    lease: timedelta
    # Read at call time, so settings can change (in tests, and per deployment).
    max_attempts: Callable[[], int]
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)

    def due(self, *, before: datetime | None = None) -> QuerySet[W]:
        """Rows whose next attempt has come (by ``before``, default now)."""
        return self.model._default_manager.filter(next_attempt_at__lte=before or timezone.now())

    def claim(self, *, size: int, before: datetime | None = None) -> list[int]:
        """Lease up to ``size`` due rows to this worker, count the attempt, return their ids.

        Oldest due first. Rows another worker holds locked are skipped, not waited for.
        """
        now = timezone.now()
        if connection.vendor == "postgresql":
            return self._claim_in_one_statement(size, before or now, now + self.lease)
        with transaction.atomic():
            ids = list(
                self.due(before=before)
                .order_by("next_attempt_at", "id")
                .select_for_update(skip_locked=True)
                .values_list("id", flat=True)[:size]
            )
            if ids:
                self.model._default_manager.filter(id__in=ids).update(
                    attempts=F("attempts") + 1, next_attempt_at=now + self.lease
                )
        return ids

    def _claim_in_one_statement(self, size: int, due: datetime, leased: datetime) -> list[int]:
        table = connection.ops.quote_name(self.model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET attempts = attempts + 1, next_attempt_at = %s"  # noqa: S608
                f" WHERE id IN (SELECT id FROM {table} WHERE next_attempt_at <= %s"
                " ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED)"
                " RETURNING id",
                [leased, due, size],
            )
            return sorted(pk for (pk,) in cursor.fetchall())

    def exhausted(self, item: W) -> bool:
        """True once ``item`` was claimed more often than it may be attempted."""
        return item.attempts > self.max_attempts()

    def retry_delay(self, attempts: int) -> timedelta:
        """Backoff after the ``attempts``-th failure: 30 s, 1 min, 2 min, … capped at one hour."""
        delay = self.first_delay * (1 << min(max(attempts - 1, 0), 32))
        return min(delay, self.max_delay)

    def next_attempt(self, item: W) -> datetime | None:
        """When to try ``item`` again after a failed attempt; ``None`` when it is given up."""
        if item.attempts >= self.max_attempts():
            return None
        return timezone.now() + self.retry_delay(item.attempts)
