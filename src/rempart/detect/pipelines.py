"""Processing pipelines: where a Sigma logsource meets rempart's events. Data, composed with ``+``.

Four layers, applied in order:

0. every field name in its Sigma spelling (:func:`rempart.ingest.fields.sigma_spelling`), the one that
   ingest gives the columns: a rule written with Defender's ``Threat Name`` reads ``ThreatName``;
1. the Windows channel items of pySigma's own ``sigma.pipelines.common`` (service → ``Channel``);
2. Sysmon, Security and PowerShell categories (``process_creation`` → Sysmon ``EventID: 1`` or Security
   ``EventID: 4688`` …) as ``AddConditionTransformation`` items;
3. a scope for every rule: ``_product`` (and ``_service`` outside Windows) conditions, so that a rule
   only ever matches events of its own logsource — a Linux rule never fires on a Windows event, and a
   rule whose logsource rempart does not ingest matches nothing instead of everything.

:func:`scope_of` gives the same scope as a prefilter for the detection plan, which evaluates the rules of
one scope together over only the matching rows. Every condition these pipelines add is named with
:data:`LOGSOURCE_CONDITION` as prefix, so that the backend can recognise them and leave them out of the
compiled predicate: over a scope's rows they are true by construction, and testing them once per rule
made up a quarter of the time spent binding SigmaHQ's 3,000 rules (``tests/detect`` checks that a rule
still never sees another logsource's events).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sigma.pipelines.common import windows_logsource_mapping
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import AddConditionTransformation, FieldFunctionTransformation
from sigma.processing.transformations.base import PreprocessingTransformation
from sigma.rule import SigmaLogSource, SigmaRule

from rempart.domain.events import PRODUCT, SERVICE
from rempart.ingest.fields import sigma_spelling

SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
SECURITY_CHANNEL = "Security"
POWERSHELL_CHANNELS = ["Microsoft-Windows-PowerShell/Operational", "PowerShellCore/Operational"]
POWERSHELL_CLASSIC_CHANNEL = "Windows PowerShell"

# Windows categories: the channel(s) and event ids that carry them.
WINDOWS_CATEGORIES: dict[str, tuple[list[str], list[int]]] = {
    # Security 4688 too: most clinics audit process creation without Sysmon (see CATEGORY_ALIASES)
    "process_creation": ([SYSMON_CHANNEL, SECURITY_CHANNEL], [1, 4688]),
    "file_change": ([SYSMON_CHANNEL], [2]),
    "network_connection": ([SYSMON_CHANNEL], [3]),
    "sysmon_status": ([SYSMON_CHANNEL], [4, 16]),
    "process_termination": ([SYSMON_CHANNEL], [5]),
    "driver_load": ([SYSMON_CHANNEL], [6]),
    "image_load": ([SYSMON_CHANNEL], [7]),
    "create_remote_thread": ([SYSMON_CHANNEL], [8]),
    "raw_access_thread": ([SYSMON_CHANNEL], [9]),
    "process_access": ([SYSMON_CHANNEL], [10]),
    "file_event": ([SYSMON_CHANNEL], [11]),
    "registry_add": ([SYSMON_CHANNEL], [12]),
    "registry_delete": ([SYSMON_CHANNEL], [12]),
    "registry_set": ([SYSMON_CHANNEL], [13]),
    "registry_rename": ([SYSMON_CHANNEL], [14]),
    "registry_event": ([SYSMON_CHANNEL], [12, 13, 14]),
    "create_stream_hash": ([SYSMON_CHANNEL], [15]),
    "pipe_created": ([SYSMON_CHANNEL], [17, 18]),
    "wmi_event": ([SYSMON_CHANNEL], [19, 20, 21]),
    "dns_query": ([SYSMON_CHANNEL], [22]),
    "file_delete": ([SYSMON_CHANNEL], [23, 26]),
    "clipboard_capture": ([SYSMON_CHANNEL], [24]),
    "process_tampering": ([SYSMON_CHANNEL], [25]),
    "file_delete_detected": ([SYSMON_CHANNEL], [26]),
    "file_block_executable": ([SYSMON_CHANNEL], [27]),
    "file_block_shredding": ([SYSMON_CHANNEL], [28]),
    "file_executable_detected": ([SYSMON_CHANNEL], [29]),
    "sysmon_error": ([SYSMON_CHANNEL], [255]),
    "ps_module": (POWERSHELL_CHANNELS, [4103]),
    "ps_script": (POWERSHELL_CHANNELS, [4104]),
    "ps_classic_start": ([POWERSHELL_CLASSIC_CHANNEL], [400]),
    "ps_classic_provider_start": ([POWERSHELL_CLASSIC_CHANNEL], [600]),
    "ps_classic_script": ([POWERSHELL_CLASSIC_CHANNEL], [800]),
}

# Where a category also comes from a channel that names its fields differently, what a rule's field reads
# on that channel's events: category → channel (lower-case) → Sigma field → the channel's own field.
# Several fields joined by a backslash read as one ('DOMAIN\\user', as Sysmon writes User).
# Security 4688 ("A new process has been created") against the Sysmon names SigmaHQ's process_creation
# rules use; CommandLine has the same name in both. Fields 4688 does not carry (Hashes, OriginalFileName,
# Product…) read as absent there. Left alone on purpose: the process ids (hexadecimal in 4688, decimal in
# Sysmon), IntegrityLevel (a SID in 4688's MandatoryLabel) and LogonId (4688's SubjectLogonId is the
# creator's session, not the new process's).
CATEGORY_ALIASES: dict[str, dict[str, dict[str, str]]] = {
    "process_creation": {
        SECURITY_CHANNEL.lower(): {
            "Image": "NewProcessName",
            "ParentImage": "ParentProcessName",
            "User": "SubjectDomainName\\SubjectUserName",
        },
    },
}

# Outside Windows: Sigma service → the `_service` values our readers give (None: any event of the product).
PRODUCT_SERVICES: dict[str, dict[str, list[str] | None]] = {
    "linux": {
        "auth": ["auth", "sshd", "sudo"],  # auth.log carries sshd and sudo lines
        "sshd": ["sshd"],
        "sudo": ["sudo"],
        "syslog": None,
    },
    "fortigate": {"vpn": ["vpn"], "traffic": ["traffic"], "event": ["event", "vpn"]},
    "zeek": {},
}
# Outside Windows, the categories our readers give: product → category → (`_service` values, event ids).
# Linux: Sysmon for Linux, which logs Sysmon's event ids and field names (rempart.ingest.linux). SigmaHQ's
# auditd rules name the service (`service: auditd`), which the audit records have.
PRODUCT_CATEGORIES: dict[str, dict[str, tuple[list[str], list[int]]]] = {
    "linux": {
        "process_creation": (["sysmon"], [1]),
        "network_connection": (["sysmon"], [3]),
        "process_termination": (["sysmon"], [5]),
        "raw_access_thread": (["sysmon"], [9]),
        "file_event": (["sysmon"], [11]),
        "file_delete": (["sysmon"], [23]),
    },
}
NOTHING = "\x00none"  # a `_service` value no reader produces: the scope of a logsource we do not ingest
LOGSOURCE_CONDITION = "_rempart_logsource"  # name prefix of the conditions a pipeline adds for a logsource


@dataclass(frozen=True)
class Scope:
    """The events a rule may see: product, `_service` values (lower-case; None = any), event ids, and the
    field aliases of :data:`CATEGORY_ALIASES` as (service, lower-case field, the service's own field)."""

    product: str
    services: tuple[str, ...] | None = None
    event_ids: tuple[int, ...] | None = None
    aliases: tuple[tuple[str, str, str], ...] = ()

    @property
    def key(self) -> str:
        return json.dumps([self.product, self.services, self.event_ids, self.aliases])

    def to_list(self) -> list[Any]:
        """The scope as JSON data (the compiled-rule cache keeps it so)."""
        return [self.product, self.services, self.event_ids, [list(a) for a in self.aliases]]

    @classmethod
    def from_list(cls, data: list[Any]) -> Scope:
        product, services, ids, *rest = data
        aliases = tuple((str(s), str(n), str(f)) for s, n, f in rest[0]) if rest else ()
        return cls(
            str(product),
            tuple(services) if services is not None else None,
            tuple(ids) if ids is not None else None,
            aliases,
        )

    def read_sql(self, name: str, column: Callable[[str], str], service: str) -> str:
        """SQL reading field `name` as this scope's rules see it. ``column(field)`` is the SQL of a stored
        field (NULL when absent), ``service`` that of the row's ``_service``: on a service that names the
        field differently (Security 4688's ``NewProcessName`` for ``Image``), its own field(s)."""
        value = column(name)
        for svc, sources in self.aliases_of(name.lower()):
            parts = [column(s) for s in sources]
            # joined parts skip a missing one; none at all reads NULL, not ''
            alias = parts[0] if len(parts) == 1 else f"nullif(concat_ws('\\', {', '.join(parts)}), '')"
            quoted = "'" + svc.replace("'", "''") + "'"
            value = f"CASE WHEN lower({service}) = {quoted} THEN {alias} ELSE {value} END"
        return value

    def alias_fields(self, field: str) -> set[str]:
        """The fields (lower-case) that `field` reads on the services that name it differently."""
        return {s.lower() for _, sources in self.aliases_of(field) for s in sources}

    def aliases_of(self, field: str) -> list[tuple[str, list[str]]]:
        """(service, fields to read instead, joined by a backslash) for `field` (lower-case) on the
        services that name it differently."""
        return [(service, source.split("\\")) for service, name, source in self.aliases if name == field]

    def prefilter(self, columns: set[str]) -> str:
        """SQL over the `events` table selecting the rows of this scope (`columns`: lower-case names)."""
        terms = [f"{PRODUCT} = '{self.product}'"]
        if self.services is not None:
            values = ", ".join("'" + s.replace("'", "''") + "'" for s in self.services)
            terms.append(f"lower({SERVICE}) IN ({values})")
        if self.event_ids is not None:
            if "eventid" not in columns:
                return "false"
            values = ", ".join(f"'{i}'" for i in self.event_ids)
            terms.append(f'"EventID" IN ({values})')
        return " AND ".join(terms)


def scope_of(logsource: SigmaLogSource) -> Scope:  # noqa: PLR0911 - one return per logsource shape
    product = (logsource.product or "").lower()
    category = (logsource.category or "").lower() or None
    service = (logsource.service or "").lower() or None
    if product == "windows":
        if service is not None:
            channels = windows_logsource_mapping.get(service, service)
            listed = list(channels) if isinstance(channels, list) else [str(channels)]
            return Scope(product, tuple(c.lower() for c in listed))
        if category is not None:
            if category not in WINDOWS_CATEGORIES:
                return Scope(product, (NOTHING,))
            chans, ids = WINDOWS_CATEGORIES[category]
            aliases = tuple(
                (service, name.lower(), source)
                for service, fields in CATEGORY_ALIASES.get(category, {}).items()
                for name, source in fields.items()
            )
            return Scope(product, tuple(c.lower() for c in chans), tuple(ids), aliases)
        return Scope(product)
    if product not in PRODUCT_SERVICES:
        return Scope(product or NOTHING, (NOTHING,))
    known = PRODUCT_SERVICES[product]
    if service is not None:
        services = known.get(service, [service])
        return Scope(product, tuple(services) if services is not None else None)
    if category is not None:
        categories = PRODUCT_CATEGORIES.get(product, {})
        if category not in categories:
            return Scope(product, (NOTHING,))  # a category no reader gives
        services, ids = categories[category]
        return Scope(product, tuple(services), tuple(ids))
    return Scope(product)


@dataclass
class ScopeTransformation(PreprocessingTransformation):
    """Adds the `_product` / `_service` conditions of :func:`scope_of` to a rule."""

    name: str = field(default=f"{LOGSOURCE_CONDITION}_scope", compare=False)

    def apply(self, rule: SigmaRule) -> None:  # type: ignore[override]
        super().apply(rule)
        if not isinstance(rule, SigmaRule):
            return
        scope = scope_of(rule.logsource)
        conditions: dict[str, int | str | list[str]] = {PRODUCT: scope.product}
        if scope.product != "windows" and scope.services is not None:
            conditions[SERVICE] = list(scope.services)
        elif scope.product == "windows" and scope.services == (NOTHING,):
            conditions[SERVICE] = NOTHING
        AddConditionTransformation(conditions, name=self.name).apply(rule)


def windows_pipeline() -> ProcessingPipeline:
    service_items = [
        ProcessingItem(
            identifier=f"windows_logsource_{service}",
            transformation=AddConditionTransformation(
                {"Channel": source if isinstance(source, str) else list(source)},
                name=f"{LOGSOURCE_CONDITION}_service_{service}",
            ),
            rule_conditions=[LogsourceCondition(service=service, product="windows")],
        )
        for service, source in windows_logsource_mapping.items()
    ]
    category_items = [
        ProcessingItem(
            identifier=f"windows_category_{category}",
            transformation=AddConditionTransformation(
                {"Channel": channels if len(channels) > 1 else channels[0], "EventID": [str(i) for i in ids]},
                name=f"{LOGSOURCE_CONDITION}_category_{category}",
            ),
            rule_conditions=[LogsourceCondition(category=category, product="windows")],
        )
        for category, (channels, ids) in WINDOWS_CATEGORIES.items()
    ]
    return ProcessingPipeline(
        name="rempart windows logsources", priority=20, items=[*service_items, *category_items]
    )


def scope_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="rempart logsource scope",
        priority=30,
        items=[ProcessingItem(identifier="rempart_scope", transformation=ScopeTransformation())],
    )


def _spelled(name: str | None) -> str:
    return sigma_spelling(name or "")


def spelling_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="rempart sigma spelling",
        priority=10,
        items=[ProcessingItem(
            identifier="rempart_spelling",
            transformation=FieldFunctionTransformation(mapping={}, transform_func=_spelled),
        )],
    )


def detection_pipeline() -> ProcessingPipeline:
    return spelling_pipeline() + windows_pipeline() + scope_pipeline()


def pipeline_fingerprint() -> str:
    """Changes whenever the mapping data changes: part of the compiled-rule cache key."""
    data = json.dumps(
        [windows_logsource_mapping, WINDOWS_CATEGORIES, CATEGORY_ALIASES, PRODUCT_SERVICES,
         PRODUCT_CATEGORIES, "scope-v3", "spelling-v1"],
        sort_keys=True,
    )
    return hashlib.sha256(data.encode()).hexdigest()[:16]
