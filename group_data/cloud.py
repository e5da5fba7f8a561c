"""Settings for inventories/cloud.py: the all-in-one lab behind a 1:1 NAT."""

sip_domain = "cloud.rtcstack.test"
lab = {
    "network": "rtcstack-cloud", "subnet": "198.18.30.0/24",
    # Clients (the `outside` client container) live on 198.18.31.0/24 and reach cloud1 at 198.18.31.11 only.
    "public_network": {"subnet": "198.18.31.0/24", "router_address": "198.18.30.100"},
}
# Keepalive every 5 s, as in the other labs; the machine's own lab address is never banned for flooding.
registrar = {"keepalive_interval_seconds": 5, "flood_exempt": ["198.18.30.1/32"]}
# Mail and SMS stay in the lab: Postfix delivers every message, whatever its recipient, into the Maildir
# /var/mail/sink/Maildir/ on the relay host, and an HTTP sink on its private address, port 8025, stands in
# for the SMS gateway (requests recorded in /var/lib/rtcstack-sms-sink/messages.jsonl).
relay = {"catch_all_mailbox": "sink", "sms_sink_port": 8025}
# The machine is the benchmarks' and load tests' client: the edge's per-address rate limits (invite pages,
# redeem) do not apply to it; the rate-limit test sends from a client network instead.
edge = {"rate_limit_exempt": ["198.18.30.1/32"]}
