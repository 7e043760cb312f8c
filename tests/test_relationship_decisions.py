"""Relationship decisions (accept, reject, revoke, terminate) from the API and the admin, carried
out by the outbound worker against the fake Connector of both API generations.

Relationships are learnt the way the inbox learns them (a Connector document through the way
in), decided through the services, and the Connector's answer comes back through the way in:
the row changes only once that answer is processed.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from inbox import services
from inbox.inbound import process_due_events, store_request
from inbox.models import InboundEvent, OutboundCommand, Source
from inbox.outbound import process_due_commands
from inbox.outbound.commands import HANDLERS
from inbox.services.channels import client_for, remember
from relationships import decisions
from relationships.models import Relationship
from tests.fakes.enmeshed import NOT_FOUND, ONLY_FOR_PEER, FakeConnector

pytestmark = pytest.mark.django_db

DECIDE = OutboundCommand.Kind.DECIDE


# --- helpers -----------------------------------------------------------------------------------


def learn(channel: Any, dto: dict[str, Any]) -> Relationship:
    """The inbox learns the Connector's relationship as from a webhook, through the way in."""
    body = json.dumps({"trigger": "transport.relationshipChanged", "data": dto}).encode()
    store_request(channel=channel, source=Source.WEBHOOK, body=body)
    process_due_events()
    return Relationship.objects.get(channel=channel, external_id=dto["id"])


def work(*, later: bool = False) -> None:
    """The outbound worker, then the way in (which applies the Connector's answers)."""
    process_due_commands(before=timezone.now() + timedelta(minutes=1) if later else None)
    process_due_events()


def commands(relationship: Relationship) -> list[OutboundCommand]:
    return list(OutboundCommand.objects.filter(relationship=relationship, kind=DECIDE))


def decided(connector: FakeConnector, route: str) -> list[Any]:
    """The decision calls the fake carried out (answered 200) on ``route`` (``/Accept``…)."""
    return [r for r in connector.requests_to(route, "PUT") if r.status == 200]


def assert_valid(connector: FakeConnector) -> None:
    assert [(r.method, r.path, r.status, r.body[:200]) for r in connector.rejected()] == []


def pending(connector: FakeConnector, incoming: bool) -> dict[str, Any]:
    return connector.add_incoming_pending() if incoming else connector.add_outgoing_pending()


def decide_url(relationship: Relationship, decision: str) -> str:
    return f"/api/v1/relationships/{relationship.pk}/{decision}/"


CHANGELIST = "admin:relationships_relationship_changelist"


def admin_action(staff_client: Any, action: str, *rows: Relationship) -> list[str]:
    """Run an admin action on ``rows``; the messages it left, in order."""
    response = staff_client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [r.pk for r in rows], "index": "0"},
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- the handler -------------------------------------------------------------------------------


def test_the_decide_handler_is_registered() -> None:
    assert HANDLERS[DECIDE].perform is decisions.perform_decision
    assert HANDLERS[DECIDE].failed is decisions.decision_failed


