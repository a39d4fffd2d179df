"""The read side's view models: what a lookup answers, typed once for the CLI, the JSON API and the templates.

Attributes are English; the JSON API's keys are Danish (the API's contract, read by the municipality's own tools):
each field names its JSON key once, and ``core.viewmodel.to_json`` is the one serialiser.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from samlet_overblik.core.viewmodel import flatten as _flatten
from samlet_overblik.core.viewmodel import json_key as _json


# ------------------------------------------------------------------------------------------- the citizen


@dataclass(frozen=True)
class Person:
    person_key: str = _json("person_key")
    cpr_masked: str | None = _json("cpr_masket")
    name: str = _json("navn")
    birth_date: str | None = _json("foedselsdato")
    sex: str = _json("koen", default="")
    status: str = _json("status", default="")


@dataclass(frozen=True)
class Relative:
    """A parent or child the department may see at least one record of."""

    person_key: str = _json("person_key")
    cpr_masked: str | None = _json("cpr_masket")
    name: str = _json("navn")
    birth_date: str | None = _json("foedselsdato")
    relation: str = _json("relation")
    visible_records: int = _json("synlige_poster", default=0)


@dataclass(frozen=True)
class Record:
    """One intervention or benefit as the viewing department may see it."""

    department: str = _json("afdeling")
    department_name: str = _json("afdeling_navn")
    category: str = _json("kategori")
    category_name: str = _json("kategori_navn")
    kind: str = _json("art")
    title: str = _json("titel")
    paragraph: str = _json("paragraf")
    start: str | None = _json("start")
    end: str | None = _json("slut")
    status: str | None = _json("status")
    caseworker: str = _json("sagsbehandler")
    monthly_cost: float | None = _json("maanedlig_udgift")
    basis: str = _json("grundlag")
    basis_text: str = _json("grundlag_tekst")
    source_key: tuple[str, str, str] = ("", "", "")  # (source, table, record id): what the gate's count compares
    caseworker_team: str = _json("sagsbehandler_team", default="")
    caseworker_phone: str = _json("sagsbehandler_telefon", default="")
    caseworker_email: str = _json("sagsbehandler_email", default="")


@dataclass(frozen=True)
class DepartmentRecords:
    department: str = _json("afdeling")
    name: str = _json("navn")
    own: bool = _json("egen")
    records: list[Record] = _json("indsatser")


@dataclass(frozen=True)
class VisibleRecords:
    """What one citizen's lookup shows of their records, and what it leaves out."""

    records: list[Record] = _json("indsatser")
    by_department: list[DepartmentRecords] = _json("afdelinger")
    not_shared: int = _json("ikke_delt")
    not_shared_text: str = _json("ikke_delt_tekst")
    # Overview figures, flags, signals and the tovholder were computed with rows that are now hidden.
    consent_changed: bool = _json("samtykke_aendret")


@dataclass(frozen=True)
class Overview:
    n_departments: int = _json("antal_afdelinger")
    departments: list[str] = _json("afdelinger")
    active_records: int = _json("aktive_poster")
    active_services: int = _json("aktive_ydelser")
    monthly_cost: float = _json("maanedlig_udgift")
    annual_cost: float = _json("aarlig_udgift")
    caseworkers: list[str] = _json("sagsbehandlere")
    coordinator: str | None = _json("tovholder")
    coordinator_department: str | None = _json("tovholder_afdeling")
    flags: list[str] = _json("flag")
    complex_case: bool = _json("kompleks_sag")
    flags_explained: str | None = _json("flag_forklaring")
    data_as_of: str | None = _json("data_pr")
    reference_date: str | None = _json("referencedato")


@dataclass(frozen=True)
class Signal:
    signal_id: str = _json("signal")
    title: str = _json("titel")
    signal_date: str | None = _json("dato")
    detail: str | None = _json("detalje")
    description: str | None = _json("beskrivelse")
    departments: list[str] = _json("afdelinger")


@dataclass(frozen=True)
class Plan:
    """The one plan (én plan) as the viewing department may see it: who coordinates, since when, towards what."""

    department: str = _json("afdeling")
    department_name: str = _json("afdeling_navn")
    coordinator: str | None = _json("tovholder")
    created: str | None = _json("oprettet")
    goals: list[str] = _json("maal")
    basis_text: str = _json("grundlag_tekst")
    # The next follow-up as the source has it; overdue when it lies before the overview's reference date.
    follow_up: str | None = _json("opfoelgning")
    follow_up_overdue: bool = _json("opfoelgning_overskredet")


