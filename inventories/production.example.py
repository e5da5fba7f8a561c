"""An example production inventory: real Debian 12 hosts reached over SSH.

Copy it (and group_data/) into your own repository, put your hosts and addresses here, then:
`rtcstack secrets init inventories/production.py && rtcstack deploy inventories/production.py`.
Hosts behind NAT set public_address to the address clients reach; production certificates
are named with tls_certificate_file and tls_key_file (paths on the machine running rtcstack).
"""

_SSH = {"ssh_user": "root"}

# The first database host is the primary, the next a hot standby (streaming replication; see the README's Failover).
database = [("db1.example.net", {**_SSH, "private_address": "10.0.0.11"}),
            ("db2.example.net", {**_SSH, "private_address": "10.0.0.21"})]
# Two registrars form a cluster; publish DNS SRV records for the SIP domain naming both.
registrar = [("sip1.example.net", {**_SSH, "private_address": "10.0.0.12", "public_address": "203.0.113.12"}),
             ("sip2.example.net", {**_SSH, "private_address": "10.0.0.22", "public_address": "203.0.113.22"})]
media = [
    ("media1.example.net", {**_SSH, "private_address": "10.0.0.13", "public_address": "203.0.113.13"}),
    ("media2.example.net", {**_SSH, "private_address": "10.0.0.14", "public_address": "203.0.113.14"}),
]
turn = [
    ("turn1.example.net", {**_SSH, "private_address": "10.0.0.15", "public_address": "203.0.113.15"}),
    ("turn2.example.net", {**_SSH, "private_address": "10.0.0.18", "public_address": "203.0.113.18"}),
]
# Voicemail records on the host's disk: beside the first media host here.
voicemail = [media[0]]
sfu = [("sfu1.example.net", {**_SSH, "private_address": "10.0.0.16", "public_address": "203.0.113.16"})]
_WEB = ("web1.example.net", {**_SSH, "private_address": "10.0.0.17", "public_address": "203.0.113.17"})
relay = [_WEB]
links = [_WEB]
gateway = [_WEB]
portal = [_WEB]
edge = [_WEB]
