"""YAML documents validated by pydantic, with errors that name the file, line and field.

Every file a group writes itself (inventory, security plan, obligations catalogue) goes through
:func:`load_model`, so that all of them report mistakes the same way and all at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rempart.errors import ConfigError, ConfigErrors, Location

ModelT = TypeVar("ModelT", bound=BaseModel)

PathKey = tuple[str | int, ...]

_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _index_lines(node: yaml.Node, path: PathKey, lines: dict[PathKey, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), lines)


def parse_yaml(text: str, source: Path | str) -> tuple[Any, dict[PathKey, int]]:
    """Parse YAML text; return the data and a map from field path to line number."""
    try:
        # parsed once, by libyaml when present (a 1,700-line group.yaml: 15 ms instead of 650 ms);
        # the node tree gives the line of every field, the data is constructed from that same tree
        node = yaml.compose(text, Loader=_LOADER)
        data = yaml.constructor.SafeConstructor().construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(
            f"not valid YAML: {exc.problem or exc}", Location(source, line), "fix the syntax at that line"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", Location(source)) from None
    lines: dict[PathKey, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return data, lines


def line_of(lines: dict[PathKey, int], loc: PathKey) -> int | None:
    """The line of the deepest known prefix of a field path."""
    for end in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return line
    return None


def field_name(loc: PathKey) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def errors_from_validation(
    exc: ValidationError, source: Path | str, lines: dict[PathKey, int], data: Any = None
) -> ConfigErrors:
    errors: list[ConfigError] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
        # pydantic puts the tag of tagged unions and validator names in loc; keep only real paths
        loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
        errors.append(
            ConfigError(
                err["msg"].removeprefix("Value error, "),
                Location(source, line_of(lines, loc), field_name(loc) or None),
            )
        )
    return ConfigErrors(errors)


def load_model(model: type[ModelT], path: Path | str, context: dict[str, Any] | None = None) -> ModelT:
    """Read a YAML file into ``model``; raise :class:`ConfigErrors` naming every mistake."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", Location(p), "check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {exc}", Location(p)) from None
    return validate_text(model, text, p, context)


def validate_text(
    model: type[ModelT], text: str, source: Path | str, context: dict[str, Any] | None = None
) -> ModelT:
    data, lines = parse_yaml(text, source)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top of the file", Location(source, 1))
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise errors_from_validation(exc, source, lines, data) from None
