"""Word lists and value vocabularies of the generated sources (data values in Danish).

Names and street words come from Faker's ``da_DK`` providers (only the lists; sampling is done
with numpy). Everything else is fixed here so the staging SQL can rely on it.
"""

from __future__ import annotations

import numpy as np
from faker.providers.address.da_DK import Provider as _AddressProvider
from faker.providers.person.da_DK import Provider as _PersonProvider

FIRST_NAMES_MALE = np.array(sorted(set(_PersonProvider.first_names_male)), dtype=object)
FIRST_NAMES_FEMALE = np.array(sorted(set(_PersonProvider.first_names_female)), dtype=object)
# Faker lists the common surnames first; keep that order and weight by rank (Zipf-like).
LAST_NAMES = np.array(list(dict.fromkeys(_PersonProvider.last_names)), dtype=object)
LAST_NAME_WEIGHTS = 1.0 / np.arange(1, len(LAST_NAMES) + 1) ** 0.9
LAST_NAME_WEIGHTS /= LAST_NAME_WEIGHTS.sum()
STREET_WORDS = np.array(sorted(set(_AddressProvider.street_names)), dtype=object)
STREET_SUFFIXES = np.array(["vej", "vej", "vej", "gade", "gade", "stræde", " Allé", "parken", "haven"], dtype=object)

# One municipality: Odense.
POSTCODES = np.array(["5000", "5200", "5210", "5220", "5230", "5240", "5250", "5260", "5270"], dtype=object)
TOWNS = np.array(["Odense C", "Odense V", "Odense NV", "Odense SØ", "Odense M", "Odense NØ",
                  "Odense SV", "Odense S", "Odense N"], dtype=object)
POSTCODE_WEIGHTS = np.array([0.18, 0.11, 0.09, 0.10, 0.12, 0.09, 0.09, 0.10, 0.12])
FLOORS = np.array(["st. tv", "st. th", "1. tv", "1. th", "2. tv", "2. th", "3. tv", "3. th", "4. mf"], dtype=object)

DEPARTMENTS = ("boern_familie", "beskaeftigelse", "social_voksen", "sundhed_aeldre")
BF, BE, SV, SA = range(4)

# Children's services reform: Barnets Lov from 1 January 2024.
BARNETS_LOV_FROM = np.datetime64("2024-01-01")

# --- boern_familie -------------------------------------------------------------------------
# (kind, description, paragraph before 2024, paragraph from 2024, monthly cost range DKK, weight)
BF_MEASURES = [
    ("undersoegelse", "Børnefaglig undersøgelse", "SEL § 50", "BL § 20", (3000, 12000), 0.22),
    ("familiebehandling", "Familiebehandling", "SEL § 52 stk. 3", "BL § 32", (2500, 7000), 0.24),
    ("praktisk_stoette", "Praktisk pædagogisk støtte i hjemmet", "SEL § 52 stk. 3", "BL § 32", (2000, 6000), 0.10),
    ("kontaktperson", "Kontaktperson for barnet", "SEL § 52 stk. 3", "BL § 32", (1500, 5000), 0.14),
    ("aflastning", "Aflastningsophold", "SEL § 52 stk. 3", "BL § 32", (6000, 18000), 0.08),
    ("anbringelse_samtykke", "Anbringelse uden for hjemmet med samtykke (plejefamilie)",
     "SEL § 52 stk. 3 nr. 7", "BL § 46", (28000, 65000), 0.13),
    ("anbringelse_institution", "Anbringelse på døgninstitution med samtykke",
     "SEL § 52 stk. 3 nr. 7", "BL § 46", (60000, 110000), 0.05),
    ("anbringelse_uden_samtykke", "Anbringelse uden for hjemmet uden samtykke",
     "SEL § 58", "BL § 47", (50000, 105000), 0.04),
]
BF_NOTIFICATION_SOURCES = np.array(["skole", "daginstitution", "sundhedsplejerske", "politi", "læge",
                                     "hospital", "anonym", "nabo", "forælder"], dtype=object)
BF_NOTIFICATION_ASSESSMENTS = np.array([
    "Ingen yderligere handling", "Tilbud om rådgivning", "Iværksat børnefaglig undersøgelse",
    "Akut handling", "Allerede kendt sag - tilføjet sagen"], dtype=object)
BF_MEETING_TYPES = np.array(["Familiemøde", "Netværksmøde", "Opfølgningsmøde", "Børnesamtale",
                             "Tværfagligt møde"], dtype=object)
BF_ROLES = ("mor", "far", "foraeldremyndighedsindehaver")

