"""Who may call what: every route and method of the API, for four callers.

- ``member``: a member (not staff) of the channels the objects belong to → the route's success;
- ``other``: an agent of another channel → 404 for any object of those channels (never 403,
  never 200), lists without them; 403 for the staff-only routes;
- ``staff``: sees every channel → success everywhere;
- ``anon``: no credentials → 401 (token authentication comes first, so DRF answers 401).

Every error answer has exactly the keys ``code``, ``detail`` and ``fields``.

The data is built once for the module, through the real way in (webhooks, the pipeline, the fake
enmeshed Connector), inside a transaction that is rolled back at the end; each case runs in a
savepoint of its own inside it, so what one case changes (a close, a decision) no other sees.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inbox import services
from inbox.connectors.registry import get_connector
from inbox.inbound import process_due_events
from inbox.models import Attachment, Channel, Conversation, InboundEvent, Message, MessageStatus
from inbox.services import sending
from inbox.services.downloads import download_due_attachments
from relationships import templates
from relationships.models import Relationship
from tests.factories import ChannelFactory, UserFactory
from tests.fakes.enmeshed import API_KEY, FakeConnector
from tests.helpers import fixture_bytes, fixture_json

pytestmark = pytest.mark.django_db

CALLERS = ("member", "other", "staff", "anon")
ERROR_KEYS = {"code", "detail", "fields"}
CODES = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}
WEBHOOK_SECRET = "secret-current"
# A word in the member's LivePerson message and in the other agent's SCALAR message.
WORD = "helfen"
FILE = b"%PDF-1.7\nthe signed form\n%%EOF\n"

# A LivePerson channel that can reply, close, start and type (the API only queues: the
# hosts are never called here).
LIVEPERSON = {
    "account_id": "73820514",
    "client_id": "app-1",
    "sentinel_url": "sentinel.liveperson.example",
    "idp_url": "idp.liveperson.example",
    "messaging_url": "messaging.liveperson.example",
}


# --- the data ----------------------------------------------------------------------------------


def post_webhook(channel: Channel, body: bytes | dict[str, Any]) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = get_connector(channel.platform).sign(
        body=raw, secret=WEBHOOK_SECRET, settings=channel.settings
    )
    response = Client().post(
        channel.webhook_path(), data=raw, content_type="application/json", headers=headers
    )
    assert response.status_code == 202, response.content


def scalar_message(text: str) -> bytes:
    """A SCALAR group chat message with ``text``."""
    batch = fixture_json("scalar", "chat_message_sent")
    data = batch["eventsData"][0]["eventData"]
    group = str(uuid.uuid4())
    data.update(messageId=str(uuid.uuid4()), conversationType="groupchat", content=text)
    data.update(conversationId=group, recipientId=group)
    return json.dumps(batch).encode()


def pdf() -> SimpleUploadedFile:
    return SimpleUploadedFile("form.pdf", FILE, content_type="application/pdf")


def relationship_changed(dto: dict[str, Any]) -> dict[str, Any]:
    return {"trigger": "transport.relationshipChanged", "data": dto}


def build(connector: FakeConnector) -> dict[str, Any]:
    """The channels, users and objects of every route; returns their ids (and the tokens)."""
    member = UserFactory.create(username="access-member")
    other = UserFactory.create(username="access-other")
    staff = UserFactory.create(username="access-staff", is_staff=True)

    # The member's channels: LivePerson (conversations and their actions) and enmeshed,
    # connected to the fake Connector (relationships, templates, attachments, polling).
    support = services.create_channel(
        platform="liveperson",
        name="Support",
        webhook_secrets=[WEBHOOK_SECRET],
        settings=LIVEPERSON,
        credentials={"client_secret": "app-secret"},
    )
    mailbox = services.create_channel(
        platform="enmeshed",
        name="Mailbox",
        webhook_secrets=[WEBHOOK_SECRET],
        settings={"base_url": connector.base_url, "api_key": API_KEY, "poll_interval": "60"},
    )
    # The other agent's channel.
    fleet: Channel = ChannelFactory.create(platform="scalar", name="Fleet")
    support.members.add(member)
    mailbox.members.add(member)
    fleet.members.add(other)

    for name in ("cqm_created", "content_text_from_consumer"):
        post_webhook(support, fixture_bytes("liveperson", name))
    post_webhook(fleet, scalar_message(f"Wir {WORD} gern"))
    incoming = connector.add_incoming_pending()
    outgoing = connector.add_outgoing_pending()
    active = connector.add_active_relationship()
    for dto in (incoming, outgoing, active):
        post_webhook(mailbox, relationship_changed(dto))
    mail = connector.receive_message(
        subject="The form", attachments=[("form.pdf", FILE, "application/pdf")]
    )
    post_webhook(mailbox, {"trigger": "transport.messageReceived", "data": mail})
    process_due_events()
    assert download_due_attachments() == {"ready": 1}

    conversation = Conversation.objects.get(channel=support)
    message = Message.objects.get(channel=support)
    failed = sending.send_reply(conversation=conversation, author=member, text="Sorry?").message
    Message.objects.filter(pk=failed.pk).update(status=MessageStatus.FAILED, error="refused")
    template = templates.create_template(
        channel=mailbox, title="Counter 1", expires_at=timezone.now() + timedelta(days=7)
    )
    # A file sent ahead of a reply: the member's own, as the API makes it.
    uploader = APIClient()
    uploader.force_authenticate(member)
    upload = uploader.post(
        "/api/v1/uploads/", {"channel": mailbox.pk, "file": pdf()}, format="multipart"
    )
    assert upload.status_code == 201, upload.content

    def relationship(dto: dict[str, Any]) -> int:
        return Relationship.objects.get(channel=mailbox, external_id=dto["id"]).pk

    return {
        "tokens": {
            name: Token.objects.create(user=user).key
            for name, user in (("member", member), ("other", other), ("staff", staff))
        },
        "support": support.pk,
        "mailbox": mailbox.pk,
        "fleet": fleet.pk,
        "conversation": conversation.pk,
        "foreign_conversation": Conversation.objects.get(channel=fleet).pk,
        "message": message.pk,
        "foreign_message": Message.objects.get(channel=fleet).pk,
        "failed": failed.pk,
        "attachment": Attachment.objects.get(message__channel=mailbox, state="ready").pk,
        "incoming": relationship(incoming),
        "outgoing": relationship(outgoing),
        "active": relationship(active),
        "template": template.pk,
        "upload": upload.json()["id"],
        "event": InboundEvent.objects.filter(channel=mailbox).earliest("id").pk,
        "foreign_event": InboundEvent.objects.get(channel=fleet).pk,
        "expires_at": (timezone.now() + timedelta(days=7)).isoformat(),
    }


@pytest.fixture(scope="module")
def world(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Built once, in a transaction rolled back after the module (each case runs in a
    savepoint inside it, as Django's TestCase.setUpTestData does)."""
    media = tmp_path_factory.mktemp("media")
    with (
        django_db_blocker.unblock(),
        override_settings(MEDIA_ROOT=media),
        FakeConnector("core-v1") as connector,
    ):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield build(connector)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
        assert connector.crashes == []
        assert not Channel.objects.exists()  # nothing of the module outlives it


