"""Own relationship templates, created on the fake Connector (both API generations) from the API
and the admin, listed for the visible channels, and their QR codes."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from inbox import services
from relationships import templates
from relationships.models import RelationshipTemplate
from tests.factories import ChannelFactory
from tests.fakes.enmeshed import API_KEY, NOT_FOUND, VALIDATION, FakeConnector

pytestmark = pytest.mark.django_db

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LIST = "/api/v1/relationship-templates/"


def in_days(days: int) -> datetime:
    return (timezone.now() + timedelta(days=days)).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def assert_valid(connector: FakeConnector) -> None:
    assert [(r.method, r.path, r.status, r.body[:200]) for r in connector.rejected()] == []


def assert_png(data: bytes) -> None:
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])
    assert width == height > 0


def other_channel(connector: FakeConnector, member: Any = None) -> Any:
    channel = services.create_channel(
        platform="enmeshed",
        name="Elsewhere",
        settings={"base_url": connector.base_url, "api_key": API_KEY},
    )
    if member is not None:
        channel.members.add(member)
    return channel


# --- creating ----------------------------------------------------------------------------------


def test_creates_an_own_template_through_the_api(
    member_api: APIClient, connector: FakeConnector, connected: Any
) -> None:
    expires = in_days(7)
    response = member_api.post(
        LIST,
        {
            "channel": connected.pk,
            "title": "Counter 3",
            "expires_at": expires.isoformat(),
            "max_allocations": 2,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    template = RelationshipTemplate.objects.get()
    assert body["id"] == template.pk
    assert (body["channel"], body["title"], body["is_own"], body["max_allocations"]) == (
        connected.pk,
        "Counter 3",
        True,
        2,
    )
    assert template.external_id.startswith("RLT")
    assert template.expires_at == expires
    assert template.created_by == connector.address
    assert template.created_at is not None
    # On the Connector, with the generation's own shape.
    on_connector = connector.templates[template.external_id]
    assert on_connector["expiresAt"] == iso(expires)
    assert template.content == on_connector["content"]
    if connector.generation == "v1":
        assert on_connector["maxNumberOfRelationships"] == 2
        assert on_connector["content"] == {"title": "Counter 3"}
    else:
        assert on_connector["maxNumberOfAllocations"] == 2
        assert on_connector["content"] == {
            "@type": "ArbitraryRelationshipTemplateContent",
            "value": {"title": "Counter 3"},
        }
    assert_valid(connector)
    # The detected generation is remembered: the next call detects nothing.
    connected.refresh_from_db()
    assert connected.learned["api_version"] == connector.generation


def test_max_allocations_may_be_left_out(
    member_api: APIClient, connector: FakeConnector, connected: Any
) -> None:
    response = member_api.post(
        LIST,
        {"channel": connected.pk, "title": "Open", "expires_at": in_days(1).isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["max_allocations"] is None
    external_id = RelationshipTemplate.objects.get().external_id
    assert not {"maxNumberOfRelationships", "maxNumberOfAllocations"} & set(
        connector.templates[external_id]
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"expires_at": "soon"}, "expires_at"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"max_allocations": 0}, "max_allocations"),
        ({"channel": 999_999}, "channel"),
    ],
)
def test_invalid_requests_are_400_naming_the_field_and_ask_nothing(
    member_api: APIClient,
    connector: FakeConnector,
    connected: Any,
    change: dict[str, Any],
    field: str,
) -> None:
    data = {"channel": connected.pk, "title": "T", "expires_at": in_days(1).isoformat()}
    response = member_api.post(LIST, {**data, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not RelationshipTemplate.objects.exists()
    assert connector.requests == []


def test_another_channel_or_platform_is_refused_like_one_that_does_not_exist(
    member_api: APIClient, outsider: Any, connector: FakeConnector, connected: Any
) -> None:
    elsewhere = other_channel(connector, member=outsider)
    scalar = ChannelFactory(platform="scalar")
    scalar.members.add(connected.members.get())
    for channel, words in ((elsewhere, "does not exist"), (scalar, "Only enmeshed")):
        response = member_api.post(
            LIST,
            {"channel": channel.pk, "title": "T", "expires_at": in_days(1).isoformat()},
            format="json",
        )
        assert response.status_code == 400
        assert words in response.json()["fields"]["channel"][0]
    assert connector.requests == []
    assert APIClient().post(LIST, {}, format="json").status_code in (401, 403)


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        ({"status": 500}, 502, "error.platform.unexpected"),
        ({"status": 400, "code": VALIDATION, "message": "content is invalid"}, 400, VALIDATION),
        (
            {"status": 401, "code": "error.connector.unauthorized", "message": "Unauthorized."},
            409,
            "error.connector.unauthorized",
        ),
    ],
)
def test_connector_errors_are_answered_with_its_code_and_store_nothing(
    member_api: APIClient,
    connector: FakeConnector,
    connected: Any,
    failure: dict[str, Any],
    status: int,
    code: str,
) -> None:
    connector.fail_next(1, route="/RelationshipTemplates/Own", **failure)
    response = member_api.post(
        LIST,
        {"channel": connected.pk, "title": "T", "expires_at": in_days(1).isoformat()},
        format="json",
    )
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert not RelationshipTemplate.objects.exists()


def test_an_unreachable_connector_is_502(
    member_api: APIClient, connector: FakeConnector, connected: Any
) -> None:
    connector.down()
    response = member_api.post(
        LIST,
        {"channel": connected.pk, "title": "T", "expires_at": in_days(1).isoformat()},
        format="json",
    )
    assert response.status_code == 502
    assert response.json()["detail"].startswith("cannot reach the Connector")
    assert not RelationshipTemplate.objects.exists()


def test_the_service_refuses_what_it_cannot_ask(connector: FakeConnector, connected: Any) -> None:
    with pytest.raises(templates.TemplateNotPossible, match="future"):
        templates.create_template(
            channel=connected, title="T", expires_at=timezone.now() - timedelta(seconds=1)
        )
    with pytest.raises(templates.TemplateNotPossible, match="time zone"):
        templates.create_template(
            channel=connected,
            title="T",
            expires_at=datetime(2999, 1, 1),  # noqa: DTZ001
        )
    with pytest.raises(templates.TemplateNotPossible, match="Only enmeshed"):
        templates.create_template(
            channel=ChannelFactory(platform="scalar"), title="T", expires_at=in_days(1)
        )
    services.update_channel(channel=connected, credentials={"api_key": ""})
    with pytest.raises(templates.TemplateNotPossible, match="API key"):
        templates.create_template(channel=connected, title="T", expires_at=in_days(1))
    assert connector.requests == []


# --- listing -----------------------------------------------------------------------------------


def test_lists_the_templates_of_visible_channels_at_a_constant_query_count(
    member_api: APIClient,
    outsider: Any,
    connector: FakeConnector,
    connected: Any,
    django_assert_num_queries: Any,
) -> None:
    def listed(query: str = "", queries: int = 2) -> list[dict[str, Any]]:
        # count, page (none when the count is 0); a channel filter checks the channel first
        with django_assert_num_queries(queries):
            response = member_api.get(LIST + query)
        assert response.status_code == 200
        return response.json()["results"]

    templates.create_template(channel=connected, title="First", expires_at=in_days(1))
    elsewhere = other_channel(connector, member=outsider)
    templates.create_template(channel=elsewhere, title="Not yours", expires_at=in_days(1))
    assert [t["title"] for t in listed()] == ["First"]
    for title in ("Second", "Third"):
        templates.create_template(channel=connected, title=title, expires_at=in_days(2))
    assert [t["title"] for t in listed()] == ["Third", "Second", "First"]  # newest first
    assert len(listed(f"?channel={connected.pk}&is_own=true", queries=3)) == 3
    assert listed("?is_own=false", queries=1) == []
    assert member_api.get(f"{LIST}?channel={elsewhere.pk}").status_code == 400
    assert APIClient().get(LIST).status_code in (401, 403)

    stranger = APIClient()
    stranger.force_authenticate(outsider)
    assert [t["title"] for t in stranger.get(LIST).json()["results"]] == ["Not yours"]
    mine = RelationshipTemplate.objects.get(title="First")
    assert stranger.get(f"{LIST}{mine.pk}/").status_code == 404
    assert member_api.get(f"{LIST}{mine.pk}/").json()["external_id"] == mine.external_id


# --- QR codes ----------------------------------------------------------------------------------


def test_the_qr_code_is_a_png_from_the_connector(
    member_api: APIClient, outsider: Any, connector: FakeConnector, connected: Any
) -> None:
    template = templates.create_template(channel=connected, title="Q", expires_at=in_days(1))
    url = f"{LIST}{template.pk}/qr/"

    for accept in ("image/png", "image/avif,image/webp,*/*", "application/json"):
        response = member_api.get(url, HTTP_ACCEPT=accept)
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "image/png"
        assert response["Cache-Control"] == "private, no-store"
        assert_png(response.content)
    qr = connector.requests[-1]
    assert qr.headers["accept"] == "image/png"
    if connector.generation == "v1":  # a 1.x Connector renders a token of the template
        assert qr.path.endswith(f"/RelationshipTemplates/Own/{template.external_id}/Token")
    else:
        assert qr.path.endswith(f"/RelationshipTemplates/{template.external_id}")
    assert_valid(connector)

    stranger = APIClient()
    stranger.force_authenticate(outsider)
    assert stranger.get(url).status_code == 404
    assert APIClient().get(url).status_code in (401, 403)


def test_a_qr_code_the_connector_cannot_render_is_an_error_in_json(
    member_api: APIClient, connector: FakeConnector, connected: Any
) -> None:
    template = templates.create_template(channel=connected, title="Q", expires_at=in_days(1))
    connector.fail_next(1, status=503)
    response = member_api.get(f"{LIST}{template.pk}/qr/", HTTP_ACCEPT="image/png")
    assert response.status_code == 502
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "error.platform.unexpected"
    connector.fail_next(1, status=404, code=NOT_FOUND, message="RelationshipTemplate not found.")
    response = member_api.get(f"{LIST}{template.pk}/qr/")
    assert response.status_code == 409
    assert response.json()["code"] == "error.connector.recordNotFound"


# --- the admin ---------------------------------------------------------------------------------

ADD = "admin:relationships_relationshiptemplate_add"


def add_form(channel: Any, expires: datetime | None = None, **overrides: Any) -> dict[str, Any]:
    expires = timezone.localtime(expires or in_days(14))
    return {
        "channel": channel.pk,
        "title": "Front desk",
        "expires_at_0": expires.strftime("%Y-%m-%d"),
        "expires_at_1": expires.strftime("%H:%M:%S"),
        "max_allocations": "5",
        **overrides,
    }


def test_an_own_template_is_added_in_the_admin_and_shows_its_qr_code(
    staff_client: Any, connector: FakeConnector, connected: Any
) -> None:
    page = staff_client.get(reverse(ADD))
    assert page.status_code == 200
    assert b'name="expires_at_0"' in page.content

    expires = in_days(14)
    response = staff_client.post(reverse(ADD), add_form(connected, expires))

    template = RelationshipTemplate.objects.get()
    change = reverse("admin:relationships_relationshiptemplate_change", args=[template.pk])
    assert response.status_code == 302
    assert response["Location"] == change
    assert (template.title, template.is_own, template.max_allocations) == ("Front desk", True, 5)
    assert template.external_id in connector.templates
    assert template.expires_at == expires

    html = staff_client.get(change).content.decode()
    qr_url = reverse("admin:relationships_relationshiptemplate_qr", args=[template.pk])
    assert f'<img src="{qr_url}"' in html
    assert "Front desk" in html
    assert 'name="title"' not in html  # read-only once made
    qr = staff_client.get(qr_url)
    assert qr.status_code == 200
    assert qr["Content-Type"] == "image/png"
    assert_png(qr.content)
    assert_valid(connector)
    # Never changed or deleted by hand.
    assert staff_client.post(change, {"title": "x"}).status_code == 403
    delete = reverse("admin:relationships_relationshiptemplate_delete", args=[template.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403


def test_a_connector_refusal_is_a_form_error_in_the_admin(
    staff_client: Any, connector: FakeConnector, connected: Any
) -> None:
    connector.down()
    response = staff_client.post(reverse(ADD), add_form(connected))
    assert response.status_code == 200
    assert "The Connector could not be asked: cannot reach the Connector" in (
        response.content.decode()
    )
    assert "Try again later." in response.content.decode()
    assert not RelationshipTemplate.objects.exists()

    connector.up()
    response = staff_client.post(reverse(ADD), add_form(connected, in_days(-1)))
    assert response.status_code == 200
    assert "expires_at must be in the future." in response.content.decode()
    assert not RelationshipTemplate.objects.exists()


def test_the_admin_offers_only_enmeshed_channels(
    staff_client: Any, connector: FakeConnector, connected: Any
) -> None:
    scalar = ChannelFactory(platform="scalar", name="Fleet chat")
    page = staff_client.get(reverse(ADD)).content.decode()
    assert connected.name in page
    assert scalar.name not in page
    response = staff_client.post(reverse(ADD), add_form(scalar))
    assert response.status_code == 200
    assert not RelationshipTemplate.objects.exists()


def test_the_template_page_shows_platform_content_escaped(
    staff_client: Any, connector: FakeConnector, connected: Any
) -> None:
    template = templates.create_template(
        channel=connected,
        title="<i>Desk</i>",
        expires_at=in_days(1),
        content={"greeting": "<script>alert(1)</script>"},
    )
    html = staff_client.get(
        reverse("admin:relationships_relationshiptemplate_change", args=[template.pk])
    ).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<i>Desk</i>" not in html
    # A peer's template has no QR code of ours.
    template.is_own = False
    template.save()
    html = staff_client.get(
        reverse("admin:relationships_relationshiptemplate_change", args=[template.pk])
    ).content.decode()
    assert "Only our own templates have a QR code here." in html


def test_the_admin_template_list_renders(
    staff_client: Any, connector: FakeConnector, connected: Any
) -> None:
    for title in ("A", "B"):
        templates.create_template(channel=connected, title=title, expires_at=in_days(1))
    page = staff_client.get(reverse("admin:relationships_relationshiptemplate_changelist"))
    assert page.status_code == 200
    assert page.content.decode().count("RLT") >= 2
