"""Platform timestamps -> aware UTC datetimes. Vendors send ISO strings with 0-7 fractional
digits and a ``Z`` or an offset, or epoch milliseconds.

Errors read as the end of a sentence that starts with the value's path ("… is not a
timestamp: 'soon'"); :class:`~inbox.connectors.payload.Payload` adds the path.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .contract import PayloadError

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_iso(value: object) -> datetime | None:
    """Parse an ISO 8601 timestamp; ``None``/empty gives ``None``; garbage raises PayloadError."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"is not a timestamp: {value!r:.40}")
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # OverflowError: beyond year 9999 once in UTC
        raise PayloadError(f"is not a timestamp: {value!r:.40}") from exc


def from_epoch_ms(value: object) -> datetime | None:
    """Epoch milliseconds (int, float or numeric string) -> datetime; missing gives ``None``."""
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PayloadError(f"is not epoch milliseconds: {value!r:.40}")
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise PayloadError(f"is not epoch milliseconds: {value!r:.40}") from exc
