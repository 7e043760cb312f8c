"""Relationship decisions: accept, reject, revoke, terminate — recorded at once, carried out by
the outbound worker.

A decision is checked against the relationship's state (:func:`why_not`), noted on the
relationship (``decision``, ``decided_by``, ``decided_at``, ``decision_outcome`` "queued") and
recorded as a ``decide`` command in one transaction. The command's handler
(:func:`perform_decision`, registered in ``RelationshipsConfig.ready``) asks the Connector and
stores its answer through the way in, so the relationship row itself is only ever written by the
appliers; the handler writes nothing but the outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from django.db import transaction
from django.utils import timezone

from inbox.choices import Platform
from inbox.connectors.outbound import Client, PlatformError
from inbox.inbound import store_document
from inbox.models import Channel, Conversation, OutboundCommand, Source
from inbox.outbound import record
from inbox.services.channels import capabilities

from .models import Relationship, RelationshipChange, RelationshipStatus

# The Connector's API generations (as in inbox.connectors.enmeshed.client, which loads httpx:
# deciding whether a decision is allowed needs no HTTP client).
V1 = "v1"
CORE_V1 = "core-v1"
WRONG_STATUS = "error.transport.relationships.wrongRelationshipStatus"


class Decision(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    REVOKE = "revoke"
    TERMINATE = "terminate"


PAST = {
    Decision.ACCEPT: "accepted",
    Decision.REJECT: "rejected",
    Decision.REVOKE: "revoked",
    Decision.TERMINATE: "terminated",
}
# The status a decision leads to: seen in a refresh, it says our decision was carried out.
LEADS_TO = {
    Decision.ACCEPT: RelationshipStatus.ACTIVE,
    Decision.REJECT: RelationshipStatus.REJECTED,
    Decision.REVOKE: RelationshipStatus.REVOKED,
    Decision.TERMINATE: RelationshipStatus.TERMINATED,
}
QUEUED = "queued"


class DecisionNotAllowed(Exception):
    """The relationship cannot take this decision now; ``reason`` says why (a person reads it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Queued:
    """A decision recorded: the relationship as now stored and its command. ``created`` is
    False when the same decision was queued already (then nothing was recorded again)."""

    relationship: Relationship
    command: OutboundCommand
    created: bool


def accept_relationship(relationship: Relationship, *, user: Any) -> Queued:
    """Accept an incoming pending relationship request."""
    return decide(relationship, Decision.ACCEPT, user=user)


def reject_relationship(relationship: Relationship, *, user: Any) -> Queued:
    """Reject an incoming pending relationship request."""
    return decide(relationship, Decision.REJECT, user=user)


def revoke_relationship(relationship: Relationship, *, user: Any) -> Queued:
    """Withdraw our own (outgoing) pending relationship request."""
    return decide(relationship, Decision.REVOKE, user=user)


def terminate_relationship(relationship: Relationship, *, user: Any) -> Queued:
    """End an active relationship (Connector 7.x only)."""
    return decide(relationship, Decision.TERMINATE, user=user)


def decide(relationship: Relationship, decision: Decision | str, *, user: Any) -> Queued:
    """Record ``decision`` on ``relationship`` and queue it for the Connector.

    Raises :class:`DecisionNotAllowed` when the relationship's state does not allow it, or when
    another decision is still queued. The same decision asked again while queued is the same
    command; after it finished, a new decision is a new command.
    """
    try:
        wanted = Decision(decision)
    except ValueError:
        raise DecisionNotAllowed(f"{decision!r:.20} is not a relationship decision") from None
    decider = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        # One decision at a time per relationship: two requests at once are serialised here.
        locked = (
            Relationship.objects.select_for_update(of=("self",))
            .select_related("channel")
            .get(pk=relationship.pk)
        )
        reason = why_not(locked, wanted)
        if reason:
            raise DecisionNotAllowed(reason)
        commands = OutboundCommand.objects.filter(
            relationship=locked, kind=OutboundCommand.Kind.DECIDE
        )
        waiting = commands.filter(state=OutboundCommand.State.QUEUED).order_by("-id").first()
        if waiting is not None:
            asked = waiting.arguments.get("decision")
            if asked == wanted:
                return Queued(locked, waiting, created=False)
            raise DecisionNotAllowed(
                f"A decision to {asked} is queued already; wait for its outcome."
            )
        command = record(
            channel=locked.channel,
            kind=OutboundCommand.Kind.DECIDE,
            key=f"decide:{locked.pk}:{wanted}:{commands.count()}",
            relationship=locked,
            arguments={"decision": str(wanted)},
            created_by=decider,
        )
        locked.decision = wanted
        locked.decided_by = decider
        locked.decided_at = timezone.now()
        locked.decision_outcome = QUEUED
        locked.save(
            update_fields=["decision", "decided_by", "decided_at", "decision_outcome", "updated_at"]
        )
    return Queued(locked, command, created=True)


def why_not(relationship: Relationship, decision: Decision) -> str:
    """Why ``relationship`` cannot take ``decision`` now, or ``""`` when it can."""
    channel = relationship.channel
    if channel.platform != Platform.ENMESHED:
        return "Only enmeshed relationships can be decided."
    able = capabilities(channel)
    if not able.decide:
        return able.why_not or "The channel cannot decide relationships."
    status = relationship.status
    if decision is Decision.TERMINATE:
        if status != RelationshipStatus.ACTIVE:
            return f"Only an active relationship can be terminated; this one is {status}."
        if connector_generation(relationship) == V1:
            return "A 1.x Connector cannot terminate relationships (7.x can)."
        return ""
    if status != RelationshipStatus.PENDING:
        return f"Only a pending relationship can be {PAST[decision]}; this one is {status}."
    incoming = relationship.direction == Relationship.Direction.INCOMING
    if decision is Decision.REVOKE and incoming:
        return "Only our own (outgoing) request can be revoked; accept or reject this one."
    if decision is not Decision.REVOKE and not incoming:
        return f"Only an incoming request can be {PAST[decision]}; this one is ours: revoke it."
    return ""


def allowed_decisions(relationship: Relationship) -> list[Decision]:
    """The decisions ``relationship`` can take now."""
    return [decision for decision in Decision if not why_not(relationship, decision)]


def connector_generation(relationship: Relationship) -> str | None:
    """The API generation of the relationship's Connector: the ``api_version`` setting, what the
    channel learnt, else the relationship's own shape (7.x keeps an audit log, 1.x changes);
    None when nothing tells."""
    channel = relationship.channel
    for known in (
        (channel.settings or {}).get("api_version"),
        (channel.learned or {}).get("api_version"),
    ):
        if known in (V1, CORE_V1):
            return str(known)
    if relationship.audit_log:
        return CORE_V1
    if relationship.changes.all().exists():
        return V1
    return None


# --- carrying a decision out (the outbound worker) ---------------------------------------------


@runtime_checkable
class RefreshingClient(Protocol):
    """A client that can fetch a relationship's current state (the enmeshed one)."""

    def get_relationship(self, relationship_id: str) -> dict[str, Any]: ...


def perform_decision(command: OutboundCommand, client: Client) -> None:
    """Ask the Connector to carry the decision out and store its answer through the way in.

    A wrong-status answer (the peer decided first, or an earlier attempt did it and lost the
    answer) is no failure: the relationship is fetched and stored instead, and the outcome says
    what it is now.
    """
    relationship = _relationship_of(command)
    decision = _decision_of(command)
    # 1.x decides on the Creation change; 7.x ignores the change id (the client finds a
    # missing one itself).
    change_id = (
        RelationshipChange.objects.filter(relationship=relationship, type="Creation")
        .values_list("external_id", flat=True)
        .first()
    ) or ""
    try:
        document = client.decide(
            relationship_id=relationship.external_id, change_id=change_id, decision=decision
        )
    except PlatformError as exc:
        if exc.code == WRONG_STATUS and isinstance(client, RefreshingClient):
            _refresh(relationship, decision, client)
            return
        if not exc.permanent:
            # The worker retries; meanwhile the admin and the API show why it waits.
            _set_outcome(relationship, f"{QUEUED}; will retry after: {exc}")
        raise
    status = _status_of(document)
    now = f" (now {status})" if status else ""
    _store_answer(relationship, document, f"{PAST[decision]} by the Connector at {_moment()}{now}")


def decision_failed(command: OutboundCommand, error: PlatformError) -> None:
    """The decision failed for good: the outcome is the platform's code and message."""
    if command.relationship_id is not None:
        _set_outcome(command.relationship_id, f"failed: {error}")


def _refresh(relationship: Relationship, decision: Decision, client: RefreshingClient) -> None:
    dto = client.get_relationship(relationship.external_id)
    status = str(dto.get("status", ""))
    if status == LEADS_TO[decision]:
        outcome = f"{PAST[decision]}: the Connector had done so already (now {status})"
    else:
        outcome = f"the relationship had changed: now {status or 'unknown'}"
    _store_answer(relationship, {"trigger": "transport.relationshipChanged", "data": dto}, outcome)


def _store_answer(relationship: Relationship, document: Any, outcome: str) -> None:
    with transaction.atomic():
        store_document(channel=relationship.channel, source=Source.ANSWER, document=document)
        _set_outcome(relationship, outcome)


def _set_outcome(relationship: Relationship | int, outcome: str) -> None:
    pk = relationship if isinstance(relationship, int) else relationship.pk
    Relationship.objects.filter(pk=pk).update(
        decision_outcome=outcome[:4000], updated_at=timezone.now()
    )


def _relationship_of(command: OutboundCommand) -> Relationship:
    relationship = command.relationship
    if relationship is None:
        raise PlatformError("the command names no relationship", permanent=True)
    return relationship


def _decision_of(command: OutboundCommand) -> Decision:
    try:
        return Decision(command.arguments.get("decision"))
    except ValueError:
        raise PlatformError(
            f"unknown relationship decision {command.arguments.get('decision')!r:.20}",
            permanent=True,
        ) from None


def _status_of(document: Any) -> str:
    data = document.get("data") if isinstance(document, dict) else None
    status = data.get("status") if isinstance(data, dict) else None
    return status if isinstance(status, str) else ""


def _moment() -> str:
    return timezone.now().strftime("%Y-%m-%d %H:%M:%S UTC")


def reply_rule(conversation: Conversation, recipients: Sequence[str]) -> str:
    """Why an enmeshed conversation cannot take a Mail: every recipient needs an Active
    relationship (registered as the platform's reply rule in ``RelationshipsConfig.ready``)."""
    active = set(
        Relationship.objects.filter(
            channel_id=conversation.channel_id,
            peer__in=recipients,
            status=RelationshipStatus.ACTIVE,
        ).values_list("peer", flat=True)
    )
    missing = [r for r in recipients if r not in active]
    return f"No active relationship with {', '.join(missing)}." if missing else ""


def pending_hint(channel: Channel, cursor: dict[str, Any]) -> None:
    """Polls refresh the relationships the inbox holds as pending too: their decision may have
    come by a webhook the inbox missed (registered as a cursor hint of polling)."""
    known = set(
        Relationship.objects.filter(channel=channel, status=RelationshipStatus.PENDING).values_list(
            "external_id", flat=True
        )
    )
    own = cursor.get("known_pending")
    if isinstance(own, list):
        known.update(ref for ref in own if isinstance(ref, str))
    if known:
        cursor["known_pending"] = sorted(known)
