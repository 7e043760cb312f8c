"""ZF SCALAR messaging, received as Datahub Subscription ("DHS") webhook batches."""

from __future__ import annotations

from ..base import Connector, Platform
from . import auth, parse

connector = Connector(
    platform=Platform.SCALAR,
    verify=auth.verify,
    sign=auth.sign,
    split=parse.split,
    parse=parse.parse,
)
