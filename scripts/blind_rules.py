"""SigmaHQ rules that are blind on the events we can produce: the conformance report of field names.

    .venv/bin/python scripts/blind_rules.py            # writes docs/blind-rules.md
    .venv/bin/python scripts/blind_rules.py --check    # exit 1 when docs/blind-rules.md is out of date
    .venv/bin/python scripts/blind_rules.py --security-datasets   # counts with Security-Datasets too

Every SigmaHQ rule of ``rules/windows``, ``rules-emerging-threats`` and ``rules-threat-hunting`` is
compiled as a hunt compiles it (pySigma and rempart's pipelines); the fields its compiled detection reads
are looked for in the events of its logsource (its scope: channels, event ids of its category) among the
events rempart reads from ``evtx-attack-samples`` and ``sigma-regression`` (EVTX and JSON), every field
kept. A rule is listed when one of its fields is in no event of its logsource (of the event ids its detection
asks for, when it does), with the reason: no event of that logsource at all, none of those event ids, the
field never present, or the field present under another spelling (a bug of ours:
``tests/detect/test_field_conformance.py`` fails on it). Security-Datasets is left out: reading its
680k events takes a minute, more than the suite can spend.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from rempart.detect import compile_rules, load_rules
from rempart.detect.backend import columns_used
from rempart.detect.pipelines import Scope
from rempart.events import EventStore
from rempart.events.store import TABLE
from rempart.ingest import IngestReport, read_paths

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DOC = ROOT / "docs" / "blind-rules.md"
RULE_FOLDERS = ("rules/windows", "rules-emerging-threats", "rules-threat-hunting")
EVENT_FOLDERS = ("evtx-attack-samples", "sigma-regression")
NO_EVENTS = "no event of the logsource"
NO_IDS = "no event of the rule's event ids"
NEVER = "field never present"
SPELLING = "field present under another spelling"


@dataclass(frozen=True)
class Blind:
    path: str  # relative to the SigmaHQ folder
    logsource: str
    reason: str
    fields: tuple[str, ...]  # the fields never seen (with the spelling seen, for SPELLING)
    event_ids: str = ""  # those the rule's detection asks for, for NO_IDS


def _loose(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _logsource(scope: Scope) -> str:
    services = ", ".join(scope.services) if scope.services is not None else "any channel"
    ids = f"; event ids {', '.join(map(str, scope.event_ids))}" if scope.event_ids is not None else ""
    return f"{scope.product}: {services}{ids}".replace("\x00none", "(not ingested)")


def _present(store: EventStore, scope: Scope) -> dict[str, tuple[int, set[str]]]:
    """Event id → the number of events of `scope` with it and the (lower-case) fields some of them carry."""
    columns = store.columns
    where = scope.prefilter(set(columns))
    eid = f'"{columns["eventid"]}"' if "eventid" in columns else "NULL"
    where = where.replace('"EventID"', eid)
    names = [c for c in columns.values() if not c.startswith("_")]
    counts = ", ".join(f'count("{c}")' for c in names)
    rows = store.connection.execute(
        f"SELECT {eid}, count(*), {counts} FROM {TABLE} WHERE {where} GROUP BY ALL").fetchall()
    return {str(r[0]): (int(r[1]), {n.lower() for n, k in zip(names, r[2:], strict=True) if k}) for r in rows}


def _spelled(path: Path, fields: list[str]) -> list[str]:
    """`fields` (lower-case) as the rule file spells them."""
    text = path.read_text(encoding="utf-8", errors="replace")
    out = []
    for f in fields:
        found = re.search(rf"^[ \t-]*({re.escape(f)})\s*[|:]", text, re.IGNORECASE | re.MULTILINE)
        out.append(found.group(1) if found else f)
    return out


def blind_rules(data: Path, cache: Path | None = None, more: tuple[str, ...] = ()
                ) -> tuple[list[Blind], int, int]:
    """(blind rules, rules examined, events read) for the shared data at `data` (and its folders `more`)."""
    sigma = data / "sigma"
    plan = compile_rules(load_rules([sigma / f for f in RULE_FOLDERS], cache_dir=cache), cache)
    store = EventStore()
    report = IngestReport()
    for table in read_paths([data / f for f in (*EVENT_FOLDERS, *more)], fields=None, report=report):
        store.append(table)
    events = store.count()
    by_scope: dict[str, tuple[Scope, list[tuple[Path, tuple[str, ...] | None, set[str]]]]] = {}
    examined = 0
    for rule in plan.base_rules:
        fields = {f for _, f in columns_used(rule.predicate or "") if not f.startswith("_")}
        if rule.scope is None or not fields:
            continue  # keyword rules read _raw, always there
        examined += 1
        entry = (Path(rule.path), rule.event_ids, fields)
        by_scope.setdefault(rule.scope.key, (rule.scope, []))[1].append(entry)
    out: list[Blind] = []
    for scope, rules in by_scope.values():
        by_id = _present(store, scope)
        for path, ids, fields in rules:
            seen = [by_id[i] for i in (ids if ids is not None else by_id) if i in by_id]
            present = set().union(*(names for _, names in seen))
            missing = sorted(f for f in fields if f not in present and not scope.alias_fields(f) & present)
            if not missing:
                continue
            name = str(path.resolve().relative_to(sigma.resolve()))
            spelled = tuple(_spelled(path, missing))
            if not by_id or not seen:  # every field is missing; EventID would only be noise
                spelled = tuple(f for f in spelled if f.lower() != "eventid")
                out.append(Blind(name, _logsource(scope), NO_EVENTS if not by_id else NO_IDS, spelled,
                                 ", ".join(ids or ())))
                continue
            loose = defaultdict(set)
            for column in present:
                loose[_loose(column)].add(store.columns[column])
            other = [f"{s} (seen as {', '.join(sorted(loose[_loose(f)]))})"
                     for f, s in zip(missing, spelled, strict=True) if loose[_loose(f)]]
            out.append(Blind(name, _logsource(scope), SPELLING if other else NEVER, tuple(other) or spelled))
    store.close()
    return sorted(out, key=lambda b: (b.reason, b.logsource, b.path)), examined, events


def render(blind: list[Blind], examined: int, events: int) -> str:
    by_reason: dict[str, list[Blind]] = defaultdict(list)
    for b in blind:
        by_reason[b.reason].append(b)
    lines = [
        "# SigmaHQ rules blind on our data",
        "",
        "Written by `scripts/blind_rules.py` (rerun:",
        "`PYTHONPATH=src .venv/bin/python scripts/blind_rules.py`; `tests/detect/test_field_conformance.py`",
        "checks that this file is up to date). The SigmaHQ rules of `rules/windows`,",
        f"`rules-emerging-threats` and `rules-threat-hunting` with a field condition ({examined}) against",
        f"the {events:,} events that rempart reads from `evtx-attack-samples` and `sigma-regression`: a rule",
        "is listed when a field it reads is in no event of its logsource (with the event ids it asks for,",
        "if any). Blind here is not blind everywhere: the samples hold only some channels and",
        "event ids.",
        "",
        "| reason | rules |",
        "| --- | ---: |",
        *(f"| {reason} | {len(by_reason[reason])} |" for reason in (SPELLING, NEVER, NO_IDS, NO_EVENTS)),
        "",
    ]
    if by_reason[SPELLING]:
        lines += [f"## {SPELLING}", "", "| rule | logsource | fields |", "| --- | --- | --- |"]
        lines += [f"| `{b.path}` | {b.logsource} | {', '.join(b.fields)} |" for b in by_reason[SPELLING]]
        lines.append("")
    lines += [f"## {NEVER}", "",
              "Events of the logsource are in our data, but none carries the field.", "",
              "| rule | logsource | fields never seen |", "| --- | --- | --- |"]
    lines += [f"| `{b.path}` | {b.logsource} | {', '.join(b.fields)} |" for b in by_reason[NEVER]]
    lines += ["", f"## {NO_IDS}", "",
              "Events of the logsource are in our data, but none with an event id the rule asks for.", "",
              "| rule | logsource | event ids | fields |", "| --- | --- | --- | --- |"]
    lines += [f"| `{b.path}` | {b.logsource} | {b.event_ids} | {', '.join(b.fields)} |"
              for b in by_reason[NO_IDS]]
    lines += ["", f"## {NO_EVENTS}", "",
              "No event of the rule's logsource is in our data, by logsource:", "",
              "| logsource | rules |", "| --- | ---: |"]
    counts: dict[str, int] = defaultdict(int)
    for b in by_reason[NO_EVENTS]:
        counts[b.logsource] += 1
    lines += [f"| {ls} | {n} |" for ls, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += ["", "The rules, by logsource:", "", "| rule | logsource | fields |", "| --- | --- | --- |"]
    lines += [f"| `{b.path}` | {b.logsource} | {', '.join(b.fields)} |" for b in by_reason[NO_EVENTS]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the docs file is out of date")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--security-datasets", action="store_true",
                        help="add Security-Datasets (a minute more) and print the counts, not the docs file")
    args = parser.parse_args()
    if args.security_datasets:
        blind, examined, events = blind_rules(args.data, more=("security-datasets",))
        print(f"{examined} rules, {events:,} events (with Security-Datasets):")
        for reason in (SPELLING, NEVER, NO_IDS, NO_EVENTS):
            print(f"  {reason}: {sum(b.reason == reason for b in blind)}")
        for b in blind:
            if b.reason == SPELLING:
                print(f"  SPELLING {b.path}: {', '.join(b.fields)}")
        return 0
    text = render(*blind_rules(args.data))
    if args.check:
        same = DOC.exists() and DOC.read_text() == text
        print(f"{DOC}: {'up to date' if same else 'out of date, rerun scripts/blind_rules.py'}")
        return 0 if same else 1
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