@dataclass(frozen=True)
class Meeting:
    """The next planned meeting or conversation a department has with the citizen (from its own records)."""

    department: str = _json("afdeling")
    department_name: str = _json("afdeling_navn")
    date: str | None = _json("dato")
    title: str = _json("titel")
    caseworker: str = _json("sagsbehandler")


@dataclass(frozen=True)
class ExportInfo:
    run_id: str | None = _json("koersel", default=None)
    published: str | None = _json("publiceret", default=None)


@dataclass(frozen=True)
class CitizenView:
    """The overview of one citizen as a department may see it."""

    department: str = _json("afdeling")
    department_name: str = _json("afdeling_navn")
    person: Person | None = _json("person")
    overview: Overview | None = _json("overblik")
    signals: list[Signal] = _json("signaler")
    family: list[Relative] = _json("familie")
    family_not_shown: int = _json("familie_ikke_vist")
    consent_changed_text: str = _json("samtykke_aendret_tekst")
    reference_date: str = _json("referencedato")
    data: ExportInfo = _json("data")
    part: VisibleRecords = _flatten()
    found: bool = _json("fundet", default=True)
    visible: bool = _json("synlig", default=True)
    plans: list[Plan] = _json("planer", default_factory=list)
    # A plan with a tovholder exists in these departments but is not shared with the viewer (existence only).
    plans_not_shared: list[str] = _json("planer_ikke_delt", default_factory=list)
    plans_not_shared_text: str = _json("planer_ikke_delt_tekst", default="")
    next_meetings: list[Meeting] = _json("naeste_moeder", default_factory=list)


@dataclass(frozen=True)
class NotVisible:
    """A citizen the department has no visible record of: nothing about them is shown, not even the name."""

    department: str = _json("afdeling")
    department_name: str = _json("afdeling_navn")
    found: bool = _json("fundet", default=True)
    visible: bool = _json("synlig", default=False)


@dataclass(frozen=True)
class FamilyMember:
    person: Person | None = _json("person")
    relation: str = _json("relation")
    part: VisibleRecords = _flatten()


@dataclass(frozen=True)
class FamilySummary:
    family_id: str = _json("familie")
    n_children: int = _json("boern")
    n_adults: int = _json("voksne")
    child_case_and_adult_benefits: bool = _json("barn_med_indsats_og_voksen_med_ydelse")
    annual_cost: float = _json("aarlig_udgift")


@dataclass(frozen=True)
class FamilyView:
    """The citizen and the parents/children the department may see records of."""

    department: str = _json("afdeling")
    department_name: str = _json("afdeling_navn")
    person_key: str = _json("person_key")
    reference_date: str = _json("referencedato")
    members: list[FamilyMember] = _json("medlemmer")
    family_not_shown: int = _json("familie_ikke_vist")
    consent_changed_text: str = _json("samtykke_aendret_tekst")
    families: list[FamilySummary] = _json("familier")
    found: bool = _json("fundet", default=True)
    visible: bool = _json("synlig", default=True)


@dataclass(frozen=True)
class SearchHit:
    person_key: str = _json("person_key")
    cpr_masked: str | None = _json("cpr_masket")
    name: str = _json("navn")
    birth_date: str | None = _json("foedselsdato")


# ------------------------------------------------------------------------------------------- operations


@dataclass(frozen=True)
class ExportStatus:
    """One department's published export (no personal data)."""

    department_name: str = _json("afdeling")
    file: str = _json("fil")
    exists: bool = _json("findes")
    run_id: str | None = _json("koersel", default=None)
    published: str | None = _json("publiceret", default=None)
    rows: int | None = _json("poster", default=None)


@dataclass(frozen=True)
class RunSummary:
    run_id: str = _json("koersel")
    job: str = _json("job")
    started_at: datetime | None = _json("start")
    finished_at: datetime | None = _json("slut")
    status: str = _json("status")


@dataclass(frozen=True)
class PublishedStatus:
    exports: list[ExportStatus] = _json("udtraek")
    runs: list[RunSummary] = _json("koersler")


