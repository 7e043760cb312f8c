"""Writes of the relationships app; its appliers plug into the way in (registered in
``RelationshipsConfig.ready``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inbox.connectors.events import (
    RelationshipChangeInfo,
    RelationshipDecomposed,
    RelationshipUpserted,
    TemplateInfo,
)
from inbox.inbound.appliers import Applying
from inbox.live import Change
from inbox.models import Channel, InboundEvent

from .models import Relationship, RelationshipChange, RelationshipStatus, RelationshipTemplate


def _template(channel: Channel, info: TemplateInfo) -> RelationshipTemplate:
    values = {
        "is_own": info.is_own,
        "created_by": info.created_by[:255],
        "created_at": info.created_at,
        "expires_at": info.expires_at,
        "content": info.content,
        "max_allocations": info.max_allocations,
    }
    template, created = RelationshipTemplate.objects.get_or_create(
        channel=channel, external_id=info.template_id, defaults=values
    )
    # A 7.x event names only the template id; a 1.x one or the API carries the rest.
    gaps = [
        f for f, v in values.items() if v not in (None, "") and getattr(template, f) in (None, "")
    ]
    if not created and gaps:
        for field in gaps:
            setattr(template, field, values[field])
        template.save(update_fields=gaps)
    return template


def apply_relationship_upserted(
    *, channel: Channel, event: RelationshipUpserted, inbound: InboundEvent | None = None
) -> list[Change]:
    """Store the relationship's state unless what is stored is newer (a higher revision).

    A relationship we decomposed stays decomposed. Relationships are no conversation rows, so
    nothing is reported for the live view.
    """
    values: dict[str, Any] = {
        "peer": event.peer[:255],
        "peer_public_key": event.peer_public_key,
        "status": event.status,
        "direction": event.direction,
        "template": _template(channel, event.template) if event.template else None,
        "creation_content": event.creation_content,
        "audit_log": [dict(entry) for entry in event.audit_log],
        "revision": event.revision,
        "platform_updated_at": event.updated_at,
    }
    if event.peer_deletion is not None:
        values["peer_deletion"] = dict(event.peer_deletion) or None
    relationship, created = Relationship.objects.get_or_create(
        channel=channel, external_id=event.relationship_id, defaults=values
    )
    if not created:
        if event.revision < relationship.revision:
            values = {}
        elif relationship.status == RelationshipStatus.DECOMPOSED:
            # We removed it on our side: the platform's facts still fill in, the status stays.
            values.pop("status")
        changed = [f for f, v in values.items() if getattr(relationship, f) != v]
        for field in changed:
            setattr(relationship, field, values[field])
        if changed:
            relationship.save(update_fields=[*changed, "updated_at"])
    for change in event.changes:
        _change(relationship, change)
    return []


def _change(relationship: Relationship, info: RelationshipChangeInfo) -> None:
    values = {
        "type": info.type,
        "status": info.status,
        "requested_by": info.requested_by[:255],
        "requested_at": info.requested_at,
        "request_content": info.request_content,
        "response": dict(info.response) if info.response else None,
    }
    change, created = RelationshipChange.objects.get_or_create(
        relationship=relationship, external_id=info.change_id, defaults=values
    )
    # A change only ever leaves Pending, once.
    if not created and change.status == "Pending" and info.status != "Pending":
        change.status, change.response = values["status"], values["response"]
        change.save(update_fields=["status", "response"])


def apply_relationship_decomposed(
    *, channel: Channel, event: RelationshipDecomposed, inbound: InboundEvent | None = None
) -> list[Change]:
    # Arriving first, it leaves a placeholder that the relationship's own events fill in.
    relationship, _ = Relationship.objects.get_or_create(
        channel=channel,
        external_id=event.relationship_id,
        defaults={
            "peer": "",
            "status": RelationshipStatus.DECOMPOSED,
            "direction": Relationship.Direction.OUTGOING,
        },
    )
    if relationship.status != RelationshipStatus.DECOMPOSED:
        relationship.status = RelationshipStatus.DECOMPOSED
        relationship.save(update_fields=["status", "updated_at"])
    return []


def relationship_locks(event: RelationshipUpserted | RelationshipDecomposed) -> tuple[str, ...]:
    # Two snapshots of one relationship compare revisions: applied side by side, both could
    # read the older row.
    return (f"relationship:{event.relationship_id}",)


def apply_relationships_upserted(items: Sequence[Applying]) -> list[Change]:
    changes: list[Change] = []
    for item in items:
        changes += apply_relationship_upserted(
            channel=item.channel, event=item.event, inbound=item.inbound
        )
    return changes


def apply_relationships_decomposed(items: Sequence[Applying]) -> list[Change]:
    changes: list[Change] = []
    for item in items:
        changes += apply_relationship_decomposed(
            channel=item.channel, event=item.event, inbound=item.inbound
        )
    return changes
