"""The webhook endpoint in the OpenAPI schema, under its own tag.

It is a plain Django view (no DRF: no token, no session, no parsing before the signature is
checked), so drf-spectacular cannot see it; this post-processing hook describes it from the
same facts the view uses (the platforms, the signature headers, the body limit, the answers).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from inbox.choices import Platform

ERROR = {"$ref": "#/components/schemas/Error"}

SIGNATURES = (
    "enmeshed: the shared secret in `X-API-KEY` (or the channel's `webhook_header`); "
    "liveperson: `X-LivePerson-Signature: sha1=|sha256=<base64 HMAC>`; "
    "comapi: `X-Comapi-Signature: <hex HMAC-SHA1>`; "
    "scalar: `X-SCALAR-Signature` or `X-Webhook-Signature: sha256=<HMAC-SHA256>`"
)


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def add_webhooks(result: dict[str, Any], generator: Any, request: Any, public: bool) -> Any:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    accepted = {
        "type": "object",
        "properties": {
            "detail": {"type": "string", "enum": ["accepted"]},
            "events": {"type": "integer", "description": "Items stored from this delivery."},
        },
        "required": ["detail", "events"],
    }
    result["paths"]["/webhooks/{platform}/{key}/"] = {
        "post": {
            "operationId": "webhook_receive",
            "summary": "A platform's delivery of events",
            "description": (
                "Where each platform posts its events (the channel's webhook URL). Authenticated "
                f"by the platform's signature over the raw body, not by a token ({SIGNATURES}). "
                "An authentic delivery is stored before it is answered, and a redelivery is "
                "answered the same and kept once."
            ),
            "tags": ["webhooks"],
            "security": [],
            "parameters": [
                {
                    "in": "path",
                    "name": "platform",
                    "required": True,
                    "schema": {"type": "string", "enum": [p.value for p in Platform]},
                },
                {
                    "in": "path",
                    "name": "key",
                    "required": True,
                    "description": "The channel's key (its public id).",
                    "schema": {"type": "string", "format": "uuid"},
                },
            ],
            "requestBody": {
                "required": True,
                "description": f"The platform's own document, at most {limit} bytes.",
                "content": {"application/json": {"schema": {}}},
            },
            "responses": {
                "202": _answer("Authentic and stored (or stored before).", accepted),
                "400": _answer("Authentic, but not a document of the platform's shape.", ERROR),
                "401": _answer("A missing or wrong signature.", ERROR),
                "404": _answer("An unknown platform or channel key, or an inactive one.", ERROR),
                "413": _answer(f"A body over {limit} bytes.", ERROR),
                "503": _answer("The database cannot take it now: the platform retries.", ERROR),
            },
        }
    }
    tags = result.setdefault("tags", [])
    tags.append({"name": "webhooks", "description": "What the platforms call."})
    return result
