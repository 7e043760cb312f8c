"""Comapi's websocket: one channel's live feed of raw frames, kept connected.

:func:`listen` opens ``{ws_url}/apispaces/{id}/socket?token=<session token>``, hands every JSON
object frame to ``on_frame`` as it came (the greeting ``socket.info`` and names nobody knows
included: the way in stores them and the parser ignores what it does not use), sends Comapi's
``echo`` keep-alive, and reconnects with jittered exponential backoff whenever the connection
drops. After each (re)connect it calls ``on_connect``, where the caller fills the gap the socket
could not see (the events endpoint, :meth:`ComapiClient.poll`).

No ORM here: the callbacks are the caller's. The token travels in the URL's query, so only the
URL without its query is ever logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from ..outbound import CONNECT_TIMEOUT, ClientConfig, PlatformError
from .client import DEFAULT_WS_URL, iso, session_token

logger = logging.getLogger(__name__)

FrameHandler = Callable[[dict[str, Any]], Awaitable[None]]
ConnectHandler = Callable[[], Awaitable[None]]

# Comapi frames carry whole messages (inline parts included): more room than websockets' 1 MiB.
MAX_FRAME = 16 * 1024 * 1024
# Seconds given to a closing handshake before the connection is simply dropped.
CLOSE_TIMEOUT = 2.0
_TOKEN = re.compile(r"token=[^\s&'\"]+")


class _NoToken(logging.Filter):
    """websockets logs the request line at debug level: the token in its query is masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message:
            record.msg, record.args = _TOKEN.sub("token=***", message), None
        return True


_protocol_logger = logging.getLogger(f"{__name__}.protocol")
_protocol_logger.addFilter(_NoToken())


