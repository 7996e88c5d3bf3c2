"""The audit journal: append-only, each entry chained to the previous one and authenticated with a key
that is not in the case store, its head anchored outside the case store.

Every action that changes the outside world is journaled before and after it runs. An entry's MAC
(HMAC-SHA256 over canonical JSON, ``journal_seal``) covers its content, its sequence number and the hash
of the entry before it, so that no entry can be edited, moved, inserted or re-chained without the key.
The anchor (``journal_anchor``) records every entry's sequence number and MAC, so that deleting entries
at the end, or all of them, is seen too. ``check`` says exactly what is wrong, entry by entry.

The key and the anchor live in ``REMPART_KEYS_DIR`` (``REMPART_JOURNAL_ANCHOR`` for the anchor alone);
without it, in ``keys/`` beside a SQLite case store, else under ``REMPART_HOME``.

Journals written before the key existed keep their entries without a MAC: ``check`` reports them as not
authenticated before the first keyed entry, whose MAC seals their hash chain.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, false, func, inspect, select, update
from sqlalchemy.orm import Session

from rempart.errors import InputError, StateError
from rempart.settings import Settings
from rempart.store.journal_anchor import (
    ANCHOR_FILE,
    COMMITTED,
    TORN,
    WRITTEN,
    AnchorRecord,
    AnchorSink,
    FileAnchor,
)
from rempart.store.journal_seal import FIELDS, KEY_FILE, Content, JournalKey, create_key, load_key
from rempart.store.models.core import JournalRow

GENESIS = "0" * 64
_SEALING = "rempart.journal.sealing"
_PENDING = "rempart.journal.pending"
_PG_LOCK = 0x72656D706A6E6C  # 'rempjnl': one advisory lock serialises appends across processes
log = logging.getLogger(__name__)


def _canonical(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def _legacy_digest(
    seq: int, at: datetime, actor: str, action: str, subject: str, payload: str, prev: str
) -> str:
    """How entries were hashed before the journal had a key (kept to check those entries' chain)."""
    material = "\x1f".join([str(seq), at.astimezone(UTC).isoformat(), actor, action, subject, payload, prev])
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class JournalSealing:
    """Where a case store's journal key and anchor live."""

    keys_dir: Path
    anchor: AnchorSink

    @property
    def key_path(self) -> Path:
        return self.keys_dir / KEY_FILE


def sealing_for(session: Session) -> JournalSealing:
    cached = session.info.get(_SEALING)
    if isinstance(cached, JournalSealing):
        return cached
    settings = Settings()
    url = session.get_bind().engine.url
    if settings.keys_dir is not None:
        keys = settings.keys_dir
    elif url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        # beside the store: for the default store, the same folder as REMPART_HOME/keys
        keys = Path(url.database).parent / "keys"
    else:
        keys = settings.key_directory
    sealing = JournalSealing(keys, FileAnchor(settings.journal_anchor or keys / ANCHOR_FILE))
    session.info[_SEALING] = sealing
    return sealing


def _lock(session: Session) -> None:
    """Serialise appends: two processes must never both take the same sequence number."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_PG_LOCK)))
    elif dialect == "sqlite":
        # an UPDATE that changes nothing still takes SQLite's write lock (waiting for another writer),
        # and the reads that follow see what that writer committed
        session.execute(
            update(JournalRow)
            .where(false())
            .values(seq=JournalRow.seq)
            .execution_options(synchronize_session=False)
        )


def _key_for_append(session: Session, sealing: JournalSealing) -> JournalKey:
    last_keyed = session.execute(
        select(JournalRow.seq, JournalRow.key_id)
        .where(JournalRow.mac.is_not(None))
        .order_by(JournalRow.seq.desc())
        .limit(1)
    ).first()
    key = load_key(sealing.key_path)
    if key is None:
        if last_keyed is not None:
            raise StateError(
                f"journal key {sealing.key_path} missing: entries up to {last_keyed.seq} were authenticated "
                f"with key {last_keyed.key_id}; nothing was journaled",
                hint="restore journal.key from its backup, "
                "or set REMPART_KEYS_DIR to the folder that holds it",
            )
        return create_key(sealing.key_path)
    # a row written with another key refuses appends only when no entry was written with this key: a
    # misplaced keys folder, not an entry an attacker added to stop rempart journaling (verify names it)
    if (
        last_keyed is not None
        and last_keyed.key_id != key.key_id
        and session.execute(select(JournalRow.seq).where(JournalRow.key_id == key.key_id).limit(1)).first()
        is None
    ):
        raise StateError(
            f"journal key {sealing.key_path} is key {key.key_id}, but entries up to {last_keyed.seq} were "
            f"authenticated with key {last_keyed.key_id}; nothing was journaled",
            hint="restore the journal's own journal.key, or set REMPART_KEYS_DIR to the folder that holds it",
        )
    return key


def append(
    session: Session,
    actor: str,
    action: str,
    subject: str,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> JournalRow:
    """Add one entry at the end of the chain, in the caller's transaction, and anchor it."""
    sealing = sealing_for(session)
    _lock(session)
    key = _key_for_append(session, sealing)
    last = session.execute(
        select(JournalRow).order_by(JournalRow.seq.desc()).limit(1).with_for_update()
    ).scalar_one_or_none()
    seq = last.seq + 1 if last else 1
    content = Content(
        seq=seq,
        at=(at or datetime.now(UTC)).astimezone(UTC),
        actor=actor,
        action=action,
        subject=subject,
        payload=_canonical(payload or {}),
        prev_hash=last.hash if last else GENESIS,
        key_id=key.key_id,
    )
    row = JournalRow(
        seq=seq,
        at=content.at,
        actor=actor,
        action=action,
        subject=subject,
        payload=content.payload,
        prev_hash=content.prev_hash,
        hash=content.content_hash(),
        key_id=key.key_id,
        mac=content.mac(key),
        field_macs=content.field_macs(key),
    )
    session.add(row)
    session.flush()
    first = session.execute(
        select(JournalRow.mac).where(JournalRow.mac.is_not(None)).order_by(JournalRow.seq).limit(1)
    ).scalar_one()
    record = AnchorRecord(first or str(row.mac), seq, str(row.mac), key.key_id, WRITTEN)
    session.info.setdefault(_PENDING, []).append((sealing.anchor, key, record, row))
    return row


def _pending_by_sink(session: Session, state: str) -> list[tuple[AnchorSink, JournalKey, list[AnchorRecord]]]:
    by_sink: dict[int, tuple[AnchorSink, JournalKey, list[AnchorRecord]]] = {}
    for sink, key, record, row in session.info.get(_PENDING, []):
        if not inspect(row).persistent:  # its transaction or savepoint rolled back: it was never committed
            continue
        by_sink.setdefault(id(sink), (sink, key, []))[2].append(replace(record, state=state))
    return list(by_sink.values())


@event.listens_for(Session, "before_commit")
def _anchor_written(session: Session) -> None:
    """Before the commit, fsynced: a committed entry is always in the anchor (an error here aborts it)."""
    for sink, key, records in _pending_by_sink(session, WRITTEN):
        sink.record(records, key, sync=True)


@event.listens_for(Session, "after_commit")
def _anchor_committed(session: Session) -> None:
    # not fsynced: after a power cut the entry is still anchored as written, which verify accepts
    for sink, key, records in _pending_by_sink(session, COMMITTED):
        try:
            sink.record(records, key, sync=False)
        except StateError as exc:
            log.warning("journal entries committed but not marked committed in the anchor: %s", exc)
    session.info.pop(_PENDING, None)


@dataclass(frozen=True)
class JournalProblem:
    seq: int | None  # the entry concerned; None for the key or the anchor as a whole
    kind: str  # edited, rechained, forged, moved, swapped, missing, truncated, fork, key, anchor, unanchored
    reason: str  # a whole sentence naming the entry, the field or the break

    def __str__(self) -> str:
        return self.reason


@dataclass
class JournalReport:
    entries: int = 0
    authenticated: int = 0
    problems: list[JournalProblem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    key_path: Path | None = None
    anchor: str = ""

    def add(self, seq: int | None, kind: str, reason: str) -> None:
        self.problems.append(JournalProblem(seq, kind, reason))


def verify(session: Session) -> list[JournalProblem]:
    """Every break in the journal; an empty list means it is intact."""
    return check(session).problems


def _span(seqs: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for n in sorted(seqs):
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def _entries(a: int, b: int) -> str:
    return f"entry {a}" if a == b else f"entries {a}..{b}"


def _content(row: JournalRow, seq: int) -> Content:
    return Content(
        seq, row.at, row.actor, row.action, row.subject, row.payload, row.prev_hash, row.key_id or ""
    )


def _describe(name: str, seq: int) -> str:
    return {"at": "at (its time)", "prev_hash": f"prev_hash (its link to entry {seq - 1})"}.get(name, name)


def check(session: Session, anchor: AnchorSink | None = None) -> JournalReport:
    """Walk the whole journal, its MACs and its anchor; name every entry altered, removed or inserted.

    ANCHOR: check against that anchor instead (a copy kept on another host, for instance)."""
    return _Check(session, anchor).run()


class _Check:
    def __init__(self, session: Session, anchor: AnchorSink | None) -> None:
        self.session = session
        self.sealing = sealing_for(session)
        if anchor is not None:
            self.sealing = replace(self.sealing, anchor=anchor)
        self.where = self.sealing.anchor.where
        self.report = JournalReport(key_path=self.sealing.key_path, anchor=self.where)
        self.rows = list(session.execute(select(JournalRow).order_by(JournalRow.seq)).scalars())
        self.report.entries = len(self.rows)
        self.keyed = [r for r in self.rows if r.mac is not None]
        self.first_keyed = self.keyed[0].seq if self.keyed else None
        self.key: JournalKey | None = None
        self.records: list[AnchorRecord] | None = None
        self.mine: list[AnchorRecord] = []
        self.anchored_seqs: set[int] = set()
        self.committed: dict[int, set[str]] = defaultdict(set)  # seq -> MACs the anchor saw committed
        # rows whose content is genuine, by the position they were written at
        self.by_position: dict[int, JournalRow] = {}
        self.written_at: dict[int, int] = {}  # id(row) -> position it was written at
        self.occupied: set[int] = set()
        self.moved: list[tuple[int, int]] = []  # (stored seq, written seq)
        self.unresolved: list[JournalRow] = []
        self.legacy_end = 0
        _check_location(session, self.sealing, self.report)

    def add(self, seq: int | None, kind: str, reason: str) -> None:
        self.report.add(seq, kind, reason)

    def run(self) -> JournalReport:
        try:
            self.key = load_key(self.sealing.key_path)
        except InputError as exc:
            self.add(None, "key", f"journal key {exc}")
            return self.report
        if not self._key_fits():
            return self.report
        self.records = self.sealing.anchor.read(self.key)
        recorded = [r for r in self.records or [] if r.state != TORN]
        if self.key is None and recorded:
            top = max(r.seq for r in recorded)
            self.add(
                None,
                "key",
                f"journal key {self.sealing.key_path} missing, yet the anchor {self.where} records "
                f"entries up to {top}: the key and those entries were deleted — restore journal.key from "
                "its backup",
            )
            return self.report
        # entries appended in this very transaction reach the anchor when it commits
        pending = [rec for _, _, rec, row in self.session.info.get(_PENDING, []) if inspect(row).persistent]
        if pending:
            self.records = [*(self.records or []), *pending]
        self.mine = _own_records(self.rows, self.keyed, self.records, self.report, self.where)
        self.anchored_seqs = {r.seq for r in self.mine}
        for r in self.mine:
            if r.state == COMMITTED:
                self.committed[r.seq].add(r.mac)
        for row in self.rows:
            self._place(row)
        self._find_moved()
        for row in self.unresolved:
            self.occupied.add(row.seq)
            assert self.key is not None
            _classify_bad(row, self.key, self.committed, self.report)
        self._report_moves()
        self._gaps()
        self._links()
        if self.records is None:
            if self.keyed:
                self.add(
                    None,
                    "anchor",
                    f"anchor {self.where} missing: nothing proves the journal was not truncated — "
                    "restore it from its copy, and keep it on another volume (REMPART_JOURNAL_ANCHOR)",
                )
        elif self.mine or not self.records:
            self._against_anchor()
        self._legacy_notice()
        self.report.problems = _merge_rechained(self.report.problems)
        return self.report

    def _key_fits(self) -> bool:
        """Without the key that wrote the entries, nothing else can be told."""
        if not self.keyed:
            return True
        if self.key is None:
            self.add(
                None,
                "key",
                f"journal key {self.sealing.key_path} missing: the {len(self.keyed)} authenticated entries "
                "cannot be checked — restore journal.key from its backup, or set REMPART_KEYS_DIR to the "
                "folder that holds it",
            )
            return False
        if self.key.key_id not in {r.key_id for r in self.keyed}:
            ids = ", ".join(sorted({r.key_id or "?" for r in self.keyed}))
            self.add(
                None,
                "key",
                f"journal key {self.sealing.key_path} is not the key that wrote this journal "
                f"(its entries were written with key {ids}, the file holds key {self.key.key_id}): "
                "the key file was replaced, or REMPART_KEYS_DIR points at another folder",
            )
            return False
        return True

    def _genuine(self, row: JournalRow, position: int) -> None:
        self.by_position[position] = row
        self.written_at[id(row)] = position
        self.occupied.add(position)

    def _place(self, row: JournalRow) -> None:
        n = row.seq
        if row.mac is None:
            if n in self.anchored_seqs:
                self.add(
                    n, "forged", f"entry {n}: its MAC was removed (the anchor recorded it as authenticated)"
                )
                self.occupied.add(n)
            elif self.first_keyed is not None and n > self.first_keyed:
                self.add(
                    n,
                    "forged",
                    f"entry {n} appended without the key "
                    f"(it has no MAC, yet entry {self.first_keyed} has one)",
                )
                self.occupied.add(n)
            else:
                self.legacy_end = n
                _check_legacy(row, self.report)
                self._genuine(row, n)
            return
        assert self.key is not None
        if row.key_id != self.key.key_id:
            self.add(n, "forged", f"entry {n} written with another key ({row.key_id})")
            self.occupied.add(n)
        elif hmac.compare_digest((content := _content(row, n)).mac(self.key), row.mac):
            self._genuine(row, n)
            self.report.authenticated += 1
            if content.content_hash() != row.hash:
                self.add(n, "edited", f"entry {n} edited: its hash was changed after it was written")
        else:
            self.unresolved.append(row)

    def _find_moved(self) -> None:
        """Rows whose MAC fails where they stand may verify where they were written (swaps, renumbering)."""
        assert self.key is not None or not self.unresolved
        anchored_seq = {r.mac: r.seq for r in self.mine}
        by_hash = {r.hash: r for r in self.rows}
        progress = True
        while progress and self.unresolved:
            progress = False
            for row in list(self.unresolved):
                candidates = [anchored_seq[row.mac]] if row.mac in anchored_seq else []
                pred = by_hash.get(row.prev_hash)
                if pred is not None:
                    if id(pred) in self.written_at:
                        candidates.append(self.written_at[id(pred)] + 1)
                    candidates.append(pred.seq + 1)
                elif row.prev_hash == GENESIS:
                    candidates.append(1)
                assert self.key is not None and row.mac is not None
                for c in candidates:
                    if c != row.seq and hmac.compare_digest(_content(row, c).mac(self.key), row.mac):
                        if c in self.by_position:
                            self.add(
                                row.seq, "forged", f"entry {row.seq} duplicates entry {c} (copied there)"
                            )
                            self.occupied.add(row.seq)
                        else:
                            self._genuine(row, c)
                            self.moved.append((row.seq, c))
                            self.report.authenticated += 1
                        self.unresolved.remove(row)
                        progress = True
                        break

    def _report_moves(self) -> None:
        seen: set[int] = set()
        shifted: dict[int, list[int]] = {}
        for s, c in self.moved:
            if s in seen:
                continue
            if (c, s) in self.moved:
                self.add(min(s, c), "swapped", f"entries {min(s, c)} and {max(s, c)} swapped")
                seen |= {s, c}
            else:
                shifted.setdefault(c - s, []).append(s)
        for offset, stored in shifted.items():
            for a, b in _span(stored):  # a block renumbered at once is one problem
                self.add(
                    a,
                    "moved",
                    f"{_entries(a, b)} {'holds' if a == b else 'hold'} what was written as "
                    f"{_entries(a + offset, b + offset)} (reordered or renumbered)",
                )

    def _gaps(self) -> None:
        top = max(self.occupied, default=0)
        for a, b in _span([n for n in range(1, top + 1) if n not in self.occupied]):
            self.add(a, "missing", f"{_entries(a, b)} missing (deleted)")
        anchor_top = max(self.committed, default=0)
        if anchor_top > top == 0:
            self.add(
                None,
                "truncated",
                f"all {anchor_top} entries deleted (the anchor says there were {anchor_top}), "
                "unless the anchor belongs to another case store",
            )
        elif anchor_top > top:
            self.add(top + 1, "truncated", f"tail truncated after entry {top} (the anchor says {anchor_top})")

    def _links(self) -> None:
        """Genuine neighbours must link up: else a fork, or the unkeyed entries before were rewritten."""
        for pos, row in sorted(self.by_position.items()):
            before = self.by_position.get(pos - 1)
            if before is not None and row.mac is not None and row.prev_hash != before.hash:
                what = "the entries before it were rewritten" if before.mac is None else "the chain forks"
                self.add(pos, "fork", f"entry {pos} does not follow entry {pos - 1}: {what}")

    def _against_anchor(self) -> None:
        """Every genuine keyed entry must be in the anchor, and the anchor's committed ones in the journal."""
        anchored = {(r.seq, r.mac) for r in self.mine}
        genuine = [(pos, r) for pos, r in sorted(self.by_position.items()) if r.mac is not None]
        for pos, r in genuine:
            if self.committed.get(pos, {r.mac}) != {r.mac}:
                self.add(pos, "fork", f"entry {pos} forks the chain: the anchor recorded another entry {pos}")
        missing = [pos for pos, r in genuine if (pos, r.mac) not in anchored]
        last = max((r.seq for r in self.mine), default=0)
        if missing and min(missing) > last:
            self.add(
                min(missing),
                "unanchored",
                f"anchor {self.where} rolled back: it ends at entry {last}, the journal goes on to entry "
                f"{max(missing)} ({_entries(min(missing), max(missing))} not in it)",
            )
            return
        for a, b in _span(missing):
            self.add(
                a, "unanchored", f"{_entries(a, b)} not in the anchor {self.where}: not written by rempart"
            )

    def _legacy_notice(self) -> None:
        if not self.legacy_end:
            return
        head = f"entries 1..{self.legacy_end} were written before the journal had a key: not authenticated"
        sealed = self.by_position.get(self.legacy_end + 1)
        if sealed is not None and sealed.mac is not None:
            self.report.notices.append(
                f"{head} before entry {sealed.seq}, whose MAC seals their chain (any change since "
                f"{sealed.at:%Y-%m-%d %H:%M:%S} UTC is detected)"
            )
        else:
            self.report.notices.append(f"{head}; the next entry will seal their chain")


def _merge_rechained(problems: list[JournalProblem]) -> list[JournalProblem]:
    """A chain recomputed over thousands of entries is one problem, not thousands of lines."""
    out: list[JournalProblem] = []
    run: list[JournalProblem] = []
    for p in [*problems, JournalProblem(None, "", "")]:
        if p.kind == "rechained" and run and p.seq == (run[-1].seq or 0) + 1:
            run.append(p)
            continue
        if len(run) > 1:
            a, b = run[0].seq or 0, run[-1].seq or 0
            out.append(
                JournalProblem(
                    a,
                    "rechained",
                    f"entries {a}..{b} re-chained: their links to the entries before them (prev_hash) were "
                    "rewritten without the key",
                )
            )
        else:
            out.extend(run)
        run = [p] if p.kind == "rechained" else []
        if p.kind not in ("rechained", ""):
            out.append(p)
    return out


def _own_records(
    rows: list[JournalRow],
    keyed: list[JournalRow],
    records: list[AnchorRecord] | None,
    report: JournalReport,
    where: str,
) -> list[AnchorRecord]:
    """This journal's records in the anchor (one anchor may, wrongly, be shared by several case stores)."""
    if records is None:
        return []
    torn = [r.line for r in records if r.state == TORN]
    if torn:
        # not a forgery (a record without its MAC proves nothing either way): a crash cut a write short
        report.notices.append(
            f"anchor {where} line(s) {', '.join(map(str, torn))} unreadable: a write cut short by a crash?"
        )
    bad = [r for r in records if not r.authentic and r.state != TORN]
    if bad:
        foreign = sorted({r.key_id for r in bad if r.key_id} - {r.key_id for r in keyed if r.key_id})
        lines = ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in _span([r.line for r in bad]))
        if foreign and len(bad) == len(records):
            report.add(
                None,
                "anchor",
                f"anchor {where} lines {lines} were written with key {', '.join(foreign)}, "
                f"not with the key in {report.key_path}: "
                "the key file was replaced and the journal re-authenticated",
            )
        else:
            report.add(None, "anchor", f"anchor {where} line(s) {lines} altered or not written by rempart")
    good = [r for r in records if r.authentic]
    ids = {r.journal for r in good}
    if keyed and keyed[0].mac in ids:
        own = keyed[0].mac
    elif len(ids) == 1:
        own = next(iter(ids))
    elif ids:
        pairs = {(r.seq, r.mac) for r in rows}
        overlap: dict[str, int] = defaultdict(int)
        for r in good:
            overlap[r.journal] += (r.seq, r.mac) in pairs
        own, best = max(overlap.items(), key=lambda kv: kv[1])
        if best == 0:
            report.add(
                None,
                "anchor",
                f"anchor {where} records {len(ids)} other journals and none of this journal's entries: "
                "entries were deleted, or the anchor is shared by several case stores (give each its own)",
            )
            return []
    else:
        return []
    return [r for r in good if r.journal == own]


def _check_legacy(row: JournalRow, report: JournalReport) -> None:
    digest = _legacy_digest(row.seq, row.at, row.actor, row.action, row.subject, row.payload, row.prev_hash)
    if digest != row.hash:
        report.add(
            row.seq,
            "edited",
            f"entry {row.seq} edited (written before the journal had a key: its hash no longer matches)",
        )


def _classify_bad(
    row: JournalRow, key: JournalKey, committed: dict[int, set[str]], report: JournalReport
) -> None:
    """An entry whose MAC fails where it stands and anywhere it could have come from."""
    assert row.mac is not None
    n = row.seq
    changed = _content(row, n).changed_fields(key, row.field_macs)
    if changed is None or set(changed) == set(FIELDS):
        if committed.get(n, {row.mac}) != {row.mac}:
            report.add(
                n,
                "forged",
                f"entry {n} replaced by one written without the key "
                f"(the anchor recorded another MAC for entry {n})",
            )
        else:
            report.add(n, "forged", f"entry {n} appended without the key (its MAC is not valid)")
    elif changed == ["prev_hash"]:
        report.add(
            n,
            "rechained",
            f"entry {n} re-chained: its link to entry {n - 1} (prev_hash) was rewritten without the key",
        )
    elif changed:
        fields = ", ".join(_describe(f, n) for f in changed)
        report.add(n, "edited", f"entry {n} edited: {fields} changed after it was written")
    else:
        report.add(
            n,
            "edited",
            f"entry {n} edited: every field is as written, "
            "but its MAC, key id or sequence number was changed",
        )


def _check_location(session: Session, sealing: JournalSealing, report: JournalReport) -> None:
    url = session.get_bind().engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    data = Path(url.database).resolve().parent
    inside = [
        f"{what} {path}"
        for what, path in (("journal key", sealing.key_path), ("anchor", Path(sealing.anchor.where)))
        if path.resolve().is_relative_to(data)
    ]
    if inside:
        report.notices.append(
            f"the {' and the '.join(inside)} {'are' if len(inside) > 1 else 'is'} inside the case store's "
            f"folder {data}: whoever can rewrite the case store can rewrite "
            f"{'them' if len(inside) > 1 else 'it'} too — "
            "set REMPART_KEYS_DIR (and REMPART_JOURNAL_ANCHOR) to another volume"
        )


def entries(session: Session, subject_prefix: str | None = None) -> list[JournalRow]:
    query = select(JournalRow).order_by(JournalRow.seq)
    if subject_prefix:
        query = query.where(JournalRow.subject.startswith(subject_prefix))
    return list(session.execute(query).scalars())
