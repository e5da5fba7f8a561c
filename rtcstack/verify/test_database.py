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