# --- through the API ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "incoming", "outcome"),
    [("accept", True, "Active"), ("reject", True, "Rejected"), ("revoke", False, "Revoked")],
)
def test_a_decision_through_the_api_is_queued_then_carried_out(
    member_api: APIClient,
    agent: Any,
    connector: FakeConnector,
    connected: Any,
    decision: str,
    incoming: bool,
    outcome: str,
) -> None:
    dto = pending(connector, incoming)
    relationship = learn(connected, dto)

    response = member_api.post(decide_url(relationship, decision))

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["id"], body["status"], body["decision"]) == (relationship.pk, "Pending", decision)
    assert (body["decided_by"], body["decision_outcome"]) == ("agent", "queued")
    assert body["decided_at"] is not None
    [command] = commands(relationship)
    assert command.key == f"decide:{relationship.pk}:{decision}:0"
    assert (command.arguments, command.created_by, command.state) == (
        {"decision": decision},
        agent,
        "queued",
    )
    # Nothing has reached the Connector yet.
    assert connector.relationship(dto["id"])["status"] == "Pending"
    assert decided(connector, f"/{decision.capitalize()}") == []

    process_due_commands()
    assert connector.relationship(dto["id"])["status"] == outcome
    relationship.refresh_from_db()
    assert relationship.status == "Pending"  # the answer is stored, not applied yet
    answer = InboundEvent.objects.get(request__source=Source.ANSWER)
    assert answer.payload["status"] == outcome

    process_due_events()
    relationship.refresh_from_db()
    assert relationship.status == outcome
    assert relationship.decision_outcome.startswith(
        f"{decisions.PAST[decisions.Decision(decision)]} by the Connector at "
    )
    assert relationship.decision_outcome.endswith(f"(now {outcome})")
    command.refresh_from_db()
    assert (command.state, command.attempts, command.error) == ("done", 1, "")
    assert len(decided(connector, f"/{decision.capitalize()}")) == 1
    if connector.generation == "v1":  # decided on the stored Creation change
        change = connector.creation_change_id(dto["id"])
        [put] = decided(connector, f"/{decision.capitalize()}")
        assert put.path.endswith(f"/Changes/{change}/{decision.capitalize()}")
        assert relationship.changes.get(type="Creation").status != "Pending"
    assert_valid(connector)

    shown = member_api.get(f"/api/v1/relationships/{relationship.pk}/").json()
    assert (shown["status"], shown["decision"]) == (outcome, decision)


def test_terminate_on_7x_and_refused_on_1x(
    member_api: APIClient, connector: FakeConnector, connected: Any
) -> None:
    dto = connector.add_active_relationship()
    relationship = learn(connected, dto)

    response = member_api.post(decide_url(relationship, "terminate"))

    if connector.generation == "v1":
        assert response.status_code == 409
        assert response.json() == {
            "code": "conflict",
            "detail": "A 1.x Connector cannot terminate relationships (7.x can).",
            "fields": {},
        }
        assert commands(relationship) == []
        relationship.refresh_from_db()
        assert (relationship.decision, relationship.decision_outcome) == ("", "")
        return
    assert response.status_code == 202, response.content
    work()
    assert connector.relationship(dto["id"])["status"] == "Terminated"
    relationship.refresh_from_db()
    assert relationship.status == "Terminated"
    assert relationship.decision_outcome.startswith("terminated by the Connector at ")
    assert_valid(connector)


def test_a_learnt_generation_decides_whether_terminate_is_allowed(
    member_api: APIClient, connector: FakeConnector, connected: Any
) -> None:
    relationship = learn(connected, connector.add_active_relationship())
    # The channel says otherwise than the relationship's shape: what the channel knows wins.
    other = "core-v1" if connector.generation == "v1" else "v1"
    remember(connected, {"api_version": other})
    status = member_api.post(decide_url(relationship, "terminate")).status_code
    assert status == (202 if other == "core-v1" else 409)


@pytest.mark.parametrize(
    ("decision", "start", "incoming", "reason"),
    [
        ("accept", "Pending", False, "Only an incoming request can be accepted"),
        ("reject", "Pending", False, "Only an incoming request can be rejected"),
        ("revoke", "Pending", True, "Only our own (outgoing) request can be revoked"),
        ("accept", "Active", True, "Only a pending relationship can be accepted"),
        ("revoke", "Rejected", False, "Only a pending relationship can be revoked"),
        ("terminate", "Pending", True, "Only an active relationship can be terminated"),
        ("approve", "Pending", True, None),  # no such route
    ],
)
def test_a_transition_not_allowed_is_409_and_records_nothing(
    member_api: APIClient,
    connector: FakeConnector,
    connected: Any,
    decision: str,
    start: str,
    incoming: bool,
    reason: str | None,
) -> None:
    relationship = learn(connected, connector.add_relationship(status=start, incoming=incoming))

    response = member_api.post(decide_url(relationship, decision))

    if reason is None:
        assert response.status_code == 404
    else:
        assert response.status_code == 409
        assert response.json()["detail"].startswith(reason)
    assert OutboundCommand.objects.count() == 0
    relationship.refresh_from_db()
    assert (relationship.decision, relationship.decided_by, relationship.decision_outcome) == (
        "",
        None,
        "",
    )
    work()
    assert [r for r in connector.requests if r.method == "PUT"] == []


