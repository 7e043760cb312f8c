"""System checks, and the refusal to serve with development secrets.

- ``inbox.E001``: a normalized event type has no applier (always checked).
- ``inbox.E002``-``E004`` (deploy checks, and enforced at start of the production entry
  points — WSGI, ASGI, Celery — with ``DEBUG`` off): the development ``SECRET_KEY``, and
  ``FIELD_ENCRYPTION_KEY`` unset or malformed, since secrets at rest would then be encrypted
  with a key anyone can derive.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def check_appliers(**_: Any) -> list[checks.CheckMessage]:
    from inbox.inbound.appliers import unregistered

    return [
        checks.Error(
            f"no applier is registered for the normalized event {event_type.__name__}",
            hint="register one in an AppConfig.ready() with inbox.inbound.appliers.register",
            id="inbox.E001",
        )
        for event_type in unregistered()
    ]


def check_secrets(**_: Any) -> list[checks.CheckMessage]:
    if settings.DEBUG:
        return []
    errors: list[checks.CheckMessage] = []
    if settings.SECRET_KEY == settings.DEVELOPMENT_SECRET_KEY:
        errors.append(
            checks.Error(
                "SECRET_KEY is the development default",
                hint="set SECRET_KEY to a long random value",
                id="inbox.E002",
            )
        )
    keys = [key.strip() for key in settings.FIELD_ENCRYPTION_KEYS if key.strip()]
    if not keys:
        errors.append(
            checks.Error(
                "FIELD_ENCRYPTION_KEY is not set: stored secrets would be encrypted with a key "
                "derived from SECRET_KEY",
                hint="generate one with `python manage.py generate_encryption_key`",
                id="inbox.E003",
            )
        )
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            errors.append(
                checks.Error(
                    f"FIELD_ENCRYPTION_KEY key #{position} is not a Fernet key",
                    hint="each key is 32 url-safe base64-encoded bytes",
                    id="inbox.E004",
                )
            )
    return errors


def register_all() -> None:
    checks.register(check_appliers, "switchboard")
    checks.register(check_secrets, "switchboard", deploy=True)


def refuse_insecure_start() -> None:
    """Raise ImproperlyConfigured when the process must not serve (see the module doc)."""
    errors = check_appliers() + check_secrets()
    if errors:
        lines = "\n".join(f"- {error.msg} ({error.id}); {error.hint}" for error in errors)
        raise ImproperlyConfigured(f"Switchboard refuses to start:\n{lines}")
