"""enmeshed Connector: webhooks and polls of the Connector REST API (1.x and 5.x-7.x shapes).

The package is the platform's :class:`~inbox.connectors.contract.Connector`: signatures in
:mod:`.auth`, splitting documents and parsing items in :mod:`.documents`, settings and
capabilities in :mod:`.channel`, the REST client of the way out in :mod:`.client`.
"""

from inbox.choices import Platform

from .auth import sign, verify
from .channel import SETTINGS, capabilities, make_client
from .documents import parse, split

platform = Platform.ENMESHED

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
