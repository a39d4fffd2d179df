"""Link staged person records to stable person keys inside the warehouse (set-based, in DuckDB).

Deterministic pass: a record whose normalised CPR is valid, present in the person register and
consistent with it on birth date links to that CPR's person key. Every other record keeps a key of
its own, anchored on the record, until a later pass (probabilistic, steward) links it.
Keys are issued once and carried across runs, so a person's key never changes when records arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb


@dataclass
class LinkResult:
    records: int
    by_method: dict[str, int]
    new_keys: int


# Keys are random (not derived from the CPR, which would be reversible by enumeration).
_NEW_KEY = "'p' || replace(CAST(gen_random_uuid() AS VARCHAR), '-', '')[1:15]"


def link_person_records(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime) -> LinkResult:
    before = con.execute("SELECT count(*) FROM identity.person_keys").fetchall()[0][0]
    con.execute("BEGIN TRANSACTION")
    try:
        # One key per register person, issued the first time the person is seen.
        con.execute(
            f"""
            INSERT INTO identity.person_keys (person_key, cpr, created_run, created_at)
            SELECT {_NEW_KEY}, p.cpr, ?, ? FROM staging.cpr_persons p
            WHERE NOT EXISTS (SELECT 1 FROM identity.person_keys k WHERE k.cpr = p.cpr)
            """,
            [run_id, now],
        )
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _links AS
            SELECT r.source, r.source_table AS "table", r.record_id, k.person_key,
                   'cpr_exact' AS method, 1.0 AS score
            FROM staging.person_records r
            JOIN staging.cpr_persons p ON p.cpr = r.national_id
            JOIN identity.person_keys k ON k.cpr = p.cpr
            WHERE r.national_id_status = 'valid'
              AND (r.birth_date IS NULL OR r.birth_date = p.birth_date)
            """
        )
        # Records not linked: a key anchored on the record itself (kept stable across runs).
        con.execute(
            f"""
            INSERT INTO identity.person_keys (person_key, anchor_source, anchor_table, anchor_record_id, created_run, created_at)
            SELECT {_NEW_KEY}, r.source, r.source_table, r.record_id, ?, ?
            FROM staging.person_records r
            WHERE NOT EXISTS (SELECT 1 FROM _links l WHERE l.source = r.source AND l."table" = r.source_table AND l.record_id = r.record_id)
              AND NOT EXISTS (SELECT 1 FROM identity.person_keys k WHERE k.anchor_source = r.source
                              AND k.anchor_table = r.source_table AND k.anchor_record_id = r.record_id)
            """,
            [run_id, now],
        )
        con.execute(
            """
            INSERT INTO _links
            SELECT r.source, r.source_table, r.record_id, k.person_key, 'unlinked', 0.0
            FROM staging.person_records r
            JOIN identity.person_keys k ON k.anchor_source = r.source AND k.anchor_table = r.source_table
                 AND k.anchor_record_id = r.record_id
            WHERE NOT EXISTS (SELECT 1 FROM _links l WHERE l.source = r.source AND l."table" = r.source_table AND l.record_id = r.record_id)
            """
        )
        con.execute("DELETE FROM identity.person_links")
        con.execute("INSERT INTO identity.person_links SELECT *, ? FROM _links", [run_id])
        con.execute("DROP TABLE _links")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    by_method = dict(con.execute("SELECT method, count(*) FROM identity.person_links GROUP BY 1").fetchall())
    after = con.execute("SELECT count(*) FROM identity.person_keys").fetchall()[0][0]
    return LinkResult(records=sum(by_method.values()), by_method=by_method, new_keys=after - before)
