"""Identity reconciliation: every person-identifying record to one person, with method and score.

``reconcile(records, column_map=None, ...)`` is the library entry point (contract) and runs without
Dagster on any pandas DataFrame; the warehouse integration (:mod:`samlet_overblik.identity.linking`) runs the
same engine (:mod:`samlet_overblik.identity.engine`) on ``staging.person_records`` and keeps person
keys stable across runs.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from samlet_overblik.core import cpr as cprlib
from samlet_overblik.identity import engine
from samlet_overblik.identity.engine import Params
from samlet_overblik.identity.normalise import loose_key, normalise_name

__all__ = ["reconcile", "apply_column_map", "load_inputs", "Params", "normalise_name", "loose_key", "CANONICAL"]

CANONICAL = ["record_id", "source", "national_id", "given_name", "family_name", "birth_date", "sex",
             "address", "postcode"]
_REGISTER_COLS = ["cpr", "given_name", "family_name", "birth_date", "sex", "address", "postcode"]


# Columns that hold a CPR number: they go to the one CPR rule (cpr.normalise / the normalise_cpr macro) as they
# came, only turned into text; the rule itself decides about whitespace, separators and a lost leading zero.
_CPR_COLS = ("national_id", "cpr")


def _frame(df: pd.DataFrame | None, cols: list[str], cpr_cols: tuple[str, ...] = _CPR_COLS) -> pd.DataFrame:
    df = pd.DataFrame(columns=cols) if df is None else df.copy()
    for c in cols:
        if c not in df.columns:
            df[c] = None
    df = df[cols]
    for c in cols:
        if c == "birth_date":
            df[c] = pd.to_datetime(df[c], errors="coerce", format="mixed").dt.date
        elif c in cpr_cols:
            df[c] = [_cpr_text(v) for v in df[c].astype(object).where(df[c].notna(), None)]
        else:
            df[c] = df[c].astype(object).where(df[c].notna(), None)
            df[c] = [None if v is None else str(v).strip() or None for v in df[c]]
    return df


def _cpr_text(value: object) -> str | None:
    """A CPR cell as the text the SQL rule reads; what :func:`cpr.normalise` rejects by type (floats, booleans)
    becomes ``None`` here so that both give the same answer (``str(101901234.0)`` would read as other digits)."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer, str)):
        return str(value)
    return None


def apply_column_map(records: pd.DataFrame, column_map: dict | None) -> pd.DataFrame:
    """``records`` with their columns renamed to canonical names by ``column_map`` (``{their name: canonical}``);
    the columns that share a canonical name become one, their non-empty values joined by a space in map order."""
    column_map = column_map or {}
    missing = [c for c in column_map if c not in records.columns]
    if missing:
        raise ValueError(f"column_map names columns the records do not have: {', '.join(map(str, missing))}")
    sources: dict[str, list] = {}
    for theirs, canonical in column_map.items():
        sources.setdefault(canonical, []).append(theirs)
    df = records.drop(columns=[c for cols in sources.values() if len(cols) > 1 for c in cols])
    df = df.rename(columns={cols[0]: canonical for canonical, cols in sources.items() if len(cols) == 1})
    for canonical, cols in sources.items():
        if len(cols) > 1:
            parts = records[cols].astype(object).where(records[cols].notna(), None)
            df[canonical] = [" ".join(str(v).strip() for v in row if v is not None and str(v).strip()) or None
                             for row in parts.itertuples(index=False)]
    return df


def _V(col: str, alias: bool = True) -> str:
    return f"CAST({col} AS VARCHAR)" + (f" AS {col}" if alias else "")


