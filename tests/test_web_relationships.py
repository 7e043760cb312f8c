"""The relationships pages of the web inbox: pending requests decided from the page against the
fake Connector of both API generations, the rest by status, templates and their QR codes, and
who may see what."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from inbox import services
from inbox.inbound import process_due_events, store_request
from inbox.models import Contact, Conversation, OutboundCommand, Participant, Source
from inbox.outbound import process_due_commands
from relationships.models import Relationship, RelationshipTemplate
from tests.fakes.enmeshed import API_KEY, FakeConnector

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.web_urls")]

LIST = "/relationships/"
TEMPLATES = "/relationships/templates/"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def member_client(client: Client, member: Any) -> Client:
    client.force_login(member)
    return client


@pytest.fixture
def outsider_client(outsider: Any, connector: FakeConnector) -> Client:
    """A signed-in agent of another channel only."""
    elsewhere = services.create_channel(
        platform="enmeshed",
        name="Elsewhere",
        settings={"base_url": connector.base_url, "api_key": API_KEY},
    )
    elsewhere.members.add(outsider)
    client = Client()
    client.force_login(outsider)
    return client


# --- helpers -----------------------------------------------------------------------------------


def learn(channel: Any, dto: dict[str, Any]) -> Relationship:
    """The inbox learns the Connector's relationship as from a webhook, through the way in."""
    body = json.dumps({"trigger": "transport.relationshipChanged", "data": dto}).encode()
    store_request(channel=channel, source=Source.WEBHOOK, body=body)
    process_due_events()
    return Relationship.objects.get(channel=channel, external_id=dto["id"])


def work() -> None:
    """The outbound worker, then the way in (which applies the Connector's answers)."""
    process_due_commands()
    process_due_events()


def decide_url(relationship: Relationship, decision: str) -> str:
    return reverse("relationships_web:decide", args=[relationship.pk, decision])


