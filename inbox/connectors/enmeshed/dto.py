"""enmeshed-only DTO helpers; the common typed readers live in :mod:`inbox.connectors.payload`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..base import PayloadError
from ..timestamps import parse_iso


def required_time(obj: Mapping[str, Any], key: str, what: str) -> datetime:
    parsed = parse_iso(obj.get(key))
    if parsed is None:
        raise PayloadError(f"{what} has no {key!r}")
    return parsed


def plain(value: Mapping[str, Any]) -> dict[str, Any]:
    """A detached plain-dict copy, safe to keep in a JSONField."""
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied
