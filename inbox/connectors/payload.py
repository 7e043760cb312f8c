"""One reader for platform JSON, shared by every connector.

A :class:`Payload` is a JSON value together with the path it was read from (the idea of Zulip's
``WildValue``). Navigating keeps the path, and every typed read either returns the expected type
or raises :class:`~inbox.connectors.contract.PayloadError` naming exactly where the payload was
wrong::

    change = Payload(item, "change")
    change["event"]["type"].string()          # 'change.event.type is missing'
    change.get("sequence").optional_integer(digits=True)

``[key]`` requires the key; ``.get(key)`` allows it to be missing or null (a "missing" Payload,
whose optional reads give empty values and whose ``.get`` gives missing again).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from .contract import PayloadError
from .timestamps import from_epoch_ms, parse_iso

# Columns hold signed 64-bit integers: a larger number is malformed data, not a transient error.
INT64_MAX = 2**63 - 1
_IDENTIFIER = re.compile(r"[A-Za-z_@$][A-Za-z0-9_@$]*\Z")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


class Payload:
    """A JSON value read from a platform payload, and the path it was read from."""

    # The path is spelled out only when an error needs it: reading stays cheap.
    __slots__ = ("_key", "_parent", "value")

    def __init__(self, value: object, path: str = "payload") -> None:
        self.value = value
        self._parent: Payload | None = None
        self._key: str | int = path

    def _child(self, value: object, key: str | int) -> Payload:
        child = Payload.__new__(Payload)
        child.value, child._parent, child._key = value, self, key
        return child

    @property
    def path(self) -> str:
        """Where the value was read, e.g. ``change.event.type`` or ``batch.eventsData[3]``."""
        if self._parent is None:
            return str(self._key)
        return self._parent._child_path(self._key)

    def __repr__(self) -> str:
        return f"Payload({self.path})"

    # --- navigation ----------------------------------------------------------------------

    def _child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if _IDENTIFIER.match(key) else f"{self.path}[{key!r}]"

    def _object(self) -> Mapping[str, Any]:
        if self.value is None:
            return {}
        if not isinstance(self.value, Mapping):
            raise PayloadError(f"{self.path} is not an object (got {_kind(self.value)})")
        return self.value

    def __getitem__(self, key: str | int) -> Payload:
        """The value at ``key`` (an object key or a list index); it must be there, not null."""
        if isinstance(key, int):
            items = self.elements()
            if not -len(items) <= key < len(items):
                raise PayloadError(f"{self._child_path(key)} is missing")
            return items[key]
        if self.value is None:
            raise PayloadError(f"{self.path} is missing")
        child = self.get(key)
        if child.value is None:
            raise PayloadError(f"{child.path} is missing")
        return child

    def get(self, key: str) -> Payload:
        """The value at ``key``, which may be missing or null (then a missing Payload)."""
        return self._child(self._object().get(key), key)

    def first(self, *keys: str) -> Payload:
        """The first of ``keys`` whose value is neither missing, null nor ``""``."""
        for key in keys:
            child = self.get(key)
            if child.value not in (None, ""):
                return child
        return self._child(None, "|".join(keys))

    def __contains__(self, key: str) -> bool:
        return self._object().get(key) is not None

    def keys(self) -> Iterator[str]:
        return iter(self._object())

    def items(self) -> Iterator[tuple[str, Payload]]:
        """The ``(key, value)`` pairs of an object (none for a missing value)."""
        return ((key, self.get(key)) for key in self._object())

    def __iter__(self) -> Iterator[Any]:
        # Without this, Python would iterate by calling __getitem__(0), (1), …
        raise TypeError(f"iterate {self.path} with .keys(), .items() or .elements()")

    @property
    def is_missing(self) -> bool:
        """True for a missing or null value."""
        return self.value is None

    @property
    def raw(self) -> Any:
        """The plain JSON value, unchanged."""
        return self.value

    # --- objects and lists ---------------------------------------------------------------

    def mapping(self) -> Payload:
        """This value, which must be an object."""
        if not isinstance(self.value, Mapping):
            raise PayloadError(f"{self.path} is missing or not an object (got {_kind(self.value)})")
        return self

    def optional_mapping(self) -> Payload:
        """This value, which may be missing (then reads as an empty object)."""
        self._object()
        return self

    def elements(self) -> list[Payload]:
        """The items of a list, each with its index in the path."""
        if not isinstance(self.value, list):
            raise PayloadError(f"{self.path} is missing or not a list (got {_kind(self.value)})")
        return [self._child(item, index) for index, item in enumerate(self.value)]

    def optional_elements(self) -> list[Payload]:
        """The items of a list that may be missing (then empty)."""
        return [] if self.value is None else self.elements()

    def strings(self) -> tuple[str, ...]:
        """A list of strings that may be missing (then empty)."""
        return tuple(item.string(allow_empty=True) for item in self.optional_elements())

    # --- scalars -------------------------------------------------------------------------

    def string(self, *, allow_empty: bool = False) -> str:
        """A string, non-empty unless ``allow_empty``."""
        value = self.value
        if not isinstance(value, str):
            raise PayloadError(f"{self.path} is missing or not a string (got {_kind(value)})")
        if not value and not allow_empty:
            raise PayloadError(f"{self.path} is empty")
        return value

    def optional_string(self) -> str:
        """A string, or ``""`` when missing."""
        return "" if self.value is None else self.string(allow_empty=True)

    def identifier(self) -> str:
        """A non-empty id, sent as a string or an integer, as a string."""
        value = self.value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and value:
            return value
        raise PayloadError(f"{self.path} is missing or not an id (got {_kind(value)})")

    def optional_identifier(self) -> str:
        """An id, or ``""`` when missing or empty."""
        return "" if self.value in (None, "") else self.identifier()

    def integer(self, *, digits: bool = False) -> int:
        """A signed 64-bit integer; with ``digits``, also one sent as a string of digits."""
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise PayloadError(f"{self.path} is missing or not an integer (got {_kind(value)})")
        if isinstance(value, str):
            if not (digits and value.strip().isdigit()):
                raise PayloadError(f"{self.path} is not an integer: {value[:40]!r}")
            value = int(value)
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise PayloadError(f"{self.path} is out of range: {value}")
        return value

    def optional_integer(self, *, digits: bool = False) -> int | None:
        return None if self.value in (None, "") else self.integer(digits=digits)

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise PayloadError(f"{self.path} is missing or not a boolean (got {_kind(self.value)})")
        return self.value

    def optional_boolean(self) -> bool | None:
        return None if self.value is None else self.boolean()

    def timestamp(self) -> datetime:
        """An ISO 8601 timestamp (0-7 fractional digits, ``Z`` or an offset) as aware UTC."""
        parsed = self.optional_timestamp()
        if parsed is None:
            raise PayloadError(f"{self.path} is missing")
        return parsed

    def optional_timestamp(self) -> datetime | None:
        try:
            return parse_iso(self.value)
        except PayloadError as exc:
            raise PayloadError(f"{self.path} {exc}") from None

    def epoch_ms(self) -> datetime:
        """Epoch milliseconds (a number or digits) as an aware UTC datetime."""
        parsed = self.optional_epoch_ms()
        if parsed is None:
            raise PayloadError(f"{self.path} is missing")
        return parsed

    def optional_epoch_ms(self) -> datetime | None:
        try:
            return from_epoch_ms(self.value)
        except PayloadError as exc:
            raise PayloadError(f"{self.path} {exc}") from None


def canonical_hash(value: object) -> str:
    """SHA-256 hex of the canonical JSON of ``value``: equal whatever the key order.

    Dedup keys are built from it, so the serialisation must never change. Never raises for a
    decoded JSON value: lone surrogates are hashed as they are, ``NaN`` as ``NaN``.
    """
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
