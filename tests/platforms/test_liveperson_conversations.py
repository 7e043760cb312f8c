"""LivePerson conversation snapshots end to end: status and stage, dialogs, participants.

A ``cqm.ExConversationChangeNotification`` carries a conversation's complete state; a
POST_SURVEY dialog has an id of its own, and messages that name only that dialog join the
conversation the snapshot lists it in, whichever arrives first.
"""

from __future__ import annotations

from typing import Any

import pytest

from inbox.models import (
    Conversation,
    ConversationAlias,
    InboundEvent,
    Message,
    Participant,
)
from inbox.services import typing_in
from tests.factories import ChannelFactory
from tests.platforms.test_liveperson import (
    AGENT,
    CONSUMER,
    CONV,
    PLATFORM,
    at,
    first_change,
    message_id,
    notification,
    now_ms,
)

pytestmark = pytest.mark.django_db

SURVEY = "5a2f9c6e-d813-4b07-a4e1-08c7b3d6f952"  # the POST_SURVEY dialog of cqm_post_survey
BOT = "c41e8d27-0f6b-5a93-b2d8-7e15a9c4f306"  # the survey bot (CONTROLLER)
MANAGER = "8e0d4b16-2c7a-5f39-9b64-d1a3e7c05f28"


@pytest.fixture
def channel():
    return ChannelFactory(platform=PLATFORM)


def conversation_state() -> tuple[Any, ...]:
    conversation = Conversation.objects.get()
    people = {p.address: (p.role, p.is_present, p.left_at) for p in conversation.participants.all()}
    return (conversation.status, conversation.status_at, conversation.state_at, people)


def roles(conversation: Conversation) -> dict[str, str]:
    return dict(conversation.participants.values_list("address", "role"))


# --- snapshots --------------------------------------------------------------------------------


def test_created_conversation_is_open_with_its_skill_dialog_and_consumer(deliver):
    deliver("cqm_created")

    conversation = Conversation.objects.get()
    assert (conversation.external_id, conversation.kind, conversation.status) == (
        CONV,
        "direct",
        "open",
    )
    assert conversation.state_at == at("09:14:05.210")
    assert conversation.status_at == at("09:14:05.210")
    assert conversation.platform_state == {
        "stage": "OPEN",
        "state": "OPEN",
        "skillId": "1294035712",
        "brandId": "73820514",
        "startTs": 1773306845210,
        "ttr": {"ttrType": "NORMAL", "value": 600},
        "effectiveTTR": 1773307445210,
        "dialogs": [
            {
                "dialogId": CONV,
                "dialogType": "MAIN",
                "state": "OPEN",
                "creationTs": 1773306845210,
                "metaDataLastUpdateTs": 1773306845210,
                "participants": [{"id": CONSUMER, "role": "CONSUMER", "state": "ACTIVE"}],
            }
        ],
    }
    participant = conversation.participants.get()
    assert (participant.address, participant.role, participant.is_present) == (
        CONSUMER,
        "CONSUMER",
        True,
    )
    assert (conversation.last_message, conversation.last_position) == (None, 0)
    assert not ConversationAlias.objects.exists()  # the MAIN dialog's id is the conversation's
    event = InboundEvent.objects.get()
    assert (event.event_name, event.dedup_key, event.state) == (
        "cqm.ExConversationChangeNotification",
        f"cqm:{CONV}:UPSERT:1773306845210",
        "processed",
    )
    assert event.payload == first_change("cqm_created")


