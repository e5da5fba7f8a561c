"""The registrar role's kamailio.cfg, rendered from the model: no lab needed."""

from rtcstack.roles import registrar
from rtcstack.site import load
from tests.unit.test_templates import FAKE_SECRETS


def test_kamailio_cfg_carries_the_model(project_copy):
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    files = registrar.config_files(deployment, deployment.hosts["sip1"])
    cfg = files["kamailio.cfg"].render()
    assert "listen=tls:198.18.10.12:5061" in cfg and 'rtpengine_sock", "udp:198.18.10.13:2223"' in cfg
    assert "if ($var(all) > 300)" in cfg and "^(112|997|998|999|911)$" in cfg
    assert "mysql" not in cfg.lower() and FAKE_SECRETS["database_registrar_password"] not in cfg
    secrets_file = files["rtcstack-secrets.cfg"]
    assert FAKE_SECRETS["database_registrar_password"] in secrets_file.render()
    assert (secrets_file.mode, secrets_file.group) == ("640", "kamailio")


def test_each_udp_socket_may_buffer_as_much_as_the_host_allows(project_copy):
    """Kamailio's own ceiling for a socket's receive buffer (256 KiB) dropped datagrams in bursts: its ceiling is
    the host's net.core.rmem_max as the deploy sizes it from the channels (4 MiB, or 64 KiB a channel above that)."""
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    cfg = registrar.config_files(deployment, deployment.hosts["sip1"])["kamailio.cfg"].render()
    assert "\nmaxbuffer=19660800\n" in cfg  # 300 channels
    assert deployment.sysctls(deployment.hosts["sip1"])["net.core.rmem_max"] == 19660800
    few = deployment.model_copy(update={"channels": 10})
    assert "\nmaxbuffer=4194304\n" in registrar.config_files(few, few.hosts["sip1"])["kamailio.cfg"].render()
    many = deployment.model_copy(update={"channels": 1000})
    assert "\nmaxbuffer=65536000\n" in registrar.config_files(many, many.hosts["sip1"])["kamailio.cfg"].render()


def test_our_hosts_and_the_exempt_networks_are_matched_by_source_address_tests_parsed_once(project_copy):
    """Whether a request comes from our own hosts or an exempt network (no flood check) is asked of every request:
    for IPv4 the core's `src_ip` comparisons, which Kamailio parses with the config, not ipops' is_in_subnet(), which
    parses its list of networks again each time (issue 21); a host as its address, a network with its prefix; IPv6
    networks still through is_in_subnet(). The same for the portal hosts on the JSON-RPC port."""
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    cfg = registrar.config_files(deployment, deployment.hosts["sip1"])["kamailio.cfg"].render()
    trusted = registrar.source_in(registrar.trusted_networks(deployment))
    assert trusted.startswith("(src_ip == 198.18.10.11 || src_ip == 198.18.10.12 || ") and trusted.endswith(
        "src_ip == 198.18.10.1)")
    assert f"route[REQINIT] {{\n\tif (!{trusted}) {{" in cfg and f"\tif ({trusted}) {{" in cfg
    assert "is_in_subnet(" not in cfg and "if ($Rp != 5080 || !(src_ip == 198.18.10.16)) {" in cfg  # (the RPC port's)
    assert registrar.source_in(["10.0.0.0/8", "2001:db8::/32", "2001:db8::7/128", "192.0.2.9/32"]) == (
        '(src_ip == 10.0.0.0/8 || src_ip == 192.0.2.9 || is_in_subnet("$si", "2001:db8::/32,2001:db8::7/128"))')
    scale = load(project_copy / "inventories/scale.py", secrets=FAKE_SECRETS)
    first = scale.hosts_with("registrar")[0]
    peer_cfg = registrar.config_files(scale, first)["kamailio.cfg"].render()
    assert 'is_method("KDMQ") && (src_ip == 198.18.40.22)' in peer_cfg and "is_in_subnet(" not in peer_cfg


