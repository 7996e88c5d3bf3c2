"""Zeek logs: JSON lines (one or several log types mixed, the type in ``_path`` or ``@stream``, as in the
Security-Datasets APT29 capture) and Zeek's classic TSV files with a ``#fields`` header (``conn.log``).

Samples::

    {"@stream":"conn","@system":"sensor-1","ts":1588205199.82437,"uid":"Cvf4XX17hSAgXDdGEd","id_orig_h":"10.0.1.6","id_orig_p":54243,"id_resp_h":"10.0.0.4","id_resp_p":53,"proto":"udp","orig_bytes":39,"resp_bytes":55}
    #fields	ts	uid	id.orig_h	id.orig_p	id.resp_h	id.resp_p	proto	service	duration	orig_bytes	resp_bytes …
    1764324062.123456	CHhAvVGS1DHFjwGM9	10.20.1.15	50122	198.51.100.20	443	tcp	ssl	62.1	18234	502311 …

Field names are Zeek's (``id.orig_h``, ``orig_bytes``…); the underscore spelling some exporters use
(``id_orig_h``) becomes Zeek's dotted one. ``_service`` is the log type (``conn``, ``dns``…), from
``_path`` / ``@stream`` or, for TSV, the ``#path`` header or the file name; ``_host`` is ``@system`` (the
sensor) when present, else ``id.orig_h`` (so that flows are attributed to the establishment whose host
opened them). ``ts``: epoch seconds or ISO-8601. In TSV, ``-`` is NULL and ``(empty)`` an empty value.
"""  # noqa: E501 - real log lines as samples

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from rempart.domain.events import Product
from rempart.ingest.columns import TS_TYPE, first_of, parse_iso, shape, spelled, to_string
from rempart.ingest.interface import Batch, Reader, ReaderContext
from rempart.ingest.jsonl import iter_json_blocks, leading_keys
from rempart.ingest.lines import RowBuffer, iter_text_lines, share_score
from rempart.ingest.registry import registry
from rempart.ingest.sources import Source

_UNDERSCORE = {f"id_{a}_{b}": f"id.{a}_{b}" for a in ("orig", "resp") for b in ("h", "p")}
_CORE = frozenset({"ts", "_path", "@stream", "@system", "id.orig_h", "id.resp_h"})


def zeek_name(name: str) -> str:
    return _UNDERSCORE.get(name, name)


class ZeekReader(Reader):
    name = "zeek"
    extensions = (".log",)

    def sniff(self, head: bytes, filename: str) -> int:
        if head.startswith(b"#separator"):
            return 90
        if head.lstrip()[:1] != b"{":
            return 0
        return share_score(80, leading_keys(head), _is_zeek)

    def read(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        if source.stream.peek(16)[:10] == b"#separator":  # type: ignore[attr-defined]
            yield from self._tsv(source, ctx)
            return
        for block in iter_json_blocks(source, ctx):
            columns = zip(block.table.column_names, block.table.columns, strict=True)
            cols = shape(columns, zeek_name, ctx, _CORE)
            n = len(block.raw)
            ts = _epoch_or_iso(first_of(cols, ("ts",), n))
            service = first_of(cols, ("orig_path", "@stream"), n)
            host = first_of(cols, ("@system", "id.orig_h"), n)
            hints = [cols[k] for k in spelled(cols, ("id.orig_h", "id.resp_h"))]
            fields = {k: v for k, v in cols.items() if ctx.keep(k)}
            yield Batch(fields, ts, host, service, block.records, block.raw, Product.ZEEK.value, hints)

    def _tsv(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        names: list[str] = []
        path = (source.member or source.path.name).rsplit("/", 1)[-1].split(".", 1)[0]
        buffer = RowBuffer(Product.ZEEK.value)
        hints = ("id.orig_h", "id.resp_h")
        for number, text in iter_text_lines(source, ctx):
            if text.startswith("#"):
                key, _, value = text.partition("\t")
                if key == "#fields":
                    names = [zeek_name(n) for n in value.split("\t")]
                elif key == "#path":
                    path = value
                continue
            values = text.split("\t")
            if not names or len(values) != len(names):
                ctx.quarantine(source, number, f"{len(values)} values for {len(names)} #fields", text)
                continue
            row = {
                k: (None if v == "-" else "" if v == "(empty)" else v)
                for k, v in zip(names, values, strict=True)
            }
            ts = _epoch(row.get("ts"))
            if ts is None:
                ctx.quarantine(source, number, "no valid ts", text)
                continue
            buffer.add(row, ts, row.get("id.orig_h"), path, number, text)
            if len(buffer) >= ctx.batch_size:
                yield buffer.batch(ctx, hints)
        if len(buffer):
            yield buffer.batch(ctx, hints)


def _is_zeek(keys: frozenset[str]) -> bool:
    return "ts" in keys and ("uid" in keys or "@stream" in keys)


def _epoch(text: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(text or ""), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _epoch_or_iso(arr: pa.Array) -> pa.Array:
    text = to_string(arr)
    numeric = pc.match_substring_regex(text, r"^\d+(\.\d+)?$")
    seconds = pc.if_else(numeric, text, pa.scalar(None, pa.string())).cast(pa.float64())
    micros = pc.multiply(seconds, 1_000_000).cast(pa.int64(), safe=False).cast(TS_TYPE)
    iso = parse_iso(pc.if_else(numeric, pa.scalar(None, pa.string()), text))
    return pc.coalesce(micros, iso)


registry.register(ZeekReader)
