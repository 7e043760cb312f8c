"""What every fake platform shares: its life as a threaded HTTP server on 127.0.0.1
(:class:`FakeServer`: up and down on one port, open connections tracked so ``down()`` can cut
them), handing each request to the fake's ``_serve(handler)``."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], fake: Any, handler: type[BaseHTTPRequestHandler]
    ) -> None:
        self.fake = fake
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up mid-request (a timeout, down()) is no bug of the fake.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx pools connections
    server: Server

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._closed(self.connection)

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        return


def abort(connection: socket.socket) -> None:
    """Cut a connection without an answer (a dropped request, a server going down)."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, by Content-Length or chunked (httpx streams unknown lengths so)."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        pieces = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(pieces)
            pieces.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


class FakeServer:
    """The server side of a fake: use it as a context manager or call :meth:`start` /
    :meth:`stop`; :meth:`down` and :meth:`up` take it away and bring it back on the same port.
    Subclasses implement ``_serve(handler)``; ``handler_class`` may refine the handler."""

    handler_class: type[BaseHTTPRequestHandler] = Handler

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self.up()
        return self

    def stop(self) -> None:
        self.down()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def up(self) -> None:
        """Listen (again, on the same port after :meth:`down`)."""
        if self._server is not None:
            return
        self._server = Server(("127.0.0.1", self.port), self, self.handler_class)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        """Stop listening and cut open connections: clients get refused connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            abort(connection)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)
