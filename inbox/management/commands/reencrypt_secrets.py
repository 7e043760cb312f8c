from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inbox.services.secrets import reencrypt_secrets


class Command(BaseCommand):
    help = (
        "Encrypt every stored secret again with the newest FIELD_ENCRYPTION_KEY key, so older "
        "keys can be removed afterwards."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = reencrypt_secrets()
        self.stdout.write(f"re-encrypted {result.rows} row(s)")
        if result.unreadable:
            raise CommandError(
                f"{len(result.unreadable)} value(s) fit none of the keys and were left as they "
                f"are: {', '.join(result.unreadable)}. Add the key they were written with."
            )
