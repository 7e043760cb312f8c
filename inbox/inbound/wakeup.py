"""Asking a worker to process what was stored — quickly, or not at all.

Acknowledging a platform never depends on the broker: events are stored before anyone is told,
and the periodic sweeper processes whatever nobody was told about. So the request path makes one
short attempt on a connection it keeps (no set-up per request, no retries), and after a failure
stays quiet for a while instead of paying the timeout on every request while the broker is down.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

_local = threading.local()
_quiet_until = 0.0


def wake_workers() -> bool:
    """Queue one processing task; returns False (and logs) when the broker cannot take it."""
    global _quiet_until
    if time.monotonic() < _quiet_until:
        return False
    from inbox.tasks import process_inbound_events

    try:
        process_inbound_events.apply_async(retry=False, connection=_connection())
    except Exception:  # the broker is unreachable; stored events are safe
        _reset()
        _quiet_until = time.monotonic() + settings.INBOUND_WAKEUP_BACKOFF_SECONDS
        logger.warning(
            "could not queue processing; the sweeper will pick the events up", exc_info=True
        )
        return False
    return True


def _connection() -> Any:
    connection = getattr(_local, "connection", None)
    if connection is None:
        from config.celery import app

        options = dict(app.conf.broker_transport_options or {})
        # One connection attempt, bounded by a short timeout: never a retry loop in a request.
        options.update(max_retries=0, socket_connect_timeout=0.5, socket_timeout=1)
        connection = app.connection_for_write(transport_options=options)
        connection.connect_timeout = 0.5
        _local.connection = connection
    return connection


def _reset() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        try:
            connection.release()
        except Exception:  # closing a broken connection may fail the same way
            logger.debug("closing the broker connection failed", exc_info=True)


def reset_backoff() -> None:
    """Forget a past failure (the next wake-up tries the broker again)."""
    global _quiet_until
    _quiet_until = 0.0
    _reset()
