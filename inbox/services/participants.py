"""Participant rows: who is in a conversation, in which role, under which name.

Facts arrive in any order — complete participant lists (snapshots), joins, leaves and role
changes, messages — so each participant keeps, beside its presence and role, the platform time of
the fact they came from, and a fact applies only when it is newer. A row created after a newer
complete list starts absent (that list did not name it). The result is the same whatever the
order of arrival.

:class:`Roster` holds the participants of a batch's conversations: loaded in one query, new ones
created in one, changed ones saved in one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from inbox.connectors.events import Party
from inbox.db import insert_rows, update_rows
from inbox.inbound.appliers import batch_memo
from inbox.models import Contact, Conversation, Participant

EARLIEST = datetime.min.replace(tzinfo=UTC)

# Fields a fact may change, saved together.
FIELDS = ("name", "role", "role_at", "is_present", "presence_at", "joined_at", "left_at")


class Roster:
    """The participants of some conversations (a conversation has a few: all are loaded)."""

    def __init__(self, conversations: Iterable[Conversation]) -> None:
        self.conversations = {c.pk: c for c in conversations}
        # Within a batch, one dict of rows serves every applier: each loads only the
        # conversations no earlier one did.
        shared, loaded = batch_memo("participants"), batch_memo("participants of")
        self.rows: dict[tuple[int, str], Participant] = {} if shared is None else shared
        wanted = [pk for pk in self.conversations if loaded is None or pk not in loaded]
        if wanted:
            for row in Participant.objects.filter(conversation_id__any=wanted):
                self.rows[(row.conversation_id, row.address)] = row
        if loaded is not None:
            loaded.update(dict.fromkeys(wanted, True))
        self.new: list[Participant] = []
        # Rows are unhashable until saved: changed ones are kept by (conversation, address).
        self.changed: dict[tuple[int, str], Participant] = {}

    def of(self, conversation: Conversation) -> list[Participant]:
        return [p for (pk, _), p in self.rows.items() if pk == conversation.pk]

    def get(self, conversation: Conversation, address: str) -> Participant | None:
        return self.rows.get((conversation.pk, address))

    def learn(
        self,
        conversation: Conversation,
        parties: Iterable[Party],
        *,
        at: datetime | None,
        present: bool | None = True,
        authoritative: bool = False,
    ) -> list[Participant]:
        """Make sure every party is a participant and apply what the fact at ``at`` says.

        ``present`` is the presence the fact states (``None``: nothing about presence). Roles
        and names from an ``authoritative`` source (a snapshot, a participant event) replace
        older ones; a message only fills gaps.
        """
        learned = []
        for party in parties:
            if not party.address:
                continue
            key = (conversation.pk, party.address)
            row = self.rows.get(key)
            if row is None:
                row = self._create(conversation, party, at, authoritative)
            elif _learn(row, party, at, authoritative):
                self.changed[key] = row
            if present is not None and presence_fact(row, present, at):
                self.changed[key] = row
            learned.append(row)
        return learned

    def _create(
        self, conversation: Conversation, party: Party, at: datetime | None, authoritative: bool
    ) -> Participant:
        # The newest complete list did not name them: that is the fact they start from.
        listed_at = conversation.participants_at
        row = Participant(
            conversation=conversation,
            address=party.address,
            name=party.name[:200],
            role=party.role[:40],
            role_at=at if authoritative and party.role else None,
            is_present=listed_at is None,
            presence_at=listed_at,
        )
        self.rows[(conversation.pk, party.address)] = row
        self.new.append(row)
        return row

    def save(self) -> None:
        """Create the new participants (with profile names the channel knows) and save the
        changed ones. The conversation lock makes each (conversation, address) new only here."""
        created = {id(row) for row in self.new}
        if self.new:
            self._profile_names()
            insert_rows(self.new)
        changed = [row for row in self.changed.values() if id(row) not in created]
        if changed:
            update_rows(changed, FIELDS)
        self.new, self.changed = [], {}

    def _profile_names(self) -> None:
        wanted: dict[int, set[str]] = defaultdict(set)
        for row in self.new:
            wanted[self.conversations[row.conversation_id].channel_id].add(row.address)
        for channel_id, addresses in wanted.items():
            names = dict(
                Contact.objects.filter(channel_id=channel_id, address__any=addresses)
                .exclude(name="")
                .values_list("address", "name")
            )
            for row in self.new:
                if self.conversations[row.conversation_id].channel_id == channel_id:
                    row.name = names.get(row.address, row.name)


def _learn(row: Participant, party: Party, at: datetime | None, authoritative: bool) -> bool:
    changed = False
    name = party.name[:200]
    if name and row.name != name and (authoritative or not row.name):
        row.name = name
        changed = True
    role = party.role[:40]
    if not role:
        return changed
    if authoritative:
        # Equal times: the greater word wins, so the outcome does not depend on arrival. The
        # time moves on even when the word stays, or an older word could return later.
        newer = row.role_at is None or (at is not None and (at, role) > (row.role_at, row.role))
        if newer and (row.role, row.role_at) != (role, at):
            row.role, row.role_at = role, at
            changed = True
    elif not row.role:
        row.role = role
        changed = True
    return changed


def presence_fact(row: Participant, present: bool, at: datetime | None) -> bool:
    """Apply "``present`` at ``at``" if it is newer than what the row's presence came from.

    At the same moment a leave outranks a join (any fixed rule would do; this one is it).
    """
    known = (row.presence_at, 0 if row.is_present else 1) if row.presence_at else None
    fact = (at or EARLIEST, 0 if present else 1)
    if known is not None and fact <= known:
        return False
    row.is_present, row.presence_at = present, at
    return True


def apply_participant_list(
    roster: Roster, conversation: Conversation, parties: Sequence[Party], at: datetime | None
) -> bool:
    """A complete list at ``at``: those named are present, everyone else absent — for each
    participant, unless a newer fact about them is known. Returns whether the conversation's
    own ``participants_at`` moved (the caller saves the conversation)."""
    listed = {p.address for p in roster.learn(conversation, parties, at=at, authoritative=True)}
    for row in roster.of(conversation):
        if row.address not in listed and presence_fact(row, False, at):
            roster.changed[(conversation.pk, row.address)] = row
    newest = conversation.participants_at
    if at is not None and (newest is None or at > newest):
        conversation.participants_at = at
        return True
    return False
