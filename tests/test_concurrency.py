"""Workers racing on the same new conversation still produce one conversation: the one holding
its lock applies, the others hand their events back and take them again when it has committed."""

from __future__ import annotations

import copy
import json
import threading
import uuid

import pytest
from django.db import connection

from inbox.inbound import INBOUND_QUEUE, process_batch, process_due_events
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
    assert InboundEvent.objects.count() == WORKERS

    start = threading.Barrier(WORKERS)
    outcomes: list[dict[str, int]] = []

    def worker() -> None:
        try:
            start.wait(timeout=10)
            # Each claims one event (SKIP LOCKED: never the same), then drains what is left.
            claimed = InboundEvent.objects.filter(id__in=INBOUND_QUEUE.claim(size=1))
            done = process_batch(list(claimed))
            done += process_due_events()
            outcomes.append(dict(done))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(o.get("processed", 0) for o in outcomes) == WORKERS
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}
    conversation = Conversation.objects.get()
    assert Message.objects.filter(conversation=conversation).count() == WORKERS
    assert Participant.objects.filter(conversation=conversation).count() == 2
    newest = Message.objects.order_by("-sent_at", "-sequence", "-external_id").first()
    assert conversation.last_message == newest
