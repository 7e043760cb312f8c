"""A fake LivePerson: Sentinel, the IDP, the messaging service and swift on one real HTTP server.

Each service has its own paths, so a client configured with :attr:`FakeLivePerson.base_url` for
all four hosts (see :meth:`FakeLivePerson.settings`) reaches them all:

* ``POST /sentinel/api/account/{acct}/app/token?v=1.0&grant_type=client_credentials`` (form
  ``client_id``, ``client_secret``) issues AppJWTs (HS256 JWTs with ``exp``);
* ``POST /api/account/{acct}/consumer?v=1.0`` (``Authorization: <AppJWT>``, ``{"ext_consumer_id"}``)
  issues ConsumerJWSs whose ``lp_consumer_id`` is stable per ext_consumer_id;
* ``POST /api/account/{acct}/messaging/consumer/conversation?v=3`` (an array of requests) and
  ``…/conversation/send?v=3`` (one request) carry the conversation calls, with
  ``Authorization: <AppJWT>`` and ``X-LP-ON-BEHALF: <ConsumerJWS>``;
* ``PUT`` / ``GET /v1/AUTH_async-images/{acct}/…?temp_url_sig=…&temp_url_expires=…`` store and
  serve files through temporary URLs the messaging service signed.

It is as strict as LivePerson where a client can get things wrong: a bare ``Authorization``
(``Bearer …`` is refused), tokens it issued, the ``v`` query parameters, JSON media types,
request envelopes (``kind``, ``id``, ``type``, ``body``) and each request type's body fields,
the 5000-character limit, dialogs, sequences, file paths and URL signatures. Errors come in
LivePerson's shapes: ``{kind: resp, code, body: {title, details, errorCode}}`` at the HTTP level
(401 errorCode 40102 for an expired AppJWT, 40104 for a missing one), ``{code: BAD_REQUEST,
body: {msg}, reqId}`` inside a 200 answer. Error codes and wordings LivePerson does not document
(40101, 40103, 40105) are the fake's own.

Conversations are kept (open/closed, one MAIN dialog whose id is the conversation's, a sequence
per dialog) and every published event is recorded (:attr:`FakeLivePerson.published`). The
webhook builders (:meth:`echo_of`, :meth:`agent_message`, :meth:`agent_read`, …) return the
``ms.MessagingEventNotification`` / ``cqm.ExConversationChangeNotification`` documents LivePerson
would deliver for them.

Test hooks: :meth:`fail_next`, :meth:`delay_next`, :meth:`drop_next`, :meth:`expire_app_token`,
:meth:`close_conversation`, :meth:`add_conversation`, :meth:`add_file`, :meth:`down` /
:meth:`up`, the log :attr:`requests` and :meth:`rejected` (requests the fake's checks refused).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from tests.fakes.server import FakeServer, Handler, abort, read_body

ACCOUNT_ID = "73820514"
CLIENT_ID = "5d0e9b3a-41c7-4f26-9a8e-2b6c71d40f95"
CLIENT_SECRET = "k8Qm2vTz5rWx1yLp7nHc4bJd"
AGENT_ID = "3f9a2c17-6b4e-5d81-9e0c-a2b7d4f6c813"
MAX_REQUEST_CHARS = 5000
MAX_FILE_SIZE = 3 * 1024 * 1024
TEMP_URL_SECONDS = 60
FILE_TYPES = {"JPG", "JPEG", "PNG", "GIF"}
MESSAGING = "ms.MessagingEventNotification"
CONVERSATION = "cqm.ExConversationChangeNotification"
CLOSED_MESSAGE = "Bad Request, Conversation is close"

_ACCOUNT_PATH = r"/api/account/(?P<account>[^/]+)"
_ROUTES = {
    "token": re.compile(r"/sentinel/api/account/(?P<account>[^/]+)/app/token"),
    "consumer": re.compile(_ACCOUNT_PATH + r"/consumer"),
    "open": re.compile(_ACCOUNT_PATH + r"/messaging/consumer/conversation"),
    "send": re.compile(_ACCOUNT_PATH + r"/messaging/consumer/conversation/send"),
    "file": re.compile(r"/v1/AUTH_async-images/(?P<account>[^/]+)/(?P<name>[A-Za-z0-9_.-]+)"),
}
_PREVIEW = re.compile(r"data:image/(png|jpeg|gif);base64,([A-Za-z0-9+/]+={0,2})")
_CHAT_STATES = {"ACTIVE", "INACTIVE", "GONE", "COMPOSING", "PAUSE"}
_RECEIPTS = {"ACCEPT", "READ", "ACCESS", "NACK", "ACTION"}
_PUBLISH_KEYS = {"dialogId", "conversationId", "event"}


def now_ms() -> int:
    return int(time.time() * 1000)


class _Refused(Exception):
    """An HTTP-level error answer in LivePerson's shape."""

    def __init__(
        self, status: int, title: str, details: str, error_code: int, *, invalid: bool = True
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.details = details
        self.error_code = error_code
        self.invalid = invalid  # the client's fault (recorded as a rejection)

    def document(self) -> dict[str, Any]:
        return error_document(self.status, self.title, self.details, self.error_code)


class _BadRequest(Exception):
    """An inner ``BAD_REQUEST`` answer to one request of a conversation call."""

    def __init__(self, msg: str, *, invalid: bool = True, **extra: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.invalid = invalid
        self.extra = extra


def error_document(status: int, title: str, details: str, error_code: int) -> dict[str, Any]:
    return {
        "kind": "resp",
        "code": status,
        "body": {"title": title, "details": details, "errorCode": error_code},
        "type": ".ReqBody$ErrorResp",
    }


@dataclass
class Recorded:
    """One request as the fake received it and how it answered (status 0: dropped)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int = 0
    answer: Any = None  # the JSON answered, if any
    injected: bool = False  # the answer came from a hook, not from the checks
    refusals: list[str] = field(default_factory=list)  # what the checks found wrong

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Conversation:
    id: str
    consumer: str  # lp_consumer_id
    brand_id: str
    skill_id: str
    state: str = "OPEN"
    started: int = field(default_factory=now_ms)
    updated: int = field(default_factory=now_ms)
    ended: int | None = None
    closed_by: str = ""
    agents: list[str] = field(default_factory=list)
    next_sequence: int = 0  # of the MAIN dialog (its id is the conversation's)


@dataclass(frozen=True)
class Published:
    """One event in a dialog: what a consumer published, or what the fake's agents did."""

    conversation_id: str
    dialog_id: str
    sequence: int | None
    originator: str
    role: str
    event: dict[str, Any]
    server_timestamp: int
    audience: str = "ALL"


@dataclass
class StoredFile:
    path: str
    file_type: str
    declared_size: int
    content: bytes | None = None
    content_type: str = ""


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json_reply(status: int, payload: Any) -> _Reply:
    return _Reply(status, json.dumps(payload, ensure_ascii=False).encode())


class FakeLivePerson(FakeServer):
    """The fake; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        *,
        account_id: str = ACCOUNT_ID,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        app_token_ttl: int = 3600,
        send_expires_in: bool = False,
        names_open_conversation: bool = False,
    ) -> None:
        super().__init__()
        self.account_id = account_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.app_token_ttl = app_token_ttl
        self.send_expires_in = send_expires_in  # Sentinel's answer carries expires_in
        # The "already has open conversation" answer names the open one (conversationId).
        self.names_open_conversation = names_open_conversation
        self._key = uuid.uuid4().hex  # signs tokens and temporary URLs

        self.app_tokens: dict[str, float] = {}  # AppJWT -> its end (epoch seconds)
        self.expired: set[str] = set()
        self.consumer_tokens: dict[str, str] = {}  # ConsumerJWS -> lp_consumer_id
        self.consumers: dict[str, str] = {}  # lp_consumer_id -> ext_consumer_id
        self.conversations: dict[str, Conversation] = {}
        self.files: dict[str, StoredFile] = {}
        self.published: list[Published] = []
        self.requests: list[Recorded] = []
        self.crashes: list[str] = []

        self._failures: list[tuple[str, _Reply]] = []
        self._delays: list[float] = []
        self._drops = 0

    # --- server lifecycle ----------------------------------------------------------------------

    def settings(self, **overrides: str) -> dict[str, str]:
        """Channel settings pointing every service at this fake."""
        return {
            "account_id": self.account_id,
            "client_id": self.client_id,
            "sentinel_url": self.base_url,
            "idp_url": self.base_url,
            "messaging_url": self.base_url,
            "swift_url": self.base_url,
            **overrides,
        }

    def credentials(self) -> dict[str, str]:
        return {"client_secret": self.client_secret}

    # --- test hooks ----------------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        body: Any = None,
        *,
        retry_after: float | None = None,
        route: str = "",
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` requests (whose path ends with ``route``, if given) with
        ``status`` and ``body`` (JSON; LivePerson's HTTP error document by default), before any
        check. A ``body`` with ``"{reqId}"`` strings gets the request's id put in."""
        if body is None:
            body = error_document(status, "Internal Server Error", "injected failure", status)
        reply = _json_reply(status, body)
        if retry_after is not None:
            reply.headers["Retry-After"] = f"{retry_after:g}"
        with self._lock:
            self._failures.extend([(route, reply)] * count)

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """Wait ``seconds`` before answering each of the next ``count`` requests."""
        with self._lock:
            self._delays.extend([seconds] * count)

    def drop_next(self, count: int = 1) -> None:
        """Close the connection of the next ``count`` requests without answering."""
        with self._lock:
            self._drops += count

    def expire_app_token(self) -> None:
        """Every AppJWT issued so far has expired: the next call answers 401 errorCode 40102."""
        with self._lock:
            self.expired.update(self.app_tokens)

    def close_conversation(self, conversation_id: str, *, by: str = "AGENT") -> dict[str, Any]:
        """An agent (or the system) closes the conversation: sends to it answer "Conversation
        is close". Returns the conversation notification LivePerson would send."""
        with self._lock:
            conversation = self.conversations[conversation_id]
            self._close(conversation, by)
            return self.conversation_notification(conversation_id)

    def add_conversation(self, ext_consumer_id: str) -> str:
        """A conversation the consumer opened elsewhere (another channel, the web)."""
        with self._lock:
            conversation = Conversation(
                id=str(uuid.uuid4()),
                consumer=self.consumer_id(ext_consumer_id),
                brand_id=self.account_id,
                skill_id="-1",
            )
            self.conversations[conversation.id] = conversation
            return conversation.id

    def consumer_id(self, ext_consumer_id: str) -> str:
        """The lp_consumer_id LivePerson gives the consumer (stable, like the real one)."""
        lp_id = hashlib.sha256(f"{self.account_id}:{ext_consumer_id}".encode()).hexdigest()
        with self._lock:
            self.consumers.setdefault(lp_id, ext_consumer_id)
        return lp_id

    def add_file(self, content: bytes, file_type: str = "PNG", owner: str = AGENT_ID) -> str:
        """A file in storage (one an agent sent); returns its relative path."""
        with self._lock:
            stored = self._new_file(owner, file_type, len(content))
            stored.content = content
            stored.content_type = {"JPG": "image/jpeg", "GIF": "image/gif"}.get(
                file_type, "image/png"
            )
            return stored.path

    def rejected(self) -> list[Recorded]:
        """Requests the fake's own checks refused (injected failures excluded)."""
        return [r for r in self.requests if r.refusals and not r.injected]

    def requests_to(self, route: str, method: str | None = None) -> list[Recorded]:
        """Recorded requests whose path ends with ``route``."""
        return [
            r
            for r in self.requests
            if r.path.endswith(route) and (method is None or r.method == method)
        ]

    def conversation_calls(self) -> list[dict[str, Any]]:
        """Every request object of every conversation call, in order."""
        calls: list[dict[str, Any]] = []
        for record in self.requests:
            if "/messaging/consumer/conversation" in record.path and record.body:
                try:
                    document = record.json()
                except ValueError:
                    continue
                calls.extend(document if isinstance(document, list) else [document])
        return calls

    # --- webhooks the platform would send ------------------------------------------------------

    def echo_of(self, event: Published) -> dict[str, Any]:
        """The notification LivePerson delivers for a published event (our consumer's echo,
        or an agent's event)."""
        return {"kind": "notification", "body": {"changes": [_change(event)]}, "type": MESSAGING}

    def agent_message(
        self, conversation_id: str, text: str, *, agent: str = AGENT_ID, audience: str = "ALL"
    ) -> dict[str, Any]:
        """An agent writes in the conversation; returns the webhook document."""
        event = {"type": "ContentEvent", "contentType": "text/plain", "message": text}
        return self.echo_of(self._agent_event(conversation_id, agent, event, audience=audience))

    def agent_file(
        self, conversation_id: str, content: bytes, *, caption: str = "", agent: str = AGENT_ID
    ) -> dict[str, Any]:
        """An agent sends a PNG; returns the webhook document (its relativePath inside)."""
        path = self.add_file(content, "PNG", agent)
        message = {"caption": caption, "relativePath": path, "fileType": "PNG"}
        event = {"type": "ContentEvent", "contentType": "hosted/file", "message": message}
        return self.echo_of(self._agent_event(conversation_id, agent, event))

    def agent_read(
        self, conversation_id: str, sequences: list[int], *, agent: str = AGENT_ID
    ) -> dict[str, Any]:
        """The agent reads the consumer's messages with these sequences."""
        event = {"type": "AcceptStatusEvent", "status": "READ", "sequenceList": list(sequences)}
        return self.echo_of(self._agent_event(conversation_id, agent, event))

    def agent_typing(
        self, conversation_id: str, composing: bool = True, *, agent: str = AGENT_ID
    ) -> dict[str, Any]:
        event = {"type": "ChatStateEvent", "chatState": "COMPOSING" if composing else "ACTIVE"}
        return self.echo_of(self._agent_event(conversation_id, agent, event))

    def conversation_notification(self, conversation_id: str) -> dict[str, Any]:
        """The ``cqm.ExConversationChangeNotification`` of the conversation's present state."""
        with self._lock:
            c = self.conversations[conversation_id]
            participants = [{"id": c.consumer, "role": "CONSUMER"}] + [
                {"id": agent, "role": "ASSIGNED_AGENT"} for agent in c.agents
            ]
            dialog: dict[str, Any] = {
                "dialogId": c.id,
                "participantsDetails": [dict(p, state="ACTIVE") for p in participants],
                "dialogType": "MAIN",
                "channelType": "MESSAGING",
                "state": c.state,
                "creationTs": c.started,
                "metaDataLastUpdateTs": c.updated,
            }
            details: dict[str, Any] = {
                "skillId": c.skill_id,
                "participants": participants,
                "dialogs": [dialog],
                "brandId": c.brand_id,
                "state": c.state,
                "stage": c.state,
                "startTs": c.started,
                "metaDataLastUpdateTs": c.updated,
            }
            if c.ended is not None:
                dialog |= {"endTs": c.ended, "closedBy": c.closed_by}
                details |= {"endTs": c.ended, "closeReason": c.closed_by}
            change = {
                "type": "UPSERT",
                "result": {"convId": c.id, "effectiveTTR": -1, "conversationDetails": details},
            }
            return {"kind": "notification", "body": {"changes": [change]}, "type": CONVERSATION}

    # --- plumbing: one request -----------------------------------------------------------------

    def _serve(self, handler: Handler) -> None:
        try:
            body = read_body(handler)
        except ValueError:
            handler.close_connection = True
            handler.send_error(400)
            return
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
            drop = self._drops > 0
            self._drops -= drop
            delay = self._delays.pop(0) if self._delays else 0.0
            failure = None if drop else self._take_failure(record.path)
        if drop:
            record.injected = True
            handler.close_connection = True
            abort(handler.connection)
            return
        if delay:
            time.sleep(delay)
        if failure is not None:
            record.injected = True
            reply = _with_request_id(failure, record)
        else:
            reply = self._answer(record)
        record.status = reply.status
        if reply.content_type == "application/json" and reply.body:
            record.answer = json.loads(reply.body)
        self._write(handler, reply)

    def _take_failure(self, path: str) -> _Reply | None:
        for index, (route, _) in enumerate(self._failures):
            if path.endswith(route):
                return self._failures.pop(index)[1]
        return None

    def _answer(self, record: Recorded) -> _Reply:
        try:
            with self._lock:
                return self._dispatch(record)
        except _Refused as exc:
            if exc.invalid:
                record.refusals.append(f"{exc.title}: {exc.details}")
            return _json_reply(exc.status, exc.document())
        except Exception:
            self.crashes.append(traceback.format_exc())
            return _json_reply(500, error_document(500, "Internal Server Error", "fake bug", 500))

    def _dispatch(self, record: Recorded) -> _Reply:
        for name, pattern in _ROUTES.items():
            match = pattern.fullmatch(record.path)
            if match is None:
                continue
            if match.group("account") != self.account_id:
                raise _Refused(404, "Not Found", "unknown account", 40400)
            if name == "file":
                if record.method == "PUT":
                    return self._put_file(record)
                if record.method == "GET":
                    return self._get_file(record)
                raise _Refused(405, "Method Not Allowed", record.method, 40500)
            if record.method != "POST":
                raise _Refused(405, "Method Not Allowed", record.method, 40500)
            handler: Callable[[Recorded], _Reply] = {
                "token": self._token,
                "consumer": self._consumer,
                "open": self._open,
                "send": self._send,
            }[name]
            return handler(record)
        raise _Refused(404, "Not Found", f"no route {record.path}", 40400)

    def _write(self, handler: Handler, reply: _Reply) -> None:
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            for start in range(0, len(reply.body), 64 * 1024):
                handler.wfile.write(reply.body[start : start + 64 * 1024])
        except OSError:  # the client went away (a stopped download)
            handler.close_connection = True

    # --- Sentinel and IDP ----------------------------------------------------------------------

    def _token(self, record: Recorded) -> _Reply:
        _expect_query(record, {"v": "1.0", "grant_type": "client_credentials"})
        if not record.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            raise _Refused(400, "Bad Request", "the body must be a form", 40000)
        form = parse_qs(record.body.decode(), keep_blank_values=True)
        client_id = form.get("client_id", [""])[0]
        secret = form.get("client_secret", [""])[0]
        if not (
            hmac.compare_digest(client_id.encode(), self.client_id.encode())
            and hmac.compare_digest(secret.encode(), self.client_secret.encode())
        ):
            # Wrong credentials are a configuration fault, not an invalid request.
            raise _Refused(401, "Unauthorized", "invalid client credentials", 40101, invalid=False)
        issued = int(time.time())
        claims = {
            "aud": self.account_id,
            "azp": self.client_id,
            "scope": "msg.consumer",
            "iss": "Sentinel",
            "exp": issued + self.app_token_ttl,
            "iat": issued,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._key, algorithm="HS256")
        self.app_tokens[token] = float(claims["exp"])
        answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.send_expires_in:
            answer["expires_in"] = self.app_token_ttl
        return _json_reply(200, answer)

    def _consumer(self, record: Recorded) -> _Reply:
        _expect_query(record, {"v": "1.0"})
        self._check_app_token(record)
        body = _json_object(record)
        ext = body.get("ext_consumer_id")
        if set(body) != {"ext_consumer_id"} or not isinstance(ext, str) or not ext:
            raise _Refused(400, "Bad Request", "expected {ext_consumer_id}", 40000)
        lp_id = self.consumer_id(ext)
        claims = {"account_id": self.account_id, "ext_consumer_id": ext, "lp_consumer_id": lp_id}
        token = jwt.encode(claims, self._key, algorithm="HS256")
        self.consumer_tokens[token] = lp_id
        return _json_reply(201, {"token": token})

    def _check_app_token(self, record: Recorded) -> None:
        presented = record.headers.get("authorization", "")
        if not presented:
            raise _Refused(401, "AppJWT is missing", "AUTHORIZATION header is not present", 40104)
        if presented.lower().startswith("bearer "):
            raise _Refused(401, "AppJWT is invalid", "send the AppJWT bare, not as Bearer", 40103)
        ends = self.app_tokens.get(presented)
        if ends is None:
            raise _Refused(401, "AppJWT is invalid", "unknown token", 40103)
        if presented in self.expired or ends <= time.time():
            raise _Refused(401, "AppJWT is expired", "the token expired", 40102, invalid=False)

    # --- the messaging service -----------------------------------------------------------------

    def _messaging_call(self, record: Recorded) -> tuple[str, Any]:
        """The consumer speaking and the decoded body of a conversation call."""
        _expect_query(record, {"v": "3"})
        self._check_app_token(record)
        consumer = self.consumer_tokens.get(record.headers.get("x-lp-on-behalf", ""))
        if consumer is None:
            raise _Refused(401, "ConsumerJWS is invalid", "X-LP-ON-BEHALF is not a JWS", 40105)
        if not record.headers.get("content-type", "").startswith("application/json"):
            raise _Refused(400, "Bad Request", "Content-Type must be application/json", 40000)
        try:
            return consumer, json.loads(record.body)
        except ValueError:
            raise _Refused(400, "Bad Request", "the body is not JSON", 40000) from None

    def _open(self, record: Recorded) -> _Reply:
        consumer, requests = self._messaging_call(record)
        if not isinstance(requests, list) or not requests:
            raise _Refused(400, "Bad Request", "expected an array of requests", 40000)
        too_long = _too_long(record)
        return _json_reply(
            200, [self._one(record, consumer, request, too_long) for request in requests]
        )

    def _send(self, record: Recorded) -> _Reply:
        consumer, request = self._messaging_call(record)
        if not isinstance(request, dict):
            raise _Refused(400, "Bad Request", "expected one request object", 40000)
        return _json_reply(200, self._one(record, consumer, request, _too_long(record)))

    def _one(self, record: Recorded, consumer: str, request: Any, too_long: bool) -> dict[str, Any]:
        request_id = request.get("id") if isinstance(request, dict) else None
        try:
            if too_long:  # LivePerson says no more than this (fixture 04d)
                raise _BadRequest("Bad Request")
            if not isinstance(request, dict) or request.get("kind") != "req":
                raise _BadRequest("Bad Request: kind must be req")
            if set(request) != {"kind", "id", "type", "body"}:
                raise _BadRequest(f"Bad Request: unexpected keys {sorted(request)}")
            if not isinstance(request_id, str | int) or request_id in ("", None):
                raise _BadRequest("Bad Request: missing id")
            body = request["body"]
            if not isinstance(body, dict):
                raise _BadRequest("Bad Request: body must be an object")
            handler = self._request_handlers().get(request["type"])
            if handler is None:
                raise _BadRequest(f"Bad Request: unknown type {request['type']!r}")
            answer = handler(consumer, body)
        except _BadRequest as exc:
            if exc.invalid:
                record.refusals.append(exc.msg)
            return {
                "code": "BAD_REQUEST",
                "body": {"msg": exc.msg, **exc.extra},
                "reqId": request_id,
            }
        return {"code": "OK", "body": answer, "reqId": request_id}

    def _request_handlers(self) -> dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]]:
        return {
            "userprofile.SetUserProfile": self._set_user_profile,
            "cm.ConsumerRequestConversation": self._request_conversation,
            "cm.UpdateConversationField": self._update_conversation,
            "ms.PublishEvent": self._publish,
            "ms.GenerateURLForUploadFile": self._upload_url,
            "ms.GenerateURLForDownloadFile": self._download_url,
        }

    def _set_user_profile(self, consumer: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"msg": "OK User Profile set successfully"}

    def _request_conversation(self, consumer: str, body: dict[str, Any]) -> dict[str, Any]:
        brand, skill = body.get("brandId"), body.get("skillId", "-1")
        if not isinstance(brand, str) or brand != self.account_id:
            raise _BadRequest("Bad Request: brandId must be the account id")
        if not isinstance(skill, str) or not re.fullmatch(r"-1|\d+", skill):
            raise _BadRequest("Bad Request: skillId must be a skill id")
        open_one = next(
            (
                c
                for c in self.conversations.values()
                if c.consumer == consumer and c.state == "OPEN"
            ),
            None,
        )
        if open_one is not None:
            extra = {"conversationId": open_one.id} if self.names_open_conversation else {}
            raise _BadRequest(
                f"Consumer request conversation failed: User {consumer} already has open "
                "conversation. Can't open another one.",
                invalid=False,
                **extra,
            )
        conversation = Conversation(
            id=str(uuid.uuid4()), consumer=consumer, brand_id=brand, skill_id=skill
        )
        self.conversations[conversation.id] = conversation
        return {"conversationId": conversation.id}

    def _update_conversation(self, consumer: str, body: dict[str, Any]) -> dict[str, Any]:
        conversation = self._conversation_of(consumer, body.get("conversationId"))
        wanted = {"field": "ConversationStateField", "conversationState": "CLOSE"}
        if set(body) != {"conversationId", "conversationField"} or (
            body.get("conversationField") != wanted
        ):
            raise _BadRequest("Bad Request: only closing conversations is supported by the fake")
        if conversation.state == "OPEN":
            self._close(conversation, "CONSUMER")
        return {"msg": "OK Conversation resolved successfully"}

    def _publish(self, consumer: str, body: dict[str, Any]) -> dict[str, Any]:
        if not set(body) <= _PUBLISH_KEYS or "dialogId" not in body or "event" not in body:
            raise _BadRequest(f"Bad Request: expected {sorted(_PUBLISH_KEYS)}")
        conversation = self._conversation_of(consumer, body.get("dialogId"))
        if body.get("conversationId", conversation.id) != conversation.id:
            raise _BadRequest("Bad Request: the dialog is not in that conversation")
        event = body["event"]
        if not isinstance(event, dict):
            raise _BadRequest("Bad Request: event must be an object")
        sequenced = self._check_event(conversation, event)
        if conversation.state != "OPEN":
            raise _BadRequest(CLOSED_MESSAGE, invalid=False)
        published = self._record(conversation, consumer, "CONSUMER", event, sequenced=sequenced)
        return {"sequence": published.sequence} if sequenced else {}

    def _check_event(self, conversation: Conversation, event: dict[str, Any]) -> bool:
        """Refuses a malformed event; says whether it takes a sequence."""
        kind = event.get("type")
        if kind == "ChatStateEvent":
            if set(event) != {"type", "chatState"} or event["chatState"] not in _CHAT_STATES:
                raise _BadRequest("Bad Request: chatState")
            return False
        if kind == "AcceptStatusEvent":
            numbers = event.get("sequenceList")
            if (
                set(event) != {"type", "status", "sequenceList"}
                or event["status"] not in _RECEIPTS
                or not isinstance(numbers, list)
                or not numbers
                or not all(
                    isinstance(n, int) and 0 <= n < conversation.next_sequence for n in numbers
                )
            ):
                raise _BadRequest("Bad Request: status and sequenceList of published sequences")
            return True
        if kind != "ContentEvent" or set(event) != {"type", "contentType", "message"}:
            raise _BadRequest("Bad Request: unsupported event")
        message = event["message"]
        if event["contentType"] == "text/plain":
            if not isinstance(message, str) or not message:
                raise _BadRequest("Bad Request: message must be a text")
            return True
        if event["contentType"] != "hosted/file" or not isinstance(message, dict):
            raise _BadRequest("Bad Request: unsupported contentType")
        self._check_hosted_file(message)
        return True

    def _check_hosted_file(self, message: dict[str, Any]) -> None:
        if (
            not {"relativePath", "fileType"}
            <= set(message)
            <= {
                "relativePath",
                "fileType",
                "caption",
                "preview",
            }
        ):
            raise _BadRequest(
                "Bad Request: hosted/file takes relativePath, fileType, caption, preview"
            )
        stored = self.files.get(message["relativePath"])
        if stored is None or stored.content is None:
            raise _BadRequest("Bad Request: no file was uploaded to relativePath")
        file_type = message["fileType"]
        if file_type not in FILE_TYPES or _same_type(file_type) != _same_type(stored.file_type):
            raise _BadRequest(f"Bad Request: fileType {file_type!r} is not the file's")
        if not isinstance(message.get("caption", ""), str):
            raise _BadRequest("Bad Request: caption must be a text")
        preview = message.get("preview")
        if preview is not None:
            found = _PREVIEW.fullmatch(preview) if isinstance(preview, str) else None
            try:
                valid = found is not None and bool(base64.b64decode(found.group(2), validate=True))
            except binascii.Error:
                valid = False
            if not valid:
                raise _BadRequest("Bad Request: preview must be a data:image base64 URL")

    def _upload_url(self, consumer: str, body: dict[str, Any]) -> dict[str, Any]:
        size, file_type = body.get("fileSize"), body.get("fileType")
        if isinstance(size, str) and size.isdigit():
            size = int(size)
        if set(body) != {"fileSize", "fileType"} or not isinstance(size, int):
            raise _BadRequest("Bad Request: expected fileSize and fileType")
        if not 0 < size <= MAX_FILE_SIZE:
            raise _BadRequest(f"Bad Request: fileSize must be 1 to {MAX_FILE_SIZE}")
        if file_type not in FILE_TYPES:
            raise _BadRequest(f"Bad Request: fileType {file_type!r} is not supported")
        stored = self._new_file(consumer, str(file_type), size)
        return self._temp_url("PUT", stored.path)

    def _download_url(self, consumer: str, body: dict[str, Any]) -> dict[str, Any]:
        path = body.get("relativePath")
        stored = self.files.get(path) if isinstance(path, str) else None
        if set(body) != {"relativePath"} or stored is None or stored.content is None:
            raise _BadRequest("Bad Request: no such file")
        return self._temp_url("GET", stored.path)

    def _conversation_of(self, consumer: str, conversation_id: Any) -> Conversation:
        conversation = (
            self.conversations.get(conversation_id) if isinstance(conversation_id, str) else None
        )
        if conversation is None:
            raise _BadRequest(f"Bad Request: no conversation or dialog {conversation_id!r}")
        if conversation.consumer != consumer:
            raise _BadRequest("Bad Request: the consumer is not a participant of the conversation")
        return conversation

    # --- swift ---------------------------------------------------------------------------------

    def _temp_url(self, method: str, path: str) -> dict[str, Any]:
        expires = str(int(time.time()) + TEMP_URL_SECONDS)
        return {
            "relativePath": path,
            "queryParams": {
                "temp_url_sig": self._sign(method, expires, path),
                "temp_url_expires": expires,
            },
        }

    def _sign(self, method: str, expires: str, path: str) -> str:
        message = f"{method}\n{expires}\n{path}".encode()
        return hmac.new(self._key.encode(), message, hashlib.sha1).hexdigest()

    def _check_signature(self, record: Recorded) -> StoredFile:
        signature = record.query.get("temp_url_sig", [""])[0]
        expires = record.query.get("temp_url_expires", [""])[0]
        stored = self.files.get(record.path)
        if (
            stored is None
            or not expires.isdigit()
            or not hmac.compare_digest(signature, self._sign(record.method, expires, record.path))
        ):
            raise _Refused(401, "Unauthorized", "temp_url_sig is not valid for this URL", 40100)
        if int(expires) < time.time():
            raise _Refused(401, "Unauthorized", "the temporary URL expired", 40100, invalid=False)
        return stored

    def _put_file(self, record: Recorded) -> _Reply:
        stored = self._check_signature(record)
        if len(record.body) > MAX_FILE_SIZE:
            raise _Refused(413, "Request Entity Too Large", "files are at most 3 MB", 41300)
        if not record.body:
            raise _Refused(400, "Bad Request", "empty file", 40000)
        stored.content = record.body
        stored.content_type = record.headers.get("content-type", "application/octet-stream")
        return _Reply(201, b"", content_type="text/html; charset=UTF-8")

    def _get_file(self, record: Recorded) -> _Reply:
        stored = self._check_signature(record)
        assert stored.content is not None  # a download URL is only signed for stored files
        return _Reply(200, stored.content, content_type=stored.content_type)

    # --- state ---------------------------------------------------------------------------------

    def _new_file(self, owner: str, file_type: str, size: int) -> StoredFile:
        moment = datetime.now(UTC)
        stamp = moment.strftime("%d-%m-%Y_%H-%M-%S-") + f"{moment.microsecond // 1000:03d}"
        path = (
            f"/v1/AUTH_async-images/{self.account_id}/"
            f"{hashlib.sha256(owner.encode()).hexdigest()}_uuid_{uuid.uuid4()}_{stamp}.{file_type}"
        )
        stored = StoredFile(path=path, file_type=file_type, declared_size=size)
        self.files[path] = stored
        return stored

    def _close(self, conversation: Conversation, by: str) -> None:
        conversation.state = "CLOSE"
        conversation.ended = conversation.updated = now_ms()
        conversation.closed_by = by

    def _record(
        self,
        conversation: Conversation,
        originator: str,
        role: str,
        event: dict[str, Any],
        *,
        sequenced: bool,
        audience: str = "ALL",
    ) -> Published:
        sequence = None
        if sequenced:
            sequence = conversation.next_sequence
            conversation.next_sequence += 1
        published = Published(
            conversation_id=conversation.id,
            dialog_id=conversation.id,
            sequence=sequence,
            originator=originator,
            role=role,
            event=json.loads(json.dumps(event)),
            server_timestamp=now_ms(),
            audience=audience,
        )
        self.published.append(published)
        return published

    def _agent_event(
        self, conversation_id: str, agent: str, event: dict[str, Any], *, audience: str = "ALL"
    ) -> Published:
        with self._lock:
            conversation = self.conversations[conversation_id]
            if agent not in conversation.agents:
                conversation.agents.append(agent)
                conversation.updated = now_ms()
            sequenced = event["type"] != "ChatStateEvent"
            return self._record(
                conversation, agent, "ASSIGNED_AGENT", event, sequenced=sequenced, audience=audience
            )


