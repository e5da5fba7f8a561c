"""Checks shared by the role verify tests."""

import pytest


def needs(target, role: str) -> None:
    if role not in target.host.roles:
        pytest.skip(f"{target.host.name} has no {role} role")


def listening(target, protocol: str) -> set[str]:
    """`ADDRESS:PORT` of every listening socket of one protocol (tcp or udp)."""
    flag = "-lntH" if protocol == "tcp" else "-lnuH"
    return {line.split()[3] for line in target.remote.check_output(f"ss {flag}").splitlines() if line.strip()}
