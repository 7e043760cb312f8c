"""Workers racing on the same new conversation still produce one conversation."""

from __future__ import annotations

import copy
import json
import threading
import uuid

import pytest
from django.db import connection

from inbox.inbound import process_event
from inbox.models import Conversation, InboundEvent, Message, Participant
from tests.factories import ChannelFactory
from tests.helpers import fixture_json

WORKERS = 8


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_first_messages_make_one_conversation(post_webhook):
    channel = ChannelFactory(platform="scalar")
    template = fixture_json("scalar", "chat_message_sent")
    for n in range(WORKERS):
        batch = copy.deepcopy(template)
        data = batch["eventsData"][0]["eventData"]
        data["messageId"] = str(uuid.UUID(int=n + 1))
        data["content"] = f"message {n}"
        assert post_webhook(channel, json.dumps(batch).encode()).status_code == 202
    events = list(InboundEvent.objects.select_related("channel"))
    assert len(events) == WORKERS

    start = threading.Barrier(WORKERS)
    outcomes: list[str] = []

    def worker(event: InboundEvent) -> None:
        try:
            start.wait(timeout=10)
            outcomes.append(process_event(event))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(e,)) for e in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes == ["processed"] * WORKERS
    conversation = Conversation.objects.get()
    assert Message.objects.filter(conversation=conversation).count() == WORKERS
    assert Participant.objects.filter(conversation=conversation).count() == 2
    newest = Message.objects.order_by("-sent_at", "-sequence", "-external_id").first()
    assert conversation.last_message == newest
