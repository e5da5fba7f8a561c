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
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in sql
    assert f"UPDATE alembic_version SET version_num='{migrate.head()}'" in sql
    assert migrate.upgrade_sql(migrate.head()) == ""
