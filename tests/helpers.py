"""Small helpers shared by the tests."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(platform: str, name: str) -> bytes:
    """The raw bytes of ``tests/fixtures/<platform>/<name>`` (``.json`` may be omitted)."""
    if not name.endswith(".json"):
        name += ".json"
    return (FIXTURES / platform / name).read_bytes()


def fixture_json(platform: str, name: str) -> Any:
    return json.loads(fixture_bytes(platform, name))


def parse_document(
    platform: str, document: Any, settings: Mapping[str, Any] | None = None
) -> list[Any]:
    """Split ``document`` with the platform's connector and parse every item, in order."""
    from inbox.connectors.contract import ChannelContext
    from inbox.connectors.registry import get_connector

    connector = get_connector(platform)
    context = ChannelContext(platform=platform, settings=dict(settings or {}))
    events: list[Any] = []
    for item in connector.split(document=document):
        events.extend(
            connector.parse(
                event_name=item.event_name,
                payload=item.payload,
                envelope=item.envelope,
                context=context,
            )
        )
    return events


def fleet_and_mailbox(
    member: Any,
    post_webhook: Any,
    process: Any,
    *,
    scalar: Sequence[str | bytes] = (),
    enmeshed: Sequence[str | bytes] = (),
) -> tuple[Any, Any]:
    """A SCALAR channel "Fleet" ``member`` is a member of and an enmeshed "Mailbox" they are
    not, each sent the deliveries named (fixture names, or bodies) and processed."""
    from tests.factories import ChannelFactory

    fleet = ChannelFactory(platform="scalar", name="Fleet")
    fleet.members.add(member)
    mailbox = ChannelFactory(
        platform="enmeshed",
        name="Mailbox",
        settings={"address": "did:e:demo.example:dids:ourinsurer0000000001"},
    )
    for channel, deliveries in ((fleet, scalar), (mailbox, enmeshed)):
        for item in deliveries:
            body = fixture_bytes(channel.platform, item) if isinstance(item, str) else item
            assert post_webhook(channel, body).status_code == 202
    process()
    return fleet, mailbox


def scalar_group_messages(
    *texts: str,
    start: datetime,
    conversation: str | None = None,
    sender: Mapping[str, str] | None = None,
) -> bytes:
    """One SCALAR webhook of ``message.sent`` events with these texts, a minute apart from
    ``start``: all in the group chat ``conversation`` or each in a new one (``sender``
    replaces the fixture's sender)."""
    template = fixture_json("scalar", "chat_message_sent")
    item = template["eventsData"][0]
    template["eventsData"] = []
    for minute, text in enumerate(texts):
        event = copy.deepcopy(item)
        data = event["eventData"]
        at = (start + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
        group = conversation or str(uuid.uuid4())
        data.update(
            messageId=str(uuid.uuid4()),
            conversationType="groupchat",
            conversationId=group,
            recipientId=group,
            content=text,
            registeredOn=at,
        )
        if sender is not None:
            data["sender"] = dict(sender)
        data["statusHistory"] = {
            "currentStatus": "Pending",
            "lastUpdatedAt": at,
            "events": [{"status": "Pending", "timestamp": at}],
        }
        template["eventsData"].append(event)
    return json.dumps(template).encode()
