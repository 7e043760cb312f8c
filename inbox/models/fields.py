"""Encrypted JSON: credentials and webhook secrets are stored as Fernet tokens.

Keys come from ``FIELD_ENCRYPTION_KEY`` (comma-separated Fernet keys, newest first: the first
encrypts, all decrypt). Without it, and only for development, keys are derived from
``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``; a deploy check refuses that with ``DEBUG`` off.
``manage.py reencrypt_secrets`` rewrites every stored secret with the newest key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterator
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

logger = logging.getLogger(__name__)


def derived_key(secret_key: str) -> str:
    digest = hashlib.sha256(f"switchboard-fields:{secret_key}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def configured_keys() -> list[str]:
    """The Fernet keys in use, newest first."""
    keys = [key.strip() for key in settings.FIELD_ENCRYPTION_KEYS if key.strip()]
    if keys:
        return keys
    return [derived_key(key) for key in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)]


@cache
def fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in configured_keys()])
    except ValueError as exc:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must hold Fernet keys") from exc


class Unreadable:
    """A stored value that none of the configured keys decrypts (a key was rotated away).

    It reads as empty, so nothing authenticates with it and no page breaks, and it is saved
    back unchanged, so editing other fields of the row never destroys it.
    """

    def __init__(self, token: str) -> None:
        self.token = token

    def __bool__(self) -> bool:
        return False

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unreadable) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    def __repr__(self) -> str:
        return "<unreadable: wrong FIELD_ENCRYPTION_KEY>"


class EncryptedJSONField(models.TextField):
    """A JSON value encrypted at rest. Not searchable; never shown."""

    # For django-stubs: any JSON value goes in and comes out (not the str of a TextField).
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def from_db_value(self, value: str | None, *_: Any) -> Any:
        if value is None:
            return None
        try:
            return json.loads(fernet().decrypt(value.encode()))
        except InvalidToken:
            logger.error(
                "cannot decrypt %s.%s: none of the configured FIELD_ENCRYPTION_KEY keys fits",
                self.model.__name__,
                self.name,
            )
            return Unreadable(value)

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, Unreadable):
            return value.token
        return fernet().encrypt(json.dumps(value).encode()).decode()

    def value_to_string(self, obj: models.Model) -> str:
        return "(encrypted)"
