"""Triage collections (KAPE, Velociraptor's offline collector) read as they come: the collected files are
hunted, the collector's own files are skipped, and the collected host is named from the collection itself.

Layouts supported, as zips (read in place) or folders (an extracted zip, or KAPE's ``--tdest``):

- **Velociraptor** (offline collector, or a flow downloaded from the GUI). Its container
  (``reporting/container.go``, ``vql/tools/collector/collector_manager.go`` of Velocidex/velociraptor)
  writes the collected files under ``uploads/<accessor>/``, every path component escaped by
  ``SanitizeStringForZip`` (``utils/sanitize.go``: ``:`` ``\\`` ``%`` ``/`` ``*`` ``?`` ``"`` ``|`` ``<``
  ``>``, a leading ``.`` or space, a trailing ``.`` or space, as ``%XX``), e.g.
  ``uploads/auto/C%3A/Windows/System32/winevt/Logs/Security.evtx`` or
  ``uploads/ntfs/%5C%5C.%5CC%3A/Windows/...``. Beside ``uploads/`` it writes its own files:
  ``client_info.json`` (the ``info()`` plugin's row: ``Hostname``, ``Fqdn``, ``OS``…),
  ``collection_context.json``, ``requests.json``, ``custom_artifacts.json``, ``log.json`` and
  ``uploads.json`` (with their ``.index``), ``metadata.json`` and ``results/<artifact>.json``; a sparse
  upload has a ``<name>.idx`` beside it. A collection is recognised by ``uploads/`` beside
  ``client_info.json`` or ``collection_context.json``. Member names are decoded once (``%254`` in
  ``Microsoft-Windows-Sysmon%254Operational.evtx`` is Windows' own ``%4``) for the source's name and the
  reader's choice; an extracted folder keeps its names on disk. The collected host is ``client_info.json``'s
  ``Fqdn``, then its ``Hostname`` (as Velociraptor's ``import_collection()`` takes it).
- **KAPE** target collections (``--tdest``, or ``--zip``): the files keep their path under a folder per
  source volume (``<tdest>/C/Windows/System32/winevt/Logs/Security.evtx``), beside KAPE's logs
  ``<timestamp>_ConsoleLog.txt``, ``<timestamp>_CopyLog.csv`` and ``<timestamp>_SkipLog.csv`` (KAPE 1.3
  writes ``…_SkipLog.csv.csv``), as public KAPE collections show them
  (``2023-05-04T11_51_06_5397121_CopyLog.csv``). A collection is recognised by one of these logs. The
  collected host is the tdest folder's name (tdest is often ``…\\%m``, the machine's name), then the console
  log's ``System info: Machine name: …`` when the command line collected the drive ``C:``
  (``--tsource C:``): KAPE run on a mounted image names the analyst's machine there.
  KAPE's VHD/VHDX containers are not read: mount them and hunt the folder.

A collection inside another archive (a case zip holding one KAPE folder per server) is found the same way,
one per folder that holds the markers. Tar archives are not searched for collections (they are read in order,
and the markers may come last).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

VELOCIRAPTOR = "Velociraptor"
KAPE = "KAPE"
_VR_MARKERS = ("client_info.json", "collection_context.json")
_MARKER_NAMES = frozenset(_VR_MARKERS)
_UPLOADS = re.compile(r"^(|.*?/)uploads/")  # the folder (or zip top) holding a Velociraptor 'uploads/'
_KAPE_LOG = re.compile(r"^\d{4}-\d{2}-\d{2}T[\d_]+_(ConsoleLog\.txt|CopyLog\.csv|SkipLog\.csv(\.csv)?)$",
                       re.IGNORECASE)
_MACHINE = re.compile(r"Machine name:\s*([^,\r\n]+)")
_TSOURCE = re.compile(r"--tsource\s+\"?([^\s\"]+)", re.I)
METADATA_BYTES = 1 << 20  # a collector's metadata file read for its host: at most this much
_WALK_UP = 12  # folders above a file searched for its collection's markers


@dataclass(frozen=True)
class Collection:
    """One triage collection: where it starts (a folder, or a prefix of zip members ending in '/')."""

    kind: str  # VELOCIRAPTOR or KAPE
    root: str  # '' for a zip's top level
    hosts: tuple[str, ...]  # the collected host's names, best first; () when the collection names none

    def describe(self) -> str:
        """What the summary says of it: ``Velociraptor, collected host dc01.example.org or DC01``."""
        host = f"collected host {' or '.join(self.hosts)}" if self.hosts else "no collected host named in it"
        return f"{self.kind}, {host}"

    def owns(self, name: str) -> bool:
        return name.startswith(self.root)

    def is_collector_file(self, name: str) -> bool:
        """The collector's own metadata or log (not something it collected): skipped, never read as events."""
        rest = name[len(self.root):]
        if self.kind == VELOCIRAPTOR:
            return not rest.startswith("uploads/") or rest.endswith(".idx")
        return "/" not in rest and _KAPE_LOG.match(rest) is not None

    def display(self, name: str) -> str:
        """The member's name as the collected host had it (Velociraptor escapes it; KAPE does not)."""
        if self.kind == VELOCIRAPTOR and name[len(self.root):].startswith("uploads/"):
            return unquote(name)
        return name


