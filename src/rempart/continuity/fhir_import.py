"""Read an establishment's clinical data from FHIR R4: NDJSON bulk-export files or a Bundle.

Every resource is validated with ``fhir.resources`` (its R4B models, which HL7 declares compatible with
R4 for the resources used here). A bad resource is reported with its file, line (or Bundle entry), id and
reason, and dropped; everything else is kept. References are then checked: a resource pointing at a
resource that is not in the export is dropped too, with the reason, so that a kit never prints a
prescription for a patient nobody can find.

Problems name resources by id only: patient data never goes into a message.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from rempart.errors import InputError, Location

# what a downtime kit needs, in the order references are resolved
RESOURCE_TYPES = (
    "Practitioner",
    "Location",
    "Patient",
    "Encounter",
    "AllergyIntolerance",
    "MedicationRequest",
)

# (resource type, path of a reference inside it, type it must point to, required)
REFERENCES: tuple[tuple[str, str, str, bool], ...] = (
    ("Location", "partOf", "Location", False),
    ("Encounter", "subject", "Patient", True),
    ("Encounter", "location[].location", "Location", False),
    ("Encounter", "participant[].individual", "Practitioner", False),
    ("AllergyIntolerance", "patient", "Patient", True),
    ("MedicationRequest", "subject", "Patient", True),
    ("MedicationRequest", "requester", "Practitioner", False),
    ("MedicationRequest", "encounter", "Encounter", False),
)


@dataclass(frozen=True)
class ImportProblem:
    """One resource (or line) that was not kept, and why."""

    location: Location
    resource: str | None  # "MedicationRequest/mr-12" when known
    reason: str

    def __str__(self) -> str:
        what = f"{self.resource}: " if self.resource else ""
        return f"{self.location}: {what}{self.reason}"


@dataclass
class ImportResult:
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # type -> id -> json
    problems: list[ImportProblem] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # valid but not needed (inactive, other type)
    taken_at: datetime | None = None  # from the bulk-export manifest or the Bundle timestamp

    def counts(self) -> dict[str, int]:
        return {t: len(self.resources.get(t, {})) for t in RESOURCE_TYPES}


def _short_reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(resource)"
        msg = "missing required field" if err["type"] == "missing" else err["msg"]
        parts.append(f"{loc}: {msg}")
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _records(path: Path) -> Iterator[tuple[Location, Any, str | None]]:
    """(where, parsed JSON or None, JSON error) for every resource in an NDJSON file or a Bundle."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", Location(path)) from None
    stripped = raw.lstrip()
    if path.suffix.lower() == ".json" and stripped.startswith(b"{"):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            yield Location(path, exc.lineno), None, f"invalid JSON: {exc.msg}"
            return
        if isinstance(doc, dict) and doc.get("resourceType") == "Bundle":
            for i, entry in enumerate(doc.get("entry") or []):
                res = entry.get("resource") if isinstance(entry, dict) else None
                yield (
                    Location(path, None, f"entry[{i}]"),
                    res,
                    None if res is not None else "entry has no resource",
                )
            return
        yield Location(path, 1), doc, None
        return
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield Location(path, lineno), orjson.loads(line), None
        except orjson.JSONDecodeError as exc:
            yield Location(path, lineno), None, f"invalid JSON: {exc.msg}"


def _bundle_time(path: Path) -> datetime | None:
    if path.suffix.lower() != ".json":
        return None
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    stamp = doc.get("timestamp") or doc.get("transactionTime") if isinstance(doc, dict) else None
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def expand_paths(paths: Iterable[Path]) -> tuple[list[Path], datetime | None]:
    """Files to read (a directory means its *.ndjson files) and the export time of a bulk manifest."""
    files: list[Path] = []
    taken: datetime | None = None
    for p in paths:
        if p.is_dir():
            files.extend(sorted(p.glob("*.ndjson")))
            manifest = p / "manifest.json"
            if manifest.exists():
                taken = _bundle_time(manifest) or taken
        elif p.name == "manifest.json":
            taken = _bundle_time(p) or taken
        elif p.exists():
            files.append(p)
            taken = _bundle_time(p) or taken
        else:
            raise InputError("no such file or directory", Location(p))
    if not files:
        raise InputError("no FHIR file to import (expected *.ndjson files or a Bundle .json)")
    return files, taken


