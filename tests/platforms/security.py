"""Security tests every platform's webhook inherits (Zulip style).

A subclass names its ``platform``, a ``sample`` fixture and a ``non_ascii_sample`` fixture whose
raw bytes hold non-ASCII text, plus the channel ``settings`` its parser needs.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from inbox.connectors.base import get_connector
from inbox.models import InboundEvent
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes


@pytest.mark.django_db
class WebhookSecurityTests:
    platform: ClassVar[str]
    sample: ClassVar[str]
    non_ascii_sample: ClassVar[str]
    settings: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def channel(self) -> Any:
        return ChannelFactory(platform=self.platform, settings=dict(self.settings))

    def body(self) -> bytes:
        return fixture_bytes(self.platform, self.sample)

    def test_request_without_signature_is_rejected(self, channel, post_webhook):
        response = post_webhook(channel, self.body(), secret=None)
        assert response.status_code == 401
        assert not InboundEvent.objects.exists()

    def test_request_signed_with_a_wrong_secret_is_rejected(self, channel, post_webhook):
        response = post_webhook(channel, self.body(), secret="not-the-secret")
        assert response.status_code == 401
        assert not InboundEvent.objects.exists()

    def test_current_secret_is_accepted(self, channel, post_webhook):
        assert post_webhook(channel, self.body(), secret="secret-current").status_code == 202

    def test_previous_secret_still_works_while_rotating(self, channel, post_webhook):
        assert post_webhook(channel, self.body(), secret="secret-previous").status_code == 202

    def test_retired_secret_stops_working_after_rotation(self, channel, post_webhook):
        channel.webhook_secrets = ["secret-current"]
        channel.save()
        assert post_webhook(channel, self.body(), secret="secret-previous").status_code == 401

    def test_channel_without_secrets_accepts_nothing(self, post_webhook):
        channel = ChannelFactory(
            platform=self.platform, settings=dict(self.settings), webhook_secrets=[]
        )
        assert post_webhook(channel, self.body(), secret="").status_code == 401

    def test_signature_for_another_body_is_rejected(self, channel, post_webhook):
        headers = get_connector(self.platform).sign(b"{}", "secret-current", channel.settings)
        response = post_webhook(channel, self.body(), headers=headers)
        # A shared-secret platform (enmeshed) cannot tell; every signing platform must.
        expected = 202 if self.platform == "enmeshed" else 401
        assert response.status_code == expected

    def test_non_ascii_body_is_verified_over_its_raw_bytes(self, channel, post_webhook, process):
        raw = fixture_bytes(self.platform, self.non_ascii_sample)
        assert raw != raw.decode("utf-8").encode("ascii", "backslashreplace")

        assert post_webhook(channel, raw).status_code == 202
        counts = process()
        assert counts["failed"] == 0
        # Re-serialised JSON (ASCII escapes) is other bytes: its signature does not fit the raw.
        if self.platform != "enmeshed":
            reencoded = json.dumps(json.loads(raw)).encode()
            headers = get_connector(self.platform).sign(
                reencoded, "secret-current", channel.settings
            )
            assert post_webhook(channel, raw, headers=headers).status_code == 401
