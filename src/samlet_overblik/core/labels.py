"""The one table of Danish labels: every code shown to people (departments, categories, consent statuses, decision
reasons, roles, access-log outcomes) and the words caseworkers and compliance staff read for it. The CLI, the JSON
API, the web pages and the compliance reports take the words for these codes from here, and the way dates and times
are written for them."""

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

# The departments (a spec's ``department:``).
DEPARTMENT_NAMES = {
    "boern_familie": "Børn og Familie",
    "beskaeftigelse": "Jobcenter / Beskæftigelse",
    "social_voksen": "Socialområdet (voksne)",
    "sundhed_aeldre": "Sundhed og Ældre",
}
# A consent version's status at the reference time (consent.evaluated.status).
CONSENT_STATUS_NAMES = {
    "in_force": "gældende",
    "superseded": "erstattet af nyere version",
    "withdrawn": "tilbagekaldt",
    "expired": "udløbet",
    "not_yet_given": "endnu ikke givet",
    "purpose_not_covered": "formål ikke omfattet",
    "giver_without_custody": "afvist: giver havde ikke forældremyndighed",
    "invalid_version": "afvist: ugyldig version i registret",
}
# Why a (datum, viewer) pair was blocked, or why a flow stopped (consent.record_decisions.reason).
DECISION_REASON_NAMES = {
    "no_consent": "intet samtykke",
    "scope_excludes": "samtykket omfatter ikke denne kategori/afdeling",
    "consent_withdrawn": "samtykket er tilbagekaldt",
    "consent_expired": "samtykket er udløbet",
    "consent_superseded": "en nyere version af samtykket omfatter det ikke",
    "consent_giver_without_custody": "samtykket er givet af en person uden forældremyndighed",
    "consent_invalid_version": "samtykket kunne ikke læses korrekt",
    "consent_not_yet_given": "samtykket er endnu ikke givet",
    "consent_purpose_not_covered": "samtykkets formål er ikke omfattet",
    "no_identified_person": "posten kunne ikke knyttes sikkert til borgeren",
    "fail_closed": "samtykkeregistret var utilgængeligt eller ugyldigt (lukket for deling)",
    "record_removed": "posten findes ikke længere i kildesystemet",
}

# A record's category (the caseworker's lookup).
CATEGORY_NAMES = {"indsatser": "indsatser", "ydelser": "ydelser og betalinger", "helbred": "helbred",
                  "misbrug": "misbrug", "kontakt": "kontakt og møder"}

# A record's status (assets/unified/interventions.sql), in the order a caseworker reads them: what runs now first.
STATUS_ORDER = {"aktiv": 0, "kommende": 1, "afsluttet": 2}
# What the caseworker's filter shows (``/opslag/<handle>?vis=...``).
SHOW_NAMES = {"alle": "Alle", "aktive": "Aktive og kommende", "afsluttede": "Afsluttede"}

# What ``outcome`` means, in Danish, for the compliance pages.
OUTCOME_NAMES = {
    "shown": "vist",
    "not_found": "ikke fundet",
    "no_visible_records": "ingen poster din afdeling må se",
    "denied_department": "afvist: forespørgsel på anden afdeling",
    "denied_role": "afvist: rollen giver ikke adgang",
    "denied_csrf": "afvist: formularen var udløbet eller ikke fra appen",
    "denied_tenant": "afvist: forespørgsel på en anden kommune",
    "denied_login": "afvist: forkert adgangskode eller token (kommandolinjen)",
    "search": "navnesøgning",
    "printed": "udskrevet til koordineringsmøde",
    "queue": "identitetskø vist",
    "decided_match": "afgjort: samme person",
    "decided_no_match": "afgjort: forskellige personer",
    "skipped": "sprunget over",
}

# How a record was linked to its person (identity.person_links.method).
LINK_METHOD_NAMES = {"cpr_exact": "eget CPR-nummer", "cpr_corrected": "rettet CPR-nummer (tastefejl)",
                     "probabilistic": "modellen (navn, fødselsdato, adresse)", "steward": "dataforvalterens afgørelse",
                     "unlinked": "ikke koblet til andre"}
