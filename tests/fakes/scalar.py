"""A fake ZF SCALAR: the integrator token endpoint and the messaging API's send on one real HTTP
server on 127.0.0.1, and the Datahub Subscription batches its messages would produce.

The real services live on two hosts (``auth.api…/v1/integrators/token`` and
``messaging.api…/v1/messages/actions/send``); here they sit under two prefixes of one port
(:attr:`FakeScalar.auth_url`, :attr:`FakeScalar.messaging_url`), so a client that joins a path
to the wrong base gets a 404. SCALAR is an ASP.NET service (its timestamps carry .NET's seven
fractional digits), so errors are answered as ASP.NET writes them: RFC 9457 problem details
(``application/problem+json``: ``type``, ``title``, ``status``, ``traceId``, and ``errors``
``{field: [messages]}`` for validation or ``detail`` plus an ``errorCode`` extension
otherwise); a refused Bearer token is a 401 with an empty body and ``WWW-Authenticate: Bearer
error="invalid_token"``. That shape, and the send's answer, are not public: they are this
fake's design, and the client reads them tolerantly.

It checks what a client can get wrong:

* the token request: JSON ``{clientId, clientSecret, audience}`` (415 for another media type,
  400 naming a missing field or an unknown audience, 401 for a wrong client id or secret);
* the send: a valid, unexpired Bearer token; ``multipart/form-data`` with exactly the sender
  and recipient field names it was configured with (``senderId``/``recipientId`` by default),
  ``conversationType`` (``chat`` only: ``groupchat`` is a 400 ``GroupChatNotSupported``),
  ``contentType`` text (``content``, no file) or image/file (one ``file`` part with a name,
  JPEG/PNG resp. PDF, by declared type and by its first bytes; ``content`` is the optional
  caption the seed documents); unknown or repeated fields; a known sender and a known driver
  (:meth:`FakeScalar.add_driver`) as recipient, not a group.

The send answers ``200 {"messageId", "conversationId", "registeredOn"}`` (``answer="id"``:
``{"id"}``; ``answer="nested"``: ``{"data": {…}}``). Sent messages are kept in
:attr:`FakeScalar.messages`; :meth:`FakeScalar.batch_for` builds the DHS batch announcing one
of them (``message.sent`` echo, later ``message.delivered``/``seen``/``recalled``).

Test hooks: :meth:`fail_next`, :meth:`answer_next`, :meth:`delay_next`, :meth:`drop_next`,
:meth:`expire_tokens`, :meth:`down` / :meth:`up`, the log :attr:`requests` (:meth:`rejected`
lists the requests the fake refused on its own, :meth:`requests_to` those of one route).
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import time
import traceback
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.server import FakeServer, Handler, abort, read_body

CLIENT_ID = "switchboard-integrator-7f3c"
CLIENT_SECRET = "scalar-client-secret-Q8v2n5Lk0pWz"
AUDIENCE = "COMAPI"
USER_ID = "4b7e2f90-1c3d-4a58-9e6f-2d8a0b5c7e13"  # our back-office user (sender_id)
SUBSCRIPTION_ID = "0e5d7c1a-9b4f-4e2a-8c3d-6f1b2a9e7d40"

AUTH_PREFIX = "/auth"
MESSAGING_PREFIX = "/messaging"
TOKEN_PATH = AUTH_PREFIX + "/v1/integrators/token"
SEND_PATH = MESSAGING_PREFIX + "/v1/messages/actions/send"
TOKEN = "token"  # route names for the hooks
SEND = "send"
MAX_FILE_SIZE = 25 * 1024 * 1024  # the fake's own limit, above the client's default

PROBLEM = "application/problem+json; charset=utf-8"
JSON = "application/json; charset=utf-8"
_TYPES = {
    400: "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    401: "https://tools.ietf.org/html/rfc9110#section-15.5.2",
    403: "https://tools.ietf.org/html/rfc9110#section-15.5.4",
    404: "https://tools.ietf.org/html/rfc9110#section-15.5.5",
    405: "https://tools.ietf.org/html/rfc9110#section-15.5.6",
    413: "https://tools.ietf.org/html/rfc9110#section-15.5.14",
    415: "https://tools.ietf.org/html/rfc9110#section-15.5.16",
    429: "https://tools.ietf.org/html/rfc6585#section-4",
    500: "https://tools.ietf.org/html/rfc9110#section-15.6.1",
    503: "https://tools.ietf.org/html/rfc9110#section-15.6.4",
}
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "An error occurred while processing your request.",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
VALIDATION_TITLE = "One or more validation errors occurred."

CONTENT_TYPES = ("text", "image", "file")
MEDIA_TYPES = {"image": ("image/jpeg", "image/png"), "file": ("application/pdf",)}
_SIGNATURES = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/pdf": (b"%PDF-",),
}
# The status chain a message has walked when it reaches a status, and the event announcing it.
CHAINS = {
    "Pending": ("Pending",),
    "Delivered": ("Pending", "Delivered"),
    "Seen": ("Pending", "Delivered", "Seen"),
    "Recalled": ("Pending", "Recalled"),
}
EVENT_TYPES = {
    "Pending": "message.sent",
    "Delivered": "message.delivered",
    "Seen": "message.seen",
    "Recalled": "message.recalled",
    "DriverSeen": "message.driverSeen",
    "Treated": "message.treated",
}
# How long after the send each later status happens, unless a test says when.
STEP_DELAYS = {
    "Pending": timedelta(0),
    "Delivered": timedelta(seconds=5),
    "Seen": timedelta(seconds=40),
    "Recalled": timedelta(minutes=2),
}


def timestamp(moment: datetime) -> str:
    """An event-data timestamp as SCALAR writes it: UTC, whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def batch_time(moment: datetime) -> str:
    """``eventBatchTime``: seven fractional digits (.NET ticks), ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}{secrets.randbelow(10)}Z"


def problem(
    status: int,
    *,
    detail: str = "",
    errors: Mapping[str, Sequence[str]] | None = None,
    code: str = "",
    title: str = "",
) -> dict[str, Any]:
    """An ASP.NET problem-details body."""
    body: dict[str, Any] = {
        "type": _TYPES.get(status, "about:blank"),
        "title": title or (VALIDATION_TITLE if errors else _TITLES.get(status, "Error")),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = {name: list(messages) for name, messages in errors.items()}
    if code:
        body["errorCode"] = code
    body["traceId"] = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"
    return body


class ScalarError(Exception):
    """An error answer raised anywhere in a handler."""

    def __init__(
        self,
        status: int,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _invalid(name: str, message: str) -> ScalarError:
    return ScalarError(400, problem(400, errors={name: [message]}))


@dataclass
class Recorded:
    """One request as the fake received it, and the status it answered (0: dropped)."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int = 0
    injected: bool = False  # the answer came from a hook, not from the checks
    fields: dict[str, str] = field(default_factory=dict)  # multipart text fields, when parsed

    @property
    def route(self) -> str:
        return TOKEN if self.path == TOKEN_PATH else SEND if self.path == SEND_PATH else ""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Part:
    """One ``multipart/form-data`` part."""

    name: str
    filename: str | None
    content_type: str
    content: bytes


