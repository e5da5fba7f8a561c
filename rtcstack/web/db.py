"""A service's database connection as a domain SqlRunner: the same operations the CLI runs through psql run
here on the service's own pooled connection, in one transaction per call."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine



def _text(value) -> str:
    """psql's unaligned output, which the domain reads: NULL as '', everything else as its text."""
    return "" if value is None else str(value)


@dataclass
class EngineRunner:
    engine: Engine
    deployment: object = None  # the service has no Deployment; its operations take their settings explicitly

    def run(self, script: str) -> list[list[str]]:
        """Run literal SQL (one or more statements, values already quoted) in one transaction; the rows of the
        last statement. Without parameters psycopg sends the script as is (PostgreSQL's simple protocol)."""
        with self.engine.begin() as connection:
            cursor = connection.connection.driver_connection.cursor()
            cursor.execute(script)
            rows = cursor.fetchall() if cursor.description else []
            while cursor.nextset():
                rows = cursor.fetchall() if cursor.description else []
            return [[_text(value) for value in row] for row in rows]

    def query(self, statement) -> list[list[str]]:
        """One SQLAlchemy statement in its own transaction, with bound parameters: its compiled form is cached, so a
        page's queries cost a lookup, not a compile (the CLI's psql runner needs them as literal SQL text)."""
        if isinstance(statement, str):
            return self.run(statement)
        with self.engine.begin() as connection:
            result = connection.execute(statement)
            rows = result.fetchall() if result.returns_rows else []
            return [[_text(value) for value in row] for row in rows]