@dataclass(frozen=True)
class StaleSource:
    """A source the newest run could not read: its last good snapshot is used, as of ``since``."""

    source: str = _json("kilde")
    since: datetime | None = _json("data_fra")


@dataclass(frozen=True)
class QuarantineChange:
    """Quarantined rows of one source in the newest run against the run before it."""

    source: str = _json("kilde")
    rows: int = _json("raekker")
    previous: int | None = _json("forrige_koersel")


@dataclass(frozen=True)
class ConsentLatency:
    """From a consent change's update stamp in the registry to the run that published it (recent changes)."""

    changes: int = _json("aendringer")
    median_minutes: float | None = _json("median_minutter")
    max_minutes: float | None = _json("max_minutter")


@dataclass(frozen=True)
class OperationsStatus:
    """What ``samlet-overblik status`` reports: the runs and what was wrong in the newest (no personal data)."""

    runs: list[RunSummary] = _json("koersler")
    newest_status: str | None = _json("seneste_status")
    message: str | None = _json("besked")
    stale_sources: list[StaleSource] = _json("foraeldede_kilder")
    fail_closed_reason: str | None = _json("lukket_aarsag")
    quarantine: list[QuarantineChange] = _json("karantaene")
    consent_latency: ConsentLatency = _json("samtykke_forsinkelse")


# ------------------------------------------------------------------------------------------- compliance


@dataclass(frozen=True)
class AccessLogEntry:
    """One row of the access log: who looked, at whom, why, through which channel, and what came of it."""

    id: int = _json("id")
    logged_at: datetime = _json("tidspunkt")
    user_id: str = _json("bruger")
    role: str = _json("rolle")
    department: str | None = _json("afdeling")
    person_key: str | None = _json("person_key")
    purpose: str = _json("formaal")
    channel: str = _json("kanal")
    result_count: int = _json("poster")
    outcome: str = _json("udfald")
    requested_department: str | None = _json("anmodet_afdeling", default=None)
    # Whom a user looked up, as compliance staff read it (name and masked CPR), never the person key alone.
    citizen: str | None = _json("borger", default=None)


@dataclass(frozen=True)
class AccessLogReport:
    """The access log about one citizen (``about_citizen``) or of one user."""

    subject: str = _json("om")
    about_citizen: bool = _json("per_borger")
    entries: list[AccessLogEntry] = _json("opslag")
    filters: str = _json("filtre", default="")


# ------------------------------------------------------------------------------------------- the review desk


@dataclass(frozen=True)
class ReviewItem:
    """One uncertain pair in the data steward's queue (no personal data: the pair is opened to see it)."""

    pair_id: str = _json("par")
    score: float = _json("sandsynlighed")
    records_moved: int = _json("poster_der_flytter")
    departments: list[str] = _json("afdelinger")
    candidate_kind: str = _json("kandidat")
    waiting_since_run: str | None = _json("venter_siden_koersel")


@dataclass(frozen=True)
class IdentitySide:
    """One record of a pair, by its identifying fields only (never case content)."""

    source_name: str = _json("kilde")
    given_name: str | None = _json("fornavn")
    family_name: str | None = _json("efternavn")
    birth_date: str | None = _json("foedselsdato")
    sex: str | None = _json("koen")
    address: str | None = _json("adresse")
    postcode: str | None = _json("postnr")
    cpr_masked: str | None = _json("cpr_masket")
    link: str = _json("kobling")
    person_records: int = _json("personens_poster")


@dataclass(frozen=True)
class EvidenceLine:
    """A field's part of the match weight: how the two agree and how much that counts (bits, + for the same person)."""

    field_name: str = _json("felt")
    agreement: str = _json("overensstemmelse")
    weight: float = _json("vaegt")


@dataclass(frozen=True)
class ReviewPair:
    pair_id: str = _json("par")
    score: float = _json("sandsynlighed")
    weight: float = _json("samlet_vaegt")
    evidence: list[EvidenceLine] = _json("evidens")
    record: IdentitySide = _json("post")
    candidate: IdentitySide = _json("kandidat")
    records_moved: int = _json("poster_der_flytter")
    departments: list[str] = _json("afdelinger")
    history: list[str] = _json("historik")
