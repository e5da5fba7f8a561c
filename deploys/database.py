"""database role: PostgreSQL 15 on the private address, TLS and SCRAM only, Kamailio's tables from its
package, rtcstack's own schema through Alembic, and one least-privilege login per role that declares one.
The first database host is the primary (schema, logins, a replication slot per standby); every other one is
a hot standby, made once with pg_basebackup and streaming from the primary after that."""

from io import StringIO

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import files, server

from rtcstack.db import migrate
from rtcstack.infra.context import deployment, this_host
from rtcstack.infra.facts import PostgresQuery
from rtcstack.infra.ordering import checkpoint
from rtcstack.infra.service import CertificateReload, Service
from rtcstack.roles.database import (
    BILLING_SQL, KAMAILIO_SCHEMA_DIR, KAMAILIO_SCHEMA_FILES, PG_PACKAGES, PG_SERVICE, ROLES_SQL, UPGRADE_SQL, config_files,
    STANDBY_CONF, primary, standby_rebuild_command, standbys, slot_name,
)

dep = deployment()
db = dep.database.name
# PostgreSQL's package must start the cluster it creates: no mask; pg_hba changes only reload it.
postgresql = Service("PostgreSQL", PG_SERVICE, config_files(dep, this_host()), packages=PG_PACKAGES, mask=False,
                     tls_reader="postgres",
                     # PostgreSQL re-reads its certificate and key on reload (SIGHUP): sessions stay up.
                     certificate=CertificateReload.reload(),
                     ready=f"pg_isready -q -h {this_host().private_address} -p {dep.database.port}")
postgresql.deploy()
is_standby = this_host().name != primary(dep).name
standby_state_probe = ("test -e /var/lib/postgresql/15/main/standby.signal "
                       "&& ! test -e /var/lib/postgresql/15/main/rtcstack-fenced && echo streaming-standby || echo other")

psql = f"runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d {db}"
if not is_standby:
    server.shell(name=f"Create database {db}", commands=[f"runuser -u postgres -- createdb {db}"],
                 _if=lambda: not host.get_fact(PostgresQuery, "postgres", f"SELECT 1 FROM pg_database WHERE datname = '{db}'"))

    # Kamailio's own tables, from the schema files of the same Debian release the registrar runs.
    schema_paths = " ".join(f"{KAMAILIO_SCHEMA_DIR}/{name}" for name in KAMAILIO_SCHEMA_FILES)
    server.shell(
        name="Unpack Kamailio's PostgreSQL schema (kamailio-postgres-modules)",
        commands=[f"set -e; work=$(mktemp -d); cd $work; apt-get download -q kamailio-postgres-modules; "
                  f"dpkg-deb -x kamailio-postgres-modules_*.deb unpacked; mkdir -p {KAMAILIO_SCHEMA_DIR}; "
                  + "; ".join(f"cp unpacked/usr/share/kamailio/postgres/{n} {KAMAILIO_SCHEMA_DIR}/" for n in KAMAILIO_SCHEMA_FILES)
                  + "; cd /; rm -rf $work"],
        _if=lambda: host.get_fact(Command, f"ls {schema_paths} >/dev/null 2>&1 && echo ok || echo missing") != "ok",
    )
    server.shell(
        name="Create Kamailio's tables (version, location, acc, missed_calls)",
        commands=[f"{psql} --single-transaction " + " ".join(f"-f {KAMAILIO_SCHEMA_DIR}/{n}" for n in KAMAILIO_SCHEMA_FILES)],
        _if=lambda: host.get_fact(PostgresQuery, db, "SELECT to_regclass('public.location')") == [],
    )

    # rtcstack's own schema: Alembic's upgrade from the revision the database is at, rendered as SQL.
    current = host.get_fact(PostgresQuery, db, "SELECT version_num FROM alembic_version")
    upgrade = migrate.upgrade_sql(current[0] if current else None)
    if upgrade:
        files.put(name=f"Stage schema upgrade {current[0] if current else 'empty'} -> {migrate.head()}",
                  src=StringIO(upgrade), dest=UPGRADE_SQL, mode="600")
        server.shell(name="Apply the schema upgrade", commands=[f"{psql} < {UPGRADE_SQL}"])

    roles = postgresql.puts["roles"]
    users = [login.name for _, login in dep.database_logins()]
    server.shell(
        name="Apply database logins and their rights",
        commands=[f"{psql} < {ROLES_SQL}"],
        _if=lambda: roles.did_change() or bool(upgrade) or len(host.get_fact(
            PostgresQuery, db, "SELECT rolname FROM pg_roles WHERE rolname IN ({})".format(
                ", ".join(f"'{u}'" for u in users) or "''"))) < len(users),
    )

    billing = postgresql.puts["billing"]
    server.shell(
        name="Apply the billing rules (billing.*)",
        commands=[f"{psql} < {BILLING_SQL}"],
        _if=lambda: billing.did_change() or bool(upgrade),
    )

    # A primary that was a standby (promoted, or rejoined and switched over) keeps no pointer to another primary.
    files.file(name="No standby settings on the primary", path=STANDBY_CONF, present=False)

    for standby in standbys(dep):
        slot = slot_name(standby)
        server.shell(
            name=f"Replication slot for {standby.name}",
            commands=[f"{psql} -c \"SELECT pg_create_physical_replication_slot('{slot}')\""],
            _if=lambda slot=slot: not host.get_fact(
                PostgresQuery, "postgres", f"SELECT 1 FROM pg_replication_slots WHERE slot_name = '{slot}'"))

# The standbys are made after the primary's logins and slots exist: every database host waits here.
if standbys(dep):
    checkpoint("the primary's replication login and slots")
if is_standby:
    # Made once from the primary (and again after `rtcstack database promote` fenced this host as a former
    # primary); from then on PostgreSQL streams the primary's WAL into it.
    server.shell(name=f"Make this host a standby of {primary(dep).name} (pg_basebackup)",
                 commands=[standby_rebuild_command(dep, this_host())],
                 _if=lambda: host.get_fact(Command, standby_state_probe) != "streaming-standby")
