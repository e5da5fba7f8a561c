"""Settings for inventories/single.py, the all-in-one Docker lab."""

sip_domain = "single.rtcstack.test"
lab = {"network": "rtcstack-single", "subnet": "198.18.20.0/24"}
# Tests load the registrar from the machine's single address and watch lamps change: allow a higher
# request rate before a ban, and keepalive every 5 s.
# The machine running the lab is also its load generator (`rtcstack load`): it is never banned for
# flooding (the flood test sends from a second address), and the turn_relay scenario's echo peer runs
# on it, so relays may reach it.
registrar = {"flood_requests_per_second": 1000, "keepalive_interval_seconds": 5, "flood_exempt": ["198.18.20.1/32"]}
# Chromium on the lab's machine gathers a relay candidate on every interface it has (the machine's own, the
# Docker bridges: four or more), so a conference page holds several allocations per connection; a user's
# device has one or two.
turn = {"allowed_peer_addresses": ["198.18.20.1/32"], "user_quota": 60}
# Mail and SMS stay in the lab: Postfix delivers every message, whatever its recipient, into the Maildir
# /var/mail/sink/Maildir/ on the relay host, and an HTTP sink on its private address, port 8025, stands in
# for the SMS gateway (requests recorded in /var/lib/rtcstack-sms-sink/messages.jsonl).
relay = {"catch_all_mailbox": "sink", "sms_sink_port": 8025}
# The machine is the benchmarks' and load tests' client: the edge's per-address rate limits (invite pages,
# redeem) do not apply to it; the rate-limit test sends from a client network instead.
edge = {"rate_limit_exempt": ["198.18.20.1/32"]}
