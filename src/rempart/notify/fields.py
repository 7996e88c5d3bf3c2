"""The values a draft can show, each computed from the incident facts (log, inventory, findings).

A catalogue's stage lists the fields it requires by these names; the loader refuses unknown ones.
A value that nothing recorded yet reads "À compléter : …" so that the draft says what is missing
(CERT-FR accepts "je ne sais pas répondre" in a first, time-boxed qualification).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from rempart.domain.inventory import AccessKind, Contact
from rempart.notify.clocks import format_local
from rempart.notify.facts import IncidentFacts
from rempart.store.models.core import LogEntryRow

TO_COMPLETE = "À compléter"

SEVERITY_FR = {"low": "faible", "medium": "modérée", "high": "élevée", "critical": "critique"}
TACTICS_FR = {
    "initial_access": "accès initial",
    "execution": "exécution",
    "persistence": "persistance",
    "privilege_escalation": "élévation de privilèges",
    "defense_evasion": "contournement des défenses",
    "credential_access": "accès aux identifiants",
    "discovery": "découverte",
    "lateral_movement": "mouvement latéral",
    "collection": "collecte",
    "exfiltration": "exfiltration",
    "impact": "impact",
    "command_and_control": "commande et contrôle",
}


def _todo(what: str) -> str:
    return f"{TO_COMPLETE} : {what}"


def _contact(f: IncidentFacts, role: str) -> Contact | None:
    return next((c for c in f.group.contacts if c.role == role), None)


def _contact_text(c: Contact | None, what: str) -> str:
    if c is None:
        return _todo(f"{what} (aucun contact de rôle correspondant dans group.yaml)")
    return " — ".join(p for p in (c.name, c.phone and f"tél. {c.phone}", c.email) if p)


def _fact_or(f: IncidentFacts, name: str, default: str) -> str:
    value = f.fact(name)
    return str(value) if value not in (None, "") else default


def _log_lines(entries: list[LogEntryRow], limit: int = 12) -> str:
    chosen = entries[-limit:]
    return "\n".join(f"{format_local(e.at)[:16]} — {e.text}" for e in chosen)


def _actions(f: IncidentFacts) -> list[LogEntryRow]:
    return [
        e for e in f.log if e.kind in ("action", "decision") and e.source != "notify" and "fact" not in e.data
    ]


def structure(f: IncidentFacts) -> str:
    e = f.establishment
    legal = e.legal_entity or f.group.legal_entity or f.group.name
    return f"{e.name}, {e.city} ({e.region}) — FINESS {e.finess} — entité juridique : {legal}"


def declarant(f: IncidentFacts) -> str:
    return _contact_text(_contact(f, "rssi"), "déclarant") + " — pour le directeur de l'établissement"


def date_found(f: IncidentFacts) -> str:
    how = "" if f.t0_recorded else " (ouverture de l'incident, T0 par défaut)"
    return f"{format_local(f.t0)}{how}"


def first_seen(f: IncidentFacts) -> str:
    return format_local(f.incident.first_seen)


def scope(f: IncidentFacts) -> str:
    hosts = f.hosts_here
    prop = [x for x in f.findings if x.kind == "propagation"]
    text = (
        f"{len(hosts)} serveur(s) de {f.establishment.name}"
        if hosts
        else f"systèmes de {f.establishment.name}"
    )
    if prop:
        text += "\n" + "\n".join(x.summary for x in prop)
    return text


def systems(f: IncidentFacts) -> str:
    lines = []
    for h in f.hosts_here or f.incident.hosts:
        asset = f.establishment.asset(h)
        lines.append(f"{h} ({asset.role.value})" if asset else h)
    return "\n".join(lines) or _todo("systèmes concernés")


def data_concerned(f: IncidentFacts) -> str:
    recorded = f.fact("data_categories")
    if recorded:
        return str(recorded)
    if not f.personal_data:
        return "Pas de données personnelles concernées à ce stade"
    return "Données de santé des patients (dossier patient informatisé), données administratives"


def handling_state(f: IncidentFacts) -> str:
    status = {"open": "en cours de traitement", "contained": "confiné", "closed": "clos"}.get(
        f.incident.status, f.incident.status
    )
    return f"Incident {f.incident.ref} {status}.\n" + (
        _log_lines(_actions(f)) or "Mesures en cours de définition"
    )


def measures(f: IncidentFacts) -> str:
    return _log_lines(_actions(f)) or _todo("mesures prises ou envisagées")


def impact_data(f: IncidentFacts) -> str:
    theft = [x for x in f.findings if x.kind == "data_theft"]
    if theft:
        return "\n".join(x.summary for x in theft)
    return "Indisponibilité des données du système d'information ; exfiltration non établie à ce stade"


def impact_people(f: IncidentFacts) -> str:
    degraded = [e for e in f.log if e.source == "continuity"]
    base = (
        "Prise en charge des patients maintenue en mode dégradé (procédures papier)"
        if degraded
        else ("Pas d'impact connu sur la prise en charge à ce stade")
    )
    if f.flag("eigs"):
        base += "\nÉvénement indésirable grave associé aux soins signalé (EIGS)"
    return base


def impact_si(f: IncidentFacts) -> str:
    cut = [e.text for e in f.log if e.source == "respond" and e.kind == "action"]
    return (
        ("Accès externes fermés et serveurs arrêtés à titre conservatoire :\n" + "\n".join(cut[-8:]))
        if cut
        else (f"{len(f.incident.hosts)} système(s) touché(s)")
    )


def impact_structure(f: IncidentFacts) -> str:
    degraded = any(e.source == "continuity" for e in f.log)
    default = f"Fonctionnement de {f.establishment.name} perturbé" + (
        " ; activité poursuivie en mode dégradé" if degraded else ""
    )
    return _fact_or(f, "impact_structure", default)


def causes(f: IncidentFacts) -> str:
    recorded = f.fact("causes")
    tactics = ", ".join(TACTICS_FR.get(t.replace("-", "_"), t) for t in f.incident.tactics)
    techniques = ", ".join(f.incident.techniques)
    text = f"Intrusion malveillante suspectée depuis l'extérieur (tactiques ATT&CK : {tactics or 'n.c.'}" + (
        f" ; techniques {techniques})" if techniques else ")"
    )
    return f"{recorded}\n{text}" if recorded else text


def csp_categories(f: IncidentFacts) -> str:
    others = any(x.kind == "propagation" and x.positive for x in f.findings)
    boxes = [
        (
            bool(f.flag("eigs")) or any(e.source == "continuity" for e in f.log),
            "Conséquences sur la sécurité des soins",
        ),
        (f.personal_data, "Atteinte à la confidentialité ou à l'intégrité des données de santé"),
        (True, "Atteinte au fonctionnement normal de l'établissement"),
        (False, "Impact sur l'organisation sanitaire départementale, régionale ou nationale"),
        (others, "Susceptible d'affecter d'autres établissements"),
    ]
    return "\n".join(f"[{'x' if on else ' '}] {label}" for on, label in boxes)


def nature(f: IncidentFacts) -> str:
    kinds = ["disponibilité (systèmes indisponibles ou chiffrés)"]
    if any(x.kind == "data_theft" and x.positive for x in f.findings):
        kinds.insert(0, "confidentialité (exfiltration établie)")
    people = _fact_or(f, "people_count", "nombre en cours d'estimation")
    records = _fact_or(f, "records_count", "nombre en cours d'estimation")
    cats = _fact_or(f, "people_categories", "patients, personnels")
    return (
        f"Violation de {' et de '.join(kinds)}.\nPersonnes concernées : {cats} — environ {people}.\n"
        f"Enregistrements concernés : environ {records}.\nDonnées : {data_concerned(f)}"
    )


def people_count(f: IncidentFacts) -> str:
    return _fact_or(f, "people_count", _todo("nombre approximatif de personnes"))


def records_count(f: IncidentFacts) -> str:
    return _fact_or(f, "records_count", _todo("nombre approximatif d'enregistrements"))


def people_categories(f: IncidentFacts) -> str:
    return _fact_or(f, "people_categories", "Patients, personnels")


def dpo_contact(f: IncidentFacts) -> str:
    return _contact_text(_contact(f, "dpo"), "délégué à la protection des données")


def rssi_contact(f: IncidentFacts) -> str:
    return _contact_text(_contact(f, "rssi"), "RSSI")


def consequences(f: IncidentFacts) -> str:
    return _fact_or(
        f,
        "consequences",
        "Retard ou perturbation de la prise en charge ; risque de divulgation de "
        "données de santé si une exfiltration est établie",
    )


def delay_reasons(f: IncidentFacts) -> str:
    late = (f.now - f.t0).total_seconds() > 72 * 3600
    if not late:
        return "Sans objet : notification dans les 72 heures"
    return _fact_or(f, "delay_reasons", _todo("motifs du retard au-delà de 72 heures"))


def findings(f: IncidentFacts) -> str:
    if not f.findings:
        return "Investigation en cours ; aucune conclusion à ce stade"
    return "\n".join(f"[v{x.version}] {x.summary}" for x in f.findings)


def facts_summary(f: IncidentFacts) -> str:
    titles = sorted({a.title for a in f.alerts})[:5]
    text = (
        f"Incident {f.incident.ref} : intrusion suspectée depuis l'extérieur détectée sur les systèmes de "
        f"{f.establishment.name} ; premiers signes le {format_local(f.incident.first_seen)}, "
        f"connaissance le {format_local(f.t0)}. Gravité {_severity(f)}."
    )
    if titles:
        text += "\nAlertes : " + " ; ".join(titles)
    notes = [e.text for e in f.log if e.kind == "note" and e.source == "people"]
    if notes:
        text += "\nObservations : " + " ; ".join(notes[-5:])
    return text


def _severity(f: IncidentFacts) -> str:
    return SEVERITY_FR.get(f.incident.severity, f.incident.severity)


def malicious(f: IncidentFacts) -> str:
    return "Oui : acte malveillant suspecté (intrusion depuis l'extérieur)"


def cross_border(f: IncidentFacts) -> str:
    return _fact_or(f, "cross_border", "Aucun impact transfrontière identifié à ce stade")


def severity(f: IncidentFacts) -> str:
    return (
        f"Gravité {SEVERITY_FR.get(f.incident.severity, f.incident.severity)} ; "
        f"{len(f.incident.hosts)} système(s) touché(s)"
        + (" ; activité en mode dégradé" if any(e.source == "continuity" for e in f.log) else "")
    )


def iocs(f: IncidentFacts) -> str:
    """Addresses, hashes and accounts found in the alerts' details (the fields a rule matched on)."""
    found: set[str] = set()
    for a in f.alerts:
        for key, value in (a.details or {}).items():
            kind = _indicator_kind(str(key), str(value))
            if kind:
                found.add(f"{kind} : {value}")
    return "\n".join(sorted(found)[:20]) or "Indicateurs en cours de collecte (voir l'équipe d'investigation)"


