"""Settings for inventories/lab.py, the six-host Docker lab."""

sip_domain = "lab.rtcstack.test"
lab = {
    "network": "rtcstack-lab", "subnet": "198.18.10.0/24",
    # Clients behind NAT (the NAT tests): a home router and a carrier-grade NAT, UDP mappings of 30 s.
    "client_networks": [
        {"name": "home", "subnet": "198.18.11.0/24", "router_address": "198.18.10.101", "nat": "cone"},
        {"name": "mobile", "subnet": "198.18.12.0/24", "router_address": "198.18.10.102", "nat": "symmetric"},
    ],
}
# Tests load the registrar from the machine's single address and watch lamps change: allow a higher
# request rate before a ban, and keepalive every 5 s.
# The machine running the lab is also its load generator (`rtcstack load`): it is never banned for
# flooding (the flood test sends from a second address), and the turn_relay scenario's echo peer runs
# on it, so relays may reach it.
# New calls past 480 per second get 503 at once (graceful overload): about 80 % of the highest rate the lab's
# registrar, database and media host complete without failures with no cap on this machine's two cores, the README's
# rule. 2026-12-06 05:05 UTC, accounting written in batches: 600/s (-r 700; speed check 0.5 s, the slowest this VM has
# been); with the cap at 600 (set from 738/s on 2026-12-05, speed check 0.3 s) the benchmark's bursts at twice and
# four times the peak completed 438 and 317 calls/s against a target of 458: the cap must sit under what the hosts
# carry, or the admitted calls overload them. At 650 on 2026-12-05 (about 90 %) the burst at twice the peak completed
# 467 calls/s against 539: shedding half a burst costs CPU the admitted calls then lack.
# 2026-12-06 08:41 UTC, each registrar keeping what a call reads: 614.4/s uncapped in kamailio_reference (785/s in
# a single ladder half an hour before), so 480 stays (78 %); both bursts were met with it.
registrar = {"flood_requests_per_second": 1000, "keepalive_interval_seconds": 5, "flood_exempt": ["198.18.10.1/32"],
             "max_call_attempts_per_second": 480}
# Chromium on the lab's machine gathers a relay candidate on every interface it has (the machine's own, the
# Docker bridges: four or more), so a conference page holds several allocations per connection; a user's
# device has one or two.
turn = {"allowed_peer_addresses": ["198.18.10.1/32"], "user_quota": 60}
# Mail and SMS stay in the lab: Postfix delivers every message, whatever its recipient, into the Maildir
# /var/mail/sink/Maildir/ on the relay host, and an HTTP sink on its private address, port 8025, stands in
# for the SMS gateway (requests recorded in /var/lib/rtcstack-sms-sink/messages.jsonl).
relay = {"catch_all_mailbox": "sink", "sms_sink_port": 8025}
# The machine is the benchmarks' and load tests' client: the edge's per-address rate limits (invite pages,
# redeem) do not apply to it; the rate-limit test sends from a client network instead.
edge = {"rate_limit_exempt": ["198.18.10.1/32"]}
# The SMS sink checks nothing, but records what the gateway adapter sends: basic auth as this user, with the
# generated secret links_sms_gateway_password.
links = {"sms_gateway": {"username": "rtcstack-lab"}}
