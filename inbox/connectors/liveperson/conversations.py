"""Changes of ``cqm.ExConversationChangeNotification``: the complete state of a conversation.

A change is ``{type: UPSERT|DELETE, result: {convId, effectiveTTR, conversationDetails}}``.
Almost everything in ``conversationDetails`` is optional, so a missing field is left out (or left
as stored) rather than treated as an error; a field of the wrong type is an error. Out-of-order
updates are resolved downstream by ``at`` (``metaDataLastUpdateTs``), as LivePerson advises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...choices import ConversationKind, ConversationStatus
from ..contract import PayloadError
from ..events import ConversationChanged, Event, Party
from ..payload import Payload

CLOSED = "CLOSE"

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

# When one id is listed under several roles, the lowest rank wins; any other word ranks below
# these, and no role at all below that.
ROLE_RANKS: Mapping[str, int] = {
    "CONSUMER": 0,
    "ASSIGNED_AGENT": 1,
    "MANAGER": 2,
    "AGENT": 3,
    "CONTROLLER": 4,
    "READER": 5,
}
OTHER_ROLE_RANK = len(ROLE_RANKS)
NO_ROLE_RANK = OTHER_ROLE_RANK + 1


def _present(source: Payload, keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: source.get(key).raw for key in keys if key in source}


def participant_entries(listed: Payload) -> list[Payload]:
    """Participants as ``{id, role, …}`` objects, listed so or given as ``{role: [ids]}``."""
    if isinstance(listed.raw, list):
        return [entry.mapping() for entry in listed.elements()]
    if not isinstance(listed.raw, Mapping):
        raise PayloadError(f"{listed.path} is neither a list nor a role map")
    return [
        Payload({"id": address.string(), "role": role}, address.path)
        for role, addresses in listed.items()
        for address in addresses.optional_elements()
    ]


def _rank(role: str) -> tuple[int, str]:
    # The role itself breaks ties, so the outcome does not depend on the listing order.
    if not role:
        return NO_ROLE_RANK, role
    return ROLE_RANKS.get(role, OTHER_ROLE_RANK), role


def _participants(details: Payload) -> tuple[Party, ...] | None:
    # None (not an empty tuple) when absent: an empty tuple would remove everyone.
    listed = details.get("participants")
    if listed.is_missing:
        return None
    roles: dict[str, str] = {}
    for entry in participant_entries(listed):
        address = entry["id"].string()
        role = entry.get("role").optional_string()
        if address not in roles or _rank(role) < _rank(roles[address]):
            roles[address] = role
    return tuple(Party(address, role=role) for address, role in roles.items())


def _dialog(dialog: Payload) -> dict[str, Any]:
    summary = _present(dialog, DIALOG_KEYS)
    listed = dialog.first("participantsDetails", "participants")
    if not listed.is_missing:
        summary["participants"] = [
            _present(entry, DIALOG_PARTICIPANT_KEYS) for entry in participant_entries(listed)
        ]
    return summary


def _dialogs(details: Payload) -> list[Payload]:
    return [dialog.mapping() for dialog in details.get("dialogs").optional_elements()]


def _state(result: Payload, details: Payload) -> dict[str, Any] | None:
    state = _present(details, STATE_KEYS)
    if "effectiveTTR" in result:
        state["effectiveTTR"] = result.get("effectiveTTR").raw
    if "dialogs" in details:
        state["dialogs"] = [_dialog(dialog) for dialog in _dialogs(details)]
    return state or None


def _aliases(details: Payload, conversation_id: str) -> tuple[str, ...]:
    """The conversation's other dialog ids (a post-survey dialog has its own), in order."""
    ids = (dialog.get("dialogId").optional_string() for dialog in _dialogs(details))
    return tuple(dict.fromkeys(id_ for id_ in ids if id_ and id_ != conversation_id))


def _upsert_status(details: Payload) -> ConversationStatus | None:
    # ``stage`` is the conversation's; ``state`` follows the MAIN dialog, which is closed while
    # a post-survey dialog keeps the conversation open.
    word = details.first("stage", "state").optional_string()
    if not word:
        return None
    return ConversationStatus.CLOSED if word == CLOSED else ConversationStatus.OPEN


def _delete_status(details: Payload) -> ConversationStatus | None:
    return ConversationStatus.DELETED


# change type -> how it sets the conversation's status; other change types are ignored.
STATUS_BY_CHANGE: Mapping[str, Callable[[Payload], ConversationStatus | None]] = {
    "UPSERT": _upsert_status,
    "DELETE": _delete_status,
}


def parse_change(change: Payload) -> list[Event]:
    """One ConversationChanged for an UPSERT or DELETE, ``[]`` for other change types.

    Raises PayloadError, naming the path, when the change has no type, ``result`` or
    ``convId``, or a field of the wrong shape.
    """
    status_of = STATUS_BY_CHANGE.get(change["type"].string())
    if status_of is None:
        return []
    result = change["result"].mapping()
    details = result.get("conversationDetails").optional_mapping()
    conversation_id = result["convId"].string()
    return [
        ConversationChanged(
            conversation_id=conversation_id,
            at=details.get("metaDataLastUpdateTs").optional_epoch_ms(),
            kind=ConversationKind.DIRECT,
            status=status_of(details),
            state=_state(result, details),
            participants=_participants(details),
            aliases=_aliases(details, conversation_id),
        )
    ]
