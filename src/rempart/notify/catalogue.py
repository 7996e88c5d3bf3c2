"""The obligations catalogue: who must be told what, when, how — as data the group can edit.

A catalogue is a versioned YAML file (``version:``) validated through :mod:`rempart.yamldoc`, so every
mistake names its file, line and field. The packaged default (``catalogues/obligations.yaml``) follows
the French texts as of 2026; a group copies it, edits it (e.g. when the NIS2 transposition changes)
and passes its own file with ``--catalogue``.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rempart.errors import ConfigError, ConfigErrors, Location
from rempart.yamldoc import PathKey, field_name, line_of, parse_yaml, validate_text

DEFAULT_CATALOGUE = Path(__file__).parent / "catalogues" / "obligations.yaml"
TEMPLATES = Path(__file__).parent / "templates"

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=64)]

# ISO 8601 durations, restricted to what deadlines use: PT0H, PT24H, PT72H, P1M, P3M, P1D, PT90M
_DURATION = re.compile(
    r"^P(?:(?P<months>\d+)M)?(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?)?$"
)


class Period(BaseModel):
    """A deadline length: whole calendar months, plus an exact duration (days, hours, minutes)."""

    model_config = ConfigDict(frozen=True)
    months: int = 0
    exact: timedelta = timedelta(0)
    text: str = "PT0H"

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _DURATION.fullmatch(text.strip())
        if not m or text.strip() in ("P", "PT"):
            raise ValueError(f"'{text}' is not an ISO 8601 duration such as PT72H, P1D or P1M")
        g = {k: int(v) if v else 0 for k, v in m.groupdict().items()}
        return cls(
            months=g["months"],
            exact=timedelta(days=g["days"], hours=g["hours"], minutes=g["minutes"]),
            text=text.strip(),
        )

    def __str__(self) -> str:
        return self.text


def _period(value: object) -> object:
    if isinstance(value, str):
        return Period.parse(value)
    return value


class Condition(StrEnum):
    """What makes an obligation apply to an establishment for an incident (see notify.facts)."""

    ALWAYS = "always"
    PERSONAL_DATA = (
        "personal_data"  # personal (health) data concerned: confidentiality, integrity or availability
    )
    NIS2_ESSENTIAL = "nis2_essential"
    NIS2_IMPORTANT = "nis2_important"
    NIS2 = "nis2"  # essential or important
    OES = "oes"  # designated OSE / OIV
    EIGS = "eigs"  # a degraded-mode event seriously harmed a patient
    PROCESSOR = "processor"  # the entity processes the data for another controller
    PARTNER_LINKS = "partner_links"  # the establishment has partner links / service recipients


class Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    all: list[Condition] = Field(default_factory=list, description="every one must hold")
    any: list[Condition] = Field(default_factory=list, description="at least one must hold (if given)")

    @model_validator(mode="after")
    def _not_empty(self) -> Trigger:
        if not self.all and not self.any:
            raise ValueError("a trigger needs 'all' or 'any' (use 'all: [always]' for an unconditional duty)")
        return self


class StageKind(StrEnum):
    INITIAL = "initial"
    COMPLEMENTARY = "complementary"
    FINAL = "final"


class Start(StrEnum):
    T0 = "t0"  # the moment the organisation became aware (per establishment)
    STAGE = "stage"  # when another stage of the same obligation was done (``after``)
    RESOLUTION = "resolution"  # when the incident was declared resolved (closing task)
    NEW_FINDING = "new_finding"  # a finding newer than what was last sent (complementary notification)


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Slug = Field(description="a value the draft builder knows (see notify.fields.FIELD_SOURCES)")
    label: str = Field(min_length=1, description="the label printed on the draft, in French")
    block: str | None = Field(default=None, description="section of the form this field belongs to")


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Slug
    label: str
    kind: StageKind = StageKind.INITIAL
    start: Start = Start.T0
    after: Slug | None = Field(default=None, description="stage id, when start is 'stage'")
    immediate: bool = Field(
        default=False, description="'sans délai': due at once, 'target' is the internal goal"
    )
    within: Period | None = Field(default=None, description="legal deadline from the start (ISO 8601)")
    target: Period | None = Field(default=None, description="internal target for 'sans délai' duties")
    fields: list[FieldSpec] = Field(min_length=1)
    template: str = "default"

    @field_validator("within", "target", mode="before")
    @classmethod
    def _periods(cls, value: object) -> object:
        return _period(value)

    @model_validator(mode="after")
    def _deadline(self) -> Stage:
        if self.immediate == (self.within is not None):
            raise ValueError("give either 'immediate: true' (with a 'target') or 'within' (a legal deadline)")
        if self.immediate and self.target is None:
            raise ValueError("an immediate ('sans délai') stage needs a 'target' such as PT2H")
        if (self.start == Start.STAGE) != (self.after is not None):
            raise ValueError("'after' names the stage this one starts from, and only with 'start: stage'")
        return self

    @property
    def allowance(self) -> Period:
        """The period between the start and the due time shown by the clocks."""
        assert self.within is not None or self.target is not None
        return self.within if self.within is not None else self.target  # type: ignore[return-value]


class Recipient(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(description="who, in French; {region} is replaced by the establishment's region")
    contact_role: str | None = Field(
        default=None, description="role of a contact in group.yaml (phone, e-mail)"
    )
    phone: str | None = None
    email: str | None = None


class Obligation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Slug
    title: str
    legal_basis: str
    enabled: bool = True
    trigger: Trigger
    recipient: Recipient
    channel: Literal["portal", "email", "paper", "phone", "in_person", "internal", "letter"]
    fallback: str | None = Field(default=None, description="what to do when the channel cannot be used")
    notes: str = ""
    stages: list[Stage] = Field(min_length=1)

    def stage(self, stage_id: str) -> Stage:
        for s in self.stages:
            if s.id == stage_id:
                return s
        raise KeyError(stage_id)


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str = Field(min_length=1, description="the group's version of this catalogue, shown on drafts")
    timezone: str = "Europe/Paris"
    obligations: list[Obligation] = Field(min_length=1)

    def obligation(self, obligation_id: str) -> Obligation:
        for o in self.obligations:
            if o.id == obligation_id:
                return o
        known = ", ".join(o.id for o in self.obligations)
        raise KeyError(f"unknown obligation '{obligation_id}' (known: {known})")


_CACHE: dict[tuple[str, int, int], Catalogue] = {}


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """Load a catalogue (the packaged default when ``path`` is None); every mistake is located.

    A loaded catalogue is immutable and kept while its file is unchanged (YAML parsing is slow).
    """
    p = Path(path) if path is not None else DEFAULT_CATALOGUE
    try:
        stat = p.stat()
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "obligations catalogue not found", Location(p), "give the path of obligations.yaml"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read catalogue: {exc}", Location(p)) from None
    key = (str(p.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _CACHE:
        _CACHE[key] = _validate(text, p)
    return _CACHE[key]


def _validate(text: str, p: Path) -> Catalogue:
    from rempart.notify.fields import FIELD_SOURCES  # the draft builder owns the field names

    catalogue = validate_text(Catalogue, text, p)
    problems = _cross_checks(catalogue, set(FIELD_SOURCES))
    if problems:
        _, lines = parse_yaml(text, p)  # only now: line numbers are needed for the messages
        raise ConfigErrors(
            [ConfigError(msg, Location(p, line_of(lines, loc), field_name(loc))) for loc, msg in problems]
        )
    return catalogue


def _cross_checks(cat: Catalogue, known_fields: set[str]) -> list[tuple[PathKey, str]]:
    """What pydantic cannot see alone: unique ids, references between stages, templates, field names."""

    def err(loc: PathKey, message: str) -> tuple[PathKey, str]:
        return loc, message

    errors: list[tuple[PathKey, str]] = []
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(cat.timezone)
    except (KeyError, ValueError, OSError):
        errors.append(err(("timezone",), f"unknown time zone '{cat.timezone}'"))
    ids = Counter(o.id for o in cat.obligations)
    for oi, ob in enumerate(cat.obligations):
        if ids[ob.id] > 1:
            errors.append(err(("obligations", oi, "id"), f"obligation id '{ob.id}' is used twice"))
        stage_ids = [s.id for s in ob.stages]
        for si, st in enumerate(ob.stages):
            base: PathKey = ("obligations", oi, "stages", si)
            if stage_ids.count(st.id) > 1:
                errors.append(err((*base, "id"), f"stage id '{st.id}' is used twice in '{ob.id}'"))
            if st.after is not None and (st.after not in stage_ids or st.after == st.id):
                errors.append(err((*base, "after"), f"'{st.after}' is not another stage of '{ob.id}'"))
            if not (TEMPLATES / f"{st.template}.md.j2").is_file():
                errors.append(err((*base, "template"), f"no template '{st.template}.md.j2' in {TEMPLATES}"))
            for fi, fs in enumerate(st.fields):
                if fs.id not in known_fields:
                    errors.append(
                        err(
                            (*base, "fields", fi, "id"),
                            f"unknown field '{fs.id}'; known fields: {', '.join(sorted(known_fields))}",
                        )
                    )
    return errors
