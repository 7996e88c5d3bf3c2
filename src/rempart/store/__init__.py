"""The case store: SQLAlchemy 2 models, Alembic migrations, the hash-chained journal."""
