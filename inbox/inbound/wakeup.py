"""Asking a worker to process what was stored — off the request path, and never twice at once.

Acknowledging a platform never depends on the broker: events are stored before anyone is told,
and the periodic sweeper processes whatever nobody was told about. So a request only *asks* for
a wake-up (:func:`wake_workers`, a flag); a thread of the process publishes one processing task
for every request that asked since its last one. Every stored event is followed by a publish
(the flag is raised after the commit), the request pays nothing for it, and a burst of
deliveries costs one task per moment, not one per delivery.

A publish is one short attempt on a connection the thread keeps (no set-up per publish, no
retries); after a failure the thread stays quiet for ``INBOUND_WAKEUP_BACKOFF_SECONDS`` instead
of paying the timeout again and again while the broker is down.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

# After a publish, wake-ups asked for within this long are served by the next one.
COALESCE_SECONDS = 0.02


class Waker:
    """Publishes the Celery task named ``task`` for the wake-ups asked of it."""

    def __init__(self, task: str) -> None:
        self.task = task
        self._wanted = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._producer: Any = None
        self._connection: Any = None
        self._quiet_until = 0.0
        self.published = 0

    def request(self) -> None:
        """Ask for a processing task to be published soon (returns at once)."""
        self._started()
        self._idle.clear()
        self._wanted.set()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every wake-up asked for so far was attempted; False on timeout."""
        return self._idle.wait(timeout)

    def reset(self) -> None:
        """Forget a past broker failure and the kept connection (the next attempt reconnects)."""
        self._quiet_until = 0.0
        self._close()

    def _started(self) -> None:
        # A forked process (a gunicorn or Celery worker) inherits no running thread.
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._producer = self._connection = None
                self._thread = threading.Thread(target=self._run, name="wake-workers", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                self._publish()
            except Exception:  # never let the thread die: stored events are safe anyway
                logger.exception("waking the workers failed")
            if not self._wanted.is_set():
                self._idle.set()
            time.sleep(COALESCE_SECONDS)

    def _publish(self) -> None:
        if time.monotonic() < self._quiet_until:
            return
        from config.celery import app

        try:
            app.send_task(self.task, retry=False, producer=self._kept_producer())
            self.published += 1
        except Exception:  # the broker is unreachable; stored events are safe
            self._close()
            self._quiet_until = time.monotonic() + settings.INBOUND_WAKEUP_BACKOFF_SECONDS
            logger.warning(
                "could not queue processing; the sweeper will pick the events up", exc_info=True
            )

    def _kept_producer(self) -> Any:
        if self._producer is None:
            from config.celery import app

            options = dict(app.conf.broker_transport_options or {})
            # One connection attempt, bounded by a short timeout: never a retry loop.
            options.update(max_retries=0, socket_connect_timeout=0.5, socket_timeout=1)
            self._connection = app.connection_for_write(transport_options=options)
            self._connection.connect_timeout = 0.5
            self._producer = app.amqp.Producer(self._connection.default_channel)
        return self._producer

    def _close(self) -> None:
        connection, self._producer, self._connection = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # closing a broken connection may fail the same way
                logger.debug("closing the broker connection failed", exc_info=True)


WAKER = Waker("inbox.tasks.process_inbound_events")
OUTBOUND_WAKER = Waker("inbox.tasks.process_outbound_commands")


def wake_workers() -> None:
    """Ask for a processing task (after a commit that stored new events)."""
    WAKER.request()


def wake_outbound() -> None:
    """Ask for the outbound worker (after a commit that recorded a command)."""
    OUTBOUND_WAKER.request()
