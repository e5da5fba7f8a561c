"""Settings for inventories/lab.py, the six-host Docker lab."""

sip_domain = "lab.rtcstack.test"
lab = {"network": "rtcstack-lab", "subnet": "198.18.10.0/24"}
