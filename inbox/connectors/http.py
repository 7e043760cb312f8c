"""What every platform client's HTTP needs the same way (no ORM, no Django)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from types import TracebackType
from typing import Self

import httpx

from .outbound import BaseClient, PlatformError


@cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every client: loading the CA bundle takes tens of ms."""
    return httpx.create_ssl_context()


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def unreachable(exc: httpx.HTTPError, where: str, scrub: Callable[[str], str]) -> PlatformError:
    """The error for a call that got no answer from ``where`` (a timeout is worth retrying; a
    URL scheme httpx cannot speak, or a request it cannot form, fails the same again)."""
    if isinstance(exc, httpx.TimeoutException):
        return PlatformError(f"{where} did not answer in time", permanent=False)
    permanent = isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError)
    detail = scrub(str(exc)) or type(exc).__name__
    return PlatformError(f"cannot reach {where}: {detail}", permanent=permanent)


class HttpClient(BaseClient):
    """A client over one ``httpx.Client`` (``self._http``): closing it, also as a context
    manager, releases the pooled connections."""

    _http: httpx.Client

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