def test_registrars_of_a_cluster_replicate_registrations_and_claim_channels_in_the_database(project_copy):
    from rtcstack.roles.registrar import config_files as registrar_files, listeners
    from rtcstack.site import load
    from tests.unit.test_templates import FAKE_SECRETS

    deployment = load(project_copy / "inventories/scale.py", secrets=FAKE_SECRETS)
    first, second = deployment.hosts_with("registrar")
    cfg = registrar_files(deployment, first)["kamailio.cfg"].render()
    assert 'modparam("dmq", "notification_address", "sip:198.18.40.22:5090")' in cfg
    assert "server_id=1" in cfg and 'modparam("usrloc", "ka_filter", 1)' in cfg
    assert "claim_channel(" in cfg and "release_channel(" in cfg and 'set_dlg_profile("sip_profile"' not in cfg
    assert "server_id=2" in registrar_files(deployment, second)["kamailio.cfg"].render()
    dmq = [l for l in listeners(deployment, first) if l.service == "dmq"]
    assert [str(a) for a in dmq[0].sources] == ["198.18.40.22"]  # the other registrars only
    single = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    alone = registrar_files(single, single.hosts_with("registrar")[0])["kamailio.cfg"].render()
    assert "dmq" not in alone and 'set_dlg_profile("sip_profile"' in alone and "claim_channel" not in alone


