"""Typed readers for LivePerson JSON: each returns the expected type or raises PayloadError."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..base import PayloadError


def mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(f"LivePerson {what} is not an object: {type(value).__name__}")
    return value


def optional_mapping(value: object) -> Mapping[str, Any]:
    """``value`` if it is an object, else an empty one (for the many optional sub-objects)."""
    return value if isinstance(value, Mapping) else {}


def text(value: object) -> str:
    """``value`` if it is a string, else ``""``."""
    return value if isinstance(value, str) else ""


def first_text(*values: object) -> str:
    """The first non-empty string among ``values``, else ``""``."""
    return next((value for value in values if isinstance(value, str) and value), "")


def require_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise PayloadError(f"LivePerson {what} is missing or not a string: {value!r}")
    return value


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


def canonical_hash(data: object) -> str:
    """SHA-256 over the canonical JSON of ``data``: equal for semantically equal JSON."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
