from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from inbox.models import Channel

SECRETS = ["secret-previous", "secret-current"]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    platform = "scalar"
    name = factory.Sequence(lambda n: f"Channel {n}")
    webhook_secrets = factory.LazyFunction(lambda: list(SECRETS))
    settings = factory.LazyFunction(dict)
