from __future__ import annotations

from django.db import models


class QueuedWork(models.Model):
    """What every queue of work shares (inbound events now; outbound commands, downloads and
    polls later): claimed, leased and retried by :class:`inbox.queue.WorkQueue`.

    ``next_attempt_at`` is when the item is due; null means there is nothing left to do (done,
    or failed for good). A claim counts the attempt and moves ``next_attempt_at`` to the end of
    the lease, so an item whose worker died becomes due again when the lease runs out.
    """

    attempts = models.PositiveIntegerField(default=0, help_text="Counted when claimed.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        abstract = True
