"""Small cells in exports/analytics.duckdb, on populations built to have them.

The unified tables are filled by hand (apply_ddl, then rows), analytics is built for real, and what is published
is checked against the population itself, not against the suppression code:

- no published count of citizens (citizens, complex_cases, and citizens minus complex_cases) is 1..MIN_CELL-1;
- no published total minus the published parts of it, in the same table, leaves 1..MIN_CELL-1 citizens;
- nothing a reader can work out from *all* published counts together (linear algebra over the people) pins down
  a suppressed cell or a count of 1..MIN_CELL-1 citizens, across tables too;
- per-person rows only with SAMLET_ANALYTICS_MICRODATA=1; the file is 0600.
"""

from __future__ import annotations

import itertools
import stat
import tempfile
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samlet_overblik.unified import analytics
from samlet_overblik.core.warehouse import apply_ddl

K = analytics.MIN_CELL
MICRODATA_ENV = "SAMLET_ANALYTICS_MICRODATA"  # the documented setting (analytics.MICRODATA_ENV)
KEY = b"test-secret-0123456789"
REFERENCE = date(2026, 6, 1)
MIN_DEPARTMENTS, MIN_SERVICES, MIN_COST = 2, 3, 150_000
DEPARTMENTS = ("beskaeftigelse", "boern_familie", "social_voksen", "sundhed_aeldre")
BIRTH = {"18-29": date(2000, 1, 1), "30-49": date(1980, 1, 1), "67-79": date(1950, 1, 1)}
RULES = ("dobbelt_kompensation", "mange_sagsbehandlere_uden_tovholder")
FLAGS = ("flag_departments", "flag_services", "flag_cost", "complex_case")


@dataclass(frozen=True)
class Person:
    departments: tuple[str, ...]
    age_band: str
    district: str
    services: int
    cost: int
    signals: tuple[str, ...] = ()

    @property
    def flags(self) -> dict[str, bool]:
        f = {"flag_departments": len(self.departments) >= MIN_DEPARTMENTS, "flag_services": self.services >= MIN_SERVICES,
             "flag_cost": self.cost >= MIN_COST}
        f["complex_case"] = any(f.values())
        return f

    @property
    def pathway(self) -> str:
        return "+".join(self.departments) or "ingen aktive"


def fill(con: duckdb.DuckDBPyConnection, people: list[Person]) -> None:
    """The tables analytics reads, with one active record per department of each person."""
    apply_ddl(con)
    con.execute("INSERT INTO unified.build_info (reference_date, min_departments, min_services, min_annual_cost_dkk, min_caseworkers, signal_lookback_days, built_at) VALUES (?, ?, ?, ?, 3, 365, now()::TIMESTAMP)",
                [REFERENCE, MIN_DEPARTMENTS, MIN_SERVICES, MIN_COST])
    keys, persons, overview, records, signals = [], [], [], [], []
    for i, p in enumerate(people):
        pk, cpr = f"pk-{i:04d}", f"01019{i:05d}"
        keys.append([pk, cpr])
        persons.append([cpr, p.age_band and BIRTH[p.age_band], p.district])
        per_dept = {d: int(d in p.departments) for d in DEPARTMENTS}
        f = p.flags
        overview.append([pk, list(p.departments), len(p.departments), len(p.departments), per_dept["boern_familie"],
                         per_dept["beskaeftigelse"], per_dept["social_voksen"], per_dept["sundhed_aeldre"], p.services,
                         p.cost / 12, p.cost, f["flag_departments"], f["flag_services"], f["flag_cost"], f["complex_case"],
                         REFERENCE])
        for d in p.departments:
            records.append([pk, d, f"rec-{i}-{d}", 1000 + i])
        for rule in p.signals:
            signals.append([rule, f"{rule}-{i}", pk])
    statements = {
        "INSERT INTO identity.person_keys (person_key, cpr) VALUES (?, ?)": keys,
        "INSERT INTO staging.cpr_persons (cpr, birth_date, town) VALUES (?, ?, ?)": persons,
        "INSERT INTO unified.citizen_overview (person_key, departments, n_departments, active_interventions, "
        "active_boern_familie, active_beskaeftigelse, active_social_voksen, active_sundhed_aeldre, active_services, "
        "monthly_cost_dkk, annual_cost_dkk, n_caseworkers, flag_departments, flag_services, flag_cost, complex_case, "
        "reference_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)": overview,
        "INSERT INTO unified.interventions (person_key, department, sector, category, kind, status, source, "
        "source_table, record_id, monthly_cost) VALUES (?, ?, 'x', 'x', 'ydelse', 'aktiv', 'x', 'x', ?, ?)": records,
        "INSERT INTO unified.coordination_signals (signal_id, signal_key, person_key, description, records) "
        "VALUES (?, ?, ?, 'x', [])": signals,
    }
    for sql, rows in statements.items():
        if rows:
            con.executemany(sql, rows)


