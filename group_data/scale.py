"""Settings for inventories/scale.py, the scale lab (two hosts per role, deployed over SSH)."""

sip_domain = "scale.rtcstack.test"
lab = {"network": "rtcstack-scale", "subnet": "198.18.40.0/24"}
# As in the other labs: the machine running the lab is its load generator and the turn_relay echo peer.
registrar = {"flood_requests_per_second": 1000, "keepalive_interval_seconds": 5, "flood_exempt": ["198.18.40.1/32"]}
turn = {"allowed_peer_addresses": ["198.18.40.1/32"], "user_quota": 60}
relay = {"catch_all_mailbox": "sink", "sms_sink_port": 8025}
edge = {"rate_limit_exempt": ["198.18.40.1/32"]}
links = {"sms_gateway": {"username": "rtcstack-lab"}}
