"""Comapi / dotdigital App Messaging: raw websocket frames and server-side webhook envelopes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from inbox.choices import Platform

from ..contract import ChannelContext, Connector, Headers, Item
from ..events import Event
from . import auth, parse


class ComapiConnector:
    """The Comapi adapter: signatures in :mod:`.auth`, splitting and parsing in :mod:`.parse`."""

    platform = Platform.COMAPI

    def verify(
        self,
        *,
        headers: Headers,
        body: bytes,
        secrets: Sequence[str],
        settings: Mapping[str, Any],
    ) -> None:
        auth.verify(headers=headers, body=body, secrets=secrets)

    def sign(self, *, body: bytes, secret: str, settings: Mapping[str, Any]) -> dict[str, str]:
        return auth.sign(body=body, secret=secret)

    def split(self, *, document: Any) -> list[Item]:
        return parse.split(document)

    def parse(
        self,
        *,
        event_name: str,
        payload: Any,
        envelope: Mapping[str, Any],
        context: ChannelContext,
    ) -> list[Event]:
        # Nothing around a Comapi event is needed to read it: ``envelope`` is always empty.
        return parse.parse(event_name=event_name, payload=payload, context=context)


connector: Connector = ComapiConnector()
