"""Services below the appliers: links kept from platform data, typing, the applier registry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import checks
from django.utils import timezone

from inbox import services
from inbox.choices import Direction
from inbox.connectors.events import (
    AttachmentInfo,
    ConversationRef,
    MessageUpserted,
    Party,
    Typing,
)
from inbox.inbound.appliers import REGISTRY, apply_one, register
from inbox.models import Attachment, Conversation
from inbox.services.attachments import safe_link
from inbox.services.typing import typing_key
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "link",
    [
        "https://files.example.com/a.png",
        "http://files.example.com/a.png",
        "/v1/AUTH_async-images/73820514/photo.PNG",  # platform-relative: for its own client
        "data:image/png;base64,iVBORw0KGgo=",
        "DATA:image/jpeg;base64,/9j/4AAQ",
    ],
)
def test_safe_links_are_kept(link):
    assert safe_link(link) == (link, "")


@pytest.mark.parametrize(
    ("link", "scheme"),
    [
        ("javascript:alert(1)", "javascript"),
        ("  JavaScript:alert(1)", "javascript"),
        ("java\tscript:alert(1)", "javascript"),
        ("data:text/html,<script>alert(1)</script>", "data"),
        ("data:image/svg+xml;base64,PHN2Zz4=", "data"),
        ("vbscript:msgbox", "vbscript"),
        ("file:///etc/passwd", "file"),
    ],
)
def test_unsafe_links_are_dropped_with_a_note(link, scheme):
    assert safe_link(link) == ("", f"dropped a {scheme}: link")


def message_with(attachment: AttachmentInfo) -> MessageUpserted:
    return MessageUpserted(
        conversation=ConversationRef("chat-1"),
        message_id="m-1",
        direction=Direction.IN,
        sender=Party("driver-1"),
        sent_at=timezone.now(),
        attachments=(attachment,),
    )


def test_an_attachment_keeps_a_note_of_the_links_it_lost():
    channel = ChannelFactory(platform="scalar")
    apply_one(
        channel,
        message_with(
            AttachmentInfo("file-1", url="javascript:steal()", preview="data:image/png;base64,AA")
        ),
    )
    attachment = Attachment.objects.get()
    assert (attachment.url, attachment.preview) == ("", "data:image/png;base64,AA")
    assert attachment.note == "dropped a javascript: link"


# --- typing ------------------------------------------------------------------------------------


def typing(address: str, on: bool, seconds_ago: float = 0) -> Typing:
    return Typing("chat-1", address, on, timezone.now() - timedelta(seconds=seconds_ago))


@pytest.fixture
def chat():
    channel = ChannelFactory(platform="scalar")
    apply_one(channel, message_with(AttachmentInfo("f")))
    roster = services.participants.Roster([Conversation.objects.get()])
    roster.learn(Conversation.objects.get(), [Party("dispatcher-1")], at=timezone.now())
    roster.save()
    return channel, Conversation.objects.get()


def test_each_person_typing_has_a_key_of_their_own(chat):
    channel, conversation = chat
    apply_one(channel, typing("driver-1", True))
    apply_one(channel, typing("dispatcher-1", True))
    assert services.typing_in(conversation=conversation) == ["dispatcher-1", "driver-1"]
    assert typing_key(channel.pk, "chat-1", "driver-1") != typing_key(
        channel.pk, "chat-1", "dispatcher-1"
    )

    apply_one(channel, typing("driver-1", False))
    assert services.typing_in(conversation=conversation) == ["dispatcher-1"]


def test_a_late_typing_event_does_not_outlive_a_newer_stop(chat):
    channel, conversation = chat
    apply_one(channel, typing("driver-1", False, seconds_ago=1))
    apply_one(channel, typing("driver-1", True, seconds_ago=2))
    assert services.typing_in(conversation=conversation) == []


def test_a_replayed_backlog_of_typing_is_ignored(chat, settings):
    channel, conversation = chat
    changes = apply_one(
        channel, typing("driver-1", True, seconds_ago=settings.TYPING_TTL_SECONDS + 1)
    )
    assert changes == []
    assert services.typing_in(conversation=conversation) == []


def test_typing_reports_a_live_change(chat):
    channel, conversation = chat
    [change] = apply_one(channel, typing("driver-1", True))
    assert (change.kind, change.conversation_id) == ("typing", conversation.pk)
    assert change.data == {"address": "driver-1", "typing": True}


# --- the applier registry ----------------------------------------------------------------------


def test_every_normalized_event_has_an_applier():
    assert [m for m in checks.run_checks(tags=["switchboard"]) if m.id == "inbox.E001"] == []


def test_a_normalized_event_without_an_applier_fails_the_system_check(monkeypatch):
    monkeypatch.delitem(REGISTRY, Typing)
    [error] = [m for m in checks.run_checks(tags=["switchboard"]) if m.id == "inbox.E001"]
    assert "Typing" in error.msg


def test_an_event_type_cannot_get_a_second_applier():
    with pytest.raises(ValueError, match="already has an applier"):
        register(Typing, lambda items: [])
    register(Typing, REGISTRY[Typing].apply)  # registering the same one again is harmless


# --- read state, channels, aliases, templates ----------------------------------------------


def test_reading_on_moves_the_read_position_forward(owner, chat):
    _, conversation = chat
    assert services.mark_read(user=owner, conversation=conversation, position=0) == 0
    assert services.mark_read(user=owner, conversation=conversation) == 1
    state = owner.read_states.get()
    assert (state.read_position, state.manual_unread) == (1, False)
    assert state.last_read_at is not None


def test_channel_names_are_unique_per_platform():
    services.create_channel(platform="scalar", name="Fleet")
    services.create_channel(platform="comapi", name="Fleet")  # another platform: fine
    with pytest.raises(ValueError, match="exists already"):
        services.create_channel(platform="scalar", name="Fleet")
    other = services.create_channel(platform="scalar", name="Other")
    with pytest.raises(ValueError, match="exists already"):
        services.update_channel(channel=other, name="Fleet")
    with pytest.raises(ValueError, match="unknown platform"):
        services.create_channel(platform="telegram", name="Chats")


def test_a_provisional_conversation_merges_into_the_one_that_names_its_alias():
    from inbox.connectors.events import ConversationChanged
    from inbox.models import ConversationAlias, Message, Participant

    channel = ChannelFactory(platform="liveperson")
    bot = Party("bot", role="CONTROLLER")
    survey = MessageUpserted(
        conversation=ConversationRef("dialog-9", participants=(bot,), provisional=True),
        message_id="dialog-9:0",
        direction=Direction.IN,
        sender=bot,
        sent_at=timezone.now(),
        text="How did we do?",
    )
    apply_one(channel, survey)
    assert Conversation.objects.get().external_id == "dialog-9"

    snapshot = ConversationChanged(
        conversation_id="conv-1",
        at=timezone.now(),
        participants=(Party("consumer", role="CONSUMER"),),
        aliases=("dialog-9",),
    )
    apply_one(channel, snapshot)
    conversation = Conversation.objects.get()
    assert conversation.external_id == "conv-1"
    assert ConversationAlias.objects.get().conversation == conversation
    message = Message.objects.get()
    assert (message.conversation, message.position) == (conversation, 1)
    assert message.sender == Participant.objects.get(address="bot")  # moved with its message
    assert conversation.last_message == message
    assert set(conversation.participants.values_list("address", flat=True)) == {"bot", "consumer"}


def test_a_template_learns_what_a_later_event_knows():
    from inbox.choices import RelationshipDirection
    from inbox.connectors.events import RelationshipUpserted, TemplateInfo
    from relationships.models import RelationshipTemplate

    channel = ChannelFactory(platform="enmeshed")

    def upserted(template: TemplateInfo) -> RelationshipUpserted:
        return RelationshipUpserted(
            relationship_id="RELaaaaaaaaaaaaaaaaa",
            peer="did:e:peer",
            status="Pending",
            direction=RelationshipDirection.INCOMING,
            revision=1,
            template=template,
        )

    apply_one(channel, upserted(TemplateInfo("RLTbbbbbbbbbbbbbbbbb")))
    apply_one(
        channel,
        upserted(TemplateInfo("RLTbbbbbbbbbbbbbbbbb", is_own=True, created_by="did:e:us")),
    )
    template = RelationshipTemplate.objects.get()
    assert (template.is_own, template.created_by) == (True, "did:e:us")
