"""Checks shared by the role verify tests."""


def listening(target, protocol: str) -> set[str]:
    """`ADDRESS:PORT` of every listening socket of one protocol (tcp or udp)."""
    flag = "-lntH" if protocol == "tcp" else "-lnuH"
    return {line.split()[3] for line in target.remote.check_output(f"ss {flag}").splitlines() if line.strip()}


def own_service_on_private_address(target, unit: str, port: int) -> None:
    """One of rtcstack's own services: running and enabled, as its own account (named as its unit), listening on
    the host's private address only."""
    service = target.remote.service(unit)
    assert service.is_running and service.is_enabled
    pid = target.remote.check_output(f"systemctl show -p MainPID --value {unit}").strip()
    assert target.remote.check_output(f"ps -o user= -p {pid}").strip() == unit
    tcp = listening(target, "tcp")
    assert f"{target.host.private_address}:{port}" in tcp
    assert not [x for x in tcp if x.endswith(f":{port}") and x.split(":")[0] in ("0.0.0.0", "*", "[::]")]
