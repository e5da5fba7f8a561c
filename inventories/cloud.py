"""Every role on one host behind a 1:1 NAT, as in a cloud (`rtcstack lab up inventories/cloud.py`).

The host's private address is on the lab network; clients live on the public network
(group_data/cloud.py: lab.public_network) and reach it only at its public address, which a router
container maps onto the private one for every port.
"""

_AIO = ("@docker/cloud1", {"private_address": "198.18.30.11", "public_address": "198.18.31.11"})

database = [_AIO]
registrar = [_AIO]
media = [_AIO]
turn = [_AIO]
sfu = [_AIO]
relay = [_AIO]
links = [_AIO]
gateway = [_AIO]
portal = [_AIO]
edge = [_AIO]
