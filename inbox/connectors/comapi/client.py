"""Comapi's REST API (dotdigital App Messaging): the way out, and the gap fill under the socket.

Every call names the API space (``{base_url}/apispaces/{api_space_id}/…``) and carries a
*session token*: ``GET sessions/start`` hands out a nonce and an ``authenticationId``, we sign
an HS256 JWT holding that nonce with the space's shared secret (``sub`` = our profile id, plus
the issuer and audience the space is configured with), and ``POST sessions`` trades it for
``{token, session{id, expiresOn, …}}``. Tokens are kept per process (:func:`session_token`
also serves the websocket listener) and renewed shortly before they expire or when a call is
answered 401.

What the client fetches for the inbox is shaped as documents that
:func:`inbox.connectors.comapi.split` accepts: the gap fill (:meth:`ComapiClient.poll`) answers
the frames of ``GET …/events``, which have the socket's shape and its ``eventId``, so a frame
seen by the socket and by the gap fill is one stored event.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, NoReturn
from urllib.parse import quote, unquote

import httpx
import jwt

from ..contract import PayloadError
from ..http import HttpClient, retry_after, tls_context, unreachable
from ..outbound import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    ClientConfig,
    Downloaded,
    OutgoingFile,
    PlatformError,
    Polled,
    Sent,
    Target,
    Uploaded,
)
from ..timestamps import parse_iso

DEFAULT_BASE_URL = "https://api.comapi.com"
DEFAULT_WS_URL = "wss://api.comapi.com"
TEXT = "text/plain"
JSON = "application/json"

# A session is renewed this long before Comapi says it expires (clocks differ, calls take time).
RENEW_BEFORE = timedelta(seconds=60)
# A session whose answer names no expiry is trusted this long.
UNDATED_SESSION = timedelta(minutes=5)
# Our JWT only has to live through the session request that follows it.
JWT_LIFETIME = timedelta(minutes=5)
# Gap fill: events asked per page, and pages per conversation and poll (a longer backlog
# continues at the next poll, from where this one stopped).
EVENTS_PAGE = 100
EVENTS_PAGES = 20
# find_sent: messages per page and pages looked at, newest first.
MESSAGES_PAGE = 100
MESSAGES_PAGES = 5
# Receipts: message ids per status update.
RECEIPT_BATCH = 100
# Conversations answering 404 to the gap fill, remembered in the cursor (newest last) so a
# cursor hint does not put them back: enough for any realistic churn, bounded all the same.
GONE_KEPT = 500
CHUNK_SIZE = 64 * 1024

SESSION_REFUSED = "Comapi refused the session (check jwt_secret, jwt_issuer, jwt_audience)"

# The device our sessions are opened for: Comapi keeps one session per device, so a fixed id
# per API space and profile reuses it instead of piling up new devices.
_DEVICE_NAMESPACE = uuid.UUID("5f0c2b8e-7d14-4a43-9b6e-2c1e0a9d7f31")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --- the per-process session cache ------------------------------------------------------------


@dataclass(frozen=True)
class _Session:
    token: str
    renew_at: float  # time.time() after which the token is renewed first


# Keyed by the API (base URL, API space), our profile and a digest of the JWT settings: two
# channels of one space and profile share a session only if they would sign the same JWTs.
_SessionKey = tuple[str, str, str, str]
_SESSIONS: dict[_SessionKey, _Session] = {}
_SESSIONS_LOCK = threading.Lock()
# One session request at a time per key: threads asking together share the new session.
_OPENING: dict[_SessionKey, threading.Lock] = {}


def clear_sessions() -> None:
    """Forget every cached session token (for tests)."""
    with _SESSIONS_LOCK:
        _SESSIONS.clear()


def session_token(
    config: ClientConfig, *, renew: bool = False, timeout: httpx.Timeout | None = None
) -> str:
    """A session token for the channel of ``config``: the cached one, or a new session.

    ``renew`` drops the cached token first (the websocket handshake was refused with it).
    Raises PlatformError like any call (permanent :data:`SESSION_REFUSED` for refused
    credentials). The token is a credential: never log it.
    """
    with ComapiClient(config, timeout=timeout) as client:
        if renew:
            client.forget_session()
        return client.session_token()


# --- the client ---------------------------------------------------------------------------------


class ComapiClient(HttpClient):
    """One channel's API space: implements :class:`inbox.connectors.outbound.Client`.

    Settings: ``base_url`` (default ``https://api.comapi.com``), ``api_space_id``,
    ``profile_id`` (our identity), ``jwt_issuer``, ``jwt_audience``. Credentials:
    ``jwt_secret``. ``timeout`` and ``transport`` exist for tests.
    """

    platform = "comapi"

    def __init__(
        self,
        config: ClientConfig,
        *,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings = config.settings
        base_url = settings.get("base_url") or DEFAULT_BASE_URL
        if not isinstance(base_url, str) or not base_url.strip():
            raise PlatformError("the Comapi base_url is not text", permanent=True)
        self._space = _required(settings, "api_space_id", "API space id")
        self._profile = _required(settings, "profile_id", "profile id")
        self._issuer = _required(settings, "jwt_issuer", "JWT issuer")
        self._audience = _required(settings, "jwt_audience", "JWT audience")
        secret = config.credentials.get("jwt_secret", "")
        if not secret:
            raise PlatformError("the channel has no Comapi jwt_secret", permanent=True)
        self._secret = secret
        self._base = base_url.strip().rstrip("/")
        self._prefix = "/apispaces/" + _segment(self._space, "API space id")
        signing = "\n".join((self._issuer, self._audience, secret)).encode()
        self._key = (self._base, self._space, self._profile, hashlib.sha256(signing).hexdigest())
        self._token = ""  # the last token this instance used, scrubbed from error texts
        # Uploaded files by url -> (media type, size, name): what a send puts beside the url.
        self._uploads: dict[str, tuple[str, int | None, str]] = {}
        try:
            self._http = httpx.Client(
                base_url=self._base,
                headers={"Accept": JSON},
                timeout=timeout or httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
                transport=transport,
                verify=tls_context(),
            )
        except (httpx.InvalidURL, ValueError) as exc:
            raise PlatformError(f"the Comapi base_url is invalid: {exc}", permanent=True) from None
        self._host = _origin(self._http.base_url)

    # --- lifecycle -------------------------------------------------------------------------------

    # --- sessions --------------------------------------------------------------------------------

    def session_token(self) -> str:
        """The cached session token, or a new session's when there is none or it expires soon."""
        cached = self._cached()
        if cached:
            return cached
        with _SESSIONS_LOCK:
            opening = _OPENING.setdefault(self._key, threading.Lock())
        with opening:
            cached = self._cached()  # another thread may have opened one meanwhile
            if cached:
                return cached
            session = self._open_session()
            with _SESSIONS_LOCK:
                _SESSIONS[self._key] = session
            self._token = session.token
            return session.token

    def forget_session(self, token: str | None = None) -> None:
        """Drop the cached token (only if it is still ``token``, when given: another thread may
        have renewed it already)."""
        with _SESSIONS_LOCK:
            cached = _SESSIONS.get(self._key)
            if cached is not None and (token is None or cached.token == token):
                del _SESSIONS[self._key]

    def _cached(self) -> str:
        with _SESSIONS_LOCK:
            cached = _SESSIONS.get(self._key)
        if cached is not None and time.time() < cached.renew_at:
            self._token = cached.token
            return cached.token
        return ""

    def _open_session(self) -> _Session:
        start = _mapping(
            self._json(self._session_call("GET", self._prefix + "/sessions/start")), "session start"
        )
        nonce = _string(start, "nonce", "session start")
        authentication_id = _string(start, "authenticationId", "session start")
        now = datetime.now(UTC)
        claims = {
            "nonce": nonce,
            "sub": self._profile,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": int(now.timestamp()),
            "exp": int((now + JWT_LIFETIME).timestamp()),
        }
        signed = jwt.encode(claims, self._secret, algorithm="HS256", headers={"typ": "JWT"})
        body = {
            "authenticationId": authentication_id,
            "authenticationToken": signed,
            "deviceId": str(uuid.uuid5(_DEVICE_NAMESPACE, f"{self._space}/{self._profile}")),
            "platform": "javascript",
            "platformVersion": "switchboard",
            "sdkType": "native",
            "sdkVersion": "1.0",
        }
        answer = _mapping(
            self._json(self._session_call("POST", self._prefix + "/sessions", json=body)),
            "session",
        )
        token = _string(answer, "token", "session")
        session = answer.get("session")
        expires = None
        if isinstance(session, Mapping):
            try:
                expires = parse_iso(session.get("expiresOn"))
            except PayloadError:
                expires = None
        if expires is None:
            expires = now + UNDATED_SESSION
        # A session shorter than the renewal margin is still used once rather than never.
        renew_at = max((expires - RENEW_BEFORE).timestamp(), now.timestamp() + 1)
        return _Session(token=token, renew_at=renew_at)

    def _session_call(self, method: str, path: str, *, json: Any = None) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            self._unreachable(exc)
        if response.status_code in (401, 403):
            raise PlatformError(
                SESSION_REFUSED,
                permanent=True,
                code="session_refused",
                status=response.status_code,
                credentials=True,
            )
        if response.status_code >= 300:
            self._fail(response)
        return response

    # --- the Client protocol ---------------------------------------------------------------------

    def upload(self, *, file: OutgoingFile, target: Target | None = None) -> Uploaded:
        media_type = file.content_type or "application/octet-stream"
        start = _position(file.stream)

        def parts() -> dict[str, Any]:
            # httpx reads the stream in chunks while sending, never whole.
            if start is not None:
                file.stream.seek(start)
            return {"file": (file.name or "file", file.stream, media_type)}

        response = self._call(
            "POST", self._prefix + "/content", files=parts, retry_refused=start is not None
        )
        answer = _mapping(self._json(response), "upload answer")
        url = _string(answer, "url", "upload answer")
        size = answer.get("size")
        self._uploads[url] = (
            _text(answer.get("type")) or media_type,
            size if isinstance(size, int) and not isinstance(size, bool) else file.size,
            _text(answer.get("name")) or file.name,
        )
        # The parse side keys an attachment of a part with a url by that url: so is this one.
        return Uploaded(platform_id=url, document=answer)

    def send(
        self,
        *,
        target: Target,
        text: str,
        subject: str = "",
        attachments: Sequence[str] = (),
        files: Sequence[OutgoingFile] = (),
    ) -> Sent:
        conversation = _conversation(target)
        parts: list[dict[str, Any]] = []
        if text:
            parts.append({"type": TEXT, "data": text})
        parts.extend(self._file_part(url) for url in attachments)
        if not parts:
            raise PlatformError("a Comapi message needs a text or a file", permanent=True)
        path = f"{self._prefix}/conversations/{conversation}/messages"
        answer = _mapping(self._json(self._call("POST", path, json={"parts": parts})), "answer")
        event_id = answer.get("eventId")
        return Sent(
            platform_id=_string(answer, "id", "send answer"),
            sequence=event_id
            if isinstance(event_id, int) and not isinstance(event_id, bool)
            else None,
        )

    def find_sent(
        self,
        *,
        target: Target,
        text: str,
        subject: str,
        since: datetime,
        attachments: Sequence[str] = (),
    ) -> Sent | None:
        conversation = _conversation(target)
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        wanted_urls = sorted(attachments)
        path = f"{self._prefix}/conversations/{conversation}/messages"
        newest_first: int | None = None
        for _ in range(MESSAGES_PAGES):
            params: dict[str, Any] = {"limit": MESSAGES_PAGE}
            if newest_first is not None:
                params["from"] = newest_first
            page = _mapping(self._json(self._call("GET", path, params=params)), "message page")
            messages = [m for m in _list(page.get("messages")) if isinstance(m, Mapping)]
            older = False
            for message in messages:
                context = message.get("context")
                context = context if isinstance(context, Mapping) else {}
                sent_on = _time_or_none(context.get("sentOn"))
                if sent_on is not None and sent_on < since:
                    older = True
                    continue
                message_text, urls = _read_parts(message.get("parts"))
                if (
                    _sender(context) == self._profile
                    and message_text == text
                    and sorted(urls) == wanted_urls
                    and isinstance(message.get("id"), str)
                ):
                    event_id = message.get("sentEventId")
                    return Sent(
                        platform_id=str(message["id"]),
                        sequence=event_id if isinstance(event_id, int) else None,
                        sent_at=sent_on,
                    )
            earliest = page.get("earliestEventId")
            if older or len(messages) < MESSAGES_PAGE or not isinstance(earliest, int):
                return None
            if earliest <= 0:
                return None
            newest_first = earliest - 1
        return None

    def mark_read(self, *, target: Target, messages: Sequence[str]) -> None:
        ids = list(dict.fromkeys(m for m in messages if isinstance(m, str) and m))
        if not ids:
            return
        conversation = _conversation(target)
        stamp = iso(datetime.now(UTC))
        statuses = [
            {"status": "read", "messageIds": ids[i : i + RECEIPT_BATCH], "timestamp": stamp}
            for i in range(0, len(ids), RECEIPT_BATCH)
        ]
        path = f"{self._prefix}/conversations/{conversation}/messages/statusupdates"
        self._call("POST", path, json=statuses)

    def typing(self, *, target: Target, active: bool) -> None:
        conversation = _conversation(target)
        path = f"{self._prefix}/conversations/{conversation}/typing"
        self._call("POST" if active else "DELETE", path)

    def download(
        self, *, ref: str, sink: BinaryIO, max_bytes: int, target: Target | None = None
    ) -> Downloaded:
        url = self._content_url(ref)
        received = 0
        try:
            # Comapi's content service serves its files publicly: no token is sent with them.
            with self._http.stream("GET", url, headers={"Accept": "*/*"}) as response:
                if response.status_code >= 300:
                    response.read()
                    self._fail(response)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise _too_large(int(declared), max_bytes)
                disposition = response.headers.get("content-disposition", "")
                header_type = response.headers.get("content-type", "")
                for chunk in response.iter_bytes(CHUNK_SIZE):
                    received += len(chunk)
                    # Stop reading at once: closing the stream drops the connection.
                    if received > max_bytes:
                        raise _too_large(received, max_bytes)
                    sink.write(chunk)
        except httpx.HTTPError as exc:
            self._unreachable(exc)
        name = _disposition_name(disposition) or unquote(url.path.rsplit("/", 1)[-1])
        media_type = header_type.split(";")[0].strip() or mimetypes.guess_type(name)[0] or ""
        return Downloaded(
            name=name or "file",
            content_type=media_type or "application/octet-stream",
            size=received,
        )

    def poll(self, *, cursor: Mapping[str, Any]) -> Polled:
        """The gap fill: each conversation of ``cursor["conversations"]`` (its last
        ``conversationEventId`` seen, -1 for none) asked for the events after it, page by page.

        The new cursor holds the new maxima (conversations without news kept as they were). A
        conversation Comapi answers 404 for is dropped from it and kept under ``gone`` with
        the time it went, so that a cursor hint does not put it back unless it comes alive.
        """
        known = _conversations(cursor.get("conversations"))
        gone = _gone(cursor.get("gone"))
        frames: list[dict[str, Any]] = []
        advanced: dict[str, int] = {}
        for conversation_id, last in sorted(known.items()):
            try:
                found, newest = self._events_after(conversation_id, last)
            except PlatformError as exc:
                if exc.status != 404:
                    raise
                gone.pop(conversation_id, None)
                gone[conversation_id] = iso(datetime.now(UTC))  # newest last
                continue
            gone.pop(conversation_id, None)
            frames.extend(found)
            advanced[conversation_id] = max(newest, last)
        new_cursor: dict[str, Any] = {"conversations": advanced}
        if gone:
            new_cursor["gone"] = dict(list(gone.items())[-GONE_KEPT:])
        return Polled(document=frames or None, cursor=new_cursor)

    # --- internals -------------------------------------------------------------------------------

    def _events_after(self, conversation_id: str, last: int) -> tuple[list[dict[str, Any]], int]:
        path = f"{self._prefix}/conversations/{_segment(conversation_id, 'conversation id')}/events"
        frames: list[dict[str, Any]] = []
        newest = last
        for _ in range(EVENTS_PAGES):
            params = {"from": newest + 1, "limit": EVENTS_PAGE}
            page = [
                dict(f)
                for f in _list(self._json(self._call("GET", path, params=params)))
                if isinstance(f, Mapping)
            ]
            frames.extend(page)
            ids = [i for i in (_event_sequence(f) for f in page) if i is not None]
            top = max(ids, default=newest)
            # A short page is the end; a page that did not move the cursor would repeat itself.
            if len(page) < EVENTS_PAGE or top <= newest:
                newest = max(newest, top)
                break
            newest = top
        return frames, newest

    def _file_part(self, url: str) -> dict[str, Any]:
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise PlatformError(f"{url!r:.60} is not an uploaded Comapi file url", permanent=True)
        known = self._uploads.get(url)
        if known is None:
            # A retry in a new process: the upload's answer is gone, the url says enough.
            name = unquote(httpx.URL(url).path.rsplit("/", 1)[-1]) or "file"
            known = (mimetypes.guess_type(name)[0] or "application/octet-stream", None, name)
        media_type, size, name = known
        part: dict[str, Any] = {"type": media_type, "url": url, "name": name}
        if size is not None:
            part["size"] = size
        return part

    def _content_url(self, ref: str) -> httpx.URL:
        """Only files on the configured API host are fetched (Comapi's content service serves
        them from there); never an arbitrary URL taken from a payload."""
        try:
            url = httpx.URL(ref)
        except (httpx.InvalidURL, TypeError):
            url = None
        if url is None or _origin(url) != self._host or not url.path.startswith("/"):
            raise PlatformError(
                f"{ref!r:.80} is not a file of the configured Comapi host",
                permanent=True,
                code="foreign_url",
            )
        return url

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Callable[[], dict[str, Any]] | None = None,
        retry_refused: bool = True,
    ) -> httpx.Response:
        """One authenticated call; a 401 drops the session and tries once more with a new one.

        ``files`` builds the multipart parts (again for the retry, which needs a stream that
        can be rewound: ``retry_refused`` False says it cannot)."""
        token = self.session_token()
        response = self._send(method, path, token, params=params, json=json, files=files)
        if response.status_code == 401:
            self.forget_session(token)
            if not retry_refused:
                # The stream is spent; the next attempt opens a new session first.
                # No status: a session that ended is no refusal of the credentials.
                raise PlatformError("Comapi ended the session during the call", permanent=False)
            token = self.session_token()
            response = self._send(method, path, token, params=params, json=json, files=files)
        if response.status_code >= 300:
            self._fail(response)
        return response

    def _send(
        self,
        method: str,
        path: str,
        token: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        files: Callable[[], dict[str, Any]] | None,
    ) -> httpx.Response:
        try:
            return self._http.request(
                method,
                path,
                params=dict(params) if params else None,
                json=json,
                files=files() if files is not None else None,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            self._unreachable(exc)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise PlatformError(
                "Comapi's answer is not JSON", permanent=False, code="invalid_response"
            ) from None

    def _fail(self, response: httpx.Response) -> NoReturn:
        status = response.status_code
        code, message = "", ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, Mapping):
            code = _text(body.get("code")) or _text(body.get("errorCode"))
            if isinstance(body.get("code"), int):
                code = str(body["code"])
            message = (
                _text(body.get("message"))
                or _text(body.get("description"))
                or _text(body.get("error"))
            )
            details = [
                ": ".join(filter(None, (_text(e.get("property")), _text(e.get("message")))))
                for e in _list(body.get("validationErrors"))
                if isinstance(e, Mapping)
            ]
            if any(details):
                message = "; ".join(filter(None, [message, *details]))
        if 300 <= status < 400:
            message = message or f"unexpected redirect ({status}): check the base_url"
        raise PlatformError(
            self._scrub(message or f"Comapi answered HTTP {status}")[:2000],
            # 4xx are answered again; 408/429 and 5xx may pass.
            permanent=status < 500 and status not in (408, 429),
            code=self._scrub(code)[:200],
            status=status,
            retry_after=retry_after(response.headers.get("retry-after")),
        )

    def _unreachable(self, exc: httpx.HTTPError) -> NoReturn:
        raise unreachable(exc, "Comapi", self._scrub) from None

    def _scrub(self, text: str) -> str:
        """Platform words are shown to people: the secret and the token never are."""
        for secret in (self._secret, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text


# --- plain helpers ---------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with milliseconds and ``Z``, as Comapi writes its timestamps."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _required(settings: Mapping[str, Any], name: str, what: str) -> str:
    value = settings.get(name)
    if not isinstance(value, str) or not value.strip():
        raise PlatformError(f"the channel has no Comapi {what} ({name})", permanent=True)
    return value.strip()


def _segment(value: str, what: str) -> str:
    """An id that ends up in a URL path, encoded as one segment (never a path of its own)."""
    if (
        not isinstance(value, str)
        or not value
        or len(value) > 255
        or value in (".", "..")
        or _CONTROL.search(value)
    ):
        raise PlatformError(f"{value!r:.60} is not a Comapi {what}", permanent=True)
    return quote(value, safe="")


def _conversation(target: Target) -> str:
    if not target.conversation_id:
        raise PlatformError("Comapi messages go to a conversation; it has none", permanent=True)
    return _segment(target.conversation_id, "conversation id")


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host.lower(), url.port or default)


