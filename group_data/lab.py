"""Settings for inventories/lab.py, the six-host Docker lab."""

sip_domain = "lab.rtcstack.test"
lab = {"network": "rtcstack-lab", "subnet": "198.18.10.0/24"}
# Tests load the registrar from the machine's single address and watch lamps change: allow a higher
# request rate before a ban, and keepalive every 5 s.
registrar = {"flood_requests_per_second": 1000, "keepalive_interval_seconds": 5}
