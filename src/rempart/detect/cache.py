"""The on-disk cache of compiled rules: one JSON entry per rule file, keyed by its content.

The key is the file's SHA-256 under a folder named for everything else that shapes the output:
the pipelines' mapping data, the backend's version, pySigma's version and the entries' format. A file
compiled with tuning filters is keyed by its SHA-256 mixed with theirs
(:func:`rempart.detect.tuning.filters_digest`). A second run over the same
rules reads these entries and never calls pySigma.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rempart.detect.backend import BACKEND_VERSION
from rempart.detect.pipelines import pipeline_fingerprint
from rempart.detect.prefilter import PREFILTER_VERSION

# the shape of an entry; bumped when entries gain a field (2: status, and the filters applied; 3: the
# prefilter's literals)
ENTRY_FORMAT = 3


@functools.cache
def fingerprint() -> str:
    parts = f"{pipeline_fingerprint()}|{BACKEND_VERSION}|pysigma-{version('pysigma')}|entry-{ENTRY_FORMAT}"
    parts += f"|prefilter-{PREFILTER_VERSION}"
    return hashlib.sha256(parts.encode()).hexdigest()[:20]


def entry_path(cache_dir: Path, digest: str) -> Path:
    return cache_dir / fingerprint() / f"{digest}.json"


def read_entry(cache_dir: Path, digest: str) -> dict[str, Any] | None:
    path = entry_path(cache_dir, digest)
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # absent or damaged: compile again
    return data


def write_entry(cache_dir: Path, digest: str, payload: dict[str, Any]) -> None:
    path = entry_path(cache_dir, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(path)  # atomic: a concurrent reader sees the whole entry or none
