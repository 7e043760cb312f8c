"""Platform timestamps -> aware UTC datetimes. Vendors send ISO strings with 0-7 fractional
digits and a ``Z``, or epoch milliseconds."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .base import PayloadError

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_iso(value: object) -> datetime | None:
    """Parse an ISO 8601 timestamp; ``None``/empty gives ``None``; garbage raises PayloadError."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"not a timestamp: {value!r}")
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PayloadError(f"not a timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def from_epoch_ms(value: object) -> datetime | None:
    """Epoch milliseconds (int, float or numeric string) -> datetime; missing gives ``None``."""
    if value in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError) as exc:
        raise PayloadError(f"not epoch milliseconds: {value!r}") from exc
