"""LivePerson Connector API webhooks: messaging events and conversation state changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...choices import Platform
from ..contract import ChannelContext, Connector, Headers, Item
from ..events import Event
from . import auth, parse
from .ids import liveperson_message_id

__all__ = ["LivePersonConnector", "connector", "liveperson_message_id"]


class LivePersonConnector:
    """The LivePerson adapter; see :class:`~inbox.connectors.contract.Connector`."""

    platform = Platform.LIVEPERSON

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
        return parse.parse(event_name=event_name, payload=payload, envelope=envelope)


# Annotated with the Protocol so that mypy checks the class implements it.
connector: Connector = LivePersonConnector()