def test_skill_transfer_then_agent_joining_update_state_and_participants(deliver):
    deliver("cqm_created", "cqm_skill_transfer")
    conversation = Conversation.objects.get()
    assert conversation.platform_state["skillId"] == "1294035788"
    assert conversation.platform_state["effectiveTTR"] == 1773307490663
    assert conversation.state_at == at("09:14:50.663")
    assert list(conversation.participants.values_list("address", flat=True)) == [CONSUMER]

    deliver("cqm_agent_joined")
    conversation.refresh_from_db()
    assert conversation.status == "open"
    assert conversation.state_at == at("09:15:31.402")
    assert conversation.platform_state["skillId"] == "1294035788"
    people = {p.address: (p.role, p.is_present) for p in conversation.participants.all()}
    assert people == {CONSUMER: ("CONSUMER", True), AGENT: ("ASSIGNED_AGENT", True)}
    assert [d["participants"] for d in conversation.platform_state["dialogs"]] == [
        [
            {"id": CONSUMER, "role": "CONSUMER", "state": "ACTIVE"},
            {"id": AGENT, "role": "ASSIGNED_AGENT", "state": "ACTIVE"},
        ]
    ]


def test_agent_leaving_the_snapshot_is_marked_absent(deliver):
    # The skill transfer snapshot (09:14:50) is older than the join (09:15:31); replayed as
    # if newer it must drop the agent, so move it after the join.
    change = first_change("cqm_skill_transfer")
    change["result"]["conversationDetails"]["metaDataLastUpdateTs"] = 1773306999000
    deliver("cqm_agent_joined", notification("cqm_skill_transfer", change))

    agent = Participant.objects.get(address=AGENT)
    assert (agent.is_present, agent.presence_at) == (False, at("09:16:39"))
    assert Participant.objects.get(address=CONSUMER).is_present is True


def test_conversation_closed_by_the_consumer_is_closed(deliver):
    deliver("cqm_created", "cqm_agent_joined", "cqm_closed_by_consumer")

    conversation = Conversation.objects.get()
    assert conversation.status == "closed"
    assert conversation.status_at == at("09:24:18.936")
    assert conversation.state_at == at("09:24:18.936")
    state = conversation.platform_state
    assert (state["state"], state["stage"], state["closeReason"]) == ("CLOSE", "CLOSE", "CONSUMER")
    assert state["endTs"] == 1773307458936
    assert state["effectiveTTR"] == -1
    (dialog,) = state["dialogs"]
    assert (dialog["state"], dialog["closedBy"], dialog["endTs"]) == (
        "CLOSE",
        "CONSUMER",
        1773307458936,
    )
    people = {p.address: (p.role, p.is_present) for p in conversation.participants.all()}
    assert people == {CONSUMER: ("CONSUMER", True), AGENT: ("ASSIGNED_AGENT", True)}


def test_older_snapshot_after_the_close_is_not_applied(deliver):
    deliver("cqm_closed_by_consumer")
    closed = conversation_state()
    closed_state = Conversation.objects.get().platform_state

    deliver("cqm_agent_joined", "cqm_skill_transfer", "cqm_created")

    assert conversation_state() == closed
    conversation = Conversation.objects.get()
    assert conversation.status == "closed"
    assert conversation.platform_state == closed_state
    assert conversation.platform_state["stage"] == "CLOSE"
    assert Participant.objects.get(address=AGENT).is_present is True  # "created" lacks the agent
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}


def test_snapshots_in_any_order_converge_to_the_newest(deliver):
    names = ["cqm_created", "cqm_skill_transfer", "cqm_agent_joined", "cqm_closed_by_consumer"]
    forward = ChannelFactory(platform=PLATFORM)
    backward = ChannelFactory(platform=PLATFORM)

    deliver(*names, to=forward)
    deliver(*reversed(names), to=backward)

    states = [
        Conversation.objects.values("status", "status_at", "state_at", "platform_state").get(
            channel=ch
        )
        for ch in (forward, backward)
    ]
    assert states[0] == states[1]
    assert states[0]["status"] == "closed"


def test_messages_and_snapshots_meet_in_one_conversation(deliver):
    deliver("content_text_from_consumer", "cqm_agent_joined", "content_text_from_agent")

    conversation = Conversation.objects.get()
    assert list(conversation.messages.values_list("external_id", "position")) == [
        (message_id(0), 1),
        (message_id(4), 2),
    ]
    assert conversation.platform_state["stage"] == "OPEN"
    assert roles(conversation) == {CONSUMER: "CONSUMER", AGENT: "ASSIGNED_AGENT"}


