"""Identity reconciliation: every person-identifying record to one person, with method and score.

``reconcile(records, column_map=None, ...)`` is the library entry point (contract) and runs without
Dagster on any pandas DataFrame; the warehouse integration (:mod:`samlet_overblik.linking`) runs the
same engine (:mod:`samlet_overblik.identity.engine`) on ``staging.person_records`` and keeps person
keys stable across runs.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from . import engine
from .engine import Params
from .normalise import loose_key, normalise_name

__all__ = ["reconcile", "Params", "normalise_name", "loose_key", "CANONICAL"]

CANONICAL = ["record_id", "source", "national_id", "given_name", "family_name", "birth_date", "sex",
             "address", "postcode"]
_REGISTER_COLS = ["cpr", "given_name", "family_name", "birth_date", "sex", "address", "postcode"]


def _frame(df: pd.DataFrame | None, cols: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(columns=cols) if df is None else df.copy()
    for c in cols:
        if c not in df.columns:
            df[c] = None
    df = df[cols]
    for c in cols:
        if c == "birth_date":
            df[c] = pd.to_datetime(df[c], errors="coerce", format="mixed").dt.date
        else:
            df[c] = df[c].astype(object).where(df[c].notna(), None)
            df[c] = [None if v is None else str(v).strip() or None for v in df[c]]
    return df


def _V(col: str, alias: bool = True) -> str:
    return f"CAST({col} AS VARCHAR)" + (f" AS {col}" if alias else "")


def _id_sql(col: str) -> str:
    """Digits only; nine digits are a CPR that lost its leading zero (stored as a number)."""
    d = f"regexp_replace(CAST({col} AS VARCHAR), '[^0-9]', '', 'g')"
    return f"nullif(CASE WHEN regexp_full_match({d}, '[0-9]{{9}}') THEN '0' || {d} ELSE {d} END, '')"
_STATUS_SQL = """CASE WHEN n IS NULL THEN 'missing'
    WHEN length(n) = 10 AND try_strptime(substr(n, 1, 4) || CAST(
        CAST(substr(n, 5, 2) AS INTEGER) + CASE WHEN CAST(substr(n, 7, 1) AS INTEGER) <= 3 THEN 1900
            WHEN CAST(substr(n, 7, 1) AS INTEGER) IN (4, 9) THEN CASE WHEN CAST(substr(n, 5, 2) AS INTEGER) <= 36 THEN 2000 ELSE 1900 END
            ELSE CASE WHEN CAST(substr(n, 5, 2) AS INTEGER) <= 57 THEN 2000 ELSE 1800 END END AS VARCHAR), '%d%m%Y') IS NOT NULL THEN 'valid'
    WHEN length(n) = 10 AND CAST(substr(n, 1, 2) AS INTEGER) BETWEEN 61 AND 91 AND CAST(substr(n, 3, 2) AS INTEGER) BETWEEN 1 AND 12 THEN 'replacement'
    ELSE 'invalid' END"""


def reconcile(
    records: pd.DataFrame,
    column_map: dict | None = None,
    *,
    register: pd.DataFrame | None = None,
    name_history: pd.DataFrame | None = None,
    address_history: pd.DataFrame | None = None,
    decisions: pd.DataFrame | None = None,
    params: Params | None = None,
    return_review: bool = False,
):
    """Link every record to a person.

    ``records`` has (after ``column_map`` renames, ``{their name: canonical name}``) any of
    ``record_id, source, national_id, given_name, family_name, birth_date, sex, address, postcode``.
    Optional: ``register`` (the person register: ``cpr`` plus the same person columns),
    ``name_history`` (``cpr, given_name, family_name``), ``address_history`` (``cpr, address, postcode``),
    ``decisions`` (steward decisions: ``record_id_a, record_id_b, decision`` = ``match``/``no_match``;
    when ``source`` is given, ids may be written ``source:record_id``).

    Returns one row per input record: ``record_id, person_key, method, score`` where method is
    ``cpr_exact``, ``cpr_corrected``, ``probabilistic``, ``steward`` or ``unlinked`` and score the
    match probability (1.0 for deterministic and steward links). Records with the same
    ``person_key`` are the same person. With ``return_review=True`` returns ``(links, review)``.
    """
    df = records.rename(columns=column_map or {})
    if "record_id" not in df.columns:
        df = df.assign(record_id=range(len(df)))
    rec = _frame(df, CANONICAL)
    rec.insert(0, "rid", range(len(rec)))
    reg = _frame(register, _REGISTER_COLS)
    names = _frame(name_history, ["cpr", "given_name", "family_name"])
    addrs = _frame(address_history, ["cpr", "address", "postcode"])
    con = duckdb.connect()
    try:
        con.register("rec_df", rec)
        con.register("reg_df", reg)
        con.register("names_df", names)
        con.register("addrs_df", addrs)
        con.execute(
            f"""CREATE TEMP TABLE id_in_records AS
                SELECT rid, n AS national_id, {_STATUS_SQL} AS nid_status, {_V('given_name')}, {_V('family_name')},
                       CAST(birth_date AS DATE) AS birth_date, upper(left({_V('sex', False)}, 1)) AS sex,
                       {_V('address')}, {_V('postcode')},
                       FALSE AS is_register
                FROM (SELECT *, {_id_sql('national_id')} AS n
                      FROM rec_df)"""
        )
        con.execute(
            f"""CREATE TEMP TABLE id_in_register AS SELECT {_id_sql('cpr')} AS cpr,
                {_V('given_name')}, {_V('family_name')}, CAST(birth_date AS DATE) AS birth_date,
                upper(left({_V('sex', False)}, 1)) AS sex, {_V('address')}, {_V('postcode')} FROM reg_df WHERE cpr IS NOT NULL"""
        )
        con.execute(f"""CREATE TEMP TABLE id_in_names AS SELECT {_id_sql('cpr')} AS cpr,
                        {_V('given_name')}, {_V('family_name')} FROM names_df WHERE cpr IS NOT NULL""")
        con.execute(f"""CREATE TEMP TABLE id_in_addresses AS SELECT {_id_sql('cpr')} AS cpr,
                        {_V('address')}, {_V('postcode')} FROM addrs_df WHERE cpr IS NOT NULL""")
        dec = pd.DataFrame(columns=["record_id_a", "record_id_b", "decision"]) if decisions is None else decisions
        keys = {}
        for rid, rid_str, src in zip(rec["rid"], rec["record_id"], rec["source"]):
            keys[rid_str] = rid
            if src is not None:
                keys[f"{src}:{rid_str}"] = rid
        drows = [
            (keys[str(a)], keys[str(b)], str(d))
            for a, b, d in zip(dec["record_id_a"], dec["record_id_b"], dec["decision"])
            if str(a) in keys and str(b) in keys
        ]
        con.execute("CREATE TEMP TABLE id_in_decisions (rid_a BIGINT, rid_b BIGINT, decision VARCHAR)")
        if drows:
            con.executemany("INSERT INTO id_in_decisions VALUES (?, ?, ?)", drows)
        engine.run(con, params)
        out = con.execute(
            """SELECT o.rid, 'P' || lpad(CAST(dense_rank() OVER (ORDER BY o.comp) AS VARCHAR), 8, '0') AS person_key,
                      o.method, o.score FROM id_out o ORDER BY o.rid"""
        ).df()
        review = None
        if return_review:
            review = con.execute(
                f"""SELECT v.rid, v.candidate_kind, v.candidate_rid, v.weight, v.score,
                           {engine.evidence_sql('v.lev')} AS evidence FROM id_review v ORDER BY v.score DESC"""
            ).df()
    finally:
        con.close()
    # The caller's record ids, with their original type (out is in input order).
    out.insert(0, "record_id", df["record_id"].to_numpy()[out["rid"].to_numpy()])
    out = out.drop(columns="rid")
    if return_review:
        assert review is not None  # queried above whenever return_review is set
        review["record_id"] = rec["record_id"].to_numpy()[review["rid"].to_numpy()]
        review["candidate_record_id"] = [
            rec["record_id"].iloc[int(x)] if pd.notna(x) else None for x in review["candidate_rid"]
        ]
        review = review.drop(columns=["rid", "candidate_rid"])
        return out, review
    return out