def _indicator_kind(key: str, value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
        return "adresse IP"
    except ValueError:
        pass
    if re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}", value):
        return "empreinte"
    if any(k in key.lower() for k in ("user", "account", "login")) and value.strip():
        return "compte"
    if any(k in key.lower() for k in ("domain", "hostname", "url", "query")) and "." in value:
        return "domaine"
    return None


def service_impact(f: IncidentFacts) -> str:
    return (
        f"Les échanges avec {f.establishment.name} sont interrompus à titre conservatoire ; "
        "ne pas accepter de connexion ni de fichier provenant de l'établissement sans vérification"
    )


def links_cut(f: IncidentFacts) -> str:
    links = [a for a in f.establishment.external_accesses if a.kind == AccessKind.PARTNER_LINK]
    return "\n".join(f"{a.id} ({a.peer or 'partenaire'}) : coupée à titre conservatoire" for a in links) or (
        "Aucune liaison partenaire"
    )


def controller(f: IncidentFacts) -> str:
    return _fact_or(f, "controller", _todo("responsable de traitement à prévenir"))


def art34_decision(f: IncidentFacts) -> str:
    return _fact_or(
        f,
        "art34_decision",
        _todo(
            "décision d'informer les patients ou exception invoquée "
            "(données inintelligibles, mesures ultérieures, efforts disproportionnés)"
        ),
    )


