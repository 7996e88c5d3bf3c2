"""Read an establishment's clinical data from FHIR R4: NDJSON bulk-export files or a Bundle.

Every resource is validated with ``fhir.resources`` (its R4B models, which HL7 declares compatible with
R4 for the resources used here). A bad resource is reported with its file, line (or Bundle entry), id and
reason, and dropped; everything else is kept. References are then checked: a resource that must point
at a resource missing from the export is dropped too, with the reason, so that a kit never prints a
prescription for a patient nobody can find.

Only patients present at the export time are kept: a finished stay, a merged identity (Patient.link) or
a stopped prescription is *left out*, listed with its reason and place, apart from the resources refused
as invalid. What a nurse needs and the export does not give (drug, dose, unit, route, bed) is kept and
listed in ``unknowns``: the kit prints it as unknown, and `snapshot status` fails while any remain.

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

from rempart.continuity import fhir_read
from rempart.errors import InputError, Location

# what a downtime kit needs, in the order references are resolved
RESOURCE_TYPES = (
    "Practitioner",
    "Location",
    "Patient",
    "Encounter",
    "AllergyIntolerance",
    "Medication",
    "MedicationRequest",
)
BUNDLE_TYPES = ("collection", "searchset", "transaction", "batch")
UNKNOWN_COUNT = "unknown values"  # the key of ImportResult.counts() that `snapshot status` checks

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
    problems: list[ImportProblem] = field(default_factory=list)  # refused: invalid or unreadable
    skipped: dict[str, int] = field(default_factory=dict)  # valid but not needed (stopped, other type)
    taken_at: datetime | None = None  # from the bulk-export manifest or the Bundle timestamp
    left_out: list[ImportProblem] = field(default_factory=list)  # not present now: discharged, merged
    unknowns: list[ImportProblem] = field(default_factory=list)  # kept, printed as unknown on the kit

    def counts(self) -> dict[str, int]:
        out = {t: len(self.resources.get(t, {})) for t in RESOURCE_TYPES}
        out[UNKNOWN_COUNT] = len(self.unknowns)
        return out


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
            yield from _bundle_records(path, doc)
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


def _bundle_records(path: Path, doc: dict[str, Any]) -> Iterator[tuple[Location, Any, str | None]]:
    kind = doc.get("type")
    if kind not in BUNDLE_TYPES:
        yield (
            Location(path, None, "type"),
            None,
            f"Bundle of type '{kind}' is not an export of current data: "
            f"export a {', '.join(BUNDLE_TYPES)} Bundle or NDJSON files",
        )
        return
    entries = [e if isinstance(e, dict) else {} for e in doc.get("entry") or []]
    # a transaction names its resources by fullUrl (urn:uuid:…) and its references point at those
    names: dict[str, str] = {}
    for e in entries:
        res = e.get("resource")
        url = e.get("fullUrl")
        if isinstance(res, dict) and isinstance(url, str) and isinstance(res.get("resourceType"), str):
            if not res.get("id") and url.startswith("urn:uuid:"):
                res["id"] = url.removeprefix("urn:uuid:")
            if res.get("id"):
                names[url] = f"{res['resourceType']}/{res['id']}"
    for i, e in enumerate(entries):
        res = e.get("resource")
        if res is None and (e.get("request") or {}).get("method") == "DELETE":
            continue
        if (e.get("search") or {}).get("mode") == "outcome":
            continue  # a searchset's OperationOutcome: about the search, not a resource of the export
        if names and isinstance(res, dict):
            _rename_references(res, names)
        yield Location(path, None, f"entry[{i}]"), res, None if res is not None else "entry has no resource"


def _rename_references(node: Any, names: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref in names:
            node["reference"] = names[ref]
        for v in node.values():
            _rename_references(v, names)
    elif isinstance(node, list):
        for v in node:
            _rename_references(v, names)


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
    if res["resourceType"] == "MedicationRequest":
        return fhir_read.not_printed(res)
    return None


def _refusal(res: dict[str, Any]) -> str | None:
    if res["resourceType"] == "MedicationRequest" and res.get("status") == "unknown":
        return "status 'unknown': nobody can tell whether this order is current, check it with the prescriber"
    return None


def read_fhir(paths: Iterable[Path], taken_at: datetime | None = None) -> ImportResult:
    """Validate every resource of the given files; keep the good ones, report the others.

    Presence is judged at `taken_at`, else the export time the files give, else now."""
    files, taken = expand_paths(paths)
    result = ImportResult(taken_at=taken, resources={t: {} for t in RESOURCE_TYPES})
    where: dict[str, Location] = {}
    for path in files:
        for loc, res, error in _records(path):
            if error is not None:
                result.problems.append(ImportProblem(loc, None, error))
                continue
            _validate_one(res, loc, result, where)
    at = (taken_at or taken or datetime.now(UTC)).astimezone(UTC)
    gone = _merged_patients(result, where)
    gone.update(_absent(result, where, at))
    _check_references(result, where, gone)
    _unknowns(result, where, at)
    return result


def _merged_patients(result: ImportResult, where: dict[str, Location]) -> dict[str, str]:
    """Drop merged identities (Patient.link replaced-by), pointing their stays at the surviving record."""
    patients = result.resources["Patient"]
    alias: dict[str, str] = {}
    gone: dict[str, str] = {}
    for pid, pat in list(patients.items()):
        target = fhir_read.replaced_by(pat)
        if target and target != pid and target in patients:
            alias[pid] = target
        elif pat.get("active") is False:
            gone[f"Patient/{pid}"] = "patient record inactive (active = false)"
    for pid, target in alias.items():
        del patients[pid]
        name = f"Patient/{pid}"
        result.left_out.append(
            ImportProblem(where[name], name, f"merged into Patient/{target} (Patient.link)")
        )
    for name, why in gone.items():
        del patients[name.split("/")[1]]
        result.left_out.append(ImportProblem(where[name], name, why))
    if alias:
        for kind, path, target, _ in REFERENCES:
            if target != "Patient":
                continue
            for res in result.resources[kind].values():
                ref = res.get(path)
                rid = _ref_id(ref)
                if rid in alias and isinstance(ref, dict):
                    res[path] = {**ref, "reference": f"Patient/{alias[rid]}"}
    return gone


def _ref_id(ref: Any) -> str | None:
    if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
        return str(ref["reference"]).rstrip("/").split("/")[-1]
    return None


def _absent(result: ImportResult, where: dict[str, Location], at: datetime) -> dict[str, str]:
    """Stays that are over (or not begun) and patients without a current stay: not on the census."""
    gone: dict[str, str] = {}
    present: set[str] = set()
    encounters = result.resources["Encounter"]
    why_patient: dict[str, str] = {}
    stays = {eid: fhir_read.stay_of(enc, encounters) for eid, enc in encounters.items()}
    for eid, enc in list(encounters.items()):
        pid = _ref_id(enc.get("subject")) or ""
        why = fhir_read.absence(enc, at)
        stay = stays[eid]
        if why is None:
            if stay is None or fhir_read.absence(encounters[stay], at) is None:
                present.add(pid)
                continue
            why = f"stay Encounter/{stay} is over"
        name = f"Encounter/{eid}"
        if stay is not None and stay in encounters and fhir_read.absence(encounters[stay], at) is None:
            # a past movement of a stay that goes on: the stay, its orders and its patient stay
            result.skipped["movement over, its stay goes on"] = (
                result.skipped.get("movement over, its stay goes on", 0) + 1
            )
            continue
        gone[name] = why
        why_patient.setdefault(pid, why)
        result.left_out.append(ImportProblem(where[name], name, why))
    for name in gone:
        encounters.pop(name.split("/", 1)[1], None)
    for pid in list(result.resources["Patient"]):
        if pid in present:
            continue
        name = f"Patient/{pid}"
        why = why_patient.get(pid, "no encounter in the export: patient not on the census")
        del result.resources["Patient"][pid]
        gone[name] = why
        result.left_out.append(ImportProblem(where[name], name, why))
    return gone


def _unknowns(result: ImportResult, where: dict[str, Location], at: datetime) -> None:
    medications = result.resources["Medication"]
    for rid, mr in result.resources["MedicationRequest"].items():
        name = f"MedicationRequest/{rid}"
        for sentence in fhir_read.read_order(mr, medications).missing:
            result.unknowns.append(ImportProblem(where[name], name, sentence))
    locations = result.resources["Location"]
    encounters = result.resources["Encounter"]
    moves = fhir_read.movements(encounters)
    for eid, enc in encounters.items():
        if fhir_read.stay_of(enc, encounters) is not None or fhir_read.absence(enc, at) is not None:
            continue  # a movement: its bed is its stay's
        if "bed" not in fhir_read.place_of(locations, fhir_read.stay_locations(enc, moves, at)):
            name = f"Encounter/{eid}"
            result.unknowns.append(ImportProblem(where[name], name, fhir_read.MISSING_BED))


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
    if why := _refusal(res):
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


def _check_references(result: ImportResult, where: dict[str, Location], gone: dict[str, str]) -> None:
    """A resource pointing at one that is left out (a finished stay) is left out with that reason; at one
    missing from the export, it is refused if the reference is required, else kept and the reference
    reported. Dropping a resource drops what points at it, each with its own reason: repeat until stable."""
    changed = True
    warned: set[tuple[str, str]] = set()
    while changed:
        changed = False
        for kind, path, target, required in REFERENCES:
            field_name = path.replace("[]", "")
            for rid, res in list(result.resources[kind].items()):
                refs = _refs_at(res, path)
                bad = [r for r in refs if _target_id(r, target) not in result.resources[target]]
                name = f"{kind}/{rid}"
                ended = next(
                    (gone[k] for r in bad if (k := f"{target}/{_target_id(r, target)}") in gone), None
                )
                if ended is not None and (required or target == "Encounter"):
                    del result.resources[kind][rid]
                    gone[name] = ended
                    result.left_out.append(ImportProblem(where[name], name, ended))
                    changed = True
                    continue
                if required and not refs:
                    bad = [f"(none in {field_name})"]
                if not bad or (name, path) in warned:
                    continue
                if required:
                    del result.resources[kind][rid]
                    changed = True
                    reason = f"unknown reference {bad[0]} in {field_name}"
                else:
                    warned.add((name, path))
                    reason = f"unknown reference {bad[0]} in {field_name}: ignored, the rest is kept"
                result.problems.append(ImportProblem(where[name], name, reason))


def _target_id(reference: str, target: str) -> str:
    # "Patient/p1" and absolute "https://…/Patient/p1" both resolve to p1; another type never matches
    parts = reference.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == target:
        return parts[-1]
    return "\x00"
