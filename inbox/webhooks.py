"""The one webhook view: authenticate -> store raw -> queue -> 202.

Answers (never 500): 202 stored or already stored; 401 bad or missing secret/signature; 404
unknown platform or channel; 413 body over the limit; 400 authentic but not JSON (kept as a failed
event); 503 when the database cannot take the rows, so that the platform retries.
"""

from __future__ import annotations

import json
import logging
import uuid

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import services
from .connectors.base import PayloadError, get_connector
from .models import Channel, InboundEvent

logger = logging.getLogger(__name__)

# Headers worth keeping with the raw event; signatures and secrets are never stored.
KEPT_HEADERS = (
    "Content-Type",
    "User-Agent",
    "X-LivePerson-Account-Id",
    "X-LivePerson-Client-Id",
    "X-Request-Id",
)


def _answer(status: int, detail: str, **extra: object) -> JsonResponse:
    return JsonResponse({"detail": detail, **extra}, status=status)


@csrf_exempt
@require_POST
def receive_webhook(request: HttpRequest, platform: str, key: uuid.UUID) -> JsonResponse:
    try:
        connector = get_connector(platform)
    except LookupError:
        return _answer(404, "unknown platform")

    limit = settings.WEBHOOK_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        return _answer(413, f"body over {limit} bytes")
    body = request.read(limit + 1)  # also bounds chunked bodies that declare no length
    if len(body) > limit:
        return _answer(413, f"body over {limit} bytes")

    try:
        channel = Channel.objects.filter(key=key, platform=platform, is_active=True).first()
    except DatabaseError:
        logger.exception("database unavailable while looking up a webhook channel")
        return _answer(503, "temporarily unavailable, retry later")
    if channel is None:
        return _answer(404, "unknown channel")

    if not connector.verify(request.headers, body, channel.webhook_secrets or [], channel.settings):
        return _answer(401, "missing or invalid signature")

    headers = {h: request.headers[h] for h in KEPT_HEADERS if h in request.headers}
    try:
        try:
            document = json.loads(body)
            deliveries = connector.split(document)
        except (ValueError, PayloadError) as exc:  # JSONDecodeError and UnicodeDecodeError too
            services.record_unreadable_event(
                channel=channel,
                body=body,
                source=InboundEvent.Source.WEBHOOK,
                headers=headers,
                error=str(exc)[:1000],
            )
            return _answer(400, f"body is not a valid {platform} document: {exc}")
        services.receive_events(
            channel=channel,
            deliveries=deliveries,
            source=InboundEvent.Source.WEBHOOK,
            headers=headers,
        )
    except DatabaseError:
        logger.exception("database unavailable while storing a webhook")
        return _answer(503, "temporarily unavailable, retry later")
    return _answer(202, "accepted", events=len(deliveries))
