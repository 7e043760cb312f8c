"""The enmeshed Connector's REST client: the way out for both API generations.

Connector 1.x-2.x serve ``/api/v1`` (relationships decided per RelationshipChange, ``POST
/Account/Sync`` answers the new data); 7.x serves ``/api/core/v1`` (relationships decided as a
whole, Sync answers 204 and polling reconciles with list queries). 3.x-6.x (``/api/v2``) are
refused. The generation is pinned by the ``api_version`` setting, remembered in the channel's
state, or detected once with ``GET /Monitoring/Version`` (unprefixed in every generation).

Everything the client fetches for the inbox is shaped as a document that
:func:`inbox.connectors.enmeshed.split` accepts: a send or a decision as the webhook the
Connector would emit for it, a poll as the batch body ``{"messages", "relationships"}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, NoReturn
from urllib.parse import unquote

import httpx

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

V1 = "v1"
CORE_V1 = "core-v1"
AUTO = "auto"
PREFIXES = {V1: "/api/v1", CORE_V1: "/api/core/v1"}
DEFAULT_KEY_HEADER = "X-API-KEY"

DECISIONS = ("accept", "reject", "revoke", "terminate")
# A message can reach our Connector after its createdAt (the sender's clock, a late sync):
# each poll asks again for this much before the newest message it saw, and upserts by id.
POLL_OVERLAP = timedelta(minutes=5)
# 1.x requires an expiry for uploads; a year outlives any conversation that still needs them.
FILE_LIFETIME = timedelta(days=365)
CHUNK_SIZE = 64 * 1024
# Mail limits of the content library (subject is required; body at most 50 000).
SUBJECT_MAX = 300

JSON = "application/json"
PNG = "image/png"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_IDS = {
    "file": re.compile(r"FIL[A-Za-z0-9]{17}"),
    "relationship": re.compile(r"REL[A-Za-z0-9]{17}"),
    "change": re.compile(r"RCH[A-Za-z0-9]{17}"),
    "template": re.compile(r"RLT[A-Za-z0-9]{17}"),
}
_MAJOR = re.compile(r"\s*v?(\d+)")


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with milliseconds and ``Z``: the only form the Connector's lexical date
    filters compare correctly (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def mail_subject(subject: str, text: str) -> str:
    """The Mail subject sent for ``subject`` (required by the Connector, at most 300 chars).

    An empty subject becomes the first line of the text, so that a reply without one is still
    a valid Mail; :meth:`EnmeshedClient.find_sent` derives it the same way.
    """
    if subject:
        return subject
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first:
        return "(no subject)"
    return first if len(first) <= 80 else first[:79] + "…"


def content_disposition_filename(value: str) -> str:
    """The file name of a ``Content-Disposition`` header; RFC 5987 ``filename*`` wins.

    ``""`` when the header names none.
    """
    extended = re.search(r"filename\*\s*=\s*([^;]+)", value, re.IGNORECASE)
    if extended:
        charset, _, rest = extended.group(1).strip().strip('"').partition("'")
        _, _, encoded = rest.partition("'")
        try:
            return unquote(encoded, encoding=charset or "utf-8", errors="strict")
        except (LookupError, UnicodeDecodeError):
            pass
    quoted = re.search(r'filename\s*=\s*"((?:[^"\\]|\\.)*)"', value, re.IGNORECASE)
    if quoted:
        return re.sub(r"\\(.)", r"\1", quoted.group(1))
    token = re.search(r"filename\s*=\s*([^;\s]+)", value, re.IGNORECASE)
    return token.group(1) if token else ""


class EnmeshedClient(HttpClient):
    """One channel's Connector: implements :class:`inbox.connectors.outbound.Client`.

    Settings: ``base_url`` (required), ``api_version`` (``auto``, ``v1`` or ``core-v1``),
    ``api_key_header`` (``X-API-KEY``), ``address`` (our own, optional), ``sync`` (sync before
    each poll, default true). Credentials:
    ``api_key``. State: ``api_version`` and ``address`` learnt earlier (see :meth:`state`).
    ``timeout`` and ``transport`` exist for tests.
    """

    platform = "enmeshed"

    def __init__(
        self,
        config: ClientConfig,
        *,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings = config.settings
        base_url = settings.get("base_url")
        if not isinstance(base_url, str) or not base_url.strip():
            raise PlatformError("the channel has no Connector base_url", permanent=True)
        api_key = config.credentials.get("api_key", "")
        if not api_key:
            raise PlatformError("the channel has no Connector api_key", permanent=True)
        if not api_key.isascii():
            raise PlatformError("the Connector api_key is not ASCII text", permanent=True)
        header = settings.get("api_key_header") or DEFAULT_KEY_HEADER
        if not isinstance(header, str):
            raise PlatformError("api_key_header is not text", permanent=True)

        pinned = settings.get("api_version") or AUTO
        if pinned not in (AUTO, V1, CORE_V1):
            raise PlatformError(
                f"api_version must be auto, v1 or core-v1, not {pinned!r:.20}", permanent=True
            )
        remembered = config.state.get("api_version")
        self._version: str | None = (
            pinned if pinned != AUTO else remembered if remembered in PREFIXES else None
        )
        # The channel's ``sync`` setting: False leaves syncing to the Connector's own module.
        self._sync = settings.get("sync", True) is not False
        address = settings.get("address") or config.state.get("address")
        self._address: str | None = address if isinstance(address, str) and address else None
        self._secret = api_key
        try:
            self._http = httpx.Client(
                base_url=base_url.strip().rstrip("/"),
                headers={header: api_key},
                timeout=timeout or httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
                transport=transport,
                verify=tls_context(),
            )
        except (httpx.InvalidURL, ValueError) as exc:
            raise PlatformError(
                f"the Connector base_url is invalid: {exc}", permanent=True
            ) from None

    # --- lifecycle and learnt facts ------------------------------------------------------------

    def api_version(self) -> str:
        """``v1`` or ``core-v1``; detected with one call the first time when not pinned."""
        if self._version is None:
            self._version = self._detect()
        return self._version

    def own_address(self) -> str:
        """Our identity's address: the setting, the remembered state or ``IdentityInfo``."""
        if self._address is None:
            info = _mapping(self._result("GET", self._api("/Account/IdentityInfo")), "identity")
            self._address = _string(info, "address")
        return self._address

    def state(self) -> dict[str, str]:
        """The facts learnt so far, for the channel to remember (also :attr:`Polled.state`)."""
        facts = {}
        if self._version is not None:
            facts["api_version"] = self._version
        if self._address is not None:
            facts["address"] = self._address
        return facts

    # --- the Client protocol -------------------------------------------------------------------

    def upload(self, *, file: OutgoingFile, target: Target | None = None) -> Uploaded:
        # 1.x requires title and expiresAt beside the file; 7.x accepts them.
        fields = {
            "title": file.title or file.name,
            "expiresAt": iso(datetime.now(UTC) + FILE_LIFETIME),
        }
        media_type = file.content_type or "application/octet-stream"
        # httpx reads the stream in chunks while sending, never whole.
        parts = {"file": (file.name, file.stream, media_type)}
        dto = _mapping(
            self._result("POST", self._api("/Files/Own"), data=fields, files=parts), "file"
        )
        return Uploaded(platform_id=_string(dto, "id"), document=dto)

    def send(
        self,
        *,
        target: Target,
        text: str,
        subject: str = "",
        attachments: Sequence[str] = (),
        files: Sequence[OutgoingFile] = (),
    ) -> Sent:
        recipients = _recipients(target)
        body: dict[str, Any] = {
            "recipients": recipients,
            "content": self._mail(recipients, subject, text),
        }
        if attachments:
            body["attachments"] = [_checked_id("file", ref) for ref in attachments]
        dto = _mapping(self._result("POST", self._api("/Messages"), json=body), "message")
        return _sent(dto)

    def find_sent(
        self,
        *,
        target: Target,
        text: str,
        subject: str,
        since: datetime,
        attachments: Sequence[str] = (),
    ) -> Sent | None:
        recipients = sorted(set(_recipients(target)))
        wanted_subject = mail_subject(subject, text)
        params: list[tuple[str, str]] = [("createdAt", ">=" + iso(since))]
        # 7.x filters on isOwn; 1.x messages carry no isOwn, but our address as createdBy.
        if self.api_version() == CORE_V1:
            params.append(("isOwn", "true"))
            own = None
        else:
            own = self.own_address()
            params.append(("createdBy", own))
        messages = _mappings(self._result("GET", self._api("/Messages"), params=params))
        # Subject and body are compared here: the filter language would read a leading
        # "!", "^", "~" or "<" of a text as an operator.
        for message in sorted(messages, key=lambda m: str(m.get("createdAt", ""))):
            content = message.get("content")
            mine = message.get("isOwn") is True if own is None else message.get("createdBy") == own
            if (
                mine
                and sorted(_addresses(message.get("recipients"))) == recipients
                and isinstance(content, Mapping)
                and content.get("@type") == "Mail"
                and content.get("subject") == wanted_subject
                and content.get("body") == text
                and sorted(_file_ids(message.get("attachments"))) == sorted(attachments)
            ):
                return _sent(message)
        return None

    def download(
        self, *, ref: str, sink: BinaryIO, max_bytes: int, target: Target | None = None
    ) -> Downloaded:
        file_id = _checked_id("file", ref)
        meta = _mapping(self._result("GET", self._api(f"/Files/{file_id}")), "file")
        declared = meta.get("filesize")
        if isinstance(declared, int) and declared > max_bytes:
            raise _too_large(file_id, declared, max_bytes)
        received = 0
        try:
            with self._http.stream(
                "GET", self._api(f"/Files/{file_id}/Download"), headers={"Accept": "*/*"}
            ) as response:
                if response.status_code >= 300:
                    response.read()
                    self._fail(response)
                disposition = response.headers.get("content-disposition", "")
                header_type = response.headers.get("content-type", "")
                for chunk in response.iter_bytes(CHUNK_SIZE):
                    received += len(chunk)
                    # Stop reading at once: closing the stream drops the connection.
                    if received > max_bytes:
                        raise _too_large(file_id, received, max_bytes)
                    sink.write(chunk)
        except httpx.HTTPError as exc:
            self._unreachable(exc)
        name = _text(meta.get("filename")) or content_disposition_filename(disposition)
        media_type = _text(meta.get("mimetype")) or header_type.split(";")[0].strip()
        return Downloaded(
            name=name or file_id,
            content_type=media_type or "application/octet-stream",
            size=received,
        )

    def poll(self, *, cursor: Mapping[str, Any]) -> Polled:
        since = _parse_iso_or_none(cursor.get("since"))
        known_pending = [
            ref for ref in cursor.get("known_pending", ()) if _is_id("relationship", ref)
        ]
        messages: dict[str, dict[str, Any]] = {}
        relationships: dict[str, dict[str, Any]] = {}

        synced = self._call("POST", self._api("/Account/Sync")) if self._sync else None
        if synced is not None and self.api_version() == V1:
            # 1.x answers what this sync run brought. The Connector's own sync module may
            # have fetched other news before us, so the list queries below still reconcile.
            answer = _mapping(_result_of(synced), "sync answer")
            _collect(messages, _mappings(answer.get("messages", [])))
            _collect(relationships, _mappings(answer.get("relationships", [])))

        params = [("createdAt", ">=" + iso(since - POLL_OVERLAP))] if since else []
        _collect(messages, _mappings(self._result("GET", self._api("/Messages"), params=params)))
        pending = self._result("GET", self._api("/Relationships"), params=[("status", "Pending")])
        _collect(relationships, _mappings(pending))
        for ref in known_pending:
            if ref not in relationships:
                refreshed = self._refresh(ref)
                if refreshed is not None:
                    relationships[ref] = refreshed

        newest = max(
            (str(m["createdAt"]) for m in messages.values() if isinstance(m.get("createdAt"), str)),
            default=None,
        )
        new_cursor: dict[str, Any] = {}
        previous = cursor.get("since")
        if newest is not None and (not isinstance(previous, str) or newest > previous):
            new_cursor["since"] = newest
        elif isinstance(previous, str):
            new_cursor["since"] = previous
        still_pending = sorted(
            ref for ref, dto in relationships.items() if dto.get("status") == "Pending"
        )
        if still_pending:
            new_cursor["known_pending"] = still_pending

        state = self.state()
        if "address" not in state:
            try:
                state["address"] = self.own_address()
            except PlatformError as exc:
                if not exc.permanent:
                    raise
                # A Connector without IdentityInfo still polls; the address setting helps.
        document = None
        if messages or relationships:
            ordered = sorted(messages.values(), key=lambda m: str(m.get("createdAt", "")))
            document = {"messages": ordered, "relationships": list(relationships.values())}
        return Polled(document=document, cursor=new_cursor, state=state)

    def decide(self, *, relationship_id: str, change_id: str, decision: str) -> Any:
        if decision not in DECISIONS:
            raise PlatformError(f"unknown relationship decision {decision!r:.20}", permanent=True)
        rel = _checked_id("relationship", relationship_id)
        word = decision.capitalize()
        if self.api_version() == CORE_V1:
            dto = self._result("PUT", self._api(f"/Relationships/{rel}/{word}"))
        else:
            if decision == "terminate":
                raise PlatformError(
                    "Connector 1.x cannot terminate a relationship",
                    permanent=True,
                    code="unsupported",
                )
            change = _checked_id("change", change_id) if change_id else self._pending_change(rel)
            # 1.x requires a response content, even an empty one.
            dto = self._result(
                "PUT",
                self._api(f"/Relationships/{rel}/Changes/{change}/{word}"),
                json={"content": {}},
            )
        return {"trigger": "transport.relationshipChanged", "data": _mapping(dto, "relationship")}

    # --- relationship templates and relationships ----------------------------------------------

    def create_template(
        self, *, expires_at: datetime, content: Mapping[str, Any], max_allocations: int | None
    ) -> dict[str, Any]:
        """A new own RelationshipTemplate (its DTO)."""
        body: dict[str, Any] = {"expiresAt": iso(expires_at), "content": dict(content)}
        if self.api_version() == CORE_V1:
            # 7.x wants a typed content; anything else travels as arbitrary content.
            if "@type" not in content:
                body["content"] = {
                    "@type": "ArbitraryRelationshipTemplateContent",
                    "value": dict(content),
                }
            limit_key = "maxNumberOfAllocations"
        else:
            limit_key = "maxNumberOfRelationships"
        if max_allocations is not None:
            body[limit_key] = max_allocations
        path = self._api("/RelationshipTemplates/Own")
        return _mapping(self._result("POST", path, json=body), "template")

    def list_templates(self) -> list[dict[str, Any]]:
        """Our own RelationshipTemplates."""
        return _mappings(self._result("GET", self._api("/RelationshipTemplates/Own")))

    def template_qr(self, template_id: str) -> bytes:
        """A PNG QR code for the template: 7.x renders the template itself, 1.x a token for it."""
        ref = _checked_id("template", template_id)
        if self.api_version() == CORE_V1:
            response = self._call("GET", self._api(f"/RelationshipTemplates/{ref}"), accept=PNG)
        else:
            response = self._call(
                "POST", self._api(f"/RelationshipTemplates/Own/{ref}/Token"), json={}, accept=PNG
            )
        if not response.content.startswith(PNG_SIGNATURE):
            raise PlatformError(
                "the Connector's QR code is not a PNG", permanent=False, code="invalid_response"
            )
        return response.content

    def get_relationship(self, relationship_id: str) -> dict[str, Any]:
        """The relationship's current DTO."""
        rel = _checked_id("relationship", relationship_id)
        return _mapping(self._result("GET", self._api(f"/Relationships/{rel}")), "relationship")

    # --- internals -----------------------------------------------------------------------------

    def _api(self, route: str) -> str:
        return PREFIXES[self.api_version()] + route

    def _detect(self) -> str:
        try:
            body = _json(self._call("GET", "/Monitoring/Version"))
        except PlatformError as exc:
            if exc.status != 404:
                raise
            # A proxy that only forwards /api: the prefix that answers tells the generation.
            return self._probe()
        version = _text(body.get("version")) if isinstance(body, Mapping) else ""
        match = _MAJOR.match(version)
        if not match:
            raise PlatformError(
                f"the Connector reports no readable version ({version!r:.30})",
                permanent=True,
                code="unknown_version",
            )
        major = int(match.group(1))
        if major <= 2:
            return V1
        if major >= 7:
            return CORE_V1
        raise PlatformError(
            f"Connector {version} (API /api/v2) is not supported: use 1.x-2.x or 7.x or later",
            permanent=True,
            code="unsupported_version",
        )

    def _probe(self) -> str:
        for generation in (CORE_V1, V1):
            try:
                response = self._call("GET", PREFIXES[generation] + "/Account/IdentityInfo")
            except PlatformError as exc:
                if exc.status == 404:
                    continue
                raise
            address = _mapping(_result_of(response), "identity").get("address")
            if isinstance(address, str) and address and self._address is None:
                self._address = address
            return generation
        raise PlatformError(
            "the Connector answers neither /Monitoring/Version nor a known API prefix",
            permanent=True,
            code="unknown_version",
        )

    def _mail(self, recipients: list[str], subject: str, text: str) -> dict[str, Any]:
        content: dict[str, Any] = {
            "@type": "Mail",
            "to": recipients,
            "cc": [],
            "subject": mail_subject(subject, text),
            "body": text,
        }
        if self.api_version() == CORE_V1:
            content["bodyFormat"] = "PlainText"  # required by 7.x, unknown to 1.x
        return content

    def _pending_change(self, relationship_id: str) -> str:
        relationship = self.get_relationship(relationship_id)
        for change in _mappings(relationship.get("changes", [])):
            if change.get("status") == "Pending" and _is_id("change", change.get("id")):
                return str(change["id"])
        status = relationship.get("status")
        raise PlatformError(
            f"relationship {relationship_id} has no pending change (status {status!r:.20})",
            permanent=True,
            code="error.transport.relationships.wrongRelationshipStatus",
        )

    def _refresh(self, relationship_id: str) -> dict[str, Any] | None:
        try:
            return self.get_relationship(relationship_id)
        except PlatformError as exc:
            if exc.status == 404:
                return None  # decomposed: nothing left to reconcile
            raise

    def _result(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, Any] | None = None,
    ) -> Any:
        response = self._call(method, path, params=params, json=json, data=data, files=files)
        return _result_of(response)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, Any] | None = None,
        accept: str = JSON,
    ) -> httpx.Response:
        try:
            response = self._http.request(
                method,
                path,
                params=list(params) if params else None,
                json=json,
                data=data,
                files=files,
                headers={"Accept": accept},
            )
        except httpx.HTTPError as exc:
            self._unreachable(exc)
        if response.status_code >= 300:
            self._fail(response)
        return response

    def _fail(self, response: httpx.Response) -> NoReturn:
        status = response.status_code
        code, message = "", ""
        try:
            envelope = response.json()
        except ValueError:
            envelope = None
        error = envelope.get("error") if isinstance(envelope, Mapping) else None
        if isinstance(error, Mapping):
            code = _text(error.get("code"))
            message = _text(error.get("message"))
        if status < 400:
            message = message or f"unexpected redirect ({status}): check the base_url"
        raise PlatformError(
            self._scrub(message or f"the Connector answered HTTP {status}"),
            # 4xx are answered again; 408/429 and 5xx may pass.
            permanent=status < 500 and status not in (408, 429),
            code=self._scrub(code),
            status=status,
            retry_after=retry_after(response.headers.get("retry-after")),
        )

    def _unreachable(self, exc: httpx.HTTPError) -> NoReturn:
        raise unreachable(exc, "the Connector", self._scrub) from None

    def _scrub(self, text: str) -> str:
        """Platform words are shown to people: the key never is, even if echoed."""
        return text.replace(self._secret, "***") if self._secret else text