def _change(event: Published) -> dict[str, Any]:
    change: dict[str, Any] = {}
    if event.sequence is not None:
        change["sequence"] = event.sequence
    change |= {
        "originatorId": event.originator,
        "originatorMetadata": {"id": event.originator, "role": event.role},
    }
    if event.sequence is not None:  # chat states come without a server time
        change["serverTimestamp"] = event.server_timestamp
    change |= {
        "event": json.loads(json.dumps(event.event)),
        "conversationId": event.conversation_id,
        "dialogId": event.dialog_id,
        "messageAudience": event.audience,
    }
    return change


def _same_type(file_type: str) -> str:
    return "JPG" if file_type == "JPEG" else file_type


def _expect_query(record: Recorded, wanted: Mapping[str, str]) -> None:
    for name, value in wanted.items():
        if record.query.get(name) != [value]:
            raise _Refused(400, "Bad Request", f"query parameter {name} must be {value}", 40000)


def _json_object(record: Recorded) -> dict[str, Any]:
    if not record.headers.get("content-type", "").startswith("application/json"):
        raise _Refused(400, "Bad Request", "Content-Type must be application/json", 40000)
    try:
        body = json.loads(record.body)
    except ValueError:
        raise _Refused(400, "Bad Request", "the body is not JSON", 40000) from None
    if not isinstance(body, dict):
        raise _Refused(400, "Bad Request", "the body must be an object", 40000)
    return body


def _too_long(record: Recorded) -> bool:
    return len(record.body.decode("utf-8", errors="replace")) > MAX_REQUEST_CHARS


def _with_request_id(reply: _Reply, record: Recorded) -> _Reply:
    """An injected answer with the request ids put in: ``"{reqId}"`` is the (last) request's,
    ``"{reqId0}"``, ``"{reqId1}"`` … those of an array's requests in order."""
    if b"{reqId" not in reply.body:
        return reply
    try:
        document = record.json()
    except ValueError:
        return reply
    requests = document if isinstance(document, list) else [document]
    ids = [request.get("id") if isinstance(request, dict) else None for request in requests]
    body = reply.body
    for index, request_id in enumerate(ids):
        body = body.replace(f'"{{reqId{index}}}"'.encode(), json.dumps(request_id).encode())
    body = body.replace(b'"{reqId}"', json.dumps(ids[-1] if ids else None).encode())
    return _Reply(reply.status, body, reply.content_type, reply.headers)


# --- HTTP plumbing -----------------------------------------------------------------------------