@contextmanager
def microdata_setting(value: str | None):
    """SAMLET_ANALYTICS_MICRODATA as given (None: unset) for the block."""
    with pytest.MonkeyPatch.context() as mp:
        if value is None:
            mp.delenv(MICRODATA_ENV, raising=False)
        else:
            mp.setenv(MICRODATA_ENV, value)
        yield


def build(people: list[Person], folder: Path, microdata: bool = False) -> analytics.AnalyticsResult:
    """Analytics over ``people``, through the public signature and the one setting."""
    with duckdb.connect() as con, microdata_setting("1" if microdata else None):
        fill(con, people)
        return analytics.build_analytics(con, folder, "run-t", KEY)


def published(path: Path) -> dict[str, list[dict]]:
    with duckdb.connect(str(path), read_only=True) as a:
        out = {}
        for (table,) in a.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall():
            cur = a.execute(f"SELECT * FROM {table}")
            names = [d[0] for d in cur.description]
            out[table] = [dict(zip(names, row)) for row in cur.fetchall()]
        return out


# ------------------------------------------------------------------------------------------------ the truth


def pooled_pathways(people: list[Person]) -> dict[str, str]:
    """The documented pooling: pathways under MIN_CELL citizens are andet, and while andet is 1..MIN_CELL-1 the
    smallest other pathway joins it."""
    sizes = Counter(p.pathway for p in people)
    pooled = {w for w, n in sizes.items() if n < K}
    rest = sorted((n, w) for w, n in sizes.items() if w not in pooled)
    while 0 < sum(sizes[w] for w in pooled) < K and rest:
        pooled.add(rest.pop(0)[1])
    return {w: ("andet" if w in pooled else w) for w in sizes}


def true_cells(people: list[Person]) -> dict[tuple, frozenset[int]]:
    """Every cell the export could publish, as the set of people it counts: (table, *key, column)."""
    cells: dict[tuple, set[int]] = defaultdict(set)
    pooling = pooled_pathways(people)
    for i, p in enumerate(people):
        for d in p.departments:
            cells[("by_department", d, p.age_band, p.district, "citizens")].add(i)
            cells[("by_department", d, "i alt", "i alt", "citizens")].add(i)
        for flag, on in p.flags.items():
            if on:
                cells[("by_flag", flag, p.age_band, p.district, "citizens")].add(i)
                cells[("by_flag", flag, "i alt", "i alt", "citizens")].add(i)
        for rule in p.signals:
            cells[("signals_by_rule", rule, p.age_band, "citizens")].add(i)
            cells[("signals_by_rule", rule, "i alt", "citizens")].add(i)
        for pathway in (pooling[p.pathway], "i alt"):
            cells[("cost_per_pathway", pathway, "citizens")].add(i)
            cells[("cost_per_pathway", pathway, "complex_cases" if p.flags["complex_case"] else "not_complex")].add(i)
    return {k: frozenset(v) for k, v in cells.items()}


def shown_cells(tables: dict[str, list[dict]]) -> dict[tuple, int]:
    """The published counts of citizens, keyed like ``true_cells``."""
    shown = {}
    for r in tables["by_department"]:
        shown[("by_department", r["department"], r["age_band"], r["district"], "citizens")] = r["citizens"]
    for r in tables["by_flag"]:
        shown[("by_flag", r["flag"], r["age_band"], r["district"], "citizens")] = r["citizens"]
    for r in tables["signals_by_rule"]:
        shown[("signals_by_rule", r["signal_id"], r["age_band"], "citizens")] = r["citizens"]
    for r in tables["cost_per_pathway"]:
        shown[("cost_per_pathway", r["pathway"], "citizens")] = r["citizens"]
        if r["complex_cases"] is not None:
            shown[("cost_per_pathway", r["pathway"], "complex_cases")] = r["complex_cases"]
    return shown


