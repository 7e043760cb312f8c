"""Reading a channel's settings against what its platform declares (``Connector.SETTINGS``).

One reader for the command line, the admin and the API: values arrive as text (or JSON values)
under their names; unknown names, missing required ones and unreadable values are refused with
a message that lists the valid names, before anything is saved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .contract import Setting

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")


@dataclass(frozen=True)
class ReadSettings:
    """Settings split by where they are kept: ``plain`` in the clear, ``secret`` encrypted."""

    plain: dict[str, Any]
    secret: dict[str, str]


def read_settings(
    declared: Sequence[Setting],
    values: Mapping[str, Any],
    *,
    platform: str,
    partial: bool = False,
) -> ReadSettings:
    """Check ``values`` against ``declared`` and convert them; raises ``ValueError``.

    ``partial`` (a change to an existing channel) does not ask for the required ones.
    """
    by_name = {s.name: s for s in declared}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        raise ValueError(
            f"unknown {platform} setting(s): {', '.join(unknown)}; valid: {describe(declared)}"
        )
    plain: dict[str, Any] = {}
    secret: dict[str, str] = {}
    for name, raw in values.items():
        setting = by_name[name]
        value = convert(setting, raw)
        if setting.secret:
            secret[name] = str(value)
        else:
            plain[name] = value
    if not partial:
        missing = [s.name for s in declared if s.required and s.name not in values]
        if missing:
            raise ValueError(
                f"missing {platform} setting(s): {', '.join(missing)}; valid: {describe(declared)}"
            )
    return ReadSettings(plain=plain, secret=secret)


def convert(setting: Setting, raw: Any) -> Any:
    """One value as its setting keeps it."""
    text = raw if isinstance(raw, str) else None
    if setting.kind == "int":
        if isinstance(raw, bool) or not (
            isinstance(raw, int) or (text is not None and text.strip().isdigit())
        ):
            raise ValueError(f"{setting.name} takes a whole number of 0 or more, not {raw!r}")
        number = int(raw)
        if number < 0:
            raise ValueError(f"{setting.name} takes a whole number of 0 or more, not {raw!r}")
        return number
    if setting.kind == "bool":
        if isinstance(raw, bool):
            return raw
        if text is not None and text.strip().lower() in TRUE + FALSE:
            return text.strip().lower() in TRUE
        raise ValueError(f"{setting.name} takes true or false, not {raw!r}")
    if text is None:
        raise ValueError(f"{setting.name} takes text, not {raw!r}")
    if setting.choices and text not in setting.choices:
        raise ValueError(f"{setting.name} is one of {', '.join(setting.choices)}, not {raw!r}")
    if setting.required and not text.strip():
        raise ValueError(f"{setting.name} may not be empty")
    return text


def value_of(declared: Sequence[Setting], settings: Mapping[str, Any], name: str) -> Any:
    """A plain setting's value, or its declared default."""
    if name in settings:
        return settings[name]
    for setting in declared:
        if setting.name == name:
            return setting.default
    raise KeyError(name)


def describe(declared: Sequence[Setting]) -> str:
    parts = []
    for s in declared:
        notes = [n for n in ("required" if s.required else "", "secret" if s.secret else "") if n]
        parts.append(f"{s.name} ({', '.join(notes)})" if notes else s.name)
    return ", ".join(parts)