def victim(f: IncidentFacts) -> str:
    return f"{structure(f)}, représentée par son directeur"


def damages(f: IncidentFacts) -> str:
    return f"{impact_si(f)}\n{impact_structure(f)}"


def evidence(f: IncidentFacts) -> str:
    return _fact_or(
        f,
        "evidence",
        "Journaux des systèmes et des équipements de sécurité conservés ; copies "
        "des alertes ; main courante de l'incident",
    )


def insurance(f: IncidentFacts) -> str:
    return _fact_or(f, "insurer", _todo("assureur cyber et numéro de contrat"))


def complaint_deadline(f: IncidentFacts) -> str:
    from datetime import timedelta

    return (
        f"Dépôt au plus tard le {format_local(f.t0 + timedelta(hours=72))} (72 h après la connaissance de "
        "l'attaque, condition d'indemnisation, art. L.12-10-1 du Code des assurances)"
    )


def resolution(f: IncidentFacts) -> str:
    at = f.resolved_at
    if at is None:
        return _todo("date de résolution")
    return f"Incident résolu le {format_local(at)}\n" + _fact_or(f, "resolution_summary", "")


def _fact_field(name: str, what: str) -> Callable[[IncidentFacts], str]:
    return lambda f: _fact_or(f, name, _todo(what))


