"""The typing line of the open conversation: who types now, by name, for members only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inbox.models import Conversation, Participant
from tests.factories import ChannelFactory
from tests.platforms.test_liveperson import AGENT, chat_state, now_ms

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel(agent):
    made = ChannelFactory(platform="liveperson")
    made.members.add(agent)
    return made


def typing_line(client, conversation: Conversation) -> str:
    response = client.get(reverse("inbox:typing", args=[conversation.pk]))
    assert response.status_code == 200
    return response.content.decode().strip()


def test_an_agent_typing_shows_by_name_and_clears(client, agent, deliver):
    deliver("content_text_from_consumer", "content_text_from_agent")
    conversation = Conversation.objects.get()
    Participant.objects.filter(address=AGENT).update(name="Ada <Agent>")
    client.force_login(agent)
    assert typing_line(client, conversation) == ""

    started = now_ms()
    deliver(chat_state(AGENT, "ASSIGNED_AGENT", "COMPOSING", started))
    assert typing_line(client, conversation) == "Ada &lt;Agent&gt; is typing…"

    deliver(chat_state(AGENT, "ASSIGNED_AGENT", "PAUSE", started + 1500))
    assert typing_line(client, conversation) == ""


def test_another_channels_typing_line_is_a_404_and_anonymous_goes_to_login(
    client, outsider, deliver
):
    deliver("content_text_from_consumer")
    conversation = Conversation.objects.get()
    url = reverse("inbox:typing", args=[conversation.pk])
    assert client.get(url).status_code == 302
    client.force_login(outsider)
    assert client.get(url).status_code == 404
