"""The one way in: store requests whole, split them into events, claim, parse, apply, replay.

Every source (webhook, websocket listener, poller) calls :func:`store_request`; workers call
:func:`process_due_events`. Appliers (services) are registered per normalized event type in
``AppConfig.ready()`` (:mod:`.appliers`), so apps such as ``relationships`` plug in without the
core importing them.
"""

from .processing import INBOUND_QUEUE, process_batch, process_due_events, process_event
from .pruning import prune_inbound
from .replay import replay_events, replay_requests
from .storing import Stored, store_document, store_request

__all__ = [
    "INBOUND_QUEUE",
    "Stored",
    "process_batch",
    "process_due_events",
    "process_event",
    "prune_inbound",
    "replay_events",
    "replay_requests",
    "store_document",
    "store_request",
]