class ZipLayout:
    """The collections inside one zip archive, found from its member names."""

    def __init__(self, collections: Iterable[Collection]) -> None:
        self.collections = sorted(collections, key=lambda c: len(c.root), reverse=True)  # deepest first

    def of(self, name: str) -> Collection | None:
        return next((c for c in self.collections if c.owns(name)), None)


def zip_layout(archive: zipfile.ZipFile) -> ZipLayout:
    """Every collection in ``archive``; their hosts are read from the metadata members (small, bounded)."""
    infos = {i.filename: i for i in archive.infolist() if not i.is_dir()}
    by_folder: dict[str, set[str]] = {}
    for name in infos:
        folder, _, base = name.rpartition("/")
        by_folder.setdefault(folder + "/" if folder else "", set()).add(base)
    uploads = {m.group(1) for n in infos if (m := _UPLOADS.match(n))}
    found: list[Collection] = []
    for folder, names in sorted(by_folder.items()):
        if not names & _MARKER_NAMES and not any(_KAPE_LOG.match(n) for n in names):
            continue

        def read(name: str, folder: str = folder) -> bytes | None:
            return _read_member(archive, infos[folder + name])

        collection = _recognise(folder, names, folder in uploads, read, _folder_name(folder))
        if collection is not None:
            found.append(collection)
    return ZipLayout(found)


def folder_collection(path: Path) -> Collection | None:
    """The collection a file on disk belongs to, found in the folders above it (the markers of an extracted
    Velociraptor zip, or of a KAPE tdest); its ``root`` is that folder, absolute, ending in a separator."""
    folder = path.absolute().parent
    for _ in range(_WALK_UP):
        collection = _folder_markers(str(folder), _mtime(folder))
        if collection is not None:
            return collection
        if folder.parent == folder:
            return None
        folder = folder.parent
    return None


def _mtime(folder: Path) -> int:
    try:
        return folder.stat().st_mtime_ns
    except OSError:
        return 0


_FOLDERS: dict[tuple[str, int], Collection | None] = {}  # (folder, mtime) → its collection: looked up once


def _folder_markers(folder: str, mtime: int) -> Collection | None:
    key = (folder, mtime)
    if key in _FOLDERS:
        return _FOLDERS[key]
    try:
        with os.scandir(folder) as entries:
            names = {e.name for e in entries if e.is_file()}
    except OSError:
        names = set()
    has_uploads = os.path.isdir(os.path.join(folder, "uploads"))

    def read(name: str) -> bytes | None:
        try:
            with open(os.path.join(folder, name), "rb") as file:
                return file.read(METADATA_BYTES)
        except OSError:
            return None

    root = folder.rstrip(os.sep) + os.sep
    collection = _recognise(root, names, has_uploads, read, os.path.basename(folder))
    if len(_FOLDERS) > 4096:
        _FOLDERS.clear()
    _FOLDERS[key] = collection
    return collection


def _recognise(root: str, names: set[str], has_uploads: bool, read: Callable[[str], bytes | None],
               folder_name: str) -> Collection | None:
    """A collection rooted at ``root``, whose files directly inside are ``names``, or None."""
    if has_uploads and any(m in names for m in _VR_MARKERS):
        return Collection(VELOCIRAPTOR, root, _velociraptor_hosts(read("client_info.json")
                                                                  if "client_info.json" in names else None))
    logs = sorted(n for n in names if _KAPE_LOG.match(n))
    if logs:
        console = next((n for n in logs if n.lower().endswith("_consolelog.txt")), None)
        hosts = [folder_name] if folder_name else []
        machine = _kape_machine(read(console)) if console else None
        if machine and machine.lower() not in (h.lower() for h in hosts):
            hosts.append(machine)
        return Collection(KAPE, root, tuple(hosts))
    return None


def _velociraptor_hosts(data: bytes | None) -> tuple[str, ...]:
    try:
        info = json.loads(data or b"")
    except ValueError:
        return ()
    if isinstance(info, list) and info:  # some versions write the info() rows as a list
        info = info[0]
    if not isinstance(info, dict):
        return ()
    by_key = {str(k).lower(): v for k, v in info.items()}
    hosts = [str(by_key[k]).strip() for k in ("fqdn", "hostname") if isinstance(by_key.get(k), str)]
    return tuple(dict.fromkeys(h for h in hosts if h))


def _kape_machine(data: bytes | None) -> str | None:
    """The console log's machine name, when KAPE collected that machine's own drive C:."""
    text = (data or b"").decode("utf-8", "replace").lstrip("\ufeff")
    machine, tsource = _MACHINE.search(text), _TSOURCE.search(text)
    if machine is None or tsource is None or tsource.group(1).rstrip("\\/").upper() != "C:":
        return None
    return machine.group(1).strip() or None


def _folder_name(prefix: str) -> str:
    return prefix.rstrip("/").rsplit("/", 1)[-1]


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | None:
    if info.flag_bits & 0x1:
        return None  # encrypted: the member itself is reported when it is reached
    try:
        with archive.open(info) as member:
            return member.read(METADATA_BYTES)
    except Exception:  # noqa: BLE001 - a damaged metadata member only costs its host name
        return None
