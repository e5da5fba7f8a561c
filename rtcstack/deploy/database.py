"""The files the database role renders: PostgreSQL settings, pg_hba and the roles script."""

from __future__ import annotations

from ..config import Deployment, Host
from ..db.roles import users_for, verifiers
from .base import ConfigFile

PG_VERSION = "15"
PG_ETC = f"/etc/postgresql/{PG_VERSION}/main"
PG_SERVICE = f"postgresql@{PG_VERSION}-main"
#: Where Kamailio's PostgreSQL schema files are unpacked on database hosts (from kamailio-postgres-modules).
KAMAILIO_SCHEMA_DIR = "/usr/share/rtcstack/kamailio-schema"
#: The Kamailio schema files rtcstack needs: version table, usrloc, accounting.
KAMAILIO_SCHEMA_FILES = ("standard-create.sql", "usrloc-create.sql", "acc-create.sql")
ROLES_SQL = "/etc/rtcstack/db/roles.sql"
UPGRADE_SQL = "/etc/rtcstack/db/upgrade.sql"


def hba_entries(deployment: Deployment) -> list[dict]:
    """One line per (user, host that may connect as it): TLS and SCRAM only."""
    return [{"database": deployment.database.name, "user": user.name, "address": f"{h.private_address}/32",
             "host": h.name, "type": "hostssl" if user.tls else "host"}
            for user in users_for(deployment) for h in deployment.hosts_with(user.role)]


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    return {
        "postgresql": ConfigFile(
            f"{PG_ETC}/conf.d/60-rtcstack.conf", f"database{PG_ETC}/conf.d/60-rtcstack.conf.j2",
            {"address": host.private_address, "port": deployment.database.port,
             "max_connections": deployment.database.max_connections, "timezone": deployment.system.timezone},
            mode="644", user="postgres", group="postgres"),
        "hba": ConfigFile(f"{PG_ETC}/pg_hba.conf", f"database{PG_ETC}/pg_hba.conf.j2",
                          {"entries": hba_entries(deployment)}, mode="640", user="postgres", group="postgres"),
        "roles": ConfigFile(ROLES_SQL, "database/etc/rtcstack/db/roles.sql.j2",
                            {"database": deployment.database.name, "verifiers": verifiers(deployment),
                             "users": [u.name for u in users_for(deployment)]}, mode="600"),
    }
