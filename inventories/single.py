"""Every role on one host: the all-in-one lab (`rtcstack lab up inventories/single.py`)."""

_AIO = ("@docker/aio1", {"private_address": "198.18.20.11"})

database = [_AIO]
registrar = [_AIO]
media = [_AIO]
voicemail = [_AIO]
turn = [_AIO]
sfu = [_AIO]
relay = [_AIO]
links = [_AIO]
gateway = [_AIO]
portal = [_AIO]
edge = [_AIO]
