"""Alembic environment: offline only. rtcstack renders the upgrade as SQL and runs it with psql on the
database host, through the same connector as the deploy, so no database port is opened to the operator."""

from alembic import context

from rtcstack.db.models import Base

context.configure(
    url="postgresql://",
    target_metadata=Base.metadata,
    literal_binds=True,
    transactional_ddl=True,
    dialect_opts={"paramstyle": "named"},
)
with context.begin_transaction():
    context.run_migrations()
