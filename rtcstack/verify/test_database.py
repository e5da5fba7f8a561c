"""What the database role promises, checked on its hosts with testinfra."""

import pytest

from rtcstack.roles.database import PG_ETC, PG_SERVICE, ROLES_SQL
from rtcstack.verify.helpers import listening

pytestmark = [pytest.mark.integration, pytest.mark.role("database")]


def test_postgresql_listens_on_the_private_address_only(target):
    assert target.remote.service(PG_SERVICE).is_running
    port = target.deployment.database.port
    sockets = {s for s in listening(target, "tcp") if s.endswith(f":{port}")}
    assert sockets == {f"{target.host.private_address}:{port}"}


def test_database_files_are_private(target):
    hba = target.remote.file(f"{PG_ETC}/pg_hba.conf")
    assert (hba.user, hba.group, hba.mode) == ("postgres", "postgres", 0o640)
    roles = target.remote.file(ROLES_SQL)
    assert (roles.user, roles.mode) == ("root", 0o600)


def _sql(target, query: str) -> str:
    return target.remote.check_output(
        f"runuser -u postgres -- psql -X -q -A -t -d {target.deployment.database.name} -c \"{query}\"")


def test_the_database_applies_the_billing_settings_to_calls(target):
    """P13: the increment and the packs' destinations calls are charged by are the deployment's billing.*."""
    b = target.deployment.billing
    row = _sql(target, "SELECT increment_seconds, array_to_string(pack_prefixes, ',') FROM billing_rules")
    assert row == f"{b.increment_seconds}|{','.join(b.pack_prefixes)}"


def test_every_balance_equals_its_ledger(target):
    """The ledger is the record of every movement of money: no customer's balance differs from its sum."""
    assert _sql(target, "SELECT count(*) FROM ledger_mismatches") == "0"
