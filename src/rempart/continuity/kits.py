"""What a downtime kit holds: per care unit, the census, the pre-filled MARs and serial-numbered blank forms.

Planning is separate from drawing (``kit_pdf``) and from the register (``register``): the plan allocates
every serial and every planned administration, the PDF prints them, the register records them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rempart.continuity.census import Census, Patient, planned_slots
from rempart.domain.inventory import Contact, Establishment, Group

FORM_TYPES = {
    "mar": "MAR",  # pre-filled administration record of one patient
    "prescription": "RX",
    "administration": "SOI",  # blank care / administration traceability sheet
    "admission": "ENT",  # with a pre-allocated provisional identity
    "lab": "LAB",
}
FORM_TITLES = {
    "mar": "Plan d'administration (MAR) pré-rempli",
    "prescription": "Prescription médicamenteuse",
    "administration": "Traçabilité des administrations et des soins",
    "admission": "Admission en mode dégradé",
    "lab": "Bon de demande d'examens de biologie",
}
CERT_SANTE = Contact(name="CERT Santé (astreinte 24/7)", role="cert_sante", phone="09 72 43 91 25")
CERT_FR = Contact(name="ANSSI CERT-FR", role="cert_fr", phone="01 71 75 84 68")


@dataclass(frozen=True)
class KitConfig:
    hours: int = 8  # blank forms for at least this many hours of care
    mar_hours: int = 24  # span of the pre-filled MAR grids
    max_snapshot_age: timedelta = timedelta(hours=2)
    # blank forms per 10 patients per 8 hours, and the minimum per unit (a 100-bed clinic admits
    # a dozen patients a day; paper prescriptions and lab requests are more frequent)
    per_10_patients_8h: tuple[tuple[str, int], ...] = (
        ("prescription", 5),
        ("administration", 3),
        ("admission", 1),
        ("lab", 3),
    )
    minimum: int = 2


@dataclass(frozen=True)
class Form:
    serial: str
    form_type: str
    unit: str
    patient_id: str | None = None
    provisional_id: str | None = None
    planned: tuple[tuple[str, datetime], ...] = ()  # (MedicationRequest id, time) on a MAR

    @property
    def qr_payload(self) -> str:
        # QR alphanumeric mode (upper case, digits, ':' '-'): small codes, fast to make and to scan
        est = self.serial.rsplit("-", 3)[0]  # serial = EST-K<kit>-<TYPE>-<nnnn>; EST may hold dashes
        return f"RMP:{self.serial}:{est}:{FORM_TYPES[self.form_type]}"


@dataclass
class UnitKit:
    name: str
    patients: list[Patient]
    mars: dict[str, Form] = field(default_factory=dict)  # patient id -> MAR form
    blanks: list[Form] = field(default_factory=list)

    def forms(self) -> list[Form]:
        return list(self.mars.values()) + self.blanks


@dataclass
class KitPlan:
    establishment: Establishment
    group_name: str
    contacts: list[Contact]
    number: int
    incident_ref: str | None
    started_at: datetime  # when degraded mode started (or the build time for a kit printed ahead)
    built_at: datetime
    taken_at: datetime  # snapshot time
    window_start: datetime
    config: KitConfig
    units: list[UnitKit]
    # unit -> why its list differs from the snapshot's count of present stays (printed in red)
    census_gaps: dict[str, str] = field(default_factory=dict)

    @property
    def present(self) -> int:
        return sum(len(u.patients) for u in self.units)

    @property
    def to_verify(self) -> int:
        """Values the kit prints boxed "À VÉRIFIER" (a drug, dose, unit or route the export does not give)
        plus the present patients it lists without a bed."""
        return sum(
            len(rx.missing) for u in self.units for p in u.patients for rx in p.prescriptions
        ) + sum(not p.has_bed for u in self.units for p in u.patients)

    @property
    def snapshot_age(self) -> timedelta:
        return self.built_at - self.taken_at

    @property
    def stale(self) -> bool:
        return self.snapshot_age > self.config.max_snapshot_age

    def forms(self) -> list[Form]:
        return [f for u in self.units for f in u.forms()]


def contacts_for(group: Group, establishment: Establishment) -> list[Contact]:
    """The group's contacts, the ARS of the region, and the national lines, each once."""
    out = list(group.contacts)
    out.append(
        Contact(name=f"ARS {establishment.region} — point focal régional", role="ars", phone=None, email=None)
    )
    phones = {c.phone for c in out if c.phone}
    out.extend(c for c in (CERT_SANTE, CERT_FR) if c.phone not in phones)
    return out


def serial(establishment: str, kit: int, form_type: str, n: int) -> str:
    return f"{establishment.upper()}-K{kit}-{FORM_TYPES[form_type]}-{n:04d}"


def plan_kit(
    census: Census,
    group: Group,
    establishment: Establishment,
    number: int,
    built_at: datetime,
    incident_ref: str | None = None,
    started_at: datetime | None = None,
    config: KitConfig | None = None,
) -> KitPlan:
    cfg = config or KitConfig()
    window = built_at.replace(minute=0, second=0, microsecond=0)
    counters = dict.fromkeys(FORM_TYPES, 0)
    est = establishment.id

    def next_serial(kind: str) -> str:
        counters[kind] += 1
        return serial(est, number, kind, counters[kind])

    units: list[UnitKit] = []
    for name, patients in census.units.items():
        unit = UnitKit(name, patients)
        for p in patients:
            planned = tuple(
                (rx.request_id, at)
                for rx in p.prescriptions
                for at in planned_slots(rx, window, cfg.mar_hours)
            )
            unit.mars[p.id] = Form(next_serial("mar"), "mar", name, patient_id=p.id, planned=planned)
        for kind, rate in cfg.per_10_patients_8h:
            count = max(cfg.minimum, math.ceil(len(patients) / 10 * rate * cfg.hours / 8))
            for _ in range(count):
                s = next_serial(kind)
                prov = f"PROV-{est.upper()}-{number}-{counters[kind]:03d}" if kind == "admission" else None
                unit.blanks.append(Form(s, kind, name, provisional_id=prov))
        units.append(unit)
    return KitPlan(
        establishment=establishment,
        group_name=group.name,
        contacts=contacts_for(group, establishment),
        number=number,
        incident_ref=incident_ref,
        started_at=started_at or built_at,
        built_at=built_at,
        taken_at=census.taken_at,
        window_start=window,
        config=cfg,
        units=units,
        census_gaps={
            u: gap
            for u in sorted(set(census.units) | set(census.stays))
            if (gap := census.check(u)) is not None
        },
    )
