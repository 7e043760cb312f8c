"""The HTTP plumbing every fake platform shares: a threaded server on 127.0.0.1 that hands each
request to its fake's ``_serve(handler)`` and tells it about connections opened and closed (so
``down()`` can cut them)."""

from __future__ import annotations

import contextlib
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], fake: Any) -> None:
        self.fake = fake
        super().__init__(address, Handler)


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
