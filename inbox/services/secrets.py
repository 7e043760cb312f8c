"""Secrets at rest: rewriting them with the newest encryption key."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.db import transaction

from inbox.models.fields import EncryptedJSONField, Unreadable


@dataclass
class Reencrypted:
    rows: int = 0
    unreadable: list[str] = field(default_factory=list)  # "<model> <pk> <field>"


def reencrypt_secrets() -> Reencrypted:
    """Decrypt every encrypted field with any configured key and store it encrypted with the
    first (newest). Values no key decrypts are left untouched and listed."""
    result = Reencrypted()
    for model in apps.get_models():
        names = [f.name for f in model._meta.fields if isinstance(f, EncryptedJSONField)]
        if not names:
            continue
        with transaction.atomic():
            for row in model._default_manager.select_for_update().only("pk", *names):
                readable = []
                for name in names:
                    if isinstance(getattr(row, name), Unreadable):
                        result.unreadable.append(f"{model._meta.label} {row.pk} {name}")
                    else:
                        readable.append(name)
                if readable:
                    row.save(update_fields=readable)
                    result.rows += 1
    return result