def test_new_calls_and_registrations_are_shed_with_retry_after_before_memory_or_ports_run_out(project_copy):
    """Graceful overload: 503 with Retry-After from route(OVERLOAD), ahead of authentication, when shared memory
    is 80 % used; a rate cap only when registrar.max_call_attempts_per_second is set;
    a media host that did not answer is out for 2 s, not rtpengine's minute."""
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    cfg = registrar.config_files(deployment, deployment.hosts["sip1"])["kamailio.cfg"].render()
    shm = (64 + 320 + deployment.channels // 2) * 1024 * 1024 * 80 // 100  # base, REGISTER burst, channels
    assert f"if ($stat(real_used_size) > {shm})" in cfg and "if ($var(all) > 300)" in cfg  # (route(LIMITS))
    assert cfg.index("route(OVERLOAD);") < cfg.index("route(REGISTRAR);") < cfg.index("route(CALL);")
    assert 'append_to_reply("Retry-After: 5\\r\\n");' in cfg.split("route[SHED]")[1].split("}")[0]
    assert 'modparam("rtpengine", "rtpengine_disable_tout", 2)' in cfg
    # R4 under overload: a call no media host takes is refused (503, Retry-After), never relayed unanchored
    relay = cfg.split("route[RING_RELAY]")[1].split("t_relay()")[0]
    assert 'if (!rtpengine_manage("replace-origin replace-session-connection"))' in relay and "503" in relay

    def capped(rate: int) -> str:
        model = deployment.model_copy(update={"registrar": deployment.registrar.model_copy(
            update={"max_call_attempts_per_second": rate})})
        return registrar.config_files(model, model.hosts["sip1"])["kamailio.cfg"].render()
    assert "pipelimit" not in capped(0)
    cfg = capped(250)
    assert 'loadmodule "pipelimit.so"' in cfg and 'pl_check("calls", "TAILDROP", 250)' in cfg
    # TAILDROP needs no load: pipelimit's timer reads no /proc files
    assert 'modparam("pipelimit", "load_fetch", 0)' in cfg and "FEEDBACK" not in cfg and "NETWORK" not in cfg
    # a call counts once: its first INVITE in "calls", the INVITE with credentials apart (room for a second's lag)
    assert cfg.index('is_present_hf("Proxy-Authorization")') < cfg.index('pl_check("calls"') \
        < cfg.index('pl_check("authorised", "TAILDROP", 500)')


def test_a_call_reads_its_credentials_limits_and_plan_in_one_query_each_column_where_the_function_puts_it(project_copy):
    """An INVITE with credentials asks the database once (migration 0019: the current call_generation, and
    call_start_row() unless the answer kept for this caller and dialled name carries it), with a username provisioning
    would accept (nothing else reaches SQL); the registrar checks the digest itself with the HA1 returned, reads each
    of the caller's limits and the plan from the field call_start_row() puts call_start()'s column in, and keeps an
    answer only once the password proved right, for a call to one of our accounts or groups."""
    import re
    from importlib import import_module

    from rtcstack.domain.names import DIALLED, USERNAME

    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    cfg = registrar.config_files(deployment, deployment.hosts["sip1"])["kamailio.cfg"].render()
    assert "auth_db" not in cfg and "proxy_authorize" not in cfg and "www_authorize" not in cfg
    call = cfg[cfg.index("route[CALL] {"):]
    assert call.index('is_present_hf("Proxy-Authorization")') < call.index("route(CALLER)") \
        < call.index('pv_proxy_authenticate("SIP_DOMAIN", "$avp(ha1)", "1")') < call.index("route(AUTHERROR)") \
        < call.index("route(CHALLENGE)") < call.index("$au != $fU") \
        < call.index('if ($var(caller_row) != "" && $var(local) == 1) {\n\t\t$sht(calls=>$var(call_key)) = ')
    assert "sql_query" not in call.split("route[CALLER] {")[0].split("route(NUMBER)")[0]  # one query before it
    caller = cfg[cfg.index("route[CALLER] {"):]
    caller = caller[:caller.index("\n}\n")]
    assert caller.count("sql_query(") == 1
    assert caller.index(f'$au =~ "{USERNAME.chars}"') < caller.index("call_start_row('$au', '$var(dialled)')")
    assert "WHEN generation = $var(kept) THEN NULL ELSE call_start_row(" in caller
    # a destination that is no name asks for no plan, and route[CALL] refuses it by what route[CALLER] left
    assert caller.index('$var(dialled) = "";') < caller.index(f'$rU =~ "{DIALLED.chars}"') \
        < caller.index("call_start_row(")
    assert cfg.count(DIALLED.chars) == 1 and cfg.count(USERNAME.chars) == 2  # CALLER and REGISTRANT_HA1
    # each rule's characters, then its length, apart (rtcstack.domain.names: glibc's regexec is slow on {0,63})
    assert cfg.count(f'!($au =~ "{USERNAME.chars}") || $(au{{s.len}}) > {USERNAME.longest})') == 2
    assert f'$rU =~ "{DIALLED.chars}" && $(rU{{s.len}}) <= {DIALLED.longest})' in caller
    assert not re.search(r"=~ \"[^\"]*\{[0-9]+,[0-9]+\}[^\"]*\$\"", caller)  # no bounded repetition left
    assert call.index("route(CALLER)") < call.index('if ($var(dialled) == "") {\n\t\t$var(code) = 404;')
    start = import_module("rtcstack.db.migrations.versions.0014_call_start")
    cache = import_module("rtcstack.db.migrations.versions.0019_call_start_cache")
    costs = import_module("rtcstack.db.migrations.versions.0020_call_costs")
    columns = re.findall(r"OUT (\w+)", start.CALL_START)
    packed = ["generation", "until"] + re.findall(r"\bs\.(\w+)", costs.ROW.split("concat_ws")[1].split("END,")[1])
    assert packed[2:] == columns  # every column of call_start(), in order
    assert costs.ROW.split("END,")[1] == cache.ROW.split("::bigint,")[1]  # as 0019 packed them
    number = cfg[cfg.index("route[NUMBER] {"):]
    number = number[:number.index("\n}\n")]
    read, field = {}, None
    # (a call to a number reads the caller's money and switches from the same row, in route[NUMBER])
    for line in caller.splitlines() + number.split("$var(e164)")[0].splitlines():
        if m := re.search(r"\$var\(field\) = \$\(var\(row\)\{s\.select,(\d+),\|\}\)", line):
            field = int(m[1])
        elif m := re.search(r"\$(?:avp|var)\((\w+)\) = \$\(var\(row\)\{s\.select,(\d+),\|\}", line):
            read[m[1]] = int(m[2])
        elif m := re.search(r"\$(?:avp|var)\((\w+)\) = \$\(?var\(field\)", line):
            read[m[1]] = field
    expected = {"ha1": "ha1", "account": "account_id", "customer": "customer_id", "cust_intl": "customer_international",
                "acct_intl": "account_international", "max_rate": "max_rate_units", "channels": "channels",
                "profile": "profile_id", "funded": "funded", "lapsed": "lapsed", "local": "local",
                "in_scope": "in_scope", "ring_plan": "plan", "display": "display", "ring_steps": "steps"}
    assert read.pop("kept") == 0  # the generation the kept answer carries
    assert {name: packed[i] for name, i in read.items()} == expected
    assert "$var(display) = $(var(row){s.select,15,|}{s.decode.hexa})" in caller  # any text: hex
    # call_start() and call_start_row() read as their owner and return any account's HA1: the registrars' login may
    # run call_start_row() only (0020 took back call_start(), unused since 0019).
    assert not any("sip_subscribers" in grant or "call_start(" in grant for grant in registrar.LOGIN.grants)
    assert "GRANT EXECUTE ON FUNCTION call_start_row(text, text) TO kamailio" in registrar.LOGIN.grants
    assert "REVOKE EXECUTE ON FUNCTION call_start(text, text) FROM PUBLIC" in open(start.__file__).read()
    assert "REVOKE EXECUTE ON FUNCTION call_start_row(text, text) FROM PUBLIC" in open(cache.__file__).read()
    assert "REVOKE EXECUTE ON FUNCTION call_start(text, text) FROM kamailio" in open(costs.__file__).read()


def test_registrations_read_a_password_once_and_forget_it_when_the_database_notes_a_change(project_copy):
    """REGISTER's HA1 is read once through registrant_ha1() (a username provisioning would accept, nothing else
    reaches SQL) and kept in a hash table; every second the registrar forgets the accounts registrant_changes
    noted, or all of them if it cannot read the changes. The database notes every change that matters to who may
    register, from any writer."""
    import re
    from importlib import import_module

    from rtcstack.domain.names import USERNAME

    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    cfg = registrar.config_files(deployment, deployment.hosts["sip1"])["kamailio.cfg"].render()
    assert 'loadmodule "rtimer.so"' in cfg and "route=REGISTRANT_CHANGES" in cfg
    assert f"registrants=>size=14;autoexpire={deployment.registrar.password_cache_seconds};" in cfg
    lookup = cfg[cfg.index("route[REGISTRANT_HA1] {"):cfg.index("route[REGISTRANT_CHANGES] {")]
    assert lookup.index("$sht(registrants=>$au)") < lookup.index(f'$au =~ "{USERNAME.chars}"') \
        < lookup.index("SELECT registrant_ha1('$au')")
    changes = cfg[cfg.index("route[REGISTRANT_CHANGES] {"):]
    assert 'sht_reset("registrants")' in changes.split("$var(i) = 0;")[0]  # the changes could not be read
    assert "$sht(registrants=>$var(user)) = $null;" in changes
    register = cfg[cfg.index("route[REGISTRAR] {"):]
    assert register.index("route(REGISTRANT_HA1)") < register.index('pv_www_authenticate("SIP_DOMAIN", "$avp(ha1)", "1")')
    assert any("registrant_changes" in grant for grant in registrar.LOGIN.grants)
    migration = import_module("rtcstack.db.migrations.versions.0013_registrant_changes")
    upgrade = migration.NOTE + " ".join(re.findall(r'"([^"]*)"', open(migration.__file__).read()))
    for column in ("username", "ha1", "enabled", "customer_id"):
        assert column in upgrade.split("AFTER UPDATE OF")[1].split("ON sip_accounts")[0]
    assert "OR DELETE ON sip_accounts" in upgrade and "AFTER UPDATE OF enabled ON customers" in upgrade
    # Both reads of the changes by time go through the index on changed_at (0021): a STABLE clock, not the VOLATILE
    # clock_timestamp() no index condition takes.
    indexed = import_module("rtcstack.db.migrations.versions.0021_registrant_changes_indexed")
    assert "WHERE changed_at > statement_timestamp() - interval '30 seconds'" in changes
    pruning = indexed.note("statement_timestamp")
    assert pruning.startswith("\nCREATE OR REPLACE FUNCTION note_registrant_change()")
    assert "changed_at < statement_timestamp() - interval '1 day'" in pruning and "clock_timestamp" not in pruning
    assert pruning.replace("statement_timestamp", "clock_timestamp").replace(" OR REPLACE", "") == migration.NOTE


def test_kamailio_runs_with_tlsf_memory_and_debians_own_command_line(project_copy):
    """The unit's drop-in replaces ExecStart with Debian's command line plus `-x tlsf` (TLSF for shared and private
    memory: the default allocator was 11.7 % of Kamailio's CPU under calls), and keeps the memory sizes the role
    writes to /etc/default/kamailio."""
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    files = registrar.config_files(deployment, deployment.hosts["sip1"])
    dropin = files["dropin"].render()
    starts = [line for line in dropin.splitlines() if line.startswith("ExecStart=")]
    assert starts == ["ExecStart=", "ExecStart=/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f $CFGFILE "
                      "-m $SHM_MEMORY -M $PKG_MEMORY -x tlsf"]
    defaults = files["defaults"].render()
    assert "SHM_MEMORY=" in defaults and "PKG_MEMORY=" in defaults


def test_answers_and_ends_are_queued_and_written_a_hundred_rows_to_a_statement_every_text_as_hex(project_copy):
    """A call's accounting rows (its answer, its end, an end the registrar made) go to an in-memory queue that one
    timer process writes every 100 ms, up to 100 rows to an INSERT, instead of an INSERT and a commit per row (issue
    21: 1.1 ms of the database's CPU per call); the acc table gets no row any other way, and the CDR trigger runs once
    per statement. Every text of a row is sent as hex and read back by acc_text(): nothing a phone sends reaches SQL
    as written."""
    import re
    from importlib import import_module

    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    cfg = registrar.config_files(deployment, deployment.hosts["sip1"])["kamailio.cfg"].render()
    assert 'loadmodule "mqueue.so"' in cfg and 'modparam("mqueue", "mqueue", "name=acc")' in cfg
    assert "name=acc;interval=100000u;mode=1;" in cfg and "timer=acc;route=ACC_FLUSH" in cfg
    assert 'modparam("acc", "db_flag"' not in cfg and "FLT_ACC)" not in cfg  # (acc writes missed calls only)
    assert cfg.count("INSERT INTO acc") == 1 and "INSERT INTO acc" in cfg[cfg.index("route[ACC_WRITE] {"):]
    answer = cfg[cfg.index("onreply_route[MEDIA_REPLY] {"):]
    assert answer.index('$var(acc_method) = "INVITE";') < answer.index("route(ACC_ROW);") < answer.index("}\n}")
    bye = cfg[cfg.index('if (is_method("BYE")) {', cfg.index("route[WITHINDLG] {")):]
    assert bye.index('t_on_reply("BYE_REPLY");') < bye.index("route(RELAY);")
    assert 't_on_failure("BYE_FAILED");' in bye.split("route(RELAY);")[0]
    ended = cfg[cfg.index("route[ACCOUNT_REGISTRAR_END] {"):cfg.index("onreply_route[BYE_REPLY] {")]
    assert '$var(acc_method) = "END";' in ended and "route(ACC_ROW);" in ended
    row = cfg[cfg.index("route[ACC_ROW] {"):cfg.index("route[ACC_TEXT] {")]
    values = re.findall(r"\$avp\(acc_v\) = ([^;]+); route\(ACC_TEXT\);", row)
    # What a phone sends (tags, Call-ID, reasons, a BYE's From) is cut to 255 characters by route[ACC_TEXT]: an
    # answer's 4, a BYE's 5 (its tags either way), an end's 3 (the dialog's tags and Call-ID).
    assert len(values) == 4 + 7 + 3 and "sql.val" not in row
    assert sorted(set(values)) == sorted({"$ft", "$tt", "$ci", "$rr", "$var(acc_reason)", "$fU", "$dlg(from_tag)",
                                          "$dlg(to_tag)", "$dlg(callid)"})
    # The rest is inlined, each as hex too: what route[CALL] checked (names, E.164) or the registrar's own; and what a
    # phone sent, in one step where each of an answer's or a BYE's texts is 255 characters or fewer (issue 21).
    transformed = re.compile(r"\$\((\w+(?:\([^)]*\))?)((?:\{[^}]*\})*)\)")  # $(field{t}...{t}): field, chain
    hexed = transformed.findall(row)
    inlined = [(field, chain) for field, chain in hexed if chain != "{s.len}"]
    assert sorted(set(field for field, _ in inlined)) == sorted({
        "rs", "fU", "avp(dialled)", "avp(destination)", "avp(customer)", "avp(account)", "avp(start)", "avp(price)",
        "var(acc_code)", "var(reason)", "dlg(from_uri)", "ft", "tt", "ci", "rr", "var(acc_reason)"})
    assert all(chain.endswith("{s.encode.hexa}") for _, chain in inlined), inlined
    texts = {"ft", "tt", "ci", "rr", "var(acc_reason)"}
    for kind, guarded in (("INVITE", {"ft", "tt", "ci", "rr"}), ("BYE", {"ft", "tt", "ci", "var(acc_reason)", "fU"})):
        block = row[row.index(f'"{kind}\', \'"'):]
        block = block[block.index("if ($(ft{s.len})"):]
        guard, block = block[:block.index(") {")], block[block.index(") {"):block.index("} else {")]
        assert {field for field, chain in hexed if chain == "{s.len}" and f"$({field}{{s.len}}) <= 255" in guard} \
            == guarded, (kind, guard)
        assert {field for field, _ in transformed.findall(block)} & texts <= guarded, (kind, block)
    text = cfg[cfg.index("route[ACC_TEXT] {"):cfg.index("route[ACC_FLUSH] {")]
    assert "$(var(acc_t){s.encode.hexa})" in text and "$(var(acc_t){s.substr,0,255})" in text
    flush = cfg[cfg.index("route[ACC_FLUSH] {"):cfg.index("route[ACC_WRITE] {")]
    assert "$var(acc_n) == 100 || $(var(acc_rows){s.len}) > 48000" in flush and "$mq_size(acc)" in flush
    assert "max_while_loops=5000" in cfg  # (Kamailio's 100 let the flush take 100 rows a round: 500 calls/s at most)
    write = cfg[cfg.index("route[ACC_WRITE] {"):]
    assert write.count("acc_text(") == 12 and 'mq_add("acc", "$var(acc_tries)", "$var(acc_rows)")' in write
    assert "if (sql_query(" not in write and write.index("$var(acc_rc) = $rc;") < write.index("mq_add(")
    migration = import_module("rtcstack.db.migrations.versions.0018_acc_batches")
    assert "REFERENCING NEW TABLE AS added" in open(migration.__file__).read()
    assert "FOR EACH STATEMENT EXECUTE FUNCTION cdrs_from_acc()" in open(migration.__file__).read()


def test_a_password_lookup_cut_short_answers_503_and_never_the_last_requests_result(project_copy):
    """$var keeps its value from a process's last request: the registrar sets the outcome of a REGISTER's and a
    call's credential check to -1 (503, route[AUTHERROR]) before looking the password up, so a lookup that ends early
    can never leave the last request's success in place; and no query is an if's condition (a failed one ended the
    route there, before its error branch: found with the accounting writes)."""
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    cfg = registrar.config_files(deployment, deployment.hosts["sip1"])["kamailio.cfg"].render()
    assert "if (sql_query(" not in cfg and "if (!sql_query(" not in cfg
    for route, lookup in (("route[REGISTRAR] {", "route(REGISTRANT_HA1);"), ("route[CALL] {", "route(CALLER);")):
        body = cfg[cfg.index(route):]
        assert body.index("$var(auth) = -1;") < body.index(lookup) < body.index("route(AUTHERROR);")
    for route in ("route[REGISTRANT_HA1] {", "route[CALLER] {"):
        body = cfg[cfg.index(route):]
        query = body.index('sql_query("ca", "SELECT ')
        assert body.index("if ($rc < 0) {", query) < body.index("$var(auth) = -1;", query) < body.index("}\n}", query)


def test_the_registrars_rpc_admits_the_portals_three_calls_and_no_password_hash_table(project_copy):
    """The JSON-RPC the portal reaches (lamps, flood bans) admits exactly the bodies rtcstack.web.registrars writes
    for ul.lookup and for the ipban table; a dump of the tables that hold password hashes (registrants, calls) or of
    anything else, another method, or a second method hidden in the body is refused before dispatch."""
    import json
    import re

    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    cfg = registrar.config_files(deployment, deployment.hosts["sip1"])["kamailio.cfg"].render()
    literal = re.search(r'if \(!\(\$rb =~ "(.*)"\)\) \{\n\t\txhttp_reply\("403"', cfg)[1]
    # Kamailio's string escapes, then POSIX's bracketed literals ([[], []], a backslash in brackets) as Python's re
    # spells them
    pattern = re.compile(literal.replace('\\"', '"').replace("\\\\", "\\").replace('[^"\\]', '[^"\\\\]')
                         .replace("[[]", "\\[").replace("[]]", "\\]"))

    def body(method: str, *params: str) -> str:  # as rtcstack.web.registrars._call writes it
        return json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1})

    for admitted in (body("ul.lookup", "location", "alice@example.net"), body("htable.dump", "ipban"),
                     body("htable.delete", "ipban", "192.0.2.7")):
        assert pattern.search(admitted), admitted
    for refused in (body("htable.dump", "registrants"), body("htable.dump", "calls"),
                    body("htable.delete", "registrants", "alice"), body("htable.dump", "ipban", "x"),
                    body("htable.get", "calls", "a/b"), body("core.kill"),
                    body("ul.lookup", "location") + '"method": "core.kill"'):
        assert not pattern.search(refused), refused
