"""Settings for inventories/single.py, the all-in-one Docker lab."""

sip_domain = "single.rtcstack.test"
lab = {"network": "rtcstack-single", "subnet": "198.18.20.0/24"}
