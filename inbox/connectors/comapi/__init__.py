"""Comapi / dotdigital App Messaging: raw websocket frames and server-side webhook envelopes."""

from __future__ import annotations

from ..base import Connector, Platform
from . import auth, parse

connector = Connector(
    platform=Platform.COMAPI,
    verify=auth.verify,
    sign=auth.sign,
    split=parse.split,
    parse=parse.parse,
)
