"""The relay role's Postfix files, SMS sink and firewall, rendered from the model: no lab needed."""

import ast

import pytest

from rtcstack.config.problems import ConfigError
from rtcstack.firewall import rules_for
from rtcstack.roles import relay
from rtcstack.site import load
from tests.unit.test_templates import FAKE_SECRETS


def _load(project_copy, inventory="inventories/lab.py", **settings):
    if settings:
        data = project_copy / "group_data" / f"{inventory.split('/')[-1]}"
        data.write_text(data.read_text() + f"\nrelay = {settings!r}\n")
    return load(project_copy / inventory, secrets=FAKE_SECRETS)


def _main_cf(deployment, host) -> dict[str, str]:
    text = relay.config_files(deployment, host)["main"].render()
    return dict(line.split(" = ", 1) if " = " in line else (line.rstrip(" ="), "") for line in text.splitlines()
                if line and not line.startswith("#"))


def test_lab_postfix_serves_private_address_and_loopback_and_catches_all_mail(project_copy):
    deployment = _load(project_copy)
    web1 = deployment.hosts["web1"]
    files = relay.config_files(deployment, web1)
    main = _main_cf(deployment, web1)
    assert main["inet_interfaces"] == "198.18.10.16, 127.0.0.1"
    assert main["mynetworks"] == "127.0.0.0/8 198.18.10.16/32"  # web1: the links and portal host
    assert main["smtpd_client_restrictions"] == "permit_mynetworks, reject"
    assert main["smtpd_relay_restrictions"] == "permit_mynetworks, reject_unauth_destination"
    assert main["virtual_alias_maps"] == f"regexp:{relay.CATCH_ALL_MAP}" and main["relayhost"] == ""
    assert main["home_mailbox"] == "Maildir/" and deployment.relay_mailbox == "/var/mail/sink/Maildir/"
    assert "!/^sink@localhost$/\tsink@localhost" in files["catch_all"].render().splitlines()
    # Staged and checked before /etc/postfix; a changed main.cf or master.cf restarts (inet_interfaces needs
    # it), a changed map only reloads.
    assert (files["main"].dest, files["main"].installed) == ("/etc/rtcstack/postfix/main.cf", "/etc/postfix/main.cf")
    assert files["master"].installed == "/etc/postfix/master.cf"
    assert (files["main"].effect, files["master"].effect, files["catch_all"].effect) == (None, None, "reload")
    assert files["master"].render().splitlines()[3].split()[:3] == ["smtp", "inet", "n"]
    assert "PIDFile=/var/spool/postfix/pid/master.pid" in files["dropin"].render()


def test_production_postfix_relays_to_the_smarthost_without_catch_all_or_sink(project_copy):
    deployment = _load(project_copy, "inventories/production.example.py")
    web = deployment.hosts["web1.example.net"]
    files = relay.config_files(deployment, web)
    main = _main_cf(deployment, web)
    assert main["relayhost"] == "[smtp.example.net]:587" and "virtual_alias_maps" not in main
    assert main["myhostname"] == "web1.example.net" and main["inet_interfaces"] == "10.0.0.17, 127.0.0.1"
    assert "catch_all" not in files and deployment.relay_mailbox is None
    assert relay.sms_sink_files(deployment, web) == {}
    assert [lst.key for lst in deployment.listeners(web) if lst.key.startswith("relay.")] == ["relay.smtp_port"]


def test_smtp_on_another_port_changes_master_cf_and_the_firewall(project_copy):
    deployment = _load(project_copy, smtp_port=2525, catch_all_mailbox="sink")
    web1 = deployment.hosts["web1"]
    assert relay.config_files(deployment, web1)["master"].render().splitlines()[3].startswith("2525 ")
    assert [r for r in rules_for(deployment, web1) if r.ports == "2525"]


def test_firewall_admits_smtp_and_the_sink_from_links_and_portal_hosts_only(project_copy):
    deployment = _load(project_copy)
    web1 = deployment.hosts["web1"]
    rules = {r.ports: r for r in rules_for(deployment, web1)}
    assert set(rules["25"].sources) == set(rules["8025"].sources) == {"198.18.10.16"}
    # The other hosts of the lab open neither port.
    assert not [r for r in rules_for(deployment, deployment.hosts["sip1"]) if r.ports in ("25", "8025")]


def test_sms_sink_is_a_standard_library_script_run_by_its_own_account(project_copy):
    deployment = _load(project_copy)
    files = relay.sms_sink_files(deployment, deployment.hosts["web1"])
    script = files["script"].render()
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(script))
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in
                (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])}
    assert imported <= {"json", "os", "sys", "threading", "time", "email", "http", "urllib"}, imported
    assert f'LOG = "{relay.SMS_SINK_LOG}"' in script and f"MAX_BODY = {64 * 1024}" in script
    unit = files["unit"].render()
    assert "ExecStart=/usr/bin/python3 /usr/local/lib/rtcstack/sms_sink.py 198.18.10.16 8025" in unit
    assert "User=rtcstack-sms-sink" in unit and "StateDirectory=rtcstack-sms-sink" in unit


def test_catch_all_with_a_smarthost_is_reported(project_copy):
    with pytest.raises(ConfigError, match="relay.smarthost"):
        _load(project_copy, catch_all_mailbox="sink", smarthost="[smtp.example.net]:587")


@pytest.mark.parametrize("settings", [{"catch_all_mailbox": "Root Box"}, {"smarthost": "smtp.example.net:port"},
                                      {"sms_sink_port": 70000}])
def test_bad_relay_settings_are_refused(project_copy, settings):
    with pytest.raises(ConfigError):
        _load(project_copy, **settings)