FIELD_SOURCES: dict[str, Callable[[IncidentFacts], str]] = {
    "structure": structure,
    "declarant": declarant,
    "date_found": date_found,
    "first_seen": first_seen,
    "scope": scope,
    "systems": systems,
    "data_concerned": data_concerned,
    "handling_state": handling_state,
    "measures": measures,
    "impact_data": impact_data,
    "impact_people": impact_people,
    "impact_si": impact_si,
    "impact_structure": impact_structure,
    "causes": causes,
    "csp_categories": csp_categories,
    "nature": nature,
    "people_count": people_count,
    "records_count": records_count,
    "people_categories": people_categories,
    "dpo_contact": dpo_contact,
    "rssi_contact": rssi_contact,
    "consequences": consequences,
    "delay_reasons": delay_reasons,
    "findings": findings,
    "facts_summary": facts_summary,
    "malicious": malicious,
    "cross_border": cross_border,
    "severity": severity,
    "iocs": iocs,
    "service_impact": service_impact,
    "links_cut": links_cut,
    "controller": controller,
    "art34_decision": art34_decision,
    "victim": victim,
    "damages": damages,
    "evidence": evidence,
    "insurance": insurance,
    "complaint_deadline": complaint_deadline,
    "resolution": resolution,
    "eigs_nature": _fact_field("eigs_nature", "nature de l'événement"),
    "eigs_circumstances": _fact_field("eigs_circumstances", "circonstances"),
    "eigs_first_measures": _fact_field("eigs_first_measures", "premières mesures prises"),
    "eigs_patient_info": _fact_field("eigs_patient_info", "information du patient ou de ses proches"),
    "eigs_analysis": _fact_field("eigs_analysis", "analyse approfondie des causes"),
    "eigs_action_plan": _fact_field("eigs_action_plan", "plan d'actions"),
}
