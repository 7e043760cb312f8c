"""A fake enmeshed Connector: a real HTTP server on 127.0.0.1 that tests point clients at.

One instance speaks one API generation: ``"v1"`` (Connector 1.x-2.x, routes under ``/api/v1``,
relationships with ``changes[]``, ``POST /Account/Sync`` answering the new data) or
``"core-v1"`` (7.x, ``/api/core/v1``, relationships with an ``auditLog[]``, Sync answering 204).
It is as strict as the real Connector where a client can get things wrong:

* the API key header (``401 error.connector.unauthorized`` otherwise, as the real one answers
  for a missing and for a wrong key), unknown routes (404) and methods (405);
* the ``Accept`` header (406 when JSON, or the PNG of a QR route, is not acceptable; unlike the
  real one, a missing header is refused too, so that clients always send it);
* required body and multipart fields of the generation, unknown body keys and query filters
  (``400 error.runtime.validation`` naming the field);
* the sending rules (an Active relationship with every recipient, Mail ``to`` + ``cc`` equal
  to the recipients) and the relationship state machine
  (``400 error.transport.relationships.wrongRelationshipStatus``).

It answers with the real envelopes (``{"result": …}``, 201 for creates, 204 for the 7.x Sync,
``{"error": {id, code, message, docs, time}}``), ids of a prefix and 17 alphanumerics and ISO
timestamps with milliseconds and ``Z``, and filters lists with the Connector's mini-language.

Test hooks: :meth:`FakeConnector.add_relationship` and its shortcuts, :meth:`peer_decides`,
:meth:`receive_message`, :meth:`add_file`, :meth:`fail_next`, :meth:`drop_next`,
:meth:`delay_next`, :meth:`down` / :meth:`up`, :attr:`on_send`, and the log :attr:`requests`
(:meth:`rejected` lists the answers the fake refused on its own).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import string
import struct
import time
import traceback
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from tests.fakes.server import FakeServer, Handler, abort, read_body

V1 = "v1"
CORE_V1 = "core-v1"
PREFIXES = {V1: "/api/v1", CORE_V1: "/api/core/v1"}
VERSIONS = {V1: "2.3.5", CORE_V1: "7.4.6"}
# Meets the real Connector's key policy (30+ characters, digits, cases, a special character).
API_KEY = "Fake-Connector-Key-0123456789-ABcd!"
MAX_FILE_SIZE = 10 * 1024 * 1024

VALIDATION = "error.runtime.validation"
NOT_FOUND = "error.connector.recordNotFound"
WRONG_STATUS = "error.transport.relationships.wrongRelationshipStatus"
ONLY_FOR_PEER = "error.transport.relationships.operationOnlyAllowedForPeer"

JSON = "application/json"
PNG = "image/png"

_ALNUM = string.ascii_letters + string.digits
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_ADDRESS = {
    V1: re.compile(r"id1[1-9A-HJ-NP-Za-km-z]{32,33}"),
    CORE_V1: re.compile(r"did:e:[A-Za-z0-9.-]+:dids:[0-9a-f]{22}"),
}
_ID = re.compile(r"[A-Z]{3}[A-Za-z0-9]{17}")
_MAIL_KEYS = {
    V1: {"@type", "to", "cc", "subject", "body"},
    CORE_V1: {"@type", "to", "cc", "subject", "body", "bodyFormat"},
}
_MESSAGE_TYPES = ("Mail", "Request", "ResponseWrapper", "Notification", "ArbitraryMessageContent")
_TEMPLATE_TYPES = ("RelationshipTemplateContent", "ArbitraryRelationshipTemplateContent")

# Query filters each list route accepts (the runtime refuses others).
_COMMON_MESSAGE_FILTERS = {"createdBy", "createdByDevice", "createdAt", "recipients.address"}
_COMMON_MESSAGE_FILTERS |= {"participant", "attachments", "content.@type", "content.subject"}
_COMMON_MESSAGE_FILTERS |= {"content.body"}
_MESSAGE_FILTERS = {
    V1: _COMMON_MESSAGE_FILTERS | {"relationshipIds"},
    CORE_V1: _COMMON_MESSAGE_FILTERS | {"isOwn", "recipients.relationshipId", "content.bodyFormat"},
}
_RELATIONSHIP_FILTERS = {
    V1: {"template.id", "lastMessageReceivedAt", "lastMessageSentAt", "peer", "status"},
    CORE_V1: {"templateId", "peer", "status"},
}
_FILE_FILTERS = {"createdAt", "createdBy", "createdByDevice", "description", "expiresAt"}
_FILE_FILTERS |= {"filename", "filesize", "mimetype", "title", "isOwn"}
_COMMON_TEMPLATE_FILTERS = {"createdAt", "expiresAt", "createdBy", "createdByDevice"}
_TEMPLATE_FILTERS = {
    V1: _COMMON_TEMPLATE_FILTERS | {"maxNumberOfRelationships"},
    CORE_V1: _COMMON_TEMPLATE_FILTERS | {"maxNumberOfAllocations", "forIdentity"},
}
# How a new relationship reached a status: (by its creator?, reason, old status, new status).
_STEPS_TO: dict[str, list[tuple[bool, str, str, str]]] = {
    "Pending": [],
    "Active": [(False, "AcceptanceOfCreation", "Pending", "Active")],
    "Rejected": [(False, "RejectionOfCreation", "Pending", "Rejected")],
    "Revoked": [(True, "RevocationOfCreation", "Pending", "Revoked")],
    "Terminated": [
        (False, "AcceptanceOfCreation", "Pending", "Active"),
        (False, "Termination", "Active", "Terminated"),
    ],
}
# 1.x change status after each 7.x-style audit reason.
_CHANGE_STATUS = {
    "Creation": "Pending",
    "AcceptanceOfCreation": "Accepted",
    "RejectionOfCreation": "Rejected",
    "RevocationOfCreation": "Revoked",
}


def new_id(prefix: str) -> str:
    """An enmeshed id: a three-letter prefix and 17 alphanumerics."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(17))


def timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as the Connector writes them."""
    utc = (moment or datetime.now(UTC)).astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def qr_png(text: str, modules: int = 25, scale: int = 4) -> bytes:
    """A small valid grayscale PNG with a pattern derived from ``text`` (not a scannable QR)."""
    bits = "".join(
        f"{byte:08b}" for byte in hashlib.sha256(text.encode()).digest() * (modules * modules)
    )
    quiet = 2
    side = (modules + 2 * quiet) * scale
    rows = []
    for y in range(side):
        row = bytearray(b"\x00")  # filter type: none
        for x in range(side):
            mx, my = x // scale - quiet, y // scale - quiet
            dark = 0 <= mx < modules and 0 <= my < modules and bits[my * modules + mx] == "1"
            row.append(0 if dark else 255)
        rows.append(bytes(row))

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class ConnectorError(Exception):
    """An error answer: raised anywhere in a handler, sent as the Connector's envelope."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _validation(message: str) -> ConnectorError:
    return ConnectorError(400, VALIDATION, message)


def _envelope(code: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "id": "ERR"
            + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(17)),
            "code": code,
            "message": message,
            "docs": f"https://enmeshed.eu/integrate/error-codes#{code}",
            "time": timestamp(),
        }
    }


@dataclass
class Recorded:
    """One request as the fake received it, and the status it answered (0: dropped)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int = 0
    injected: bool = False  # the answer came from fail_next/drop_next, not from the checks

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    # Runs after the state lock is released and before the answer is written (on_send).
    before_answer: Callable[[], None] | None = None
    download: str = ""  # a FIL id: the body is streamed and its bytes_sent counted


def _json_reply(status: int, payload: Any) -> _Reply:
    return _Reply(status, json.dumps(payload, ensure_ascii=False).encode())


def _result(payload: Any, status: int = 200) -> _Reply:
    return _json_reply(status, {"result": payload})


@dataclass
class _Request:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    wants_png: bool = False

    def json_body(self) -> dict[str, Any]:
        """The JSON object body; like express.json, any other media type reads as ``{}``."""
        if not self.headers.get("content-type", "").startswith(JSON) or not self.body:
            return {}
        try:
            body = json.loads(self.body)
        except ValueError:
            raise ConnectorError(
                400,
                "error.connector.validation.invalidJsonInPayload",
                "The given payload is not a valid json object.",
            ) from None
        if not isinstance(body, dict):
            raise _validation("the request body must be an object")
        return body


@dataclass
class _Relationship:
    id: str
    peer: str
    peer_key: str
    peer_device: str
    template_id: str
    incoming: bool
    creation_content: Any
    change_id: str  # the 1.x Creation change
    audit: list[dict[str, Any]]  # 7.x-shaped; the 1.x change is derived from it
    response_content: Any = None
    last_sent: str | None = None
    last_received: str | None = None

    @property
    def status(self) -> str:
        return str(self.audit[-1]["newStatus"])


@dataclass(frozen=True)
class _Failure:
    status: int
    code: str
    message: str
    retry_after: float | None
    route: str


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[_Request], _Reply]
    accept: str  # "json", "any" or "json_or_png"
    authenticated: bool = True


class FakeConnector(FakeServer):
    """The fake Connector; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        generation: str = CORE_V1,
        *,
        api_key: str = API_KEY,
        api_key_header: str = "X-API-KEY",
        version: str | None = None,
        host: str = "localhost",
        strict_accept: bool = True,
        monitoring: bool = True,
    ) -> None:
        super().__init__()
        if generation not in PREFIXES:
            raise ValueError(f"generation must be {V1!r} or {CORE_V1!r}")
        self.generation = generation
        self.prefix = PREFIXES[generation]
        self.api_key = api_key
        self.api_key_header = api_key_header.lower()
        self.version = version or VERSIONS[generation]
        self.host = host
        self.strict_accept = strict_accept
        # False: /Monitoring/* is not reachable (a proxy that forwards only /api).
        self.monitoring = monitoring

        self.address = self.new_address()
        self.public_key = self._public_key()
        self.device = new_id("DVC")

        self.messages: dict[str, dict[str, Any]] = {}
        self.files: dict[str, tuple[dict[str, Any], bytes]] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self._relationships: dict[str, _Relationship] = {}
        # What a sync run has not handed out yet (1.x answers it; 7.x only clears it).
        self._unsynced_messages: list[str] = []
        self._unsynced_relationships: list[str] = []
        self.last_sync: str | None = None

        self.requests: list[Recorded] = []
        self.crashes: list[str] = []  # tracebacks of the fake's own bugs and failing hooks
        self.bytes_sent: dict[str, int] = {}  # FIL id -> bytes of the last download written
        self.on_send: Callable[[dict[str, Any]], None] | None = None

        self._failures: list[_Failure] = []
        self._drops = 0
        self._delays: list[float] = []
        self._routes = self._build_routes()

    # --- server lifecycle ----------------------------------------------------------------------

    # --- test hooks: failures ------------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        code: str = "error.platform.unexpected",
        message: str = "An unexpected error occurred.",
        retry_after: float | None = None,
        route: str = "",
    ) -> None:
        """Answer the next ``count`` requests (whose path ends with ``route``, if given) with
        this error, before any check."""
        failure = _Failure(status, code, message, retry_after, route)
        with self._lock:
            self._failures.extend([failure] * count)

    def drop_next(self, count: int = 1) -> None:
        """Close the connection of the next ``count`` requests without answering."""
        with self._lock:
            self._drops += count

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """Wait ``seconds`` before answering each of the next ``count`` requests."""
        with self._lock:
            self._delays.extend([seconds] * count)

    def rejected(self) -> list[Recorded]:
        """Requests the fake's own checks refused with a 4xx (injected failures excluded)."""
        return [r for r in self.requests if 400 <= r.status < 500 and not r.injected]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_to(self, route: str, method: str | None = None) -> list[Recorded]:
        """Recorded requests whose path ends with ``route`` (e.g. ``"/Messages"``)."""
        return [
            r
            for r in self.requests
            if r.path.endswith(route) and (method is None or r.method == method)
        ]

    # --- test hooks: identities, relationships, messages, files --------------------------------

    def new_address(self) -> str:
        """A fresh address of this generation (``id1…`` or a DID)."""
        if self.generation == V1:
            return "id1" + "".join(secrets.choice(_BASE58) for _ in range(33))
        return f"did:e:{self.host}:dids:{secrets.token_hex(11)}"

    def add_relationship(
        self,
        peer: str | None = None,
        *,
        status: str = "Active",
        incoming: bool = True,
        content: Any = None,
        template_id: str | None = None,
        created_at: datetime | None = None,
    ) -> dict[str, Any]:
        """A relationship with ``peer`` (a new identity by default) that reached ``status``.

        ``incoming``: the peer created it (on one of our templates); otherwise we did (on the
        peer's). Returns its DTO.
        """
        with self._lock:
            peer = peer or self.new_address()
            peer_device = new_id("DVC")
            moment = created_at or datetime.now(UTC)
            if template_id is None:
                template_id = self._template_for(peer, own=incoming, moment=moment)["id"]
            creator, creator_device = (
                (peer, peer_device) if incoming else (self.address, self.device)
            )
            other, other_device = (self.address, self.device) if incoming else (peer, peer_device)
            relationship = _Relationship(
                id=new_id("REL"),
                peer=peer,
                peer_key=self._public_key(),
                peer_device=peer_device,
                template_id=template_id,
                incoming=incoming,
                creation_content=content if content is not None else self._creation_content(),
                change_id=new_id("RCH"),
                audit=[_audit(moment, creator, creator_device, "Creation", None, "Pending")],
            )
            steps = _STEPS_TO.get(status)
            if steps is None:
                raise ValueError(f"unsupported status {status!r}")
            later = moment + timedelta(seconds=1)
            for by_creator, reason, old, new in steps:
                by, device = (creator, creator_device) if by_creator else (other, other_device)
                relationship.audit.append(_audit(later, by, device, reason, old, new))
                relationship.response_content = {}
            self._relationships[relationship.id] = relationship
            self._unsynced_relationships.append(relationship.id)
            return self._render_relationship(relationship)

    def add_incoming_pending(
        self, peer: str | None = None, *, content: Any = None
    ) -> dict[str, Any]:
        """A peer asks for a relationship (on one of our templates)."""
        return self.add_relationship(peer, status="Pending", incoming=True, content=content)

    def add_outgoing_pending(self, peer: str | None = None) -> dict[str, Any]:
        """We asked the peer for a relationship (on the peer's template); it has not answered."""
        return self.add_relationship(peer, status="Pending", incoming=False)

    def add_active_relationship(self, peer: str | None = None) -> dict[str, Any]:
        return self.add_relationship(peer, status="Active")

    def peer_decides(self, relationship_id: str, decision: str) -> dict[str, Any]:
        """The peer accepts/rejects our request, revokes its own, or terminates: as a sync
        would bring it in. Raises ConnectorError when the state does not allow it."""
        with self._lock:
            relationship = self._relationship(relationship_id)
            reason, new_status = {
                "accept": ("AcceptanceOfCreation", "Active"),
                "reject": ("RejectionOfCreation", "Rejected"),
                "revoke": ("RevocationOfCreation", "Revoked"),
                "terminate": ("Termination", "Terminated"),
            }[decision]
            expected = "Active" if decision == "terminate" else "Pending"
            if relationship.status != expected:
                raise _wrong_status(relationship)
            if decision in ("accept", "reject") and relationship.incoming:
                raise ConnectorError(400, ONLY_FOR_PEER, "the peer cannot decide its own request")
            if decision == "revoke" and not relationship.incoming:
                raise ConnectorError(400, ONLY_FOR_PEER, "the peer cannot revoke our request")
            if decision != "terminate":
                relationship.response_content = {}
            relationship.audit.append(
                _audit(
                    datetime.now(UTC),
                    relationship.peer,
                    relationship.peer_device,
                    reason,
                    relationship.status,
                    new_status,
                )
            )
            self._unsynced_relationships.append(relationship.id)
            return self._render_relationship(relationship)

    def add_file(
        self,
        filename: str,
        content: bytes,
        mimetype: str = "application/octet-stream",
        *,
        owner: str | None = None,
        title: str | None = None,
        declared_size: int | None = None,
        created_at: datetime | None = None,
    ) -> dict[str, Any]:
        """A file (ours, or the peer ``owner``'s); ``declared_size`` makes the metadata lie."""
        with self._lock:
            meta = self._file_meta(
                filename=filename,
                mimetype=mimetype,
                size=len(content) if declared_size is None else declared_size,
                owner=owner or self.address,
                title=title,
                description=None,
                expires_at=timestamp(datetime.now(UTC) + timedelta(days=365)),
                created_at=timestamp(created_at),
            )
            self.files[meta["id"]] = (meta, content)
            return dict(meta)

    def receive_message(
        self,
        sender: str | None = None,
        *,
        subject: str = "Hello",
        body: str = "A message from a peer.",
        attachments: Sequence[tuple[str, bytes, str]] = (),
        cc: Sequence[str] = (),
        created_at: datetime | None = None,
        content: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A message from ``sender`` arrives (an Active relationship is made if there is none).

        ``attachments`` are ``(filename, bytes, mimetype)``. Returns the MessageDTO.
        """
        with self._lock:
            sender = sender or self.new_address()
            relationship = self._active_with(sender)
            if relationship is None:
                self.add_active_relationship(sender)
                relationship = self._active_with(sender)
                assert relationship is not None
            moment = created_at or datetime.now(UTC)
            files = [
                self.add_file(name, data, mimetype, owner=sender, created_at=moment)["id"]
                for name, data, mimetype in attachments
            ]
            if content is None:
                mail: dict[str, Any] = {
                    "@type": "Mail",
                    "to": [self.address],
                    "cc": list(cc),
                    "subject": subject,
                    "body": body,
                }
                if self.generation == CORE_V1:
                    mail["bodyFormat"] = "PlainText"
                content = mail
            received = timestamp(moment + timedelta(milliseconds=800))
            mine: dict[str, Any] = {
                "address": self.address,
                "receivedAt": received,
                "receivedByDevice": self.device,
            }
            dto: dict[str, Any] = {"id": new_id("MSG")}
            if self.generation == CORE_V1:
                mine["relationshipId"] = relationship.id
                dto["isOwn"] = False
            dto |= {
                "content": dict(content),
                "createdBy": sender,
                "createdByDevice": relationship.peer_device,
                "recipients": [mine],
                "createdAt": timestamp(moment),
                "attachments": files,
            }
            if self.generation == V1:
                dto["relationshipIds"] = [relationship.id]
            relationship.last_received = dto["createdAt"]
            self.messages[dto["id"]] = dto
            self._unsynced_messages.append(dto["id"])
            return json.loads(json.dumps(dto))

    def relationship(self, relationship_id: str) -> dict[str, Any]:
        with self._lock:
            return self._render_relationship(self._relationship(relationship_id))

    def creation_change_id(self, relationship_id: str) -> str:
        """The 1.x Creation change (``RCH…``) of the relationship."""
        return self._relationship(relationship_id).change_id

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
            reply = _json_reply(failure.status, _envelope(failure.code, failure.message))
            if failure.retry_after is not None:
                reply.headers["Retry-After"] = f"{failure.retry_after:g}"
            record.injected = True
        else:
            reply = self._answer(record)
        if reply.before_answer is not None:
            try:
                reply.before_answer()
            except Exception:
                self.crashes.append(traceback.format_exc())
        record.status = reply.status
        self._write(handler, reply)

    def _take_failure(self, path: str) -> _Failure | None:
        for index, failure in enumerate(self._failures):
            if path.endswith(failure.route):
                return self._failures.pop(index)
        return None

    def _answer(self, record: Recorded) -> _Reply:
        try:
            with self._lock:
                return self._dispatch(record)
        except ConnectorError as exc:
            return _json_reply(exc.status, _envelope(exc.code, exc.message))
        except Exception:
            self.crashes.append(traceback.format_exc())
            return _json_reply(
                500, _envelope("error.connector.unexpected", "An unexpected error occurred.")
            )

    def _dispatch(self, record: Recorded) -> _Reply:
        matching = [(route, route.pattern.fullmatch(record.path)) for route in self._routes]
        candidates = [(route, match) for route, match in matching if match]
        authenticated = all(route.authenticated for route, _ in candidates) if candidates else True
        if authenticated and not self._authorized(record.headers):
            raise ConnectorError(401, "error.connector.unauthorized", "Unauthorized.")
        if not candidates:
            raise ConnectorError(
                404, "error.connector.http.routeDoesNotExist", "The requested route does not exist."
            )
        chosen = next(((r, m) for r, m in candidates if r.method == record.method), None)
        if chosen is None:
            raise ConnectorError(
                405,
                "error.connector.http.methodNotAllowed",
                "The request method is not supported for the requested resource.",
            )
        route, match = chosen
        request = _Request(
            method=record.method,
            path=record.path,
            params=match.groupdict(),
            query=record.query,
            headers=record.headers,
            body=record.body,
        )
        accept = record.headers.get("accept")
        first = (accept or "").split(",")[0].split(";")[0].strip().lower()
        if route.accept == "json_or_png" and first == PNG:
            request.wants_png = True  # the QR code of the object
        elif route.accept != "any" and not self._acceptable(accept, JSON):
            raise _not_acceptable()
        return route.handler(request)

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        presented = headers.get(self.api_key_header, "")
        return bool(presented) and hmac.compare_digest(presented.encode(), self.api_key.encode())

    def _acceptable(self, header: str | None, media: str) -> bool:
        if header is None:
            return not self.strict_accept
        major = media.split("/")[0]
        for part in header.split(","):
            kind, *params = (piece.strip().lower() for piece in part.split(";"))
            quality = 1.0
            for param in params:
                if param.startswith("q="):
                    try:
                        quality = float(param[2:])
                    except ValueError:
                        quality = 0.0
            if quality > 0 and kind in (media, f"{major}/*", "*/*"):
                return True
        return False

    def _write(self, handler: Handler, reply: _Reply) -> None:
        content = self.files[reply.download][1] if reply.download else reply.body
        try:
            handler.send_response(reply.status)
            if reply.status != 204:
                handler.send_header("Content-Type", reply.content_type)
                handler.send_header("Content-Length", str(len(content)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("X-Response-Time", timestamp())
            handler.end_headers()
            if reply.download:
                self.bytes_sent[reply.download] = 0
                for start in range(0, len(content), 64 * 1024):
                    piece = content[start : start + 64 * 1024]
                    handler.wfile.write(piece)
                    self.bytes_sent[reply.download] += len(piece)
            elif content:
                handler.wfile.write(content)
        except OSError:  # the client went away (a stopped download)
            handler.close_connection = True

    # --- routes --------------------------------------------------------------------------------

    def _build_routes(self) -> list[_Route]:
        api = self.prefix
        v1 = self.generation == V1

        def route(
            method: str,
            path: str,
            handler: Callable[[_Request], _Reply],
            accept: str = "json",
            authenticated: bool = True,
        ) -> _Route:
            # "{name}" segments become named groups; the rest is literal.
            pieces = re.split(r"\{(\w+)\}", path)
            pattern = "".join(
                f"(?P<{piece}>[^/]+)" if index % 2 else re.escape(piece)
                for index, piece in enumerate(pieces)
            )
            return _Route(method, re.compile(pattern), handler, accept, authenticated)

        routes = [route("GET", "/health", self._health, "any", authenticated=False)]
        if self.monitoring:
            routes.append(route("GET", "/Monitoring/Version", self._monitoring_version, "any"))
        routes += [
            route("GET", f"{api}/Account/IdentityInfo", self._identity_info),
            route("GET", f"{api}/Account/SyncInfo", self._sync_info),
            route("POST", f"{api}/Account/Sync", self._sync),
            route("GET", f"{api}/Files", self._list_files),
            route("POST", f"{api}/Files/Own", self._upload),
            route("GET", f"{api}/Files/Own", self._list_own_files),
            route("GET", f"{api}/Files/{{id}}/Download", self._download, "any"),
            route("GET", f"{api}/Files/{{id}}", self._get_file, "json" if v1 else "json_or_png"),
            route("POST", f"{api}/Messages", self._send),
            route("GET", f"{api}/Messages", self._list_messages),
            route("GET", f"{api}/Messages/{{id}}", self._get_message),
            route("GET", f"{api}/Relationships", self._list_relationships),
            route("GET", f"{api}/Relationships/{{id}}", self._get_relationship),
            route("GET", f"{api}/RelationshipTemplates", self._list_templates),
            route("POST", f"{api}/RelationshipTemplates/Own", self._create_template),
            route("GET", f"{api}/RelationshipTemplates/Own", self._list_own_templates),
            route(
                "POST",
                f"{api}/RelationshipTemplates/Own/{{id}}/Token",
                self._template_token,
                "json_or_png",
            ),
            route(
                "GET",
                f"{api}/RelationshipTemplates/{{id}}",
                self._get_template,
                "json" if v1 else "json_or_png",
            ),
        ]
        if v1:
            routes += [
                route(
                    "PUT",
                    f"{api}/Relationships/{{id}}/Changes/{{change}}/{word}",
                    self._decide_change,
                )
                for word in ("Accept", "Reject", "Revoke")
            ]
        else:
            routes += [
                route("PUT", f"{api}/Relationships/{{id}}/{word}", self._decide)
                for word in ("Accept", "Reject", "Revoke", "Terminate")
            ]
        return routes

    # --- handlers: monitoring and account ------------------------------------------------------

    def _health(self, request: _Request) -> _Reply:
        return _json_reply(
            200, {"isHealthy": True, "services": {"database": "healthy", "backbone": "healthy"}}
        )

    def _monitoring_version(self, request: _Request) -> _Reply:
        # No envelope: the one unwrapped answer of the API.
        return _json_reply(
            200,
            {
                "version": self.version,
                "build": "42",
                "commit": hashlib.sha256(self.version.encode()).hexdigest()[:40],
                "date": "2025-10-01T12:00:00.000Z",
            },
        )

    def _identity_info(self, request: _Request) -> _Reply:
        return _result({"address": self.address, "publicKey": self.public_key})

    def _sync_info(self, request: _Request) -> _Reply:
        return _result({"lastSyncRun": {"completedAt": self.last_sync} if self.last_sync else None})

    def _sync(self, request: _Request) -> _Reply:
        message_ids = list(dict.fromkeys(self._unsynced_messages))
        relationship_ids = list(dict.fromkeys(self._unsynced_relationships))
        self._unsynced_messages.clear()
        self._unsynced_relationships.clear()
        self.last_sync = timestamp()
        if self.generation == CORE_V1:
            return _Reply(204)  # the real one emits events for what it fetched
        return _result(
            {
                "messages": [self._copy(self.messages[ref]) for ref in message_ids],
                "relationships": [
                    self._render_relationship(self._relationships[ref]) for ref in relationship_ids
                ],
            }
        )

    # --- handlers: files -----------------------------------------------------------------------

    def _list_files(self, request: _Request) -> _Reply:
        metas = [dict(meta) for meta, _ in self.files.values()]
        return _result(_filtered(metas, request.query, _FILE_FILTERS))

    def _list_own_files(self, request: _Request) -> _Reply:
        metas = [dict(meta) for meta, _ in self.files.values() if meta["isOwn"]]
        return _result(_filtered(metas, request.query, _FILE_FILTERS - {"createdBy", "isOwn"}))

    def _upload(self, request: _Request) -> _Reply:
        fields, files = _parse_multipart(request.headers.get("content-type", ""), request.body)
        if "file" not in files:
            raise _validation("must have required property 'file'")
        filename, mimetype, content = files["file"]
        if self.generation == V1:
            for name in ("title", "expiresAt"):
                if not fields.get(name):
                    raise _validation(f"must have required property '{name}'")
        expires = fields.get("expiresAt")
        if expires is not None:
            moment = _parse_time(expires)
            if moment is None:
                raise _validation("expiresAt must be a valid date-time")
            if moment <= datetime.now(UTC):
                raise _validation("expiresAt must be in the future")
        if not filename:
            raise _validation("the file must have a name")
        if len(content) > MAX_FILE_SIZE:
            raise _validation(f"the file is larger than {MAX_FILE_SIZE} bytes")
        meta = self._file_meta(
            filename=filename,
            mimetype=mimetype,
            size=len(content),
            owner=self.address,
            title=fields.get("title"),
            description=fields.get("description"),
            expires_at=expires or "9999-12-31T00:00:00.000Z",
            created_at=timestamp(),
        )
        self.files[meta["id"]] = (meta, content)
        return _result(dict(meta), 201)

    def _get_file(self, request: _Request) -> _Reply:
        meta, _ = self._file(request.params["id"])
        if request.wants_png:
            return _Reply(200, qr_png(meta["id"]), PNG)
        return _result(dict(meta))

    def _download(self, request: _Request) -> _Reply:
        meta, _ = self._file(request.params["id"])
        name = meta["filename"]
        fallback = "".join(
            c if c.isascii() and c.isprintable() and c not in '"\\' else "?" for c in name
        )
        disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
        return _Reply(
            200,
            content_type=meta["mimetype"],
            headers={"Content-Disposition": disposition},
            download=meta["id"],
        )

    # --- handlers: messages --------------------------------------------------------------------

    def _send(self, request: _Request) -> _Reply:
        body = request.json_body()
        _only_keys(body, {"recipients", "content", "attachments"})
        recipients = body.get("recipients")
        if recipients is None:
            raise _validation("must have required property 'recipients'")
        if not isinstance(recipients, list) or not recipients:
            raise _validation("recipients must be a non-empty array")
        for address in recipients:
            self._check_address(address, "recipients")
        content = body.get("content")
        if content is None:
            raise _validation("must have required property 'content'")
        if not isinstance(content, dict):
            raise _validation("content must be an object")
        self._check_content(content, recipients)
        attachments = body.get("attachments")
        if attachments is None:
            attachments = []
        if not isinstance(attachments, list):
            raise _validation("attachments must be an array")
        for ref in attachments:
            if not isinstance(ref, str) or not ref.startswith("FIL") or not _ID.fullmatch(ref):
                raise _validation(f"attachments must be FileIds, not {ref!r}")

        relationships = []
        for address in recipients:
            relationship = self._active_with(address)
            if relationship is None:
                raise ConnectorError(
                    400, WRONG_STATUS, f"There is no active relationship to '{address}'."
                )
            relationships.append(relationship)
        for ref in attachments:
            self._file(ref)

        now = timestamp()
        dto: dict[str, Any] = {"id": new_id("MSG")}
        if self.generation == CORE_V1:
            dto["isOwn"] = True
        dto |= {
            "content": content,
            "createdBy": self.address,
            "createdByDevice": self.device,
            "recipients": [
                {"address": r.peer, "relationshipId": r.id}
                if self.generation == CORE_V1
                else {"address": r.peer}
                for r in relationships
            ],
            "createdAt": now,
            "attachments": list(attachments),
        }
        if self.generation == V1:
            dto["relationshipIds"] = [r.id for r in relationships]
        for relationship in relationships:
            relationship.last_sent = now
        self.messages[dto["id"]] = dto
        reply = _result(self._copy(dto), 201)
        hook = self.on_send
        if hook is not None:
            copy = self._copy(dto)
            reply.before_answer = lambda: hook(copy)
        return reply

    def _check_content(self, content: dict[str, Any], recipients: list[str]) -> None:
        kind = content.get("@type")
        if kind == "Mail":
            required = ["@type", "to", "subject", "body"]
            if self.generation == CORE_V1:
                required.append("bodyFormat")
            for key in required:
                if key not in content:
                    raise _validation(f"content must have required property '{key}'")
            _only_keys(content, _MAIL_KEYS[self.generation], "content")
            to, cc = content["to"], content.get("cc", [])
            if not isinstance(to, list) or not to:
                raise _validation("content.to may not be empty")
            if not isinstance(cc, list):
                raise _validation("content.cc must be an array")
            for address in [*to, *cc]:
                self._check_address(address, "content.to/cc")
            for key, limit in (("subject", 300), ("body", 50_000)):
                if not isinstance(content[key], str):
                    raise _validation(f"content.{key} must be a string")
                if len(content[key]) > limit:
                    raise _validation(f"content.{key} is longer than {limit} characters")
            if "bodyFormat" in content and content["bodyFormat"] not in ("PlainText", "Markdown"):
                raise _validation("content.bodyFormat must be PlainText or Markdown")
            if set(to) | set(cc) != set(recipients):
                raise _validation("the Mail's to and cc must name exactly the recipients")
        elif self.generation == CORE_V1:
            if kind not in _MESSAGE_TYPES:
                raise _validation(
                    "content must be a Mail, Request, ResponseWrapper, Notification or "
                    "ArbitraryMessageContent"
                )
            if kind == "ArbitraryMessageContent" and not isinstance(content.get("value"), dict):
                raise _validation("content must have required property 'value'")
        # 1.x takes any other JSON object as content.

    def _list_messages(self, request: _Request) -> _Reply:
        dtos = [self._copy(dto) for dto in self.messages.values()]
        return _result(_filtered(dtos, request.query, _MESSAGE_FILTERS[self.generation]))

    def _get_message(self, request: _Request) -> _Reply:
        dto = self.messages.get(request.params["id"])
        if dto is None:
            raise ConnectorError(404, NOT_FOUND, "Message not found.")
        with_files = self._copy(dto)
        with_files["attachments"] = [dict(self._file(ref)[0]) for ref in dto["attachments"]]
        return _result(with_files)

    # --- handlers: relationships ---------------------------------------------------------------

    def _list_relationships(self, request: _Request) -> _Reply:
        dtos = [self._render_relationship(r) for r in self._relationships.values()]
        return _result(_filtered(dtos, request.query, _RELATIONSHIP_FILTERS[self.generation]))

    def _get_relationship(self, request: _Request) -> _Reply:
        return _result(self._render_relationship(self._relationship(request.params["id"])))

    def _decide(self, request: _Request) -> _Reply:
        """7.x: the relationship as a whole; no body."""
        relationship = self._relationship(request.params["id"])
        word = request.path.rsplit("/", 1)[1]
        status = relationship.status
        if word == "Terminate":
            if status != "Active":
                raise _wrong_status(relationship)
        else:
            if status != "Pending":
                raise _wrong_status(relationship)
            if word in ("Accept", "Reject") and not relationship.incoming:
                raise ConnectorError(400, ONLY_FOR_PEER, "Only the peer can decide this request.")
            if word == "Revoke" and relationship.incoming:
                # The 7.x spec documents a 500 for revoking a peer's request.
                raise ConnectorError(500, "error.connector.unexpected", "Cannot revoke.")
        self._record_decision(relationship, word)
        return _result(self._render_relationship(relationship))

    def _decide_change(self, request: _Request) -> _Reply:
        """1.x: one RelationshipChange; the body needs a response ``content``."""
        relationship = self._relationship(request.params["id"])
        if request.params["change"] != relationship.change_id:
            raise ConnectorError(404, NOT_FOUND, "RelationshipChange not found.")
        body = request.json_body()
        if "content" not in body:
            raise _validation("must have required property 'content'")
        if not isinstance(body["content"], dict):
            raise _validation("content must be an object")
        word = request.path.rsplit("/", 1)[1]
        if relationship.status != "Pending":
            raise _wrong_status(relationship)
        if (word == "Revoke") == relationship.incoming:
            raise ConnectorError(400, ONLY_FOR_PEER, f"{word} is not allowed on this change.")
        relationship.response_content = body["content"]
        self._record_decision(relationship, word)
        return _result(self._render_relationship(relationship))

    def _record_decision(self, relationship: _Relationship, word: str) -> None:
        reason, new_status = {
            "Accept": ("AcceptanceOfCreation", "Active"),
            "Reject": ("RejectionOfCreation", "Rejected"),
            "Revoke": ("RevocationOfCreation", "Revoked"),
            "Terminate": ("Termination", "Terminated"),
        }[word]
        relationship.audit.append(
            _audit(
                datetime.now(UTC),
                self.address,
                self.device,
                reason,
                relationship.status,
                new_status,
            )
        )

    # --- handlers: templates -------------------------------------------------------------------

    def _list_templates(self, request: _Request) -> _Reply:
        allowed = _TEMPLATE_FILTERS[self.generation] | {"isOwn"}
        return _result(_filtered(list(self.templates.values()), request.query, allowed))

    def _list_own_templates(self, request: _Request) -> _Reply:
        own = [t for t in self.templates.values() if t["isOwn"]]
        return _result(_filtered(own, request.query, _TEMPLATE_FILTERS[self.generation]))

    def _create_template(self, request: _Request) -> _Reply:
        body = request.json_body()
        v1 = self.generation == V1
        limit_key = "maxNumberOfRelationships" if v1 else "maxNumberOfAllocations"
        allowed = {"expiresAt", "content", limit_key}
        if not v1:
            allowed |= {"forIdentity", "passwordProtection"}
        _only_keys(body, allowed)
        for key in ("expiresAt", "content"):
            if key not in body:
                raise _validation(f"must have required property '{key}'")
        expires = _parse_time(body["expiresAt"])
        if expires is None:
            raise _validation("expiresAt must be a valid date-time")
        if expires <= datetime.now(UTC):
            raise _validation("expiresAt must be in the future")
        content = body["content"]
        if not isinstance(content, dict):
            raise _validation("content must be an object")
        if not v1:
            kind = content.get("@type")
            if kind not in _TEMPLATE_TYPES:
                raise _validation("content must be a typed RelationshipTemplateContent")
            needed = (
                "value" if kind == "ArbitraryRelationshipTemplateContent" else "onNewRelationship"
            )
            if needed not in content:
                raise _validation(f"content must have required property '{needed}'")
        limit = body.get(limit_key)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise _validation(f"{limit_key} must be a positive integer")
        template = self._new_template(
            owner=self.address,
            device=self.device,
            content=content,
            expires_at=timestamp(expires),
            limit=limit,
        )
        return _result(dict(template), 201)

    def _get_template(self, request: _Request) -> _Reply:
        template = self._template(request.params["id"])
        if request.wants_png:
            return _Reply(200, qr_png(template["id"]), PNG)
        return _result(dict(template))

    def _template_token(self, request: _Request) -> _Reply:
        template = self._template(request.params["id"])
        if not template["isOwn"]:
            raise ConnectorError(404, NOT_FOUND, "RelationshipTemplate not found.")
        body = request.json_body()
        _only_keys(body, {"expiresAt", "ephemeral", "forIdentity", "passwordProtection"})
        token_id = new_id("TOK")
        if request.wants_png:
            return _Reply(201, qr_png(token_id), PNG)
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        return _result(
            {
                "id": token_id,
                "createdBy": self.address,
                "createdByDevice": self.device,
                "content": {"templateId": template["id"], "secretKey": secret},
                "createdAt": timestamp(),
                "expiresAt": body.get("expiresAt") or template["expiresAt"],
                "secretKey": secret,
                "truncatedReference": base64.b64encode(f"{token_id}|3|{secret}".encode()).decode(),
            },
            201,
        )

    # --- state helpers -------------------------------------------------------------------------

    def _relationship(self, relationship_id: str) -> _Relationship:
        relationship = self._relationships.get(relationship_id)
        if relationship is None:
            raise ConnectorError(404, NOT_FOUND, "Relationship not found.")
        return relationship

    def _active_with(self, address: str) -> _Relationship | None:
        return next(
            (r for r in self._relationships.values() if r.peer == address and r.status == "Active"),
            None,
        )

    def _file(self, file_id: str) -> tuple[dict[str, Any], bytes]:
        entry = self.files.get(file_id)
        if entry is None:
            raise ConnectorError(404, NOT_FOUND, "File not found.")
        return entry

    def _template(self, template_id: str) -> dict[str, Any]:
        template = self.templates.get(template_id)
        if template is None:
            raise ConnectorError(404, NOT_FOUND, "RelationshipTemplate not found.")
        return template

    def _check_address(self, value: Any, where: str) -> None:
        if not isinstance(value, str) or not _ADDRESS[self.generation].fullmatch(value):
            raise _validation(f"{where} must hold addresses, not {value!r:.60}")

    def _public_key(self) -> str:
        key = json.dumps({"pub": secrets.token_urlsafe(32), "alg": 3}, separators=(",", ":"))
        return base64.b64encode(key.encode()).decode()

    def _reference(self, object_id: str) -> dict[str, str]:
        key = secrets.token_urlsafe(32)
        truncated = base64.urlsafe_b64encode(f"{object_id}@https://{self.host}|3|{key}||".encode())
        return {
            "truncated": truncated.decode().rstrip("="),
            "url": f"https://{self.host}/r/{object_id}#{key}",
        }

    def _file_meta(
        self,
        *,
        filename: str,
        mimetype: str,
        size: int,
        owner: str,
        title: str | None,
        description: str | None,
        expires_at: str,
        created_at: str,
    ) -> dict[str, Any]:
        file_id = new_id("FIL")
        own = owner == self.address
        device = self.device if own else new_id("DVC")
        if self.generation == V1:
            meta: dict[str, Any] = {"id": file_id, "title": title or filename}
            if description:
                meta["description"] = description
            return meta | {
                "filename": filename,
                "filesize": size,
                "createdAt": created_at,
                "createdBy": owner,
                "createdByDevice": device,
                "expiresAt": expires_at,
                "mimetype": mimetype,
                "isOwn": own,
            }
        meta = {"id": file_id, "isOwn": own, "filename": filename, "filesize": size}
        if title:
            meta["title"] = title
        if description:
            meta["description"] = description
        return meta | {
            "createdAt": created_at,
            "createdBy": owner,
            "createdByDevice": device,
            "expiresAt": expires_at,
            "mimetype": mimetype,
            "owner": owner,
            "reference": self._reference(file_id),
        }

    def _new_template(
        self,
        *,
        owner: str,
        device: str,
        content: Any,
        expires_at: str,
        limit: int | None,
        created_at: str | None = None,
    ) -> dict[str, Any]:
        template: dict[str, Any] = {
            "id": new_id("RLT"),
            "isOwn": owner == self.address,
            "createdBy": owner,
            "createdByDevice": device,
            "createdAt": created_at or timestamp(),
            "expiresAt": expires_at,
            "content": content,
        }
        if limit is not None:
            key = "maxNumberOfRelationships" if self.generation == V1 else "maxNumberOfAllocations"
            template[key] = limit
        if self.generation == CORE_V1:
            template["reference"] = self._reference(template["id"])
        self.templates[template["id"]] = template
        return template

    def _template_for(self, peer: str, *, own: bool, moment: datetime) -> dict[str, Any]:
        """The template a new relationship was made on: ours (incoming) or the peer's."""
        if self.generation == V1:
            content: dict[str, Any] = {"attributes": [{"name": "Thing.name", "value": "Inbox"}]}
        else:
            content = {"@type": "ArbitraryRelationshipTemplateContent", "value": {"name": "Inbox"}}
        return self._new_template(
            owner=self.address if own else peer,
            device=self.device if own else new_id("DVC"),
            content=content,
            expires_at=timestamp(moment + timedelta(days=30)),
            limit=None,
            created_at=timestamp(moment - timedelta(minutes=1)),
        )

    def _creation_content(self) -> Any:
        if self.generation == V1:
            return {"attributes": [{"name": "Person.givenName", "value": "Jane"}]}
        return {
            "@type": "ArbitraryRelationshipCreationContent",
            "value": {"customerNumber": "C-10023", "name": "Jane Doe"},
        }

    def _render_relationship(self, relationship: _Relationship) -> dict[str, Any]:
        identity = {"address": relationship.peer, "publicKey": relationship.peer_key}
        if self.generation == CORE_V1:
            return self._copy(
                {
                    "id": relationship.id,
                    "templateId": relationship.template_id,
                    "status": relationship.status,
                    "peer": relationship.peer,
                    "peerIdentity": identity,
                    "creationContent": relationship.creation_content,
                    "auditLog": relationship.audit,
                }
            )
        creation = relationship.audit[0]
        # 1.x has a Creation change only; a termination shows in the status alone.
        decisions = [e for e in relationship.audit[1:] if e["reason"] in _CHANGE_STATUS]
        change: dict[str, Any] = {
            "id": relationship.change_id,
            "request": {
                "createdBy": creation["createdBy"],
                "createdByDevice": creation["createdByDevice"],
                "createdAt": creation["createdAt"],
                "content": relationship.creation_content,
            },
            "status": _CHANGE_STATUS[decisions[0]["reason"]] if decisions else "Pending",
            "type": "Creation",
        }
        if decisions:
            change["response"] = {
                "createdBy": decisions[0]["createdBy"],
                "createdByDevice": decisions[0]["createdByDevice"],
                "createdAt": decisions[0]["createdAt"],
                "content": relationship.response_content or {},
            }
        dto: dict[str, Any] = {
            "id": relationship.id,
            "template": self.templates[relationship.template_id],
            "status": relationship.status,
            "peer": relationship.peer,
            "peerIdentity": identity | {"realm": "id1"},
            "changes": [change],
        }
        if relationship.last_sent:
            dto["lastMessageSentAt"] = relationship.last_sent
        if relationship.last_received:
            dto["lastMessageReceivedAt"] = relationship.last_received
        return self._copy(dto)

    @staticmethod
    def _copy(value: Any) -> Any:
        """A deep copy, so that no caller can change the fake's state behind its back."""
        return json.loads(json.dumps(value))


# --- HTTP plumbing -----------------------------------------------------------------------------


def _parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, str], dict[str, tuple[str, str, bytes]]]:
    """``multipart/form-data`` -> (fields, files as (filename, media type, bytes)).

    File names arrive as raw UTF-8 with ``"`` escaped as ``%22`` (HTML5 form encoding, what
    browsers and httpx send); the real Connector decodes them as UTF-8 too.
    """
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/form-data") or boundary is None:
        return fields, files
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
        params = {
            key.lower(): re.sub(r"\\(.)", r"\1", value).replace("%22", '"')
            for key, value in re.findall(
                r';\s*([\w*]+)="((?:[^"\\]|\\.)*)"', headers.get("content-disposition", "")
            )
        }
        name = params.get("name", "")
        if "filename" in params:
            media_type = headers.get("content-type", "application/octet-stream")
            files[name] = (params["filename"], media_type, content)
        else:
            fields[name] = content.decode("utf-8", "replace")
    return fields, files


