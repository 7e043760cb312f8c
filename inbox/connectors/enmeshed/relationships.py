"""enmeshed RelationshipDTOs -> RelationshipUpserted / RelationshipDecomposed.

Two generations: 5.x+ carry ``creationContent`` and an ``auditLog`` (7.x names the template by
``templateId``, 5.x-6.x embed it); 1.x-4.x carry the ``template`` and a list of ``changes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inbox.choices import RelationshipDirection

from ..contract import ChannelContext, PayloadError
from ..events import (
    Event,
    RelationshipChangeInfo,
    RelationshipDecomposed,
    RelationshipUpserted,
    TemplateInfo,
)
from ..payload import Payload

PEER_DELETION_CANCELLED = "transport.peerDeletionCancelled"


@dataclass(frozen=True)
class _History:
    """What a relationship's audit log (5.x+) or its changes (1.x-4.x) tell."""

    direction: RelationshipDirection
    revision: int
    creation_content: Any
    updated_at: datetime | None
    audit_log: tuple[Mapping[str, Any], ...] = ()
    changes: tuple[RelationshipChangeInfo, ...] = ()


def relationship_events(trigger: str, data: Any, context: ChannelContext) -> list[Event]:
    """One RelationshipDTO -> one RelationshipUpserted (its complete state); PayloadError."""
    relationship = Payload(data, "relationship")
    relationship_id = relationship["id"].string()
    identity = relationship.get("peerIdentity")
    peer = relationship.get("peer").optional_string() or identity["address"].string()
    status = relationship["status"].string()
    if "auditLog" in relationship:
        history = _from_audit_log(relationship, peer)
    elif "changes" in relationship:
        history = _from_changes(relationship, peer)
    else:
        raise PayloadError(f"{relationship.path} has neither an auditLog nor changes")
    return [
        RelationshipUpserted(
            relationship_id=relationship_id,
            peer=peer,
            status=status,
            direction=history.direction,
            revision=history.revision,
            peer_public_key=identity.get("publicKey").optional_string(),
            template=_template(relationship),
            creation_content=history.creation_content,
            audit_log=history.audit_log,
            changes=history.changes,
            peer_deletion=_peer_deletion(trigger, relationship),
            updated_at=history.updated_at,
        )
    ]


def _peer_deletion(trigger: str, relationship: Payload) -> Mapping[str, Any] | None:
    """The peer's deletion state if this event tells it: the info, ``{}`` once cancelled, or
    ``None`` when the event says nothing (most relationship events omit it either way)."""
    deletion = relationship.get("peerDeletionInfo")
    if not deletion.is_missing:
        info: Mapping[str, Any] = deletion.mapping().raw
        return info
    return {} if trigger == PEER_DELETION_CANCELLED else None


def decomposed_events(trigger: str, data: Any, context: ChannelContext) -> list[Event]:
    """``transport.relationshipDecomposedBySelf`` ``{relationshipId}``."""
    body = Payload(data, "decomposition")
    return [RelationshipDecomposed(relationship_id=body["relationshipId"].string())]


def revision(relationship: Payload) -> int:
    """How many steps the relationship went through (0 when its DTO tells neither way).

    1.x counts each change twice once decided (request, then response), so accepting a pending
    creation moves the revision forward just as a new audit entry does in 5.x+.
    """
    if "auditLog" in relationship:
        return len(relationship["auditLog"].elements())
    return sum(
        1 + (change["status"].string() != "Pending")
        for change in relationship.get("changes").optional_elements()
    )


def _direction(creator: str, peer: str) -> RelationshipDirection:
    return RelationshipDirection.INCOMING if creator == peer else RelationshipDirection.OUTGOING


def _from_audit_log(relationship: Payload, peer: str) -> _History:
    entries = relationship["auditLog"].elements()
    if not entries:
        raise PayloadError(f"{relationship.path}.auditLog is empty")
    audit_log: tuple[Mapping[str, Any], ...] = tuple(entry.mapping().raw for entry in entries)
    return _History(
        direction=_direction(entries[0]["createdBy"].string(), peer),
        revision=len(entries),
        creation_content=relationship.get("creationContent").raw,
        updated_at=entries[-1]["createdAt"].timestamp(),
        audit_log=audit_log,
    )


def _from_changes(relationship: Payload, peer: str) -> _History:
    changes = relationship["changes"].elements()
    infos = tuple(_change(change) for change in changes)
    creation = next(
        (change for change, info in zip(changes, infos, strict=True) if info.type == "Creation"),
        None,
    )
    if creation is None:
        raise PayloadError(f"{relationship.path}.changes has no Creation change")
    request = creation["request"]
    answered = [change.get("response").get("createdAt").optional_timestamp() for change in changes]
    moments = [info.requested_at for info in infos] + answered
    return _History(
        direction=_direction(request["createdBy"].string(), peer),
        revision=revision(relationship),
        creation_content=request.get("content").raw,
        updated_at=max((moment for moment in moments if moment is not None), default=None),
        changes=infos,
    )


def _change(change: Payload) -> RelationshipChangeInfo:
    request = change["request"].mapping()
    response = change.get("response")
    answer: Mapping[str, Any] | None = None if response.is_missing else response.mapping().raw
    return RelationshipChangeInfo(
        change_id=change["id"].string(),
        type=change["type"].string(),
        status=change["status"].string(),
        requested_by=request.get("createdBy").optional_string(),
        requested_at=request.get("createdAt").optional_timestamp(),
        request_content=request.get("content").raw,
        response=answer,
    )


def _template(relationship: Payload) -> TemplateInfo | None:
    """7.x ``templateId``, or the embedded 1.x-6.x template object."""
    template = relationship.get("template")
    if template.is_missing:
        template_id = relationship.get("templateId").optional_string()
        return TemplateInfo(template_id=template_id) if template_id else None
    # 1.x names the limit maxNumberOfRelationships; later versions maxNumberOfAllocations.
    limit = template.first("maxNumberOfAllocations", "maxNumberOfRelationships")
    return TemplateInfo(
        template_id=template["id"].string(),
        is_own=template.get("isOwn").optional_boolean(),
        created_by=template.get("createdBy").optional_string(),
        created_at=template.get("createdAt").optional_timestamp(),
        expires_at=template.get("expiresAt").optional_timestamp(),
        content=template.get("content").raw,
        max_allocations=limit.optional_integer(),
    )
