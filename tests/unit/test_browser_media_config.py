"""coturn, Janus and nginx files rendered from the model, and the Janus token scheme: no lab needed."""

from rtcstack.site import load
from rtcstack.roles import edge, sfu, turn
from rtcstack.protocols.janus import signed_token
from rtcstack.roles.turn import credentials_for, turn_uris
from tests.unit.test_templates import FAKE_SECRETS


def _lab(project_copy, inventory="inventories/lab.py"):
    return load(project_copy / inventory, secrets=FAKE_SECRETS)


def test_turnserver_conf_carries_the_model(project_copy):
    deployment = _lab(project_copy)
    files = turn.config_files(deployment, deployment.hosts["turn1"])
    conf = files["turnserver"].render().splitlines()
    for line in ("realm=lab.rtcstack.test", "listening-ip=198.18.10.14", "listening-port=3478",
                 "tls-listening-port=5349", "min-port=49152", "max-port=49901", "use-auth-secret",
                 f"static-auth-secret={FAKE_SECRETS['turn_shared_secret']}", "no-cli", "user-quota=10",
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


def test_janus_config_guards_the_api_and_disables_what_is_unused(project_copy):
    deployment = _lab(project_copy)
    files = sfu.config_files(deployment, deployment.hosts["sfu1"])
    janus = files["janus"].render()
    assert f'api_secret = "{FAKE_SECRETS["janus_api_secret"]}"' in janus
    assert f'token_auth_secret = "{FAKE_SECRETS["janus_token_secret"]}"' in janus
    assert 'rtp_port_range = "20000-20749"' in janus and 'ice_enforce_list = "198.18.10.15"' in janus
    assert "nat_1_1_mapping" not in janus
    disabled = janus.split('plugins: {\n\tdisable = "')[1].split('"')[0].split(",")
    assert "libjanus_videoroom.so" not in disabled and "libjanus_textroom.so" not in disabled
    assert "libjanus_echotest.so" in disabled and len(disabled) == len(sfu.PLUGINS) - 2
    http = files["http"].render()
    assert 'ip = "198.18.10.15"' in http and 'admin_ip = "127.0.0.1"' in http
    assert f'admin_key = "{FAKE_SECRETS["janus_room_key"]}"' in files["videoroom"].render()
    assert "room-1234" not in files["videoroom"].render()  # no demo rooms
    assert all((item.mode, item.group) == ("640", "rtcstack-janus") for key, item in files.items() if key != "dropin")


def test_janus_maps_a_public_address_onto_its_private_one(project_copy):
    deployment = _lab(project_copy, "inventories/production.example.py")
    janus = sfu.config_files(deployment, deployment.hosts["sfu1.example.net"])["janus"].render()
    assert 'nat_1_1_mapping = "203.0.113.16"' in janus and 'ice_enforce_list = "10.0.0.16"' in janus


def test_nginx_proxies_janus_to_every_sfu_host_over_tls(project_copy):
    deployment = _lab(project_copy)
    conf = edge.config_files(deployment, deployment.hosts["web1"])["nginx"].render()
    assert "server 198.18.10.15:8088" in conf and "server 198.18.10.15:8188" in conf
    assert "listen 443 ssl http2 default_server;" in conf and "return 301 https://$host$request_uri;" in conf
    assert "Strict-Transport-Security" in conf and "server_tokens off;" in conf
    assert "location /janus {" in conf and "location = /janus-ws {" in conf


def test_janus_signed_token_matches_the_documented_scheme():
    # printf %s '1700003600,janus,janus.plugin.videoroom' | openssl dgst -sha1 -hmac key -binary | base64
    token = signed_token("key", ("janus.plugin.videoroom",), 3600, now=1_700_000_000)
    assert token == "1700003600,janus,janus.plugin.videoroom:vBsTSe+6YLXynAHtz2g0K5daj34="
