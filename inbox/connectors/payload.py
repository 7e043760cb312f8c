"""Typed readers for platform JSON shared by the connectors.

Each reader returns the expected type or raises :class:`~inbox.connectors.base.PayloadError`
naming the field, so a parser never leaks ``KeyError``/``TypeError``. ``what`` describes the value
read (``"eventData.sender"``); ``where`` describes the object a ``key`` is read from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .base import PayloadError


def _kind(value: object) -> str:
    return type(value).__name__


def as_mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(f"{what} is missing or not an object (got {_kind(value)})")
    return value


def mappings(value: object, what: str) -> list[Mapping[str, Any]]:
    """A list of objects; a missing list (``None``) is empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"{what} is not a list (got {_kind(value)})")
    return [as_mapping(item, f"{what}[{index}]") for index, item in enumerate(value)]


def strings(value: object, what: str) -> tuple[str, ...]:
    """A list of strings; a missing list (``None``) is empty."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PayloadError(f"{what} is not a list of strings")
    return tuple(value)


def nonempty_str(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{what} is missing or not a string (got {_kind(value)})")
    return value


def required_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{where} has no {key!r}")
    return value


def optional_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    """The string at ``key``, or ``""`` when it is missing or null."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{where}.{key} is not a string (got {_kind(value)})")
    return value


def optional_int(obj: Mapping[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    # bool is an int subclass, but ``true`` is never a size or a count.
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise PayloadError(f"{where}.{key} is not an integer (got {_kind(value)})")
    return value


def optional_bool(obj: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise PayloadError(f"{where}.{key} is not a boolean (got {_kind(value)})")
    return value


def canonical_hash(value: object) -> str:
    """SHA-256 hex of the canonical JSON of ``value``: equal whatever the key order.

    Stored dedup keys are built from it: the serialisation must never change.
    """
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
