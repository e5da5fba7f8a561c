"""Configuration problems an operator can act on: key path, value given, what is wrong, the fix."""

from __future__ import annotations

from dataclasses import dataclass, replace

HIDDEN = "<hidden>"


@dataclass(frozen=True)
class Problem:
    key: str
    value: object
    what: str
    fix: str

    def shown_value(self) -> str:
        if self.key.startswith("secrets.") and self.value is not None:
            return HIDDEN
        if self.value is None:
            return "(not set)"
        return repr(self.value)

    def __str__(self) -> str:
        return f"{self.key} = {self.shown_value()}: {self.what}. Fix: {self.fix}"


class ConfigError(Exception):
    """One or more problems in an inventory; raised before any host is touched."""

    def __init__(self, problems: list[Problem], source: str = "inventory"):
        self.problems = [replace(p, fix=p.fix.replace("INVENTORY", source)) for p in problems]
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = f"{self.source}: {count} problem{'s' if count != 1 else ''}"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])