def test_a_channel_without_a_connector_cannot_decide(
    member_api: APIClient, connector: Any, connected: Any
) -> None:
    relationship = learn(connected, connector.add_incoming_pending())
    services.update_channel(channel=connected, credentials={"api_key": ""})
    response = member_api.post(decide_url(relationship, "accept"))
    assert response.status_code == 409
    assert "API key" in response.json()["detail"]
    assert OutboundCommand.objects.count() == 0


# --- the Connector answers otherwise ----------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "incoming", "peer", "now"),
    [("accept", True, "revoke", "Revoked"), ("revoke", False, "accept", "Active")],
)
def test_the_peer_deciding_first_refreshes_instead_of_failing(
    member_api: APIClient,
    connector: FakeConnector,
    connected: Any,
    decision: str,
    incoming: bool,
    peer: str,
    now: str,
) -> None:
    dto = pending(connector, incoming)
    relationship = learn(connected, dto)
    assert member_api.post(decide_url(relationship, decision)).status_code == 202
    connector.peer_decides(dto["id"], peer)  # before the worker runs

    work()

    [command] = commands(relationship)
    assert (command.state, command.error) == ("done", "")
    relationship.refresh_from_db()
    assert relationship.status == now
    assert relationship.decision_outcome == f"the relationship had changed: now {now}"
    # The Connector refused the decision, and the inbox fetched the relationship instead.
    [refused] = [r for r in connector.requests if r.method == "PUT"]
    assert refused.status == 400
    assert json.loads(refused.body or b"{}") in ({}, {"content": {}})
    assert connector.requests[-1].method == "GET"
    assert connector.requests[-1].path.endswith(f"/Relationships/{dto['id']}")
    answers = InboundEvent.objects.filter(request__source=Source.ANSWER)
    assert [e.payload["status"] for e in answers] == [now]


def test_a_decision_already_carried_out_says_so(
    member_api: APIClient, connector: FakeConnector, connected: Any
) -> None:
    """An earlier attempt was carried out but its answer was lost: the retry's wrong-status
    answer is recognised as our own decision."""
    dto = connector.add_incoming_pending()
    relationship = learn(connected, dto)
    assert member_api.post(decide_url(relationship, "accept")).status_code == 202
    with client_for(connected) as client:  # the lost attempt
        client.decide(relationship_id=dto["id"], change_id="", decision="accept")

    work()

    [command] = commands(relationship)
    assert command.state == "done"
    relationship.refresh_from_db()
    assert relationship.status == "Active"
    assert relationship.decision_outcome == (
        "accepted: the Connector had done so already (now Active)"
    )


def test_a_transient_failure_is_retried_and_decides_once(
    member_api: APIClient, connector: FakeConnector, connected: Any
) -> None:
    dto = connector.add_incoming_pending()
    relationship = learn(connected, dto)
    assert member_api.post(decide_url(relationship, "accept")).status_code == 202
    connector.fail_next(1, status=500, route="/Accept")

    work()

    [command] = commands(relationship)
    assert (command.state, command.attempts) == ("queued", 1)
    assert command.error_code == "error.platform.unexpected"
    assert command.next_attempt_at > timezone.now()
    relationship.refresh_from_db()
    assert relationship.status == "Pending"
    assert relationship.decision_outcome == (
        "queued; will retry after: error.platform.unexpected: An unexpected error occurred."
    )
    assert connector.relationship(dto["id"])["status"] == "Pending"

    work(later=True)

    command.refresh_from_db()
    assert (command.state, command.attempts) == ("done", 2)
    relationship.refresh_from_db()
    assert relationship.status == "Active"
    assert relationship.decision_outcome.startswith("accepted by the Connector at ")
    assert len(decided(connector, "/Accept")) == 1
    assert len(connector.requests_to("/Accept", "PUT")) == 2


