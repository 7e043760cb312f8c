"""Every write of the inbox core. Views, tasks and commands call these; nothing else writes.

The ``apply_*`` functions are the pipeline's appliers: each applies one normalized event and is
idempotent — applying any set of events any number of times, in any order, converges to the same
rows (unique keys, forward-only statuses, "only if newer" for snapshots). Importing this package
registers them.
"""

from .channels import create_channel
from .conversations import (
    apply_conversation_changed,
    apply_participant_changed,
    apply_profile_changed,
)
from .messages import apply_message_upserted, apply_status_changed, refresh_delivery
from .receiving import (
    queue_processing,
    receive_events,
    record_unreadable_event,
    retry_inbound_event,
)
from .typing import apply_typing, typing_in

__all__ = [
    "apply_conversation_changed",
    "apply_message_upserted",
    "apply_participant_changed",
    "apply_profile_changed",
    "apply_status_changed",
    "apply_typing",
    "create_channel",
    "queue_processing",
    "receive_events",
    "record_unreadable_event",
    "refresh_delivery",
    "retry_inbound_event",
    "typing_in",
]
