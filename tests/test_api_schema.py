"""The OpenAPI schema and its Swagger UI, served by the app itself (no CDN)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml


@pytest.fixture
def logged_in(client: Any, agent: Any) -> Any:
    client.force_login(agent)
    return client


def test_the_schema_describes_the_actions_with_their_answers(logged_in: Any) -> None:
    response = logged_in.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    close = paths["/api/v1/conversations/{id}/close/"]["post"]
    # Its own answers and, in the one error shape, those of every write on one object.
    assert set(close["responses"]) == {"202", "400", "401", "403", "404", "409", "429"}
    error = {"$ref": "#/components/schemas/Error"}
    assert close["responses"]["409"]["content"]["application/json"]["schema"] == error
    assert "/api/v1/conversations/{id}/typing/" in paths
    assert "/api/v1/attachments/{id}/download/" in paths
    assert "ConversationStatusEnum" in schema["components"]["schemas"]


def test_the_docs_page_loads_its_assets_from_the_app(logged_in: Any) -> None:
    response = logged_in.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()


def test_the_schema_needs_a_login(client: Any) -> None:
    assert client.get("/api/schema/").status_code in (401, 403)


def test_the_webhook_endpoint_is_in_the_schema_with_its_answers(logged_in: Any) -> None:
    schema = yaml.safe_load(logged_in.get("/api/schema/").content)
    receive = schema["paths"]["/webhooks/{platform}/{key}/"]["post"]
    assert receive["tags"] == ["webhooks"]
    assert receive["security"] == []
    assert set(receive["responses"]) == {"202", "400", "401", "404", "413", "503"}
    assert {"name": "webhooks", "description": "What the platforms call."} in schema["tags"]


@pytest.mark.django_db
def test_a_webhook_refusal_has_the_api_error_shape(client: Any) -> None:
    import uuid

    response = client.post(f"/webhooks/scalar/{uuid.uuid4()}/", b"{}", "application/json")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "unknown channel", "fields": {}}
