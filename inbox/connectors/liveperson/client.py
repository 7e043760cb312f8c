"""The LivePerson Connector API client: the inbox speaks for consumers toward LivePerson agents.

Three services take part, each a channel setting (a bare host means ``https://``):

* Sentinel issues the app's **AppJWT** (client credentials; about an hour; cached per process,
  renewed a minute before it ends, and fetched again once when a call answers 401 errorCode
  40102, "expired");
* the IDP issues a **ConsumerJWS** per consumer (``ext_consumer_id``, our stable id of the
  consumer); it never expires and is cached per process. Its payload's ``lp_consumer_id`` is
  how webhooks name the consumer (``originatorId``), and so the address the inbox knows the
  consumer by: the client keeps ``lp_consumer_id -> ext_consumer_id`` in :meth:`state`;
* asyncMessagingEnt takes every conversation call (``POST …/conversation/send?v=3``, and
  ``…/conversation?v=3`` to open one) with ``Authorization: <AppJWT>`` (bare) and
  ``X-LP-ON-BEHALF: <ConsumerJWS>``. HTTP 200 can carry an error: each answer is matched to
  its request by ``reqId`` and its inner ``code`` checked. A request is at most 5000 characters
  of JSON.

Files go to swift through temporary URLs that the messaging service signs
(``ms.GenerateURLForUploadFile`` / ``ms.GenerateURLForDownloadFile``); only the configured swift
host is ever contacted, and the relative path is checked before it is joined to it.

A message's id is ``"<dialogId>:<sequence>"`` (:func:`.ids.liveperson_message_id`), the same id
the parse side gives the consumer echo of it.
"""

from __future__ import annotations

import base64
import io
import json
import posixpath
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import IO, Any, BinaryIO, NoReturn

import httpx
import jwt

from ..http import HttpClient, retry_after, tls_context
from ..outbound import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    ClientConfig,
    Downloaded,
    Opened,
    OutgoingFile,
    PlatformError,
    Sent,
    Target,
    Uploaded,
)
from .ids import liveperson_message_id
from .messages import FILE_TYPES

CONSUMER = "CONSUMER"
MAX_REQUEST_CHARS = 5000  # of the JSON of one conversation call
MAX_FILE_SIZE = 3 * 1024 * 1024
# Media type -> the fileType LivePerson takes for uploads.
UPLOAD_TYPES: Mapping[str, str] = {"image/jpeg": "JPG", "image/png": "PNG", "image/gif": "GIF"}
DEFAULT_SKILL = "-1"
TOKEN_LIFETIME = 3600.0  # seconds, when Sentinel says nothing about it
RENEW_BEFORE = 60.0
# A hosted/file event carries its thumbnail inline, within the 5000 characters of the request.
PREVIEW_MAX_CHARS = 2000
PREVIEW_SIDES = (96, 72, 48, 32)
PREVIEW_MAX_PIXELS = 40_000_000  # larger images are not decoded for a thumbnail
SPOOL_IN_MEMORY = 512 * 1024
CHUNK_SIZE = 64 * 1024
# Sequences per receipt, so that one AcceptStatusEvent stays under the request limit.
RECEIPT_BATCH = 200

EXPIRED_TOKEN = "40102"  # noqa: S105 (an error code, not a password)
CLOSED = "conversation is close"  # LivePerson's own words ("Bad Request, Conversation is close")
ALREADY_OPEN = "already has open conversation"
TRANSIENT_CODES = frozenset(
    {
        "INTERNAL_SERVER_ERROR",
        "SERVICE_UNAVAILABLE",
        "GATEWAY_TIMEOUT",
        "TIMEOUT",
        "REQUEST_TIMEOUT",
        "TOO_MANY_REQUESTS",
    }
)