# --- the routes --------------------------------------------------------------------------------

# What each kind of route answers the callers other than staff (staff: the route's success).
OBJECT = "object"  # an object of the member's channels: member ok, other 404
LIST = "list"  # everyone signed in gets 200, each only with what they may see
STAFF = "staff"  # staff only: 403 for every other user
OPEN = "open"  # any signed-in user (the schema, its UI, the API root)
CREATE = "create"  # a new object on a channel named in the body: other users are refused


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # formatted with the world's ids
    kind: str
    ok: int = 200
    body: dict[str, Any] | None = None
    format: str = "json"
    # Lists: where the ids are in a result, and which of the world's objects each caller
    # must find listed; every other object named in ``listed`` must be absent.
    id_of: Callable[[dict[str, Any]], int] = field(default=lambda row: row["id"])
    listed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Another answer than the kind's for a caller (documented), e.g. a body or filter naming
    # a channel the caller does not see: said like one that does not exist.
    refused: dict[str, int] = field(default_factory=dict)
    # The world's object whose id the answer's ``id`` must be (detail routes).
    shows: str | None = None
    # More to check of a success: (the response, the world).
    check: Callable[[Any, dict[str, Any]], None] | None = None

    def expected(self, caller: str) -> int:
        if caller in self.refused:
            return self.refused[caller]
        if caller == "anon":
            return 401
        if caller == "staff" or self.kind == OPEN:
            return self.ok
        if self.kind == STAFF:
            return 403
        if self.kind == OBJECT and caller == "other":
            return 404
        return self.ok

    @property
    def schema_path(self) -> str:
        """The path as the OpenAPI schema names it."""
        return re.sub(r"\{\w+\}", "{id}", self.path.split("?")[0])