# --- beskaeftigelse ------------------------------------------------------------------------
# ydelsestype -> (monthly amount range DKK, weight)
BE_BENEFITS = [
    ("kontanthjaelp", (12000, 16000), 0.34),
    ("uddannelseshjaelp", (3500, 12000), 0.14),
    ("selvforsoergelses_og_hjemrejseydelse", (6500, 12000), 0.05),
    ("ressourceforloebsydelse", (12500, 16500), 0.10),
    ("ledighedsydelse", (15000, 20000), 0.07),
    ("sygedagpenge", (14000, 20500), 0.26),
    ("revalideringsydelse", (18000, 21000), 0.04),
]
BE_OFFERS = [
    ("virksomhedspraktik", (0, 1500), 0.30),
    ("loentilskud", (8000, 16000), 0.15),
    ("mentor", (2000, 7000), 0.20),
    ("ressourceforloeb", (4000, 14000), 0.12),
    ("jobafklaringsforloeb", (3000, 9000), 0.10),
    ("fleksjob", (6000, 14000), 0.13),
]
BE_MEETING_TYPES = np.array(["jobsamtale", "opfoelgningssamtale", "sygeopfoelgning", "rundbordssamtale",
                             "visitationssamtale"], dtype=object)
BE_SANCTION_REASONS = np.array(["Udeblivelse fra samtale", "Udeblivelse fra tilbud",
                                "Manglende jobsøgning", "Afvisning af rimeligt arbejde",
                                "Manglende registrering af CV"], dtype=object)
GOALS = np.array(["Stabil bolig", "Job eller uddannelse", "Styr på økonomien", "Bedre trivsel i familien",
                  "Misbrugsbehandling gennemført", "Stabilt fremmøde", "Afklaring af arbejdsevne",
                  "Sundere hverdag", "Netværk og fællesskab", "Barnets skolegang stabil"], dtype=object)

# --- social_voksen -------------------------------------------------------------------------
# paragraph -> (ydelse text, monthly price range, weight, category hint)
SV_GRANTS = [
    ("§ 85", "Socialpædagogisk støtte i eget hjem (bostøtte)", (3000, 25000), 0.30),
    ("§ 99", "Støtte- og kontaktperson (SKP)", (1000, 4500), 0.10),
    ("§ 101", "Stofmisbrugsbehandling", (5000, 35000), 0.12),
    ("§ 101 a", "Anonym ambulant stofmisbrugsbehandling", (2000, 6000), 0.05),
    ("SUL § 141", "Alkoholbehandling", (2000, 9000), 0.10),
    ("§ 103", "Beskyttet beskæftigelse", (5000, 13000), 0.07),
    ("§ 104", "Aktivitets- og samværstilbud", (3000, 11000), 0.09),
    ("§ 107", "Midlertidigt botilbud", (40000, 95000), 0.08),
    ("§ 108", "Længerevarende botilbud", (50000, 115000), 0.05),
    ("§ 110", "Forsorgshjem / herberg", (25000, 48000), 0.04),
]

# --- sundhed_aeldre ------------------------------------------------------------------------
# (fsiii_code, service_name, paragraph, hours/week range, DKK per hour, home visits?, weight for 67+, weight for younger)
SA_SERVICES = [
    ("B1.1", "Personlig hygiejne", "SEL § 83", (1.0, 12.0), 460, True, 0.20, 0.10),
    ("B1.3", "Af- og påklædning", "SEL § 83", (0.5, 5.0), 460, True, 0.08, 0.05),
    ("B1.5", "Mad- og drikkeindtagelse", "SEL § 83", (0.5, 5.0), 460, True, 0.05, 0.03),
    ("B2.1", "Rengøring", "SEL § 83", (0.25, 1.0), 420, True, 0.17, 0.08),
    ("B2.2", "Tøjvask", "SEL § 83", (0.25, 0.75), 420, False, 0.07, 0.04),
    ("B3.1", "Rehabiliteringsforløb", "SEL § 83 a", (1.0, 4.0), 520, True, 0.10, 0.10),
    ("B4.1", "Vedligeholdende træning", "SEL § 86", (0.5, 2.0), 540, False, 0.07, 0.10),
    ("G1.20", "Medicinadministration", "SUL § 138", (0.5, 5.0), 610, True, 0.10, 0.15),
    ("G1.11", "Drænpleje", "SUL § 138", (0.5, 3.0), 610, True, 0.02, 0.05),
    ("G1.15", "Iltbehandling", "SUL § 138", (0.5, 2.0), 610, True, 0.02, 0.03),
    ("G2.2", "Sygeplejefaglig opfølgning", "SUL § 138", (0.25, 1.0), 610, True, 0.05, 0.07),
    ("T1.1", "Genoptræning efter udskrivning", "SUL § 140", (1.0, 3.0), 560, False, 0.07, 0.20),
]

# Invalid codes used by the noise (never valid in any source).
INVALID_PARAGRAPHS = np.array(["§ 999", "BL § 3x", "SEL § 5O", "§ 1O1", "§§ 85", "SEL § 0", "ukendt"], dtype=object)
INVALID_BENEFITS = np.array(["ukendt", "KH-gl", "kontanthjælp (gl.)", "ydelse_99", "xx"], dtype=object)
INVALID_FSIII = np.array(["X9.9", "B9.99", "ZZ", "0"], dtype=object)
INVALID_DATE_TEXTS = np.array(["31-02-2021", "2021-13-05", "0000-00-00", "2022-02-30", "12/05/2021",
                               "ukendt", "2019-06-31", "20210405"], dtype=object)
