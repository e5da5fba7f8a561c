"""Broken inventories and group_data, each refused before any host is touched with one clean problem that
names the key and what to do: a table of the mistakes operators make (and of settings that switch a
protection off without saying so)."""

import hashlib
from pathlib import Path

import pytest

from rtcstack.site import SECRETS, ConfigError, load

SECRETS_OK = {name: hashlib.sha256(name.encode()).hexdigest() for name in SECRETS}

#: (case, what to append to group_data/lab.py, or ("inventory", new text), the key named, words in the problem)
CASES = [
    ("sip_domain missing", "del sip_domain", "sip_domain", "field required"),
    ("sip_domain not a DNS name", 'sip_domain = "Voip"', "sip_domain", "dns name"),
    ("channels a bool", "channels = True", "channels", "valid integer"),
    ("channels a string", 'channels = "300"', "channels", "valid integer"),
    ("channels a float", "channels = 300.0", "channels", "valid integer"),
    ("channels zero", "channels = 0", "channels", "greater than or equal to 1"),
    ("channels over 300", "channels = 301", "channels", "less than or equal to 300"),
    ("headroom negative", "port_headroom_percent = -1", "port_headroom_percent", "greater than or equal"),
    ("port a string", 'registrar = {"sip_port": "5060"}', "registrar.sip_port", "valid integer"),
    ("port out of range", 'registrar = {"sip_port": 70000}', "registrar.sip_port", "less than or equal to 65535"),
    ("workers a bool", 'registrar = {"udp_workers": True}', "registrar.udp_workers", "valid integer"),
    ("expiry bounds crossed", 'registrar = {"min_expires": 600, "max_expires": 300}', "registrar",
     "min_expires must not exceed max_expires"),
    ("lamp thresholds crossed", 'registrar = {"lamp_good_rtt_ms": 700}', "registrar", "lamp_good_rtt_ms"),
    ("emergency number not digits", 'registrar = {"emergency_numbers": ["1a"]}', "registrar.emergency_numbers",
     "short number"),
    ("flood exemption for everyone", 'registrar = {"flood_exempt": ["0.0.0.0/0"]}', "registrar.flood_exempt",
     "switches a protection off"),
    ("flood exemption not a network", 'registrar = {"flood_exempt": ["lab"]}', "registrar.flood_exempt.0",
     "ipv4 network"),
    ("call keepalives faster than Kamailio sends", 'registrar = {"call_keepalive_seconds": 10}',
     "registrar.call_keepalive_seconds", "set 30 or more, or 0"),
    ("country code zero", 'registrar = {"country_code": "0"}', "registrar.country_code", "pattern"),
    ("turn denies nothing", 'turn = {"denied_peer_networks": []}', "turn.denied_peer_networks",
     "switches a protection off"),
    ("turn allows a whole private network", 'turn = {"allowed_peer_addresses": ["10.0.0.0/8"]}',
     "turn.allowed_peer_addresses", "switches a protection off"),
    ("relay range below 1024", 'turn = {"relay_port_min": 80}', "turn.relay_port_min", "greater than or equal to 1024"),
    ("relay range past 65535", 'turn = {"relay_port_min": 65000}', "turn.relay_port_min", "past 65535"),
    ("too few ports per channel", 'media = {"ports_per_channel": 1}', "media.ports_per_channel",
     "greater than or equal to 2"),
    ("two services on one port of a host", 'portal = {"port": 8081}', "portal.port", "overlap"),
    ("janus path without slash", 'edge = {"janus_path": "janus"}', "edge.janus_path", "pattern"),
    ("janus paths equal", 'edge = {"janus_path": "/j", "janus_websocket_path": "/j"}', "edge", "must differ"),
    ("database name with capitals", 'database = {"name": "Rtc-Stack"}', "database.name", "pattern"),
    ("too few database connections", 'database = {"max_connections": 20}', "database.max_connections", "too low"),
    ("unknown time zone", 'system = {"timezone": "Mars/Base"}', "system.timezone", "time zone"),
    ("journald size without unit", 'system = {"journald_max_use": "lots"}', "system.journald_max_use", "size"),
    ("ftp mirror", 'apt = {"mirror": "ftp://deb.example"}', "apt.mirror", "url"),
    ("misspelt top-level key", 'sip_domian = "lab.rtcstack.test"', "sip_domian", "did you mean 'sip_domain'"),
    ("misspelt section key", 'registrar = {"sip_prot": 5060}', "registrar.sip_prot", "remove it"),
    ("lab subnet outside the lab space", 'lab = {"network": "x", "subnet": "10.9.0.0/24"}', "lab.subnet",
     "198.18.0.0/15"),
    ("load setting a string", 'load = {"call_hold_seconds": "10"}', "load.call_hold_seconds", "valid number"),
    ("acknowledging nothing weakenable", 'acknowledged_weakenings = ["turn.listening_port"]',
     "acknowledged_weakenings", "names no setting"),
    ("group_data division by zero", "x = 1 / 0", "inventory", "group_data/lab.py line"),
    ("group_data undefined name", "registrar = {udp_workers: 4}", "inventory", "NameError"),
    ("group_data syntax error", "registrar = {", "inventory", "SyntaxError"),
    ("misspelt role group", ("inventory", 'medai = [_host("media1")]'), "groups.medai", "did you mean 'media'"),
    ("a group that is no role", ("inventory", 'webservers = [_host("web1")]'), "groups.webservers", "not a role"),
    ("no hosts at all", ("replace", '"""Nothing here yet."""\n'), "inventory", "has no hosts"),
    ("inventory undefined name", ("inventory", "edge = [_host(web2)]"), "inventory", "NameError"),
    ("private address not an address", ("replace-address", ("198.18.10.16", "198.18.10.300")),
     "hosts.web1.private_address", "ipv4 address"),
    ("two hosts share an address", ("replace-address", ("198.18.10.16", "198.18.10.15")),
     "hosts.web1.private_address", "same private address"),
    ("address outside the lab subnet", ("replace-address", ("198.18.10.16", "198.18.11.16")),
     "hosts.web1.private_address", "lab subnet"),
    ("missing media role", ("drop", "media = "), "groups.media", "needs a media host"),
    ("public address a bool", ("replace", None), "hosts.web1.public_address", "write the address as text"),
]


