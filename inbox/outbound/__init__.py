"""The one way out (DESIGN.md §5): commands recorded by the services, carried out by a worker
through the platform clients (:mod:`inbox.connectors.outbound`)."""

from .commands import OUTBOUND_QUEUE, record, register_handler
from .worker import carry_out, process_due_commands

__all__ = ["OUTBOUND_QUEUE", "carry_out", "process_due_commands", "record", "register_handler"]