def test_deleted_conversation_is_deleted_and_stays_deleted(deliver):
    deliver("cqm_closed_by_consumer", "cqm_deleted")

    conversation = Conversation.objects.get()
    assert conversation.status == "deleted"
    assert conversation.status_at == at("09:24:19.001", day=13)
    assert conversation.state_at == at("09:24:19.001", day=13)
    assert conversation.platform_state["closeReason"] == "CONSUMER"

    deliver("cqm_agent_joined")  # an older snapshot arriving late
    conversation.refresh_from_db()
    assert conversation.status == "deleted"
    assert conversation.platform_state["stage"] == "CLOSE"


def test_delete_without_details_deletes_a_known_conversation(deliver):
    deliver("cqm_closed_by_consumer")
    deliver(notification("cqm_deleted", {"type": "DELETE", "result": {"convId": CONV}}))

    assert InboundEvent.objects.filter(state="processed").count() == 2
    conversation = Conversation.objects.get()
    assert conversation.status == "deleted"
    assert conversation.platform_state["closeReason"] == "CONSUMER"  # nothing else changed


def test_unknown_conversation_change_type_is_ignored(deliver):
    change = first_change("cqm_created")
    change["type"] = "ARCHIVE"
    deliver(notification("cqm_created", change))

    assert InboundEvent.objects.get().state == "ignored"
    assert not Conversation.objects.exists()


# --- status follows the conversation's stage, not its MAIN dialog -----------------------------


def test_main_dialog_closed_while_a_survey_is_open_leaves_the_conversation_open(deliver):
    deliver("cqm_agent_joined", "cqm_post_survey")

    conversation = Conversation.objects.get()
    state = conversation.platform_state
    assert (state["state"], state["stage"], state["closeReason"]) == ("CLOSE", "OPEN", "AGENT")
    assert conversation.status == "open"
    assert conversation.status_at == at("09:25:02.120")
    assert [(d["dialogId"], d["dialogType"], d["state"]) for d in state["dialogs"]] == [
        (CONV, "MAIN", "CLOSE"),
        (SURVEY, "POST_SURVEY", "OPEN"),
    ]


def test_survey_messages_land_in_the_open_conversation(deliver):
    deliver("content_text_from_consumer", "content_text_from_agent", "cqm_post_survey")

    deliver("content_post_survey_question", "content_post_survey_answer")

    conversation = Conversation.objects.get()
    assert (conversation.external_id, conversation.status) == (CONV, "open")
    survey = list(
        conversation.messages.filter(external_id__startswith=SURVEY).values_list(
            "external_id", "direction", "text", "position", "sender__address"
        )
    )
    assert survey == [
        (message_id(0, SURVEY), "in", "Wie zufrieden waren Sie mit unserer Hilfe?", 3, BOT),
        (message_id(2, SURVEY), "out", "Sehr zufrieden, danke!", 4, CONSUMER),
    ]
    assert (conversation.last_message.external_id, conversation.last_position) == (
        message_id(2, SURVEY),
        4,
    )


def test_survey_closing_at_last_closes_the_conversation(deliver):
    closing = first_change("cqm_post_survey")
    details = closing["result"]["conversationDetails"]
    details["stage"] = "CLOSE"
    details["dialogs"][1].update(state="CLOSE", endTs=1773307530001, closedBy="CONSUMER")
    details["metaDataLastUpdateTs"] = 1773307530001

    deliver("cqm_post_survey", notification("cqm_post_survey", closing))

    conversation = Conversation.objects.get()
    assert conversation.status == "closed"
    assert conversation.status_at == at("09:25:30.001")
    deliver("cqm_post_survey")  # the older snapshot, redelivered
    conversation.refresh_from_db()
    assert conversation.status == "closed"


# --- messages that name only their dialog -----------------------------------------------------


