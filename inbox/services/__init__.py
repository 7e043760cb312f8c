"""Every write of the inbox core. Views, tasks, commands and the admin call these; nothing else
writes.

The ``apply_*`` functions are the appliers of the way in (registered in ``InboxConfig.ready``):
each applies one normalized event, is idempotent — applying any set of events any number of
times, in any order, converges to the same rows (unique keys, forward-only statuses, "only if
newer" for snapshots) — and reports what it changed as live ``Change`` values.
"""

from .channels import create_channel, update_channel
from .conversations import (
    apply_conversation_changed,
    apply_participant_changed,
    apply_profile_changed,
)
from .messages import apply_message_upserted, apply_status_changed, refresh_delivery
from .read_state import mark_read
from .typing import apply_typing, typing_in

__all__ = [
    "apply_conversation_changed",
    "apply_message_upserted",
    "apply_participant_changed",
    "apply_profile_changed",
    "apply_status_changed",
    "apply_typing",
    "create_channel",
    "mark_read",
    "refresh_delivery",
    "typing_in",
    "update_channel",
]
