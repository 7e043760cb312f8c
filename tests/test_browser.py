"""The web inbox in a real browser: Playwright driving Debian's Chromium against a live server,
with an enmeshed channel connected to the fake Connector.

The live test server is WSGI, so the pages get live updates by polling (every 2 s); the
Connector, the outbound worker and the way in run in the test itself.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inbox.inbound import process_due_events
from inbox.models import Conversation, Message
from inbox.outbound import process_due_commands

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
if not shutil.which(CHROMIUM):
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

# Playwright's sync API keeps an event loop in this thread; the ORM calls of the test are still
# synchronous code, which Django would otherwise refuse.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct horse battery staple"
WEBHOOK_SECRET = "connector-webhook-secret"
SCREENSHOTS = os.environ.get("SCREENSHOTS")  # a folder: save the main pages there
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def connector() -> Iterator[Any]:
    """One Connector generation is enough here (the way out is tested against both)."""
    from tests.fakes.enmeshed import FakeConnector

    with FakeConnector("core-v1") as fake:
        yield fake


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


def connector_posts(post_webhook: Any, channel: Any, trigger: str, dto: dict[str, Any]) -> None:
    response = post_webhook(
        channel, {"trigger": trigger, "data": dto}, headers={"X-API-KEY": WEBHOOK_SECRET}
    )
    assert response.status_code == 202, response.content
    process_due_events()


@pytest.fixture
def peer(connector: Any, connected: Any, post_webhook: Any) -> str:
    """A peer with an active relationship who wrote to us."""
    address = connector.new_address()
    connector_posts(
        post_webhook,
        connected,
        "transport.relationshipChanged",
        connector.add_active_relationship(address),
    )
    message = connector.receive_message(address, subject="Claim 4711", body="Where is my refund?")
    connector_posts(post_webhook, connected, "transport.messageReceived", message)
    return address


@pytest.fixture
def page(browser: Any, live_server: Any, member: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.goto("/accounts/login/")
    opened.get_by_label("Username").fill(member.username)
    opened.get_by_label("Password").fill(PASSWORD)
    opened.get_by_role("button", name="Log in").click()
    opened.wait_for_url(f"{live_server.url}/")
    opened.dialogs = dialogs  # type: ignore[attr-defined]
    yield opened
    context.close()


def shoot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"))


def said(page: Any, text: str) -> Any:
    """The message bodies of the open conversation holding ``text``."""
    return page.locator(".msg .body", has_text=text)


def open_conversation(page: Any, peer: str) -> None:
    conversation = Conversation.objects.get(external_id=peer)
    page.goto(f"/c/{conversation.pk}/")
    said(page, "Where is my refund?").wait_for()


def test_reply_with_a_file_appears_once_and_its_tick_follows_the_send(
    page: Any, peer: str, connector: Any, tmp_path: Any, settings: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    open_conversation(page, peer)
    shoot(page, "conversation")
    page.get_by_role("textbox", name="Reply").fill("Your refund is on its way.")
    page.set_input_files(
        "input[name=attachments]",
        files=[
            {"name": "receipt.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7 receipt"}
        ],
    )
    page.get_by_role("button", name="Send").click()
    bubble = page.locator("li.item", has_text="Your refund is on its way.")
    bubble.wait_for()
    assert bubble.count() == 1
    assert bubble.get_by_text("receipt.pdf").count() == 1
    assert bubble.locator(".tick-queued").count() == 1

    assert process_due_commands() == {"done": 1}
    bubble.locator(".tick-sent").wait_for(timeout=10_000)  # the page's poll brings the tick
    assert page.locator("li.item", has_text="Your refund is on its way.").count() == 1
    assert Message.objects.filter(direction="out").count() == 1
    assert len(connector.requests_to("/Messages", "POST")) == 1


def test_a_message_arriving_meanwhile_appears_without_reload(
    page: Any, peer: str, connector: Any, connected: Any, post_webhook: Any
) -> None:
    open_conversation(page, peer)
    marker = page.evaluate("() => (window.__kept = 'this page')")
    dto = connector.receive_message(peer, subject="Claim 4711", body="Any news on this?")
    connector_posts(post_webhook, connected, "transport.messageReceived", dto)
    said(page, "Any news on this?").wait_for(timeout=10_000)
    assert page.evaluate("() => window.__kept") == marker  # the same page: no reload


def test_platform_text_is_shown_as_text_and_runs_nothing(
    page: Any, peer: str, connector: Any, connected: Any, post_webhook: Any
) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    dto = connector.receive_message(peer, subject="<b>bold</b>", body=hostile)
    connector_posts(post_webhook, connected, "transport.messageReceived", dto)
    open_conversation(page, peer)
    said(page, hostile).wait_for()
    assert page.locator("img[src=x]").count() == 0
    assert page.locator(".msg .subject", has_text="<b>bold</b>").count() == 1
    page.wait_for_timeout(500)
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_an_incoming_relationship_request_is_accepted_from_the_page(
    page: Any, connector: Any, connected: Any, post_webhook: Any
) -> None:
    request = connector.add_incoming_pending()
    connector_posts(post_webhook, connected, "transport.relationshipChanged", request)
    page.goto("/relationships/")
    shoot(page, "relationships")
    page.get_by_role("button", name="Accept").click()
    page.get_by_text("accept queued").wait_for()
    process_due_commands()
    process_due_events()
    page.reload()
    page.get_by_text("accepted by the Connector").first.wait_for()
    assert connector.relationship(request["id"])["status"] == "Active"


def test_the_inbox_at_phone_width_shows_one_pane(page: Any, peer: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    page.locator("#list a").first.wait_for()
    shoot(page, "inbox-phone")
    page.locator("#list a").first.click()
    said(page, "Where is my refund?").wait_for()
    shoot(page, "conversation-phone")


@pytest.fixture
def channel(member: Any) -> Any:
    """A LivePerson channel of the member (its agents' chat states are typing signals)."""
    from tests.factories import ChannelFactory

    shop = ChannelFactory(platform="liveperson")
    shop.members.add(member)
    return shop


def test_typing_shows_and_clears(page: Any, channel: Any, deliver: Any) -> None:
    from tests.platforms.test_liveperson import AGENT, chat_state, now_ms

    deliver("content_text_from_consumer", "content_text_from_agent")
    conversation = Conversation.objects.get(channel=channel)
    page.goto(f"/c/{conversation.pk}/")
    typing = page.locator("#typing")
    started = now_ms()
    deliver(chat_state(AGENT, "ASSIGNED_AGENT", "COMPOSING", started))
    page.locator("#typing", has_text="is typing").wait_for(timeout=10_000)
    deliver(chat_state(AGENT, "ASSIGNED_AGENT", "PAUSE", started + 1500))
    page.wait_for_function(
        "() => !document.querySelector('#typing').textContent.trim()", timeout=10_000
    )
    assert typing.text_content().strip() == ""
