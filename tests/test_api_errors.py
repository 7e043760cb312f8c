"""One error shape for every API error, and the throttling of writes."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import path
from rest_framework.exceptions import ValidationError
from rest_framework.test import APIClient
from rest_framework.views import APIView

from inbox.api.errors import _fields
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def shape(response: Any) -> set[str]:
    return set(response.json())


@pytest.fixture
def api(agent: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(agent)
    return client


def test_validation_errors_name_the_field(api: APIClient) -> None:
    response = api.get("/api/v1/conversations/?platform=telegram")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["fields"]) == ["platform"]
    assert body["detail"].startswith("platform: ")


def test_not_found_conflict_and_anonymous_share_the_shape(api: APIClient, agent: Any) -> None:
    missing = api.get("/api/v1/conversations/999999/")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    anonymous = APIClient().get("/api/v1/conversations/")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    assert shape(missing) == shape(anonymous) == {"code", "detail", "fields"}


def test_an_unknown_api_url_is_a_json_404(api: APIClient) -> None:
    response = api.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "detail": "No such endpoint.", "fields": {}}


def test_malformed_json_is_a_400_not_a_500(api: APIClient, agent: Any) -> None:
    channel = ChannelFactory(platform="liveperson")
    channel.members.add(agent)
    response = api.post("/api/v1/conversations/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_nested_errors_are_flattened_with_dots() -> None:
    detail = ValidationError(
        {"items": [{}, {"text": ["Too long."]}], "non_field_errors": ["Both at once."]}
    ).detail
    assert _fields(detail) == {"items.1.text": ["Too long."], "non_field_errors": ["Both at once."]}
    assert _fields(ValidationError("Whole input.").detail) == {"non_field_errors": ["Whole input."]}


def test_writes_are_throttled_per_user_and_reads_are_not(
    api: APIClient, agent: Any, settings: Any
) -> None:
    settings.API_WRITE_RATE = "2/minute"
    channel = ChannelFactory(platform="liveperson")
    channel.members.add(agent)
    for _ in range(2):
        assert api.post("/api/v1/conversations/", {"channel": channel.pk}).status_code == 400
    throttled = api.post("/api/v1/conversations/", {"channel": channel.pk})
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert api.get("/api/v1/conversations/").status_code == 200
    settings.API_WRITE_RATE = ""
    assert api.post("/api/v1/conversations/", {"channel": channel.pk}).status_code == 400


class Broken(APIView):
    def get(self, request: Any) -> Any:
        raise RuntimeError("a bug")


urlpatterns = [path("api/v1/broken/", Broken.as_view())]
handler500 = "inbox.api.errors.server_error"


@pytest.mark.urls(__name__)
def test_a_server_error_is_json_and_says_nothing_of_it(agent: Any) -> None:
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(agent)
    response = client.get("/api/v1/broken/")
    assert response.status_code == 500
    assert response.json() == {
        "code": "server_error",
        "detail": "Something went wrong on our side.",
        "fields": {},
    }