def _audit(
    moment: datetime, by: str, device: str, reason: str, old: str | None, new: str
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "createdAt": timestamp(moment),
        "createdBy": by,
        "createdByDevice": device,
        "reason": reason,
    }
    if old:
        entry["oldStatus"] = old
    entry["newStatus"] = new
    return entry


def _wrong_status(relationship: _Relationship) -> ConnectorError:
    return ConnectorError(
        400,
        WRONG_STATUS,
        f"The Relationship '{relationship.id}' has the wrong status "
        f"'{relationship.status}' to run this operation.",
    )


def _not_acceptable() -> ConnectorError:
    return ConnectorError(
        406,
        "error.connector.http.notAcceptable",
        "The requested resource is capable of generating only content not acceptable "
        "according to the Accept headers sent in the request.",
    )


def _only_keys(body: Mapping[str, Any], allowed: Iterable[str], where: str = "body") -> None:
    extra = sorted(set(body) - set(allowed))
    if extra:
        raise _validation(f"{where} must NOT have additional properties: {', '.join(extra)}")


# --- the filter mini-language ------------------------------------------------------------------


def _filtered(
    dtos: list[dict[str, Any]], query: Mapping[str, list[str]], allowed: set[str]
) -> list[dict[str, Any]]:
    """``?f=v`` (any of several), ``!v``, ``>x``, ``>=x``, ``<x``, ``<=x``, ``^v``, ``$v``,
    ``~regex``, ``?f=`` (exists), ``?f=!`` (does not exist). Dates compare as ISO text."""
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise _validation(f"query must NOT have additional properties: {', '.join(unknown)}")
    return [dto for dto in dtos if all(_matches(dto, key, query[key]) for key in query)]


