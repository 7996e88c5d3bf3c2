"""``read_paths``: files → sources → reader → event batches with the core columns and attribution."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from rempart.domain.events import (
    ASSET,
    CORE_SCHEMA,
    ESTABLISHMENT,
    FORMAT,
    HOST,
    PRODUCT,
    RECORD,
    SERVICE,
    SOURCE,
    TS,
)
from rempart.ingest import readers as _readers  # noqa: F401 - registers every reader
from rempart.ingest.fields import FieldCanon
from rempart.ingest.interface import Batch, Reader, ReaderContext
from rempart.ingest.registry import registry
from rempart.ingest.report import IngestReport
from rempart.ingest.sources import Source, iter_files, open_sources
from rempart.inventory import Resolver

RAW = "_raw"  # the original record text, always present
SNIFF_BYTES = 64 << 10


def read_paths(
    paths: Sequence[Path],
    resolver: Resolver | None = None,
    *,
    fields: Collection[str] | None = None,
    batch_size: int = 65536,
    on_progress: Callable[[int], None] | None = None,
    report: IngestReport,
    reference_year: int | None = None,
    workers: int = 1,
    explicit: bool | None = None,
) -> Iterator[pa.Table]:
    """Read every log under ``paths`` as event tables (see :mod:`rempart.ingest`).

    ``workers`` > 1 reads the files on that many processes (:mod:`rempart.ingest.parallel`), with the same
    tables in the same order. ``explicit`` overrides whether a file of unknown format was named by the user
    (a failure) or met in a folder (ignored); by default, files given directly are named.
    """
    if workers > 1:
        from rempart.ingest.parallel import read_parallel

        yield from read_parallel(
            paths, resolver, fields=fields, batch_size=batch_size, on_progress=on_progress, report=report,
            reference_year=reference_year, workers=workers,
        )
        return
    ctx, names = _context(fields, report, batch_size, reference_year)
    attribute = _Attributor(resolver, report)
    named = {p for p in paths if not p.is_dir()}  # given one by one: an unknown format is a failure
    if explicit is not None:
        named = set(paths) if explicit else set()
    for path in iter_files(paths):
        if not path.exists():
            report.fail(str(path), "no such file or directory")
            continue
        for source in open_sources(path, report, on_progress):
            attribute.collected_from(source)
            reader = _detect(source, report, explicit=path in named and source.member is None)
            if reader is None:
                continue
            yield from _read_source(reader, source, ctx, names, attribute)
    yield from _flush(ctx, names, attribute)


def read_sources(
    sources: Iterable[Source],
    resolver: Resolver | None = None,
    *,
    fields: Collection[str] | None = None,
    batch_size: int = 65536,
    report: IngestReport,
    reference_year: int | None = None,
) -> Iterator[pa.Table]:
    """Read sources that are not files on disk (live intake: the messages of one sender joined as lines)
    exactly as :func:`read_paths` reads a file of the same lines: same reader choice, attribution and
    quarantine. A source no reader recognises is a failure, as a file the user named."""
    ctx, names = _context(fields, report, batch_size, reference_year)
    attribute = _Attributor(resolver, report)
    for source in sources:
        reader = _detect(source, report, explicit=True)
        if reader is not None:
            yield from _read_source(reader, source, ctx, names, attribute)
    yield from _flush(ctx, names, attribute)


def _context(fields: Collection[str] | None, report: IngestReport, batch_size: int,
             reference_year: int | None) -> tuple[ReaderContext, list[str] | None]:
    canon = FieldCanon(fields or ())
    names: list[str] | None = None
    wanted: frozenset[str] | None = None
    if fields is not None:
        seen: dict[str, str] = {}
        for f in fields:
            name = canon(f)
            if not name.startswith("_"):
                seen.setdefault(name.lower(), name)
        names, wanted = list(seen.values()), frozenset(seen)
    return ReaderContext(report, canon, wanted, max(1, batch_size), reference_year), names


def _read_source(reader: Reader, source: Source, ctx: ReaderContext, names: list[str] | None,
                 attribute: _Attributor) -> Iterator[pa.Table]:
    quarantined = ctx.report.quarantined_count
    ctx.hold(reader.per_line)
    yield from _guarded(reader, reader.read(source, ctx), source.name, ctx, names, attribute)
    yield from _other_readers(reader, source, ctx.hold(False), ctx, names, attribute)
    _say_if_unfit(source.name, reader, ctx, ctx.report.quarantined_count - quarantined)


def _flush(ctx: ReaderContext, names: list[str] | None, attribute: _Attributor) -> Iterator[pa.Table]:
    for name in registry.names:
        reader = registry.get(name)
        yield from _guarded(reader, reader.flush(ctx), f"(end of run, {name})", ctx, names, attribute)


def _guarded(
    reader: Reader,
    batches: Iterator[Batch],
    where: str,
    ctx: ReaderContext,
    names: list[str] | None,
    attribute: _Attributor,
) -> Iterator[pa.Table]:
    try:
        for batch in batches:
            table = _assemble(batch, reader.name, where, names, attribute, ctx.report)
            if table.num_rows:
                yield table
    except Exception as exc:  # noqa: BLE001 - the one boundary: a reader bug on one file must not
        # end the run; the batches already yielded are kept and the file is reported.
        ctx.report.fail(where, f"reader {reader.name} stopped: {type(exc).__name__}: {exc}")


def _other_readers(
    chosen: Reader,
    source: Source,
    held: list[tuple[int, str, str]],
    ctx: ReaderContext,
    names: list[str] | None,
    attribute: _Attributor,
) -> Iterator[pa.Table]:
    """The lines of `source` that its reader could not read, each read by the other line reader that
    recognises it (its events count under that format), or quarantined with the first reader's reason.
    A file's format is recognised from its first lines; a file whose lines are of several formats (FortiGate
    lines forwarded into a syslog file, an audit record among them) loses none of them."""
    filename = (source.member or source.path.name).lower()
    others = [r for r in (registry.get(n) for n in registry.names) if r.per_line and r is not chosen]
    by_reader: dict[str, list[tuple[int, str]]] = {}
    for number, reason, text in held:
        line = text.encode()
        scores = [(r.sniff(line, filename), r.name) for r in others]
        best = max(scores, default=(0, ""))
        if best[0] > 0:
            by_reader.setdefault(best[1], []).append((number, text))
        else:
            ctx.report.quarantine(source.name, number, reason, text)
    for name, lines in by_reader.items():
        again = replace(source, stream=io.BufferedReader(io.BytesIO("\n".join(t for _, t in lines).encode())),
                        lines=tuple(n for n, _ in lines))
        reader = registry.get(name)
        yield from _guarded(reader, reader.read(again, ctx), source.name, ctx, names, attribute)


MANY_UNFIT = 10  # quarantined records of one file from which most of them not fitting is worth a word


def _say_if_unfit(name: str, reader: Reader, ctx: ReaderContext, quarantined: int) -> None:
    """When most records of a file were quarantined, say that its format, recognised from its first records,
    may not be what the rest of it is: each record was still read on its own, and those that fit are kept.
    (Not for readers that pool the events of several files: their events are counted later.)"""
    kept = ctx.report.events[(name, reader.name)]
    if quarantined >= MANY_UNFIT and quarantined > kept and reader.name not in ctx.pending:
        ctx.report.fail(name, f"{quarantined:,} of its {quarantined + kept:,} records do not fit the "
                              f"{reader.name} format recognised from its first records; they are "
                              "quarantined, the others were read")


def _detect(source: Source, report: IngestReport, *, explicit: bool) -> Reader | None:
    """The reader for ``source``. A file of unknown format met while walking a folder or an archive
    (a README, a checksum list) is noted as ignored; one the user named is a failure."""
    head = source.stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]  # type: ignore[attr-defined]
    if not head.strip():
        return None  # an empty file has no events and nothing wrong
    reader = registry.detect(source.member or source.path.name, head)
    if reader is None:
        if explicit:
            report.fail(source.name, "unknown format: no reader recognises its name or content")
        else:
            report.ignored.append(source.name)
    return reader


class _Attributor:
    """Establishment and asset per row, resolving each distinct host once per batch."""

    def __init__(self, resolver: Resolver | None, report: IngestReport) -> None:
        self._resolver = resolver
        self._report = report
        self._collected: dict[str, tuple[str, ...]] = {}  # source name → its triage collection's host

    def collected_from(self, source: Source) -> None:
        if source.hosts:
            self._collected[source.name] = source.hosts

    def __call__(self, batch: Batch, sources: pa.Array) -> tuple[pa.Array, pa.Array]:
        """`sources`: each row's source name, whose path is the last clue for an event naming no host."""
        n = batch.num_rows
        est: pa.Array = pa.nulls(n, pa.string())
        asset: pa.Array = pa.nulls(n, pa.string())
        if self._resolver is not None:
            for column in [batch.host, *batch.attribution_hints]:
                e, a = self._resolve(column)
                est, asset = pc.coalesce(est, e), pc.if_else(pc.is_null(est), a, asset)
                if est.null_count == 0:
                    break
            if self._collected and est.null_count:
                # a triage collection's file: what its events do not attribute goes to the collected host
                e, a = self._resolve(self._collected_host(sources))
                est, asset = pc.coalesce(est, e), pc.if_else(pc.is_null(est), a, asset)
            hostless = pc.and_(pc.is_null(est), pc.is_null(batch.host))
            if pc.any(hostless).as_py():
                e, a = self._resolve(self._host_in_path(sources))
                est = pc.if_else(hostless, e, est)
                asset = pc.if_else(hostless, a, asset)
        missing = pc.is_null(est)
        count = pc.sum(missing.cast(pa.int64())).as_py() or 0
        if count:
            self._report.unattributed += count
            for item in pc.value_counts(pc.fill_null(batch.host.filter(missing), "(none)")).to_pylist():
                self._report.unattributed_hosts[item["values"]] += item["counts"]
        return est, asset

    def in_zone(self, batch: Batch, est: pa.Array, asset: pa.Array) -> pa.Array:
        """``batch.ts`` with its zone-less times read in the zone of the host that logged them."""
        if self._resolver is None or batch.local is None or not pc.any(batch.local).as_py():
            return batch.ts
        resolver = self._resolver

        def zone_of(pair: str | None) -> str:
            e, _, a = (pair or "").partition("\x00")
            return resolver.zone(e or None, a or None)

        pairs = pc.binary_join_element_wise(pc.fill_null(est, ""), pc.fill_null(asset, ""), "\x00")
        zones = _per_distinct(pairs, zone_of)
        wall = batch.ts.cast(pa.timestamp("us"))  # the clock as written
        ts = batch.ts
        for zone in set(pc.unique(zones.filter(batch.local)).to_pylist()) - {"UTC"}:
            # a time in the hour that a DST change repeats is taken at its first passing; one in the hour
            # it skips (nobody's clock shows it) at the end of the skip
            read = pc.assume_timezone(wall, timezone=zone, ambiguous="earliest", nonexistent="latest")
            ts = pc.if_else(pc.and_(batch.local, pc.equal(zones, zone)), read.cast(ts.type), ts)
        return ts

    def _host_in_path(self, sources: pa.Array) -> pa.Array:
        """For each row, the deepest folder or archive member of its source path that the inventory knows as
        an asset: collections keep each server's logs under its name (``collecte/tls-cap-dpi01/var/log/audit/
        audit.log``), and an audit record without ``node=`` says nothing else of where it comes from."""
        resolver = self._resolver
        assert resolver is not None

        def server_in(source: str | None) -> str | None:
            parts = [p for p in re.split(r"[/\\!]", source or "") if p][:-1]  # not the file's own name
            known = (p for p in reversed(parts) if (hit := resolver.resolve(p)) is not None and hit.asset)
            return next(known, None)

        return _per_distinct(sources, server_in)

    def _collected_host(self, sources: pa.Array) -> pa.Array:
        """For each row, the first name of its collection's host that the inventory knows as an asset."""
        resolver = self._resolver
        assert resolver is not None

        def host_of(source: str | None) -> str | None:
            names = self._collected.get(source or "", ())
            return next((h for h in names if (hit := resolver.resolve(h)) is not None and hit.asset), None)

        return _per_distinct(sources, host_of)

    def _resolve(self, column: pa.Array) -> tuple[pa.Array, pa.Array]:
        assert self._resolver is not None
        distinct = pc.unique(column)
        found = [self._resolver.resolve(h) if h else None for h in distinct.to_pylist()]
        ests = pa.array([f.establishment if f else None for f in found], pa.string())
        assets = pa.array([f.asset if f else None for f in found], pa.string())
        index = pc.index_in(column, value_set=distinct)
        return ests.take(index), assets.take(index)


