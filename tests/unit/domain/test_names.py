"""The name rules: their characters and longest length, checked apart, accept exactly what one bounded pattern
did (the form Kamailio's `=~` ran before issue 21), in Python and in glibc's regexec, which the registrar runs."""

from __future__ import annotations

import ctypes
import re

import pytest

from rtcstack.domain.names import DIALLED, USERNAME

BOUNDED = {"username": (USERNAME, r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
           "dialled": (DIALLED, r"^[A-Za-z0-9._+-]{1,64}$")}
SAMPLES = ["", "a", "A9", "-a", ".a", "a-", "alice.smith_2", "+48221234567", "0048221234567", "a b", "a\n", "\na",
           "ä", "a;b", "a'b", 'a"b', "a/b", "a@b", "x" * 63, "x" * 64, "x" * 65, "-" * 64, "+" * 64, "+" * 65,
           "a" + "-" * 63, "a" + "-" * 64]


@pytest.mark.parametrize("name", BOUNDED)
def test_a_rule_accepts_what_its_bounded_pattern_accepted_in_python(name):
    rule, bounded = BOUNDED[name]
    for sample in SAMPLES:
        assert rule.match(sample) == (re.fullmatch(bounded.strip("^$"), sample) is not None), sample


def _regexec(pattern: str):
    libc = ctypes.CDLL("libc.so.6")
    compiled = ctypes.create_string_buffer(512)  # (larger than any libc's regex_t)
    assert libc.regcomp(compiled, pattern.encode(), 1 | 8) == 0  # REG_EXTENDED | REG_NOSUB, as Kamailio compiles
    return lambda text: libc.regexec(compiled, text.encode(), 0, None, 0) == 0


@pytest.mark.parametrize("name", BOUNDED)
def test_the_registrars_check_accepts_what_the_bounded_pattern_accepted_in_glibc(name):
    """What kamailio.cfg checks (`=~` on the characters, then the length): the same as the bounded pattern."""
    rule, bounded = BOUNDED[name]
    chars, old = _regexec(rule.chars), _regexec(bounded)
    for sample in SAMPLES:
        if "\n" in sample:
            continue  # (no SIP header value carries a newline: the parser ends it there)
        assert (chars(sample) and len(sample) <= rule.longest) == old(sample), sample