def test_survey_message_after_the_snapshot_joins_the_snapshot_conversation(deliver):
    deliver("cqm_post_survey", "content_post_survey_question")

    message = Message.objects.select_related("conversation", "sender").get()
    assert message.external_id == message_id(0, SURVEY)
    assert message.conversation.external_id == CONV
    assert (message.position, message.conversation.last_position) == (1, 1)
    assert (message.direction, message.sender.address, message.sender.role) == (
        "in",
        BOT,
        "CONTROLLER",
    )
    assert message.sender.conversation == message.conversation
    assert list(Conversation.objects.values_list("external_id", flat=True)) == [CONV]
    alias = ConversationAlias.objects.get()
    assert (alias.external_id, alias.conversation) == (SURVEY, message.conversation)


def test_survey_message_before_the_snapshot_waits_under_its_dialog(deliver):
    deliver("content_text_from_consumer", "content_post_survey_question")

    waiting = Message.objects.select_related("conversation").get(external_id=message_id(0, SURVEY))
    assert waiting.conversation.external_id == SURVEY
    assert waiting.position == 1
    assert set(Conversation.objects.values_list("external_id", flat=True)) == {CONV, SURVEY}


def test_survey_message_moves_into_the_conversation_when_the_snapshot_names_its_dialog(deliver):
    deliver("content_text_from_consumer", "content_text_from_agent", "content_post_survey_question")
    provisional = Conversation.objects.get(external_id=SURVEY)

    deliver("cqm_post_survey")

    conversation = Conversation.objects.get()  # the provisional one is gone
    assert conversation.external_id == CONV
    assert not Conversation.objects.filter(pk=provisional.pk).exists()
    assert not Participant.objects.filter(conversation_id=provisional.pk).exists()
    moved = Message.objects.select_related("sender").get(external_id=message_id(0, SURVEY))
    assert moved.conversation == conversation
    # Its position continues the conversation's numbering (after the two messages before).
    assert list(conversation.messages.order_by("position").values_list("position", flat=True)) == [
        1,
        2,
        3,
    ]
    assert (moved.position, conversation.last_position) == (3, 3)
    # Its sender is the real conversation's participant, with the snapshot's role.
    assert moved.sender.conversation == conversation
    assert (moved.sender.address, moved.sender.role) == (BOT, "CONTROLLER")
    assert roles(conversation) == {
        CONSUMER: "CONSUMER",
        AGENT: "ASSIGNED_AGENT",
        BOT: "CONTROLLER",
    }
    assert ConversationAlias.objects.get(external_id=SURVEY).conversation == conversation
    assert conversation.status == "open"

    # What comes later under the dialog goes straight into the conversation, numbered on.
    deliver("content_post_survey_answer")
    answer = Message.objects.get(external_id=message_id(2, SURVEY))
    assert (answer.conversation, answer.position) == (conversation, 4)
    assert not Conversation.objects.filter(external_id=SURVEY).exists()


def test_waiting_consumer_answer_moves_to_the_consumer_of_the_conversation(deliver):
    deliver(
        "content_text_from_consumer",
        "content_post_survey_question",
        "content_post_survey_answer",
    )
    assert Participant.objects.filter(address=CONSUMER).count() == 2  # one per conversation

    deliver("cqm_post_survey")

    conversation = Conversation.objects.get()
    consumer = conversation.participants.get(address=CONSUMER)
    assert Participant.objects.filter(address=CONSUMER).get() == consumer
    rows = conversation.messages.order_by("position").values_list(
        "external_id", "position", "sender"
    )
    assert list(rows) == [
        (message_id(0), 1, consumer.pk),
        (message_id(0, SURVEY), 2, conversation.participants.get(address=BOT).pk),
        (message_id(2, SURVEY), 3, consumer.pk),
    ]
    assert conversation.last_position == 3


def test_consumer_typing_in_the_survey_dialog_shows_in_the_conversation(deliver):
    deliver("content_text_from_consumer", "cqm_post_survey")
    typing = first_change("chat_state_pause")
    del typing["conversationId"]
    typing.update(dialogId=SURVEY, serverTimestamp=now_ms())
    typing["event"]["chatState"] = "COMPOSING"

    deliver(notification("chat_state_pause", typing))

    assert typing_in(conversation=Conversation.objects.get()) == [CONSUMER]


