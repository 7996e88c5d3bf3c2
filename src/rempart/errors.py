"""The one error tree of rempart.

Every error a user can cause carries where it happened (file, line, field) and what to do, so that the
CLI can print one clear line instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """Where an error was found: a file, optionally a line and a field path."""

    path: Path | str | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.path is not None:
            parts.append(str(self.path) + (f":{self.line}" if self.line is not None else ""))
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)


class RempartError(Exception):
    """Root of every error rempart raises on purpose."""

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f" — {self.hint}"
        return text


class ConfigError(RempartError):
    """A YAML file written by the user (inventory, plan, catalogue) is invalid."""


class ConfigErrors(ConfigError):
    """Several configuration errors found in one file, all reported at once."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.message, first.location, first.hint)
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class InputError(RempartError):
    """A log, rule or data file given by the user cannot be read."""


class StateError(RempartError):
    """An operation is not allowed in the current state (missing approval, closed gate, …)."""
