"""The turn role's files and credentials, rendered from the model: no lab needed."""

from rtcstack.roles import turn
from rtcstack.roles.turn import credentials_for, turn_uris
from rtcstack.site import load
from tests.unit.test_templates import FAKE_SECRETS


def _lab(project_copy, inventory="inventories/lab.py"):
    return load(project_copy / inventory, secrets=FAKE_SECRETS)


def test_turnserver_conf_carries_the_model(project_copy):
    deployment = _lab(project_copy)
    files = turn.config_files(deployment, deployment.hosts["turn1"])
    conf = files["turnserver"].render().splitlines()
    for line in ("realm=lab.rtcstack.test", "listening-ip=198.18.10.14", "listening-port=3478",
                 "tls-listening-port=5349", "min-port=49152", "max-port=49901", "use-auth-secret",
                 f"static-auth-secret={FAKE_SECRETS['turn_shared_secret']}", "no-cli", "user-quota=60",
                 "total-quota=750", "denied-peer-ip=127.0.0.0-127.255.255.255",
                 "denied-peer-ip=198.18.0.0-198.19.255.255", "allowed-peer-ip=198.18.10.13",
                 "allowed-peer-ip=198.18.10.15", "cert=/etc/rtcstack/tls/host.crt"):
        assert line in conf, line
    # db1, sip1 and web1 are not relay destinations; no external mapping without a public address.
    assert not [line for line in conf if line.startswith("allowed-peer-ip=198.18.10.1") and line[-2:] in
                ("11", "12", "14", "16")]
    # The lab machine (load generator) is, from group_data/lab.py's turn.allowed_peer_addresses.
    assert "allowed-peer-ip=198.18.10.1" in conf
    assert not [line for line in conf if line.startswith("external-ip")]
    assert (files["turnserver"].mode, files["turnserver"].group) == ("640", "turnserver")


def test_turn_hosts_share_one_secret_and_map_their_public_address(project_copy):
    deployment = _lab(project_copy, "inventories/production.example.py")
    confs = {h.name: turn.config_files(deployment, h)["turnserver"].render() for h in deployment.hosts_with("turn")}
    assert set(confs) == {"turn1.example.net", "turn2.example.net"}
    secret = f"static-auth-secret={FAKE_SECRETS['turn_shared_secret']}"
    assert all(secret in conf for conf in confs.values())
    assert "external-ip=203.0.113.18/10.0.0.18" in confs["turn2.example.net"]
    # Relays may reach both media hosts and the sfu host, by private and public address, and nothing else private.
    allowed = {line for line in confs["turn1.example.net"].splitlines() if line.startswith("allowed-peer-ip")}
    assert allowed == {f"allowed-peer-ip={a}" for a in ("10.0.0.13", "10.0.0.14", "10.0.0.16", "203.0.113.13",
                                                         "203.0.113.14", "203.0.113.16")}


def test_turn_credentials_name_every_turn_host_by_advertised_address(project_copy):
    deployment = _lab(project_copy, "inventories/production.example.py")
    assert turn_uris(deployment) == (
        "turn:203.0.113.15:3478?transport=udp", "turn:203.0.113.15:3478?transport=tcp",
        "turn:203.0.113.18:3478?transport=udp", "turn:203.0.113.18:3478?transport=tcp",
        "turns:turn1.example.net:5349?transport=tcp", "turns:turn2.example.net:5349?transport=tcp")
    creds = credentials_for(deployment, "guest-1", now=1_700_000_000)
    assert creds.username == "1700043200:guest-1"  # default lifetime: 12 h
    assert creds.ice_server()["urls"] == list(turn_uris(deployment))