# ------------------------------------------------------------------------------------------------ what a reader can work out
#
# A reader knows every published count and what it counts: a sum over the kinds of citizen (departments, age band,
# district, flags, signals), most of them unknown. A count is worked out exactly when its sum over the kinds is a
# linear combination of the published ones. The kinds are those of the test populations' domain (a reader who
# knew less could work out less).

ATOMS = [
    (frozenset(depts), age, district, services, cost, sigs)
    for depts in itertools.chain.from_iterable(itertools.combinations(DEPARTMENTS, r) for r in range(5))
    for age in BIRTH for district in ("Aby", "Bby", "Cby")
    for services in (False, True) for cost in (False, True)
    for sigs in ((), (RULES[0],), (RULES[1],), RULES)
]


def atom_flags(atom) -> dict[str, bool]:
    depts, _, _, services, cost, _ = atom
    f = {"flag_departments": len(depts) >= MIN_DEPARTMENTS, "flag_services": services, "flag_cost": cost}
    f["complex_case"] = any(f.values())
    return f


def atom_of(p: Person):
    f = p.flags
    return (frozenset(p.departments), p.age_band, p.district, f["flag_services"], f["flag_cost"], p.signals)


def counts_of(key: tuple, pooled_sets: set[frozenset]) -> np.ndarray:
    """The published (or would-be published) count ``key`` as a 0/1 vector over ATOMS."""
    def member(atom) -> bool:
        depts, age, district, _, _, sigs = atom
        table = key[0]
        if table == "by_department":
            _, d, a, dist, _ = key
            return d in depts and (a == "i alt" or (a == age and dist == district))
        if table == "by_flag":
            _, flag, a, dist, _ = key
            return atom_flags(atom)[flag] and (a == "i alt" or (a == age and dist == district))
        if table == "signals_by_rule":
            _, rule, a, _ = key
            return rule in sigs and a in ("i alt", age)
        if table == "cost_per_pathway":
            _, pathway, column = key
            name = "+".join(sorted(depts)) or "ingen aktive"
            in_row = pathway == "i alt" or (depts in pooled_sets if pathway == "andet" else pathway == name)
            complex_ = atom_flags(atom)["complex_case"]
            return in_row and {"citizens": True, "complex_cases": complex_, "not_complex": not complex_}[column]
        if table == "pooled":
            _, what, inside = key
            hit = atom_flags(atom)["flag_departments"] if what == "flag_departments" else what in depts
            return depts in pooled_sets and hit == inside
        raise AssertionError(key)
    return np.array([member(a) for a in ATOMS], dtype=float)


