"""Which connector serves which platform.

Each platform package is a module implementing the :class:`~.contract.Connector` protocol;
listing it here under that type makes mypy check it against the protocol.
"""

from __future__ import annotations

from collections.abc import Mapping

from inbox.choices import Platform

from . import comapi, enmeshed, liveperson, scalar
from .contract import Connector

CONNECTORS: Mapping[str, Connector] = {
    Platform.ENMESHED: enmeshed,
    Platform.LIVEPERSON: liveperson,
    Platform.COMAPI: comapi,
    Platform.SCALAR: scalar,
}


def get_connector(platform: str) -> Connector:
    """The connector for ``platform``; raises ``LookupError`` for an unknown platform."""
    try:
        return CONNECTORS[platform]
    except KeyError:
        raise LookupError(platform) from None
