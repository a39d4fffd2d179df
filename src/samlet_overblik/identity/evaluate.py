"""Measure identity reconciliation against the generator's ground truth.

``evaluate_sources(sources_dir)`` stages the generated sources into a scratch warehouse with the
same ingestion and staging SQL as the nightly job, runs the warehouse linking
(:func:`samlet_overblik.linking.link_person_records`) and compares ``identity.person_links`` with
``ground_truth.parquet``:

* pairwise precision, recall and F1 (a pair = two records put in one person), overall and for the
  pairs touching records with a valid CPR (the person's own), a wrong CPR (typo, transposition,
  invalid code, another person's number) and no CPR (missing or a replacement number);
* cluster level: true persons whose records form exactly one predicted person, persons split,
  predicted persons that merge several true persons;
* records without a CPR that can be identified at all from the fields they carry: their true person is in the
  register and is the only register person agreeing with every field the record has (normalised names, current
  or earlier; birth date; sex; postcode, current or earlier); pairwise figures on those records
  (``no_cpr_identifiable``). A record that carries too little (a name shared by several register persons, no
  birth date) is not counted against the matcher there.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from samlet_overblik.identity.normalise import install_macros

GROUPS = ("all", "valid_cpr", "wrong_cpr", "no_cpr", "no_cpr_identifiable")


def pairwise_metrics(con: duckdb.DuckDBPyConnection, table: str) -> dict:
    """``table`` has (uid, truth, pred, grp): one row per record. Counts pairs touching each group
    without enumerating them: pairs in a cluster of n with g group members = C(n,2) - C(n-g,2)."""
    out = {}
    for grp in GROUPS:
        in_g = {"all": "TRUE", "no_cpr_identifiable": "identifiable"}.get(grp, f"grp = '{grp}'")

        def pairs(keys: str) -> int:
            return con.execute(
                f"""SELECT coalesce(sum(n * (n - 1) / 2 - (n - g) * (n - g - 1) / 2), 0) FROM (
                        SELECT count(*) AS n, count(*) FILTER (WHERE {in_g}) AS g FROM {table} GROUP BY {keys})"""
            ).fetchall()[0][0]

        tp, t, p = pairs("truth, pred"), pairs("truth"), pairs("pred")
        n = con.execute(f"SELECT count(*) FROM {table} WHERE {in_g}").fetchall()[0][0]
        prec = tp / p if p else 1.0
        rec = tp / t if t else 1.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[grp] = {"records": int(n), "true_pairs": int(t), "predicted_pairs": int(p), "true_positives": int(tp),
                    "precision": prec, "recall": rec, "f1": f1}
    return out


def cluster_metrics(con: duckdb.DuckDBPyConnection, table: str) -> dict:
    row = con.execute(
        f"""WITH t AS (SELECT truth, count(DISTINCT pred) AS k FROM {table} GROUP BY truth),
                 p AS (SELECT pred, count(DISTINCT truth) AS k FROM {table} GROUP BY pred),
                 exact AS (SELECT truth FROM {table} x GROUP BY truth
                           HAVING count(DISTINCT pred) = 1
                              AND max(pred) IN (SELECT pred FROM p WHERE k = 1))
            SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM p), (SELECT count(*) FROM exact),
                   (SELECT count(*) FROM t WHERE k > 1), (SELECT count(*) FROM p WHERE k > 1)"""
    ).fetchall()[0]
    true_n, pred_n, exact, split, merged = row
    return {"true_persons": true_n, "predicted_persons": pred_n, "exact_persons": exact,
            "exact_share": exact / true_n if true_n else 1.0, "persons_split": split, "predicted_merging": merged}


def _record_groups(con: duckdb.DuckDBPyConnection) -> None:
    """eval_truth(source, table, record_id, truth, grp) from the ground truth and staging."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE eval_truecpr AS
           SELECT person_id, any_value(record_id) AS cpr FROM eval_gt WHERE source = 'cpr' AND "table" = 'personer' GROUP BY 1"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE eval_truth AS
           SELECT g.source, g."table", g.record_id, g.person_id AS truth,
                  CASE WHEN p.national_id IS NULL OR p.national_id_status IN ('missing', 'replacement') THEN 'no_cpr'
                       WHEN p.national_id = c.cpr THEN 'valid_cpr' ELSE 'wrong_cpr' END AS grp
           FROM eval_gt g JOIN staging.person_records p
             ON p.source = g.source AND p.source_table = g."table" AND p.record_id = g.record_id
           LEFT JOIN eval_truecpr c ON c.person_id = g.person_id"""
    )


# A CPR-less record's candidates in the register: persons agreeing with every field the record carries. Blocked on
# the family name (current or earlier) when the record has one, else on the birth date; a record with neither
# cannot single anyone out.
_IDENTIFIABLE = """
CREATE OR REPLACE TEMP TABLE eval_identifiable AS
WITH rec AS (
    SELECT t.source, t."table", t.record_id, c.cpr AS true_cpr, dk_norm(p.given_name) AS gn,
           dk_norm(p.family_name) AS fn, p.birth_date AS dob, p.sex, nullif(trim(CAST(p.postcode AS VARCHAR)), '') AS pc
    FROM eval_truth t
    JOIN staging.person_records p ON p.source = t.source AND p.source_table = t."table" AND p.record_id = t.record_id
    LEFT JOIN eval_truecpr c ON c.person_id = t.truth
    WHERE t.grp = 'no_cpr'
),
names AS (
    SELECT cpr, dk_norm(given_name) AS gn, dk_norm(family_name) AS fn FROM staging.cpr_persons
    UNION SELECT h.cpr, dk_norm(coalesce(h.given_name, p.given_name)), dk_norm(coalesce(h.family_name, p.family_name))
    FROM staging.cpr_name_history h LEFT JOIN staging.cpr_persons p USING (cpr)
),
postcodes AS (
    SELECT cpr, nullif(trim(CAST(postcode AS VARCHAR)), '') AS pc FROM staging.cpr_persons
    UNION SELECT cpr, nullif(trim(CAST(postcode AS VARCHAR)), '') FROM staging.cpr_address_history
),
people AS (SELECT DISTINCT ON (cpr) cpr, birth_date AS dob, sex FROM staging.cpr_persons),
by_name AS (
    SELECT DISTINCT r.source, r."table", r.record_id, n.cpr FROM rec r JOIN names n ON n.fn = r.fn
    WHERE r.gn IS NULL OR n.gn = r.gn
),
by_birth AS (
    SELECT r.source, r."table", r.record_id, e.cpr FROM rec r JOIN people e ON e.dob = r.dob WHERE r.fn IS NULL
    AND (r.gn IS NULL OR EXISTS (SELECT 1 FROM names n WHERE n.cpr = e.cpr AND n.gn = r.gn))
),
candidates AS (
    SELECT c.*, r.true_cpr FROM (SELECT * FROM by_name UNION ALL SELECT * FROM by_birth) c
    JOIN rec r USING (source, "table", record_id) JOIN people e ON e.cpr = c.cpr
    WHERE (r.dob IS NULL OR e.dob = r.dob) AND (r.sex IS NULL OR e.sex IS NULL OR e.sex = r.sex)
      AND (r.pc IS NULL OR EXISTS (SELECT 1 FROM postcodes a WHERE a.cpr = c.cpr AND a.pc = r.pc))
)
SELECT source, "table", record_id FROM candidates
GROUP BY source, "table", record_id
HAVING count(DISTINCT cpr) = 1 AND any_value(cpr) = any_value(true_cpr)
"""


def evaluate_warehouse(con: duckdb.DuckDBPyConnection, ground_truth: pd.DataFrame) -> dict:
    """Compare ``identity.person_links`` in ``con`` with a ground-truth frame."""
    gt = ground_truth[["source", "table", "record_id", "person_id"]].astype(str)
    con.register("eval_gt_df", gt)
    con.execute("CREATE OR REPLACE TEMP TABLE eval_gt AS SELECT * FROM eval_gt_df")
    con.unregister("eval_gt_df")
    _record_groups(con)
    install_macros(con)
    con.execute(_IDENTIFIABLE)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE eval_join AS
           SELECT row_number() OVER () AS uid, t.truth, l.person_key AS pred, t.grp,
                  (t.source, t."table", t.record_id) IN (SELECT (source, "table", record_id) FROM eval_identifiable)
                  AS identifiable
           FROM eval_truth t JOIN identity.person_links l
             ON l.source = t.source AND l."table" = t."table" AND l.record_id = t.record_id"""
    )
    missing = con.execute(
        "SELECT count(*) FROM eval_gt g WHERE NOT EXISTS (SELECT 1 FROM identity.person_links l "
        "WHERE l.source = g.source AND l.\"table\" = g.\"table\" AND l.record_id = g.record_id)"
    ).fetchall()[0][0]
    methods = dict(con.execute("SELECT method, count(*) FROM identity.person_links GROUP BY 1 ORDER BY 1").fetchall())
    review = con.execute("SELECT count(*) FROM identity.review_queue").fetchall()[0][0]
    result = {
        "pairwise": pairwise_metrics(con, "eval_join"),
        "clusters": cluster_metrics(con, "eval_join"),
        "records_in_ground_truth": len(gt),
        "records_not_linked_or_quarantined": int(missing),
        "methods": methods,
        "review_pairs": int(review),
    }
    for t in ("eval_gt", "eval_truecpr", "eval_truth", "eval_join", "eval_identifiable"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return result


def evaluate_sources(sources_dir: Path, params=None) -> dict:
    """Stage ``sources_dir`` (generated sources with ``ground_truth.parquet``), link, and measure."""
    from samlet_overblik.identity.linking import link_person_records
    from samlet_overblik.identity.staged import stage_sources

    sources_dir = Path(sources_dir)
    gt_path = sources_dir / "ground_truth.parquet"
    if not gt_path.exists():
        raise FileNotFoundError(f"no ground_truth.parquet in {sources_dir}")
    with tempfile.TemporaryDirectory(prefix="samlet-eval-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "eval.duckdb"))
        try:
            started = time.perf_counter()
            stage_sources(sources_dir, con)
            staged = time.perf_counter()
            link = link_person_records(con, "eval", datetime.now(), params)
            linked = time.perf_counter()
            result = evaluate_warehouse(con, pd.read_parquet(gt_path))
        finally:
            con.close()
    result["seconds"] = {"staging": round(staged - started, 2), "linking": round(linked - staged, 2)}
    result["link"] = {"merges": link.merges, "splits": link.splits, "new_keys": link.new_keys}
    return result


def format_report(result: dict) -> str:
    """A plain-text table of the figures from :func:`evaluate_sources`."""
    lines = ["Identity reconciliation against the ground truth", ""]
    lines.append(f"{'records':<22}{'n':>9}{'precision':>11}{'recall':>9}{'F1':>9}{'true pairs':>12}{'pred pairs':>12}")
    labels = {"all": "all", "valid_cpr": "valid CPR", "wrong_cpr": "wrong CPR", "no_cpr": "no CPR",
              "no_cpr_identifiable": "no CPR, identifiable"}
    for g in GROUPS:
        m = result["pairwise"][g]
        lines.append(
            f"{labels[g]:<22}{m['records']:>9}{m['precision']:>11.4f}{m['recall']:>9.4f}{m['f1']:>9.4f}"
            f"{m['true_pairs']:>12}{m['predicted_pairs']:>12}"
        )
    c = result["clusters"]
    lines += [
        "",
        f"persons: {c['true_persons']} true, {c['predicted_persons']} predicted; "
        f"{c['exact_persons']} ({c['exact_share']:.4f}) exactly recovered, {c['persons_split']} split, "
        f"{c['predicted_merging']} predicted persons merging several",
        "methods: " + ", ".join(f"{k} {v}" for k, v in result.get("methods", {}).items()),
        f"review queue: {result.get('review_pairs', 0)} pairs",
    ]
    if result.get("records_not_linked_or_quarantined"):
        lines.append(f"ground-truth records without a link (quarantined in staging): {result['records_not_linked_or_quarantined']}")
    if "seconds" in result:
        lines.append(f"time: staging {result['seconds']['staging']} s, linking {result['seconds']['linking']} s")
    return "\n".join(lines)
