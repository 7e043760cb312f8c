"""The one webhook view: authenticate -> store the request whole -> queue -> 202.

Answers (never 500): 202 stored or already stored (also when single items of it cannot be
stored as JSON: they are kept as failed events); 401 bad or missing secret/signature; 404
unknown platform or channel; 413 body over the limit; 400 authentic but not a readable document
(kept, with the reason); 503 when the database cannot take the request, or the channel's secrets
cannot be decrypted, so that the platform retries.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .api.errors import body as error_body
from .connectors.contract import Headers, SignatureError
from .connectors.registry import get_connector
from .inbound import store_request
from .models import Source
from .models.fields import Unreadable
from .services.channels import webhook_channel, webhook_secrets

logger = logging.getLogger(__name__)

# Headers worth keeping with the request; signatures and secrets are never stored.
KEPT_HEADERS = (
    "Content-Type",
    "User-Agent",
    "X-LivePerson-Account-Id",
    "X-LivePerson-Client-Id",
    "X-Request-Id",
)


def _refuse(status: int, code: str, detail: str) -> JsonResponse:
    """A refusal, in the API's one error shape."""
    return JsonResponse(error_body(code, detail), status=status)


def _unavailable() -> JsonResponse:
    return _refuse(503, "unavailable", "temporarily unavailable, retry later")


@csrf_exempt
@require_POST
def receive_webhook(request: HttpRequest, platform: str, key: uuid.UUID) -> JsonResponse:
    try:
        connector = get_connector(platform)
    except LookupError:
        return _refuse(404, "not_found", "unknown platform")

    limit = settings.WEBHOOK_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        return _refuse(413, "too_large", f"body over {limit} bytes")
    body = request.read(limit + 1)  # also bounds chunked bodies that declare no length
    if len(body) > limit:
        return _refuse(413, "too_large", f"body over {limit} bytes")

    try:
        channel = webhook_channel(platform=platform, key=str(key))
    except DatabaseError:
        logger.exception("database unavailable while looking up a webhook channel")
        return _unavailable()
    if channel is None:
        return _refuse(404, "not_found", "unknown channel")
    if isinstance(channel.webhook_secrets, Unreadable) or (
        not channel.webhook_secrets and isinstance(channel.credentials, Unreadable)
    ):
        # A key was rotated away: an operator can fix it, so the platform should retry.
        logger.error("webhook for channel %s: its secrets cannot be decrypted", channel.pk)
        return _unavailable()

    headers = Headers(request.headers)
    try:
        connector.verify(
            headers=headers,
            body=body,
            secrets=webhook_secrets(channel),
            settings=channel.settings,
        )
    except SignatureError as exc:
        logger.info("webhook for channel %s refused: %s", channel.pk, exc)
        return _refuse(401, "invalid_signature", "missing or invalid signature")

    try:
        stored = store_request(
            channel=channel,
            source=Source.WEBHOOK,
            body=body,
            headers={name: headers[name] for name in KEPT_HEADERS if name in headers},
        )
    except DatabaseError:
        logger.exception("database unavailable while storing a webhook")
        return _unavailable()
    if stored.error:
        return _refuse(400, "invalid", f"body is not a valid {platform} document: {stored.error}")
    return JsonResponse({"detail": "accepted", "events": stored.items}, status=202)
