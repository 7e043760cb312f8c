"""enmeshed Connector: webhooks and polls of the Connector REST API (1.x and 5.x-7.x shapes)."""

from __future__ import annotations

from ..base import Connector, Platform
from . import auth, parse

connector = Connector(
    platform=Platform.ENMESHED,
    verify=auth.verify,
    sign=auth.sign,
    split=parse.split,
    parse=parse.parse,
)
