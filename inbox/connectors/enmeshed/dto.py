"""Checked access to enmeshed DTO fields: wrong shapes become PayloadError, never KeyError."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..base import PayloadError
from ..timestamps import parse_iso


def as_mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(f"{what} must be an object, got {type(value).__name__}")
    return value


def mappings(value: Any, what: str) -> list[Mapping[str, Any]]:
    """A list of objects; a missing list (``None``) is empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"{what} must be a list, got {type(value).__name__}")
    return [as_mapping(item, f"{what}[{index}]") for index, item in enumerate(value)]


def strings(value: Any, what: str) -> tuple[str, ...]:
    """A list of strings; a missing list (``None``) is empty."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PayloadError(f"{what} must be a list of strings")
    return tuple(value)


def required_str(obj: Mapping[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{what} has no {key!r}")
    return value


def optional_str(obj: Mapping[str, Any], key: str, what: str) -> str:
    """The string at ``key``, or ``""`` when it is missing or null."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{what}.{key} must be a string")
    return value


def optional_bool(obj: Mapping[str, Any], key: str, what: str) -> bool | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise PayloadError(f"{what}.{key} must be a boolean")
    return value


def optional_int(obj: Mapping[str, Any], key: str, what: str) -> int | None:
    value = obj.get(key)
    # bool is an int subclass, but ``true`` is never a size or a count.
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise PayloadError(f"{what}.{key} must be an integer")
    return value


def required_time(obj: Mapping[str, Any], key: str, what: str) -> datetime:
    parsed = parse_iso(obj.get(key))
    if parsed is None:
        raise PayloadError(f"{what} has no {key!r}")
    return parsed


def plain(value: Mapping[str, Any]) -> dict[str, Any]:
    """A detached plain-dict copy, safe to keep in a JSONField."""
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied


def digest(value: Any, length: int = 64) -> str:
    """A stable hex digest of any JSON value (key order does not matter)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]
