"""The database role: pg_hba, logins, SCRAM verifiers, the schema upgrade, and its cross-checks."""

import base64
import hashlib
import hmac

import pytest

from rtcstack.db import migrate
from rtcstack.db.logins import scram_verifier
from rtcstack.roles import database
from rtcstack.site import ConfigError, load
from tests.unit.test_templates import FAKE_SECRETS


def test_pg_hba_admits_each_login_only_from_its_hosts(project_copy):
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    hba = database.config_files(deployment, deployment.hosts["db1"])["hba"].render()
    assert "host  rtcstack  kamailio  198.18.10.12/32  scram-sha-256" in hba
    assert "hostssl  rtcstack  rtcstack_portal  198.18.10.16/32  scram-sha-256" in hba
    assert "trust" not in hba and "0.0.0.0" not in hba


def test_the_registrars_location_login_commits_without_waiting_and_holds_the_location_tables_only(project_copy):
    """usrloc's own login (kamailio_location): pg_hba admits it from the registrar hosts like kamailio, roles.sql
    gives it the location tables and synchronous_commit off; the kamailio login (accounting) keeps durable commits
    and reads location only."""
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    files = database.config_files(deployment, deployment.hosts["db1"])
    assert "host  rtcstack  kamailio_location  198.18.10.12/32  scram-sha-256" in files["hba"].render()
    roles = files["roles"].render()
    location = roles[roles.index("CREATE ROLE kamailio_location"):]
    assert "ALTER ROLE kamailio_location SET synchronous_commit = off;" in location
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON location, location_attrs TO kamailio_location;" in location
    assert "synchronous_commit" not in roles[:roles.index("CREATE ROLE kamailio_location")]
    assert "INSERT, UPDATE, DELETE ON location" not in roles.split("CREATE ROLE kamailio ")[1].split("CREATE ROLE")[0]


def test_the_first_database_host_is_the_primary_and_the_others_stream_from_it(project_copy):
    deployment = load(project_copy / "inventories/scale.py", secrets=FAKE_SECRETS)
    primary, standby = deployment.hosts["scale-db1"], deployment.hosts["scale-db2"]
    on_primary = database.config_files(deployment, primary)
    on_standby = database.config_files(deployment, standby)
    assert "standby" not in on_primary
    conninfo = on_standby["standby"].render()
    assert "host=198.18.40.11 port=5432 user=rtcstack_replication" in conninfo and "sslmode=verify-ca" in conninfo
    assert "primary_slot_name = 'standby_scale_db2'" in conninfo and "password" not in conninfo.split("\n", 3)[-1]
    assert on_standby["standby"].effect == "reload"  # a new primary is followed without a restart
    # Either host may be promoted: both admit replication from the other, over TLS only.
    for files in (on_primary, on_standby):
        hba = files["hba"].render()
        assert "hostssl  replication  rtcstack_replication  198.18.40.12/32  scram-sha-256" in hba
        assert "hostssl  replication  rtcstack_replication  198.18.40.11/32  scram-sha-256" in hba
        assert "wal_level = replica" in files["postgresql"].render()
    assert on_primary["pgpass"].mode == "600"
    assert "rtcstack_replication" in on_primary["roles"].render()
    assert {str(a) for l in database.listeners(deployment, standby) for a in l.sources} >= {"198.18.40.11"}


def test_services_list_every_database_host_and_ask_for_the_one_taking_writes(project_copy):
    from rtcstack.roles.base import database_url
    from rtcstack.roles.registrar import config_files as registrar_files

    deployment = load(project_copy / "inventories/scale.py", secrets=FAKE_SECRETS)
    url = database_url(deployment, "rtcstack_portal", "database_portal_password")
    assert "host=198.18.40.11:5432&host=198.18.40.12:5432" in url and "target_session_attrs=read-write" in url
    kamailio = registrar_files(deployment, deployment.hosts["scale-sip1"])
    assert "@198.18.40.11,198.18.40.12:5432/" in kamailio["rtcstack-secrets.cfg"].render()
    assert "PGTARGETSESSIONATTRS=read-write" in kamailio["dropin"].render()


def test_a_standby_rebuild_refuses_to_replace_a_live_primary(project_copy):
    deployment = load(project_copy / "inventories/scale.py", secrets=FAKE_SECRETS)
    command = database.standby_rebuild_command(deployment, deployment.hosts["scale-db2"])
    guard, rest = command.split("rm -rf $d.rebuild", 1)
    assert "rtcstack-fenced" in guard and "standby.signal" in guard and "exit 3" in guard
    assert rest.index("pg_basebackup") < rest.index("systemctl stop")  # the old data stays until the copy is whole
    assert "-S standby_scale_db2" in rest


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
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in sql
    assert f"UPDATE alembic_version SET version_num='{migrate.head()}'" in sql
    assert migrate.upgrade_sql(migrate.head()) == ""
