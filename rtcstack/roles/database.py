"""database role: PostgreSQL 15 on the private address, TLS and SCRAM only, Kamailio's tables from its
package, rtcstack's own schema through Alembic, and one least-privilege login per role that declares one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ..config.problems import Problem
from ..config.settings import Int, Port, Settings
from ..db.logins import scram_verifier
from ..templating import ConfigFile
from .base import Role, listen

if TYPE_CHECKING:
    from ..site.deployment import Deployment, Host

PG_VERSION = "15"
PG_ETC = f"/etc/postgresql/{PG_VERSION}/main"
PG_SERVICE = f"postgresql@{PG_VERSION}-main"
PG_PACKAGES = ["postgresql-15", "postgresql-client-15"]
#: Where Kamailio's PostgreSQL schema files are unpacked on database hosts (from kamailio-postgres-modules).
KAMAILIO_SCHEMA_DIR = "/usr/share/rtcstack/kamailio-schema"
#: The Kamailio schema files rtcstack needs: version table, usrloc, accounting.
KAMAILIO_SCHEMA_FILES = ("standard-create.sql", "usrloc-create.sql", "acc-create.sql")
ROLES_SQL = "/etc/rtcstack/db/roles.sql"
UPGRADE_SQL = "/etc/rtcstack/db/upgrade.sql"
BILLING_SQL = "/etc/rtcstack/db/billing.sql"
#: Connections kept free for psql sessions, migrations and the operator's tools.
SPARE_CONNECTIONS = 10


class DatabaseSettings(Settings):
    """PostgreSQL 15 on the database hosts."""

    port: Port = Field(5432, description="PostgreSQL TCP port on the private address.")
    name: str = Field("rtcstack", pattern=r"^[a-z][a-z0-9_]{0,62}$", description="Name of the database that holds every rtcstack table.")
    max_connections: Int = Field(200, ge=20, le=5000, description="PostgreSQL max_connections (each Kamailio worker holds one).")


def primary(deployment: Deployment) -> Host:
    """The PostgreSQL host every service connects to (the first of the database group)."""
    return deployment.hosts_with("database")[0]


def listeners(deployment: Deployment, host: Host):
    clients = deployment.addresses_of(*(role for role, _ in deployment.database_logins()))
    return listen("postgresql", "tcp", deployment.database.port, "database.port", clients)


def hba_entries(deployment: Deployment) -> list[dict]:
    """One line per (login, host that may connect as it): TLS and SCRAM only."""
    return [{"database": deployment.database.name, "user": login.name, "address": f"{h.private_address}/32",
             "host": h.name, "type": "hostssl" if login.tls else "host"}
            for role, login in deployment.database_logins() for h in deployment.hosts_with(role)]


def logins(deployment: Deployment) -> list[dict]:
    """Each login with its SCRAM verifier and rights, for roles.sql."""
    return [{"name": login.name, "verifier": scram_verifier(deployment.secret(login.secret), login.name),
             "grants": login.grants} for _, login in deployment.database_logins()]


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    return {
        "postgresql": ConfigFile(
            f"{PG_ETC}/conf.d/60-rtcstack.conf", f"database{PG_ETC}/conf.d/60-rtcstack.conf.j2",
            {"address": host.private_address, "port": deployment.database.port,
             "max_connections": deployment.database.max_connections, "timezone": deployment.system.timezone},
            mode="644", user="postgres", group="postgres"),
        "hba": ConfigFile(f"{PG_ETC}/pg_hba.conf", f"database{PG_ETC}/pg_hba.conf.j2",
                          {"entries": hba_entries(deployment)}, mode="640", user="postgres", group="postgres",
                          effect="reload"),
        "roles": ConfigFile(ROLES_SQL, "database/etc/rtcstack/db/roles.sql.j2",
                            {"database": deployment.database.name, "logins": logins(deployment)}, mode="600",
                            effect="none"),
        "billing": ConfigFile(BILLING_SQL, "database/etc/rtcstack/db/billing.sql.j2", billing_rules(deployment),
                              mode="600", effect="none"),
    }


def billing_rules(deployment: Deployment) -> dict:
    """The billing.* settings the database applies when a call ends (the billing_rules row)."""
    from ..domain.money import PACK_MINUTES

    b = deployment.billing
    return {"increment_seconds": b.increment_seconds, "pack_prefixes": list(b.pack_prefixes),
            "pack_seconds": PACK_MINUTES * 60}


def problems(deployment: Deployment) -> list[Problem]:
    out = []
    databases = deployment.hosts_with("database")
    if len(databases) > 1:
        out.append(Problem("groups.database", [h.name for h in databases],
                           "more than one database host: rtcstack does not set up PostgreSQL replication",
                           "keep one host in the 'database' group (run a standby outside rtcstack if you need one)"))
    by_role = {role: len(deployment.hosts_with(role)) * login.connections(deployment)
               for role, login in deployment.database_logins()}
    needed = sum(by_role.values()) + SPARE_CONNECTIONS
    if databases and needed > deployment.database.max_connections:
        shown = ", ".join(f"{role} {count}" for role, count in by_role.items())
        out.append(Problem("database.max_connections", deployment.database.max_connections,
                           f"is too low: the services open about {needed - SPARE_CONNECTIONS} connections ({shown}) "
                           f"and {SPARE_CONNECTIONS} are kept for administration",
                           f"set database.max_connections to {needed} or more, or lower registrar.udp_workers"))
    return out


ROLE = Role(
    name="database", settings=DatabaseSettings, units=(PG_SERVICE,), checkpoint="database ready",
    listeners=listeners, config_files=config_files, problems=problems,
)
