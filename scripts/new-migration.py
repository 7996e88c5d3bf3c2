"""Developer tool: write an Alembic migration for the given tables from the models' metadata.

    .venv/bin/python scripts/new-migration.py 0002 "respond: plan runs" plan_runs plan_steps

Only the named tables are considered, so that several stages can add their models independently.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from rempart.store.db import alembic_config, upgrade


def main() -> None:
    rev_id, message, *tables = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'm.sqlite'}")
        upgrade(engine)
        cfg = alembic_config(engine)

        def include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
            if type_ == "table":
                return name in tables
            table = getattr(getattr(obj, "table", None), "name", None)
            return table is None or table in tables

        cfg.attributes["include_object"] = include
        command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)


if __name__ == "__main__":
    main()
