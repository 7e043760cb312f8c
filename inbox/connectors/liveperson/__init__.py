"""LivePerson Connector API webhooks: messaging events and conversation state changes.

The package is the platform's :class:`~inbox.connectors.contract.Connector`: signatures in
:mod:`.auth`, splitting documents and parsing items in :mod:`.documents`, settings and
capabilities in :mod:`.channel`.
"""

from inbox.choices import Platform

from .auth import sign, verify
from .channel import SETTINGS, capabilities, make_client
from .documents import parse, split
from .ids import liveperson_message_id

platform = Platform.LIVEPERSON

__all__ = [
    "SETTINGS",
    "capabilities",
    "liveperson_message_id",
    "make_client",
    "parse",
    "platform",
    "sign",
    "split",
    "verify",
]
