"""database role: PostgreSQL 15 on the private address, TLS and SCRAM only, Kamailio's tables from its
package, rtcstack's own schema through Alembic, and one least-privilege login per role that declares one.

The first host of the group is the primary; every other one is a hot standby fed by PostgreSQL's own
streaming replication (a physical replication slot per standby on the primary, `pg_basebackup` to start it).
Services list every database host and connect to the one that accepts writes (libpq's
`target_session_attrs=read-write`), so after `rtcstack database promote` they reconnect to the new primary."""

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
PG_DATA = f"/var/lib/postgresql/{PG_VERSION}/main"
#: The login standbys replicate with (REPLICATION, no other right), its password in the postgres account's .pgpass.
REPLICATION_LOGIN = "rtcstack_replication"
PGPASS = "/var/lib/postgresql/.pgpass"
UPGRADE_SQL = "/etc/rtcstack/db/upgrade.sql"
BILLING_SQL = "/etc/rtcstack/db/billing.sql"
#: Connections kept free for psql sessions, migrations and the operator's tools.
SPARE_CONNECTIONS = 10


class DatabaseSettings(Settings):
    """PostgreSQL 15 on the database hosts."""

    port: Port = Field(5432, description="PostgreSQL TCP port on the private address.")
    name: str = Field("rtcstack", pattern=r"^[a-z][a-z0-9_]{0,62}$", description="Name of the database that holds every rtcstack table.")
    max_connections: Int = Field(200, ge=20, le=5000, description="PostgreSQL max_connections (each Kamailio worker holds one).")
    max_slot_wal_keep_gb: Int = Field(
        4, ge=1, le=1024, description="WAL the primary keeps for a standby that is down (GiB); a standby further behind "
                                      "than this is dropped from replication and must be rebuilt (a deploy does it).")


def primary(deployment: Deployment) -> Host:
    """The PostgreSQL primary as the inventory declares it (the first of the database group)."""
    return deployment.hosts_with("database")[0]


def standbys(deployment: Deployment) -> list[Host]:
    """The hot standbys: every database host after the first."""
    return deployment.hosts_with("database")[1:]


def slot_name(host: Host) -> str:
    """The physical replication slot of a standby on the primary."""
    return "standby_" + "".join(c if c.isalnum() else "_" for c in host.name.lower())


#: Left in a former primary's data directory by `rtcstack database promote` (with standby.signal, so that a
#: restart brings it up read-only): the next deploy rebuilds it as a standby of the new primary.
FENCED_MARK = "rtcstack-fenced"


def standby_rebuild_command(deployment: Deployment, host: Host, source: Host | None = None) -> str:
    """Shell that makes `host` a fresh standby of `source` (the primary): base backup beside the data directory,
    then swap. It refuses to replace a live primary's database (an inventory listing the real primary second)."""
    source = source or primary(deployment)
    db, port = deployment.database.name, deployment.database.port
    conninfo = (f"host={source.private_address} port={port} user={REPLICATION_LOGIN} sslmode=verify-ca "
                "sslrootcert=/etc/rtcstack/tls/ca.crt")
    return "; ".join([
        f"set -e; d={PG_DATA}",
        f"if [ ! -e $d/{FENCED_MARK} ] && [ ! -e $d/standby.signal ] && runuser -u postgres -- psql -XAtq -c "
        f"\"SELECT 1 FROM pg_database WHERE datname = '{db}'\" 2>/dev/null | grep -qx 1; then "
        f"echo '{host.name} holds the {db} database as a primary: list it first in the database group, or fence it "
        f"with rtcstack database promote' >&2; exit 3; fi",
        "rm -rf $d.rebuild",
        f"runuser -u postgres -- env PGPASSFILE={PGPASS} pg_basebackup -d '{conninfo}' -D $d.rebuild -X stream "
        f"-S {slot_name(host)} --checkpoint=fast",
        "runuser -u postgres -- touch $d.rebuild/standby.signal",
        f"systemctl stop {PG_SERVICE}",
        "rm -rf $d.old; mv $d $d.old; mv $d.rebuild $d",
        f"systemctl start {PG_SERVICE}",
        "rm -rf $d.old",
    ])


def listeners(deployment: Deployment, host: Host):
    # Standbys stream from the primary, and any of them may become the primary: database hosts reach each other.
    clients = deployment.addresses_of(*(role for role, _ in deployment.database_logins()), "database")
    return listen("postgresql", "tcp", deployment.database.port, "database.port",
                  [a for a in clients if a != host.private_address])


STANDBY_CONF = f"{PG_ETC}/conf.d/61-rtcstack-standby.conf"


