"""The scale lab: every role on two hosts, a PostgreSQL primary and its streaming replica, deployed over SSH
as production is (`rtcstack lab up inventories/scale.py && rtcstack deploy inventories/scale.py`).

The hosts are containers of the same name; rtcstack reaches them with pyinfra's SSH connector and the lab's
own key (`inventories/scale.ssh/id_ed25519`, made by `rtcstack lab up`), never through `docker exec`, and checks
each host's key against `inventories/scale.ssh/known_hosts` (written by every `lab up`).
"""

from pathlib import Path

_ADDRESSES = {
    "scale-db1": "198.18.40.11",  # PostgreSQL primary
    "scale-db2": "198.18.40.12",  # its streaming replica
    "scale-sip1": "198.18.40.21",
    "scale-sip2": "198.18.40.22",
    "scale-media1": "198.18.40.31",
    "scale-media2": "198.18.40.32",
    "scale-turn1": "198.18.40.41",
    "scale-turn2": "198.18.40.42",
    "scale-sfu1": "198.18.40.51",
    "scale-sfu2": "198.18.40.52",
    "scale-web1": "198.18.40.61",
    "scale-web2": "198.18.40.62",  # a second web host: every role of the first
    "scale-load1": "198.18.40.71",  # load generators: Locust workers of `rtcstack load --workers N`
    "scale-load2": "198.18.40.72",
}
_SSH = Path(__file__).resolve().with_name("scale.ssh")


def _host(name):
    return (name, {"ssh_hostname": _ADDRESSES[name], "ssh_user": "root", "ssh_key": str(_SSH / "id_ed25519"),
                   "ssh_known_hosts_file": str(_SSH / "known_hosts"), "ssh_strict_host_key_checking": "yes",
                   "private_address": _ADDRESSES[name]})


database = [_host("scale-db1"), _host("scale-db2")]  # the first is the primary
registrar = [_host("scale-sip1"), _host("scale-sip2")]
media = [_host("scale-media1"), _host("scale-media2")]
voicemail = [_host("scale-media1"), _host("scale-media2")]
turn = [_host("scale-turn1"), _host("scale-turn2")]
sfu = [_host("scale-sfu1"), _host("scale-sfu2")]
relay = [_host("scale-web1"), _host("scale-web2")]
links = [_host("scale-web1"), _host("scale-web2")]
gateway = [_host("scale-web1"), _host("scale-web2")]
portal = [_host("scale-web1"), _host("scale-web2")]
edge = [_host("scale-web1"), _host("scale-web2")]
loadgen = [_host("scale-load1"), _host("scale-load2")]
