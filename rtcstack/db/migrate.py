"""Render Alembic upgrades as SQL for psql: the deploy reads the current revision, then runs what is missing."""

from __future__ import annotations

import io
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(buffer: io.StringIO | None = None) -> Config:
    config = Config(output_buffer=buffer)
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    """The newest revision."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def upgrade_sql(current: str | None) -> str:
    """SQL that takes a database at `current` (None: never migrated) to head; empty when it is there."""
    if current == head():
        return ""
    buffer = io.StringIO()
    command.upgrade(_config(buffer), f"{current}:head" if current else "head", sql=True)
    return buffer.getvalue()
