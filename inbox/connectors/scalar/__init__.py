"""ZF SCALAR messaging, received as Datahub Subscription ("DHS") webhook batches.

The package is the platform's :class:`~inbox.connectors.contract.Connector`: signatures in
:mod:`.auth`, splitting documents and parsing items in :mod:`.documents`, settings and
capabilities in :mod:`.channel`.
"""

from inbox.choices import Platform

from .auth import sign, verify
from .channel import SETTINGS, capabilities, make_client
from .documents import parse, split

platform = Platform.SCALAR

__all__ = [
    "SETTINGS",
    "capabilities",
    "make_client",
    "parse",
    "platform",
    "sign",
    "split",
    "verify",
]