def _position(stream: BinaryIO) -> int | None:
    """Where a stream stands, if it can be rewound there (for a retry after a 401)."""
    try:
        return stream.tell() if stream.seekable() else None
    except (OSError, ValueError):
        return None


def _conversations(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    found = {}
    for key, last in value.items():
        if isinstance(key, str) and key:
            found[key] = last if isinstance(last, int) and not isinstance(last, bool) else -1
    return found


def _gone(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _event_sequence(frame: Mapping[str, Any]) -> int | None:
    value = frame.get("conversationEventId")
    if value is None and isinstance(frame.get("payload"), Mapping):
        value = frame["payload"].get("conversationEventId")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _read_parts(parts: Any) -> tuple[str, list[str]]:
    """A message's text and file urls, read as the parse side reads them (text parts joined
    by newlines; parts with a url are files)."""
    texts: list[str] = []
    urls: list[str] = []
    for part in _list(parts):
        if not isinstance(part, Mapping):
            continue
        url = part.get("url")
        media_type = _text(part.get("type")).split(";", 1)[0].strip().lower()
        if isinstance(url, str) and url:
            urls.append(url)
        elif media_type in ("", TEXT) and isinstance(part.get("data"), str) and part["data"]:
            texts.append(part["data"])
    return "\n".join(texts), urls


def _sender(context: Mapping[str, Any]) -> str:
    """Who sent a message: ``context.from.id``, else ``sentBy`` (``session:<profile>``)."""
    sender = context.get("from")
    if isinstance(sender, Mapping) and isinstance(sender.get("id"), str) and sender["id"]:
        return str(sender["id"])
    return _text(context.get("sentBy")).removeprefix("session:")


def _time_or_none(value: Any) -> datetime | None:
    try:
        return parse_iso(value)
    except PayloadError:
        return None


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise PlatformError(
            f"Comapi's {what} is not an object", permanent=False, code="invalid_response"
        )
    return dict(value)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _string(answer: Mapping[str, Any], key: str, what: str) -> str:
    value = answer.get(key)
    if not isinstance(value, str) or not value:
        raise PlatformError(
            f"Comapi's {what} has no {key}", permanent=False, code="invalid_response"
        )
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _disposition_name(value: str) -> str:
    extended = re.search(r"filename\*\s*=\s*(?:[\w-]+)?''([^;]+)", value, re.IGNORECASE)
    if extended:
        return unquote(extended.group(1).strip().strip('"'))
    plain = re.search(r'filename\s*=\s*"?([^";]+)"?', value, re.IGNORECASE)
    return plain.group(1).strip() if plain else ""


def _too_large(size: int, max_bytes: int) -> PlatformError:
    return PlatformError(
        f"the file is larger than {max_bytes} bytes ({size} or more)",
        permanent=True,
        code="file_too_large",
    )
