"""Values as both SqlRunners return them (psql's text, or the service connection's str() of Python values)."""

from __future__ import annotations

import re
from datetime import datetime


def truthy(value: str) -> bool:
    """A boolean from either runner (psql says t/f, the service's connection True/False)."""
    return value in ("t", "True", "true", "1")


def when(value: str) -> datetime | None:
    """A timestamp from either runner (psql: `2026-12-01 10:00:00.5+00`, the service: isoformat)."""
    if not value or value == "None":
        return None
    text = value.replace(" ", "T", 1)
    if re.search(r"[+-]\d\d$", text):
        text += ":00"
    return datetime.fromisoformat(text)
