"""The database host's psql as a SqlRunner: domain operations run on the deployment's database host through
the deploy's own connector (docker or SSH), so the operator's machine needs no database port."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain.provisioning import sql_text
from ..roles.database import primary
from ..site import Deployment, Site
from .remote import RemoteError, RemoteHost, connect


@dataclass
class Database:
    """rtcstack's database on the deployment's database host, reached through the deploy's connector."""

    deployment: Deployment
    host: RemoteHost

    @classmethod
    def connect(cls, site: Site) -> Database:
        hosts = site.deployment.hosts_with("database")
        if len(hosts) == 1:
            name = primary(site.deployment).name
            return cls(site.deployment, connect(site, [name])[name])
        return cls(site.deployment, writable(site, [h.name for h in hosts]))

    def run(self, script: str) -> list[list[str]]:
        """Run SQL in one transaction as postgres; rows of the last statement, tab-separated."""
        out = self.host.run(
            f"runuser -u postgres -- psql -X -q -A -t -F '\t' -v ON_ERROR_STOP=1 --single-transaction "
            f"-d {self.deployment.database.name}", stdin=script)
        return [line.split("\t") for line in out.splitlines() if line]

    def query(self, statement) -> list[list[str]]:
        return self.run(sql_text(statement))


def writable(site: Site, names: list[str]) -> RemoteHost:
    """The database host that takes writes now: the declared primary, or the standby promoted since."""
    seen = []
    for name in names:
        try:
            remote = connect(site, [name])[name]
            state = remote.run("runuser -u postgres -- psql -XAtq -c 'SELECT pg_is_in_recovery()'").strip()
        except Exception as exc:  # a host that is down or fenced is passed over
            seen.append(f"{name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            continue
        if state == "f":
            return remote
        seen.append(f"{name}: a standby")
    raise DatabaseUnavailable("no database host takes writes (" + "; ".join(seen) + "): promote a standby with "
                              "`rtcstack database promote INVENTORY HOST`")


class DatabaseUnavailable(RemoteError):
    """No host of the database group is a primary."""

