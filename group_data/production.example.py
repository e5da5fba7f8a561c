"""Settings for inventories/production.example.py."""

sip_domain = "voip.example.net"
system = {"timezone": "Europe/Warsaw"}
# The platform's mail (invitations, portal notices) leaves through your provider's relay, which admits
# the relay host by its address.
relay = {"smarthost": "[smtp.example.net]:587"}
