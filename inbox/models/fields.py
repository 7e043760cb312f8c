"""Encrypted JSON: credentials and webhook secrets are stored as Fernet tokens."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _fernet() -> MultiFernet:
    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        derived = hashlib.sha256(f"switchboard-fields:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(derived).decode()]
    try:
        # The first key encrypts; all of them decrypt, so keys can be rotated.
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must hold Fernet keys") from exc


class EncryptedJSONField(models.TextField):
    """A JSON value encrypted at rest. Not searchable; never shown in admin lists."""

    def from_db_value(self, value: str | None, *_: Any) -> Any:
        if value is None:
            return None
        try:
            return json.loads(_fernet().decrypt(value.encode()))
        except InvalidToken as exc:
            raise ImproperlyConfigured(
                f"cannot decrypt {self.model.__name__}.{self.name}: wrong FIELD_ENCRYPTION_KEY"
            ) from exc

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return _fernet().encrypt(json.dumps(value).encode()).decode()

    def value_to_string(self, obj: models.Model) -> str:
        return json.dumps(self.value_from_object(obj))
