"""Closing a conversation on its platform, and opening a new one there.

Both are commands of the way out: asking records one (a second ask while it waits is the same
one) and the outbound worker carries it out. A close the platform confirmed closes the
conversation at once (its own snapshot saying so may come later, or not at all); an opened
conversation appears with the people it was opened for, before its first webhook.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inbox.choices import ConversationStatus
from inbox.connectors.outbound import Client, PlatformError, Target
from inbox.db import lock_conversation
from inbox.inbound import store_document
from inbox.live import publish_on_commit
from inbox.models import Channel, Conversation, OutboundCommand, Participant, Source
from inbox.outbound import record

from .channels import capabilities
from .conversations import conversation_updated
from .targets import target_of

Kind = OutboundCommand.Kind


class CannotAct(Exception):
    """The conversation or channel cannot do this now; the message says why (a person reads it)."""


def close_conversation(*, conversation: Conversation, user: Any) -> OutboundCommand:
    """Ask the platform to close ``conversation``. Raises CannotAct where it cannot be closed."""
    if not capabilities(conversation.channel).close:
        raise CannotAct("Conversations on this channel cannot be closed from the inbox.")
    if conversation.status != ConversationStatus.OPEN:
        raise CannotAct(f"The conversation is {conversation.status} already.")
    return _ask(conversation.channel, Kind.CLOSE, {"conversation": conversation.pk}, user)


def start_conversation(
    *, channel: Channel, user: Any, like: Conversation | None = None, consumer: str = ""
) -> OutboundCommand:
    """Ask the platform to open a new conversation, with the people of ``like`` (a closed one)
    or for ``consumer`` (an address). Raises CannotAct where the channel cannot."""
    if not capabilities(channel).start:
        raise CannotAct("This channel cannot start conversations.")
    if like is None and not consumer.strip():
        raise CannotAct("Name whom the conversation is for.")
    arguments: dict[str, Any] = (
        {"like": like.pk} if like is not None else {"consumer": consumer.strip()}
    )
    return _ask(channel, Kind.OPEN, arguments, user)


def pending(conversation: Conversation) -> set[str]:
    """The kinds of lifecycle commands waiting for ``conversation`` (``close``, ``open``)."""
    waiting = OutboundCommand.objects.filter(
        Q(arguments__conversation=conversation.pk) | Q(arguments__like=conversation.pk),
        channel_id=conversation.channel_id,
        kind__in=[Kind.CLOSE, Kind.OPEN],
        state=OutboundCommand.State.QUEUED,
    )
    return set(waiting.values_list("kind", flat=True))


def _ask(channel: Channel, kind: str, arguments: dict[str, Any], user: Any) -> OutboundCommand:
    with transaction.atomic():
        waiting = (
            OutboundCommand.objects.select_for_update()
            .filter(channel=channel, kind=kind, state=OutboundCommand.State.QUEUED)
            # Key by key (a JSON containment lookup is not there on SQLite).
            .filter(**{f"arguments__{key}": value for key, value in arguments.items()})
            .first()
        )
        if waiting is not None:
            return waiting
        return record(
            channel=channel,
            kind=kind,
            key=f"{kind}:{uuid.uuid4()}",
            arguments=arguments,
            created_by=user,
        )


# --- carried out by the outbound worker ----------------------------------------------------------


def perform_close(command: OutboundCommand, client: Client) -> None:
    conversation = Conversation.objects.select_related("channel").get(
        pk=command.arguments["conversation"]
    )
    document = client.close_conversation(target=target_of(conversation))
    with transaction.atomic():
        lock_conversation(conversation.channel_id, conversation.external_id)
        now = timezone.now()
        Conversation.objects.filter(pk=conversation.pk, status=ConversationStatus.OPEN).update(
            status=ConversationStatus.CLOSED, status_at=now, updated_at=now
        )
        conversation.status = ConversationStatus.CLOSED
        publish_on_commit([conversation_updated(conversation)])
        if document is not None:
            store_document(channel=conversation.channel, source=Source.ANSWER, document=document)


def perform_open(command: OutboundCommand, client: Client) -> None:
    channel = command.channel
    like = command.arguments.get("like")
    if like is not None:
        target = target_of(Conversation.objects.select_related("channel").get(pk=like))
        target = Target(participants=target.participants, recipients=target.recipients)
    else:
        target = Target(sender=command.arguments["consumer"])
    opened = client.open_conversation(target=target)
    with transaction.atomic():
        lock_conversation(channel.pk, opened.conversation_id)
        conversation, created = Conversation.objects.get_or_create(
            channel=channel, external_id=opened.conversation_id
        )
        if created:
            people = list(opened.participants or target.participants) or [(target.sender, "")]
            Participant.objects.bulk_create(
                [
                    Participant(conversation=conversation, address=address, role=role)
                    for address, role in people
                ],
                ignore_conflicts=True,
            )
            publish_on_commit([conversation_updated(conversation)])
        OutboundCommand.objects.filter(pk=command.pk).update(
            arguments={**command.arguments, "conversation": conversation.pk}
        )
        if opened.document is not None:
            store_document(channel=channel, source=Source.ANSWER, document=opened.document)


def lifecycle_failed(command: OutboundCommand, error: PlatformError) -> None:
    """Nothing changed in the inbox: the failed command keeps the platform's words (shown on
    the conversation and in /ops/)."""
