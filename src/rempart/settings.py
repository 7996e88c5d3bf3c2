"""One settings object for the whole process (environment variables prefixed REMPART_)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REMPART_")

    home: Path = Path("rempart-data")
    database_url: str | None = None  # default: SQLite file under home
    events_db: str | None = None  # default: DuckDB file under home; ':memory:' for in-memory
    keys_dir: Path | None = None  # snapshot keys live outside the data files
    journal_anchor: Path | None = None  # the journal's anchor file, ideally on another volume

    @property
    def case_store_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'cases.sqlite').as_posix()}"

    @property
    def event_store_path(self) -> str:
        return self.events_db or str(self.home / "events.duckdb")

    @property
    def key_directory(self) -> Path:
        return self.keys_dir or self.home / "keys"
