"""Role templates, schema rendering, SCRAM verifiers, provisioning rules and the SIP codec: no lab needed."""

import base64
import hashlib
import hmac

import pytest

from rtcstack.site import ConfigError, load
from rtcstack.db import migrate
from rtcstack.db.logins import scram_verifier
from rtcstack.roles import database, edge, media, registrar, sfu, turn
from rtcstack.templating import MANAGED
from rtcstack.domain.provisioning import ProvisioningError, channels_for_purchase, ha1
from rtcstack.protocols.sip import digest
from rtcstack.protocols.sip.message import SipParseError, parse
from rtcstack.domain.status import lamp_for, parse_kamcmd
from tests.conftest import SHIPPED_INVENTORIES
from tests.unit.test_templates import FAKE_SECRETS

ROLE_FILES = {"database": database.config_files, "registrar": registrar.config_files, "media": media.config_files,
              "turn": turn.config_files, "sfu": sfu.config_files, "edge": edge.config_files}


@pytest.mark.parametrize("inventory", SHIPPED_INVENTORIES)
def test_role_templates_render_for_every_shipped_inventory(project_copy, inventory):
    deployment = load(project_copy / inventory, secrets=FAKE_SECRETS)
    for host in deployment.hosts.values():
        for role, files in ROLE_FILES.items():
            if role in host.roles:
                for item in files(deployment, host).values():
                    assert MANAGED in "\n".join(item.render().splitlines()[:3]), item.template


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


def test_rtpengine_range_is_sized_from_channels(project_copy):
    with open(project_copy / "group_data/lab.py", "a") as handle:
        handle.write("channels = 40\n")
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    conf = media.config_files(deployment, deployment.hosts["media1"])["rtpengine"].render()
    assert "port-min = 30000" in conf and "port-max = 30199" in conf  # 40 x 4 x 1.25 ports
    assert "table = -1" in conf and "listen-ng = 198.18.10.13:2223" in conf


def test_pg_hba_admits_each_login_only_from_its_hosts(project_copy):
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    hba = database.config_files(deployment, deployment.hosts["db1"])["hba"].render()
    assert "host  rtcstack  kamailio  198.18.10.12/32  scram-sha-256" in hba
    assert "hostssl  rtcstack  rtcstack_portal  198.18.10.16/32  scram-sha-256" in hba
    assert "trust" not in hba and "0.0.0.0" not in hba


def test_more_than_one_database_host_is_refused(project_copy):
    inventory = project_copy / "inventories/lab.py"
    inventory.write_text(inventory.read_text().replace(
        'database = [_host("db1")]', 'database = [_host("db1"), ("@docker/db2", {"private_address": "198.18.10.21"})]'))
    with pytest.raises(ConfigError, match="more than one database host"):
        load(inventory, secrets=FAKE_SECRETS)


def test_scram_verifier_is_deterministic_and_checks_like_postgresql():
    verifier = scram_verifier("correct horse battery staple", "kamailio")
    assert verifier == scram_verifier("correct horse battery staple", "kamailio")
    assert verifier != scram_verifier("another password entirely!", "kamailio")
    head, keys = verifier.split("$", 1)[1].split("$")
    iterations, salt = head.split(":")
    stored, server = keys.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", b"correct horse battery staple", base64.b64decode(salt), int(iterations))
    assert base64.b64decode(server) == hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    assert base64.b64decode(stored) == hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()


def test_schema_upgrade_renders_from_empty_and_is_empty_at_head():
    sql = migrate.upgrade_sql(None)
    assert "CREATE TABLE customers" in sql and "CREATE VIEW sip_subscribers" in sql
    assert f"INSERT INTO alembic_version (version_num) VALUES ('{migrate.head()}')" in sql
    assert migrate.upgrade_sql(migrate.head()) == ""


@pytest.mark.parametrize(("asked", "bought"), [(1, 1), (100, 100), (101, 100), (299, 290), (300, 300)])
def test_channel_purchases_over_100_round_down_to_tens(asked, bought):
    assert channels_for_purchase(asked) == bought


@pytest.mark.parametrize("asked", [0, 301])
def test_channel_purchases_outside_1_to_300_are_refused(asked):
    with pytest.raises(ProvisioningError, match="1 to 300"):
        channels_for_purchase(asked)


def test_ha1_is_md5_of_user_realm_password():
    assert ha1("alice", "example.com", "secret") == hashlib.md5(b"alice:example.com:secret").hexdigest()


def test_digest_answers_the_rfc_2617_example():
    """RFC 2617 section 3.5: Mufasa, realm testrealm@host.com, qop=auth."""
    challenge = digest.parse_challenge('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                                       'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    answer = digest.authorization(challenge, "GET", "/dir/index.html", "Mufasa", "Circle Of Life")
    fields = dict(part.strip().split("=", 1) for part in answer[len("Digest "):].split(","))
    ha1_ = hashlib.md5(b"Mufasa:testrealm@host.com:Circle Of Life").hexdigest()
    ha2 = hashlib.md5(b"GET:/dir/index.html").hexdigest()
    cnonce, nc = fields["cnonce"].strip('"'), fields["nc"]
    expected = hashlib.md5(f"{ha1_}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    assert fields["response"].strip('"') == expected


@pytest.mark.parametrize("algorithm, response", [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")])
def test_digest_answers_the_rfc_7616_examples(algorithm, response):
    """RFC 7616 section 3.9.1: Mufasa, realm http-auth@example.org, qop=auth, MD5 and SHA-256."""
    challenge = digest.parse_challenge(
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')
    answer = digest.authorization(challenge, "GET", "/dir/index.html", "Mufasa", "Circle of Life",
                                  cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    assert f'response="{response}"' in answer and f"algorithm={algorithm}" in answer


def test_sip_parser_reads_compact_headers_and_rejects_garbage():
    message = parse(b"INVITE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\n"
                    b"f: <sip:a@x>;tag=1\r\nt: <sip:b@x>\r\ni: abc\r\nCSeq: 1 INVITE\r\nl: 3\r\n\r\nabcdef")
    assert message.method == "INVITE" and message.call_id == "abc" and message.body == b"abc"
    for bad in (b"HELLO\r\n\r\n", b"INVITE sip:x SIP/2.0\r\nVia: x\r\n\r\n",
                b"SIP/2.0 200 OK\r\nVia: a\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 X\r\nContent-Length: 99\r\n\r\n"):
        with pytest.raises(SipParseError):
            parse(bad)


def test_kamcmd_output_flattens_to_contacts():
    text = "{\n\tAoR: alice\n\tContacts: {\n\t\tContact: {\n\t\t\tAddress: sip:a@1.2.3.4\n\t\t\tKA-Roundtrip: 931\n\t\t}\n\t}\n}\n"
    assert parse_kamcmd(text, "Contact") == [{"AoR": "alice", "Address": "sip:a@1.2.3.4", "KA-Roundtrip": "931"}]


def test_lamps_follow_the_thresholds(project_copy):
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    now = 1_000_000

    def lamp(rtt_us, age):
        return lamp_for({"KA-Roundtrip": str(rtt_us), "Last-Keepalive": str(now - age)}, deployment, now)[0]

    assert lamp_for(None, deployment, now)[0] == "grey"
    assert (lamp(0, 1), lamp(20_000, 1), lamp(300_000, 1), lamp(700_000, 1), lamp(20_000, 600)) == (
        "blue", "green", "yellow", "red", "red")
