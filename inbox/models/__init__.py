from .channels import Channel
from .conversations import Contact, Conversation, Participant, ReadState
from .events import InboundEvent
from .messages import STATUS_RANK, Attachment, Message, MessageStatus, MessageStatusEvent, Recipient

__all__ = [
    "STATUS_RANK",
    "Attachment",
    "Channel",
    "Contact",
    "Conversation",
    "InboundEvent",
    "Message",
    "MessageStatus",
    "MessageStatusEvent",
    "Participant",
    "ReadState",
    "Recipient",
]