@dataclass
class SentMessage:
    """A message the fake accepted."""

    message_id: str
    sender: str
    recipient: str
    conversation_id: str
    content_type: str  # text, image or file
    text: str | None  # the text, or an image/file's caption
    sent_at: datetime
    file_name: str | None = None
    file_type: str | None = None
    file_bytes: bytes | None = None


@dataclass(frozen=True)
class _Injected:
    status: int
    body: Any
    headers: dict[str, str]
    route: str


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


def _json_reply(status: int, payload: Any, content_type: str = JSON) -> _Reply:
    return _Reply(status, json.dumps(payload, ensure_ascii=False).encode(), content_type)


class FakeScalar(FakeServer):
    """The fake SCALAR; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        audience: str = AUDIENCE,
        user_id: str = USER_ID,
        sender_field: str = "senderId",
        recipient_field: str = "recipientId",
        token_lifetime: float = 3600,
        lifetime_key: str = "expriesIn",  # sic, as documented; "expiresIn" or "" (none) too
        answer: str = "messageId",  # or "id", "nested"
        sniff: bool = True,
        max_file_size: int = MAX_FILE_SIZE,
    ) -> None:
        super().__init__()
        if answer not in ("messageId", "id", "nested"):
            raise ValueError("answer must be 'messageId', 'id' or 'nested'")
        self.client_id = client_id
        self.client_secret = client_secret
        self.audience = audience
        self.user_id = user_id
        self.sender_field = sender_field
        self.recipient_field = recipient_field
        self.token_lifetime = token_lifetime
        self.lifetime_key = lifetime_key
        self.answer = answer
        self.sniff = sniff
        self.max_file_size = max_file_size
        self.subscription_id = SUBSCRIPTION_ID

        self.users: set[str] = {user_id}
        self.drivers: set[str] = set()
        self.groups: set[str] = set()
        self.tokens: dict[str, float] = {}  # token -> expiry (time.time())
        self.messages: list[SentMessage] = []

        self.requests: list[Recorded] = []
        self.crashes: list[str] = []  # tracebacks of the fake's own bugs
        self._injected: list[_Injected] = []
        self._drops = 0
        self._delays: list[tuple[float, str]] = []

    # --- where it listens, and a channel pointing at it ----------------------------------------

    @property
    def auth_url(self) -> str:
        return self.base_url + TOKEN_PATH

    @property
    def messaging_url(self) -> str:
        return self.base_url + MESSAGING_PREFIX

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """A SCALAR channel's plain settings for this fake (``overrides`` win)."""
        return {
            "auth_url": self.auth_url,
            "messaging_url": self.messaging_url,
            "client_id": self.client_id,
            "audience": self.audience,
            "sender_id": self.user_id,
            "sender_field": self.sender_field,
            "recipient_field": self.recipient_field,
        } | overrides

    def credentials(self) -> dict[str, str]:
        return {"client_secret": self.client_secret}

    # --- lifecycle -----------------------------------------------------------------------------

    # --- test hooks ----------------------------------------------------------------------------

    def add_driver(self, driver_id: str | None = None) -> str:
        """A driver of the organisation, who can be sent to (a new id by default)."""
        driver = driver_id or str(uuid.uuid4())
        with self._lock:
            self.drivers.add(driver)
        return driver

    def add_group(self, group_id: str | None = None) -> str:
        """A group chat of the organisation (its id is its conversationId and recipientId)."""
        group = group_id or str(uuid.uuid4())
        with self._lock:
            self.groups.add(group)
        return group

    def fail_next(
        self,
        status: int = 500,
        *,
        count: int = 1,
        route: str = "",
        detail: str = "The service is temporarily unavailable.",
        code: str = "",
        retry_after: str | float | None = None,
    ) -> None:
        """Answer the next ``count`` requests (of ``route``: ``"token"`` or ``"send"``, if
        given) with a problem-details error, before any check."""
        body = problem(status, detail=detail, code=code)
        headers = {} if retry_after is None else {"Retry-After": _header_value(retry_after)}
        self.answer_next(status, body, count=count, route=route, headers=headers)

    def answer_next(
        self,
        status: int,
        body: Any = None,
        *,
        count: int = 1,
        route: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``count`` requests (of ``route``) with ``body`` — JSON, or raw
        ``bytes``/``str`` — and nothing else: no check, no token, no message."""
        injected = _Injected(status, body, dict(headers or {}), route)
        with self._lock:
            self._injected.extend([injected] * count)

    def drop_next(self, count: int = 1) -> None:
        """Close the connection of the next ``count`` requests without answering."""
        with self._lock:
            self._drops += count

    def delay_next(self, seconds: float, *, count: int = 1, route: str = "") -> None:
        """Wait ``seconds`` before answering each of the next ``count`` requests (of
        ``route``); the request is then handled as usual."""
        with self._lock:
            self._delays.extend([(seconds, route)] * count)

    def expire_tokens(self) -> None:
        """Every token issued so far has expired: the next send with one gets a 401."""
        with self._lock:
            for token in self.tokens:
                self.tokens[token] = 0.0

    def rejected(self) -> list[Recorded]:
        """Requests the fake's own checks refused with a 4xx (hook answers excluded)."""
        return [r for r in self.requests if 400 <= r.status < 500 and not r.injected]

    def requests_to(self, route: str) -> list[Recorded]:
        """Recorded requests of one route: ``"token"`` or ``"send"``."""
        return [r for r in self.requests if r.route == route]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def message(self, message_id: str) -> SentMessage:
        with self._lock:
            for message in self.messages:
                if message.message_id == message_id:
                    return message
        raise KeyError(message_id)

    # --- the Datahub Subscription's view of sent messages --------------------------------------

    def event_for(
        self,
        message_id: str,
        status: str = "Pending",
        *,
        history: Sequence[str] | None = None,
        at: Mapping[str, datetime] | None = None,
        prefixed: bool = False,
    ) -> dict[str, Any]:
        """One ``eventsData`` entry announcing that the sent message ``message_id`` reached
        ``status`` (Pending: the ``message.sent`` echo; Delivered, Seen, Recalled).

        The snapshot is the full message, as on every SCALAR event, with the status history of
        ``history`` (by default the chain to ``status``) at the send time plus
        :data:`STEP_DELAYS` unless ``at`` names a status's time. ``prefixed`` spells the type
        ``messaging.message.…``, as the vendor sometimes does.
        """
        message = self.message(message_id)
        chain = tuple(history) if history is not None else CHAINS.get(status)
        if not chain:
            raise ValueError(f"no status chain for {status!r}: pass history")
        when = dict(at or {})

        def moment(step: str) -> datetime:
            return when.get(step) or message.sent_at + STEP_DELAYS.get(step, timedelta(minutes=1))

        last = moment(chain[-1])
        event_type = EVENT_TYPES.get(chain[-1], "message." + chain[-1][:1].lower() + chain[-1][1:])
        return {
            "eventType": ("messaging." if prefixed else "") + event_type,
            "eventVersion": 1,
            "eventData": {
                "registeredOn": timestamp(last),
                "messageId": message.message_id,
                "conversationId": message.conversation_id,
                "conversationType": "chat",
                "sender": {"senderId": message.sender, "roleType": "User"},
                "recipientId": message.recipient,
                "contentType": message.content_type,
                "content": message.text,
                "replyToMessageId": None,
                "statusHistory": {
                    "currentStatus": chain[-1],
                    "lastUpdatedAt": timestamp(last),
                    "events": [
                        {"status": step, "timestamp": timestamp(moment(step))} for step in chain
                    ],
                },
            },
        }

    def batch(self, *events: Mapping[str, Any], at: datetime | None = None) -> dict[str, Any]:
        """A DHS batch of ``events`` (entries of :meth:`event_for`, or any others)."""
        return {
            "eventBatchId": str(uuid.uuid4()),
            "eventSubscriptionId": self.subscription_id,
            "eventBatchTime": batch_time(at or datetime.now(UTC)),
            "eventsData": [dict(event) for event in events],
        }

    def batch_for(self, message_id: str, status: str = "Pending", **options: Any) -> dict[str, Any]:
        """The DHS batch of one :meth:`event_for` entry, e.g. ``batch_for(id, "Delivered")``."""
        return self.batch(self.event_for(message_id, status, **options))

    # --- plumbing: one request -----------------------------------------------------------------

    def _serve(self, handler: Handler) -> None:
        try:
            body = read_body(handler)
        except ValueError:
            handler.close_connection = True
            handler.send_error(400)
            return
        record = Recorded(
            method=handler.command,
            path=urlsplit(handler.path).path,
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(record)
            drop = self._drops > 0
            self._drops -= drop
            delay = self._take(self._delays, record.route)
            injected = None if drop else self._take(self._injected, record.route)
        if drop:
            record.injected = True
            handler.close_connection = True
            abort(handler.connection)
            return
        if delay:
            time.sleep(delay[0])
        if injected is not None:
            record.injected = True
            reply = _injected_reply(injected)
        else:
            reply = self._answer(record)
        record.status = reply.status
        self._write(handler, reply)

    @staticmethod
    def _take(queue: list[Any], route: str) -> Any:
        for index, entry in enumerate(queue):
            wanted = entry[1] if isinstance(entry, tuple) else entry.route
            if not wanted or wanted == route:
                return queue.pop(index)
        return None

    def _answer(self, record: Recorded) -> _Reply:
        try:
            with self._lock:
                return self._dispatch(record)
        except ScalarError as exc:
            reply = (
                _Reply(exc.status)
                if exc.body is None
                else _json_reply(exc.status, exc.body, PROBLEM)
            )
            reply.headers.update(exc.headers)
            return reply
        except Exception:
            self.crashes.append(traceback.format_exc())
            return _json_reply(500, problem(500), PROBLEM)

    def _dispatch(self, record: Recorded) -> _Reply:
        handlers = {TOKEN_PATH: self._token, SEND_PATH: self._send}
        handler = handlers.get(record.path)
        if handler is None:
            raise ScalarError(404)
        if record.method != "POST":
            raise ScalarError(405, headers={"Allow": "POST"})
        return handler(record)

    def _write(self, handler: Handler, reply: _Reply) -> None:
        try:
            handler.send_response(reply.status)
            if reply.body or reply.status != 204:
                if reply.body:
                    handler.send_header("Content-Type", reply.content_type)
                handler.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Request-Context", f"appId=cid-v1:{SUBSCRIPTION_ID}")
            handler.end_headers()
            if reply.body:
                handler.wfile.write(reply.body)
        except OSError:  # the client went away (a timeout)
            handler.close_connection = True

    # --- the token endpoint --------------------------------------------------------------------

    def _token(self, record: Recorded) -> _Reply:
        if not record.headers.get("content-type", "").startswith("application/json"):
            raise ScalarError(415, problem(415))
        try:
            body = json.loads(record.body)
        except ValueError:
            raise _invalid("$", "The JSON value could not be converted.") from None
        if not isinstance(body, dict):
            raise _invalid("$", "The JSON value could not be converted to a request.")
        missing = {
            name: [f"The {name} field is required."]
            for name in ("clientId", "clientSecret", "audience")
            if not isinstance(body.get(name), str) or not body[name]
        }
        if missing:
            raise ScalarError(400, problem(400, errors=missing))
        if body["audience"] != self.audience:
            raise ScalarError(
                400,
                problem(400, detail="The requested audience is not known.", code="InvalidAudience"),
            )
        known = hmac.compare_digest(body["clientId"].encode(), self.client_id.encode())
        known &= hmac.compare_digest(body["clientSecret"].encode(), self.client_secret.encode())
        if not known:
            raise ScalarError(
                401,
                problem(401, detail="Invalid client credentials.", code="InvalidClientCredentials"),
            )
        token = "eyJ" + secrets.token_urlsafe(40)
        self.tokens[token] = time.time() + self.token_lifetime
        answer: dict[str, Any] = {"accessToken": token, "tokenType": "Bearer"}
        if self.lifetime_key:
            answer[self.lifetime_key] = int(self.token_lifetime)
        return _json_reply(200, answer)

    # --- the messaging API ---------------------------------------------------------------------

    def _send(self, record: Recorded) -> _Reply:
        self._authenticate(record.headers.get("authorization", ""))
        content_type = record.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise ScalarError(415, problem(415))
        parts = _parse_multipart(content_type, record.body)
        if parts is None:
            raise _invalid("$", "The multipart body could not be read.")
        fields, upload = self._fields(parts)
        record.fields = dict(fields)

        conversation_type = fields["conversationType"]
        if conversation_type == "groupchat":
            raise ScalarError(
                400,
                problem(
                    400,
                    detail="Sending messages to group chats is not supported.",
                    code="GroupChatNotSupported",
                ),
            )
        if conversation_type != "chat":
            raise _invalid("conversationType", "The value must be one of: chat, groupchat.")
        kind = fields["contentType"]
        if kind not in CONTENT_TYPES:
            raise _invalid("contentType", "The value must be one of: text, image, file.")
        text = fields.get("content")
        if kind == "text":
            if upload is not None:
                raise _invalid("file", "A text message cannot carry a file.")
            if not text or not text.strip():
                raise _invalid("content", "The content field is required for text messages.")
        else:
            self._check_file(kind, upload)

        sender, recipient = fields[self.sender_field], fields[self.recipient_field]
        if sender not in self.users:
            raise _invalid(self.sender_field, f"'{sender}' is not a user of the organisation.")
        if recipient in self.groups:
            raise ScalarError(
                400,
                problem(
                    400,
                    detail=f"'{recipient}' is a group chat, not a chat participant.",
                    code="GroupChatNotSupported",
                ),
            )
        if recipient not in self.drivers:
            raise ScalarError(
                404,
                problem(404, detail=f"Recipient '{recipient}' was not found.", code="NotFound"),
            )
        message = SentMessage(
            message_id=str(uuid.uuid4()),
            sender=sender,
            recipient=recipient,
            conversation_id=f"{sender}:{recipient}",
            content_type=kind,
            text=text if text else None,
            sent_at=datetime.now(UTC).replace(microsecond=0),
            file_name=upload.filename if upload else None,
            file_type=upload.content_type if upload else None,
            file_bytes=upload.content if upload else None,
        )
        self.messages.append(message)
        return _json_reply(200, self._answer_for(message))

    def _authenticate(self, header: str) -> None:
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            raise ScalarError(401, headers={"WWW-Authenticate": "Bearer"})
        expiry = next(
            (e for t, e in self.tokens.items() if hmac.compare_digest(t.encode(), token.encode())),
            None,
        )
        if expiry is None:
            raise ScalarError(
                401,
                headers={
                    "WWW-Authenticate": 'Bearer error="invalid_token", '
                    'error_description="The signature is invalid"'
                },
            )
        if expiry <= time.time():
            raise ScalarError(
                401,
                headers={
                    "WWW-Authenticate": 'Bearer error="invalid_token", '
                    'error_description="The token expired"'
                },
            )

    def _fields(self, parts: list[Part]) -> tuple[dict[str, str], Part | None]:
        names = (self.sender_field, self.recipient_field, "conversationType", "contentType")
        allowed = {*names, "content", "file"}
        errors: dict[str, list[str]] = {}
        seen: set[str] = set()
        for part in parts:
            if part.name not in allowed:
                errors.setdefault(part.name or "(unnamed)", []).append("Unknown field.")
            elif part.name in seen:
                errors.setdefault(part.name, []).append("The field is given more than once.")
            seen.add(part.name)
        fields = {p.name: p.content.decode("utf-8", "replace") for p in parts if p.name != "file"}
        for name in names:
            if not fields.get(name):
                errors.setdefault(name, []).append(f"The {name} field is required.")
        uploads = [p for p in parts if p.name == "file"]
        upload = uploads[0] if uploads else None
        if upload is not None and not upload.filename:
            errors.setdefault("file", []).append("The file must have a file name.")
        if errors:
            raise ScalarError(400, problem(400, errors=errors))
        return fields, upload

    def _check_file(self, kind: str, upload: Part | None) -> None:
        if upload is None:
            raise _invalid("file", f"The file field is required for {kind} messages.")
        media_type = upload.content_type.split(";")[0].strip().lower()
        if media_type not in MEDIA_TYPES[kind]:
            allowed = ", ".join(MEDIA_TYPES[kind])
            raise _invalid("file", f"A {kind} message takes {allowed}, not {media_type}.")
        if len(upload.content) > self.max_file_size:
            raise ScalarError(
                413,
                problem(
                    413, detail=f"The file exceeds {self.max_file_size} bytes.", code="TooLarge"
                ),
            )
        if not upload.content:
            raise _invalid("file", "The file is empty.")
        if self.sniff and not upload.content.startswith(_SIGNATURES[media_type]):
            raise _invalid("file", f"The file content is not {media_type}.")

    def _answer_for(self, message: SentMessage) -> dict[str, Any]:
        details = {
            "messageId": message.message_id,
            "conversationId": message.conversation_id,
            "registeredOn": timestamp(message.sent_at),
        }
        if self.answer == "id":
            return {"id": message.message_id}
        if self.answer == "nested":
            return {"data": details}
        return details


# --- HTTP plumbing -----------------------------------------------------------------------------


def _header_value(value: str | float) -> str:
    return value if isinstance(value, str) else f"{value:g}"


def _injected_reply(injected: _Injected) -> _Reply:
    body = injected.body
    if body is None:
        reply = _Reply(injected.status)
    elif isinstance(body, bytes | str):
        raw = body.encode() if isinstance(body, str) else body
        reply = _Reply(injected.status, raw, "text/plain; charset=utf-8")
    else:
        problem_like = isinstance(body, Mapping) and "traceId" in body
        reply = _json_reply(injected.status, body, PROBLEM if problem_like else JSON)
    reply.headers.update(injected.headers)
    return reply


def _parse_multipart(content_type: str, body: bytes) -> list[Part] | None:
    """The parts of a ``multipart/form-data`` body, in order; ``None`` if it is not one.

    File names arrive as raw UTF-8 with ``"`` escaped as ``%22`` (HTML5 form encoding, what
    browsers and httpx send).
    """
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if boundary is None:
        return None
    delimiter = b"--" + boundary.group(1).encode()
    pieces = body.split(delimiter)
    if len(pieces) < 3 or not pieces[-1].startswith(b"--"):
        return None
    parts = []
    for piece in pieces[1:-1]:
        head, separator, content = piece.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            return None
        headers = {}
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode(
                "utf-8", "replace"
            )
        params = {
            key.lower(): re.sub(r"\\(.)", r"\1", value).replace("%22", '"')
            for key, value in re.findall(
                r';\s*([\w*]+)="((?:[^"\\]|\\.)*)"', headers.get("content-disposition", "")
            )
        }
        parts.append(
            Part(
                name=params.get("name", ""),
                filename=params.get("filename"),
                content_type=headers.get("content-type", "text/plain"),
                content=content.removesuffix(b"\r\n"),
            )
        )
    return parts


def statuses_of(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(eventType, currentStatus)`` of each entry of a batch (for assertions)."""
    entries: Iterable[Mapping[str, Any]] = document.get("eventsData", [])
    return [
        (entry["eventType"], entry["eventData"]["statusHistory"]["currentStatus"])
        for entry in entries
    ]