def test_a_permanent_refusal_fails_with_the_platform_words_and_may_be_asked_again(
    member_api: APIClient, connector: FakeConnector, connected: Any
) -> None:
    dto = connector.add_incoming_pending()
    relationship = learn(connected, dto)
    assert member_api.post(decide_url(relationship, "accept")).status_code == 202
    connector.fail_next(1, status=400, code=ONLY_FOR_PEER, message="Not yours.", route="/Accept")

    work()

    [command] = commands(relationship)
    assert (command.state, command.error_code) == ("failed", ONLY_FOR_PEER)
    relationship.refresh_from_db()
    assert relationship.decision_outcome == f"failed: {ONLY_FOR_PEER}: Not yours."
    assert relationship.status == "Pending"

    # A failed decision is finished: the same decision again is a new command.
    response = member_api.post(decide_url(relationship, "accept"))
    assert response.status_code == 202
    assert response.json()["decision_outcome"] == "queued"
    assert [c.key for c in commands(relationship)] == [
        f"decide:{relationship.pk}:accept:0",
        f"decide:{relationship.pk}:accept:1",
    ]
    work()
    relationship.refresh_from_db()
    assert relationship.status == "Active"


def test_a_relationship_gone_from_the_connector_fails_the_decision(
    member_api: APIClient, connector: FakeConnector, connected: Any
) -> None:
    relationship = learn(connected, connector.add_incoming_pending())
    assert member_api.post(decide_url(relationship, "accept")).status_code == 202
    connector.fail_next(
        1, status=404, code=NOT_FOUND, message="Relationship not found.", route="/Accept"
    )
    work()
    [command] = commands(relationship)
    assert (command.state, command.attempts) == ("failed", 1)
    relationship.refresh_from_db()
    assert relationship.decision_outcome == f"failed: {NOT_FOUND}: Relationship not found."
    assert relationship.status == "Pending"


# --- idempotency -------------------------------------------------------------------------------


def test_the_same_decision_twice_is_one_command(
    member_api: APIClient, agent: Any, connector: FakeConnector, connected: Any
) -> None:
    dto = connector.add_incoming_pending()
    relationship = learn(connected, dto)

    first = member_api.post(decide_url(relationship, "accept"))
    second = member_api.post(decide_url(relationship, "accept"))
    again = decisions.accept_relationship(relationship, user=agent)

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["decided_at"] == second.json()["decided_at"]
    assert not again.created
    assert len(commands(relationship)) == 1
    # Another decision while one is queued is refused, not queued behind it.
    other = member_api.post(decide_url(relationship, "reject"))
    assert other.status_code == 409
    assert other.json()["detail"] == (
        "A decision to accept is queued already; wait for its outcome."
    )

    work()
    assert len(decided(connector, "/Accept")) == 1
    assert len(commands(relationship)) == 1
    # Finished: asking again is refused by the new state.
    assert member_api.post(decide_url(relationship, "accept")).status_code == 409


def test_the_services_name_each_decision(
    connector: FakeConnector, connected: Any, agent: Any
) -> None:
    incoming = learn(connected, connector.add_incoming_pending())
    outgoing = learn(connected, connector.add_outgoing_pending())
    active = learn(connected, connector.add_active_relationship())

    assert decisions.accept_relationship(incoming, user=agent).command.arguments == {
        "decision": "accept"
    }
    with pytest.raises(decisions.DecisionNotAllowed):
        decisions.reject_relationship(outgoing, user=agent)
    queued = decisions.revoke_relationship(outgoing, user=agent)
    assert (queued.created, queued.relationship.decision_outcome) == (True, "queued")
    assert decisions.allowed_decisions(incoming) == ["accept", "reject"]
    assert decisions.allowed_decisions(outgoing) == ["revoke"]
    if connector.generation == "core-v1":
        assert decisions.terminate_relationship(active, user=agent).created
    else:
        with pytest.raises(decisions.DecisionNotAllowed, match=r"1\.x"):
            decisions.terminate_relationship(active, user=agent)
    with pytest.raises(decisions.DecisionNotAllowed):
        decisions.decide(incoming, "approve", user=agent)


