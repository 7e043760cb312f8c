"""Changes of ``cqm.ExConversationChangeNotification``: the complete state of a conversation.

A change is ``{type: UPSERT|DELETE, result: {convId, effectiveTTR, conversationDetails}}``.
Almost everything in ``conversationDetails`` is optional, so a missing field is left out (or left
as stored) rather than treated as an error. Out-of-order updates are resolved downstream by
``at`` (``metaDataLastUpdateTs``), as LivePerson advises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..base import ConversationChanged, ConversationKind, ConversationStatus, Event, Party
from ..payload import as_mapping, required_str
from ..timestamps import from_epoch_ms
from .fields import optional_mapping, text

CLOSED_STATE = "CLOSE"

# conversationDetails keys copied into ``state``.
STATE_KEYS = ("stage", "state", "skillId", "brandId", "closeReason", "startTs", "endTs", "ttr")
DIALOG_KEYS = (
    "dialogId",
    "dialogType",
    "state",
    "creationTs",
    "endTs",
    "closedBy",
    "metaDataLastUpdateTs",
)
DIALOG_PARTICIPANT_KEYS = ("id", "role", "state")


def _present(source: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: source[key] for key in keys if source.get(key) is not None}


def _dialog(dialog: Mapping[str, Any]) -> dict[str, Any]:
    summary = _present(dialog, DIALOG_KEYS)
    listed = dialog.get("participantsDetails", dialog.get("participants"))
    if isinstance(listed, list):
        summary["participants"] = [
            _present(item, DIALOG_PARTICIPANT_KEYS) for item in listed if isinstance(item, Mapping)
        ]
    return summary


def _state(result: Mapping[str, Any], details: Mapping[str, Any]) -> dict[str, Any] | None:
    state = _present(details, STATE_KEYS)
    if result.get("effectiveTTR") is not None:
        state["effectiveTTR"] = result["effectiveTTR"]
    dialogs = details.get("dialogs")
    if isinstance(dialogs, list):
        state["dialogs"] = [_dialog(item) for item in dialogs if isinstance(item, Mapping)]
    return state or None


def _participants(details: Mapping[str, Any]) -> tuple[Party, ...] | None:
    # None (not an empty tuple) when absent: an empty tuple would remove everyone.
    listed = details.get("participants")
    if not isinstance(listed, list):
        return None
    return tuple(
        Party(item["id"], role=text(item.get("role")))
        for item in listed
        if isinstance(item, Mapping) and isinstance(item.get("id"), str) and item["id"]
    )


def _upsert_status(details: Mapping[str, Any]) -> ConversationStatus | None:
    state = details.get("state")
    if not isinstance(state, str) or not state:
        return None
    return ConversationStatus.CLOSED if state == CLOSED_STATE else ConversationStatus.OPEN


def _delete_status(details: Mapping[str, Any]) -> ConversationStatus | None:
    return ConversationStatus.DELETED


# change type -> how it sets the conversation's status; other change types are ignored.
STATUS_BY_CHANGE: Mapping[str, Callable[[Mapping[str, Any]], ConversationStatus | None]] = {
    "UPSERT": _upsert_status,
    "DELETE": _delete_status,
}


def parse_change(change: Mapping[str, Any]) -> list[Event]:
    """One ConversationChanged for an UPSERT or DELETE, ``[]`` for other change types.

    Raises PayloadError when the change has no type, no ``result`` or no ``convId``.
    """
    status_of = STATUS_BY_CHANGE.get(required_str(change, "type", "LivePerson conversation change"))
    if status_of is None:
        return []
    result = as_mapping(change.get("result"), "LivePerson conversation change result")
    details = optional_mapping(result.get("conversationDetails"))
    return [
        ConversationChanged(
            conversation_id=required_str(result, "convId", "LivePerson conversation change result"),
            at=from_epoch_ms(details.get("metaDataLastUpdateTs")),
            kind=ConversationKind.DIRECT,
            status=status_of(details),
            state=_state(result, details),
            participants=_participants(details),
        )
    ]
