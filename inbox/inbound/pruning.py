"""Keeping the raw store small: processed and ignored events expire, failed ones stay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from inbox.models import InboundEvent, InboundRequest

BATCH = 5000


@dataclass(frozen=True)
class Pruned:
    events: int
    requests: int


def prune_inbound(*, older_than: timedelta) -> Pruned:
    """Delete processed and ignored events received before ``now - older_than``, then the
    requests of that age no event refers to any more. Failed and pending events (and their
    requests) are kept, whatever their age. Deletes in batches, so no transaction grows large.
    """
    cutoff = timezone.now() - older_than
    done = (InboundEvent.State.PROCESSED, InboundEvent.State.IGNORED)
    events = _delete_in_batches(InboundEvent.objects.filter(state__in=done, received_at__lt=cutoff))
    orphaned = InboundRequest.objects.filter(received_at__lt=cutoff).exclude(
        Exists(InboundEvent.objects.filter(request=OuterRef("pk")))
    )
    return Pruned(events=events, requests=_delete_in_batches(orphaned))


def _delete_in_batches(queryset: QuerySet[Any]) -> int:
    deleted = 0
    while ids := list(queryset.values_list("id", flat=True)[:BATCH]):
        queryset.model._default_manager.filter(id__in=ids).delete()
        deleted += len(ids)
    return deleted