def check_export(people: list[Person], tables: dict[str, list[dict]]) -> None:
    truth = true_cells(people)
    shown = shown_cells(tables)

    # what is published is true, and no published count of citizens is small
    for key, value in shown.items():
        assert value == len(truth.get(key, ())), key
        assert not 0 < value < K, key
    for r in tables["cost_per_pathway"]:
        if r["complex_cases"] is not None:
            assert not 0 < r["citizens"] - r["complex_cases"] < K, r["pathway"]

    # a published total minus the published parts of it (same table) is 0 or at least MIN_CELL
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for key in truth:
        table, group = key[0], key[1]
        if table != "cost_per_pathway" and "i alt" not in key:
            groups[(table, group)].append(key)
    for (table, group), parts in groups.items():
        total = next(k for k in truth if k[:2] == (table, group) and "i alt" in k)
        if total in shown:
            rest = shown[total] - sum(shown.get(p, 0) for p in parts)
            assert not 0 < rest < K, (table, group, rest)
            assert sum(1 for p in parts if p not in shown) != 1, (table, group)
    everyone = shown.get(("cost_per_pathway", "i alt", "citizens"))
    complex_all = shown.get(("cost_per_pathway", "i alt", "complex_cases"))
    rows = [r for r in tables["cost_per_pathway"] if r["pathway"] != "i alt"]
    if everyone is not None:
        assert not 0 < everyone - sum(r["citizens"] for r in rows) < K
    if complex_all is not None:
        assert not 0 < complex_all - sum(r["complex_cases"] or 0 for r in rows) < K
        assert sum(1 for r in rows if r["complex_cases"] is None) != 1
    if everyone is not None and complex_all is not None:
        known = [r["citizens"] - r["complex_cases"] for r in rows if r["complex_cases"] is not None]
        assert not 0 < (everyone - complex_all) - sum(known) < K

    # all published counts together, across tables: no suppressed cell and no small count can be worked out
    pooling = pooled_pathways(people)
    named = {w for w, to in pooling.items() if to != "andet"}
    pooled_sets = {a[0] for a in ATOMS if ("+".join(sorted(a[0])) or "ingen aktive") not in named}
    published_rows = np.array([counts_of(key, pooled_sets) for key in shown]) if shown else np.zeros((0, len(ATOMS)))
    if len(published_rows):
        _, sv, vt = np.linalg.svd(published_rows, full_matrices=False)
        basis = vt[sv > 1e-9 * max(sv.max(), 1)]
    else:
        basis = np.zeros((0, len(ATOMS)))

    def derivable(vec: np.ndarray) -> bool:
        return bool(np.linalg.norm(vec - basis.T @ (basis @ vec)) < 1e-6)

    sensitive = {key: len(members) for key, members in truth.items()}
    pooled_people = [p for p in people if p.pathway not in named]
    for what in (*DEPARTMENTS, "flag_departments"):  # how many of the pooled citizens are (not) in a department
        for inside in (True, False):
            hits = [p for p in pooled_people
                    if (p.flags["flag_departments"] if what == "flag_departments" else what in p.departments) == inside]
            sensitive[("pooled", what, inside)] = len(hits)
    for key, n in sensitive.items():
        if key in shown:
            continue
        suppressed = key[-1] in ("citizens", "complex_cases") and n > 0  # a cell a column would have shown
        if suppressed or 0 < n < K:
            assert not derivable(counts_of(key, pooled_sets)), (key, n)


# ------------------------------------------------------------------------------------------------ tests


def person(departments=("beskaeftigelse",), age_band="30-49", district="Aby", services=0, cost=10_000, signals=()):
    return Person(tuple(sorted(departments)), age_band, district, services, cost, tuple(signals))


SMALL_CELLS = (
    # beskaeftigelse: 8 citizens, 2 of them complex (many services): a pathway of 8 with 2 complex cases
    [person(district="Aby") for _ in range(5)]
    + [person(district="Bby") for _ in range(1)]
    + [person(district="Bby", services=4) for _ in range(2)]
    # sundhed_aeldre: 6 citizens, none complex
    + [person(("sundhed_aeldre",), "67-79", "Aby") for _ in range(6)]
)


def test_no_small_count_in_any_column_and_no_per_person_rows_by_default(tmp_path):
    """Fails on the code before: complex_cases = 2 was published, the pathways give beskaeftigelse's 8 citizens
    while by_department showed 5 of them (8 - 5 = 3 in Bby), citizen_pathways was always there, the file 0640."""
    result = build(SMALL_CELLS, tmp_path)
    tables = published(result.path)
    for table, rows in tables.items():
        for r in rows:
            for column in ("citizens", "complex_cases"):
                assert not 0 < (r.get(column) or 0) < K, (table, column)
    pathway = {r["pathway"]: r for r in tables["cost_per_pathway"]}
    assert pathway["beskaeftigelse"]["citizens"] == 8 and pathway["beskaeftigelse"]["complex_cases"] is None
    in_department = sum(r["citizens"] for r in tables["by_department"]
                        if r["department"] == "beskaeftigelse" and r["age_band"] != "i alt")
    assert not 0 < pathway["beskaeftigelse"]["citizens"] - in_department < K
    assert "citizen_pathways" not in tables
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    info = tables["analytics_info"][0]
    assert info["microdata"] is False and info["person_hash_method"] is None
    assert info["suppressed_primary"] >= 2 and info["suppressed_secondary"] >= 1
    assert info["suppressed_cells"] == info["suppressed_primary"] + info["suppressed_secondary"]
    check_export(SMALL_CELLS, tables)


