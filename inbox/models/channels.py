from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings as django_settings
from django.db import models
from django.urls import reverse

from inbox.choices import Platform, labelled

from .fields import EncryptedJSONField


class ChannelQuerySet(models.QuerySet["Channel"]):
    def visible_to(self, user: Any) -> ChannelQuerySet:
        """Staff see every channel; everyone else the channels they are a member of."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(members=user)


class Channel(models.Model):
    """One connected account on one platform."""

    platform = models.CharField(max_length=20, choices=labelled(Platform))
    name = models.CharField(max_length=200)
    key = models.UUIDField(
        default=uuid.uuid4,
        unique=True,
        editable=False,
        help_text="Public id used in the channel's webhook URL.",
    )
    settings = models.JSONField(
        default=dict, blank=True, help_text="Non-secret settings: base URLs, own address, …"
    )
    credentials = EncryptedJSONField(
        default=dict, blank=True, help_text="API keys and client secrets, encrypted at rest."
    )
    webhook_secrets = EncryptedJSONField(
        default=list, blank=True, help_text="Any of these authenticates a webhook."
    )
    # Facts learnt from the platform, remembered for later calls: the detected API generation,
    # our own address. Not settings: nobody edits them.
    learned = models.JSONField(default=dict, blank=True, editable=False)
    # Set when the platform refused the channel's credentials (401/403), cleared by the next
    # call it accepts: the admin and /ops/ show it instead of commands failing one by one.
    credentials_error = models.TextField(blank=True, default="", db_default="", editable=False)
    credentials_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    members = models.ManyToManyField(
        django_settings.AUTH_USER_MODEL, blank=True, related_name="channels"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        ordering = ("platform", "name")
        constraints = [
            models.UniqueConstraint(fields=("platform", "name"), name="channel_platform_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.platform})"

    def webhook_path(self) -> str:
        return reverse("webhook", kwargs={"platform": self.platform, "key": self.key})
