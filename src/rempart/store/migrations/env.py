from __future__ import annotations

from alembic import context

from rempart.store.models import Base

target_metadata = Base.metadata
config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=config.attributes.get("include_object"),
    )
    with context.begin_transaction():
        context.run_migrations()
