"""Management information: ``exports/analytics.duckdb``, pseudonymised, small cells suppressed.

- No CPR, names, addresses or caseworkers; person keys are replaced by ``HMAC-SHA256(key, person_key)`` with
  a secret from ``SAMLET_ANALYTICS_KEY`` (at least 16 characters). Without a key nothing is published, except
  in the demo, which opts in with ``demo=True`` and gets a random key for that run only (its hashes do not
  link across runs).
- Aggregates by department, flag, age band and district (town of the address in the person register), and
  cost per pathway (the combination of departments a citizen is active in). Every published cell counts
  at least ``MIN_CELL`` citizens; smaller cells are left out (counted in ``analytics_info``), and pathways
  with fewer citizens are pooled as ``andet``.
- Everything is computed in DuckDB (the HMAC too: SHA-256 over the padded key blocks), built in a new file
  and renamed over the old one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

KEY_ENV = "SAMLET_ANALYTICS_KEY"
MIN_KEY_CHARS = 16
MIN_CELL = 5
ANALYTICS_FILE = "analytics.duckdb"


class AnalyticsKeyMissing(RuntimeError):
    """No usable pseudonymisation secret: analytics is not published (one-line message, no secret in it)."""


def analytics_key(env: dict[str, str] | None = None, demo: bool = False) -> bytes:
    """The HMAC secret from ``SAMLET_ANALYTICS_KEY``; a random per-run key only when ``demo`` is set."""
    env = os.environ if env is None else env
    value = env.get(KEY_ENV, "")
    if value:
        if len(value) < MIN_KEY_CHARS:
            raise AnalyticsKeyMissing(f"{KEY_ENV} is too short: use a random secret of at least {MIN_KEY_CHARS} characters")
        return value.encode("utf-8")
    if demo:
        return secrets.token_bytes(32)
    raise AnalyticsKeyMissing(
        f"{KEY_ENV} is not set: refusing to publish {ANALYTICS_FILE} without a pseudonymisation secret "
        f"(set it to a random secret of at least {MIN_KEY_CHARS} characters; only the demo runs without one)"
    )


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """The inner and outer padded key blocks of HMAC-SHA256 (RFC 2104), so SQL can compute the HMAC."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    block = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


# HMAC-SHA256(key, person_key) in SQL, hex: H(opad || H(ipad || m)).
HMAC_SQL = "sha256($opad || unhex(sha256($ipad || encode({col}))))"

AGE_BAND_SQL = """
CASE
    WHEN birth_date IS NULL THEN 'ukendt'
    WHEN age < 18 THEN '0-17'
    WHEN age < 30 THEN '18-29'
    WHEN age < 50 THEN '30-49'
    WHEN age < 67 THEN '50-66'
    WHEN age < 80 THEN '67-79'
    ELSE '80+'
END
"""


@dataclass
class AnalyticsResult:
    path: Path
    tables: dict[str, int] = field(default_factory=dict)
    suppressed_cells: int = 0