# The identifying fields a data steward compares, and how two records agree on one (identity.review_queue.evidence).
IDENTITY_FIELD_NAMES = {"given_name": "fornavn", "family_name": "efternavn", "birth_date": "fødselsdato",
                        "sex": "køn", "address": "adresse", "national_id": "CPR-nummer"}
AGREEMENT_NAMES = {
    "exact": "ens", "same": "ens", "similar": "ligner", "shared name": "fælles navn", "different": "forskellig",
    "one character off": "ét tegn forskel", "same postcode": "samme postnummer",
    "same street and number": "samme vej og husnummer", "one or two digits off": "et eller to cifre forskel",
    "missing": "mangler",
}

# The roles of the users file.
ROLE_NAMES = {"sagsbehandler": "Sagsbehandler", "compliance": "Compliance", "dataingenioer": "Dataingeniør",
              "datasteward": "Dataforvalter (identiteter)"}


# ------------------------------------------------------------------------------------------- bases and scopes


def basis_text(basis: str | None) -> str:
    """The basis a datum was shared on, as every page and report words it (``lov:egen_afdeling``,
    ``samtykke:SAM-12@2``, ``lov:<rule>``)."""
    if not basis:
        return ""
    if basis == "lov:egen_afdeling":
        return "egen afdeling"
    if basis.startswith("samtykke:"):
        ident, _, version = basis[len("samtykke:"):].partition("@")
        return f"samtykke {ident}" + (f" (version {version})" if version else "")
    if basis.startswith("lov:"):
        return f"lovhjemmel: {basis[4:].replace('_', ' ')}"
    return basis


def scope_lines(scopes: list[str]) -> list[str]:
    """A consent's grants grouped by route, one line each: "Jobcenter / Beskæftigelse → Sundhed og Ældre:
    indsatser, kontakt og møder" (a consent of a dozen grants reads as three or four lines)."""
    routes: dict[tuple[str, str], list[str]] = {}
    for scope in scopes:
        route, _, category = scope.partition(":")
        source, _, target = route.partition(">")
        routes.setdefault((source, target), []).append(CATEGORY_NAMES.get(category, category or "alt"))
    return [f"{DEPARTMENT_NAMES.get(a, a)} → {DEPARTMENT_NAMES.get(b, b)}: {', '.join(cats)}" if b else a
            for (a, b), cats in routes.items()]


# ------------------------------------------------------------------------------------------- dates and times
# Caseworkers read dates as dd-mm-åååå and times on the municipality's clock (Europe/Copenhagen), never UTC,
# never with seconds' fractions. The warehouse stores UTC (naive timestamps are UTC).
LOCAL_TIME = ZoneInfo("Europe/Copenhagen")


def danish_date(value: date | datetime | str | None, missing: str = "") -> str:
    """``2026-11-30`` (a date, a datetime or ISO text) as ``30-11-2026``; ``missing`` for nothing."""
    if value is None or value == "":
        return missing
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        value = local_time(value).date()
    return value.strftime("%d-%m-%Y")


def local_time(value: datetime) -> datetime:
    """A UTC timestamp (naive = UTC) on the Copenhagen clock."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(LOCAL_TIME)


def danish_time(value: datetime | str | None, missing: str = "", utc: bool = True) -> str:
    """A UTC timestamp as ``30-11-2026 kl. 01:23`` on the Copenhagen clock; ``missing`` for nothing.
    ``utc=False``: a source system's own stamp (written on the local clock already), shown as it is."""
    if value is None or value == "":
        return missing
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    return (local_time(value) if utc else value).strftime("%d-%m-%Y kl. %H:%M")


# ------------------------------------------------------------------------------------------- the same words in SQL


def install_macros(con) -> None:
    """``department_name(code)`` on ``con``: the department's name from ``DEPARTMENT_NAMES``, for the sentences the
    unified SQL writes (flag explanations, signal details), so the SQL has no copy of the names."""
    cases = " ".join(f"WHEN '{code}' THEN '{name}'" for code, name in DEPARTMENT_NAMES.items())
    con.execute(f"CREATE OR REPLACE TEMP MACRO department_name(code) AS (CASE code {cases} ELSE code END)")


# A run's status (meta.runs.status) as operators read it.
RUN_STATUS_NAMES = {
    "ok": "ok",
    "degraded": "forringet (forældede kilder)",
    "consent_fail_closed": "lukket for samtykke (intet deles på samtykke)",
}
