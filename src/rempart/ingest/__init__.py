"""Ingest: log files in → normalised event tables out (the contract of ``rempart.domain.events``).

Public API (other stages depend on these names)::

    report = IngestReport()
    for table in read_paths(paths, resolver, fields=None, batch_size=65536,
                            on_progress=None, report=report):
        ...                      # pyarrow.Table, at most batch_size rows; it may hold the events of
                                 # several small files (EVTX records are pooled): see _source
    print(report.summary()); sys.exit(report.exit_code())

- ``paths``: files or folders (expanded by :func:`iter_files`); plain files, ``.gz``, ``.zip``, ``.tar``,
  ``.tar.gz``/``.tgz`` read directly. Format by content sniffing, the extension as a tie-breaker. Readers:
  ``evtx``, ``winjson``, ``syslog``, ``fortigate``, ``zeek`` (``registry.names``).
- Each table: the core columns of ``CORE_SCHEMA`` (``_ts``, ``_host``, ``_product``, ``_service``,
  ``_format``, ``_source``, ``_record``, ``_establishment``, ``_asset``), then one ``string`` column per
  original field under its canonical name (:func:`canonical_field`), then ``_raw`` (the original record).
- ``fields``: when given, the field names (case-insensitive) to keep; a table has those of them that its
  events have, in the order given, spelled as :class:`FieldCanon` canonicalises them (EVTX spelling when
  known, else the caller's). When None every field found becomes a column. Either way the set of columns
  differs from batch to batch (concatenate with ``promote_options="default"``): a wanted field that no
  event has is left out rather than carried as an empty column, which the event store would have to
  write in every row (on Security-Datasets, 110 such columns cost 15 s of a 60 s hunt).
- ``resolver``: attributes each event's ``_host`` (hostname or IP) to ``_establishment`` / ``_asset``,
  once per distinct host per batch; unknown or no resolver → NULL, counted in the report.
- ``on_progress(n)``: called with the number of bytes of the files on disk just consumed (increments;
  their sum is the total size of the files), for a progress bar by bytes.
- Bad records go to the quarantine (``report.quarantined``: source, line/record, reason, excerpt), bad or
  cut files to ``report.failed``; the run always goes on. Exit status: see :mod:`rempart.ingest.report`.
- ``reference_year``: year for year-less syslog timestamps (default: the file's modification year).

:func:`stage_parallel` reads the same way on several processes but writes the tables to Arrow IPC files
(for an event store to insert) instead of yielding them.
"""

from rempart.ingest.fields import FieldCanon, canonical_field
from rempart.ingest.parallel import stage_parallel
from rempart.ingest.pipeline import RAW, read_paths, read_sources
from rempart.ingest.registry import registry
from rempart.ingest.report import FailedFile, IngestReport, QuarantinedRecord
from rempart.ingest.sources import iter_files

__all__ = [
    "RAW",
    "FailedFile",
    "FieldCanon",
    "IngestReport",
    "QuarantinedRecord",
    "canonical_field",
    "iter_files",
    "read_paths",
    "read_sources",
    "registry",
    "stage_parallel",
]
