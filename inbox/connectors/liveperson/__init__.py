"""LivePerson Connector API webhooks: messaging events and conversation state changes.

The package is the platform's :class:`~inbox.connectors.contract.Connector`: signatures in
:mod:`.auth`, splitting documents and parsing items in :mod:`.documents`.
"""

from inbox.choices import Platform

from .auth import sign, verify
from .documents import parse, split
from .ids import liveperson_message_id

platform = Platform.LIVEPERSON

__all__ = [
    "liveperson_message_id",
    "parse",
    "platform",
    "sign",
    "split",
    "verify",
]
