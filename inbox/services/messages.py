"""Messages and their receipts, applied a batch at a time.

A batch costs a fixed handful of queries whatever its size: conversations and participants found
or created together, messages inserted and updated in bulk, the status history folded for every
touched message at once (:mod:`.delivery`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.utils import timezone

from inbox.choices import Direction
from inbox.connectors.events import MessageUpserted, StatusChanged
from inbox.db import insert_rows, update_rows
from inbox.inbound.appliers import Applying
from inbox.live import Change
from inbox.models import Conversation, Message

from .attachments import store_attachments
from .conversations import conversation_updated, find_conversations
from .delivery import fold, observe
from .participants import Roster

TOUCH_FIELDS = ["last_position", "last_message", "last_activity_at", "updated_at"]


def message_locks(event: MessageUpserted) -> tuple[str, ...]:
    return (event.conversation.external_id,)


def apply_messages_upserted(items: Sequence[Applying]) -> list[Change]:
    """Store each message as the platform knows it now (the latest word on the content wins;
    a message never moves to another conversation); report what a user would see change."""
    now = timezone.now()
    found = find_conversations((i.channel, i.event.conversation) for i in items)
    conversation_of = [found[(i.channel.pk, i.event.conversation.external_id)] for i in items]
    sent_at = [i.event.sent_at or (i.inbound.received_at if i.inbound else now) for i in items]
    roster = Roster(found.all())
    for item, conversation, at in zip(items, conversation_of, sent_at, strict=True):
        roster.learn(
            conversation, [item.event.sender, *item.event.conversation.participants], at=at
        )
    roster.save()

    stored = _stored_messages(items)
    stored.update(
        adopt_echoes(
            {
                (i.channel.pk, i.event.message_id): (
                    c,
                    i.event.message_id,
                    i.event.text,
                    i.event.subject[:300],
                )
                for i, c in zip(items, conversation_of, strict=True)
                if i.event.direction == Direction.OUT
                and (i.channel.pk, i.event.message_id) not in stored
            }.values()
        )
    )
    new: dict[tuple[int, str], Message] = {}
    changed: dict[int, tuple[Message, set[str]]] = {}
    messages: list[Message] = []
    for item, conversation, at in zip(items, conversation_of, sent_at, strict=True):
        event: MessageUpserted = item.event
        key = (item.channel.pk, event.message_id)
        values = _content(event, at, roster.get(conversation, event.sender.address))
        message = new.get(key) or stored.get(key)
        if message is None:
            conversation.last_position += 1
            message = Message(
                channel=item.channel,
                external_id=event.message_id,
                conversation=conversation,
                position=conversation.last_position,
                updated_at=now,
                **values,
            )
            new[key] = message
        else:
            fields = {f for f, v in values.items() if getattr(message, f) != v}
            for name in fields:
                setattr(message, name, values[name])
            if fields and key not in new:
                message.updated_at = now
                changed.setdefault(message.pk, (message, set()))[1].update(fields)

        messages.append(message)
    insert_rows(new.values())
    if changed:
        union = set().union(*(fields for _, fields in changed.values())) - {"sender_id"}
        if any("sender_id" in fields for _, fields in changed.values()):
            union.add("sender")
        update_rows([m for m, _ in changed.values()], [*union, "updated_at"])

    _titles_from_first_messages(items, conversation_of)
    relinked = _link_replies(list(new.values()) + [m for m, _ in changed.values()])
    store_attachments([(m, i.event.attachments) for i, m in zip(items, messages, strict=True)])
    by_key = {(m.channel_id, m.external_id or ""): m for m in messages}
    observed = observe(
        ((i.channel, o, i.inbound) for i in items for o in i.event.statuses), messages=by_key
    )
    delivered = fold(
        list(by_key.values()),
        observed,
        new={m.pk for m in new.values()},
        named=_named_recipients(items, messages),
    )

    created = {id(m) for m in new.values()}
    touched: dict[int, Conversation] = {c.pk: c for c in conversation_of if c.pk in found.created}
    for conversation, message in zip(conversation_of, messages, strict=True):
        if touch_conversation(conversation, message) or id(message) in created:
            touched[conversation.pk] = conversation
    for conversation in touched.values():
        conversation.updated_at = now
    if touched:
        update_rows(touched.values(), TOUCH_FIELDS)

    created_pks = {m.pk for m in new.values()}
    updated_pks = (changed.keys() | delivered | relinked) - created_pks
    by_pk = {m.pk: m for m in messages}
    changes = [
        Change("message.created", m.channel_id, m.conversation_id, m.pk) for m in new.values()
    ]
    changes += [
        Change("message.updated", by_pk[pk].channel_id, by_pk[pk].conversation_id, pk)
        for pk in sorted(updated_pks)
        if pk in by_pk
    ]
    return changes + [conversation_updated(c) for c in touched.values()]


def _stored_messages(items: Sequence[Applying]) -> dict[tuple[int, str], Message]:
    wanted: dict[int, set[str]] = defaultdict(set)
    for item in items:
        wanted[item.channel.pk].add(item.event.message_id)
    stored = {}
    for channel_id, external_ids in wanted.items():
        for message in Message.objects.filter(channel_id=channel_id, external_id__any=external_ids):
            stored[(channel_id, message.external_id or "")] = message
    return stored


def adopt_echoes(
    echoes: Iterable[tuple[Conversation, str, str, str]],
) -> dict[tuple[int, str], Message]:
    """Outbound messages not yet known by the platform's id that these echoes are: for each
    ``(conversation, platform id, text, subject)`` of an outgoing message the inbox does not
    know, the oldest waiting outbound message of that conversation with the same text (and the
    same subject, where ours has one) takes the platform id. Returns them by
    ``(channel id, platform id)``."""
    wanted = list(echoes)
    if not wanted:
        return {}
    waiting = list(
        Message.objects.filter(
            conversation_id__any={c.pk for c, _, _, _ in wanted},
            direction=Direction.OUT,
            external_id__isnull=True,
            author__isnull=False,
        ).order_by("position")
    )
    adopted: dict[tuple[int, str], Message] = {}
    for conversation, platform_id, text, subject in wanted:
        for message in waiting:
            if (
                message.conversation_id == conversation.pk
                and message.text == text
                and (not message.subject or message.subject == subject)
            ):
                waiting.remove(message)
                message.external_id = platform_id
                Message.objects.filter(pk=message.pk).update(external_id=platform_id)
                adopted[(message.channel_id, platform_id)] = message
                break
    return adopted


def _content(event: MessageUpserted, sent_at: Any, sender: Any) -> dict[str, Any]:
    # The sender by id: comparing ids needs no query for the stored sender.
    return {
        "direction": event.direction,
        "sender_id": sender.pk if sender is not None else None,
        "sent_at": sent_at,
        "text": event.text,
        "subject": event.subject[:300],
        "content": event.content,
        "content_kind": event.content_kind,
        "choices": [{"title": c.title, "text": c.text} for c in event.choices],
        "audience": event.audience,
        "reply_to_external_id": event.reply_to[:255],
        "sequence": event.sequence,
    }


def _titles_from_first_messages(
    items: Sequence[Applying], conversation_of: Sequence[Conversation]
) -> None:
    """A title carried by messages (an enmeshed group Mail's subject) is the first message's,
    whatever order the messages arrive in."""
    titled = {
        c.pk: (c, item.event.conversation.title[:300])
        for item, c in zip(items, conversation_of, strict=True)
        if item.event.conversation.title is not None
    }
    for conversation, _ in titled.values():
        first = conversation.messages.order_by("sent_at", "sequence", "external_id").first()
        title = next(
            (
                item.event.conversation.title[:300]
                for item in items
                if first is not None
                and item.event.message_id == first.external_id
                and item.event.conversation.title is not None
            ),
            None,
        )
        if title is not None and conversation.title != title:
            conversation.title = title
            conversation.save(update_fields=["title", "updated_at"])


def _link_replies(messages: Sequence[Message]) -> set[int]:
    """Point replies at their originals, whichever of the two arrives first; returns the ids of
    the messages that changed."""
    if not messages:
        return set()
    by_channel: dict[int, list[Message]] = defaultdict(list)
    for message in messages:
        by_channel[message.channel_id].append(message)
    relinked: dict[int, Message] = {}
    for channel_id, own in by_channel.items():
        known = {m.external_id: m for m in own}
        wanting = [m for m in own if m.reply_to_external_id and m.reply_to_id is None]
        missing = {m.reply_to_external_id for m in wanting} - known.keys()
        if missing:
            known.update(
                (m.external_id, m)
                for m in Message.objects.filter(channel_id=channel_id, external_id__any=missing)
            )
        for message in wanting:
            original = known.get(message.reply_to_external_id)
            if original is not None and original.pk != message.pk:
                message.reply_to = original
                relinked[message.pk] = message
        # Replies that arrived before these originals were waiting for them.
        for reply in Message.objects.filter(
            channel_id=channel_id, reply_to_external_id__any=known.keys(), reply_to__isnull=True
        ).exclude(pk__any=relinked):
            original = known.get(reply.reply_to_external_id)
            if original is not None:
                reply.reply_to = original
                relinked[reply.pk] = reply
    if relinked:
        update_rows(relinked.values(), ["reply_to"])
    return set(relinked)


def _named_recipients(
    items: Sequence[Applying], messages: Sequence[Message]
) -> dict[int, dict[str, str]]:
    """Per message id, the recipients the platform names: address -> relationship id."""
    named: dict[int, dict[str, str]] = defaultdict(dict)
    for item, message in zip(items, messages, strict=True):
        event: MessageUpserted = item.event
        for party in event.recipients:
            relationship_id = event.relationship_ids.get(party.address, "")
            if relationship_id or party.address not in named[message.pk]:
                named[message.pk][party.address] = relationship_id
    return named


# --- receipts ----------------------------------------------------------------------------------


def status_locks(event: StatusChanged) -> tuple[str, ...]:
    return (event.conversation_id,)


def apply_statuses_changed(items: Sequence[Applying]) -> list[Change]:
    """Add the observations; fold them into the messages they are about. An observation whose
    message has not arrived waits, stored, until it does."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for item in items:
        wanted[item.channel.pk].add(item.event.observation.message_id)
    messages: list[Message] = []
    for channel_id, external_ids in wanted.items():
        messages += Message.objects.filter(channel_id=channel_id, external_id__any=external_ids)
    by_key = {(m.channel_id, m.external_id or ""): m for m in messages}
    observed = observe(
        ((i.channel, i.event.observation, i.inbound) for i in items), messages=by_key
    )
    changed = fold(messages, observed)
    return [
        Change("message.updated", m.channel_id, m.conversation_id, m.pk)
        for m in messages
        if m.pk in changed
    ]


def touch_conversation(conversation: Conversation, message: Message) -> bool:
    """Keep the conversation's newest message and activity time for the inbox list (unsaved).

    Returns whether they changed. Until its first message, a conversation's activity time is
    its creation time.
    """
    current = conversation.last_message
    if current is not None and _timeline_key(message) < _timeline_key(current):
        return False
    if current == message and conversation.last_activity_at == message.sent_at:
        return False
    conversation.last_message = message
    conversation.last_activity_at = message.sent_at
    return True


def _timeline_key(message: Message) -> tuple[Any, ...]:
    sequence = message.sequence if message.sequence is not None else -1
    return (message.sent_at, sequence, message.external_id or "")
