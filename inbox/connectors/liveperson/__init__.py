"""LivePerson Connector API webhooks: messaging events and conversation state changes."""

from __future__ import annotations

from ..base import Connector, Platform
from . import auth, parse

connector = Connector(
    platform=Platform.LIVEPERSON,
    verify=auth.verify,
    sign=auth.sign,
    split=parse.split,
    parse=parse.parse,
)
