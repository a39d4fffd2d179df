"""One CPR rule, asserted through every path that reads a CPR number.

The same table of tricky inputs goes through
* the Python function (``cpr.normalise`` / ``cpr.status``),
* the warehouse SQL exactly as staging runs it (the DDL's macros, a real staging asset),
* identity reconciliation (``reconcile()`` and the input tables it builds), and
* the lookups of the CLI and the web app (``borger`` and ``consent.lineage.find_citizen``).
A copy that disagrees with the table fails here (issue 11: ``010190.1234`` was NULL in the warehouse but valid in
``reconcile()``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from samlet_overblik.access import borger
from samlet_overblik.core import cpr
from samlet_overblik import identity
from samlet_overblik.sources import staging
from samlet_overblik.consent import lineage
from samlet_overblik.core.paths import data_dir
from samlet_overblik.core.warehouse import apply_ddl


@dataclass(frozen=True)
class Case:
    label: str
    value: object
    number: str | None       # the normalised CPR, or None when the rule rejects the value
    status: str              # valid | replacement | invalid | missing


CASES = [
    Case("ten digits", "0101901234", "0101901234", "valid"),
    Case("dash", "010190-1234", "0101901234", "valid"),
    Case("dot (issue 11)", "010190.1234", "0101901234", "valid"),
    Case("space", "010190 1234", "0101901234", "valid"),
    Case("several spaces", "010190   1234", "0101901234", "valid"),
    Case("slash", "010190/1234", "0101901234", "valid"),
    Case("date written with dots", "01.01.90-1234", "0101901234", "valid"),
    Case("date written with slashes", "01/01/90 1234", "0101901234", "valid"),
    Case("grouped after the month", "0101-90-1234", "0101901234", "valid"),
    Case("en dash", "010190\u20131234", "0101901234", "valid"),
    Case("non-breaking space", "010190\u00a01234", "0101901234", "valid"),
    Case("whitespace around", " \t0101901234 \n", "0101901234", "valid"),
    Case("whitespace and dash", "  010190-1234  ", "0101901234", "valid"),
    Case("lost leading zero", "101901234", "0101901234", "valid"),
    Case("lost leading zero, dashed", "10190-1234", "0101901234", "valid"),
    Case("lost leading zero, one-digit day", "1.01.90-1234", "0101901234", "valid"),
    Case("number with lost zero", 101901234, "0101901234", "valid"),
    Case("number", 2102031234, "2102031234", "valid"),
    Case("nine digits padded to an impossible day", "010190123", "0010190123", "invalid"),
    Case("eleven digits", "01019012345", None, "missing"),
    Case("eleven digits, dashed", "010190-12345", None, "missing"),
    Case("eight digits", "01019012", None, "missing"),
    Case("letter O for zero", "01019O1234", None, "missing"),
    Case("letters before", "AB0101901234", None, "missing"),
    Case("letters after", "0101901234x", None, "missing"),
    Case("float written as text", "101901234.0", None, "missing"),
    Case("separator in the wrong place", "01019 01234", None, "missing"),
    Case("underscore", "010190_1234", None, "missing"),
    Case("leading dash", "-0101901234", None, "missing"),
    Case("trailing dash", "0101901234-", None, "missing"),
    Case("negative number", -101901234, None, "missing"),
    Case("non-ASCII digits", "\uff10\uff11\uff10\uff11\uff19\uff10\uff11\uff12\uff13\uff14", None, "missing"),
    Case("empty", "", None, "missing"),
    Case("blank", "   ", None, "missing"),
    Case("None", None, None, "missing"),
    Case("31 February", "3102851234", "3102851234", "invalid"),
    Case("replacement number", "6101851234", "6101851234", "replacement"),
    Case("replacement number, dashed", "910385-1234", "9103851234", "replacement"),
    Case("replacement day 92", "9203851234", "9203851234", "invalid"),
    Case("replacement of 29 February 1985", "8902851234", "8902851234", "invalid"),
    Case("replacement of 29 February 2000", "8902004234", "8902004234", "replacement"),
    Case("replacement, month 13", "6113851234", "6113851234", "invalid"),
]
IDS = [c.label for c in CASES]
TEXT_CASES = [c for c in CASES if not isinstance(c.value, int)]
INT_CASES = [c for c in CASES if isinstance(c.value, int)]


# ------------------------------------------------------------------------------------------- Python


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_python_function(case: Case):
    assert cpr.normalise(case.value) == case.number
    assert cpr.status(case.value) == case.status
    assert cpr.is_valid(case.value) == (case.status == "valid")
    assert cpr.is_replacement(case.value) == (case.status == "replacement")


# ------------------------------------------------------------------------------------------- warehouse SQL


@pytest.fixture(scope="module")
def warehouse():
    """An in-memory warehouse with the shipped DDL (and the CPR macros it is applied with)."""
    con = duckdb.connect()
    apply_ddl(con)
    yield con
    con.close()


def test_the_ddl_holds_no_copy_of_the_cpr_rule(warehouse):
    """The macros exist only as :func:`cpr.sql_macros` generates them: no DDL file defines one of its own."""
    names = re.findall(r"MACRO (\w+)\(", cpr.sql_macros())
    assert {"normalise_cpr", "cpr_status", "cpr_birth_date"} <= set(names)
    for path in sorted(data_dir("warehouse").glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        assert not [n for n in names if re.search(rf"MACRO {n}\(", text)], path.name
    defined = {r[0] for r in warehouse.execute("SELECT function_name FROM duckdb_functions() "
                                               "WHERE function_type = 'macro'").fetchall()}
    assert set(names) <= defined


def test_sql_macros(warehouse):
    con = warehouse.cursor()
    con.execute("CREATE TEMP TABLE t_text (i INTEGER, v VARCHAR)")
    con.executemany("INSERT INTO t_text VALUES (?, ?)", [(i, c.value) for i, c in enumerate(TEXT_CASES)])
    con.execute("CREATE TEMP TABLE t_int (i INTEGER, v BIGINT)")
    con.executemany("INSERT INTO t_int VALUES (?, ?)", [(i, c.value) for i, c in enumerate(INT_CASES)])
    for table, cases in (("t_text", TEXT_CASES), ("t_int", INT_CASES)):
        rows = con.execute(
            f"SELECT normalise_cpr(v), cpr_status(normalise_cpr(v)), cpr_birth_date(normalise_cpr(v)) FROM {table} "
            "ORDER BY i").fetchall()
        got = {c.label: (n, s) for c, (n, s, _) in zip(cases, rows)}
        assert got == {c.label: (c.number, c.status) for c in cases}
        for c, (_, _, born) in zip(cases, rows):
            assert born == (cpr.birth_date(c.number) if c.number else None), c.label


def _raw_borger(con: duckdb.DuckDBPyConnection, cases: list[Case], sql_type: str) -> None:
    con.execute(f"""CREATE OR REPLACE TABLE raw.beskaeftigelse__borger (
        borger_id INTEGER, cprnr {sql_type}, fornavn VARCHAR, efternavn VARCHAR, adresse VARCHAR, postnr VARCHAR,
        sidst_aendret VARCHAR)""")
    con.executemany("INSERT INTO raw.beskaeftigelse__borger (borger_id, cprnr, fornavn, efternavn, adresse, postnr, sidst_aendret) VALUES (?, ?, 'Søren', 'Møller', NULL, NULL, NULL)",
                    [(i, c.value) for i, c in enumerate(cases)])


def test_staging_asset(warehouse):
    """A real staging asset (``beskaeftigelse__borger.sql``) run the way the nightly job runs it."""
    con = warehouse.cursor()
    asset = next(a for a in staging.load_sql_assets("staging") if a.name == "beskaeftigelse__borger")
    for cases, sql_type in ((TEXT_CASES, "VARCHAR"), (INT_CASES, "BIGINT")):
        _raw_borger(con, cases, sql_type)
        staging.run_staging_asset(con, asset, "t", datetime(2026, 1, 1))
        rows = dict(con.execute(
            "SELECT CAST(record_id AS INTEGER), struct_pack(n := national_id, s := national_id_status, b := birth_date, "
            "x := sex) FROM staging.person_records WHERE source = 'beskaeftigelse'").fetchall())
        assert len(rows) == len(cases)
        for i, c in enumerate(cases):
            got = rows[i]
            assert (got["n"], got["s"]) == (c.number, c.status), c.label
            assert got["b"] == (cpr.birth_date(c.number) if c.number else None), c.label
            assert got["x"] == (cpr.sex(c.number) if c.status == "valid" else None), c.label


def test_python_and_sql_agree_on_random_strings(warehouse):
    """Beyond the table: random mixes of digits, separators, whitespace and letters get one answer."""
    rng = np.random.default_rng(11)
    alphabet = list("0123456789" * 6 + " -./_\tOx") + ["\u2013", "\u00a0", "  "]
    values = ["".join(rng.choice(alphabet, size=int(rng.integers(7, 15)))) for _ in range(4000)]
    values += ["".join(rng.choice(list("0123456789"), size=k)) for k in (8, 9, 10, 11) for _ in range(250)]
    con = warehouse.cursor()
    con.register("random_values", pd.DataFrame({"i": range(len(values)), "v": values}))
    got = [{"n": n, "s": s} for n, s in con.execute(
        "SELECT normalise_cpr(v), cpr_status(normalise_cpr(v)) FROM random_values ORDER BY i").fetchall()]
    expected = [{"n": cpr.normalise(v), "s": cpr.status(v)} for v in values]
    accepted = [e["n"] is not None for e in expected[:4000]]
    assert any(accepted) and not all(accepted)          # the random mixes exercise both outcomes
    mismatches = [v for v, g, e in zip(values, got, expected) if g != e]
    assert mismatches == []


def test_everything_the_rule_accepts_is_redacted_from_logs():
    """What counts as a CPR number for a lookup is also removed from free text (redact_cpr)."""
    for c in TEXT_CASES:
        if c.number is not None:
            text = cpr.redact_cpr(f"opslag {c.value} slut")
            assert cpr.REDACTED in text and not re.search(r"[0-9]", text), c.label


# ------------------------------------------------------------------------------------------- identity


REGISTER_NUMBERS = sorted({c.number for c in CASES if c.status == "valid" and c.number})


def _register() -> pd.DataFrame:
    return pd.DataFrame(
        [(n, "Søren", "Møller", cpr.birth_date(n), cpr.sex(n), None, None) for n in REGISTER_NUMBERS],
        columns=["cpr", "given_name", "family_name", "birth_date", "sex", "address", "postcode"])


def _records() -> pd.DataFrame:
    return pd.DataFrame(
        {"record_id": IDS, "source": "a", "national_id": pd.Series([c.value for c in CASES], dtype=object),
         "given_name": "Søren", "family_name": "Møller"})


def test_reconcile_input_tables():
    """The national ids and statuses ``reconcile()`` hands to the engine (and the register's CPR numbers)."""
    con = duckdb.connect()
    try:
        identity.load_inputs(con, _records(), register=_register())
        rows = con.execute("SELECT rid, national_id, nid_status FROM id_in_records ORDER BY rid").fetchall()
        assert {c.label: (n, s) for c, (_, n, s) in zip(CASES, rows)} == {c.label: (c.number, c.status) for c in CASES}
        reg = [r[0] for r in con.execute("SELECT cpr FROM id_in_register ORDER BY cpr").fetchall()]
        assert reg == REGISTER_NUMBERS
    finally:
        con.close()


def test_reconcile_links_exactly_only_what_the_rule_accepts_as_valid():
    out = identity.reconcile(_records(), register=_register()).set_index("record_id")
    for c in CASES:
        assert (out.loc[c.label, "method"] == "cpr_exact") == (c.status == "valid"), c.label


def test_reconcile_register_written_differently_still_matches():
    """The register's own CPR column goes through the same rule (dots, a lost leading zero)."""
    register = _register().assign(cpr=["101901234" if n == "0101901234" else f"{n[:6]}.{n[6:]}" for n in REGISTER_NUMBERS])
    records = pd.DataFrame({"record_id": ["r"], "national_id": ["010190-1234"], "given_name": ["Søren"],
                            "family_name": ["Møller"]})
    out = identity.reconcile(records, register=register)
    assert out.loc[0, "method"] == "cpr_exact"


def test_reconcile_identifiers_that_are_no_cpr_are_declared():
    """A foreign identifier is not bent into a CPR: by default the rule rejects it; ``id_kind='other'`` keeps it
    as text that is only compared, never read as a CPR number."""
    records = pd.DataFrame({"record_id": ["a", "b"], "national_id": ["6988048", None]})
    con = duckdb.connect()
    try:
        identity.load_inputs(con, records)
        assert con.execute("SELECT national_id, nid_status FROM id_in_records ORDER BY rid").fetchall() == [
            (None, "missing"), (None, "missing")]
        identity.load_inputs(con, records, id_kind="other")
        assert con.execute("SELECT national_id, nid_status FROM id_in_records ORDER BY rid").fetchall() == [
            ("6988048", "other"), (None, "missing")]
        with pytest.raises(ValueError):
            identity.load_inputs(con, records, id_kind="digits")
    finally:
        con.close()


# ------------------------------------------------------------------------------------------- CLI and web lookups


@pytest.fixture(scope="module")
def keyed_warehouse():
    """A warehouse whose identity.person_keys holds one key per valid number of the table."""
    con = duckdb.connect()
    apply_ddl(con)
    numbers = sorted({c.number for c in CASES if c.number})
    con.executemany("INSERT INTO identity.person_keys (person_key, cpr) VALUES (?, ?)",
                    [(f"P{i:08d}", n) for i, n in enumerate(numbers)])
    yield con, {n: f"P{i:08d}" for i, n in enumerate(numbers)}
    con.close()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_lookup_paths(case: Case, keyed_warehouse):
    con, keys = keyed_warehouse
    if case.number is None:
        with pytest.raises(lineage.LookupError_):
            lineage.find_citizen(con, case.value)  # type: ignore[arg-type]
        with pytest.raises(borger.BadLookup):
            borger._resolve(con, case.value, None)  # type: ignore[arg-type]
        return
    citizen = lineage.find_citizen(con, case.value)  # type: ignore[arg-type]
    assert citizen is not None and (citizen.cpr, citizen.person_key) == (case.number, keys[case.number])
    assert borger._resolve(con, case.value, None) == keys[case.number]  # type: ignore[arg-type]


def test_century_rule_is_shared():
    """The SQL century macro and the Python function agree for every 7th digit and year."""
    con = duckdb.connect()
    try:
        con.execute(cpr.sql_macros(temp=True))
        rows = con.execute(
            "SELECT y, d, cpr_year('0101' || lpad(CAST(y AS VARCHAR), 2, '0') || CAST(d AS VARCHAR) || '000') "
            "FROM range(100) a(y), range(10) b(d)").fetchall()
    finally:
        con.close()
    assert all(year == cpr.century_year(y, d) for y, d, year in rows)
    assert cpr.birth_date("2902004234") == dt.date(2000, 2, 29)
