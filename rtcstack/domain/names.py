"""The names rtcstack lets through to SQL, as rules both Python and the registrar's kamailio.cfg use (the template
renders them from here): nothing else about them lives in two places.

Each rule is its characters (a pattern with no bound on its length) and its longest length, checked apart. Kamailio's
`=~` runs glibc's regexec, which takes about six times as long on a bounded repetition (`{0,63}`) as on `*`: 13.4 µs
against 2.1 µs for a 19-character name (regexec through ctypes on the lab's machine, 2026-12-07). A call checks two
names; `perf` put those checks at about 2.5 % of the registrar's CPU per call before (issue 21)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class NameRule:
    """`chars`: a POSIX extended pattern anchored at both ends, which Python's re reads alike; `longest`: the most
    characters a name may have."""

    chars: str
    longest: int
    _compiled: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.chars))

    def match(self, name: str) -> bool:
        """Whether `name` follows the rule (all of it: a trailing newline is no part of a name)."""
        return len(name) <= self.longest and self._compiled.fullmatch(name) is not None


# An account's or ring group's username: what provisioning accepts, and all the registrar passes to the database
# as a caller's or registrant's name.
USERNAME = NameRule(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", 64)
# A dialled name: an account, a ring group or a number as the caller wrote it (the registrar refuses anything else
# with 404 before it asks the database for a plan or a price).
DIALLED = NameRule(r"^[A-Za-z0-9._+-]+$", 64)
