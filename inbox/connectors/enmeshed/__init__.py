"""enmeshed Connector: webhooks and polls of the Connector REST API (1.x and 5.x-7.x shapes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from inbox.choices import Platform

from ..contract import ChannelContext, Connector, Headers, Item
from ..events import Event
from . import auth, parse


class EnmeshedConnector:
    """The :class:`~inbox.connectors.contract.Connector` for enmeshed Connectors."""

    platform = Platform.ENMESHED

    def verify(
        self,
        *,
        headers: Headers,
        body: bytes,
        secrets: Sequence[str],
        settings: Mapping[str, Any],
    ) -> None:
        auth.verify(headers=headers, body=body, secrets=secrets, settings=settings)

    def sign(self, *, body: bytes, secret: str, settings: Mapping[str, Any]) -> dict[str, str]:
        return auth.sign(body=body, secret=secret, settings=settings)

    def split(self, *, document: Any) -> list[Item]:
        return parse.split(document=document)

    def parse(
        self,
        *,
        event_name: str,
        payload: Any,
        envelope: Mapping[str, Any],
        context: ChannelContext,
    ) -> list[Event]:
        return parse.parse(
            event_name=event_name, payload=payload, envelope=envelope, context=context
        )


connector: Connector = EnmeshedConnector()
