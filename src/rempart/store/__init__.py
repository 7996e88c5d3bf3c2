"""The case store: SQLAlchemy 2 models, Alembic migrations, the audit journal (hash-chained,
authenticated with a key kept outside, anchored outside)."""