def seen_by(member: tuple[str, ...], other: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    return {"member": member, "other": other, "staff": (*member, *other)}


def downloaded(response: Any, world: dict[str, Any]) -> None:
    assert b"".join(response.streaming_content) == FILE
    assert response["Content-Disposition"] == 'attachment; filename="form.pdf"'


def a_png(response: Any, world: dict[str, Any]) -> None:
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")


def queued(response: Any, world: dict[str, Any]) -> None:
    assert response.json()["state"] == "queued"


def decision_queued(response: Any, world: dict[str, Any]) -> None:
    assert response.json()["decision_outcome"] == "queued"


def replayed(response: Any, world: dict[str, Any]) -> None:
    assert response.json()["queued"] >= 1


CONVERSATION = "/api/v1/conversations/{conversation}/"
TEMPLATE = "/api/v1/relationship-templates/{template}/"
EVENT = "/api/v1/inbound-events/{event}/"
CHANNEL = "/api/v1/channels/{mailbox}/"

ROUTES = [
    Route("api-root", "get", "/api/v1/", OPEN),
    Route("schema", "get", "/api/schema/", OPEN),
    # A page for people: a visitor who is not signed in is sent to the login page.
    Route("docs", "get", "/api/docs/", OPEN, refused={"anon": 302}),
    # conversations
    Route(
        "conversations-list",
        "get",
        "/api/v1/conversations/",
        LIST,
        listed=seen_by(("conversation",), ("foreign_conversation",)),
    ),
    Route(
        "conversations-list-of-a-channel",
        "get",
        "/api/v1/conversations/?channel={support}",
        LIST,
        listed=seen_by(("conversation",)),
        refused={"other": 400},
    ),
    Route(
        "conversations-create",
        "post",
        "/api/v1/conversations/",
        CREATE,
        ok=202,
        body={"channel": "{support}", "consumer": "customer-7"},
        refused={"other": 404},  # a channel the user does not see (docs/API.md)
        check=queued,
    ),
    Route("conversation-detail", "get", CONVERSATION, OBJECT, shows="conversation"),
    Route("conversation-read", "post", CONVERSATION + "read/", OBJECT),
    Route("conversation-unread", "post", CONVERSATION + "unread/", OBJECT),
    Route("conversation-close", "post", CONVERSATION + "close/", OBJECT, ok=202, check=queued),
    Route("conversation-start", "post", CONVERSATION + "start/", OBJECT, ok=202, check=queued),
    Route(
        "conversation-typing",
        "post",
        CONVERSATION + "typing/",
        OBJECT,
        ok=202,
        body={"active": True},
    ),
    Route(
        "conversation-messages-list",
        "get",
        CONVERSATION + "messages/",
        OBJECT,
        listed={"member": ("message", "failed"), "staff": ("message", "failed")},
    ),
    Route(
        "conversation-messages-reply",
        "post",
        CONVERSATION + "messages/",
        OBJECT,
        ok=201,
        body={"text": "We are on it."},
    ),
    # messages and attachments
    Route("message-detail", "get", "/api/v1/messages/{message}/", OBJECT, shows="message"),
    Route("message-retry", "post", "/api/v1/messages/{failed}/retry/", OBJECT, shows="failed"),
    Route(
        "attachment-download",
        "get",
        "/api/v1/attachments/{attachment}/download/",
        OBJECT,
        check=downloaded,
    ),
    # relationships
    Route(
        "relationships-list",
        "get",
        "/api/v1/relationships/",
        LIST,
        listed=seen_by(("incoming", "outgoing", "active")),
    ),
    Route(
        "relationships-list-of-a-channel",
        "get",
        "/api/v1/relationships/?channel={mailbox}",
        LIST,
        listed=seen_by(("incoming", "outgoing", "active")),
        refused={"other": 400},
    ),
    Route(
        "relationship-detail", "get", "/api/v1/relationships/{incoming}/", OBJECT, shows="incoming"
    ),
    *(
        Route(
            f"relationship-{decision}",
            "post",
            f"/api/v1/relationships/{{{which}}}/{decision}/",
            OBJECT,
            ok=202,
            shows=which,
            check=decision_queued,
        )
        for decision, which in (
            ("accept", "incoming"),
            ("reject", "incoming"),
            ("revoke", "outgoing"),
            ("terminate", "active"),
        )
    ),
    # relationship templates
    Route(
        "templates-list",
        "get",
        "/api/v1/relationship-templates/",
        LIST,
        listed=seen_by(("template",)),
    ),
    Route(
        "templates-list-of-a-channel",
        "get",
        "/api/v1/relationship-templates/?channel={mailbox}",
        LIST,
        listed=seen_by(("template",)),
        refused={"other": 400},
    ),
    Route(
        "templates-create",
        "post",
        "/api/v1/relationship-templates/",
        CREATE,
        ok=201,
        body={"channel": "{mailbox}", "title": "Counter 2", "expires_at": "{expires_at}"},
        # a channel the user does not see is said like one that does not exist (docs/API.md)
        refused={"other": 400},
    ),
    Route("template-detail", "get", TEMPLATE, OBJECT, shows="template"),
    Route("template-qr", "get", TEMPLATE + "qr/", OBJECT, check=a_png),
    # inbound events (staff only)
    Route(
        "inbound-events-list",
        "get",
        "/api/v1/inbound-events/",
        STAFF,
        listed={"staff": ("event", "foreign_event")},
    ),
    Route("inbound-event-detail", "get", EVENT, STAFF, shows="event"),
    Route("inbound-event-replay", "post", EVENT + "replay/", STAFF, ok=202, check=replayed),
    Route(
        "inbound-events-replay-set",
        "post",
        "/api/v1/inbound-events/replay/?channel={mailbox}",
        STAFF,
        ok=202,
        check=replayed,
    ),
    # channels (staff only)
    Route(
        "channels-list",
        "get",
        "/api/v1/channels/",
        STAFF,
        listed={"staff": ("support", "mailbox", "fleet")},
    ),
    Route(
        "channels-create",
        "post",
        "/api/v1/channels/",
        STAFF,
        ok=201,
        body={"platform": "liveperson", "name": "New support"},
    ),
    Route("channel-detail", "get", CHANNEL, STAFF, shows="mailbox"),
    Route("channel-patch", "patch", CHANNEL, STAFF, body={"name": "Renamed"}, shows="mailbox"),
    Route("channel-delete", "delete", CHANNEL, STAFF, shows="mailbox"),
    Route("channel-poll", "post", CHANNEL + "poll/", STAFF, ok=202),
    Route("channel-health", "get", CHANNEL + "health/", STAFF),
    # uploads: private to the user who made them (inbox/api/uploads.py), so another user's
    # is not found, staff's too; there is no list
    Route(
        "uploads-create",
        "post",
        "/api/v1/uploads/",
        CREATE,
        ok=201,
        body={"channel": "{mailbox}", "file": pdf},
        format="multipart",
        refused={"other": 400},  # the channel is said like one that does not exist
    ),
    Route(
        "upload-detail",
        "get",
        "/api/v1/uploads/{upload}/",
        OBJECT,
        shows="upload",
        refused={"staff": 404},
    ),
    Route(
        "upload-delete",
        "delete",
        "/api/v1/uploads/{upload}/",
        OBJECT,
        ok=204,
        refused={"staff": 404},
    ),
    # search
    Route(
        "search",
        "get",
        f"/api/v1/search/?q={WORD}",
        LIST,
        id_of=lambda row: row["message"],
        listed=seen_by(("message",), ("foreign_message",)),
    ),
    Route(
        "search-in-a-conversation",
        "get",
        f"/api/v1/search/?q={WORD}&conversation={{conversation}}",
        LIST,
        id_of=lambda row: row["message"],
        listed=seen_by(("message",)),
        refused={"other": 400},
    ),
]

# Cases that show a bug: kept failing on purpose (strict), reported, not fixed here.
BUGS: dict[tuple[str, str], str] = {}


def case(route: Route, caller: str) -> Any:
    reason = BUGS.get((route.name, caller))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(route, caller, id=f"{route.name}-{caller}", marks=marks)


CASES = [case(route, caller) for route in ROUTES for caller in CALLERS]


def filled(value: Any, world: dict[str, Any]) -> Any:
    """``"{name}"`` is the world's ``name`` (an id keeps its type); a callable makes the value
    (a file, new for each request)."""
    if callable(value):
        return value()
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return world[value[1:-1]]
    return value


def without_objects(world: dict[str, Any]) -> dict[str, Any]:
    """The world with every object's id replaced by one that does not exist."""
    absent = {name: 2**31 - 1 for name, value in world.items() if isinstance(value, int)}
    return {**world, **absent, "upload": str(uuid.uuid4())}


def digitless(answer: Any) -> str:
    return re.sub(r"\d+", "#", json.dumps(answer))


def send(client: APIClient, route: Route, world: dict[str, Any]) -> Any:
    call = getattr(client, route.method)
    path = route.path.format(**world)
    if route.body is None:
        return call(path)
    body = {name: filled(value, world) for name, value in route.body.items()}
    return call(path, body, format=route.format)


def body_of(response: Any) -> Any:
    """The answer's document: JSON, or the schema's YAML (its default format)."""
    if response["Content-Type"].startswith("application/vnd.oai.openapi;"):
        return yaml.safe_load(response.content)
    return response.json()


@pytest.mark.parametrize(("route", "caller"), CASES)
def test_every_route_answers_each_caller_as_the_rules_say(
    world: dict[str, Any], route: Route, caller: str
) -> None:
    client = APIClient()
    if caller != "anon":
        client.credentials(HTTP_AUTHORIZATION=f"Token {world['tokens'][caller]}")
    response = send(client, route, world)

    expected = route.expected(caller)
    assert response.status_code == expected, response.content[:500]
    if expected >= 400:
        error = body_of(response)
        assert set(error) == ERROR_KEYS, response.content[:500]
        assert error["code"] == CODES.get(expected, error["code"])
        assert bool(error["fields"]) == (expected == 400)
    if caller == "other" and expected in (400, 404):
        # The answer for ids that do not exist (but for the id itself, which a 400 quotes):
        # nothing tells that the object is there.
        absent = send(client, route, without_objects(world))
        assert absent.status_code == expected
        assert digitless(response.json()) == digitless(absent.json())
    if caller == "anon" and expected == 401:
        assert response["WWW-Authenticate"] == "Token"
    if expected >= 300:
        return
    if route.listed:
        ids = {route.id_of(row) for row in response.json()["results"]}
        named = {name for names in route.listed.values() for name in names}
        assert {name for name in named if world[name] in ids} == set(route.listed[caller])
    if route.shows:
        assert response.json()["id"] == world[route.shows]
    if route.check:
        route.check(response, world)


def test_the_table_has_every_operation_of_the_schema() -> None:
    """A new route or method is not left out of the table above (the webhooks are the
    platforms' way in, authenticated by their signatures: tests/test_webhooks.py)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {
        (path, method)
        for path, item in schema["paths"].items()
        for method in item
        if not path.startswith("/webhooks/")
    }
    assert operations <= {(route.schema_path, route.method) for route in ROUTES}
