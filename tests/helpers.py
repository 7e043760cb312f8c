"""Small helpers shared by the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(platform: str, name: str) -> bytes:
    """The raw bytes of ``tests/fixtures/<platform>/<name>`` (``.json`` may be omitted)."""
    if not name.endswith(".json"):
        name += ".json"
    return (FIXTURES / platform / name).read_bytes()


def fixture_json(platform: str, name: str) -> Any:
    return json.loads(fixture_bytes(platform, name))