# --- who may decide ----------------------------------------------------------------------------


def test_another_channels_agent_gets_404_and_anonymous_is_refused(
    member_api: APIClient, outsider: Any, connector: FakeConnector, connected: Any
) -> None:
    relationship = learn(connected, connector.add_incoming_pending())
    elsewhere = services.create_channel(
        platform="enmeshed",
        name="Elsewhere",
        settings={"base_url": connector.base_url, "api_key": "x" * 30},
    )
    elsewhere.members.add(outsider)
    stranger = APIClient()
    stranger.force_authenticate(outsider)
    for decision in ("accept", "reject", "revoke", "terminate"):
        assert stranger.post(decide_url(relationship, decision)).status_code == 404
        assert APIClient().post(decide_url(relationship, decision)).status_code in (401, 403)
    assert stranger.get(f"/api/v1/relationships/{relationship.pk}/").status_code == 404
    assert OutboundCommand.objects.count() == 0
    # The member may.
    assert member_api.post(decide_url(relationship, "accept")).status_code == 202


def test_the_list_shows_decisions_at_a_constant_query_count(
    member_api: APIClient,
    agent: Any,
    connector: FakeConnector,
    connected: Any,
    django_assert_num_queries: Any,
) -> None:
    def listed() -> list[dict[str, Any]]:
        with django_assert_num_queries(3):  # count, page (with the decider), changes
            response = member_api.get("/api/v1/relationships/")
        return response.json()["results"]

    first = learn(connected, connector.add_incoming_pending())
    decisions.accept_relationship(first, user=agent)
    assert [r["decided_by"] for r in listed()] == ["agent"]
    for _ in range(3):
        relationship = learn(connected, connector.add_incoming_pending())
        decisions.reject_relationship(relationship, user=agent)
    assert sorted(r["decision"] for r in listed()) == ["accept", "reject", "reject", "reject"]


# --- the admin ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "incoming", "outcome"),
    [("accept", True, "Active"), ("reject", True, "Rejected"), ("revoke", False, "Revoked")],
)
def test_admin_actions_queue_decisions_for_several_rows(
    staff_client: Any,
    owner: Any,
    connector: FakeConnector,
    connected: Any,
    action: str,
    incoming: bool,
    outcome: str,
) -> None:
    dtos = [pending(connector, incoming) for _ in range(2)]
    rows = [learn(connected, dto) for dto in dtos]

    said = admin_action(staff_client, action, *rows)

    assert sorted(said) == sorted(f"{r.external_id} ({r.peer}): {action} queued." for r in rows)
    for row in rows:
        [command] = commands(row)
        assert command.created_by == owner
    work()
    for dto, row in zip(dtos, rows, strict=True):
        assert connector.relationship(dto["id"])["status"] == outcome
        row.refresh_from_db()
        assert (row.status, row.decision, row.decided_by) == (outcome, action, owner)
    # Asked again: every row says why not.
    again = admin_action(staff_client, action, *rows)
    assert all(
        f"not {decisions.PAST[decisions.Decision(action)]}: Only a pending" in m for m in again
    )
    assert_valid(connector)


def test_admin_actions_say_per_row_what_happened(
    staff_client: Any, connector: FakeConnector, connected: Any
) -> None:
    incoming = learn(connected, connector.add_incoming_pending())
    outgoing = learn(connected, connector.add_outgoing_pending())
    active = learn(connected, connector.add_active_relationship())

    said = admin_action(staff_client, "accept", incoming, outgoing)
    assert sorted(said) == sorted(
        [
            f"{incoming.external_id} ({incoming.peer}): accept queued.",
            f"{outgoing.external_id} ({outgoing.peer}): not accepted: Only an incoming request "
            "can be accepted; this one is ours: revoke it.",
        ]
    )
    assert admin_action(staff_client, "accept", incoming) == [
        f"{incoming.external_id} ({incoming.peer}): accept was queued already."
    ]
    assert admin_action(staff_client, "revoke", incoming) == [
        f"{incoming.external_id} ({incoming.peer}): not revoked: Only our own (outgoing) "
        "request can be revoked; accept or reject this one."
    ]
    said = admin_action(staff_client, "terminate", active)
    if connector.generation == "v1":
        assert said == [
            f"{active.external_id} ({active.peer}): not terminated: A 1.x Connector cannot "
            "terminate relationships (7.x can)."
        ]
        assert commands(active) == []
    else:
        assert said == [f"{active.external_id} ({active.peer}): terminate queued."]
    assert commands(outgoing) == []


