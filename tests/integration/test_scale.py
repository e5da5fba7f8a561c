"""Scale-out on the scale lab (inventories/scale.py, deployed over SSH): two registrars sharing registrations
and dialogs (DMQ), calls between phones of different registrars, channel limits across them, keepalives from one
node, a registrar killed under REGISTER load, a media host lost, voicemail hosts, load generators, the streaming standby. Marker `scale` (its own lab: run
with `pytest -m scale`)."""

from __future__ import annotations

import time

import pytest

from rtcstack.protocols.sip.agent import sdp_media
from tests.conftest import deploy, rtcstack
from tests.integration.scale_lab import SCALE_INVENTORY, ScaleLab

pytestmark = [pytest.mark.integration, pytest.mark.scale, pytest.mark.brings_up(SCALE_INVENTORY)]


@pytest.fixture(scope="module")
def scale(lab_runner, tmp_path_factory) -> ScaleLab:
    lab_runner(SCALE_INVENTORY)
    lab = ScaleLab(SCALE_INVENTORY, tmp_path_factory.mktemp("scale"))
    rtcstack("tariffs", "import", SCALE_INVENTORY, "docs/tariffs-sample.csv")
    return lab


def _until(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_the_scale_lab_is_deployed_over_ssh_and_a_second_deploy_changes_nothing(scale, lab_runner):
    assert all(not host.name.startswith("@") and host.data.get("ssh_key") and
               host.data.get("ssh_strict_host_key_checking") == "yes" for host in scale.site.inventory)  # keys checked
    second = deploy(SCALE_INVENTORY, lab_runner.tmp)
    assert second["returncode"] == 0, second["output"][-4000:]
    assert second["changed_count"] == 0, second["changed"]


def test_a_registration_through_one_registrar_is_known_to_the_other(scale):
    account = scale.accounts(scale.customer(), 1)[0]
    with scale.agent_on(0, account) as phone:
        assert phone.register().status == 200
        assert _until(lambda: scale.contacts_on(1, account[0]) == 1), "not replicated to the second registrar"
        assert scale.contacts_on(0, account[0]) == 1


def test_a_call_between_phones_of_different_registrars_carries_rtp_and_leaves_one_cdr(scale):
    caller, callee = scale.accounts(scale.customer(), 2)
    with scale.agent_on(1, callee, rtp_seconds=2) as b, scale.agent_on(0, caller, rtp_seconds=2) as a:
        assert b.register().status == 200 and a.register().status == 200
        assert _until(lambda: scale.contacts_on(0, callee[0]) == 1)
        call = a.call(callee[0])
        assert call.answered, (call.status, call.reason)
        time.sleep(2.5)
        assert sdp_media(b.incoming[0].invite.body)[0] in scale.media_addresses
        caller_rtp, callee_rtp = call.rtp, b.incoming[0].rtp
        assert caller_rtp.received >= 0.95 * callee_rtp.sent and callee_rtp.received >= 0.95 * caller_rtp.sent
        assert {s[0] for s in caller_rtp.sources | callee_rtp.sources} <= scale.media_addresses
        assert call.hangup().status == 200
        # The callee's registrar only delivered the call: one CDR, written by the caller's registrar.
        assert _until(lambda: scale.sql(f"SELECT count(*) FROM cdrs WHERE call_id = '{call.call_id}'") == [["1"]])


def test_the_phones_own_registrar_alone_keeps_it_alive(scale):
    first, second = scale.accounts(scale.customer(), 2)
    interval = scale.deployment.registrar.keepalive_interval_seconds
    with scale.agent_on(0, first) as a, scale.agent_on(1, second) as b:
        assert a.register().status == 200 and b.register().status == 200
        assert _until(lambda: a.options_received >= 2 and b.options_received >= 2, 3 * interval + 5)
        assert a.options_sources == {str(scale.registrars[0].private_address)}
        assert b.options_sources == {str(scale.registrars[1].private_address)}


def test_channel_limits_count_the_calls_of_both_registrars(scale):
    customer = scale.customer(channels=2)
    callers = scale.accounts(customer, 3)
    callees = scale.accounts(scale.customer(channels=5), 3)
    phones = [scale.agent_on(i % 2, account, rtp_seconds=30) for i, account in enumerate(callees)]
    dialers = [scale.agent_on(i % 2, account) for i, account in enumerate(callers)]
    try:
        for phone in phones + dialers:
            assert phone.register().status == 200
        assert _until(lambda: all(scale.contacts_on(i, a[0]) == 1 for a in callees for i in (0, 1)))
        first = dialers[0].call(callees[0][0])   # through the first registrar
        second = dialers[1].call(callees[1][0])  # through the second
        assert first.answered and second.answered, ((first.status, first.reason), (second.status, second.reason))
        third = dialers[2].call(callees[2][0])
        assert third.status == 403 and "Channel limit" in third.reason, (third.status, third.reason)
        first.hangup()
        fourth = dialers[2].call(callees[2][0])
        assert fourth.answered, (fourth.status, fourth.reason)
        fourth.hangup()
        second.hangup()
        assert _until(lambda: scale.sql(f"SELECT count(*) FROM active_calls a JOIN sip_profiles p ON p.id = "
                                        f"a.sip_profile_id JOIN customers c ON c.id = p.customer_id "
                                        f"WHERE c.name = '{customer}'") == [["0"]])  # every claim released
    finally:
        for phone in phones + dialers:
            phone.close()


def test_a_registrar_killed_under_register_load_loses_no_phone(scale):
    """Twelve phones re-register in a loop, eight through the first registrar and four through the second, as
    fast as they are answered. The first registrar is killed (SIGKILL) in the middle and stays down. Each of its
    phones misses one answer, then goes to the other registrar (as DNS SRV makes a phone do) and registers there;
    the other phones notice nothing. Every phone is then reached by a call, and the killed registrar, started
    again, takes every registration back from the other."""
    import threading

    accounts = scale.accounts(scale.customer(channels=5), 12)
    caller = scale.accounts(scale.customer(), 1)[0]
    killed, other = scale.registrars
    stop, kill_done = threading.Event(), threading.Event()
    results = {a[0]: {"ok": 0, "ok_after_kill": 0, "missed": 0, "failed": [], "moved": False} for a in accounts}

    def phone_loop(account: tuple[str, str], index: int) -> None:
        result = results[account[0]]
        phone = scale.agent_on(index, account)
        try:
            while not stop.is_set():
                reply = phone.register(timeout=1)
                if reply is not None and reply.status == 200:
                    result["ok"] += 1
                    result["ok_after_kill"] += kill_done.is_set()
                elif reply is None and index == 0:
                    result["missed"] += 1  # no answer: the next target of the SRV record
                    phone.close()
                    index, result["moved"] = 1, True
                    phone = scale.agent_on(index, account)
                else:
                    result["failed"].append(reply and reply.status)
                time.sleep(0.05)
        finally:
            phone.close()

    threads = [threading.Thread(target=phone_loop, args=(account, 0 if n < 8 else 1))
               for n, account in enumerate(accounts)]
    for thread in threads:
        thread.start()
    try:
        assert _until(lambda: all(r["ok"] >= 3 for r in results.values()), 15), results
        scale.on_host(killed.name, "systemctl kill -s KILL kamailio; systemctl stop kamailio")
        kill_done.set()
        assert _until(lambda: all(r["ok_after_kill"] >= 5 for r in results.values()), 20), results
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    try:
        for name, result in results.items():
            assert result["failed"] == [], (name, result)
        first, second = [a[0] for a in accounts[:8]], [a[0] for a in accounts[8:]]
        assert all(results[n]["moved"] and results[n]["missed"] == 1 for n in first), results
        assert all(not results[n]["moved"] and results[n]["missed"] == 0 for n in second), results
        registrations = sum(r["ok"] for r in results.values())
        # Every account is reached through the survivor (the loops' sockets are closed, so a phone of the same
        # account registers again there and answers; its registration is the newest and rings first).
        with scale.agent_on(1, caller) as dialer:
            assert dialer.register().status == 200
            for account in accounts:
                with scale.agent_on(1, account) as phone:
                    assert phone.register().status == 200
                    call = dialer.call(account[0])
                    assert call.answered, (account[0], call.status, call.reason)
                    call.hangup()
        assert registrations > 12 * 8
    finally:
        # The killed registrar comes back and takes every registration over again from the other (DMQ sync).
        scale.on_host(killed.name, "systemctl start kamailio")
    assert _until(lambda: "active" == scale.on_host(killed.name, "systemctl is-active kamailio || true").strip(), 30)
    assert _until(lambda: all(scale.contacts_on(0, a[0]) >= 1 for a in accounts), 30)


def test_new_calls_go_to_the_other_media_host_when_one_is_down(scale):
    caller, callee = scale.accounts(scale.customer(), 2)
    down, up = scale.deployment.hosts_with("media")
    scale.on_host(down.name, "systemctl stop rtpengine-daemon 2>/dev/null || systemctl stop rtpengine")
    try:
        with scale.agent_on(0, callee, rtp_seconds=1) as b, scale.agent_on(1, caller, rtp_seconds=1) as a:
            assert b.register().status == 200 and a.register().status == 200
            assert _until(lambda: scale.contacts_on(1, callee[0]) == 1)
            for _ in range(4):
                call = a.call(callee[0])
                assert call.answered, (call.status, call.reason)
                assert sdp_media(call.remote_sdp)[0] == str(up.advertised_address)
                time.sleep(1.2)
                assert call.rtp.received > 0
                call.hangup()
    finally:
        scale.on_host(down.name, "systemctl start rtpengine-daemon 2>/dev/null || systemctl start rtpengine")


def test_the_standby_streams_what_the_primary_writes(scale):
    primary, standby = scale.databases
    name = scale.customer()
    query = f"SELECT count(*) FROM customers WHERE name = '{name}'"
    state = scale.on_host(standby.name, "runuser -u postgres -- psql -XAtc 'SELECT pg_is_in_recovery(), status "
                                        "FROM pg_stat_wal_receiver'").strip()
    assert state == "t|streaming", state
    assert _until(lambda: scale.on_host(standby.name, f"runuser -u postgres -- psql -XAt -d "
                                                      f"{scale.deployment.database.name} -c \"{query}\"").strip() == "1")
    # Writes on the standby are refused: it is read-only until promoted.
    refused = scale.on_host(standby.name, f"runuser -u postgres -- psql -XAt -d {scale.deployment.database.name} "
                                          f"-c \"DELETE FROM customers WHERE name = '{name}'\" 2>&1 || true")
    assert "read-only transaction" in refused


def _register(phone, attempts: int = 10) -> int:
    """REGISTER until 200: right after a failover a registrar may answer 503 once while it reconnects."""
    reply = None
    for _ in range(attempts):
        reply = phone.register(timeout=2)
        if reply is not None and reply.status == 200:
            return 200
        time.sleep(0.5)
    return reply.status if reply is not None else 0


def test_after_the_standby_is_promoted_provisioning_registrations_and_cdrs_go_on(scale):
    primary, standby = scale.databases
    call_id = ""
    try:
        promoted = rtcstack("database", "promote", SCALE_INVENTORY, standby.name)
        assert f"fencing {primary.name}" in promoted.stdout and f"{standby.name} is the primary" in promoted.stdout
        status = rtcstack("database", "status", SCALE_INVENTORY).stdout
        assert f"{primary.name:<16} fenced" in status and f"{standby.name:<16} primary" in status
        # The CLI finds the new primary; Kamailio and the web services reconnect to it by themselves.
        caller, callee = scale.accounts(scale.customer(), 2)
        with scale.agent_on(1, callee, rtp_seconds=1) as b, scale.agent_on(0, caller, rtp_seconds=1) as a:
            assert _register(b) == 200 and _register(a) == 200
            assert _until(lambda: scale.contacts_on(0, callee[0]) == 1)
            call = a.call(callee[0])
            call_id = call.call_id
            assert call.answered, (call.status, call.reason)
            call.hangup()
            assert _until(lambda: scale.sql(f"SELECT count(*) FROM cdrs WHERE call_id = '{call_id}'") == [["1"]])
        web = scale.deployment.hosts_with("portal")[0]
        health = scale.on_host(web.name, f"curl -s -m 5 http://{web.private_address}:{scale.deployment.portal.port}/healthz")
        assert '"database":"ok"' in health
    finally:
        # Back to the inventory's layout: the fenced primary streams from the new one, takes over again (a switchover:
        # nothing written is lost), and the other host rejoins it. The next deploy then changes nothing.
        rtcstack("database", "rejoin", SCALE_INVENTORY, primary.name)
        rtcstack("database", "promote", SCALE_INVENTORY, primary.name)
        rtcstack("database", "rejoin", SCALE_INVENTORY, standby.name)
    status = rtcstack("database", "status", SCALE_INVENTORY).stdout
    assert f"{primary.name:<16} primary" in status and f"{standby.name:<16} standby" in status
    # Nothing is left for a deploy to repair (no stale pointer to a primary, no fenced host).
    assert scale.on_host(primary.name, "ls /etc/postgresql/15/main/conf.d/").split() == ["60-rtcstack.conf"]
    assert scale.sql(f"SELECT count(*) FROM cdrs WHERE call_id = '{call_id}'") == [["1"]]  # kept over both moves


def test_a_conference_room_lives_on_one_sfu_host_and_its_page_is_sent_there(scale):
    from rtcstack.protocols.janus import JanusError, JanusHttp
    from tests.integration.links_lab import LinksLab

    links = LinksLab(SCALE_INVENTORY)
    sfus = scale.deployment.hosts_with("sfu")
    placed = {}
    for _ in range(4):  # rooms are numbered in order and placed by number: two links reach both hosts
        phone, _, _ = links.family(contacts=0)
        out = rtcstack("conference-links", "issue", SCALE_INVENTORY, "--video-phone", phone).stdout
        token = out.split("/c/", 1)[1].split()[0]
        joined = links.http("POST", f"/api/v1/conference/{token}/join", {"display": "Tester"}).json()
        placed[joined["room"] % len(sfus)] = joined
        if len(placed) == len(sfus):
            break
    assert len(placed) == len(sfus), placed
    for index, joined in placed.items():
        assert joined["janus"]["path"] == f"/sfu/{index}{scale.deployment.edge.janus_path}"
        for other in range(len(sfus)):
            janus = JanusHttp(f"https://{links.edge.advertised_address}/sfu/{other}{scale.deployment.edge.janus_path}",
                              token=joined["janus"]["token"])
            janus._ssl.check_hostname, janus._ssl.verify_mode = False, 0  # the edge's TLS: test_edge checks it
            try:
                janus.create()
                handle = janus.attach()
                exists = janus.message(handle, {"request": "exists", "room": joined["room"]})
                assert exists["plugindata"]["data"]["exists"] is (other == index), (index, other, exists)
            except JanusError as exc:
                raise AssertionError(f"/sfu/{other}: {exc}") from None
            finally:
                janus.destroy()


def test_one_set_of_turn_credentials_relays_through_every_turn_host(scale):
    import json
    import socket
    import subprocess

    issued = json.loads(rtcstack("turn-credentials", SCALE_INVENTORY, "scale-tester", "--lifetime", "600").stdout)
    server = issued["iceServers"][0]
    turns = scale.deployment.hosts_with("turn")
    port = scale.deployment.turn.listening_port
    for turn in turns:  # the browser gets every TURN host, on the one shared secret
        assert f"turn:{turn.advertised_address}:{port}?transport=udp" in server["urls"]
    machine = str(scale.deployment.lab.subnet.network_address + 1)  # an allowed relay peer (group_data/scale.py)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((machine, 0))
        peer_port = probe.getsockname()[1]
    peer = subprocess.Popen(["turnutils_peer", "-L", machine, "-p", str(peer_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        for turn in turns:
            out = subprocess.run(["turnutils_uclient", "-u", server["username"], "-w", server["credential"], "-e",
                                  machine, "-r", str(peer_port), "-c", "-n", "20", "-m", "1", "-l", "120",
                                  str(turn.advertised_address), "-p", str(port)],
                                 capture_output=True, text=True, timeout=60)
            text = out.stdout + out.stderr
            assert "tot_send_msgs=20, tot_recv_msgs=20" in text, (turn.name, text[-1500:])
    finally:
        peer.terminate()
        peer.wait(timeout=5)


def test_a_rolling_deploy_restarts_the_registrars_one_by_one_without_losing_a_call_or_a_registration(
        scale, lab_runner):
    import threading

    customer = scale.customer(channels=10)
    accounts = scale.accounts(customer, 8)
    pairs = [(accounts[2 * i], accounts[2 * i + 1]) for i in range(4)]
    # The deployed Kamailio config drifted on both registrars (an edit by hand): the deploy puts it back, which
    # restarts Kamailio on each, one at a time.
    for registrar in scale.registrars:
        scale.on_host(registrar.name, "for f in /etc/rtcstack/kamailio/kamailio.cfg /etc/kamailio/kamailio.cfg; do "
                                      "echo '# drift' >> $f; done")
    outcomes = {"calls": 0, "failed_calls": [], "registrations": 0, "failed_registrations": []}
    stop = threading.Event()

    def traffic(index: int, caller: tuple[str, str], callee: tuple[str, str]) -> None:
        with scale.agent_on(index % 2, callee, rtp_seconds=0.5) as b, \
                scale.agent_on((index + 1) % 2, caller, rtp_seconds=0.5) as a:
            for phone in (a, b):
                assert phone.register().status == 200
            assert _until(lambda: scale.contacts_on((index + 1) % 2, callee[0]) == 1)
            while not stop.is_set():
                for phone in (a, b):
                    reply = phone.register(timeout=40)
                    outcomes["registrations"] += 1
                    if reply is None or reply.status != 200:
                        outcomes["failed_registrations"].append((phone.username, reply and reply.status))
                call = a.call(callee[0], timeout=40)
                outcomes["calls"] += 1
                if not call.answered:
                    outcomes["failed_calls"].append((call.status, call.reason, callee[0], time.strftime("%X")))
                    continue
                time.sleep(0.5)
                bye = call.hangup()
                if bye is None or bye.status != 200:
                    outcomes["failed_calls"].append(("BYE", bye and bye.status))

    threads = [threading.Thread(target=traffic, args=(i, *pair)) for i, pair in enumerate(pairs)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    try:
        rolled = deploy(SCALE_INVENTORY, lab_runner.tmp)
    finally:
        time.sleep(3)
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
    assert rolled["returncode"] == 0, rolled["output"][-4000:]
    restarted = [hosts for name, hosts in rolled["changed"].items() if "| Restart Kamailio" in name]
    assert restarted and sorted(restarted[0]) == sorted(h.name for h in scale.registrars), rolled["changed"]
    assert outcomes["calls"] >= 20 and outcomes["registrations"] >= 40, outcomes
    assert outcomes["failed_calls"] == [] and outcomes["failed_registrations"] == [], (
        outcomes, _registrar_logs_on(scale, [failed[2] for failed in outcomes["failed_calls"] if len(failed) > 2]))


def _registrar_logs_on(scale, usernames: list[str]) -> dict[str, str]:
    """What each registrar logged about these accounts in the last minutes: a failure seen once in a long run
    (CI saw one 480 for a callee during a rolling deploy, not reproduced in five runs since) explains itself."""
    if not usernames:
        return {}
    pattern = "|".join(sorted(set(usernames)))
    return {registrar.name: scale.on_host(registrar.name, f"journalctl -u kamailio --no-pager --since -5min "
                                                          f"| grep -iE '{pattern}|stopp|started' | tail -30 || true")
            for registrar in scale.registrars}


def test_a_phone_whose_registration_did_not_replicate_is_still_reached_through_the_location_table(scale):
    caller, callee = scale.accounts(scale.customer(), 2)
    second = scale.registrars[1]
    dmq_port = scale.deployment.registrar.dmq_port
    # Replication to the second registrar is lost (its DMQ port drops everything) while the callee registers.
    scale.on_host(second.name, f"nft add table inet rtcstack_test; nft add chain inet rtcstack_test input "
                               f"'{{ type filter hook input priority -10; }}'; nft add rule inet rtcstack_test input "
                               f"udp dport {dmq_port} drop")
    try:
        with scale.agent_on(0, callee, rtp_seconds=1) as b, scale.agent_on(1, caller, rtp_seconds=1) as a:
            assert b.register().status == 200 and a.register().status == 200
            time.sleep(1)
            assert scale.contacts_on(1, callee[0]) == 0  # not in the second registrar's memory
            call = a.call(callee[0])
            assert call.answered, (call.status, call.reason)
            time.sleep(1.2)
            assert call.rtp.received > 0
            call.hangup()
    finally:
        scale.on_host(second.name, "nft delete table inet rtcstack_test")


def test_load_runs_its_workers_on_the_loadgen_hosts_and_leaves_nothing_there(scale, tmp_path):
    """`rtcstack load --workers 2` with loadgen hosts: one worker on each, calls with RTP through the platform, the
    phones registered from the loadgen hosts' addresses, the workers' journals in the report, and no worker unit
    or context file (secrets) left on the hosts afterwards."""
    import csv
    import json
    import re

    report = tmp_path / "load"
    result = rtcstack("load", "sip_calls", SCALE_INVENTORY, "--users", "4", "--workers", "2", "--duration", "20s",
                      "--set", "call_hold_seconds=3", "--report", str(report), check=False, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 on loadgen hosts" in result.stdout and "scale-load1 (1), scale-load2 (1)" in result.stdout
    with (report / "locust_stats.csv").open() as handle:
        steps = {(r["Type"], r["Name"]): int(r["Request Count"]) for r in csv.DictReader(handle)}
    assert steps[("SIP", "call setup")] > 0 and steps[("RTP", "call media")] > 0
    assert json.loads((report / "summary.json").read_text())["workers"] == 2
    loadgens = {str(h.private_address) for h in scale.deployment.hosts_with("loadgen")}
    contacts = scale.on_host(scale.registrars[0].name, "kamcmd ul.dump")
    assert set(re.findall(r"sip:load-sipcalls-\d+@([\d.]+):", contacts)) == loadgens
    for host, n in (("scale-load1", 0), ("scale-load2", 1)):
        assert "worker" in (report / f"worker-{host}-{n}.log").read_text().lower()
        assert scale.on_host(host, "systemctl list-units --all --no-legend 'rtcstack-load-worker@*'").strip() == ""
        assert scale.on_host(host, "ls -A /run/rtcstack-load").strip() == ""


def test_voicemail_calls_take_the_voicemail_hosts_in_turn_and_skip_one_that_is_down(scale):
    """R14 with two voicemail hosts: Kamailio's dispatcher hands calls to each in turn; with one host's voicemail
    stopped, every call still reaches voicemail (the first within the failover time), the probes take the host
    out, and it is back once it answers again."""
    from tests.integration.test_voicemail import voicemail_on

    customer = scale.customer()
    caller, callee = scale.accounts(customer, 2)
    voicemail_on(scale, customer, callee[0])  # not registered: every call goes straight to voicemail
    hosts = {str(h.private_address): h.name for h in scale.deployment.hosts_with("voicemail")}

    def voicemail_host() -> tuple[str, float]:
        with scale.agent_on(0, caller) as phone:
            started = time.monotonic()
            call = phone.call(callee[0])
            took = time.monotonic() - started
            assert call.answered, (call.status, call.reason)
            call.hangup()
        return call.remote_target.split("@")[1].split(":")[0], took

    def states() -> dict[str, str]:
        listing = scale.on_host(scale.registrars[0].name, "kamcmd dispatcher.list")
        return dict(re.findall(r"URI: sip:([\d.]+):\d+\s+FLAGS: (\w+)", listing))

    import re

    assert {voicemail_host()[0] for _ in range(4)} == set(hosts)
    down, up = sorted(hosts)
    scale.on_host(hosts[down], "systemctl stop rtcstack-voicemail")
    try:
        answered = [voicemail_host() for _ in range(4)]
        assert {address for address, _ in answered} == {up}
        assert max(took for _, took in answered) < 2 + 3, answered  # VOICEMAIL_ANSWER_MS, then the next host
        assert _until(lambda: states()[down].startswith("I"), 15), states()
    finally:
        scale.on_host(hosts[down], "systemctl start rtcstack-voicemail")
    assert _until(lambda: states()[down] == "AP", 15), states()


def test_two_web_hosts_share_sessions_and_links_and_each_edge_survives_the_other_hosts_services_stopping(
        scale, tmp_path):
    """Two web hosts, each an edge in front of both hosts' portal and links services: a portal session made
    through one edge works through the other; with the portal and links services stopped on one host, both edges
    still serve the dashboard and invite pages (from the other host), and a redeem through either works."""
    from tests.integration.links_lab import LinksLab
    from tests.integration.portal_lab import Client, PortalLab

    portal, links = PortalLab(SCALE_INVENTORY, tmp_path), LinksLab(SCALE_INVENTORY)
    edges = scale.deployment.hosts_with("edge")
    assert len(edges) == 2
    customer, _ = portal.customer(accounts=1)
    email = portal.user(customer)
    client = Client(portal)
    assert client.login(email).headers["Location"] == "/dashboard"
    # (the cookie jar keeps cookies per address, and each edge is reached at its own: the cookie goes by hand)
    session = "; ".join(f"{c.name}={c.value}" for c in client.jar)
    portal.edge = edges[1]
    dashboard = client.get("/dashboard", Cookie=session)
    assert dashboard.status == 200 and customer in dashboard.text  # the session made through the other edge
    phone, _, contacts = links.family(contacts=2)
    tokens = [links.issue(phone, contact) for contact in contacts]
    stopped = edges[0].name
    scale.on_host(stopped, "systemctl stop rtcstack-portal rtcstack-links")
    try:
        for n, edge in enumerate(edges):
            portal.edge = links.edge = edge
            assert all(client.get("/dashboard", Cookie=session).status == 200 for _ in range(4)), edge.name
            assert all(links.page(tokens[n]).status == 200 for _ in range(4)), edge.name
            assert links.redeem(tokens[n]).status == 201, edge.name
        links.edge = edges[0]
        assert links.redeem(tokens[1]).status == 410  # spent through the other edge: one database
    finally:
        scale.on_host(stopped, "systemctl start rtcstack-portal rtcstack-links")


def test_a_links_host_that_cannot_reach_its_relay_sends_through_the_other(scale):
    """Two relay hosts: with Postfix stopped on the first and the links service stopped on the second (so the first
    host's outbox sends), an e-mailed invitation still arrives, through the second relay."""
    from tests.integration import mail_lab
    from tests.integration.links_lab import LinksLab

    links = LinksLab(SCALE_INVENTORY)
    first, second = (h.name for h in scale.deployment.hosts_with("relay"))
    phone, _, (jane,) = links.family(contacts=1)
    before = len(mail_lab.mailbox_messages(scale.site, 1))
    scale.on_host(first, "systemctl stop postfix")
    scale.on_host(second, "systemctl stop rtcstack-links")
    try:
        token = links.issue(phone, jane, via="email")
        assert _until(lambda: len(mail_lab.mailbox_messages(scale.site, 1)) > before, 30), "no mail arrived"
        mail = mail_lab.mailbox_messages(scale.site, 1)[-1]
        assert f"/i/{token}" in mail.get_body(("plain",)).get_content()
        assert links.invites(phone)[0]["delivery"] == "sent"
    finally:
        scale.on_host(first, "systemctl start postfix")
        scale.on_host(second, "systemctl start rtcstack-links")
