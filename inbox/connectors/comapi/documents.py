"""Comapi socket frames and webhook envelopes -> stored items -> normalized events.

A webhook body is one envelope or an array of envelopes; a socket frame is always one. Each is
stored as it came, keyed by its platform ``eventId`` (so the socket copy and the webhook copy of
one event collapse into one row), and later parsed by the handler :data:`HANDLERS` names for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inbox.choices import ConversationStatus, Step

from ..contract import ChannelContext, Item, PayloadError
from ..events import Event, ProfileChanged
from ..payload import Payload, canonical_hash
from . import conversations, messages
from .frames import ROOT, Handler, body, event_time, first_of

INVALID = "invalid"  # the event name of an item that is not an event object or has no name


# --- split -----------------------------------------------------------------------------------


def split(*, document: Any) -> list[Item]:
    """One item per envelope: an object is one, a list (webhook batching) one per element.

    ``Item.payload`` is the envelope or frame exactly as sent and ``Item.envelope`` is empty:
    nothing around it is needed to parse it. An element that is not an event object is still
    returned (named ``invalid``) so it is stored and fails visibly at parse time. Raises
    PayloadError for a document that is neither an object nor a list.
    """
    if isinstance(document, Mapping):
        return [_item(document)]
    if isinstance(document, list):
        return [_item(element) for element in document]
    raise PayloadError(
        f"document is not an event object or a list of them (got {type(document).__name__})"
    )


def _item(element: Any) -> Item:
    event = Payload(element, ROOT)
    try:
        event_name = event.get("name").optional_string() or INVALID
    except PayloadError:  # not an object, or a name that is not a string
        event_name = INVALID
    return Item(dedup_key=dedup_key(element), event_name=event_name, payload=element, envelope={})


def dedup_key(element: Any) -> str:
    """The platform ``eventId`` as a string, else ``sha256:`` and the hash of the content.

    The content hash is the same for a redelivery in any key order, so frames without an id
    (the socket greeting) are still stored once. Long ids are kept whole: the way in clamps.
    """
    try:
        event_id = Payload(element, ROOT).get("eventId").optional_identifier()
    except PayloadError:  # not an object, or an id that is neither a string nor an integer
        event_id = ""
    return event_id or "sha256:" + canonical_hash(element)


# --- parse -----------------------------------------------------------------------------------


def parse(
    *, event_name: str, payload: Any, envelope: Mapping[str, Any], context: ChannelContext
) -> list[Event]:
    """Normalized events for one stored item; ``[]`` for names the inbox does not use.

    Raises PayloadError, naming the path, when ``payload`` is not an event object or lacks what
    its event needs.
    """
    event = Payload(payload, ROOT).mapping()
    event["name"].string()
    handler = HANDLERS.get(event_name)
    return handler(event, context) if handler else []


def _ignored(event: Payload, context: ChannelContext) -> list[Event]:
    return []


def _profile_updated(event: Payload, context: ChannelContext) -> list[Event]:
    """A display name change.

    The profile is the payload's ``id`` (else ``profileId``), else the frame's ``profileId``. An
    update with no profile or no name to show says nothing the inbox uses and is ignored.
    """
    payload = body(event)
    address = first_of(
        payload.get("id"), payload.get("profileId"), event.get("profileId")
    ).optional_identifier()
    full_name = (
        f"{payload.get('firstName').optional_string()} {payload.get('lastName').optional_string()}"
    )
    name = payload.get("name").optional_string() or full_name.strip()
    if not (address and name):
        return []
    return [ProfileChanged(address=address, name=name, at=event_time(event))]


HANDLERS: dict[str, Handler] = {
    # conversation.create only reaches webhooks; it carries the same fields as an update.
    "conversation.create": conversations.conversation_updated,
    "conversation.update": conversations.conversation_updated,
    "conversation.delete": conversations.conversation_status(ConversationStatus.DELETED),
    "conversation.undelete": conversations.conversation_status(ConversationStatus.OPEN),
    "conversation.participantAdded": conversations.participant(present=True),
    "conversation.participantRemoved": conversations.participant(present=False),
    "conversation.participantUpdated": conversations.participant(present=None),
    "conversation.participantTyping": conversations.typing(started=True),
    "conversation.participantTypingOff": conversations.typing(started=False),
    "conversationMessage.sent": messages.message_sent,
    "conversationMessage.delivered": messages.receipt(Step.DELIVERED),
    "conversationMessage.read": messages.receipt(Step.READ),
    "profile.update": _profile_updated,
    # Socket housekeeping: the greeting frame and our own keep-alive echoed back.
    "socket.info": _ignored,
    "echo": _ignored,
}
