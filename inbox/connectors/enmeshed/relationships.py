"""enmeshed RelationshipDTOs -> RelationshipUpserted / RelationshipDecomposed.

Two generations: 5.x+ carry ``creationContent`` and an ``auditLog`` (7.x names the template by
``templateId``, 5.x-6.x embed it); 1.x-4.x carry the ``template`` and a list of ``changes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..base import (
    ChannelContext,
    Event,
    PayloadError,
    RelationshipChangeInfo,
    RelationshipDecomposed,
    RelationshipUpserted,
    TemplateInfo,
)
from ..payload import as_mapping, mappings, optional_bool, optional_int, optional_str, required_str
from ..timestamps import parse_iso
from .dto import plain, required_time


def relationship_events(trigger: str, data: Any, context: ChannelContext) -> list[Event]:
    """One RelationshipDTO -> one RelationshipUpserted (its complete state); PayloadError."""
    relationship = as_mapping(data, "relationship")
    relationship_id = required_str(relationship, "id", "relationship")
    what = f"relationship {relationship_id}"
    identity = relationship.get("peerIdentity")
    identity = as_mapping(identity, f"{what} peerIdentity") if identity is not None else {}
    peer = optional_str(relationship, "peer", what) or required_str(identity, "address", what)
    deletion = relationship.get("peerDeletionInfo")
    common: dict[str, Any] = {
        "relationship_id": relationship_id,
        "peer": peer,
        "status": required_str(relationship, "status", what),
        "peer_public_key": optional_str(identity, "publicKey", f"{what} peerIdentity"),
        "template": _template(relationship, what),
        "peer_deletion": _peer_deletion(trigger, deletion, what),
    }
    if "auditLog" in relationship:
        return [RelationshipUpserted(**common, **_from_audit_log(relationship, peer, what))]
    if "changes" in relationship:
        return [RelationshipUpserted(**common, **_from_changes(relationship, peer, what))]
    raise PayloadError(f"{what} has neither an auditLog nor changes")


def _peer_deletion(trigger: str, deletion: Any, what: str) -> Mapping[str, Any] | None:
    """The peer's deletion state if this event tells it: the info, ``{}`` once cancelled, or
    ``None`` when the event says nothing (most relationship events omit it either way)."""
    if deletion is not None:
        return plain(as_mapping(deletion, what))  # type: ignore[no-any-return]
    if trigger == "transport.peerDeletionCancelled":
        return {}
    return None


def decomposed_events(trigger: str, data: Any, context: ChannelContext) -> list[Event]:
    """``transport.relationshipDecomposedBySelf`` ``{relationshipId}``."""
    body = as_mapping(data, "decomposition")
    return [RelationshipDecomposed(required_str(body, "relationshipId", "decomposition"))]


def revision(relationship: Mapping[str, Any]) -> int:
    """How many steps the relationship went through; never raises (dedup keys use it too).

    1.x counts each change twice once decided (request, then response), so accepting a pending
    creation moves the revision forward just as a new audit entry does in 5.x+.
    """
    audit_log = relationship.get("auditLog")
    if isinstance(audit_log, list):
        return len(audit_log)
    changes = relationship.get("changes")
    if not isinstance(changes, list):
        return 0
    return sum(
        1 + (change.get("status") != "Pending") for change in changes if isinstance(change, Mapping)
    )


def _from_audit_log(relationship: Mapping[str, Any], peer: str, what: str) -> dict[str, Any]:
    entries = mappings(relationship.get("auditLog"), f"{what} auditLog")
    if not entries:
        raise PayloadError(f"{what} has an empty auditLog")
    creator = required_str(entries[0], "createdBy", f"{what} auditLog[0]")
    return {
        "direction": "incoming" if creator == peer else "outgoing",
        "revision": len(entries),
        "creation_content": relationship.get("creationContent"),
        "audit_log": tuple(plain(entry) for entry in entries),
        "updated_at": required_time(entries[-1], "createdAt", f"{what} auditLog[-1]"),
    }


def _from_changes(relationship: Mapping[str, Any], peer: str, what: str) -> dict[str, Any]:
    changes = mappings(relationship.get("changes"), f"{what} changes")
    creation = next((change for change in changes if change.get("type") == "Creation"), None)
    if creation is None:
        raise PayloadError(f"{what} has no Creation change")
    request = as_mapping(creation.get("request"), f"{what} Creation request")
    creator = required_str(request, "createdBy", f"{what} Creation request")
    infos = tuple(_change(change, what) for change in changes)
    return {
        "direction": "incoming" if creator == peer else "outgoing",
        "revision": revision(relationship),
        "creation_content": request.get("content"),
        "changes": infos,
        "updated_at": _latest(infos),
    }


def _change(change: Mapping[str, Any], what: str) -> RelationshipChangeInfo:
    change_id = required_str(change, "id", f"{what} change")
    where = f"{what} change {change_id}"
    request = as_mapping(change.get("request"), f"{where} request")
    response = change.get("response")
    return RelationshipChangeInfo(
        change_id=change_id,
        type=required_str(change, "type", where),
        status=required_str(change, "status", where),
        requested_by=optional_str(request, "createdBy", f"{where} request"),
        requested_at=parse_iso(request.get("createdAt")),
        request_content=request.get("content"),
        response=plain(as_mapping(response, f"{where} response")) if response is not None else None,
    )


def _latest(changes: tuple[RelationshipChangeInfo, ...]) -> datetime | None:
    moments = [change.requested_at for change in changes if change.requested_at]
    moments += [
        parsed
        for change in changes
        if change.response and (parsed := parse_iso(change.response.get("createdAt")))
    ]
    return max(moments, default=None)


def _template(relationship: Mapping[str, Any], what: str) -> TemplateInfo | None:
    """7.x ``templateId``, or the embedded 1.x-6.x template object."""
    embedded = relationship.get("template")
    if embedded is None:
        template_id = optional_str(relationship, "templateId", what)
        return TemplateInfo(template_id) if template_id else None
    template = as_mapping(embedded, f"{what} template")
    where = f"{what} template"
    # 1.x names the limit maxNumberOfRelationships; later versions maxNumberOfAllocations.
    limit = optional_int(template, "maxNumberOfAllocations", where)
    if limit is None:
        limit = optional_int(template, "maxNumberOfRelationships", where)
    return TemplateInfo(
        template_id=required_str(template, "id", where),
        is_own=optional_bool(template, "isOwn", where),
        created_by=optional_str(template, "createdBy", where),
        created_at=parse_iso(template.get("createdAt")),
        expires_at=parse_iso(template.get("expiresAt")),
        content=template.get("content"),
        max_allocations=limit,
    )