def said(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def text(response: Any) -> str:
    assert response.status_code == 200, response.content[:500]
    return str(response.content.decode())


def card(page: str, relationship: Relationship) -> str:
    """The HTML of one relationship's card on ``page``."""
    pattern = rf'<article class="[^"]*" id="relationship-{relationship.pk}"[^>]*>.*?</article>'
    found = re.search(pattern, page, re.S)
    assert found, f"relationship {relationship.pk} is not on the page"
    return found.group(0)


def buttons(html: str) -> list[str]:
    return re.findall(r'<button type="submit" class="button rel-button[^"]*">(\w+)</button>', html)


def later(days: int = 7) -> str:
    return (timezone.localtime() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


# --- who may see the pages ---------------------------------------------------------------------


@pytest.mark.parametrize("path", [LIST, TEMPLATES])
def test_anonymous_visitors_are_sent_to_log_in(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_the_decide_and_qr_routes_need_a_login_too(
    client: Client, connector: FakeConnector, connected: Any
) -> None:
    relationship = learn(connected, connector.add_incoming_pending())
    response = client.post(decide_url(relationship, "accept"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert OutboundCommand.objects.count() == 0
    card = client.get(reverse("relationships_web:card", args=[relationship.pk]))
    assert card.status_code == 302
    template = RelationshipTemplate.objects.create(channel=connected, external_id="RLTxyz")
    qr = client.get(reverse("relationships_web:template_qr", args=[template.pk]))
    assert qr.status_code == 302


def test_a_member_sees_incoming_requests_first_then_outgoing_then_the_rest(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    incoming = learn(connected, connector.add_incoming_pending())
    outgoing = learn(connected, connector.add_outgoing_pending())
    active = learn(connected, connector.add_active_relationship())

    page = text(member_client.get(LIST))

    assert (
        page.index("Requests waiting for you")
        < page.index(f'id="relationship-{incoming.pk}"')
        < page.index("Our requests waiting for the peer")
        < page.index(f'id="relationship-{outgoing.pk}"')
        < page.index("All other relationships")
        < page.index(f'id="relationship-{active.pk}"')
    )
    assert buttons(card(page, incoming)) == ["Accept", "Reject"]
    assert buttons(card(page, outgoing)) == ["Revoke"]
    terminate = ["Terminate"] if connector.generation == "core-v1" else []
    assert buttons(card(page, active)) == terminate
    assert incoming.peer in card(page, incoming)
    assert 'name="csrfmiddlewaretoken"' in card(page, incoming)


def test_the_creation_content_shows_as_fields_with_the_raw_json_behind_a_click(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    relationship = learn(connected, connector.add_incoming_pending())

    html = card(text(member_client.get(LIST)), relationship)

    if connector.generation == "v1":
        assert "<tr><th>Person.givenName</th><td>Jane</td></tr>" in html
    else:
        assert "<caption>ArbitraryRelationshipCreationContent</caption>" in html
        assert "<tr><th>customerNumber</th><td>C-10023</td></tr>" in html
    raw = re.search(
        r"<details class=\"rel-raw\">\s*<summary>Raw JSON</summary>(.*?)</details>", html, re.S
    )
    assert raw
    assert "&quot;" in raw.group(1)  # the JSON text, escaped


def test_a_peer_name_known_to_a_contact_is_shown(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    relationship = learn(connected, connector.add_incoming_pending())
    Contact.objects.create(channel=connected, address=relationship.peer, name="Jane Doe")

    html = card(text(member_client.get(LIST)), relationship)

    assert '<span class="rel-peer-name">Jane Doe</span>' in html


def test_a_peer_name_a_participant_goes_by_is_shown_when_no_contact_has_one(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    relationship = learn(connected, connector.add_incoming_pending())
    Contact.objects.create(channel=connected, address=relationship.peer, name="")
    conversation = Conversation.objects.create(channel=connected, external_id="c1")
    Participant.objects.create(conversation=conversation, address=relationship.peer, name="Pat")

    html = card(text(member_client.get(LIST)), relationship)

    assert '<span class="rel-peer-name">Pat</span>' in html


def test_platform_data_is_escaped(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    evil = "<img src=x onerror=alert(1)>"
    content = {"@type": evil, "value": {evil: evil}}
    if connector.generation == "v1":
        content = {"attributes": [{"name": evil, "value": evil}]}
    relationship = learn(connected, connector.add_incoming_pending(content=content))
    Contact.objects.create(channel=connected, address=relationship.peer, name=evil)

    page = text(member_client.get(LIST))

    assert evil not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in card(page, relationship)


def test_the_rest_is_filtered_by_status(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    active = learn(connected, connector.add_active_relationship())
    rejected = learn(connected, connector.add_relationship(status="Rejected"))

    only_active = text(member_client.get(LIST, {"status": "Active"}))
    anything = text(member_client.get(LIST, {"status": "nonsense"}))

    assert f'id="relationship-{active.pk}"' in only_active
    assert f'id="relationship-{rejected.pk}"' not in only_active
    assert '<option value="Active" selected>' in only_active
    assert f'id="relationship-{rejected.pk}"' in anything


def test_an_agent_of_another_channel_sees_none_of_it(
    outsider_client: Client, connector: FakeConnector, connected: Any
) -> None:
    relationship = learn(connected, connector.add_incoming_pending())
    template = RelationshipTemplate.objects.create(channel=connected, external_id="RLTother")

    page = text(outsider_client.get(LIST))
    polled = outsider_client.get(reverse("relationships_web:card", args=[relationship.pk]))
    decided = outsider_client.post(decide_url(relationship, "accept"))
    detail = outsider_client.get(reverse("relationships_web:template", args=[template.pk]))
    qr = outsider_client.get(reverse("relationships_web:template_qr", args=[template.pk]))
    listed = text(outsider_client.get(TEMPLATES))

    assert relationship.external_id not in page
    assert (polled.status_code, decided.status_code, detail.status_code, qr.status_code) == (
        404,
        404,
        404,
        404,
    )
    assert "RLTother" not in listed
    assert f'value="{connected.pk}"' not in listed  # not offered for a new template
    assert OutboundCommand.objects.count() == 0
    assert connector.requests_to("/Token", "GET") == []


def test_staff_see_every_channel(
    staff_client: Client, connector: FakeConnector, connected: Any
) -> None:
    relationship = learn(connected, connector.add_incoming_pending())

    assert buttons(card(text(staff_client.get(LIST)), relationship)) == ["Accept", "Reject"]


def test_the_page_takes_a_fixed_number_of_queries(
    member_client: Client,
    connector: FakeConnector,
    connected: Any,
    django_assert_num_queries: Any,
) -> None:
    def count() -> int:
        with django_assert_num_queries(QUERIES):
            return len(re.findall(r'<article class="rel-card', text(member_client.get(LIST))))

    for status in ("Pending", "Active"):
        learn(connected, connector.add_relationship(status=status))
    learn(connected, connector.add_outgoing_pending())
    assert count() == 3
    for status in ("Pending", "Pending", "Active", "Rejected", "Revoked"):
        learn(connected, connector.add_relationship(status=status))
    assert count() == 8


# Session, user; per list (incoming, outgoing, the rest): its rows and their changes; the
# rest's count.
QUERIES = 2 + 3 * 2 + 1


# --- deciding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "incoming", "outcome"),
    [("accept", True, "Active"), ("reject", True, "Rejected"), ("revoke", False, "Revoked")],
)
def test_a_decision_from_the_page_is_queued_then_its_outcome_shows(
    member_client: Client,
    member: Any,
    connector: FakeConnector,
    connected: Any,
    decision: str,
    incoming: bool,
    outcome: str,
) -> None:
    dto = connector.add_incoming_pending() if incoming else connector.add_outgoing_pending()
    relationship = learn(connected, dto)

    response = member_client.post(
        decide_url(relationship, decision), {"next": f"{LIST}?status=Active"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"{LIST}?status=Active"
    assert said(response) == [
        f"{relationship.peer} ({relationship.external_id}): {decision} queued; the outcome "
        "shows here when it comes back."
    ]
    [command] = OutboundCommand.objects.filter(relationship=relationship)
    assert (command.kind, command.arguments, command.created_by) == (
        "decide",
        {"decision": decision},
        member,
    )
    queued = card(text(member_client.get(LIST)), relationship)
    assert '<dt>Outcome</dt><dd class="rel-outcome">queued</dd>' in queued
    assert f"<dt>By</dt><dd>{member.username}</dd>" in queued
    assert buttons(queued) == []  # one decision at a time
    card_url = reverse("relationships_web:card", args=[relationship.pk])
    # The waiting card polls for its outcome...
    assert f'hx-get="{card_url}" hx-trigger="every 3s" hx-swap="outerHTML"' in queued

    work()

    # ... which the card shows once it is in, and stops polling.
    polled = text(member_client.get(card_url))
    assert f'id="relationship-{relationship.pk}"' in polled
    assert "<html" not in polled  # the card alone, swapped in for the old one
    assert "hx-trigger" not in polled
    assert "by the Connector at " in polled

    assert connector.relationship(dto["id"])["status"] == outcome
    relationship.refresh_from_db()
    assert relationship.status == outcome
    done = card(text(member_client.get(LIST, {"status": outcome})), relationship)
    assert f"<dt>Decision</dt><dd>{decision}</dd>" in done
    past = {"accept": "accepted", "reject": "rejected", "revoke": "revoked"}[decision]
    assert f"{past} by the Connector at " in done
    assert f"(now {outcome})" in done


def test_terminate_from_the_page_on_7x_and_refused_on_1x(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    relationship = learn(connected, connector.add_active_relationship())

    response = member_client.post(decide_url(relationship, "terminate"))

    assert response.status_code == 302
    if connector.generation == "v1":
        assert said(response) == [
            f"{relationship.peer} ({relationship.external_id}): not terminated: "
            "A 1.x Connector cannot terminate relationships (7.x can)."
        ]
        assert OutboundCommand.objects.count() == 0
        return
    work()
    relationship.refresh_from_db()
    assert relationship.status == "Terminated"


def test_a_decision_not_allowed_is_an_error_and_queues_nothing(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    relationship = learn(connected, connector.add_outgoing_pending())

    response = member_client.post(decide_url(relationship, "accept"), follow=True)

    assert response.redirect_chain == [(LIST, 302)]
    page = text(response)
    assert (
        '<li class="rel-message rel-message-error">'
        f"{relationship.peer} ({relationship.external_id}): not accepted: Only an incoming "
        "request can be accepted; this one is ours: revoke it.</li>"
    ) in page
    assert OutboundCommand.objects.count() == 0
    relationship.refresh_from_db()
    assert (relationship.decision, relationship.decision_outcome) == ("", "")


def test_the_same_decision_twice_is_queued_once(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    relationship = learn(connected, connector.add_incoming_pending())

    member_client.post(decide_url(relationship, "accept"))
    again = member_client.post(decide_url(relationship, "accept"))
    other = member_client.post(decide_url(relationship, "reject"))

    # (Messages pile up until a page shows them: the newest is last.)
    assert said(again)[-1].endswith(
        ": accept was queued already; the outcome shows here when it comes back."
    )
    assert said(other)[-1].endswith(
        ": not rejected: A decision to accept is queued already; wait for its outcome."
    )
    assert OutboundCommand.objects.count() == 1


def test_an_offsite_next_is_not_followed(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    relationship = learn(connected, connector.add_incoming_pending())

    response = member_client.post(
        decide_url(relationship, "reject"), {"next": "https://evil.example/"}
    )

    assert response["Location"] == LIST


def test_unknown_decisions_and_gets_are_refused(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    relationship = learn(connected, connector.add_incoming_pending())

    assert member_client.post(decide_url(relationship, "approve")).status_code == 404
    assert member_client.get(decide_url(relationship, "accept")).status_code == 405
    assert OutboundCommand.objects.count() == 0


def test_csrf_is_enforced(member: Any, connector: FakeConnector, connected: Any) -> None:
    relationship = learn(connected, connector.add_incoming_pending())
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)

    response = client.post(decide_url(relationship, "accept"))

    assert response.status_code == 403
    assert OutboundCommand.objects.count() == 0


# --- templates ---------------------------------------------------------------------------------


def test_a_template_made_on_the_page_shows_its_qr_code(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    form = text(member_client.get(TEMPLATES))
    assert f'<option value="{connected.pk}">' in form
    assert 'type="datetime-local"' in form

    response = member_client.post(
        TEMPLATES,
        {
            "channel": connected.pk,
            "title": "Counter 3",
            "expires_at": later(),
            "max_allocations": 2,
        },
    )

    template = RelationshipTemplate.objects.get()
    detail = reverse("relationships_web:template", args=[template.pk])
    assert response.status_code == 302
    assert response["Location"] == detail
    assert said(response) == [f"Template {template.external_id} created."]
    assert (template.channel, template.title, template.is_own, template.max_allocations) == (
        connected,
        "Counter 3",
        True,
        2,
    )
    page = text(member_client.get(detail))
    qr_url = reverse("relationships_web:template_qr", args=[template.pk])
    assert f'<img src="{qr_url}"' in page
    assert "Counter 3" in page

    qr = member_client.get(qr_url)

    assert qr.status_code == 200
    assert qr["Content-Type"] == "image/png"
    assert "no-store" in qr["Cache-Control"]
    assert qr.content.startswith(PNG_SIGNATURE)
    assert template.external_id in text(member_client.get(TEMPLATES))


def test_what_the_inbox_refuses_is_a_field_error(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    past = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")

    response = member_client.post(
        TEMPLATES, {"channel": connected.pk, "title": "Counter", "expires_at": past}
    )

    page = text(response)
    assert re.search(
        r'rel-field-invalid">\s*<label for="id_expires_at">.*?'
        r'<p class="rel-error">expires_at must be in the future.</p>',
        page,
        re.S,
    )
    assert RelationshipTemplate.objects.count() == 0
    assert connector.requests_to("/RelationshipTemplates/Own", "POST") == []


def test_what_the_connector_refuses_is_a_form_error(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    connector.fail_next(status=400, code="error.runtime.validation", message="bad template")

    response = member_client.post(
        TEMPLATES, {"channel": connected.pk, "title": "Counter", "expires_at": later()}
    )

    page = text(response)
    assert re.search(r'<ul class="rel-errors" role="alert">\s*<li>The Connector refused: ', page)
    assert "bad template" in page
    assert RelationshipTemplate.objects.count() == 0


def test_an_unreachable_connector_is_a_form_error(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    connector.down()

    response = member_client.post(
        TEMPLATES, {"channel": connected.pk, "title": "Counter", "expires_at": later()}
    )

    assert "The Connector could not be asked: " in text(response)
    assert RelationshipTemplate.objects.count() == 0


def test_a_qr_code_the_connector_cannot_render_is_a_502(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    template = RelationshipTemplate.objects.create(
        channel=connected, external_id="RLTmissing", is_own=True
    )
    connector.down()

    response = member_client.get(reverse("relationships_web:template_qr", args=[template.pk]))

    assert response.status_code == 502
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "no-store" in response["Cache-Control"]


def test_the_templates_page_needs_a_form_for_posting(
    staff_client: Client, connector: FakeConnector, connected: Any
) -> None:
    response = staff_client.post(TEMPLATES, {"channel": connected.pk})

    page = text(response)
    assert '<label for="id_title">' in page
    assert "This field is required." in page
    assert RelationshipTemplate.objects.count() == 0


def test_the_pages_keep_to_the_content_security_policy(
    member_client: Client, connector: FakeConnector, connected: Any
) -> None:
    learn(connected, connector.add_active_relationship())  # a Terminate… confirmation on 7.x
    learn(connected, connector.add_incoming_pending())
    template = RelationshipTemplate.objects.create(
        channel=connected, external_id="RLTcsp", is_own=True, content={"title": "x"}
    )

    for path in (LIST, TEMPLATES, reverse("relationships_web:template", args=[template.pk])):
        page = text(member_client.get(path))
        assert not re.search(r"\sstyle=|\son\w+=|<script(?![^>]*\ssrc=)", page), path
        assert "relationships/relationships.css" in page
