"""Read `group.yaml` and check what pydantic cannot see alone: unique ids, references between items."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rempart.domain.inventory import Establishment, Group
from rempart.errors import ConfigError, ConfigErrors, Location
from rempart.yamldoc import PathKey, field_name, line_of, parse_yaml, validate_text


def load_group(path: Path | str) -> Group:
    """Load and validate a group description; every mistake is reported with file, line and field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "inventory file not found", Location(p), "give the path of your group.yaml"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read inventory: {exc}", Location(p)) from None
    group = validate_text(Group, text, p)
    _, lines = parse_yaml(text, p)
    problems = list(_cross_checks(group, p, lines))
    if problems:
        raise ConfigErrors(problems)
    return group


def _err(source: Path, lines: dict[PathKey, int], loc: PathKey, message: str) -> ConfigError:
    return ConfigError(message, Location(source, line_of(lines, loc), field_name(loc)))


def _cross_checks(group: Group, source: Path, lines: dict[PathKey, int]) -> list[ConfigError]:
    errors: list[ConfigError] = []
    pole_ids = Counter(p.id for p in group.poles)
    est_ids = Counter(e.id for e in group.establishments)
    hostnames = Counter(a.short_name for e in group.establishments for a in e.assets)
    ips = Counter(ip for e in group.establishments for a in e.assets for ip in a.ips)
    finess = Counter(e.finess for e in group.establishments)
    for pi, pole in enumerate(group.poles):
        if pole_ids[pole.id] > 1:
            errors.append(_err(source, lines, ("poles", pi, "id"), f"pole id '{pole.id}' is used twice"))
        for ei, est in enumerate(pole.establishments):
            base: PathKey = ("poles", pi, "establishments", ei)
            if est_ids[est.id] > 1:
                errors.append(
                    _err(source, lines, (*base, "id"), f"establishment id '{est.id}' is used twice")
                )
            if finess[est.finess] > 1:
                errors.append(_err(source, lines, (*base, "finess"), f"FINESS {est.finess} is used twice"))
            for ai, asset in enumerate(est.assets):
                if hostnames[asset.short_name] > 1:
                    errors.append(
                        _err(
                            source,
                            lines,
                            (*base, "assets", ai, "hostname"),
                            f"hostname '{asset.hostname}' appears in more than one place; "
                            "hostnames attribute events to establishments and must be unique",
                        )
                    )
                for ii, ip in enumerate(asset.ips):
                    if ips[ip] > 1:
                        errors.append(
                            _err(
                                source,
                                lines,
                                (*base, "assets", ai, "ips", ii),
                                f"address {ip} is given to more than one asset",
                            )
                        )
            errors.extend(_access_checks(est, base, source, lines))
    return errors


def _access_checks(
    est: Establishment, base: PathKey, source: Path, lines: dict[PathKey, int]
) -> list[ConfigError]:
    errors: list[ConfigError] = []
    access_ids = Counter(a.id for a in est.external_accesses)
    for xi, access in enumerate(est.external_accesses):
        loc: PathKey = (*base, "external_accesses", xi)
        if access_ids[access.id] > 1:
            errors.append(_err(source, lines, (*loc, "id"), f"access id '{access.id}' is used twice"))
        if est.asset(access.gateway) is None:
            errors.append(
                _err(
                    source,
                    lines,
                    (*loc, "gateway"),
                    f"gateway '{access.gateway}' is not an asset of establishment '{est.id}'",
                )
            )
    return errors
