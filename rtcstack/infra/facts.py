"""pyinfra facts rtcstack needs beyond pyinfra's own."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class PostgresQuery(FactBase):
    """Rows of a query run as the postgres superuser over the local socket; [] when PostgreSQL is absent
    or the query fails (a table not created yet reads as no rows)."""

    def command(self, database: str, sql: str) -> str:
        return (f"command -v psql >/dev/null && runuser -u postgres -- psql -XAtq -d {shlex.quote(database)} "
                f"-c {shlex.quote(sql)} 2>/dev/null || true")

    def process(self, output) -> list[str]:
        return [line for line in output if line]