async def listen(
    config: ClientConfig,
    *,
    on_frame: FrameHandler,
    on_connect: ConnectHandler,
    stop: asyncio.Event,
    keepalive: float = 60,
    max_backoff: float = 30,
    base_backoff: float = 1,
    open_timeout: float = 2 * CONNECT_TIMEOUT,
) -> None:
    """Listen to the API space of ``config`` until ``stop`` is set; returns promptly then.

    Never raises for the platform or the network: every failure is logged and retried after a
    wait of between half and all of ``base_backoff * 2**(n-1)`` seconds (n failures in a row,
    capped at ``max_backoff``); a connection that lived ``max_backoff`` seconds or more resets
    n. A handshake refused with 401/403 renews the session token first. ``on_frame`` failing
    drops the connection (so the reconnect's gap fill picks up what was lost); ``on_connect``
    failing is logged and the connection kept. Raises PlatformError only for a channel that
    cannot be listened to at all (no API space).
    """
    where = _socket_url(config)
    failures = 0
    renew = False
    pending: set[asyncio.Task[None]] = set()
    connected = asyncio.Event()  # set while a connection is open (it closes itself on stop)
    stopping = asyncio.create_task(stop.wait())
    # Session calls run in a thread of our own: asyncio.run waits for its default executor's
    # threads at the end, and a stop should not wait for an HTTP call to time out.
    sessions = ThreadPoolExecutor(max_workers=1, thread_name_prefix="comapi-session")
    attempt: asyncio.Task[tuple[float, bool]] | None = None
    try:
        while not stop.is_set():
            # The session call and the handshake may take a while: a stop does not wait.
            attempt = asyncio.create_task(
                _attempt(
                    config,
                    where,
                    sessions=sessions,
                    renew=renew,
                    on_frame=on_frame,
                    on_connect=on_connect,
                    stop=stop,
                    keepalive=keepalive,
                    pending=pending,
                    open_timeout=open_timeout,
                    connected=connected,
                )
            )
            await asyncio.wait({attempt, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not attempt.done():
                # Open: it sees the stop and closes with a handshake (bounded by its timeout).
                # Still asking for a session or shaking hands: nothing to close yet.
                if not connected.is_set():
                    attempt.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await attempt
                return
            lived, renew = attempt.result()
            if stop.is_set():
                return
            failures = 1 if lived >= max_backoff else failures + 1
            delay = _backoff(failures, base=base_backoff, cap=max_backoff)
            logger.info("comapi socket %s: retry in %.1f s", where, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(stopping), timeout=delay)
    finally:
        stopping.cancel()
        if attempt is not None and not attempt.done():  # listen itself was cancelled
            attempt.cancel()
        sessions.shutdown(wait=False, cancel_futures=True)
        # A gap fill still running in its thread finishes there; nobody waits for it here.
        for task in pending:
            task.cancel()
        logger.info("comapi socket %s: stopped", where)


async def _attempt(
    config: ClientConfig,
    where: str,
    *,
    sessions: ThreadPoolExecutor,
    renew: bool,
    on_frame: FrameHandler,
    on_connect: ConnectHandler,
    stop: asyncio.Event,
    keepalive: float,
    pending: set[asyncio.Task[None]],
    open_timeout: float,
    connected: asyncio.Event,
) -> tuple[float, bool]:
    """One session and connection: how long it lived, and whether to renew the token next."""
    try:
        token = await asyncio.get_running_loop().run_in_executor(
            sessions, functools.partial(session_token, config, renew=renew)
        )
    except PlatformError as exc:
        logger.warning("comapi socket %s: no session: %s", where, exc)
        return 0.0, False
    try:
        lived = await _connected(
            f"{where}?token={quote(token, safe='')}",
            where,
            on_frame=on_frame,
            on_connect=on_connect,
            stop=stop,
            keepalive=keepalive,
            pending=pending,
            open_timeout=open_timeout,
            connected=connected,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        refused = status in (401, 403)
        logger.warning(
            "comapi socket %s: handshake refused (HTTP %s)%s",
            where,
            status,
            ", renewing the session" if refused else "",
        )
        return 0.0, refused
    except (OSError, TimeoutError, WebSocketException) as exc:
        logger.warning("comapi socket %s: cannot connect: %s", where, _why(exc))
        return 0.0, False
    return lived, False


async def _connected(
    url: str,
    where: str,
    *,
    on_frame: FrameHandler,
    on_connect: ConnectHandler,
    stop: asyncio.Event,
    keepalive: float,
    pending: set[asyncio.Task[None]],
    open_timeout: float,
    connected: asyncio.Event,
) -> float:
    """One connection, from handshake to drop (or stop); returns how long it lived."""
    loop = asyncio.get_running_loop()
    try:
        async with connect(
            url,
            open_timeout=open_timeout,
            close_timeout=CLOSE_TIMEOUT,
            max_size=MAX_FRAME,
            logger=_protocol_logger,
        ) as connection:
            connected.set()
            opened = loop.time()
            logger.info("comapi socket %s: connected", where)
            # The gap fill runs beside the frames, not before them: nothing waits behind it.
            task = asyncio.create_task(_guarded_connect(on_connect, where))
            pending.add(task)
            task.add_done_callback(pending.discard)
            receiving = asyncio.create_task(_receive(connection, on_frame, where))
            beating = asyncio.create_task(_keep_alive(connection, keepalive))
            stopping = asyncio.create_task(stop.wait())
            tasks = {receiving, beating, stopping}
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for other in tasks:
                    other.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            lived = loop.time() - opened
            if stopping not in done:
                failed = next((t.exception() for t in done if not t.cancelled()), None)
                reason = _why(failed) if failed is not None else "closed by Comapi"
                logger.warning("comapi socket %s: dropped after %.1f s: %s", where, lived, reason)
    finally:
        connected.clear()  # only once closed: a stop meanwhile waits for the close handshake
    return lived


async def _receive(connection: ClientConnection, on_frame: FrameHandler, where: str) -> None:
    async for message in connection:
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        try:
            frame = json.loads(text)
        except ValueError:
            logger.warning("comapi socket %s: skipped a frame that is not JSON", where)
            continue
        if not isinstance(frame, dict):
            logger.warning("comapi socket %s: skipped a frame that is not an object", where)
            continue
        try:
            await on_frame(frame)
        except Exception:
            # Dropping the connection makes the reconnect fill the gap this frame left.
            logger.exception("comapi socket %s: a frame could not be kept; reconnecting", where)
            raise


async def _keep_alive(connection: ClientConnection, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        echo = {"name": "echo", "payload": {}, "publishedOn": iso(datetime.now(UTC))}
        await connection.send(json.dumps(echo))


async def _guarded_connect(on_connect: ConnectHandler, where: str) -> None:
    try:
        await on_connect()
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("comapi socket %s: the after-connect gap fill failed", where)


def _socket_url(config: ClientConfig) -> str:
    """``{ws_url}/apispaces/{id}/socket``, without the token's query."""
    space = config.settings.get("api_space_id")
    if not isinstance(space, str) or not space.strip():
        raise PlatformError("the channel has no Comapi API space id", permanent=True)
    base = config.settings.get("ws_url") or DEFAULT_WS_URL
    if not isinstance(base, str) or not base.startswith(("ws://", "wss://")):
        raise PlatformError(f"the Comapi ws_url {base!r:.60} is not a ws(s) URL", permanent=True)
    return f"{base.rstrip('/')}/apispaces/{quote(space.strip(), safe='')}/socket"


def _backoff(failures: int, *, base: float, cap: float) -> float:
    """Between half and all of the capped exponential step ("equal jitter"): spread out, and
    never an immediate retry storm."""
    step: float = min(cap, base * float(2 ** min(failures - 1, 30)))
    return step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not a secret


def _why(exc: BaseException) -> str:
    """A failure in a few words, without anything a URL with its query could put there."""
    text = str(exc).split("?token=", 1)[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
