from .channels import Channel
from .conversations import Contact, Conversation, ConversationAlias, Participant, ReadState
from .events import InboundEvent, InboundRequest, Source
from .messages import STATUS_RANK, Attachment, Message, MessageStatus, MessageStatusEvent, Recipient
from .outbound import OutboundCommand
from .polls import PollCursor
from .uploads import Upload

__all__ = [
    "STATUS_RANK",
    "Attachment",
    "Channel",
    "Contact",
    "Conversation",
    "ConversationAlias",
    "InboundEvent",
    "InboundRequest",
    "Message",
    "MessageStatus",
    "MessageStatusEvent",
    "OutboundCommand",
    "Participant",
    "PollCursor",
    "ReadState",
    "Recipient",
    "Source",
    "Upload",
]
