"""The one table of Danish labels: every code shown to people (departments, categories, consent statuses, decision
reasons, roles, access-log outcomes) and the words caseworkers and compliance staff read for it. The CLI, the JSON
API, the web pages and the compliance reports take the words for these codes from here."""

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

# What ``outcome`` means, in Danish, for the compliance pages.
OUTCOME_NAMES = {
    "shown": "vist",
    "not_found": "ikke fundet",
    "no_visible_records": "ingen poster din afdeling må se",
    "denied_department": "afvist: forespørgsel på anden afdeling",
    "denied_role": "afvist: rollen giver ikke adgang",
    "denied_csrf": "afvist: formularen var udløbet eller ikke fra appen",
    "search": "navnesøgning",
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
