"""The Docker test lab: six systemd containers on one machine (`rtcstack lab up`).

Each host is a container of the same name on the lab network (group_data/lab.py); the
private address given here is the one the container gets.
"""

_ADDRESSES = {
    "db1": "198.18.10.11",
    "sip1": "198.18.10.12",
    "media1": "198.18.10.13",
    "turn1": "198.18.10.14",
    "sfu1": "198.18.10.15",
    "web1": "198.18.10.16",
}


def _host(name):
    return (f"@docker/{name}", {"private_address": _ADDRESSES[name]})


database = [_host("db1")]
registrar = [_host("sip1")]
media = [_host("media1")]
voicemail = [_host("media1")]
turn = [_host("turn1")]
sfu = [_host("sfu1")]
relay = [_host("web1")]
links = [_host("web1")]
gateway = [_host("web1")]
portal = [_host("web1")]
edge = [_host("web1")]
