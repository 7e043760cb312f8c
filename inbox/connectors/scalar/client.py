"""ZF SCALAR's messaging API: the way out of SCALAR channels.

Two endpoints are documented (PLATFORMS.md §4.3): the integrator token endpoint (``auth_url``,
a full URL: ``POST {clientId, clientSecret, audience}`` answers ``{accessToken, expriesIn,
tokenType}``, valid about an hour) and the messaging API's send (``POST
{messaging_url}/v1/messages/actions/send``, ``multipart/form-data``, Bearer token). A message
is a text or one file (JPEG/PNG image, PDF file), sent inline in that call, to one driver of a
one-to-one chat; group chats cannot be sent to. Nothing else is documented — no lookup of sent
messages, no file downloads, read receipts, typing or closing — so :class:`BaseClient` refuses
the rest.

Our sends come back as ``message.sent`` events of the channel's Datahub Subscription, carrying
the ``messageId`` the send answered: that echo, not the send's answer, is what the way in
stores (the answer is no batch :func:`inbox.connectors.scalar.split` would accept).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, NoReturn
from urllib.parse import urlsplit

import httpx

from ..contract import PayloadError
from ..http import HttpClient, retry_after, tls_context, unreachable
from ..outbound import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    ClientConfig,
    OutgoingFile,
    PlatformError,
    Sent,
    Target,
)
from ..timestamps import parse_iso
from .channel import (
    DEFAULT_AUDIENCE,
    DEFAULT_RECIPIENT_FIELD,
    DEFAULT_SENDER_FIELD,
    FILE_TYPES,
    max_file_size,
)

SEND_PATH = "/v1/messages/actions/send"
# The send's own fields; the configurable sender/recipient names must not collide with them.
FIXED_FIELDS = ("conversationType", "contentType", "content", "file")

TOKEN_LIFETIME = 3600.0  # documented; used when the answer names no lifetime
RENEW_BEFORE = 60.0  # seconds before expiry a cached token is renewed
JSON = "application/json"

# The media types SCALAR takes and the contentType each travels as ("image/jpg" is a common
# misspelling of JPEG, sent as image/jpeg).
CONTENT_TYPES = {"image/jpeg": "image", "image/png": "image", "application/pdf": "file"}
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}
_DEFAULT_NAMES = {
    "image/jpeg": "image.jpg",
    "image/png": "image.png",
    "application/pdf": "file.pdf",
}
# Where a send answer may carry the message id (the shape is not public): at the top, or one
# level down under one of these keys.
_ID_KEYS = ("messageId", "id")
_NESTED_KEYS = ("data", "message", "result", "value")
_TIME_KEYS = ("registeredOn", "createdAt", "sentAt", "timestamp")
_MESSAGE_MAX = 500  # characters of platform error text kept

# --- the per-process token cache ---------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    value: str
    renew_at: float  # time.time(): expiry is the platform's wall-clock promise


# (auth_url, client_id, audience, digest of the secret): a changed secret proves itself with a
# new token instead of riding on one the old secret earned.
_TokenKey = tuple[str, str, str, str]
_tokens: dict[_TokenKey, _Token] = {}
_token_locks: dict[_TokenKey, threading.Lock] = {}
_guard = threading.Lock()


def clear_token_cache() -> None:
    """Forget every cached token (tests; a process that wants fresh credentials checked)."""
    with _guard:
        _tokens.clear()


def _lock_for(key: _TokenKey) -> threading.Lock:
    with _guard:
        return _token_locks.setdefault(key, threading.Lock())


# --- the client --------------------------------------------------------------------------------


class ScalarClient(HttpClient):
    """One SCALAR channel's messaging client: implements :class:`inbox.connectors.outbound.Client`.

    Settings: ``auth_url`` (the token endpoint, full URL), ``messaging_url`` (the messaging API
    base; a trailing ``/v1`` is tolerated), ``client_id``, ``audience`` (``COMAPI``),
    ``sender_id`` (our back-office user), ``sender_field`` (``senderId``), ``recipient_field``
    (``recipientId``), ``max_file_size``. Credentials: ``client_secret``. Nothing is learnt, so
    :meth:`state` is empty (tokens live only in the process cache). ``timeout`` and
    ``transport`` exist for tests. A configuration that cannot work raises a permanent
    PlatformError here, naming what is wrong.
    """

    platform = "scalar"

    def __init__(
        self,
        config: ClientConfig,
        *,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings = config.settings
        self._auth_url = _url(settings.get("auth_url"), "auth_url", "the token endpoint")
        messaging = _url(settings.get("messaging_url"), "messaging_url", "the messaging API")
        # The documented path starts with /v1; a base configured with it is not doubled.
        self._send_url = messaging.rstrip("/").removesuffix("/v1") + SEND_PATH
        self._client_id = _required(settings.get("client_id"), "client_id", "client id")
        self._sender_id = _required(settings.get("sender_id"), "sender_id", "sender id")
        self._audience = _text(settings.get("audience")).strip() or DEFAULT_AUDIENCE
        self._sender_field = _text(settings.get("sender_field")).strip() or DEFAULT_SENDER_FIELD
        self._recipient_field = (
            _text(settings.get("recipient_field")).strip() or DEFAULT_RECIPIENT_FIELD
        )
        fields = (self._sender_field, self._recipient_field)
        if self._sender_field == self._recipient_field or any(f in FIXED_FIELDS for f in fields):
            raise PlatformError(
                "sender_field and recipient_field must be two different names, none of "
                + ", ".join(FIXED_FIELDS),
                permanent=True,
            )
        self._max_file_size = max_file_size(settings)
        secret = config.credentials.get("client_secret", "")
        if not secret:
            raise PlatformError("the channel has no SCALAR client_secret", permanent=True)
        self._secret = secret
        self._token_key: _TokenKey = (
            self._auth_url,
            self._client_id,
            self._audience,
            hashlib.sha256(secret.encode()).hexdigest(),
        )
        self._issued: set[str] = set()  # tokens this client used, scrubbed from error texts
        self._http = httpx.Client(
            timeout=timeout or httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            transport=transport,
            verify=tls_context(),
            # A redirect would carry the Bearer token elsewhere: it is an error, not followed.
            follow_redirects=False,
        )

    # --- lifecycle -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"ScalarClient(client_id={self._client_id!r}, send_url={self._send_url!r})"

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
        """Send a text or one file to the target's one driver; ``Sent.platform_id`` is the
        messageId the platform answered (the id its ``message.sent`` echo carries).

        Refused for good before any request: a group chat, not exactly one recipient, a subject,
        uploaded ``attachments`` (SCALAR takes files inline), several files, a text with a file,
        neither, a type other than JPEG/PNG/PDF, a file over ``max_file_size``. A 401 from the
        messaging API drops the cached token and retries once with a new one (rewinding the
        file; a file that cannot be rewound makes that a transient error instead).
        """
        recipient = self._recipient(target)
        content_type, parts = self._content(text, subject, attachments, files)
        form = {
            self._sender_field: self._sender_id,
            self._recipient_field: recipient,
            "conversationType": "chat",
            "contentType": content_type,
        }
        stream = files[0].stream if files else None
        start = _position(stream)
        token = self._access_token()
        response = self._post_send(token, form, parts)
        if response.status_code == 401:
            self._forget(token)
            if stream is not None and not _rewind(stream, start):
                # No status: the credentials were not refused, only this token (note_answer).
                raise PlatformError(
                    "SCALAR refused the access token and the file cannot be read again; "
                    "the send is retried with a new token",
                    permanent=False,
                    code="token_refused",
                )
            token = self._access_token()
            response = self._post_send(token, form, parts)
            if response.status_code == 401:
                self._forget(token)
                _, detail = self._problem(response)
                raise PlatformError(
                    _with_detail("SCALAR refused a new access token too", detail),
                    permanent=True,
                    code="token_refused",
                    status=401,
                )
        if response.status_code >= 300:
            self._fail(response)
        return self._sent(response)

    def find_sent(
        self,
        *,
        target: Target,
        text: str,
        subject: str,
        since: datetime,
        attachments: Sequence[str] = (),
    ) -> Sent | None:
        """Always ``None``: SCALAR documents no way to look up sent messages.

        A send whose answer was lost may have been delivered; the inbox avoids sending it twice
        by matching the ``message.sent`` echo (same messageId, our sender id, the same text) to
        the outbound row before it retries.
        """
        return None

    # --- internals: the token ------------------------------------------------------------------

    def _access_token(self) -> str:
        """A valid token: the cached one, or a new one (one fetch per key at a time, so
        parallel sends of a process share it)."""
        with _lock_for(self._token_key):
            cached = _tokens.get(self._token_key)
            if cached is not None and time.time() < cached.renew_at:
                self._issued.add(cached.value)
                return cached.value
            token = self._fetch_token()
            _tokens[self._token_key] = token
            self._issued.add(token.value)
            return token.value

    def _forget(self, token: str) -> None:
        """Drop ``token`` from the cache, unless another send already replaced it."""
        with _lock_for(self._token_key):
            cached = _tokens.get(self._token_key)
            if cached is not None and cached.value == token:
                del _tokens[self._token_key]

    def _fetch_token(self) -> _Token:
        body = {
            "clientId": self._client_id,
            "clientSecret": self._secret,
            "audience": self._audience,
        }
        try:
            response = self._http.post(self._auth_url, json=body, headers={"Accept": JSON})
        except httpx.HTTPError as exc:
            self._unreachable(exc, "the SCALAR token endpoint")
        if response.status_code in (401, 403):
            code, detail = self._problem(response)
            raise PlatformError(
                _with_detail("SCALAR refused the client credentials", detail),
                permanent=True,
                code=code or "credentials_refused",
                status=response.status_code,
                credentials=True,
            )
        if response.status_code >= 300:
            self._fail(response, where="the SCALAR token endpoint")
        answer = _json_object(response) or {}
        value = answer.get("accessToken")
        if not isinstance(value, str) or not _header_safe(value):
            raise PlatformError(
                "the SCALAR token endpoint answered no usable accessToken",
                permanent=False,
                code="invalid_response",
                status=response.status_code,
            )
        # "expriesIn" is how the vendor spells it; the correct spelling is accepted too.
        lifetime = _seconds(answer.get("expriesIn", answer.get("expiresIn")))
        # Renew a minute early, or halfway through a lifetime shorter than two minutes.
        margin = min(RENEW_BEFORE, lifetime / 2)
        return _Token(value=value, renew_at=time.time() + lifetime - margin)

    # --- internals: the message ----------------------------------------------------------------

    def _recipient(self, target: Target) -> str:
        conversation = target.conversation_id
        # A chat's conversationId is "<user>:<driver>"; a group chat's is the group's own id.
        parties = conversation.split(":") if conversation else []
        if conversation and len(parties) < 2:
            raise PlatformError(
                f"SCALAR cannot send to group chats (conversation {conversation:.60})",
                permanent=True,
                code="groupchat_unsupported",
            )
        recipients = list(dict.fromkeys(r for r in target.recipients if r))
        if len(recipients) != 1:
            raise PlatformError(
                "a SCALAR message goes to exactly one driver; "
                f"the conversation has {len(recipients)} recipients",
                permanent=True,
                code="one_recipient",
            )
        recipient = recipients[0]
        if not recipient.isprintable() or len(recipient) > 200:
            raise PlatformError(f"{recipient!r:.60} is not a SCALAR id", permanent=True)
        if recipient == self._sender_id:
            raise PlatformError("a SCALAR message cannot go to its own sender", permanent=True)
        if parties and recipient not in parties:
            raise PlatformError(
                f"{recipient:.60} is not a participant of chat {conversation:.80}",
                permanent=True,
                code="not_a_participant",
            )
        return recipient

    def _content(
        self,
        text: str,
        subject: str,
        attachments: Sequence[str],
        files: Sequence[OutgoingFile],
    ) -> tuple[str, dict[str, Any]]:
        """The contentType and the multipart parts of the message."""
        if subject:
            raise PlatformError("SCALAR messages have no subject", permanent=True)
        if attachments:
            raise PlatformError(
                "SCALAR takes files inline in the send, not uploaded ones", permanent=True
            )
        if len(files) > 1:
            raise PlatformError(
                f"a SCALAR message carries one file, not {len(files)}",
                permanent=True,
                code="one_file",
            )
        if not files:
            if not text.strip():
                raise PlatformError("the message has neither text nor a file", permanent=True)
            # A part without a file name: it keeps the request multipart, as SCALAR expects.
            return "text", {"content": (None, text)}
        if text.strip():
            raise PlatformError(
                "a SCALAR message is a text or one file, not both", permanent=True, code="one_part"
            )
        file = files[0]
        media_type = _media_type(file.content_type)
        content_type = CONTENT_TYPES.get(media_type)
        if content_type is None:
            raise PlatformError(
                f"SCALAR takes {', '.join(FILE_TYPES)}, not {media_type or 'an untyped file'}",
                permanent=True,
                code="unsupported_file_type",
            )
        if not self._max_file_size:
            raise PlatformError("this SCALAR channel sends no files", permanent=True)
        if file.size > self._max_file_size:
            raise PlatformError(
                f"{file.name:.80} is {file.size} bytes; this channel sends files up to "
                f"{self._max_file_size} bytes",
                permanent=True,
                code="file_too_large",
            )
        name = file.name or _DEFAULT_NAMES[media_type]
        # httpx reads the stream in chunks while sending, never whole.
        return content_type, {"file": (name, file.stream, media_type)}

    def _post_send(
        self, token: str, form: Mapping[str, str], parts: dict[str, Any]
    ) -> httpx.Response:
        try:
            return self._http.post(
                self._send_url,
                data=dict(form),
                files=parts,
                headers={"Authorization": f"Bearer {token}", "Accept": JSON},
            )
        except httpx.HTTPError as exc:
            self._unreachable(exc, "the SCALAR messaging API")

    def _sent(self, response: httpx.Response) -> Sent:
        """The accepted message. An answer without a message id is a permanent error: the
        message was probably sent, and sending again would send it twice."""
        answer = _json_object(response)
        found = _message_fields(answer) if answer is not None else None
        if found is None:
            raise PlatformError(
                f"SCALAR accepted the message (HTTP {response.status_code}) but answered no "
                "messageId; it may have been sent",
                permanent=True,
                code="invalid_response",
                status=response.status_code,
            )
        message_id, fields = found
        return Sent(platform_id=message_id, sent_at=_time_of(fields))

    # --- internals: failures -------------------------------------------------------------------

    def _fail(self, response: httpx.Response, where: str = "SCALAR") -> NoReturn:
        status = response.status_code
        code, message = self._problem(response)
        if status < 400:
            message = f"{where} redirected the request ({status}): check the channel's URLs"
        raise PlatformError(
            message or f"{where} answered HTTP {status}",
            # 4xx are answered again; 408/429 and 5xx may pass.
            permanent=status < 500 and status not in (408, 429),
            code=code,
            status=status,
            retry_after=retry_after(response.headers.get("retry-after")),
        )

    def _problem(self, response: httpx.Response) -> tuple[str, str]:
        """The platform's own code and words for a failure, scrubbed of credentials.

        Reads RFC 9457 problem details as ASP.NET writes them (``title``, ``detail``, an
        ``errors`` map of field -> messages, an ``errorCode`` extension), ``{"error": {code,
        message}}``, OAuth's ``error``/``error_description``, a plain-text body, and for a 401
        without a body the ``WWW-Authenticate`` header's description.
        """
        code, message = "", ""
        body = _json_object(response)
        if body is not None:
            error = body.get("error")
            if isinstance(error, Mapping):
                code, message = _text(error.get("code")), _text(error.get("message"))
            else:
                code = _text(body.get("errorCode")) or _text(body.get("code")) or _text(error)
                message = next(
                    (
                        _text(body.get(key))
                        for key in ("detail", "message", "error_description", "title")
                        if _text(body.get(key))
                    ),
                    "",
                )
            fields = _field_errors(body.get("errors"))
            if fields:
                message = f"{message} ({fields})" if message else fields
        elif response.headers.get("content-type", "").startswith("text/plain"):
            message = response.text.strip()
        if not message:
            message = _bearer_description(response.headers.get("www-authenticate", ""))
        return self._scrub(code)[:200], self._scrub(message)[:_MESSAGE_MAX]

    def _unreachable(self, exc: httpx.HTTPError, where: str) -> NoReturn:
        raise unreachable(exc, where, self._scrub) from None

    def _scrub(self, text: str) -> str:
        """Platform words are shown to people: the secret and tokens never are, even echoed."""
        for secret in (self._secret, *self._issued):
            if secret:
                text = text.replace(secret, "***")
        return text


# --- plain helpers -----------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _required(value: Any, name: str, what: str) -> str:
    text = _text(value).strip()
    if not text:
        raise PlatformError(f"the channel has no SCALAR {what} ({name})", permanent=True)
    return text


def _url(value: Any, name: str, what: str) -> str:
    url = _required(value, name, what)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PlatformError(f"{name} must be an http(s) URL of {what}", permanent=True)
    return url


def _media_type(value: str) -> str:
    media_type = value.split(";")[0].strip().lower()
    return _ALIASES.get(media_type, media_type)


def _position(stream: BinaryIO | None) -> int | None:
    """Where the stream starts, if it can be rewound there."""
    if stream is None:
        return None
    try:
        return stream.tell() if stream.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


def _rewind(stream: BinaryIO, start: int | None) -> bool:
    if start is None:
        return False
    try:
        stream.seek(start)
    except (OSError, ValueError):
        return False
    return True


def _header_safe(token: str) -> bool:
    return bool(token) and token.isascii() and token.isprintable() and " " not in token


def _seconds(value: Any) -> float:
    """A token lifetime in seconds (a number or numeric text); the documented hour otherwise."""
    if isinstance(value, bool):
        return TOKEN_LIFETIME
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return TOKEN_LIFETIME
    return seconds if 0 < seconds < 10 * 365 * 86400 else TOKEN_LIFETIME


def _json_object(response: httpx.Response) -> Mapping[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, Mapping) else None


def _message_fields(answer: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The message id of a send answer and the object holding it: ``messageId`` or ``id`` at
    the top, else one level down under ``data``/``message``/``result``/``value``."""
    nested = [answer[key] for key in _NESTED_KEYS if isinstance(answer.get(key), Mapping)]
    for level in (answer, *nested):
        for key in _ID_KEYS:
            value = level.get(key)
            if isinstance(value, str) and value.strip() and value.isprintable():
                return value.strip(), level
    return None


