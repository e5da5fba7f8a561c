"""Settings for inventories/production.example.py."""

sip_domain = "voip.example.net"
system = {"timezone": "Europe/Warsaw"}