def test_moved_survey_message_becomes_the_conversations_last_message(deliver):
    deliver("content_text_from_consumer", "content_text_from_agent", "content_post_survey_question")

    deliver("cqm_post_survey")

    conversation = Conversation.objects.get()
    moved = Message.objects.get(external_id=message_id(0, SURVEY))
    assert conversation.last_message == moved  # sent 09:25:03, after the agent's 09:16:02
    assert conversation.last_activity_at == at("09:25:03.271")


def test_redelivered_survey_message_after_the_move_stays_put(deliver):
    deliver("content_post_survey_question", "cqm_post_survey")
    deliver(
        notification("content_post_survey_question", first_change("content_post_survey_question"))
    )

    message = Message.objects.get()
    assert (message.conversation.external_id, message.position) == (CONV, 1)
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize(
    "order",
    [
        ("cqm_post_survey", "content_post_survey_question", "accept_status_read_post_survey"),
        ("content_post_survey_question", "accept_status_read_post_survey", "cqm_post_survey"),
        ("accept_status_read_post_survey", "content_post_survey_question", "cqm_post_survey"),
        ("content_post_survey_question", "cqm_post_survey", "accept_status_read_post_survey"),
    ],
    ids=[
        "snapshot-message-receipt",
        "message-receipt-snapshot",
        "receipt-first",
        "moved-then-read",
    ],
)
def test_receipt_for_a_survey_message_applies_in_any_order(order, deliver):
    for name in order:
        deliver(name)

    message = Message.objects.select_related("conversation").get()
    assert message.external_id == message_id(0, SURVEY)
    assert message.conversation.external_id == CONV
    assert message.status == "read"
    recipient = message.recipients.get()
    assert (recipient.address, recipient.status) == (CONSUMER, "read")
    assert recipient.read_at == at("09:25:04.010")
    assert list(message.status_events.values_list("step", "participant")) == [
        ("sent", ""),
        ("read", CONSUMER),
    ]
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}


# --- participants -----------------------------------------------------------------------------


@pytest.mark.parametrize("listing", ["as sent", "reversed"])
def test_id_listed_as_assigned_agent_and_reader_is_the_assigned_agent(listing, deliver):
    change = first_change("cqm_post_survey")
    if listing == "reversed":
        details = change["result"]["conversationDetails"]
        details["participants"].reverse()  # READER now comes before ASSIGNED_AGENT

    deliver(notification("cqm_post_survey", change))

    conversation = Conversation.objects.get()
    assert roles(conversation) == {
        CONSUMER: "CONSUMER",
        AGENT: "ASSIGNED_AGENT",
        BOT: "CONTROLLER",
    }
    assert conversation.participants.filter(address=AGENT).count() == 1


def test_role_map_participants_are_accepted(deliver):
    deliver("cqm_participants_role_map")

    conversation = Conversation.objects.get()
    assert conversation.status == "open"
    assert conversation.state_at == at("09:16:27.245")
    # Listed under several roles, each id takes its strongest one.
    assert roles(conversation) == {
        CONSUMER: "CONSUMER",
        AGENT: "ASSIGNED_AGENT",
        MANAGER: "MANAGER",
    }
    assert all(p.is_present for p in conversation.participants.all())
    (dialog,) = conversation.platform_state["dialogs"]
    assert dialog["participants"] == [
        {"id": CONSUMER, "role": "CONSUMER"},
        {"id": AGENT, "role": "ASSIGNED_AGENT"},
    ]


def test_role_map_snapshot_updates_roles_learned_from_messages(deliver):
    reader = first_change("content_text_from_agent")
    reader["originatorMetadata"]["role"] = "READER"

    deliver(notification("content_text_from_agent", reader), "cqm_participants_role_map")

    conversation = Conversation.objects.get()
    assert roles(conversation)[AGENT] == "ASSIGNED_AGENT"  # the snapshot's word wins
    assert Message.objects.get().sender.role == "ASSIGNED_AGENT"
