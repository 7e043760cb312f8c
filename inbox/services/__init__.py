"""Every write of the inbox core. Views, tasks, commands and the admin call these; nothing else
writes.

The ``apply_*`` functions are the appliers of the way in (registered in ``InboxConfig.ready``):
each applies a batch of one normalized event type in a few bulk queries, is idempotent —
applying any set of events any number of times, in any order, converges to the same rows (unique
keys, forward-only statuses, "only if newer" for snapshots) — and reports what it changed as live
``Change`` values. The ``*_locks`` functions name the conversations an event's applier writes to.
"""

from .channels import create_channel, update_channel
from .conversations import (
    apply_conversations_changed,
    apply_participants_changed,
    apply_profiles_changed,
    conversation_locks,
    participant_locks,
)
from .messages import apply_messages_upserted, apply_statuses_changed, message_locks, status_locks
from .read_state import mark_read
from .typing import apply_typing, typing_in

__all__ = [
    "apply_conversations_changed",
    "apply_messages_upserted",
    "apply_participants_changed",
    "apply_profiles_changed",
    "apply_statuses_changed",
    "apply_typing",
    "conversation_locks",
    "create_channel",
    "mark_read",
    "message_locks",
    "participant_locks",
    "status_locks",
    "typing_in",
    "update_channel",
]
