"""A worker process that dies (SIGKILL, as the OOM killer would) in the middle of an event.

Run by tests/test_pipeline.py with DATABASE_URL pointing at the test database: it claims due
events with the real pipeline and kills itself inside the first applier call.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from inbox.connectors.events import MessageUpserted  # noqa: E402
from inbox.inbound import process_due_events  # noqa: E402
from inbox.inbound.appliers import REGISTRY, Registration  # noqa: E402


def die(items: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


REGISTRY[MessageUpserted] = Registration(die, REGISTRY[MessageUpserted].locks)
process_due_events()
sys.exit("the worker should have died")
