"""The bare reference of the ingest benchmark: the least a Django view can do with a webhook.

It parses the body as JSON and INSERTs it as one row, then answers 202 - no authentication, no
channel, no deduplication, no queueing. Served by the same server, settings and middleware as
the real webhook, it is what "as fast as Django and PostgreSQL allow on this machine" means.
"""

from __future__ import annotations

import json

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

TABLE = "bench_reference"
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE}"
    " (id bigserial PRIMARY KEY, body jsonb NOT NULL, received_at timestamptz NOT NULL)"
)


@csrf_exempt
@require_POST
def receive_reference(request: HttpRequest) -> JsonResponse:
    body = request.body
    try:
        json.loads(body)
    except ValueError:
        return JsonResponse({"detail": "not JSON"}, status=400)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (body, received_at) VALUES (%s::jsonb, now())",  # noqa: S608 - a constant
            [body.decode("utf-8")],
        )
    return JsonResponse({"detail": "accepted"}, status=202)