def load_inputs(
    con: duckdb.DuckDBPyConnection,
    records: pd.DataFrame,
    *,
    register: pd.DataFrame | None = None,
    name_history: pd.DataFrame | None = None,
    address_history: pd.DataFrame | None = None,
    id_kind: str = "cpr",
) -> pd.DataFrame:
    """Create the engine's input tables (``id_in_records``, ``id_in_register``, ``id_in_names``,
    ``id_in_addresses``) on ``con`` from canonical DataFrames, as :func:`reconcile` does.

    Every CPR (``national_id``, the register's ``cpr``) goes through the one CPR rule (:mod:`samlet_overblik.core.cpr`,
    the same macros the warehouse's staging SQL uses): ``national_id`` is the 10-digit number or NULL when the value
    is no CPR number, ``nid_status`` is ``valid``, ``replacement``, ``invalid`` or ``missing``. Register rows whose
    CPR the rule rejects are left out. With ``id_kind="other"`` the records' ``national_id`` is not a CPR number at
    all (e.g. another country's identifier): it is kept as trimmed text with status ``other`` (``missing`` when
    absent), so it is compared like any identifier but never counts as a valid CPR. Returns the canonical records
    (with ``rid``, the row number).
    """
    if id_kind not in ("cpr", "other"):
        raise ValueError("id_kind must be 'cpr' or 'other'")
    if "record_id" not in records.columns:
        records = records.assign(record_id=range(len(records)))
    rec = _frame(records, CANONICAL, _CPR_COLS if id_kind == "cpr" else ())
    rec.insert(0, "rid", range(len(rec)))
    reg = _frame(register, _REGISTER_COLS)
    names = _frame(name_history, ["cpr", "given_name", "family_name"])
    addrs = _frame(address_history, ["cpr", "address", "postcode"])
    cprlib.install_macros(con)
    con.register("rec_df", rec)
    con.register("reg_df", reg)
    con.register("names_df", names)
    con.register("addrs_df", addrs)
    nid, status = (("normalise_cpr(national_id)", "cpr_status(n)") if id_kind == "cpr" else
                   (_V("national_id", False), "CASE WHEN n IS NULL THEN 'missing' ELSE 'other' END"))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_in_records AS
            SELECT rid, n AS national_id, {status} AS nid_status, {_V('given_name')}, {_V('family_name')},
                   CAST(birth_date AS DATE) AS birth_date, upper(left({_V('sex', False)}, 1)) AS sex,
                   {_V('address')}, {_V('postcode')},
                   FALSE AS is_register
            FROM (SELECT *, {nid} AS n FROM rec_df)"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_in_register AS SELECT * FROM (SELECT normalise_cpr(cpr) AS cpr,
            {_V('given_name')}, {_V('family_name')}, CAST(birth_date AS DATE) AS birth_date,
            upper(left({_V('sex', False)}, 1)) AS sex, {_V('address')}, {_V('postcode')} FROM reg_df) WHERE cpr IS NOT NULL"""
    )
    con.execute(f"""CREATE OR REPLACE TEMP TABLE id_in_names AS SELECT * FROM (SELECT normalise_cpr(cpr) AS cpr,
                    {_V('given_name')}, {_V('family_name')} FROM names_df) WHERE cpr IS NOT NULL""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE id_in_addresses AS SELECT * FROM (SELECT normalise_cpr(cpr) AS cpr,
                    {_V('address')}, {_V('postcode')} FROM addrs_df) WHERE cpr IS NOT NULL""")
    return rec


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
    id_kind: str = "cpr",
):
    """Link every record to a person.

    ``records`` has (after ``column_map`` renames, ``{their name: canonical name}``) any of
    ``record_id, source, national_id, given_name, family_name, birth_date, sex, address, postcode``. Several
    columns may map to one canonical name: their values are joined with a space in the order of the map (e.g. a
    street column and a house-number column both to ``address``).
    Optional: ``register`` (the person register: ``cpr`` plus the same person columns),
    ``name_history`` (``cpr, given_name, family_name``), ``address_history`` (``cpr, address, postcode``),
    ``decisions`` (steward decisions: ``record_id_a, record_id_b, decision`` = ``match``/``no_match``;
    when ``source`` is given, ids may be written ``source:record_id``).

    The model is fitted to the data given: u-probabilities and name frequencies from the records (or the register),
    m-probabilities from the register's deterministic links or, without a register, by expectation maximisation over
    the blocked pairs. Names are normalised plainly (case, accents); ``params=Params(danish=True)`` adds the Danish
    rules the warehouse uses (æ = ae, ø = oe, å = aa, ...).

    ``national_id`` and the register's ``cpr`` are read with the one CPR rule (:mod:`samlet_overblik.core.cpr`, the rule
    the warehouse's staging SQL uses); pass ``id_kind="other"`` when ``national_id`` holds another kind of
    identifier (it is then only compared, as text; see :func:`load_inputs`).

    Returns one row per input record: ``record_id, person_key, method, score`` where method is
    ``cpr_exact``, ``cpr_corrected``, ``probabilistic``, ``steward`` or ``unlinked`` and score the
    match probability (1.0 for deterministic and steward links). Records with the same
    ``person_key`` are the same person. With ``return_review=True`` returns ``(links, review)``.
    """
    df = apply_column_map(records, column_map)
    if "record_id" not in df.columns:
        df = df.assign(record_id=range(len(df)))
    con = duckdb.connect()
    try:
        rec = load_inputs(con, df, register=register, name_history=name_history, address_history=address_history,
                          id_kind=id_kind)
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
