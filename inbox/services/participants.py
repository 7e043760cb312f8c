"""Participant rows: who is in a conversation, in which role, under which name.

Facts arrive in any order — complete participant lists (snapshots), joins, leaves and role
changes, messages — so each participant keeps, beside its presence and role, the platform time of
the fact they came from, and a fact applies only when it is newer. A row created after a newer
complete list starts absent (that list did not name it). The result is the same whatever the
order of arrival.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from inbox.connectors.events import Party
from inbox.models import Contact, Conversation, Participant

EARLIEST = datetime.min.replace(tzinfo=UTC)


def participants_for(
    conversation: Conversation,
    parties: Iterable[Party],
    *,
    at: datetime | None,
    present: bool | None = True,
    authoritative: bool = False,
) -> dict[str, Participant]:
    """Make sure every party is a participant and apply what the fact at ``at`` says.

    ``present`` is the presence the fact states (``None``: nothing about presence). Roles and
    names from an ``authoritative`` source (a snapshot, a participant event) replace older ones;
    a message only fills gaps. A profile name the channel knows wins over a message's.
    """
    wanted = {p.address: p for p in parties if p.address}
    rows = {p.address: p for p in conversation.participants.filter(address__in=wanted)}
    missing = [address for address in wanted if address not in rows]
    if missing:
        _create(conversation, [wanted[address] for address in missing], at, authoritative)
        rows = {p.address: p for p in conversation.participants.filter(address__in=wanted)}
    for address, party in wanted.items():
        row = rows[address]
        fields = _learn(row, party, at, authoritative)
        if present is not None:
            fields += presence_fact(row, present, at)
        if fields:
            row.save(update_fields=fields)
    return rows


def _create(
    conversation: Conversation,
    parties: Sequence[Party],
    at: datetime | None,
    authoritative: bool,
) -> None:
    profiles = dict(
        Contact.objects.filter(
            channel_id=conversation.channel_id, address__in=[p.address for p in parties]
        )
        .exclude(name="")
        .values_list("address", "name")
    )
    # The newest complete list did not name them: that is the fact they start from.
    listed_at = conversation.participants_at
    Participant.objects.bulk_create(
        [
            Participant(
                conversation=conversation,
                address=party.address,
                name=profiles.get(party.address, party.name[:200]),
                role=party.role[:40],
                role_at=at if authoritative and party.role else None,
                is_present=listed_at is None,
                presence_at=listed_at,
            )
            for party in parties
        ],
        ignore_conflicts=True,
    )


def _learn(row: Participant, party: Party, at: datetime | None, authoritative: bool) -> list[str]:
    fields = []
    name = party.name[:200]
    if name and row.name != name and (authoritative or not row.name):
        row.name = name
        fields.append("name")
    role = party.role[:40]
    if not role:
        return fields
    if authoritative:
        # Equal times: the greater word wins, so the outcome does not depend on arrival. The
        # time moves on even when the word stays, or an older word could return later.
        newer = row.role_at is None or (at is not None and (at, role) > (row.role_at, row.role))
        if newer and (row.role, row.role_at) != (role, at):
            row.role, row.role_at = role, at
            fields += ["role", "role_at"]
    elif not row.role:
        row.role = role
        fields.append("role")
    return fields


def presence_fact(row: Participant, present: bool, at: datetime | None) -> list[str]:
    """Apply "``present`` at ``at``" if it is newer than what the row's presence came from.

    At the same moment a leave outranks a join (any fixed rule would do; this one is it).
    """
    known = (row.presence_at, 0 if row.is_present else 1) if row.presence_at else None
    fact = (at or EARLIEST, 0 if present else 1)
    if known is not None and fact <= known:
        return []
    row.is_present, row.presence_at = present, at
    return ["is_present", "presence_at"]


def apply_participant_list(
    conversation: Conversation, parties: Sequence[Party], at: datetime | None
) -> None:
    """A complete list at ``at``: those named are present, everyone else absent — for each
    participant, unless a newer fact about them is known."""
    listed = participants_for(conversation, parties, at=at, present=True, authoritative=True)
    for row in conversation.participants.exclude(address__in=listed):
        if fields := presence_fact(row, False, at):
            row.save(update_fields=fields)
    newest = conversation.participants_at
    if at is not None and (newest is None or at > newest):
        conversation.participants_at = at
        conversation.save(update_fields=["participants_at", "updated_at"])
