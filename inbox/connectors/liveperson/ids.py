"""How LivePerson names things: dialogs, conversations, messages and event types.

LivePerson has no message id: a message is identified by its dialog and its sequence in that
dialog. A messaging change names its dialog (``dialogId``) and usually its conversation
(``conversationId``); the MAIN dialog's id equals the conversation's.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..contract import PayloadError
from ..payload import Payload

# The vendor's documentation spells the receipt event "AccpetStatusEvent" in places.
EVENT_ALIASES: Mapping[str, str] = {"AccpetStatusEvent": "AcceptStatusEvent"}


def liveperson_message_id(dialog_id: str, sequence: int) -> str:
    """The inbox's id of the message with ``sequence`` in ``dialog_id``: ``"<dialog>:<seq>"``."""
    return f"{dialog_id}:{sequence}"


def event_type(change: Payload) -> str:
    """``change.event.type`` with the documented misspelling corrected; raises PayloadError."""
    name = change["event"].mapping()["type"].string()
    return EVENT_ALIASES.get(name, name)


def dialog_id(change: Payload) -> str:
    """The dialog a messaging change belongs to (its conversation's id when it names none)."""
    return change.first("dialogId", "conversationId").string()


def conversation_id(change: Payload) -> str:
    """The conversation a messaging change belongs to, or its dialog's id when it names none."""
    return change.first("conversationId", "dialogId").string()


def sequence(value: Payload) -> int:
    """A dialog sequence: a non-negative 64-bit integer, sent as a number or as digits."""
    number = value.integer(digits=True)
    if number < 0:
        raise PayloadError(f"{value.path} is not a sequence number: {number}")
    return number