def _apply(project: Path, change) -> None:
    group_data = project / "group_data" / "lab.py"
    inventory = project / "inventories" / "lab.py"
    if isinstance(change, str):
        if change.startswith("del "):
            group_data.write_text("\n".join(line for line in group_data.read_text().splitlines()
                                            if not line.startswith(change[4:])) + "\n")
        else:
            group_data.write_text(group_data.read_text() + "\n" + change + "\n")
        return
    kind, value = change
    text = inventory.read_text()
    if kind == "inventory":
        inventory.write_text(text + "\n" + value + "\n")
    elif kind == "replace" and value is not None:
        inventory.write_text(value)
    elif kind == "replace":
        inventory.write_text(text.replace('edge = [_host("web1")]',
                                          'edge = [("@docker/web1", {"private_address": "198.18.10.16", '
                                          '"public_address": True})]'))
    elif kind == "replace-address":
        inventory.write_text(text.replace(f'"web1": "{value[0]}"', f'"web1": "{value[1]}"'))
    elif kind == "drop":
        inventory.write_text("\n".join(line for line in text.splitlines() if not line.startswith(value)) + "\n")


@pytest.mark.parametrize(("change", "key", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_broken_inventory_is_refused_naming_the_key_and_the_fix(project_copy, change, key, words):
    """Each mistake is one problem naming its key, saying what is wrong and how to fix it."""
    _apply(project_copy, change)
    with pytest.raises(ConfigError) as caught:
        load(project_copy / "inventories/lab.py", secrets=SECRETS_OK)
    matching = [p for p in caught.value.problems if p.key == key]
    assert matching, caught.value.render()
    assert any(words.lower() in str(p).lower() for p in matching), caught.value.render()
    assert all(p.fix for p in matching)
    assert "Traceback" not in caught.value.render()


def test_the_table_covers_at_least_forty_mistakes():
    """The issue asks for forty cases at least."""
    assert len(CASES) >= 40


@pytest.mark.parametrize("setting", ['turn = {"denied_peer_networks": []}',
                                     'registrar = {"flood_exempt": ["0.0.0.0/0"]}'])
def test_an_acknowledged_weakening_is_accepted_and_listed(project_copy, setting):
    """Naming the key in acknowledged_weakenings lets the setting through; the deployment still reports it."""
    key = "turn.denied_peer_networks" if "turn" in setting else "registrar.flood_exempt"
    _apply(project_copy, setting)
    _apply(project_copy, f'acknowledged_weakenings = ["{key}"]')
    deployment = load(project_copy / "inventories/lab.py", secrets=SECRETS_OK)
    assert [k for k, *_ in deployment.weakenings()] == [key]