def _per_distinct(column: pa.Array, value: Callable[[str | None], str | None]) -> pa.Array:
    """``value`` of each row of a text column, asked once per distinct text (a batch holds a few hosts,
    sources or zones for thousands of rows)."""
    distinct = pc.unique(column)
    values = pa.array([value(v) for v in distinct.to_pylist()], pa.string())
    return values.take(pc.index_in(column, value_set=distinct))


def _assemble(
    batch: Batch,
    fmt: str,
    source: str,
    names: list[str] | None,
    attribute: _Attributor,
    report: IngestReport,
) -> pa.Table:
    batch = _drop_timeless(batch, source, report)
    n = batch.num_rows
    sources = batch.sources if batch.sources is not None else pa.array([source] * n, pa.string())
    est, asset = attribute(batch, sources)
    core = {
        TS: attribute.in_zone(batch, est, asset),
        HOST: batch.host,
        PRODUCT: pa.array([batch.product] * n, pa.string()) if n else pa.array([], pa.string()),
        SERVICE: batch.service,
        FORMAT: pa.array([fmt] * n, pa.string()),
        SOURCE: sources,
        RECORD: batch.record.cast(pa.int64()),
        ESTABLISHMENT: est,
        ASSET: asset,
    }
    columns = [core[name] for name in CORE_SCHEMA.names]
    schema_fields = list(CORE_SCHEMA)
    keys = [k for k in names if k in batch.fields] if names is not None else sorted(batch.fields)
    for key in keys:
        columns.append(batch.fields[key])
        schema_fields.append(pa.field(key, pa.string()))
    columns.append(batch.raw)
    schema_fields.append(pa.field(RAW, pa.string()))
    if batch.sources is None:
        report.events[(source, fmt)] += n
    else:
        for item in pc.value_counts(sources).to_pylist():
            report.events[(item["values"], fmt)] += item["counts"]
    return pa.Table.from_arrays(columns, schema=pa.schema(schema_fields))


def _drop_timeless(batch: Batch, source: str, report: IngestReport) -> Batch:
    missing = pc.is_null(batch.ts)
    if not batch.ts.null_count:
        return batch
    for i in pc.indices_nonzero(missing).to_pylist():
        where = batch.sources[i].as_py() if batch.sources is not None else source
        raw = batch.raw[i].as_py() or ""
        report.quarantine(where, batch.record[i].as_py(), "no valid timestamp", raw)
    keep = pc.invert(missing)
    return Batch(
        {k: v.filter(keep) for k, v in batch.fields.items()},
        batch.ts.filter(keep),
        batch.host.filter(keep),
        batch.service.filter(keep),
        batch.record.filter(keep),
        batch.raw.filter(keep),
        batch.product,
        [h.filter(keep) for h in batch.attribution_hints],
        None if batch.sources is None else batch.sources.filter(keep),
        None if batch.local is None else batch.local.filter(keep),
    )
