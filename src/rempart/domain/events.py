"""The normalised event: the contract between ingest, the event store and detection.

Every reader yields Arrow tables ("event batches") made of the core columns below, whose names start
with an underscore so that they never collide with a log's own fields, plus one ``string`` column per
original field, named as Sigma names it (EVTX names for Windows: ``EventID``, ``Channel``, ``Image``,
``CommandLine``…; EventData and System children flattened to the top level).
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa


class Product(StrEnum):
    """The Sigma logsource product an event belongs to; rules only see events of their product."""

    WINDOWS = "windows"
    LINUX = "linux"
    FORTIGATE = "fortigate"  # FortiGate firewall / SSL-VPN key=value logs
    ZEEK = "zeek"  # Zeek network logs (conn, dns, http …)


TS = "_ts"
HOST = "_host"
PRODUCT = "_product"
SERVICE = "_service"  # Sigma logsource service: Windows channel lower-cased ('security', 'sysmon' …),
#                       'auth' / 'sshd' / 'sudo' / 'syslog' for Linux, 'vpn' / 'traffic' / 'event' for
#                       FortiGate, the Zeek log type ('conn', 'dns' …) for Zeek
FORMAT = "_format"  # reader that produced the event: evtx, winjson, syslog, fortigate, zeek
SOURCE = "_source"  # file path, with '!member' for a file inside an archive
RECORD = "_record"  # record number (EVTX) or line number in the source
ESTABLISHMENT = "_establishment"
ASSET = "_asset"

CORE_SCHEMA = pa.schema(
    [
        pa.field(TS, pa.timestamp("us", tz="UTC")),
        pa.field(HOST, pa.string()),
        pa.field(PRODUCT, pa.string()),
        pa.field(SERVICE, pa.string()),
        pa.field(FORMAT, pa.string()),
        pa.field(SOURCE, pa.string()),
        pa.field(RECORD, pa.int64()),
        pa.field(ESTABLISHMENT, pa.string()),
        pa.field(ASSET, pa.string()),
    ]
)
CORE_COLUMNS = tuple(CORE_SCHEMA.names)


def is_core(name: str) -> bool:
    return name.startswith("_")