def _keep(res: dict[str, Any]) -> str | None:
    """Why a valid resource is not part of a downtime snapshot (None: keep it)."""
    kind = res["resourceType"]
    if kind == "Encounter" and res.get("status") != "in-progress":
        return "encounter not in progress"
    if kind == "MedicationRequest" and res.get("status") != "active":
        return "prescription not active"
    return None


def _dose_problem(res: dict[str, Any]) -> str | None:
    # a kit must type dose and unit unambiguously: a prescription without them cannot be printed
    dosages = res.get("dosageInstruction") or []
    if not dosages:
        return "no dosageInstruction: the dose cannot be printed"
    for d in dosages:
        for dr in d.get("doseAndRate") or []:
            q = dr.get("doseQuantity")
            if q and q.get("value") is not None and (q.get("code") or q.get("unit")):
                return None
    return "no doseQuantity with value and unit: the dose cannot be printed unambiguously"


def read_fhir(paths: Iterable[Path]) -> ImportResult:
    """Validate every resource of the given files; keep the good ones, report the others."""
    files, taken = expand_paths(paths)
    result = ImportResult(taken_at=taken, resources={t: {} for t in RESOURCE_TYPES})
    where: dict[str, Location] = {}
    for path in files:
        for loc, res, error in _records(path):
            if error is not None:
                result.problems.append(ImportProblem(loc, None, error))
                continue
            _validate_one(res, loc, result, where)
    _check_references(result, where)
    return result


def _validate_one(  # noqa: PLR0911  (one early return per reason a resource is not kept)
    res: Any, loc: Location, result: ImportResult, where: dict[str, Location]
) -> None:
    if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
        result.problems.append(ImportProblem(loc, None, "not a FHIR resource (no resourceType)"))
        return
    kind = res["resourceType"]
    rid = res.get("id")
    name = f"{kind}/{rid}" if rid else kind
    if kind not in RESOURCE_TYPES:
        result.skipped[kind] = result.skipped.get(kind, 0) + 1
        return
    if not isinstance(rid, str) or not rid:
        result.problems.append(ImportProblem(loc, name, "missing required field: id"))
        return
    try:
        get_fhir_model_class(kind).model_validate(res)
    except ValidationError as exc:
        result.problems.append(ImportProblem(loc, name, _short_reason(exc)))
        return
    skip = _keep(res)
    if skip:
        result.skipped[skip] = result.skipped.get(skip, 0) + 1
        return
    if kind == "MedicationRequest" and (why := _dose_problem(res)):
        result.problems.append(ImportProblem(loc, name, why))
        return
    if rid in result.resources[kind]:
        result.problems.append(ImportProblem(loc, name, f"duplicate id (first seen at {where[name]})"))
        return
    result.resources[kind][rid] = res
    where[name] = loc


def _refs_at(res: dict[str, Any], path: str) -> list[str]:
    nodes: list[Any] = [res]
    for part in path.split("."):
        nxt: list[Any] = []
        key, many = (part[:-2], True) if part.endswith("[]") else (part, False)
        for n in nodes:
            v = n.get(key) if isinstance(n, dict) else None
            if v is None:
                continue
            nxt.extend(v if many and isinstance(v, list) else [v])
        nodes = nxt
    return [n["reference"] for n in nodes if isinstance(n, dict) and isinstance(n.get("reference"), str)]


def _check_references(result: ImportResult, where: dict[str, Location]) -> None:
    # dropping a resource drops what points at it, each with its own reason: repeat until stable
    changed = True
    while changed:
        changed = False
        for kind, path, target, required in REFERENCES:
            for rid, res in list(result.resources[kind].items()):
                refs = _refs_at(res, path)
                bad = [r for r in refs if _target_id(r, target) not in result.resources[target]]
                if required and not refs:
                    bad = [f"(none in {path.replace('[]', '')})"]
                if bad:
                    name = f"{kind}/{rid}"
                    del result.resources[kind][rid]
                    result.problems.append(
                        ImportProblem(
                            where[name], name, f"unknown reference {bad[0]} in {path.replace('[]', '')}"
                        )
                    )
                    changed = True


def _target_id(reference: str, target: str) -> str:
    # "Patient/p1" and absolute "https://…/Patient/p1" both resolve to p1; another type never matches
    parts = reference.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == target:
        return parts[-1]
    return "\x00"