def standby_file(deployment: Deployment, host: Host, source: Host) -> ConfigFile:
    """The standby's pointer to its primary (primary_conninfo, its slot): reloaded, not restarted, when it changes."""
    return ConfigFile(STANDBY_CONF, f"database{STANDBY_CONF}.j2",
                      {"primary_address": source.private_address, "port": deployment.database.port,
                       "login": REPLICATION_LOGIN, "slot": slot_name(host), "host": host.name},
                      mode="644", user="postgres", group="postgres", effect="reload")


def hba_entries(deployment: Deployment) -> list[dict]:
    """One line per (login, host that may connect as it): TLS and SCRAM only; standbys replicate over TLS."""
    return [{"database": deployment.database.name, "user": login.name, "address": f"{h.private_address}/32",
             "host": h.name, "type": "hostssl" if login.tls else "host"}
            for role, login in deployment.database_logins() for h in deployment.hosts_with(role)] + [
        {"database": "replication", "user": REPLICATION_LOGIN, "address": f"{h.private_address}/32", "host": h.name,
         "type": "hostssl"} for h in deployment.hosts_with("database") if len(deployment.hosts_with("database")) > 1]


def conninfo_hosts(deployment: Deployment) -> tuple[str, str]:
    """libpq's host and port lists of every database host, primary first (`host=a,b port=5432,5432`)."""
    hosts = deployment.hosts_with("database")
    return (",".join(str(h.private_address) for h in hosts), ",".join(str(deployment.database.port) for _ in hosts))


def logins(deployment: Deployment) -> list[dict]:
    """Each login with its SCRAM verifier and rights, for roles.sql."""
    return [{"name": login.name, "verifier": scram_verifier(deployment.secret(login.secret), login.name),
             "grants": login.grants} for _, login in deployment.database_logins()]


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    replicated = len(deployment.hosts_with("database")) > 1
    source = primary(deployment)
    files = {
        "postgresql": ConfigFile(
            f"{PG_ETC}/conf.d/60-rtcstack.conf", f"database{PG_ETC}/conf.d/60-rtcstack.conf.j2",
            {"address": host.private_address, "port": deployment.database.port,
             "max_connections": deployment.database.max_connections, "timezone": deployment.system.timezone,
             "replicated": replicated, "wal_keep_gb": deployment.database.max_slot_wal_keep_gb},
            mode="644", user="postgres", group="postgres"),
        "hba": ConfigFile(f"{PG_ETC}/pg_hba.conf", f"database{PG_ETC}/pg_hba.conf.j2",
                          {"entries": hba_entries(deployment)}, mode="640", user="postgres", group="postgres",
                          effect="reload"),
        "roles": ConfigFile(ROLES_SQL, "database/etc/rtcstack/db/roles.sql.j2",
                            {"database": deployment.database.name, "logins": logins(deployment),
                             "replication": replicated and {
                                 "name": REPLICATION_LOGIN, "verifier": scram_verifier(
                                     deployment.secret("database_replication_password"), REPLICATION_LOGIN)}},
                            mode="600",
                            effect="none"),
        "billing": ConfigFile(BILLING_SQL, "database/etc/rtcstack/db/billing.sql.j2", billing_rules(deployment),
                              mode="600", effect="none"),
    }
    if replicated and host.name != source.name:
        files["standby"] = standby_file(deployment, host, source)
    if replicated:
        # The standby's walreceiver and pg_basebackup read the replication password from here (libpq's passfile).
        files["pgpass"] = ConfigFile(PGPASS, "database/var/lib/postgresql/.pgpass.j2", {
            "hosts": [str(h.private_address) for h in deployment.hosts_with("database")],
            "port": deployment.database.port, "login": REPLICATION_LOGIN,
            "password": deployment.secret("database_replication_password")},
            mode="600", user="postgres", group="postgres", effect="none")
    return files


def billing_rules(deployment: Deployment) -> dict:
    """The billing.* settings the database applies when a call ends (the billing_rules row)."""
    from ..domain.money import PACK_MINUTES

    b = deployment.billing
    return {"increment_seconds": b.increment_seconds, "pack_prefixes": list(b.pack_prefixes),
            "pack_seconds": PACK_MINUTES * 60, "accounting_days": b.accounting_days}


def problems(deployment: Deployment) -> list[Problem]:
    out = []
    databases = deployment.hosts_with("database")
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
    secrets={"database_replication_password": "PostgreSQL password of the standbys' replication login"},
    listeners=listeners, config_files=config_files, problems=problems,
)