def _time_of(fields: Mapping[str, Any]) -> datetime | None:
    for key in _TIME_KEYS:
        try:
            moment = parse_iso(fields.get(key))
        except PayloadError:
            continue
        if moment is not None:
            return moment
    return None


def _field_errors(errors: Any) -> str:
    """ASP.NET's validation map ``{field: [message, …]}`` as one line."""
    if not isinstance(errors, Mapping):
        return ""
    lines = []
    for field, messages in errors.items():
        words = [m for m in messages if isinstance(m, str)] if isinstance(messages, list) else []
        if isinstance(messages, str):
            words = [messages]
        lines.append(f"{field}: {' '.join(words)}" if words else str(field))
    return "; ".join(lines)


def _bearer_description(header: str) -> str:
    """``error="invalid_token", error_description="…"`` of a ``WWW-Authenticate: Bearer``."""
    found = dict(_auth_params(header))
    error, description = found.get("error", ""), found.get("error_description", "")
    return f"{error}: {description}" if error and description else error or description


def _auth_params(header: str) -> list[tuple[str, str]]:
    params = []
    for piece in header.removeprefix("Bearer").split(","):
        name, separator, value = piece.strip().partition("=")
        if separator:
            params.append((name.strip().lower(), value.strip().strip('"')))
    return params


def _with_detail(message: str, detail: str) -> str:
    return f"{message} ({detail})" if detail else message
