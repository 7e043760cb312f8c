"""LivePerson's lenient readers (the strict common ones live in :mod:`inbox.connectors.payload`).

LivePerson leaves many sub-objects and strings out, and sends sequences as numbers or digits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..base import PayloadError


def optional_mapping(value: object) -> Mapping[str, Any]:
    """``value`` if it is an object, else an empty one (for the many optional sub-objects)."""
    return value if isinstance(value, Mapping) else {}


def text(value: object) -> str:
    """``value`` if it is a string, else ``""``."""
    return value if isinstance(value, str) else ""


def first_text(*values: object) -> str:
    """The first non-empty string among ``values``, else ``""``."""
    return next((value for value in values if isinstance(value, str) and value), "")


def sequence_number(value: object) -> int | None:
    """A dialog sequence (int, or digits as a string), else ``None``."""
    if isinstance(value, bool):  # bool is an int subclass, never a sequence
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def require_sequence(value: object, what: str) -> int:
    number = sequence_number(value)
    if number is None:
        raise PayloadError(f"LivePerson {what} is missing or not a sequence number: {value!r}")
    return number
