"""Where the way out points a platform call: a conversation as the clients' :class:`Target`."""

from __future__ import annotations

from inbox.connectors.outbound import Target
from inbox.models import Conversation

from .channels import own_addresses


def recipients_of(conversation: Conversation) -> list[str]:
    """The addresses a reply goes to: the conversation's present participants but ourselves."""
    return list(target_of(conversation).recipients)


def target_of(conversation: Conversation) -> Target:
    """The conversation as its platform knows it: its id, whom a message goes to and who is in
    it with which role (a LivePerson client speaks for the consumer among them)."""
    present = sorted(
        conversation.participants.filter(is_present=True).values_list("address", "role")
    )
    own = own_addresses(conversation.channel)
    return Target(
        conversation_id=conversation.external_id,
        recipients=[address for address, _ in present if address not in own],
        participants=present,
    )
