"""rtcstack's own PostgreSQL schema: SQLAlchemy 2 models, Alembic migrations, SQL run on the database host."""
