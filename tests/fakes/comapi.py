"""A fake Comapi (dotdigital App Messaging) API space: its REST API and its websocket, both real
servers on 127.0.0.1 (REST on one port, the socket on another) that tests point clients at.

REST (``{base_url}/apispaces/{id}/…``), as strict as the real one where a client can go wrong:

* sessions: ``GET sessions/start`` answers ``{authenticationId, provider: "jsonWebToken", nonce,
  expiresOn}`` (the shape of Comapi's JS SDK, ``ISessionStartResponse``); ``POST sessions``
  takes ``{authenticationId, authenticationToken, deviceId, platform, platformVersion?,
  sdkType?, sdkVersion?}``, checks the JWT (HS256 with the shared secret, ``iss``, ``aud``,
  ``exp``/``iat``, ``sub`` = the configured profile, the nonce of that authenticationId, once)
  and answers 201 ``{token, session{id, profileId, deviceId, …, expiresOn}}``;
* every other call wants ``Authorization: Bearer <a live session token>`` (401 otherwise) from a
  participant of the conversation (403), an existing conversation (404) and a body of the right
  shape (400 naming the property; 415 for JSON routes sent something else);
* messages (``POST`` → ``{id, eventId}``, ``GET ?limit&from`` →
  ``{earliestEventId, latestEventId, messages}``, newest ``limit`` at or before ``from``),
  ``GET events?from&limit`` (frames of the socket's shape), ``messages/statusupdates``,
  ``typing`` (POST/DELETE, 204), ``POST content`` (multipart ``file`` → ``{id, url, type, size,
  name}``) and the content itself, served publicly at that url.

Comapi's REST error body is not documented where we could read it; the fake answers
``{"code", "message", "validationErrors"?: [{"property", "message"}]}`` and the client reads any
of those fields.

Each conversation keeps an event log: every message and receipt gets an ``eventId`` (UUID) and
the next per-conversation ``conversationEventId`` (from 0), shaped like the socket's frames, and
is pushed to the open sockets. The socket (``{ws_url}/apispaces/{id}/socket?token=…``) refuses
unknown tokens (401), sends ``socket.info`` first, then the pushed frames, and logs what clients
send (their ``echo`` keep-alives).

Test hooks: :meth:`FakeComapi.add_conversation`, :meth:`add_message`, :meth:`add_receipt`,
:meth:`push`, :meth:`drop_connections`, :meth:`refuse_next_connections`,
:meth:`expire_sessions`, :meth:`fail_next`, :meth:`answer_next`, :meth:`delay_next`,
:meth:`down` / :meth:`up`, :meth:`wait_until`; the logs :attr:`requests` (:meth:`rejected`:
what the checks refused), :attr:`received` (:meth:`echoes`) and :attr:`socket_attempts`; and
:meth:`webhook_envelope` / :meth:`webhook_body` / :func:`webhook_headers` for the same events
as webhooks would bring them.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import jwt
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.fakes.server import FakeServer, Handler, read_body

API_SPACE_ID = "9b4e1d27-6c3a-4f85-b0d2-7a19e8c35f60"
ACCOUNT_ID = 60417
PROFILE_ID = "inbox.desk"
JWT_SECRET = "fake-comapi-shared-secret-4c1e9a0b7d"
JWT_ISSUER = "https://inbox.example/comapi-auth"
JWT_AUDIENCE = "https://api.comapi.com"
MAX_CONTENT_SIZE = 10 * 1024 * 1024
PAGE_LIMIT = 100  # the most a list call answers

JSON = "application/json"

_MESSAGE_KEYS = {"metadata", "parts", "alert"}
_PART_KEYS = {"name", "type", "url", "data", "size"}
_SESSION_KEYS = {
    "authenticationId",
    "authenticationToken",
    "deviceId",
    "platform",
    "platformVersion",
    "sdkType",
    "sdkVersion",
}
_STATUS_KEYS = {"status", "messageIds", "timestamp"}


def timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as Comapi writes them."""
    utc = (moment or datetime.now(UTC)).astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def webhook_headers(body: bytes, secret: str) -> dict[str, str]:
    """What Comapi signs a webhook body with: lowercase hex HMAC-SHA1 of the raw bytes."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()
    return {"X-Comapi-Signature": digest}


class ComapiError(Exception):
    """An error answer: raised anywhere in a handler, sent in the fake's error shape."""

    def __init__(
        self, status: int, code: str, message: str, validation: Iterable[tuple[str, str]] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.validation = list(validation)

    def body(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.validation:
            answer["validationErrors"] = [
                {"property": prop, "message": text} for prop, text in self.validation
            ]
        return answer


def _invalid(prop: str, text: str) -> ComapiError:
    return ComapiError(400, "ValidationFailed", "The request is invalid", [(prop, text)])


@dataclass
class Recorded:
    """One request as the fake received it, and the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int = 0
    injected: bool = False  # the answer came from fail_next, not from the checks

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class SocketAttempt:
    """One websocket handshake: the path without its query, and the status answered."""

    path: str
    status: int
    token_known: bool


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    push: list[dict[str, Any]] = field(default_factory=list)  # frames, pushed after the lock


def _json_reply(status: int, payload: Any, push: list[dict[str, Any]] | None = None) -> _Reply:
    return _Reply(status, json.dumps(payload, ensure_ascii=False).encode(), push=push or [])


@dataclass(frozen=True)
class _Failure:
    status: int
    route: str
    body: bytes
    content_type: str
    retry_after: str | None


@dataclass
class _Conversation:
    id: str
    name: str
    participants: dict[str, str]  # profile id -> role
    events: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # as GET …/messages has them
    next_event: int = 0


@dataclass
class _Request:
    method: str
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    profile: str = ""

    def json_body(self) -> Any:
        if not self.headers.get("content-type", "").startswith(JSON):
            raise ComapiError(415, "UnsupportedMediaType", "Send application/json")
        try:
            return json.loads(self.body)
        except ValueError:
            raise _invalid("body", "is not JSON") from None

    def integer(
        self, name: str, *, required: bool, low: int, high: int | None = None
    ) -> int | None:
        values = self.query.get(name)
        if not values:
            if required:
                raise _invalid(name, "is required")
            return None
        text = values[0]
        if not re.fullmatch(r"\d+", text):
            raise _invalid(name, "must be a whole number")
        number = int(text)
        if number < low or (high is not None and number > high):
            raise _invalid(name, f"must be between {low} and {high}")
        return number


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[_Request], _Reply]
    authenticated: bool = True


class FakeComapi(FakeServer):
    """The fake API space; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        *,
        api_space_id: str = API_SPACE_ID,
        profile_id: str = PROFILE_ID,
        secret: str = JWT_SECRET,
        issuer: str = JWT_ISSUER,
        audience: str = JWT_AUDIENCE,
        session_lifetime: float = 3600.0,
        max_content_size: int = MAX_CONTENT_SIZE,
    ) -> None:
        super().__init__()
        self.api_space_id = api_space_id
        self.profile_id = profile_id
        self.secret = secret
        self.issuer = issuer
        self.audience = audience
        self.session_lifetime = session_lifetime
        self.max_content_size = max_content_size
        self.prefix = f"/apispaces/{api_space_id}"

        self.conversations: dict[str, _Conversation] = {}
        self.content: dict[str, tuple[str, str, bytes]] = {}  # id -> (name, type, bytes)
        self.sessions: dict[str, tuple[str, float]] = {}  # token -> (profile, expires epoch)
        self.sessions_issued: list[str] = []  # every token handed out, expired ones included
        self._challenges: dict[str, tuple[str, float]] = {}  # authenticationId -> (nonce, exp)
        self.sessions_opened = 0

        self.requests: list[Recorded] = []
        self.received: list[Any] = []  # frames the sockets sent us, decoded
        self.socket_attempts: list[SocketAttempt] = []
        self.connections_opened = 0
        self.crashes: list[str] = []  # tracebacks of the fake's own bugs

        self._failures: list[_Failure] = []
        self._delays: list[float] = []
        self._refusals: list[int] = []
        self._routes = self._build_routes()

        self._ws_loop: asyncio.AbstractEventLoop | None = None
        self._ws_thread: threading.Thread | None = None
        self._ws_server: Server | None = None
        self._sockets: set[ServerConnection] = set()
        self.ws_port = 0

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """A channel's settings and credentials for this API space (``jwt_secret`` included)."""
        return {
            "base_url": self.base_url,
            "ws_url": self.ws_url,
            "api_space_id": self.api_space_id,
            "profile_id": self.profile_id,
            "jwt_issuer": self.issuer,
            "jwt_audience": self.audience,
            "jwt_secret": self.secret,
            **overrides,
        }

    def up(self) -> None:
        """Listen (again, on the same ports after :meth:`down`): REST and the socket."""
        super().up()
        if self._ws_loop is None:
            loop = asyncio.new_event_loop()
            self._ws_thread = threading.Thread(target=loop.run_forever, daemon=True)
            self._ws_thread.start()
            self._ws_loop = loop
            self._ws_server = self._in_loop(self._serve_socket())
            self.ws_port = self._ws_server.sockets[0].getsockname()[1]

    def down(self) -> None:
        """Stop listening and cut every open connection, REST and socket alike."""
        super().down()
        loop = self._ws_loop
        if loop is not None:
            ws_server = self._ws_server
            if ws_server is not None:
                self.drop_connections()
                self._in_loop(self._close_socket_server(ws_server))
            loop.call_soon_threadsafe(loop.stop)
            if self._ws_thread is not None:
                self._ws_thread.join(timeout=5)
            loop.close()
            self._ws_loop = self._ws_server = self._ws_thread = None

    # --- test hooks: failures --------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        count: int = 1,
        *,
        route: str = "",
        code: str = "InternalServerError",
        message: str = "Something went wrong",
        validation: Iterable[tuple[str, str]] = (),
        retry_after: float | str | None = None,
    ) -> None:
        """Answer the next ``count`` REST requests (whose path ends with ``route``, if given)
        with this error, before any check. ``retry_after`` is seconds or an HTTP date."""
        body = json.dumps(ComapiError(status, code, message, validation).body()).encode()
        self.answer_next(status, body, count=count, route=route, retry_after=retry_after)

    def answer_next(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json; charset=utf-8",
        count: int = 1,
        route: str = "",
        retry_after: float | str | None = None,
    ) -> None:
        """Answer the next ``count`` REST requests (whose path ends with ``route``) with these
        raw bytes, before any check (an answer no client call expects: a proxy's page…)."""
        after = f"{retry_after:g}" if isinstance(retry_after, int | float) else retry_after
        failure = _Failure(status, route, body, content_type, after)
        with self._lock:
            self._failures.extend([failure] * count)

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """Wait ``seconds`` before answering each of the next ``count`` REST requests."""
        with self._lock:
            self._delays.extend([seconds] * count)

    def refuse_next_connections(self, count: int = 1, *, status: int = 503) -> None:
        """Refuse the next ``count`` socket handshakes with ``status``."""
        with self._lock:
            self._refusals.extend([status] * count)

    def expire_sessions(self) -> None:
        """Every session token ends now: REST answers 401 and the socket refuses them."""
        with self._lock:
            self.sessions.clear()

    def drop_connections(self) -> int:
        """Cut every open socket without a closing handshake (as a network failure does)."""
        loop = self._ws_loop
        with self._lock:
            sockets = list(self._sockets)
        if loop is None:
            return 0
        for connection in sockets:
            loop.call_soon_threadsafe(connection.transport.abort)
        return len(sockets)

    # --- test hooks: logs ------------------------------------------------------------------------

    def rejected(self) -> list[Recorded]:
        """Requests the fake's own checks refused with a 4xx (injected failures excluded)."""
        return [r for r in self.requests if 400 <= r.status < 500 and not r.injected]

    def requests_to(self, route: str, method: str | None = None) -> list[Recorded]:
        """Recorded requests whose path ends with ``route`` (e.g. ``"/typing"``)."""
        return [
            r
            for r in self.requests
            if r.path.endswith(route) and (method is None or r.method == method)
        ]

    def echoes(self) -> list[dict[str, Any]]:
        """The ``echo`` keep-alives the sockets received."""
        return [f for f in self.received if isinstance(f, dict) and f.get("name") == "echo"]

    @property
    def open_sockets(self) -> int:
        with self._lock:
            return len(self._sockets)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``condition`` until it holds (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.01)
        return condition()

    # --- test hooks: conversations and events ----------------------------------------------------

    def add_conversation(
        self,
        conversation_id: str | None = None,
        *,
        participants: Iterable[str] = (),
        name: str = "Support",
    ) -> str:
        """A conversation of our profile (its owner) and ``participants``; returns its id."""
        with self._lock:
            conversation_id = conversation_id or str(uuid.uuid4())
            members = {self.profile_id: "owner"}
            members.update(dict.fromkeys(participants, "participant"))
            self.conversations[conversation_id] = _Conversation(conversation_id, name, members)
            return conversation_id

    def add_message(
        self,
        conversation_id: str,
        text: str = "",
        *,
        sender: str,
        sender_name: str = "",
        parts: list[dict[str, Any]] | None = None,
        push: bool = True,
    ) -> dict[str, Any]:
        """Someone sends a message: logged (it gets its event ids) and pushed to the sockets
        unless ``push`` is False (as if the socket missed it). Returns the frame."""
        with self._lock:
            conversation = self._conversation(conversation_id)
            body = parts if parts is not None else [{"type": "text/plain", "data": text}]
            frame = self._record_message(conversation, sender, sender_name, body, None)
        if push:
            self.push(frame)
        return copy.deepcopy(frame)

    def add_receipt(
        self,
        conversation_id: str,
        message_id: str,
        *,
        profile_id: str,
        status: str = "read",
        push: bool = True,
    ) -> dict[str, Any]:
        """``profile_id`` received or read a message: logged and pushed. Returns the frame."""
        with self._lock:
            conversation = self._conversation(conversation_id)
            frame = self._record_receipt(conversation, message_id, profile_id, status, None)
        if push:
            self.push(frame)
        return copy.deepcopy(frame)

    def events_of(self, conversation_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._conversation(conversation_id).events)

    def messages_of(self, conversation_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._conversation(conversation_id).messages)

    def push(self, frame: Mapping[str, Any] | str) -> int:
        """Send ``frame`` (an object, or raw text) to every open socket; returns how many."""
        loop = self._ws_loop
        with self._lock:
            sockets = list(self._sockets)
        if loop is None or not sockets:
            return 0
        data = frame if isinstance(frame, str) else json.dumps(frame, ensure_ascii=False)

        async def send_all() -> None:
            for connection in sockets:
                with contextlib.suppress(ConnectionClosed):
                    await connection.send(data)

        self._in_loop(send_all())
        return len(sockets)

    # --- webhooks: the same events as the server-side webhooks bring them -----------------------

    def webhook_envelope(self, frame: Mapping[str, Any]) -> dict[str, Any]:
        """A socket frame as Comapi's webhook envelope: no ``context``, ``timestamp`` instead of
        ``publishedOn``, message payloads with ``id`` (not ``messageId``), ``conversationId``,
        ``conversationEventId``, ``scope`` and ``direction``."""
        name = frame["name"]
        payload = copy.deepcopy(dict(frame.get("payload") or {}))
        if name == "conversationMessage.sent":
            message_context = payload.get("context") or {}
            sender = (message_context.get("from") or {}).get("id")
            payload = {
                "id": payload.pop("messageId"),
                "conversationId": message_context.get("conversationId"),
                "conversationEventId": frame.get("conversationEventId"),
                "scope": "conversation",
                "direction": "outbound" if sender == self.profile_id else "inbound",
                **payload,
            }
        elif name in ("conversationMessage.delivered", "conversationMessage.read"):
            payload = {
                "id": payload.get("messageId"),
                "conversationId": payload.get("conversationId"),
                "profileId": payload.get("profileId"),
                "timestamp": payload.get("timestamp"),
            }
        envelope: dict[str, Any] = {
            "eventId": frame.get("eventId"),
            "accountId": ACCOUNT_ID,
            "apiSpaceId": self.api_space_id,
            "name": name,
            "payload": payload,
            "revision": frame.get("revision", 0),
            "timestamp": frame.get("publishedOn"),
        }
        if "etag" in frame:
            envelope["etag"] = frame["etag"]
        return envelope

    def webhook_body(self, *frames: Mapping[str, Any], batch: bool = False) -> bytes:
        """The raw body of a webhook delivery: one envelope, or an array (``batch``)."""
        envelopes = [self.webhook_envelope(frame) for frame in frames]
        document: Any = envelopes if batch or len(envelopes) != 1 else envelopes[0]
        return json.dumps(document, ensure_ascii=False).encode()

    # --- REST ------------------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        body = read_body(handler)
        target = urlsplit(handler.path)
        record = Recorded(
            method=handler.command,
            path=target.path,
            query=parse_qs(target.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(record)
            delay = self._delays.pop(0) if self._delays else 0.0
            failure = next((f for f in self._failures if record.path.endswith(f.route)), None)
            if failure is not None:
                self._failures.remove(failure)
        if delay:
            time.sleep(delay)
        if failure is not None:
            reply = _Reply(failure.status, failure.body, content_type=failure.content_type)
            if failure.retry_after is not None:
                reply.headers["Retry-After"] = failure.retry_after
            record.injected = True
        else:
            reply = self._answer(record)
        record.status = reply.status
        for frame in reply.push:
            self.push(frame)
        self._write(handler, reply)

    def _answer(self, record: Recorded) -> _Reply:
        try:
            with self._lock:
                return self._dispatch(record)
        except ComapiError as exc:
            return _json_reply(exc.status, exc.body())
        except Exception:
            self.crashes.append(traceback.format_exc())
            return _json_reply(500, ComapiError(500, "InternalServerError", "Oops").body())

    def _dispatch(self, record: Recorded) -> _Reply:
        if not record.path.startswith(self.prefix + "/"):
            raise ComapiError(404, "NotFound", "API space not found")
        rest = record.path[len(self.prefix) :]
        matches = [(route, route.pattern.fullmatch(rest)) for route in self._routes]
        candidates = [(route, match) for route, match in matches if match]
        if not candidates:
            raise ComapiError(404, "NotFound", "Resource not found")
        chosen = next(((r, m) for r, m in candidates if r.method == record.method), None)
        if chosen is None:
            raise ComapiError(405, "MethodNotAllowed", "Method not allowed")
        route, match = chosen
        request = _Request(
            method=record.method,
            params={k: unquote(v) for k, v in match.groupdict().items()},
            query=record.query,
            headers=record.headers,
            body=record.body,
        )
        if route.authenticated:
            request.profile = self._authenticated(record.headers.get("authorization", ""))
        return route.handler(request)

    def _authenticated(self, header: str) -> str:
        scheme, _, token = header.partition(" ")
        session = self.sessions.get(token) if scheme == "Bearer" else None
        if session is None or session[1] <= time.time():
            raise ComapiError(401, "Unauthorized", "Authorization has been denied")
        return session[0]

    def _build_routes(self) -> list[_Route]:
        conversation = r"/conversations/(?P<conversation>[^/]+)"
        table = [
            ("GET", r"/sessions/start", self._session_start, False),
            ("POST", r"/sessions", self._session, False),
            ("POST", r"/content", self._upload, True),
            ("GET", r"/content/(?P<content>[^/]+)/(?P<name>[^/]+)", self._content, False),
            ("POST", conversation + r"/messages", self._send, True),
            ("GET", conversation + r"/messages", self._messages, True),
            ("GET", conversation + r"/events", self._events, True),
            ("POST", conversation + r"/messages/statusupdates", self._status_updates, True),
            ("POST", conversation + r"/typing", self._typing, True),
            ("DELETE", conversation + r"/typing", self._typing, True),
        ]
        return [_Route(m, re.compile(p), h, auth) for m, p, h, auth in table]

    def _session_start(self, request: _Request) -> _Reply:
        authentication_id = str(uuid.uuid4())
        nonce = secrets.token_urlsafe(16)
        expires = time.time() + 300
        self._challenges[authentication_id] = (nonce, expires)
        return _json_reply(
            200,
            {
                "authenticationId": authentication_id,
                "provider": "jsonWebToken",
                "nonce": nonce,
                "expiresOn": timestamp(datetime.fromtimestamp(expires, UTC)),
            },
        )

    def _session(self, request: _Request) -> _Reply:
        body = request.json_body()
        if not isinstance(body, dict):
            raise _invalid("body", "must be an object")
        for key in body:
            if key not in _SESSION_KEYS:
                raise _invalid(key, "is not a known property")
        for key in ("authenticationId", "authenticationToken", "deviceId", "platform"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise _invalid(key, "is required")
        challenge = self._challenges.pop(body["authenticationId"], None)
        if challenge is None or challenge[1] <= time.time():
            raise ComapiError(401, "Unauthorized", "Unknown or expired authenticationId")
        try:
            claims = jwt.decode(
                body["authenticationToken"],
                self.secret,
                algorithms=["HS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "nonce"]},
            )
        except jwt.PyJWTError as exc:
            raise ComapiError(401, "Unauthorized", f"Invalid authentication token: {exc}") from None
        if claims.get("nonce") != challenge[0]:
            raise ComapiError(401, "Unauthorized", "The token's nonce does not match")
        if claims.get("sub") != self.profile_id:
            raise ComapiError(401, "Unauthorized", "The token names another profile")
        token = "sess-" + secrets.token_urlsafe(24)
        expires = time.time() + self.session_lifetime
        self.sessions[token] = (self.profile_id, expires)
        self.sessions_issued.append(token)
        self.sessions_opened += 1
        now = timestamp()
        return _json_reply(
            201,
            {
                "token": token,
                "session": {
                    "id": str(uuid.uuid4()),
                    "profileId": self.profile_id,
                    "deviceId": body["deviceId"],
                    "platform": body["platform"],
                    "platformVersion": body.get("platformVersion", ""),
                    "sdkType": body.get("sdkType", ""),
                    "sdkVersion": body.get("sdkVersion", ""),
                    "sourceIp": "127.0.0.1",
                    "isActive": True,
                    "createdOn": now,
                    "expiresOn": timestamp(datetime.fromtimestamp(expires, UTC)),
                },
            },
        )

    def _upload(self, request: _Request) -> _Reply:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise ComapiError(415, "UnsupportedMediaType", "Send multipart/form-data")
        files = _parse_multipart(content_type, request.body)
        if "file" not in files:
            raise _invalid("file", "is required")
        name, media_type, data = files["file"]
        if not name:
            raise _invalid("file", "needs a file name")
        if len(data) > self.max_content_size:
            raise ComapiError(413, "PayloadTooLarge", "The file is too large")
        content_id = secrets.token_hex(8)
        self.content[content_id] = (name, media_type, data)
        url = f"{self.base_url}{self.prefix}/content/{content_id}/{quote(name, safe='')}"
        return _json_reply(
            200, {"id": content_id, "url": url, "type": media_type, "size": len(data), "name": name}
        )

    def _content(self, request: _Request) -> _Reply:
        stored = self.content.get(request.params["content"])
        if stored is None or stored[0] != request.params["name"]:
            raise ComapiError(404, "NotFound", "Content not found")
        _, media_type, data = stored
        return _Reply(200, data, content_type=media_type)

    def _send(self, request: _Request) -> _Reply:
        conversation = self._participating(request)
        body = request.json_body()
        if not isinstance(body, dict):
            raise _invalid("body", "must be an object")
        for key in body:
            if key not in _MESSAGE_KEYS:
                raise _invalid(key, "is not a known property")
        if "metadata" in body and not isinstance(body["metadata"], dict):
            raise _invalid("metadata", "must be an object")
        parts = body.get("parts")
        if not isinstance(parts, list) or not parts:
            raise _invalid("parts", "must be a list of at least one part")
        for index, part in enumerate(parts):
            _check_part(part, f"parts[{index}]")
        frame = self._record_message(
            conversation, request.profile, "", parts, body.get("metadata") or {}
        )
        answer = {"id": frame["payload"]["messageId"], "eventId": frame["conversationEventId"]}
        return _json_reply(200, answer, push=[frame])

    def _messages(self, request: _Request) -> _Reply:
        conversation = self._participating(request)
        limit = request.integer("limit", required=True, low=1, high=PAGE_LIMIT) or PAGE_LIMIT
        before = request.integer("from", required=False, low=0)
        found = [m for m in conversation.messages if before is None or m["sentEventId"] <= before][
            -limit:
        ]
        answer: dict[str, Any] = {"messages": copy.deepcopy(found)}
        if found:
            answer["earliestEventId"] = found[0]["sentEventId"]
            answer["latestEventId"] = found[-1]["sentEventId"]
        return _json_reply(200, answer)

    def _events(self, request: _Request) -> _Reply:
        conversation = self._participating(request)
        start = request.integer("from", required=True, low=0)
        limit = request.integer("limit", required=True, low=1, high=PAGE_LIMIT) or PAGE_LIMIT
        found = [e for e in conversation.events if e["conversationEventId"] >= (start or 0)]
        return _json_reply(200, copy.deepcopy(found[:limit]))

    def _status_updates(self, request: _Request) -> _Reply:
        conversation = self._participating(request)
        body = request.json_body()
        if not isinstance(body, list) or not body:
            raise _invalid("body", "must be a list of status updates")
        known = {m["id"] for m in conversation.messages}
        for index, update in enumerate(body):
            where = f"[{index}]"
            if not isinstance(update, dict) or set(update) != _STATUS_KEYS:
                raise _invalid(where, "needs exactly status, messageIds and timestamp")
            if update["status"] not in ("read", "delivered"):
                raise _invalid(where + ".status", "must be read or delivered")
            ids = update["messageIds"]
            if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
                raise _invalid(where + ".messageIds", "must be a list of message ids")
            unknown = [i for i in ids if i not in known]
            if unknown:
                raise _invalid(where + ".messageIds", f"unknown message {unknown[0]}")
            if _parse_time(update["timestamp"]) is None:
                raise _invalid(where + ".timestamp", "must be an ISO 8601 date")
        frames = [
            self._record_receipt(conversation, i, request.profile, u["status"], u["timestamp"])
            for u in body
            for i in u["messageIds"]
        ]
        return _Reply(204, push=frames)

    def _typing(self, request: _Request) -> _Reply:
        conversation = self._participating(request)
        name = (
            "conversation.participantTyping"
            if request.method == "POST"
            else "conversation.participantTypingOff"
        )
        frame = {
            "eventId": str(uuid.uuid4()),
            "name": name,
            "payload": {"conversationId": conversation.id, "profileId": request.profile},
            "context": {"createdBy": f"session:{request.profile}"},
            "accountId": ACCOUNT_ID,
            "apiSpaceId": self.api_space_id,
            "publishedOn": timestamp(),
        }
        return _Reply(204, push=[frame])

    def _participating(self, request: _Request) -> _Conversation:
        conversation = self._conversation(request.params["conversation"])
        if request.profile not in conversation.participants:
            raise ComapiError(403, "Forbidden", "Not a participant of the conversation")
        return conversation

    def _conversation(self, conversation_id: str) -> _Conversation:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            raise ComapiError(404, "NotFound", f"Conversation {conversation_id} not found")
        return conversation

    def _record_message(
        self,
        conversation: _Conversation,
        sender: str,
        sender_name: str,
        parts: list[dict[str, Any]],
        metadata: dict[str, Any] | None,
    ) -> dict[str, Any]:
        sequence = conversation.next_event
        conversation.next_event += 1
        message_id = str(uuid.uuid4())
        now = timestamp()
        message_context = {
            "from": {"id": sender, "name": sender_name or sender},
            "conversationId": conversation.id,
            "sentBy": f"session:{sender}",
            "sentOn": now,
        }
        frame = {
            "eventId": str(uuid.uuid4()),
            "apiSpaceId": self.api_space_id,
            "name": "conversationMessage.sent",
            "payload": {
                "messageId": message_id,
                "metadata": metadata or {},
                "context": message_context,
                "parts": copy.deepcopy(parts),
            },
            "context": {"createdBy": sender},
            "revision": sequence,
            "conversationEventId": sequence,
            "publishedOn": now,
        }
        conversation.events.append(frame)
        conversation.messages.append(
            {
                "id": message_id,
                "sentEventId": sequence,
                "metadata": metadata or {},
                "context": copy.deepcopy(message_context),
                "parts": copy.deepcopy(parts),
                "statusUpdates": {},
            }
        )
        return copy.deepcopy(frame)

    def _record_receipt(
        self,
        conversation: _Conversation,
        message_id: str,
        profile_id: str,
        status: str,
        at: str | None,
    ) -> dict[str, Any]:
        sequence = conversation.next_event
        conversation.next_event += 1
        now = timestamp()
        frame = {
            "eventId": str(uuid.uuid4()),
            "apiSpaceId": self.api_space_id,
            "name": f"conversationMessage.{status}",
            "payload": {
                "messageId": message_id,
                "conversationId": conversation.id,
                "isPublicConversation": False,
                "profileId": profile_id,
                "timestamp": at or now,
            },
            "context": {"createdBy": profile_id},
            "revision": sequence,
            "conversationEventId": sequence,
            "publishedOn": now,
        }
        conversation.events.append(frame)
        for message in conversation.messages:
            if message["id"] == message_id:
                message["statusUpdates"][profile_id] = {"status": status, "on": at or now}
        return copy.deepcopy(frame)

    def _write(self, handler: _Handler, reply: _Reply) -> None:
        # A client that gave up (a timeout test) has closed the connection: nothing to say.
        with contextlib.suppress(OSError):
            handler.send_response(reply.status)
            if reply.status != 204:
                handler.send_header("Content-Type", reply.content_type)
                handler.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            if reply.status != 204:
                handler.wfile.write(reply.body)

    # --- the websocket ---------------------------------------------------------------------------

    def _in_loop(self, coroutine: Any) -> Any:
        assert self._ws_loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._ws_loop).result(timeout=10)

    async def _serve_socket(self) -> Server:
        return await serve(
            self._socket_handler,
            "127.0.0.1",
            self.ws_port,
            process_request=self._socket_handshake,
            close_timeout=1,
        )

    async def _close_socket_server(self, server: Server) -> None:
        server.close(close_connections=True)
        await server.wait_closed()

    def _socket_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        target = urlsplit(request.path)
        token = parse_qs(target.query).get("token", [""])[0]
        with self._lock:
            session = self.sessions.get(token)
            known = session is not None and session[1] > time.time()
            refusal = self._refusals.pop(0) if self._refusals else None
            if refusal is not None:
                status = refusal
            elif target.path != f"{self.prefix}/socket":
                status = 404
            elif not known:
                status = 401
            else:
                status = 101
            self.socket_attempts.append(SocketAttempt(target.path, status, known))
        if status == 101:
            return None
        return connection.respond(status, "Refused\n")

    async def _socket_handler(self, connection: ServerConnection) -> None:
        with self._lock:
            self.connections_opened += 1
        info = {
            "name": "socket.info",
            "payload": {"socketId": str(uuid.uuid4()), "profileId": self.profile_id},
            "publishedOn": timestamp(),
        }
        try:
            await connection.send(json.dumps(info))
            with self._lock:
                self._sockets.add(connection)
            async for message in connection:
                try:
                    decoded: Any = json.loads(message)
                except ValueError:
                    decoded = {"unreadable": str(message)}
                with self._lock:
                    self.received.append(decoded)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._sockets.discard(connection)


class _Handler(Handler):
    """Records the fake's own crashes, so a test can fail on them."""

    def do_GET(self) -> None:
        try:
            self.server.fake._serve(self)
        except Exception:
            self.server.fake.crashes.append(traceback.format_exc())
            raise

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET


FakeComapi.handler_class = _Handler


def _check_part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise _invalid(where, "must be an object")
    for key in part:
        if key not in _PART_KEYS:
            raise _invalid(f"{where}.{key}", "is not a known property")
    if "type" in part and not isinstance(part["type"], str):
        raise _invalid(f"{where}.type", "must be a MIME type")
    if "name" in part and not isinstance(part["name"], str):
        raise _invalid(f"{where}.name", "must be text")
    if "size" in part and (
        not isinstance(part["size"], int) or isinstance(part["size"], bool) or part["size"] < 0
    ):
        raise _invalid(f"{where}.size", "must be a whole number")
    url, data = part.get("url"), part.get("data")
    if url is None and data is None:
        raise _invalid(where, "needs data or a url")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://"))
    ):
        raise _invalid(f"{where}.url", "must be an http(s) URL")
    if data is not None and not isinstance(data, str):
        raise _invalid(f"{where}.data", "must be text")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str, str, bytes]]:
    """The file parts of a ``multipart/form-data`` body: field -> (filename, type, bytes)."""
    files: dict[str, tuple[str, str, bytes]] = {}
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if boundary is None:
        return files
    delimiter = b"--" + boundary.group(1).encode()
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = {}
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode(
                "utf-8", "replace"
            )
        params = dict(
            re.findall(r';\s*([\w*]+)="((?:[^"\\]|\\.)*)"', headers.get("content-disposition", ""))
        )
        if "filename" in params:
            media_type = headers.get("content-type", "application/octet-stream")
            files[params.get("name", "")] = (params["filename"], media_type, content)
    return files