_ACCOUNT = re.compile(r"[A-Za-z0-9_-]+")
_PATH = re.compile(r"/[A-Za-z0-9_.~%+=-][A-Za-z0-9_.~%+=/-]*")
_QUERY_VALUE = re.compile(r"[A-Za-z0-9_.~-]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

# --- per-process token caches ------------------------------------------------------------------

# (sentinel, account, client id) -> (AppJWT, its end in epoch seconds).
_app_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
# (idp, account, ext_consumer_id) -> ConsumerJWS (they never expire).
_consumer_tokens: dict[tuple[str, str, str], str] = {}
# (idp, account) -> {lp_consumer_id: ext_consumer_id} learnt in this process, so that a client
# built before its channel's state was saved still knows whom a webhook address stands for.
_known_consumers: dict[tuple[str, str], dict[str, str]] = {}
_tokens_lock = threading.Lock()


def clear_token_cache() -> None:
    """Forget what this process cached: tokens and learnt consumer addresses (for tests)."""
    with _tokens_lock:
        _app_tokens.clear()
        _consumer_tokens.clear()
        _known_consumers.clear()


class _ConversationClosed(PlatformError):
    """LivePerson refused a publish because the conversation is closed."""


class LivePersonClient(HttpClient):
    """One channel's LivePerson app: implements :class:`inbox.connectors.outbound.Client`.

    Settings: ``account_id``, ``client_id``, ``sentinel_url``, ``idp_url``, ``messaging_url``
    (all needed to act), ``swift_url`` (for files), ``brand_id`` (default: the account id),
    ``skill_id`` (default ``-1``). Credentials: ``client_secret``. State: ``consumers``, the
    ``lp_consumer_id -> ext_consumer_id`` pairs learnt so far. Missing settings are reported by
    the first call that needs them (a permanent PlatformError), not by the constructor.
    ``timeout`` and ``transport`` exist for tests.
    """

    platform = "liveperson"

    def __init__(
        self,
        config: ClientConfig,
        *,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings = config.settings
        self._problems: list[str] = []
        account = _text(settings.get("account_id")).strip()
        if account and not _ACCOUNT.fullmatch(account):
            self._problems.append("account_id is not a LivePerson account id")
        self._account = account
        self._client_id = _text(settings.get("client_id")).strip()
        self._secret = config.credentials.get("client_secret", "")
        self._sentinel = self._base(settings, "sentinel_url")
        self._idp = self._base(settings, "idp_url")
        self._messaging_base = self._base(settings, "messaging_url")
        self._swift = self._base(settings, "swift_url")
        self._brand = _text(settings.get("brand_id")).strip() or account
        self._skill = _text(settings.get("skill_id")).strip() or DEFAULT_SKILL
        remembered = config.state.get("consumers")
        self._consumers: dict[str, str] = {
            str(lp_id): ext
            for lp_id, ext in (remembered.items() if isinstance(remembered, Mapping) else ())
            if isinstance(lp_id, str) and lp_id and isinstance(ext, str) and ext
        }
        # relativePath -> (fileType, preview) of the files this instance uploaded.
        self._files: dict[str, tuple[str, str]] = {}
        self._http = httpx.Client(
            timeout=timeout or httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            transport=transport,
            verify=tls_context(),
            follow_redirects=False,
        )

    # --- lifecycle and learnt facts ------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """``{"consumers": {lp_consumer_id: ext_consumer_id}}``: whom each webhook address
        stands for (tokens are never part of it)."""
        return {"consumers": dict(self._consumers)}

    # --- the Client protocol -------------------------------------------------------------------

    def send(
        self,
        *,
        target: Target,
        text: str,
        subject: str = "",
        attachments: Sequence[str] = (),
        files: Sequence[OutgoingFile] = (),
    ) -> Sent:
        """Publish the text, or one hosted/file event per attachment (the text as the first
        one's caption). A closed conversation is replaced by a new one for the same consumer,
        and :attr:`Sent.conversation_id` names it; so does a send without a conversation."""
        self._require()
        if files:
            raise PlatformError("LivePerson files are uploaded before sending", permanent=True)
        if not text and not attachments:
            raise PlatformError("the message has neither text nor files", permanent=True)
        events = [
            self._file_event(path, text if index == 0 else "")
            for index, path in enumerate(attachments)
        ] or [_text_event(text)]
        speaker = self._speaker(target)
        opened = ""
        dialog = target.conversation_id
        if not dialog:
            dialog = opened = self._open(speaker)
        try:
            sequence = self._publish_all(speaker, dialog, events)
        except _ConversationClosed:
            if opened:
                raise
            dialog = opened = self._open(speaker)
            sequence = self._publish_all(speaker, dialog, events)
        return Sent(
            platform_id=liveperson_message_id(dialog, sequence),
            sequence=sequence,
            conversation_id=opened,
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
        """Always None: the Connector API cannot list what a consumer sent.

        A retry after a lost answer is kept from sending twice by the inbox instead: our
        message echoes back by webhook (role ``CONSUMER``) and is matched to the outbound row,
        which then has its id before the retry runs. Errors say which case a failure was: a
        failed connect (``connect_failed``) never reached LivePerson; a read timeout
        (``read_timeout``) or a broken connection (``connection_lost``) may have published.
        """
        return None

    def open_conversation(self, *, target: Target) -> Opened:
        self._require()
        speaker = self._speaker(target)
        conversation_id = self._open(speaker)
        # Webhooks name the consumer by the id LivePerson gave it (learnt with its token).
        address = next((lp for lp, ext in self._consumers.items() if ext == speaker), speaker)
        return Opened(conversation_id=conversation_id, participants=[(address, CONSUMER)])

    def upload(self, *, file: OutgoingFile, target: Target | None = None) -> Uploaded:
        """Upload an image to swift through a temporary URL and remember its thumbnail for the
        hosted/file event. The URL is asked for on behalf of ``target``'s consumer, so the
        conversation is needed (the inbox passes it; without it the upload is refused)."""
        self._require(files=True)
        media = file.content_type.split(";")[0].strip().lower()
        file_type = UPLOAD_TYPES.get(media)
        if file_type is None:
            raise PlatformError(
                f"LivePerson takes JPG, PNG and GIF images, not {media or 'untyped files'}",
                permanent=True,
                code="unsupported_file_type",
            )
        if file.size > MAX_FILE_SIZE:
            raise _too_large(file.name, file.size, MAX_FILE_SIZE)
        if file.size <= 0:
            raise PlatformError(f"{file.name} is empty", permanent=True, code="empty_file")
        if target is None:
            raise PlatformError(
                "a LivePerson upload needs the conversation it is for", permanent=True
            )
        request = _request(
            "ms.GenerateURLForUploadFile", {"fileSize": str(file.size), "fileType": file_type}
        )
        path, params = _temp_url(self._conversation_call(self._speaker(target), request), "")
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as copy:
            response = self._send(
                "file storage",
                "PUT",
                self._swift + path,
                params=params,
                content=_chunks(file, copy),
                headers={"Content-Type": media, "Content-Length": str(file.size)},
            )
            if response.status_code >= 300:
                self._fail("file storage", response)
            preview = _preview(copy, media)
        self._files[path] = (file_type, preview)
        return Uploaded(platform_id=path, document={"relativePath": path, "fileType": file_type})

    def download(
        self, *, ref: str, sink: BinaryIO, max_bytes: int, target: Target | None = None
    ) -> Downloaded:
        self._require(files=True)
        path = _checked_path(ref)
        if target is None:
            raise PlatformError(
                "a LivePerson download needs the conversation the file came in", permanent=True
            )
        request = _request("ms.GenerateURLForDownloadFile", {"relativePath": path})
        path, params = _temp_url(self._conversation_call(self._speaker(target), request), path)
        received = 0
        try:
            with self._http.stream("GET", self._swift + path, params=params) as response:
                if response.status_code >= 300:
                    response.read()
                    self._fail("file storage", response)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise _too_large(posixpath.basename(path), int(declared), max_bytes)
                header_type = response.headers.get("content-type", "").split(";")[0].strip()
                for chunk in response.iter_bytes(CHUNK_SIZE):
                    received += len(chunk)
                    if received > max_bytes:  # leaving the block drops the connection
                        raise _too_large(posixpath.basename(path), received, max_bytes)
                    sink.write(chunk)
        except httpx.HTTPError as exc:
            raise self._unreachable("file storage", exc) from None
        name = posixpath.basename(path)
        extension = posixpath.splitext(name)[1].lstrip(".").upper()
        return Downloaded(
            name=name,
            content_type=header_type or FILE_TYPES.get(extension, "application/octet-stream"),
            size=received,
        )

    def mark_read(self, *, target: Target, messages: Sequence[str]) -> None:
        """One ``AcceptStatusEvent`` READ per dialog, for messages named ``"<dialog>:<seq>"``."""
        self._require()
        by_dialog: dict[str, list[int]] = {}
        for ref in messages:
            dialog, _, number = ref.rpartition(":")
            if not dialog or not number.isdigit():
                raise PlatformError(f"{ref!r:.80} is not a LivePerson message id", permanent=True)
            sequences = by_dialog.setdefault(dialog, [])
            if int(number) not in sequences:
                sequences.append(int(number))
        if not by_dialog:
            return
        speaker = self._speaker(target)
        for dialog, sequences in by_dialog.items():
            for start in range(0, len(sequences), RECEIPT_BATCH):
                event = {
                    "type": "AcceptStatusEvent",
                    "status": "READ",
                    "sequenceList": sequences[start : start + RECEIPT_BATCH],
                }
                self._publish(speaker, dialog, event)

    def typing(self, *, target: Target, active: bool) -> None:
        self._require()
        event = {"type": "ChatStateEvent", "chatState": "COMPOSING" if active else "ACTIVE"}
        self._publish(self._speaker(target), _conversation(target), event)

    def close_conversation(self, *, target: Target) -> None:
        self._require()
        field = {"field": "ConversationStateField", "conversationState": "CLOSE"}
        body = {"conversationId": _conversation(target), "conversationField": field}
        self._conversation_call(self._speaker(target), _request("cm.UpdateConversationField", body))

    # --- conversations and events --------------------------------------------------------------

    def _speaker(self, target: Target) -> str:
        """The ext_consumer_id to speak as: the conversation's consumer, else the sender."""
        address = next(
            (address for address, role in target.participants if role == CONSUMER and address),
            target.sender,
        )
        if not address:
            raise PlatformError(
                "the conversation has no consumer the inbox could speak for", permanent=True
            )
        if address not in self._consumers:
            with _tokens_lock:
                known = _known_consumers.get((self._idp, self._account), {}).get(address)
            if known is not None:
                self._consumers[address] = known
        return self._consumers.get(address, address)

    def _open(self, speaker: str) -> str:
        """A new conversation for the consumer (profile first, as LivePerson wants)."""
        profile = _request("userprofile.SetUserProfile", {})
        wanted = _request(
            "cm.ConsumerRequestConversation", {"brandId": self._brand, "skillId": self._skill}
        )
        answers = self._messaging(speaker, "/conversation", [profile, wanted])
        answer = _answer_to(answers, wanted["id"])
        body = _mapping(answer.get("body"))
        if _ok(answer):
            conversation = _text(body.get("conversationId"))
            if not conversation:
                raise _invalid("the conversation LivePerson opened has no id")
            return conversation
        words = _text(body.get("msg"))
        if ALREADY_OPEN in words.lower():
            named = _text(body.get("conversationId"))
            if not named:
                found = _UUID.search(words)
                named = found.group(0) if found else ""
            if named:
                return named
            raise PlatformError(
                "the consumer already has an open conversation and LivePerson does not say "
                "which, so a new one cannot be opened",
                permanent=True,
                code=_code(answer),
            )
        raise self._inner_error(answer)

    def _publish_all(self, speaker: str, dialog: str, events: list[dict[str, Any]]) -> int:
        """Publish ``events`` in order; returns the first one's sequence. Only the first may
        find the conversation closed (it can be repeated in a new one without a duplicate)."""
        head, *rest = events
        first = self._publish(speaker, dialog, head)
        if first is None:
            raise _invalid("LivePerson's answer to a message has no sequence")
        for event in rest:
            try:
                self._publish(speaker, dialog, event)
            except _ConversationClosed as exc:
                raise PlatformError(exc.message, permanent=True, code=exc.code) from None
        return first

    def _publish(self, speaker: str, dialog: str, event: dict[str, Any]) -> int | None:
        request = _request("ms.PublishEvent", {"dialogId": dialog, "event": event})
        message = event.get("message")
        too_long = _length(request) > MAX_REQUEST_CHARS
        if too_long and isinstance(message, dict) and "preview" in message:
            del message["preview"]  # the file goes without its thumbnail rather than not at all
        body = self._conversation_call(speaker, request)
        return _sequence(body.get("sequence"))

    def _file_event(self, path: str, caption: str) -> dict[str, Any]:
        path = _checked_path(path)
        known = self._files.get(path)
        if known is not None:
            file_type, preview = known
        else:  # uploaded by another instance (a retry): the type is in the name
            extension = posixpath.splitext(path)[1].lstrip(".").upper()
            if extension not in FILE_TYPES:
                raise PlatformError(
                    f"cannot tell the file type of {posixpath.basename(path):.80}",
                    permanent=True,
                )
            file_type, preview = extension, ""
        message: dict[str, Any] = {"relativePath": path, "fileType": file_type}
        if caption:
            message["caption"] = caption
        if preview:
            message["preview"] = preview
        return {"type": "ContentEvent", "contentType": "hosted/file", "message": message}

    # --- the messaging service -----------------------------------------------------------------

    def _conversation_call(self, speaker: str, request: dict[str, Any]) -> dict[str, Any]:
        """One request to ``…/conversation/send``: the body of its (checked) answer."""
        answer = _answer_to(self._messaging(speaker, "/conversation/send", request), request["id"])
        if not _ok(answer):
            raise self._inner_error(answer)
        return _mapping(answer.get("body"))

    def _messaging(self, speaker: str, route: str, payload: Any) -> Any:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        if len(text) > MAX_REQUEST_CHARS:
            raise PlatformError(
                f"the request would be {len(text)} characters of JSON; LivePerson takes at "
                f"most {MAX_REQUEST_CHARS} (shorten the text)",
                permanent=True,
                code="request_too_large",
            )
        consumer_token = self._consumer_token(speaker)
        url = f"{self._messaging_base}/api/account/{self._account}/messaging/consumer{route}"
        try:
            response = self._with_app_token(
                "messaging service",
                "POST",
                url,
                params={"v": "3"},
                content=text.encode(),
                headers={"X-LP-ON-BEHALF": consumer_token, "Content-Type": "application/json"},
            )
        except PlatformError as exc:
            if exc.status == 401:  # a ConsumerJWS LivePerson no longer takes: get a new one
                _forget_consumer_token((self._idp, self._account, speaker), consumer_token)
            raise
        return _json(response, "messaging service")

    def _inner_error(self, answer: Mapping[str, Any]) -> PlatformError:
        code = _code(answer)
        body = _mapping(answer.get("body"))
        words = _text(body.get("msg")) or _text(body.get("message")) or _joined(body)
        message = self._scrub(words or f"LivePerson answered {code or 'an error'}")
        if CLOSED in words.lower():
            return _ConversationClosed(message, permanent=True, code=code)
        numeric = int(code) if code.isdigit() else None
        transient = code in TRANSIENT_CODES or (
            numeric is not None and (numeric >= 500 or numeric in (408, 429))
        )
        return PlatformError(message, permanent=not transient, code=code, status=numeric)

    # --- tokens --------------------------------------------------------------------------------

    def _app_token(self) -> str:
        key = (self._sentinel, self._account, self._client_id)
        now = time.time()
        with _tokens_lock:
            cached = _app_tokens.get(key)
        if cached is not None and now < cached[1]:
            return cached[0]
        url = f"{self._sentinel}/sentinel/api/account/{self._account}/app/token"
        response = self._send(
            "Sentinel",
            "POST",
            url,
            params={"v": "1.0", "grant_type": "client_credentials"},
            data={"client_id": self._client_id, "client_secret": self._secret},
        )
        if response.status_code in (401, 403):
            code, _ = _error_words(response)
            raise PlatformError(
                "LivePerson refused the app's credentials (check client_id and client_secret)",
                permanent=True,
                code=self._scrub(code) or "unauthorized",
                status=response.status_code,
                credentials=True,
            )
        if response.status_code >= 300:
            self._fail("Sentinel", response)
        body = _mapping(_json(response, "Sentinel"))
        token = _text(body.get("access_token"))
        if not token:
            raise _invalid("Sentinel's answer has no access_token")
        lifetime = _lifetime(body.get("expires_in"), token, now)
        ends = now + lifetime - min(RENEW_BEFORE, lifetime / 2)
        with _tokens_lock:
            _app_tokens[key] = (token, ends)
        return token

    def _consumer_token(self, speaker: str) -> str:
        key = (self._idp, self._account, speaker)
        with _tokens_lock:
            cached = _consumer_tokens.get(key)
        if cached is None:
            url = f"{self._idp}/api/account/{self._account}/consumer"
            response = self._with_app_token(
                "IDP", "POST", url, params={"v": "1.0"}, json={"ext_consumer_id": speaker}
            )
            cached = _text(_mapping(_json(response, "IDP")).get("token"))
            if not cached:
                raise _invalid("the IDP's answer has no token")
            with _tokens_lock:
                _consumer_tokens[key] = cached
        self._learn(cached, speaker)
        return cached

    def _learn(self, consumer_token: str, speaker: str) -> None:
        try:
            claims = jwt.decode(consumer_token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return  # a token we cannot read still speaks; only the address mapping is lost
        lp_id = claims.get("lp_consumer_id") if isinstance(claims, Mapping) else None
        if isinstance(lp_id, str) and lp_id:
            self._consumers[lp_id] = speaker
            with _tokens_lock:
                _known_consumers.setdefault((self._idp, self._account), {})[lp_id] = speaker

    def _with_app_token(self, service: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """A call with ``Authorization: <AppJWT>``; an expired token is renewed once."""
        extra = kwargs.pop("headers", {})
        for attempt in (1, 2):
            token = self._app_token()
            response = self._send(
                service, method, url, headers={"Authorization": token, **extra}, **kwargs
            )
            if attempt == 1 and _expired(response):
                _forget_app_token((self._sentinel, self._account, self._client_id), token)
                continue
            break
        if response.status_code >= 300:
            self._fail(service, response)
        return response

    # --- HTTP ----------------------------------------------------------------------------------

    def _send(self, service: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(service, exc) from None

    def _fail(self, service: str, response: httpx.Response) -> NoReturn:
        status = response.status_code
        code, words = _error_words(response)
        message = self._scrub(words or f"LivePerson's {service} answered HTTP {status}")
        if status < 400:
            message = f"LivePerson's {service} answered with a redirect ({status}): check its URL"
        error_type = _ConversationClosed if CLOSED in words.lower() else PlatformError
        raise error_type(
            message,
            # 4xx are answered again; 408/429 and 5xx may pass.
            permanent=status < 500 and status not in (408, 429),
            code=self._scrub(code),
            status=status,
            retry_after=retry_after(response.headers.get("retry-after")),
        )

    def _unreachable(self, service: str, exc: httpx.HTTPError) -> PlatformError:
        detail = self._scrub(str(exc)) or type(exc).__name__
        where = f"LivePerson's {service}"
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return PlatformError(
                f"cannot connect to {where} ({detail}); the request was not sent",
                permanent=False,
                code="connect_failed",
            )
        if isinstance(exc, httpx.ReadTimeout):
            return PlatformError(
                f"{where} did not answer in time; the request was sent and may have been "
                "carried out",
                permanent=False,
                code="read_timeout",
            )
        if isinstance(exc, httpx.TimeoutException):
            return PlatformError(f"{where} timed out ({detail})", permanent=False, code="timeout")
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
            # A URL httpx cannot speak, or a body shorter than its declared size: again so.
            return PlatformError(f"cannot call {where}: {detail}", permanent=True)
        return PlatformError(
            f"the connection to {where} broke before it answered ({detail}); the request may "
            "have been carried out",
            permanent=False,
            code="connection_lost",
        )

    def _scrub(self, text: str) -> str:
        """Platform words are shown to people: the secret and the tokens never are."""
        secrets = [self._secret] if self._secret else []
        with _tokens_lock:
            secrets += [token for token, _ in _app_tokens.values()]
            secrets += list(_consumer_tokens.values())
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    # --- settings ------------------------------------------------------------------------------

    def _base(self, settings: Mapping[str, Any], name: str) -> str:
        """A host setting as a base URL (a bare host means https); ``""`` when unset."""
        value = _text(settings.get(name)).strip()
        if not value:
            return ""
        if "://" not in value:
            value = "https://" + value
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host or url.query:
            self._problems.append(f"{name} is not a host name or an http(s) URL")
            return ""
        return value.rstrip("/")

    def _require(self, *, files: bool = False) -> None:
        """Refuse for good when the settings cannot work, naming what is wrong."""
        missing = [
            name
            for name, value in (
                ("account_id", self._account),
                ("client_id", self._client_id),
                ("client_secret", self._secret),
                ("sentinel_url", self._sentinel),
                ("idp_url", self._idp),
                ("messaging_url", self._messaging_base),
                ("swift_url", self._swift if files else "set"),
            )
            if not value
        ]
        problems = self._problems + ([f"missing {', '.join(missing)}"] if missing else [])
        if problems:
            raise PlatformError(
                f"the LivePerson channel is not set up: {'; '.join(problems)}",
                permanent=True,
                code="not_configured",
            )


# --- plain helpers -----------------------------------------------------------------------------


def _forget_app_token(key: tuple[str, str, str], token: str) -> None:
    with _tokens_lock:
        cached = _app_tokens.get(key)
        if cached is not None and cached[0] == token:  # not one another client just renewed
            del _app_tokens[key]


def _forget_consumer_token(key: tuple[str, str, str], token: str) -> None:
    with _tokens_lock:
        if _consumer_tokens.get(key) == token:
            del _consumer_tokens[key]


def _lifetime(expires_in: Any, token: str, now: float) -> float:
    """Seconds the AppJWT lives: ``expires_in``, else its ``exp`` claim, else an hour."""
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        return float(expires_in)
    if isinstance(expires_in, str) and expires_in.isdigit() and int(expires_in) > 0:
        return float(expires_in)
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return TOKEN_LIFETIME
    ends = claims.get("exp") if isinstance(claims, Mapping) else None
    if isinstance(ends, int | float) and not isinstance(ends, bool) and ends > now:
        return float(ends) - now
    return TOKEN_LIFETIME


def _expired(response: httpx.Response) -> bool:
    """A 401 whose errorCode says the AppJWT expired (40102)."""
    if response.status_code != 401:
        return False
    code, _ = _error_words(response)
    return code == EXPIRED_TOKEN


def _request(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "req", "id": str(uuid.uuid4()), "type": kind, "body": body}


def _text_event(text: str) -> dict[str, Any]:
    return {"type": "ContentEvent", "contentType": "text/plain", "message": text}


def _conversation(target: Target) -> str:
    if not target.conversation_id:
        raise PlatformError("the LivePerson conversation is not known yet", permanent=True)
    return target.conversation_id


def _length(payload: Any) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))


def _answer_to(answers: Any, request_id: str) -> Mapping[str, Any]:
    """The answer with ``reqId`` ``request_id`` (a lone answer naming no request is it)."""
    items = answers if isinstance(answers, list) else [answers]
    for item in items:
        if isinstance(item, Mapping) and str(item.get("reqId")) == request_id:
            return item
    if len(items) == 1 and isinstance(items[0], Mapping) and "reqId" not in items[0]:
        return items[0]
    raise _invalid("LivePerson's answer does not answer the request")


def _ok(answer: Mapping[str, Any]) -> bool:
    code = _code(answer)
    return code == "OK" or (code.isdigit() and 200 <= int(code) < 300)


def _code(answer: Mapping[str, Any]) -> str:
    code = answer.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        return str(code)
    return code if isinstance(code, str) else ""


def _sequence(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _temp_url(body: Mapping[str, Any], path: str) -> tuple[str, dict[str, str]]:
    """The checked relative path and query of a temporary swift URL LivePerson signed."""
    path = _checked_path(_text(body.get("relativePath")) or path)
    query = _mapping(body.get("queryParams"))
    params = {}
    for name in ("temp_url_sig", "temp_url_expires"):
        value = query.get(name)
        value = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(value, str) or not _QUERY_VALUE.fullmatch(value):
            raise _invalid(f"LivePerson's temporary file URL has no valid {name}")
        params[name] = value
    return path, params


def _checked_path(value: str) -> str:
    """Relative paths come from payloads and are joined to the swift host: only plain ones."""
    if (
        not _PATH.fullmatch(value)
        or "//" in value
        or any(part in (".", "..") for part in value.split("/"))
    ):
        raise PlatformError(f"{value!r:.80} is not a LivePerson file path", permanent=True)
    return value


def _chunks(file: OutgoingFile, copy: IO[bytes]) -> Iterator[bytes]:
    """The file's bytes, chunk by chunk, kept in ``copy`` on the way (for the thumbnail)."""
    sent = 0
    while chunk := file.stream.read(CHUNK_SIZE):
        sent += len(chunk)
        if sent > file.size:
            raise _too_large(file.name, sent, file.size)
        copy.write(chunk)
        yield chunk


def _preview(data: IO[bytes], media: str) -> str:
    """A small ``data:image/jpeg;base64,…`` thumbnail, or ``""`` when none can be made."""
    data.seek(0)
    try:
        from PIL import Image
    except ImportError:  # without Pillow: the image itself, if it is small enough
        raw = data.read(PREVIEW_MAX_CHARS)
        url = f"data:{media};base64,{base64.b64encode(raw).decode()}"
        return url if len(url) <= PREVIEW_MAX_CHARS and not data.read(1) else ""
    try:
        with Image.open(data) as image:
            if image.width * image.height > PREVIEW_MAX_PIXELS:
                return ""
            image.draft("RGB", (PREVIEW_SIDES[0], PREVIEW_SIDES[0]))  # JPEG: decode smaller
            frame = image.convert("RGBA")
        flat = Image.new("RGB", frame.size, "white")
        flat.paste(frame, mask=frame.getchannel("A"))
        for side in PREVIEW_SIDES:
            thumb = flat.copy()
            thumb.thumbnail((side, side))
            out = io.BytesIO()
            thumb.save(out, "JPEG", quality=60, optimize=True)
            url = "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()
            if len(url) <= PREVIEW_MAX_CHARS:
                return url
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return ""  # not an image Pillow reads: LivePerson shows the file without a thumbnail
    return ""


def _json(response: httpx.Response, service: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise _invalid(f"LivePerson's {service} answered something that is not JSON") from None


def _invalid(message: str) -> PlatformError:
    return PlatformError(message, permanent=False, code="invalid_response")


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _word(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else ""


def _joined(body: Mapping[str, Any]) -> str:
    """``title: details`` of LivePerson's error bodies."""
    parts = (_text(body.get("title")), _text(body.get("details")))
    return ": ".join(part for part in parts if part)


def _error_words(response: httpx.Response) -> tuple[str, str]:
    """(code, message) of an error answer: LivePerson's ``{kind: resp, code, body: {title,
    details, errorCode}}``, its inner ``{code, body: {msg}}`` or an OAuth-style error."""
    try:
        document = response.json()
    except ValueError:
        return "", ""
    if isinstance(document, list) and len(document) == 1:
        document = document[0]
    if not isinstance(document, Mapping):
        return "", ""
    inner = _mapping(document.get("body"))
    code = (
        _word(inner.get("errorCode"))
        or _word(document.get("errorCode"))
        or _word(document.get("error"))
        or (_word(document.get("code")) if inner.get("msg") else "")
    )
    words = (
        _joined(inner)
        or _text(inner.get("msg"))
        or _text(inner.get("message"))
        or _text(document.get("error_description"))
        or _text(document.get("message"))
    )
    return code, words


def _too_large(name: str, size: int, limit: int) -> PlatformError:
    return PlatformError(
        f"{name:.80} is larger than {limit} bytes ({size} or more)",
        permanent=True,
        code="file_too_large",
    )