# --- plain helpers ---------------------------------------------------------------------------


def _parse_iso_or_none(value: Any) -> datetime | None:
    try:
        return parse_iso(value)
    except PayloadError:
        return None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise PlatformError(
            "the Connector's answer is not JSON", permanent=False, code="invalid_response"
        ) from None


def _result_of(response: httpx.Response) -> Any:
    if response.status_code == 204:
        return None
    body = _json(response)
    if not isinstance(body, Mapping) or "result" not in body:
        raise PlatformError(
            "the Connector's answer has no result", permanent=False, code="invalid_response"
        )
    return body["result"]


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise PlatformError(
            f"the Connector's {what} is not an object", permanent=False, code="invalid_response"
        )
    return dict(value)


def _mappings(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise PlatformError(
            "the Connector's list is not a list", permanent=False, code="invalid_response"
        )
    return [dict(item) for item in value if isinstance(item, Mapping)]


def _collect(into: dict[str, dict[str, Any]], dtos: Iterable[dict[str, Any]]) -> None:
    """Upsert by id: a later (fresher) copy of a DTO replaces an earlier one."""
    for dto in dtos:
        ref = dto.get("id")
        if isinstance(ref, str) and ref:
            into[ref] = dto


def _string(dto: Mapping[str, Any], key: str) -> str:
    value = dto.get(key)
    if not isinstance(value, str) or not value:
        raise PlatformError(
            f"the Connector's answer has no {key}", permanent=False, code="invalid_response"
        )
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _file_ids(value: Any) -> list[str]:
    """The file ids of a MessageDTO's attachments (ids, or full FileDTOs)."""
    ids = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            ids.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get("id"), str):
            ids.append(item["id"])
    return ids


