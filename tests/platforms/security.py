"""Security tests every platform's webhook inherits (Zulip style).

A subclass names its ``platform``, a ``sample`` fixture and a ``non_ascii_sample`` fixture whose
raw bytes hold non-ASCII text, the channel ``settings`` its parser needs, and ``signed(body,
secret)``: the headers the vendor documents for ``body``, computed in the test itself (never with
the connector's own ``sign``), so a bug shared by signing and verifying cannot hide.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from inbox.models import InboundEvent, InboundRequest
from tests.factories import ChannelFactory
from tests.helpers import fixture_bytes


@pytest.mark.django_db
class WebhookSecurityTests:
    platform: ClassVar[str]
    sample: ClassVar[str]
    non_ascii_sample: ClassVar[str]
    settings: ClassVar[dict[str, Any]] = {}
    # A shared-secret platform (enmeshed) does not sign the body, so it cannot tell bodies apart.
    signs_body: ClassVar[bool] = True

    def signed(self, body: bytes, secret: str) -> dict[str, str]:
        raise NotImplementedError

    @pytest.fixture
    def channel(self) -> Any:
        return ChannelFactory(platform=self.platform, settings=dict(self.settings))

    def body(self) -> bytes:
        return fixture_bytes(self.platform, self.sample)

    def post(self, post_webhook: Any, channel: Any, body: bytes, secret: str) -> Any:
        return post_webhook(channel, body, headers=self.signed(body, secret))

    def test_request_without_signature_is_rejected(self, channel, post_webhook):
        response = post_webhook(channel, self.body(), headers={})
        assert response.status_code == 401
        assert not InboundRequest.objects.exists()
        assert not InboundEvent.objects.exists()

    def test_request_signed_with_a_wrong_secret_is_rejected(self, channel, post_webhook):
        response = self.post(post_webhook, channel, self.body(), "not-the-secret")
        assert response.status_code == 401
        assert not InboundRequest.objects.exists()

    def test_current_secret_is_accepted(self, channel, post_webhook):
        assert self.post(post_webhook, channel, self.body(), "secret-current").status_code == 202

    def test_previous_secret_still_works_while_rotating(self, channel, post_webhook):
        assert self.post(post_webhook, channel, self.body(), "secret-previous").status_code == 202

    def test_retired_secret_stops_working_after_rotation(self, channel, post_webhook):
        channel.webhook_secrets = ["secret-current"]
        channel.save()
        assert self.post(post_webhook, channel, self.body(), "secret-previous").status_code == 401

    def test_channel_without_secrets_accepts_nothing(self, post_webhook):
        channel = ChannelFactory(
            platform=self.platform, settings=dict(self.settings), webhook_secrets=[]
        )
        assert self.post(post_webhook, channel, self.body(), "").status_code == 401

    def test_signature_for_another_body_is_rejected(self, channel, post_webhook):
        headers = self.signed(b"{}", "secret-current")
        response = post_webhook(channel, self.body(), headers=headers)
        assert response.status_code == (401 if self.signs_body else 202)

    def test_non_ascii_body_is_verified_over_its_raw_bytes(self, channel, post_webhook, process):
        raw = fixture_bytes(self.platform, self.non_ascii_sample)
        assert raw != raw.decode("utf-8").encode("ascii", "backslashreplace")

        assert self.post(post_webhook, channel, raw, "secret-current").status_code == 202
        assert process()["failed"] == 0
        # The body is stored byte for byte, whatever its encoding.
        assert bytes(InboundRequest.objects.get().body) == raw
        if self.signs_body:
            # Re-serialised JSON (ASCII escapes) is other bytes: its signature does not fit.
            reencoded = json.dumps(json.loads(raw)).encode()
            headers = self.signed(reencoded, "secret-current")
            assert post_webhook(channel, raw, headers=headers).status_code == 401
