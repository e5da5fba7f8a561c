"""Checks shared by the role verify tests."""


def listening(target, protocol: str) -> set[str]:
    """`ADDRESS:PORT` of every listening socket of one protocol (tcp or udp)."""
    flag = "-lntH" if protocol == "tcp" else "-lnuH"
    return {line.split()[3] for line in target.remote.check_output(f"ss {flag}").splitlines() if line.strip()}