def _leaves(value: Any, path: Sequence[str]) -> list[Any]:
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item, path)]
    if not path:
        return [] if value is None else [value]
    if not isinstance(value, Mapping) or path[0] not in value:
        return []
    return _leaves(value[path[0]], path[1:])


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compare(leaf: str, operator: str, operand: str) -> bool:
    left: Any = leaf
    right: Any = operand
    with contextlib.suppress(ValueError):
        left, right = float(leaf), float(operand)
    return {
        ">=": left >= right,
        "<=": left <= right,
        ">": left > right,
        "<": left < right,
    }[operator]


def _matches(dto: Mapping[str, Any], key: str, values: list[str]) -> bool:
    if key == "participant":
        leaves = _leaves(dto, ["createdBy"]) + _leaves(dto, ["recipients", "address"])
    else:
        leaves = _leaves(dto, key.split("."))
    texts = [_as_text(leaf) for leaf in leaves]
    alternatives = []
    for value in values:
        if value == "":
            ok = bool(texts)
        elif value == "!":
            ok = not texts
        elif value.startswith("!"):
            ok = value[1:] not in texts
        elif value[:2] in (">=", "<="):
            ok = any(_compare(text, value[:2], value[2:]) for text in texts)
        elif value[:1] in (">", "<"):
            ok = any(_compare(text, value[:1], value[1:]) for text in texts)
        elif value.startswith("^"):
            ok = any(text.startswith(value[1:]) for text in texts)
        elif value.startswith("$"):
            ok = any(text.endswith(value[1:]) for text in texts)
        elif value.startswith("~"):
            ok = any(re.search(value[1:], text) for text in texts)
        else:
            alternatives.append(value in texts)  # plain values: any of them
            continue
        if not ok:
            return False  # every operator must hold
    return not alternatives or any(alternatives)