def test_admin_actions_need_the_change_permission(
    client: Any, connector: FakeConnector, connected: Any
) -> None:
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_relationship"))
    client.force_login(viewer)
    relationship = learn(connected, connector.add_incoming_pending())
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert b'value="accept"' not in page.content
    client.post(
        reverse(CHANGELIST),
        {"action": "accept", "_selected_action": [relationship.pk], "index": "0"},
    )
    assert commands(relationship) == []


def test_the_admin_list_shows_pending_first_at_a_constant_query_count(
    staff_client: Any, agent: Any, connector: FakeConnector, connected: Any
) -> None:
    def page() -> tuple[str, int]:
        with CaptureQueriesContext(connection) as queries:
            response = staff_client.get(reverse(CHANGELIST))
        assert response.status_code == 200
        return response.content.decode(), len(queries)

    active = learn(connected, connector.add_active_relationship())
    waiting = learn(connected, connector.add_incoming_pending())
    decisions.accept_relationship(waiting, user=agent)
    content, few = page()
    assert content.index(waiting.external_id) < content.index(active.external_id)
    for label in ("Peer", "Direction", "Status", "Decision outcome"):
        assert label in content
    assert waiting.peer in content
    assert ">queued<" in content

    for _ in range(3):
        learn(connected, connector.add_active_relationship())
    newest = learn(connected, connector.add_outgoing_pending())
    content, more = page()
    assert more == few
    rows = [content.index(r.external_id) for r in (waiting, newest, active)]
    assert max(rows[:2]) < rows[2]  # both pending ones above the active one


def test_the_change_page_shows_the_peer_and_the_creation_content_escaped(
    staff_client: Any, agent: Any, connector: FakeConnector, connected: Any
) -> None:
    if connector.generation == "v1":
        content: Any = {"attributes": [{"name": "Person.givenName", "value": "<b>Jane</b>"}]}
    else:
        content = {
            "@type": "ArbitraryRelationshipCreationContent",
            "value": {"name": "<b>Jane</b>", "customerNumber": "C-1"},
        }
    relationship = learn(connected, connector.add_incoming_pending(content=content))
    decisions.accept_relationship(relationship, user=agent)

    page = staff_client.get(
        reverse("admin:relationships_relationship_change", args=[relationship.pk])
    )

    assert page.status_code == 200
    html = page.content.decode()
    assert relationship.peer in html
    assert "<b>Jane</b>" not in html
    assert "&lt;b&gt;Jane&lt;/b&gt;" in html
    label = "Person.givenName" if connector.generation == "v1" else "name"
    assert f"<tr><th>{label}</th><td>&lt;b&gt;Jane&lt;/b&gt;</td></tr>" in html
    assert "queued" in html
    assert "agent" in html
    # Read-only: the decision fields cannot be posted.
    assert 'name="decision_outcome"' not in html
    post = staff_client.post(
        reverse("admin:relationships_relationship_change", args=[relationship.pk]), {}
    )
    assert post.status_code == 403


def test_a_decided_relationship_is_active_for_replies(
    member_api: APIClient, connector: FakeConnector, connected: Any
) -> None:
    """Sending checks for an Active relationship with the peer: the accepted one is."""
    dto = connector.add_incoming_pending()
    relationship = learn(connected, dto)
    member_api.post(decide_url(relationship, "accept"))
    work()
    assert Relationship.objects.filter(
        channel=connected, peer=dto["peer"], status="Active"
    ).exists()
