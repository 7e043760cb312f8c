"""Comapi end to end: signed socket frames and webhook envelopes -> stored requests and events ->
conversations, participants, typing and profiles. (Messages and receipts:
``test_comapi_messages.py``.)

Socket frames normally reach the inbox through the websocket listener; here they are posted to the
webhook like envelopes, which the connector accepts in both shapes, so one path covers both.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
import time_machine

from inbox.models import (
    Conversation,
    InboundEvent,
    InboundRequest,
    Message,
    MessageStatusEvent,
    Participant,
)
from inbox.services import typing_in
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes, fixture_json
from tests.platforms.security import WebhookSecurityTests

pytestmark = pytest.mark.django_db

AGENT = "desk.agent.07"
COLLEAGUE = "desk.agent.11"
CUSTOMER = "lukas.mueller"
SETTINGS = {"profile_id": AGENT}
CONVERSATION = "f0a8c3d1-2e7b-4c95-9a14-6b3e8d2f7c50"
OTHER_CONVERSATION = "7c2e9f40-b6d1-4a85-93e7-0d5a8c1f6b29"
ROLES = {
    "owner": {"canSend": True, "canAddParticipants": True, "canRemoveParticipants": True},
    "participant": {"canSend": True, "canAddParticipants": False, "canRemoveParticipants": False},
}


# A snapshot's participant list is applied without regard to when each participant last
# changed, and a join or role change without regard to the newest snapshot, so the participants
# depend on the order events arrive in.
def at(moment: str) -> datetime:
    """A 2026 instant written as ``MM-DDTHH:MM:SS.fff`` (UTC)."""
    return datetime.fromisoformat(f"2026-{moment}+00:00").astimezone(UTC)


class TestComapiWebhookSecurity(WebhookSecurityTests):
    platform = "comapi"
    sample = "webhook_conversationMessage.sent_outbound"
    non_ascii_sample = "webhook_conversationMessage.sent"
    settings = SETTINGS

    def signed(self, body: bytes, secret: str) -> dict[str, str]:
        # Comapi's scheme: the lowercase hex HMAC-SHA1 of the raw body, keyed with the secret.
        digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()
        return {"X-Comapi-Signature": digest}


@pytest.fixture
def channel():
    return ChannelFactory(platform="comapi", settings=dict(SETTINGS))


@pytest.fixture
def other_channel():
    return ChannelFactory(platform="comapi", settings=dict(SETTINGS))


def no_rows_but_events() -> bool:
    return not (
        Conversation.objects.exists()
        or Participant.objects.exists()
        or Message.objects.exists()
        or MessageStatusEvent.objects.exists()
    )


def members() -> dict[str, tuple[str, bool]]:
    """Every participant of the one conversation: address -> (role, present)."""
    return {p.address: (p.role, p.is_present) for p in Participant.objects.all()}


def present_members() -> dict[str, str]:
    return {p.address: p.role for p in Participant.objects.filter(is_present=True)}


# --- what is stored ----------------------------------------------------------------------------


def test_a_webhook_is_kept_whole_and_its_event_holds_the_frame_as_sent(channel, post_webhook):
    raw = fixture_bytes("comapi", "ws_conversation.update")
    response = post_webhook(channel, raw)

    assert (response.status_code, response.json()["events"]) == (202, 1)
    request = InboundRequest.objects.get()
    assert (request.channel, request.source, request.item_count, request.error) == (
        channel,
        "webhook",
        1,
        "",
    )
    assert bytes(request.body) == raw
    assert request.headers == {"Content-Type": "application/json"}  # never the signature
    event = InboundEvent.objects.get()
    assert event.request == request
    assert (event.event_name, event.dedup_key, event.state) == (
        "conversation.update",
        "0b5e2c7a-91f4-4d38-a6b1-3f8e7d2c9a04",  # the platform's eventId
        "pending",
    )
    assert event.payload == fixture_json("comapi", "ws_conversation.update")
    assert event.envelope == {}
    assert not Conversation.objects.exists()  # nothing is applied before a worker runs


# --- conversations -----------------------------------------------------------------------------


def test_conversation_update_sets_title_and_platform_state(deliver):
    counts = deliver("ws_conversation.update")

    assert counts["processed"] == 1
    conversation = Conversation.objects.get()
    assert conversation.external_id == CONVERSATION
    assert conversation.kind == "direct"
    assert conversation.title == "Returns: Lukas Müller"
    assert conversation.status == "open"
    assert conversation.platform_state == {
        "description": "Wrong size delivered - order 88314",
        "isPublic": False,
        "roles": ROLES,
    }
    assert conversation.state_at == at("03-09T10:12:41.306")
    assert conversation.status_at is None
    assert conversation.last_message is None
    assert not conversation.participants.exists()  # this update lists no participants
    assert InboundEvent.objects.get().state == "processed"


def test_conversation_create_webhook_sets_title_and_platform_state(deliver):
    deliver("webhook_conversation.create")

    conversation = Conversation.objects.get()
    assert conversation.external_id == CONVERSATION
    assert conversation.title == "Returns: Lukas Müller"
    assert conversation.platform_state == {
        "description": "Wrong size delivered - order 88314",
        "isPublic": False,
        "roles": ROLES,
    }
    assert conversation.state_at == at("03-09T10:02:17.480")
    assert conversation.status == "open"
    assert InboundEvent.objects.get().state == "processed"


def test_older_conversation_snapshots_do_not_overwrite_a_newer_one(deliver):
    deliver(
        "ws_conversation.update_renamed", "ws_conversation.update", "webhook_conversation.create"
    )

    conversation = Conversation.objects.get()
    assert conversation.title == "Exchange agreed: Lukas Müller"
    assert conversation.platform_state["description"] == "Swap size M for L in the Köln store"
    assert conversation.state_at == at("03-09T11:30:12.774")
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}


def test_conversation_snapshots_in_order_end_in_the_same_state(deliver):
    deliver(
        "webhook_conversation.create", "ws_conversation.update", "ws_conversation.update_renamed"
    )

    conversation = Conversation.objects.get()
    assert conversation.title == "Exchange agreed: Lukas Müller"
    assert conversation.platform_state["description"] == "Swap size M for L in the Köln store"
    assert conversation.state_at == at("03-09T11:30:12.774")


def test_delete_marks_the_conversation_deleted_at_the_platform_date(deliver):
    deliver("ws_conversation.delete")

    conversation = Conversation.objects.get()
    assert conversation.external_id == CONVERSATION
    assert conversation.status == "deleted"
    assert conversation.status_at == at("03-12T16:45:02.118")  # payload.date, not publishedOn
    assert (conversation.title, conversation.state_at) == ("", None)


def test_undelete_reopens_a_deleted_conversation(deliver):
    deliver("ws_conversation.delete", "ws_conversation.undelete")

    conversation = Conversation.objects.get()
    assert conversation.status == "open"
    assert conversation.status_at == at("03-12T17:03:55.870")


def test_older_delete_arriving_after_a_newer_undelete_does_not_delete(deliver):
    deliver("ws_conversation.undelete", "ws_conversation.delete")

    conversation = Conversation.objects.get()
    assert conversation.status == "open"
    assert conversation.status_at == at("03-12T17:03:55.870")
    assert list(InboundEvent.objects.values_list("state", flat=True)) == ["processed"] * 2


def test_status_and_title_are_guarded_by_their_own_times(deliver):
    # The delete (12 March) is newer than the update (9 March), yet the title still applies.
    deliver("ws_conversation.delete", "ws_conversation.update")

    conversation = Conversation.objects.get()
    assert conversation.status == "deleted"
    assert conversation.status_at == at("03-12T16:45:02.118")
    assert conversation.title == "Returns: Lukas Müller"
    assert conversation.state_at == at("03-09T10:12:41.306")


# --- participants: joins and leaves ------------------------------------------------------------


def test_participant_added_joins_the_conversation(deliver):
    deliver("ws_conversation.participantAdded")

    participant = Participant.objects.select_related("conversation").get()
    assert participant.conversation.external_id == CONVERSATION
    assert (participant.address, participant.role, participant.name) == (AGENT, "owner", "")
    assert participant.is_present is True
    assert participant.joined_at == at("03-09T10:02:17.554")
    assert participant.left_at is None
    assert participant.presence_at == at("03-09T10:02:17.554")


def test_participant_removed_leaves_the_conversation(deliver):
    deliver("ws_conversation.participantAdded_customer", "ws_conversation.participantRemoved")

    participant = Participant.objects.get(address=CUSTOMER)
    assert participant.role == "participant"
    assert participant.is_present is False
    assert participant.joined_at == at("03-09T10:02:17.603")
    assert participant.left_at == at("03-12T16:40:29.017")
    assert participant.presence_at == at("03-12T16:40:29.017")


def test_webhook_participant_added_joins_the_conversation_named_by_its_payload_id(deliver):
    # A webhook envelope has no top-level conversationId: payload.id names the conversation.
    deliver("webhook_conversation.participantAdded")

    participant = Participant.objects.select_related("conversation").get()
    assert participant.conversation == Conversation.objects.get(external_id=CONVERSATION)
    assert (participant.address, participant.role) == (CUSTOMER, "participant")
    assert participant.is_present is True
    assert participant.joined_at == at("03-09T10:02:17.611")  # the envelope's timestamp
    assert participant.left_at is None


def test_webhook_participant_removed_leaves_the_conversation_named_by_its_payload_id(deliver):
    deliver("webhook_conversation.participantAdded", "webhook_conversation.participantRemoved")

    participant = Participant.objects.select_related("conversation").get()
    assert participant.conversation == Conversation.objects.get(external_id=CONVERSATION)
    assert (participant.address, participant.role) == (CUSTOMER, "participant")
    assert participant.is_present is False
    assert participant.joined_at == at("03-09T10:02:17.611")
    assert participant.left_at == at("03-12T16:40:29.088")
    assert list(InboundEvent.objects.values_list("state", flat=True)) == ["processed"] * 2


def test_older_add_arriving_after_a_newer_remove_is_ignored(deliver):
    deliver("ws_conversation.participantRemoved", "ws_conversation.participantAdded_customer")

    participant = Participant.objects.get(address=CUSTOMER)
    assert participant.is_present is False
    assert participant.left_at == at("03-12T16:40:29.017")
    assert participant.presence_at == at("03-12T16:40:29.017")
    assert list(InboundEvent.objects.values_list("state", flat=True)) == ["processed"] * 2


def test_join_and_leave_times_do_not_depend_on_arrival_order(deliver, channel, other_channel):
    added, removed = (
        "ws_conversation.participantAdded_customer",
        "ws_conversation.participantRemoved",
    )
    deliver(added, removed, to=channel)
    deliver(removed, added, to=other_channel)

    def seen(on):
        row = Participant.objects.get(conversation__channel=on, address=CUSTOMER)
        return (row.is_present, row.joined_at, row.left_at, row.role)

    assert seen(channel) == (
        False,
        at("03-09T10:02:17.603"),
        at("03-12T16:40:29.017"),
        "participant",
    )
    assert seen(other_channel) == seen(channel)


# --- participants: the complete lists of conversation snapshots --------------------------------


def test_conversation_create_stores_every_listed_participant_with_its_role(deliver):
    deliver("webhook_conversation.create")

    assert members() == {AGENT: ("owner", True), CUSTOMER: ("participant", True)}
    assert Participant.objects.get(address=CUSTOMER).conversation.external_id == CONVERSATION


def test_newer_update_replaces_the_participants_and_their_roles(deliver):
    deliver("webhook_conversation.create", "webhook_conversation.update")

    # The update lists the agent (now a participant) and a colleague (the owner), not Lukas.
    assert members() == {
        AGENT: ("participant", True),
        CUSTOMER: ("participant", False),
        COLLEAGUE: ("owner", True),
    }
    lukas = Participant.objects.get(address=CUSTOMER)
    # Absent since the update's list; he never left explicitly, so no leave time is known.
    assert (lukas.presence_at, lukas.left_at) == (at("03-10T08:15:26.930"), None)
    conversation = Conversation.objects.get()
    assert conversation.title == "Escalated: Lukas Müller"
    assert conversation.state_at == at("03-10T08:15:26.930")


def test_older_create_arriving_after_the_update_changes_no_participant(deliver):
    deliver("webhook_conversation.update", "webhook_conversation.create")

    assert present_members() == {AGENT: "participant", COLLEAGUE: "owner"}
    assert Conversation.objects.get().title == "Escalated: Lukas Müller"
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}


def update_of_13_march(*, listing_lukas: bool) -> dict:
    """A conversation.update newer than every fixture, listing Lukas again or not."""
    update = fixture_json("comapi", "webhook_conversation.update")
    update["eventId"] = "9e39b576-6969-49eb-b93d-2b82f2ba9843"
    update["timestamp"] = "2026-03-13T09:04:51.377Z"
    if listing_lukas:
        update["payload"]["participants"].append({"profileId": CUSTOMER, "role": "participant"})
    return update


def test_newer_snapshot_listing_someone_who_left_brings_them_back(
    deliver, channel, post_webhook, process
):
    deliver("webhook_conversation.participantAdded", "webhook_conversation.participantRemoved")
    assert post_webhook(channel, update_of_13_march(listing_lukas=True)).status_code == 202
    process()

    assert present_members() == {
        AGENT: "participant",
        COLLEAGUE: "owner",
        CUSTOMER: "participant",
    }
    lukas = Participant.objects.get(address=CUSTOMER)
    assert lukas.presence_at == at("03-13T09:04:51.377")
    assert lukas.left_at == at("03-12T16:40:29.088")  # when he last left, kept as history


def test_snapshot_leaving_out_someone_who_left_earlier_keeps_their_leave_time(
    deliver, channel, post_webhook, process
):
    deliver("webhook_conversation.participantAdded", "webhook_conversation.participantRemoved")
    assert post_webhook(channel, update_of_13_march(listing_lukas=False)).status_code == 202
    process()

    lukas = Participant.objects.get(address=CUSTOMER)
    assert (lukas.is_present, lukas.left_at) == (False, at("03-12T16:40:29.088"))


def lukas_in_both_orders(deliver, channel, other_channel, first: str, second: str):
    """Deliver two events in order to one channel and the other way round to another; how Lukas
    ends up on each: (role, present, left_at)."""
    deliver(first, second, to=channel)
    deliver(second, first, to=other_channel)

    def seen(on):
        row = Participant.objects.filter(conversation__channel=on, address=CUSTOMER).first()
        return None if row is None else (row.role, row.is_present, row.left_at)

    return seen(channel), seen(other_channel)


def test_older_snapshot_arriving_late_does_not_bring_back_someone_who_left(
    deliver, channel, other_channel
):
    # Created on 9 March with Lukas; he left on 12 March. Delivered in order, and create last.
    in_order, late_create = lukas_in_both_orders(
        deliver,
        channel,
        other_channel,
        "webhook_conversation.create",
        "ws_conversation.participantRemoved",
    )

    assert in_order == ("participant", False, at("03-12T16:40:29.017"))
    assert late_create == in_order


def test_join_arriving_after_a_newer_snapshot_that_leaves_them_out_does_not_make_them_present(
    deliver, channel, other_channel
):
    # Lukas joined on 9 March; the 10 March snapshot no longer lists him.
    in_order, late_join = lukas_in_both_orders(
        deliver,
        channel,
        other_channel,
        "webhook_conversation.participantAdded",
        "webhook_conversation.update",
    )

    assert in_order == ("participant", False, None)  # absent by the list, no leave time
    assert late_join == in_order


def test_older_snapshot_arriving_late_does_not_undo_a_newer_role_change(
    deliver, channel, other_channel
):
    # The 10:02 create lists Lukas as a participant; at 10:25 he is made owner.
    in_order, late_create = lukas_in_both_orders(
        deliver,
        channel,
        other_channel,
        "webhook_conversation.create",
        "ws_conversation.participantUpdated",
    )

    assert in_order == ("owner", True, None)
    assert late_create == in_order


# --- participants: role changes ----------------------------------------------------------------


def test_participant_updated_changes_the_role(deliver):
    deliver("ws_conversation.participantAdded_customer", "ws_conversation.participantUpdated")

    participant = Participant.objects.get(address=CUSTOMER)
    assert (participant.role, participant.is_present) == ("owner", True)
    assert participant.joined_at == at("03-09T10:02:17.603")  # a role change is not a join
    assert participant.role_at == at("03-09T10:25:03.318")
    assert list(InboundEvent.objects.values_list("state", flat=True)) == ["processed"] * 2


def test_a_later_role_change_wins(deliver):
    deliver("ws_conversation.participantUpdated", "ws_conversation.participantUpdated_demoted")

    assert Participant.objects.get(address=CUSTOMER).role == "participant"


def test_an_older_role_change_arriving_late_does_not_undo_a_newer_one(deliver):
    deliver("ws_conversation.participantUpdated_demoted", "ws_conversation.participantUpdated")

    participant = Participant.objects.get(address=CUSTOMER)
    assert participant.role == "participant"
    assert participant.role_at == at("03-09T11:47:19.540")
    assert list(InboundEvent.objects.values_list("state", flat=True)) == ["processed"] * 2


def test_role_and_presence_do_not_depend_on_arrival_order(deliver, channel, other_channel):
    added, promoted, removed = (
        "ws_conversation.participantAdded_customer",
        "ws_conversation.participantUpdated",  # 9 March, owner
        "ws_conversation.participantRemoved",  # 12 March
    )
    deliver(added, promoted, removed, to=channel)
    deliver(added, removed, promoted, to=other_channel)

    def seen(on):
        row = Participant.objects.get(conversation__channel=on, address=CUSTOMER)
        return (row.role, row.is_present, row.left_at)

    assert seen(channel) == ("owner", False, at("03-12T16:40:29.017"))
    assert seen(other_channel) == seen(channel)


def test_role_change_without_a_role_is_ignored(channel, post_webhook, process):
    frame = fixture_json("comapi", "ws_conversation.participantUpdated")
    del frame["payload"]["role"]
    assert post_webhook(channel, frame).status_code == 202

    assert process()["ignored"] == 1
    assert InboundEvent.objects.get().error == ""
    assert no_rows_but_events()


# --- typing ------------------------------------------------------------------------------------


# Typing is shown for a few seconds after it happened; the tests live at the fixtures' time.
TYPING_TIME = "2026-03-09T10:14:10Z"


@time_machine.travel(TYPING_TIME, tick=False)
def test_typing_in_a_conversation_not_known_yet_stores_no_rows(deliver):
    assert deliver("ws_conversation.participantTyping")["processed"] == 1
    assert deliver("ws_conversation.participantTypingOff")["processed"] == 1

    assert no_rows_but_events()
    assert InboundEvent.objects.count() == 2


@time_machine.travel(TYPING_TIME, tick=False)
def test_typing_shows_the_typist_until_typing_off_and_changes_no_rows(deliver):
    deliver("ws_conversationMessage.sent")
    conversation = Conversation.objects.get()

    assert deliver("ws_conversation.participantTyping")["processed"] == 1
    assert typing_in(conversation=conversation) == [CUSTOMER]
    assert deliver("ws_conversation.participantTypingOff")["processed"] == 1
    assert typing_in(conversation=conversation) == []

    assert (Conversation.objects.count(), Participant.objects.count()) == (1, 1)
    assert (Message.objects.count(), MessageStatusEvent.objects.count()) == (1, 1)


@time_machine.travel(TYPING_TIME, tick=False)
def test_typing_before_the_conversation_is_known_shows_once_it_is(deliver):
    deliver("ws_conversation.participantTyping", "ws_conversationMessage.sent")

    assert typing_in(conversation=Conversation.objects.get()) == [CUSTOMER]


def test_typing_from_long_ago_is_not_shown(deliver):
    deliver("ws_conversationMessage.sent")
    deliver("ws_conversation.participantTyping")  # a replayed backlog from March

    assert typing_in(conversation=Conversation.objects.get()) == []


@time_machine.travel(TYPING_TIME, tick=False)
def test_older_typing_arriving_after_typing_off_does_not_show_the_typist(deliver):
    deliver("ws_conversationMessage.sent")
    deliver("ws_conversation.participantTypingOff", "ws_conversation.participantTyping")

    assert typing_in(conversation=Conversation.objects.get()) == []


# --- profiles ----------------------------------------------------------------------------------


def test_profile_update_renames_the_participant_everywhere_on_the_channel(
    deliver, channel, other_channel
):
    deliver("ws_conversationMessage.sent", "ws_conversationMessage.sent_other_conversation")
    deliver("ws_conversationMessage.sent", to=other_channel)

    assert deliver("ws_profile.update")["processed"] == 1

    renamed = Participant.objects.filter(conversation__channel=channel, address=CUSTOMER)
    assert sorted(renamed.values_list("conversation__external_id", "name")) == sorted(
        [
            (CONVERSATION, "Lukas Müller-Brandt"),
            (OTHER_CONVERSATION, "Lukas Müller-Brandt"),
        ]
    )
    elsewhere = Participant.objects.get(conversation__channel=other_channel, address=CUSTOMER)
    assert elsewhere.name == "Lukas Müller"  # another channel's identity is not ours to rename


def test_profile_update_survives_an_older_message_arriving_after_it(deliver):
    deliver("ws_conversationMessage.sent", "ws_profile.update")
    # A message sent on 9 March, before the 10 March rename, is delivered late.
    deliver("ws_conversationMessage.sent_image")

    assert Participant.objects.get(address=CUSTOMER).name == "Lukas Müller-Brandt"


def test_profile_update_before_any_conversation_names_the_participant_when_it_appears(deliver):
    deliver("ws_profile.update", "ws_conversationMessage.sent")

    assert Participant.objects.get(address=CUSTOMER).name == "Lukas Müller-Brandt"


def test_profile_update_without_a_payload_id_renames_the_frames_profile(deliver):
    deliver("ws_conversationMessage.sent")

    assert deliver("ws_profile.update_frame_profile_id")["processed"] == 1
    assert Participant.objects.get(address=CUSTOMER).name == "Lukas Brandt"


def test_profile_update_with_no_name_is_ignored_not_failed(deliver):
    deliver("ws_conversationMessage.sent")

    assert deliver("ws_profile.update_email_only")["ignored"] == 1
    event = InboundEvent.objects.get(event_name="profile.update")
    assert (event.state, event.error, event.next_attempt_at) == ("ignored", "", None)
    assert Participant.objects.get(address=CUSTOMER).name == "Lukas Müller"


def test_profile_update_naming_no_profile_is_ignored_not_failed(channel, post_webhook, process):
    frame = fixture_json("comapi", "ws_profile.update")
    del frame["payload"]["id"]  # and the frame has no profileId either
    assert post_webhook(channel, frame).status_code == 202

    assert process()["ignored"] == 1
    event = InboundEvent.objects.get()
    assert (event.state, event.error, event.next_attempt_at) == ("ignored", "", None)


# --- ignored and malformed ---------------------------------------------------------------------


def test_socket_greeting_is_ignored_and_stored_once(deliver):
    deliver("ws_socket.info", "ws_socket.info")

    event = InboundEvent.objects.get()
    assert (event.event_name, event.state, event.error) == ("socket.info", "ignored", "")
    assert event.dedup_key.startswith("sha256:")  # the greeting has no eventId
    assert InboundRequest.objects.count() == 1  # the same bytes are the same request
    assert no_rows_but_events()


def test_unknown_event_name_is_ignored(channel, post_webhook, process):
    frame = fixture_json("comapi", "ws_conversation.participantUpdated")
    frame["name"] = "conversation.archived"
    assert post_webhook(channel, frame).status_code == 202

    assert process()["ignored"] == 1
    event = InboundEvent.objects.get()
    assert (event.event_name, event.state, event.error) == ("conversation.archived", "ignored", "")
    assert event.next_attempt_at is None
    assert no_rows_but_events()


def test_body_that_is_neither_envelope_nor_array_is_refused_and_kept(channel, post_webhook):
    response = post_webhook(channel, b'"ping"')

    assert response.status_code == 400  # Comapi never retries a 400: the body is kept instead
    request = InboundRequest.objects.get()
    assert bytes(request.body) == b'"ping"'
    assert request.item_count == 0
    assert request.error == (
        "not a valid comapi document: document is not an event object or a list of them (got str)"
    )
    assert not InboundEvent.objects.exists()


def test_authentic_body_that_is_not_json_is_refused_and_kept(channel, post_webhook):
    response = post_webhook(channel, b'{"name": "conversationMessage.sent", ')

    assert response.status_code == 400
    request = InboundRequest.objects.get()
    assert bytes(request.body) == b'{"name": "conversationMessage.sent", '
    assert request.error.startswith("not JSON: ")
    assert not InboundEvent.objects.exists()