def _addresses(recipients: Any) -> list[str]:
    if not isinstance(recipients, list):
        return []
    return [
        str(entry["address"])
        for entry in recipients
        if isinstance(entry, Mapping) and isinstance(entry.get("address"), str)
    ]


def _recipients(target: Target) -> list[str]:
    """The addresses to send to: the target's, else a direct conversation's peer address."""
    found = list(dict.fromkeys(address for address in target.recipients if address))
    if not found and target.conversation_id and not target.conversation_id.startswith("group:"):
        found = [target.conversation_id]
    if not found:
        raise PlatformError("the message has no recipient address", permanent=True)
    return found


def _sent(dto: dict[str, Any]) -> Sent:
    return Sent(
        platform_id=_string(dto, "id"),
        sent_at=_parse_iso_or_none(dto.get("createdAt")),
        document={"trigger": "transport.messageSent", "data": dto},
    )


def _is_id(kind: str, value: Any) -> bool:
    return isinstance(value, str) and _IDS[kind].fullmatch(value) is not None


def _checked_id(kind: str, value: str) -> str:
    """Ids come from payloads and end up in URL paths: only well-formed ones go out."""
    if not _is_id(kind, value):
        raise PlatformError(f"{value!r:.40} is not an enmeshed {kind} id", permanent=True)
    return value


def _too_large(file_id: str, size: int, max_bytes: int) -> PlatformError:
    return PlatformError(
        f"file {file_id} is larger than {max_bytes} bytes ({size} or more)",
        permanent=True,
        code="file_too_large",
    )
