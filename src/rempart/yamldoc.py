"""YAML documents validated by pydantic, with errors that name the file, line and field.

Every file a group writes itself (inventory, security plan, obligations catalogue) goes through
:func:`load_model`, so that all of them report mistakes the same way and all at once.

:func:`parse_yaml` refuses what YAML itself would accept silently or slowly: a key given twice in one
mapping (YAML keeps the last one without a word), a document over :data:`MAX_BYTES` or
:data:`MAX_NODES` nodes, and aliases that would repeat more than :data:`MAX_ALIAS_NODES` nodes in all
(nine nested anchors of nine aliases make 387 million nodes from 400 bytes: every later walk of the
data hung). Small anchors and aliases, and ``<<`` merge keys, keep working.
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

MAX_BYTES = 10 << 20  # the largest configuration of a 160-clinic group is well under 1 MB
MAX_NODES = 1_000_000  # values, lists and mappings, as written
MAX_ALIAS_NODES = 100_000  # nodes that aliases add, counted as if each alias were written out


def check_limits(text: str, source: Path | str) -> None:
    """Refuse a document over :data:`MAX_BYTES`, or whose aliases would expand past
    :data:`MAX_ALIAS_NODES` nodes or into themselves, with the line and column of the alias at fault.

    Runs on libyaml's events, without building anything; only texts with an anchor (``&``) are walked,
    since there is no alias without one. Also used on Sigma rules before pySigma reads them.
    """
    if len(text) > MAX_BYTES:
        raise ConfigError(
            f"file is {len(text) / (1 << 20):.1f} MB, more than the {MAX_BYTES >> 20} MB rempart reads "
            "as configuration", Location(source), "is it the right file?"
        )
    if "&" not in text:
        return
    try:
        _check_aliases(text, source)
    except yaml.YAMLError:
        return  # the syntax error is reported by the parser, with its own location


def _check_aliases(text: str, source: Path | str) -> None:
    sizes: dict[str, int] = {}  # anchor → nodes it stands for, aliases expanded
    stack: list[list[Any]] = []  # open collections: [anchor or None, nodes so far]
    added = 0
    for event in yaml.parse(text, Loader=_LOADER):
        size = 0
        if isinstance(event, yaml.DocumentStartEvent):
            sizes.clear()
        elif isinstance(event, yaml.AliasEvent):
            size = sizes.get(event.anchor or "", 1)
            added += size
            _refuse_alias(event, stack, added, source)
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            stack.append([event.anchor, 1])
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, size = stack.pop()
            if anchor is not None:
                sizes[anchor] = size
        if size and stack:
            stack[-1][1] += size


def _refuse_alias(event: yaml.AliasEvent, stack: list[list[Any]], added: int, source: Path | str) -> None:
    mark = event.start_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, 0)
    where = Location(source, line)
    if any(frame[0] == event.anchor for frame in stack):
        raise ConfigError(
            f"alias '*{event.anchor}' (column {column}) is inside its own anchor "
            f"'&{event.anchor}': the value would contain itself forever", where,
            "write the value out, or point the alias at another anchor",
        )
    if added > MAX_ALIAS_NODES:
        raise ConfigError(
            f"alias '*{event.anchor}' (column {column}) takes the values that aliases "
            f"repeat past {MAX_ALIAS_NODES:,} nodes (each alias counts as its anchor written out); "
            "this looks like an alias bomb", where,
            "write the repeated values out, or nest fewer aliases inside anchors",
        )


def _check_tree(root: yaml.Node, source: Path | str) -> None:
    """Count the nodes as written and find the keys given twice; each node once, however many aliases
    point at it, so a shared mapping's duplicate is reported once."""
    seen: set[int] = set()
    todo: list[tuple[yaml.Node, PathKey]] = [(root, ())]
    duplicates: list[ConfigError] = []
    while todo:
        node, path = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if len(seen) > MAX_NODES:
            raise ConfigError(
                f"more than {MAX_NODES:,} values, lists and mappings", Location(source),
                "is it the right file?",
            )
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    key = (key_node.tag, str(key_node.value))
                    mark = key_node.start_mark
                    if key in first:
                        duplicates.append(ConfigError(
                            f"key '{key_node.value}' (column {mark.column + 1}) is given twice in this "
                            f"mapping, first at line {first[key]}; YAML would silently keep only the last",
                            Location(source, mark.line + 1, field_name((*path, str(key_node.value)))),
                            "keep one of them",
                        ))
                    else:
                        first[key] = mark.line + 1
                todo.append((value_node, (*path, str(key_node.value))))
                todo.append((key_node, path))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, (*path, i)) for i, item in enumerate(node.value))
    if duplicates:
        duplicates.sort(key=lambda e: (e.location.line or 0) if e.location else 0)
        raise ConfigErrors(duplicates)


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
    check_limits(text, source)
    try:
        # parsed once, by libyaml when present (a 1,700-line group.yaml: 15 ms instead of 650 ms);
        # the node tree gives the line of every field, the data is constructed from that same tree
        node = yaml.compose(text, Loader=_LOADER)
        if node is not None:
            _check_tree(node, source)
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
