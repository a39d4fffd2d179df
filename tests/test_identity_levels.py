"""The engine's features are each row's own, and the comparison levels' cheap guards change no level.

Features: names normalised once per distinct value and joined back give every row what the Python twins of the
macros give it. Levels: the birth-date and CPR-digit levels, as the engine writes them
(a guard before the dear Damerau-Levenshtein distance), against the plain distance as the oracle, on dates and numbers
one or two typos apart (substitutions, insertions, deletions, adjacent transpositions, on a small alphabet so that
near misses abound) and on random pairs."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from samlet_overblik.identity.engine import _levels_sql, record_features_sql
from samlet_overblik.identity.normalise import install_macros, loose_key, normalise_name


def _typo(text: str, kind: str, at: int, char: str) -> str:
    at = at % (len(text) + 1)
    if kind == "substitute" and at < len(text):
        return text[:at] + char + text[at + 1:]
    if kind == "insert":
        return text[:at] + char + text[at:]
    if kind == "delete" and at < len(text):
        return text[:at] + text[at + 1:]
    if kind == "transpose" and at + 1 < len(text):
        return text[:at] + text[at + 1] + text[at] + text[at + 2:]
    return text


_TYPOS = st.lists(st.tuples(st.sampled_from(["substitute", "insert", "delete", "transpose"]),
                            st.integers(0, 12), st.sampled_from("0129")), max_size=3)
_NUMBER = st.text("0129", min_size=8, max_size=12)


@st.composite
def _number_pairs(draw) -> tuple[str, str]:
    """A number and the same with up to three typos (or, one time in four, an unrelated number)."""
    a = draw(_NUMBER)
    if draw(st.integers(0, 3)) == 0:
        return a, draw(_NUMBER)
    b = a
    for kind, at, char in draw(_TYPOS):
        b = _typo(b, kind, at, char)
    return a, b


@st.composite
def _date_pairs(draw) -> tuple[date, date]:
    """A birth date and another one digit or one transposition away as written %Y%m%d when that is a date, else
    near or far in time."""
    a = draw(st.dates(date(900, 1, 1), date(2030, 12, 31)))
    text = a.strftime("%Y%m%d")
    kind, at, char = draw(_TYPOS.filter(bool))[0]
    try:
        b = date(int(_typo(text, kind, at, char)[:-4]), int(_typo(text, kind, at, char)[-4:-2]),
                 int(_typo(text, kind, at, char)[-2:]))
    except ValueError:
        b = a + timedelta(days=draw(st.integers(-4000, 4000)))
    return a, b


def _levels(con: duckdb.DuckDBPyConnection, field: str, pairs: list[tuple]) -> tuple[list, list]:
    """The engine's level and the oracle's for each pair (column ``x`` of r and e)."""
    oracle = {
        "nid": """CASE WHEN r.nid IS NULL OR e.nid IS NULL THEN -1 WHEN r.nid = e.nid THEN 2
                       WHEN damerau_levenshtein(r.nid, e.nid) <= 2 THEN 1 ELSE 0 END""",
        "dob": """CASE WHEN r.dob IS NULL OR e.dob IS NULL THEN -1 WHEN r.dob = e.dob THEN 2
                       WHEN damerau_levenshtein(strftime(r.dob, '%Y%m%d'), strftime(e.dob, '%Y%m%d')) <= 1
                         OR (day(r.dob) = month(e.dob) AND month(r.dob) = day(e.dob) AND year(r.dob) = year(e.dob))
                       THEN 1 ELSE 0 END""",
    }[field]
    kind = "VARCHAR" if field == "nid" else "DATE"
    con.execute(f"CREATE OR REPLACE TEMP TABLE pairs (i INT, a {kind}, b {kind})")
    con.executemany("INSERT INTO pairs VALUES (?, ?, ?)", [[i, a, b] for i, (a, b) in enumerate(pairs)])
    rows = con.execute(
        f"""SELECT {_levels_sql()[field]}, {oracle}
            FROM (SELECT i, a AS {field} FROM pairs) r JOIN (SELECT i, b AS {field} FROM pairs) e USING (i) ORDER BY i"""
    ).fetchall()
    return [r[0] for r in rows], [r[1] for r in rows]


@settings(max_examples=40, deadline=None)
@given(st.lists(_number_pairs(), min_size=1, max_size=60))
def test_the_cpr_digit_level_equals_the_plain_distance(pairs):
    mine, oracle = _levels(duckdb.connect(), "nid", pairs)
    assert mine == oracle


@settings(max_examples=40, deadline=None)
@given(st.lists(_date_pairs(), min_size=1, max_size=60))
def test_the_birth_date_level_equals_the_plain_distance(pairs):
    mine, oracle = _levels(duckdb.connect(), "dob", pairs)
    assert mine == oracle


def test_the_levels_agree_on_every_kind_of_near_miss():
    """Each typo at each place of one CPR number, and every two typos at every two places; each day of four years
    around one birth date and one day in every seventh year since 1000."""
    kinds = ("substitute", "insert", "delete", "transpose")
    # A CPR number, and ten different digits (no block of two found by chance elsewhere in the other number).
    for nid in ("0101901234", "0918273645"):
        numbers = {_typo(nid, kind, at, c) for kind in kinds for at in range(11) for c in "0139"}
        numbers |= {_typo(_typo(nid, k1, a1, "x"), k2, a2, "y") for k1 in kinds for k2 in kinds
                    for a1 in range(11) for a2 in range(11)}
        mine, oracle = _levels(duckdb.connect(), "nid", [(nid, n) for n in sorted(numbers)])
        assert mine == oracle and oracle.count(1) > 100
    dob = date(1990, 1, 1)
    dates = [dob + timedelta(days=d) for d in range(-800, 800)] + [date(y, 1, 1) for y in range(1000, 2030, 7)]
    mine, oracle = _levels(duckdb.connect(), "dob", [(dob, d) for d in dates])
    assert mine == oracle and oracle.count(1) > 10


_NAME = st.one_of(st.none(), st.text("aæøåÃ¸é -Hk", max_size=12), st.sampled_from(["Søren", "Møller-Hansen", "Anne  Marie"]))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(_NAME, _NAME), min_size=1, max_size=40))
def test_each_record_gets_its_own_normalised_names(names):
    """Repeated names, NULLs, empty and mojibake names among the rows: each row's features are its own."""
    con = duckdb.connect()
    install_macros(con, True)
    con.execute("""CREATE TEMP TABLE recs (rid BIGINT, national_id VARCHAR, nid_status VARCHAR, given_name VARCHAR,
                   family_name VARCHAR, birth_date DATE, sex VARCHAR, address VARCHAR, postcode VARCHAR)""")
    con.executemany("INSERT INTO recs VALUES (?, NULL, NULL, ?, ?, NULL, NULL, ?, NULL)",
                    [[i, g, f, f] for i, (g, f) in enumerate(names)])
    rows = con.execute(f"SELECT rid, gn, gnl, fn, fnl, addr IS NULL FROM ({record_features_sql('recs')}) ORDER BY rid").fetchall()
    assert [r[0] for r in rows] == list(range(len(names)))
    for (_, gn, gnl, fn, fnl, no_address), (g, f) in zip(rows, names):
        assert (gn, gnl, fn, fnl) == (normalise_name(g), loose_key(g), normalise_name(f), loose_key(f))
        assert no_address == (normalise_name(f) is None)  # no digits among these: an address is a name here