def build_analytics(
    con: duckdb.DuckDBPyConnection,
    exports_dir: Path,
    run_id: str,
    key: bytes,
    reference: date | None = None,
    min_cell: int = MIN_CELL,
) -> AnalyticsResult:
    """Write ``exports/analytics.duckdb`` from the unified layer of the (building) warehouse."""
    if not key:
        raise AnalyticsKeyMissing("an empty pseudonymisation secret is not allowed")
    from .unified import settings_of_build

    ref = reference or settings_of_build(con)[0]
    ipad, opad = hmac_pads(key)
    exports_dir.mkdir(parents=True, exist_ok=True)
    final = exports_dir / ANALYTICS_FILE
    tmp = final.with_name(f"{final.name}.building-{run_id}")
    tmp.unlink(missing_ok=True)
    params = {"ref": ref, "ipad": ipad, "opad": opad}
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _an_people AS
        SELECT o.person_key, {HMAC_SQL.format(col='o.person_key')} AS person_hash,
               o.departments, o.n_departments, o.active_services, o.annual_cost_dkk,
               o.flag_departments, o.flag_services, o.flag_cost, o.complex_case,
               coalesce(nullif(array_to_string(o.departments, '+'), ''), 'ingen aktive') AS raw_pathway,
               {AGE_BAND_SQL} AS age_band,
               coalesce(o.town, 'ukendt') AS district
        FROM (SELECT *, date_diff('year', birth_date, CAST($ref AS DATE))
                        - CASE WHEN strftime(CAST($ref AS DATE), '%m%d') < strftime(birth_date, '%m%d') THEN 1 ELSE 0 END AS age
              FROM unified.citizen_overview
              LEFT JOIN (SELECT person_key, cpr FROM identity.person_keys) USING (person_key)
              LEFT JOIN (SELECT cpr, birth_date, town FROM staging.cpr_persons) USING (cpr)) o
        """,
        params,
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _an_pathways AS
        SELECT raw_pathway, CASE WHEN count(*) >= $k THEN raw_pathway ELSE 'andet' END AS pathway
        FROM _an_people GROUP BY raw_pathway
        """,
        {"k": min_cell},
    )
    con.execute(f"ATTACH '{tmp}' AS an")
    suppressed = 0
    try:
        con.execute(
            """
            CREATE TABLE an.citizen_pathways AS
            SELECT p.person_hash, w.pathway, p.n_departments, p.active_services,
                   CAST(round(p.annual_cost_dkk, -3) AS BIGINT) AS annual_cost_dkk_rounded,
                   p.flag_departments, p.flag_services, p.flag_cost, p.complex_case
            FROM _an_people p JOIN _an_pathways w USING (raw_pathway)
            ORDER BY p.person_hash
            """
        )
        cells = {
            # department x age band x district, from the active records of each department
            "by_department": """
                SELECT i.department, p.age_band, p.district,
                       count(DISTINCT i.person_key) AS citizens,
                       count(*) AS active_interventions,
                       CAST(round(sum(coalesce(i.monthly_cost, 0)) * 12) AS BIGINT) AS annual_cost_dkk_run_rate
                FROM unified.interventions i JOIN _an_people p USING (person_key)
                WHERE i.status = 'aktiv'
                GROUP BY ALL
            """,
            "by_flag": """
                SELECT f.flag, p.age_band, p.district, count(*) AS citizens,
                       CAST(round(sum(p.annual_cost_dkk)) AS BIGINT) AS annual_cost_dkk
                FROM _an_people p,
                     (SELECT unnest(['flag_departments', 'flag_services', 'flag_cost', 'complex_case']) AS flag) f
                WHERE CASE f.flag WHEN 'flag_departments' THEN p.flag_departments WHEN 'flag_services' THEN p.flag_services
                                  WHEN 'flag_cost' THEN p.flag_cost ELSE p.complex_case END
                GROUP BY ALL
            """,
            "cost_per_pathway": """
                SELECT w.pathway, count(*) AS citizens,
                       CAST(round(sum(p.annual_cost_dkk)) AS BIGINT) AS annual_cost_dkk_total,
                       CAST(round(avg(p.annual_cost_dkk)) AS BIGINT) AS annual_cost_dkk_mean,
                       CAST(round(median(p.annual_cost_dkk)) AS BIGINT) AS annual_cost_dkk_median,
                       count(*) FILTER (p.complex_case) AS complex_cases
                FROM _an_people p JOIN _an_pathways w USING (raw_pathway)
                GROUP BY ALL
            """,
            "signals_by_rule": """
                SELECT s.signal_id, p.age_band, count(DISTINCT s.person_key) AS citizens, count(*) AS findings
                FROM unified.coordination_signals s JOIN _an_people p USING (person_key)
                GROUP BY ALL
            """,
        }
        counts: dict[str, int] = {}
        for name, sql in cells.items():
            con.execute(f"CREATE OR REPLACE TEMP TABLE _an_cells AS {sql}")
            suppressed += con.execute("SELECT count(*) FROM _an_cells WHERE citizens < $k", {"k": min_cell}).fetchall()[0][0]
            con.execute(f"CREATE TABLE an.{name} AS SELECT * FROM _an_cells WHERE citizens >= $k ORDER BY ALL", {"k": min_cell})
            counts[name] = con.execute(f"SELECT count(*) FROM an.{name}").fetchall()[0][0]
        counts["citizen_pathways"] = con.execute("SELECT count(*) FROM an.citizen_pathways").fetchall()[0][0]
        con.execute(
            """
            CREATE TABLE an.analytics_info AS
            SELECT $run_id AS run_id, now()::TIMESTAMP AS published_at, CAST($ref AS DATE) AS reference_date,
                   CAST($k AS INTEGER) AS min_cell, CAST($suppressed AS BIGINT) AS suppressed_cells,
                   'HMAC-SHA256(secret, person_key), hex; the secret is not stored here' AS person_hash_method
            """,
            {"run_id": run_id, "ref": ref, "k": min_cell, "suppressed": suppressed},
        )
        for table, comment in _COMMENTS.items():
            con.execute(f"COMMENT ON TABLE an.{table} IS '{comment}'")
        con.execute("CHECKPOINT an")
    finally:
        con.execute("DETACH an")
        for t in ("_an_people", "_an_pathways", "_an_cells"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    os.chmod(tmp, 0o640)
    os.replace(tmp, final)
    return AnalyticsResult(final, counts, suppressed)


_COMMENTS = {
    "citizen_pathways": "One row per citizen with a record: keyed hash instead of identity, pathway (departments; rare ones pooled as andet), flags, 12-month cost rounded to 1,000 DKK.",
    "by_department": "Active records per department, age band and district (cells under min_cell citizens left out).",
    "by_flag": "Citizens per Høje-Taastrup flag, age band and district (cells under min_cell citizens left out).",
    "cost_per_pathway": "12-month cost per pathway (combination of departments), cells under min_cell citizens left out.",
    "signals_by_rule": "Coordination signals per rule and age band (cells under min_cell citizens left out).",
    "analytics_info": "When and how this file was built: min_cell, suppressed cells, hash method.",
}
