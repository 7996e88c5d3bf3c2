"""One spelling per field name.

Windows logs reach us through several tools that do not agree on the case of a field (``ProcessId`` in
Sysmon's EVTX, ``ProcessID`` in some JSON exports), and DuckDB column names are case-insensitive, so two
spellings cannot even live side by side in the store. Every stage that turns a name into a column goes
through :func:`canonical_field`: the EVTX / Sigma spelling when we know it, the name as given otherwise.
:class:`FieldCanon` adds a memory for names we do not know, so that within one run the first spelling seen
wins and later ones land in the same column.

Sigma field names carry letters, digits, ``_``, ``.``, ``-`` and ``@`` only (``cs-uri-query``,
``@timestamp``), while some channels name their fields with spaces or colons (Windows Defender's
``Threat Name``, ``Source Name``; ``Client SID:`` in Security-Datasets). :func:`sigma_spelling` drops
the other characters, before the case rule, so that ``Threat Name`` is the column ``ThreatName`` that
the ``windefend`` rules read, whatever the reader; the record as written (``_raw``) keeps the original
name. Two names that fold to one spelling (``Threat Name`` and ``ThreatName``) are one column, as two
cases of a name are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# EVTX / Sigma spellings of names seen in several cases in real exports (the 14 pairs of the
# Security-Datasets corpus, and a few more common ones); the key is the lower-cased name.
_KNOWN = (
    "ProcessId",
    "Task",
    "Version",
    "Keywords",
    "Port",
    "Message",
    "SourceProcessGUID",
    "TargetProcessGUID",
    "Opcode",
    "User",
    "IpAddress",
    "LogonId",
    "Level",
    "Type",
    "EventID",
    "Channel",
    "Computer",
    "Hostname",
    "Image",
    "CommandLine",
    "ParentImage",
    "ParentCommandLine",
    "TargetImage",
    "SourceImage",
    "GrantedAccess",
    "CallTrace",
    "TargetFilename",
    "TargetObject",
    "Details",
    "EventType",
    "ImageLoaded",
    "DestinationIp",
    "DestinationPort",
    "DestinationHostname",
    "SourceIp",
    "SourcePort",
    "ServiceName",
    "ServiceFileName",
    "ScriptBlockText",
    "TargetUserName",
    "SubjectUserName",
    "LogonType",
    "WorkstationName",
    "IpPort",
    "ObjectName",
    "AccessMask",
    "ShareName",
    "RelativeTargetName",
    "NewProcessName",
    "ParentProcessName",
    "Provider_Name",
    "EventRecordID",
    "TimeCreated",
    "OriginalFileName",
    "Hashes",
    "IntegrityLevel",
    "ParentProcessId",
    "ParentUser",
    "QueryName",
    "QueryResults",
    "PipeName",
    "StartAddress",
    "StartModule",
    "TargetProcessId",
    "SourceProcessId",
    "Signed",
    "Signature",
    "Description",
    "Product",
    "Company",
    "CurrentDirectory",
    "LogonGuid",
    "ProcessGuid",
    "ParentProcessGuid",
    "UtcTime",
    "RuleName",
    "Initiated",
    "Protocol",
    "HostApplication",
    "ContextInfo",
    "Payload",
    "Path",
)
KNOWN_SPELLINGS: dict[str, str] = {n.lower(): n for n in _KNOWN}


_NOT_SIGMA = re.compile(r"[^A-Za-z0-9_.@\-]+")


def sigma_spelling(name: str) -> str:
    """`name` without the characters a Sigma field name does not carry (``Threat Name`` → ``ThreatName``);
    a name made of nothing else stays as it is."""
    return _NOT_SIGMA.sub("", name) or name


def canonical_field(name: str) -> str:
    """The one spelling of ``name``: its Sigma spelling, then the EVTX / Sigma case when known
    (``processid`` → ``ProcessId``)."""
    name = sigma_spelling(name)
    return KNOWN_SPELLINGS.get(name.lower(), name)


class FieldCanon:
    """:func:`canonical_field` plus, for unknown names, 'first spelling seen wins' for one run."""

    def __init__(self, preferred: Iterable[str] = ()) -> None:
        self._seen: dict[str, str] = dict(KNOWN_SPELLINGS)
        for name in preferred:  # the caller's own spellings (e.g. the rules' field names) come next
            self(name)

    def __call__(self, name: str) -> str:
        key = name.lower()
        found = self._seen.get(key)
        if found is None:
            folded = sigma_spelling(name)
            found = self._seen.setdefault(folded.lower(), folded)
            self._seen[key] = found  # the next time, one look-up
        return found