def _filled(people: list[Person]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    fill(con, people)
    return con


def test_per_person_rows_only_with_the_setting(tmp_path):
    assert MICRODATA_ENV == analytics.MICRODATA_ENV
    result = build(SMALL_CELLS, tmp_path, microdata=True)
    tables = published(result.path)
    assert len(tables["citizen_pathways"]) == len(SMALL_CELLS) and result.microdata
    assert tables["analytics_info"][0]["microdata"] is True
    with microdata_setting("maybe"), pytest.raises(analytics.AnalyticsSettingInvalid):
        analytics.build_analytics(_filled(SMALL_CELLS), tmp_path, "run-u", KEY)


def test_a_row_total_minus_the_published_cells_reveals_nothing(tmp_path):
    """A department of 12: 5 + 5 in two districts and 2 in a third. Publishing the total and the two cells of 5
    would give the 2 away: one of the 5s has to go too."""
    people = ([person(district="Aby") for _ in range(5)] + [person(district="Bby") for _ in range(5)]
              + [person(district="Cby") for _ in range(2)])
    tables = published(build(people, tmp_path).path)
    shown = {(r["age_band"], r["district"]): r["citizens"] for r in tables["by_department"]}
    assert shown.get(("i alt", "i alt")) == 12
    assert ("30-49", "Cby") not in shown and len(shown) == 2  # the total and one district of 5
    check_export(people, tables)


def test_pooled_pathways_are_never_a_small_cell(tmp_path):
    """A rare pathway of 2 is pooled as andet, and andet (2) takes in the smallest other pathway (6)."""
    people = ([person(("beskaeftigelse", "boern_familie"))] * 2 + [person(("social_voksen",))] * 6
              + [person(("sundhed_aeldre",))] * 7)
    assert pooled_pathways(people) == {"beskaeftigelse+boern_familie": "andet", "social_voksen": "andet",
                                       "sundhed_aeldre": "sundhed_aeldre"}
    tables = published(build(people, tmp_path, microdata=True).path)
    assert Counter(r["pathway"] for r in tables["citizen_pathways"]) == {"andet": 8, "sundhed_aeldre": 7}
    assert {r["pathway"] for r in tables["cost_per_pathway"]} <= {"i alt", "andet", "sundhed_aeldre"}
    check_export(people, tables)


people_strategy = st.lists(
    st.builds(
        person,
        departments=st.sampled_from([(), ("beskaeftigelse",), ("sundhed_aeldre",), ("beskaeftigelse", "social_voksen"),
                                     ("boern_familie",), ("boern_familie", "social_voksen", "sundhed_aeldre")]),
        age_band=st.sampled_from(list(BIRTH)),
        district=st.sampled_from(["Aby", "Bby", "Cby"]),
        services=st.sampled_from([0, 1, 4]),
        cost=st.sampled_from([0, 40_000, 200_000]),
        signals=st.sampled_from([(), (), (RULES[0],), RULES]),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=people_strategy)
def test_random_small_populations_publish_nothing_that_singles_anyone_out(people):
    with tempfile.TemporaryDirectory() as folder:
        result = build(people, Path(folder))
        tables = published(result.path)
    check_export(people, tables)
    assert "citizen_pathways" not in tables


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.integers(0, 12), min_size=1, max_size=8))
def test_suppress_protects_one_total_and_its_parts(values):
    """The engine alone: one total over its parts; the unsuppressed remainder is never small, never one cell."""
    table = analytics.CountTable()
    parts = [table.add(v) for v in values]
    total = table.add(sum(values))
    table.relate(total, parts)
    s = analytics.suppress(table)
    hidden = s.hidden
    assert all(not 0 < table.values[c] < K for c in range(len(table.values)) if c not in hidden)
    assert s.primary == {c for c in range(len(table.values)) if 0 < table.values[c] < K}
    if total not in hidden:
        withheld = [p for p in parts if p in hidden]
        assert not 0 < sum(table.values[p] for p in withheld) < K
        assert len(withheld) != 1
