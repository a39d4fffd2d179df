"""Link staged person records to stable person keys inside the warehouse (set-based, in DuckDB).

The matching itself is :mod:`samlet_overblik.identity.engine` (deterministic CPR pass, CPR
corrections, Fellegi–Sunter against the register and among the remaining records, steward
decisions). This module feeds it ``staging.*`` and turns its persons into *stable keys*:

* a register person keeps the key issued for its CPR the first time it was seen;
* a person without a CPR keeps the key its records had in the previous run (the key most of its
  records carried; when a previous person splits, the part with most of its records keeps the key);
* a person whose records carried several keys keeps one, the others are retired as *merged*;
* every merge and split is written to ``identity.key_events`` with the run; ``identity.person_keys``,
  ``identity.key_events``, ``identity.steward_decisions`` and ``identity.link_runs`` are history and
  carried from run to run (the warehouse file is a copy of the previous one), never recomputed.

Incremental linking: a full link estimates the model and stores it (``identity.link_model``); a later run links
only the records whose result could change (``assets/identity/relink_scope.sql``: new or changed records, those of
changed register persons, those a changed register person could take or leave (``id_touched``), those of persons a
steward decided about, and the people without a register entry) with that stored model, and every other record keeps
its link. With the same model, that is the result a full link gives (a test
compares them). A full link happens when asked (``full_relink``), when no model is stored or the linking settings
changed, and on the schedule in ``job.yaml`` (``identity.full_relink_every_days``).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import duckdb

from samlet_overblik.identity import engine
from samlet_overblik.identity.normalise import install_macros
from samlet_overblik.core.paths import data_dir
from samlet_overblik.core.sql import asset_sql, drop_temporary, table_exists, tables_in
from samlet_overblik.core.warehouse import transaction


@dataclass
class LinkResult:
    records: int
    by_method: dict[str, int]
    new_keys: int
    merges: int = 0
    splits: int = 0
    review_pairs: int = 0
    extra: dict = field(default_factory=dict)
    mode: str = "full"
    relinked: int = 0


# Keys are random (not derived from the CPR, which would be reversible by enumeration).
_NEW_KEY = "'p' || replace(CAST(gen_random_uuid() AS VARCHAR), '-', '')[1:15]"


def _register_params() -> dict[str, str | None]:
    """The person register's source and person table (``role: person_register`` in its spec)."""
    from samlet_overblik.sources.specs import person_register

    register = person_register()
    return {"register": register.name, "register_table": register.person_table}


def context_queries() -> list[str]:
    """The SQL of every ``assets/identity/context_*.sql``, in file-name order."""
    return [asset_sql("identity", p.stem) for p in sorted((data_dir("assets") / "identity").glob("context_*.sql"))]


def _reads_present(con: duckdb.DuckDBPyConnection, sql: str) -> bool:
    """Every raw table the query reads exists (a source not configured in this warehouse has none)."""
    raw = set(re.findall(r"\braw\.(\w+)", sql))
    return raw <= tables_in(con, "raw")


def load_context(con: duckdb.DuckDBPyConnection) -> None:
    """``id_context`` (source, source_table, record_id, candidate_cpr) for every record: what the sources say about
    who a person record may be, one SQL file per kind of context in assets/identity/context_*.sql (e.g. a parent on
    a child's case points at the child's registered parents and custody holders). A file whose source has not been
    read in this warehouse is skipped; no file read: no table."""
    con.execute("DROP TABLE IF EXISTS id_context")
    contexts = [q for q in context_queries() if _reads_present(con, q)]
    if contexts:
        union = " UNION ".join(f"SELECT source, source_table, record_id, candidate_cpr FROM ({q})" for q in contexts)
        con.execute(f"CREATE TEMP TABLE id_context AS SELECT DISTINCT * FROM ({union})")


def load_register(con: duckdb.DuckDBPyConnection) -> None:
    """The engine's register tables from staging: persons, earlier names, earlier addresses."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_in_register AS
           SELECT cpr, given_name, family_name, birth_date, sex, address, postcode FROM staging.cpr_persons"""
    )
    con.execute("CREATE OR REPLACE TEMP TABLE id_in_names AS SELECT cpr, given_name, family_name FROM staging.cpr_name_history")
    con.execute("CREATE OR REPLACE TEMP TABLE id_in_addresses AS SELECT cpr, address, postcode FROM staging.cpr_address_history")


def load_inputs(con: duckdb.DuckDBPyConnection, scoped: bool = False, register_loaded: bool = False) -> None:
    """The engine's input tables from staging and the steward decisions; ``scoped``: only the records in
    ``id_scope`` (an incremental run), against the whole register."""
    if not register_loaded:
        load_register(con)
    scope = "WHERE (source, source_table, record_id) IN (SELECT (source, source_table, record_id) FROM id_scope)"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_recmap AS
            SELECT CAST(row_number() OVER (ORDER BY source, source_table, record_id) - 1 AS BIGINT) AS rid,
                   source, source_table, record_id FROM staging.person_records {scope if scoped else ""}"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_in_records AS
           SELECT m.rid, p.national_id, p.national_id_status AS nid_status, p.given_name, p.family_name,
                  p.birth_date, p.sex, p.address, p.postcode,
                  (p.source = $register AND p.source_table = $register_table) AS is_register
           FROM staging.person_records p JOIN id_recmap m USING (source, source_table, record_id)""",
        _register_params(),
    )
    # Context (load_context), for the records in this run.
    con.execute("DROP TABLE IF EXISTS id_in_context")
    if table_exists(con, "id_context"):
        con.execute(
            """CREATE TEMP TABLE id_in_context AS
               SELECT DISTINCT m.rid, c.candidate_cpr AS cpr
               FROM id_context c JOIN id_recmap m USING (source, source_table, record_id)"""
        )
    # The newest decision on a pair wins (either order of the two records).
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_in_decisions AS
           SELECT a.rid AS rid_a, b.rid AS rid_b, d.decision FROM (
               SELECT *, row_number() OVER (
                   PARTITION BY least(source_a || '|' || table_a || '|' || record_id_a, source_b || '|' || table_b || '|' || record_id_b),
                                greatest(source_a || '|' || table_a || '|' || record_id_a, source_b || '|' || table_b || '|' || record_id_b)
                   ORDER BY decided_at DESC, decision_id DESC) AS k
               FROM identity.steward_decisions) d
           JOIN id_recmap a ON a.source = d.source_a AND a.source_table = d.table_a AND a.record_id = d.record_id_a
           JOIN id_recmap b ON b.source = d.source_b AND b.source_table = d.table_b AND b.record_id = d.record_id_b
           WHERE d.k = 1"""
    )


def assign_keys(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime) -> tuple[int, int]:
    """Stable keys for the engine's persons (``id_out``); returns (merges, splits) recorded."""
    # One key per register person, issued the first time the person is seen.
    con.execute(
        f"""INSERT INTO identity.person_keys (person_key, cpr, created_run, created_at)
            SELECT {_NEW_KEY}, p.cpr, ?, ? FROM (SELECT DISTINCT cpr FROM id_out WHERE cpr IS NOT NULL) p
            WHERE NOT EXISTS (SELECT 1 FROM identity.person_keys k WHERE k.cpr = p.cpr)""",
        [run_id, now],
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_prev AS
           SELECT o.rid, o.comp, o.cpr, l.person_key AS prev_key, l.method AS prev_method, l.run_id AS prev_run
           FROM id_out o JOIN id_recmap m USING (rid)
           LEFT JOIN identity.person_links l ON l.source = m.source AND l."table" = m.source_table AND l.record_id = m.record_id"""
    )
    # Persons without a CPR: the previous key most of their records carried, if that person is the
    # one holding most of that key's records (the rest of a split previous person gets new keys).
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_comp_key AS
           WITH cand AS (
               SELECT p.comp, p.prev_key, count(*) AS n FROM id_prev p
               JOIN identity.person_keys k ON k.person_key = p.prev_key
               WHERE p.cpr IS NULL AND k.cpr IS NULL AND k.merged_into IS NULL
                 AND p.comp NOT IN (SELECT comp FROM id_prev WHERE cpr IS NOT NULL)
               GROUP BY ALL),
           owner AS (SELECT prev_key, arg_max(comp, n * 1e12 - comp) AS comp FROM cand GROUP BY prev_key)
           SELECT c.comp, arg_max(c.prev_key, c.n * 1e12 - hash(c.prev_key) / 1e10) AS person_key
           FROM cand c JOIN owner o ON o.prev_key = c.prev_key AND o.comp = c.comp GROUP BY c.comp"""
    )
    # New persons without a CPR: a new key anchored on their first record.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_new_comp AS
            SELECT p.comp, {_NEW_KEY} AS person_key, arg_min(m.source, m.source || m.source_table || m.record_id) AS s,
                   arg_min(m.source_table, m.source || m.source_table || m.record_id) AS t,
                   arg_min(m.record_id, m.source || m.source_table || m.record_id) AS r
            FROM id_prev p JOIN id_recmap m USING (rid)
            WHERE p.comp NOT IN (SELECT comp FROM id_prev WHERE cpr IS NOT NULL)
              AND p.comp NOT IN (SELECT comp FROM id_comp_key)
            GROUP BY p.comp"""
    )
    con.execute(
        """INSERT INTO identity.person_keys (person_key, anchor_source, anchor_table, anchor_record_id, created_run, created_at)
           SELECT person_key, s, t, r, ?, ? FROM id_new_comp""",
        [run_id, now],
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_final AS
           SELECT p.rid, p.prev_key, p.prev_method, p.prev_run, o.method, o.score,
                  coalesce(k.person_key, ck.person_key, nc.person_key) AS person_key
           FROM id_prev p JOIN id_out o USING (rid)
           LEFT JOIN identity.person_keys k ON k.cpr = p.cpr
           LEFT JOIN id_comp_key ck ON ck.comp = p.comp
           LEFT JOIN id_new_comp nc ON nc.comp = p.comp"""
    )
    # Merges and splits: records whose key changed. A previous key no record carries any more is
    # retired into the key most of its records went to (merge); otherwise the move is a split.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_moves AS
           WITH mv AS (SELECT prev_key, person_key, count(*) AS n, string_agg(DISTINCT method, ',' ORDER BY method) AS why
                       FROM id_final WHERE prev_key IS NOT NULL AND prev_key <> person_key GROUP BY ALL),
           -- Keys records still carry: this run's, and those of records an incremental run left as they were.
           alive AS (SELECT person_key FROM id_final
                     UNION SELECT l.person_key FROM identity.person_links l
                     WHERE (l.source, l."table", l.record_id) NOT IN (SELECT (source, source_table, record_id) FROM id_recmap)
                       AND (l.source, l."table", l.record_id) IN (SELECT (source, source_table, record_id) FROM id_fp)),
           dest AS (SELECT prev_key, arg_max(person_key, n) AS main FROM mv GROUP BY prev_key)
           SELECT mv.*, CASE WHEN mv.prev_key NOT IN (SELECT person_key FROM alive) AND d.main = mv.person_key
                             THEN 'merge' ELSE 'split' END AS event
           FROM mv JOIN dest d USING (prev_key)"""
    )
    con.execute(
        """INSERT INTO identity.key_events (run_id, event_at, event, from_key, to_key, records, reason)
           SELECT ?, ?, event, prev_key, person_key, n, why FROM id_moves""",
        [run_id, now],
    )
    con.execute(
        """UPDATE identity.person_keys k SET merged_into = m.person_key, merged_run = ?
           FROM id_moves m WHERE m.event = 'merge' AND k.person_key = m.prev_key""",
        [run_id],
    )
    # A key that comes back to life (e.g. a steward undid a merge) is no longer merged.
    con.execute(
        """UPDATE identity.person_keys SET merged_into = NULL, merged_run = NULL
           WHERE merged_into IS NOT NULL AND person_key IN (SELECT person_key FROM id_final)"""
    )
    counts = dict(con.execute("SELECT event, count(*) FROM id_moves GROUP BY 1").fetchall())
    return counts.get("merge", 0), counts.get("split", 0)


def write_links(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """The links of the records this run linked (every record, or those in scope), with their fingerprints; the
    links of records no longer staged go."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_links_out AS
           SELECT m.source, m.source_table AS "table", m.record_id, f.person_key, f.method, f.score,
                  CASE WHEN f.prev_key = f.person_key AND f.prev_method = f.method THEN coalesce(f.prev_run, ?) ELSE ? END
                      AS run_id,
                  fp.fingerprint
           FROM id_final f JOIN id_recmap m USING (rid) JOIN id_fp fp USING (source, source_table, record_id)""",
        [run_id, run_id],
    )
    # Only the links that differ are deleted and written again: the primary key's index takes deleted rows out one
    # by one at commit, and a full link rewriting every unchanged link of 470,000 records took 14.5 s to commit.
    # Gone: records no longer staged, records this run linked to nothing (none, in practice), and changed links.
    con.execute(
        """DELETE FROM identity.person_links l WHERE
               (l.source, l."table", l.record_id) NOT IN (SELECT (source, source_table, record_id) FROM id_fp)
            OR ((l.source, l."table", l.record_id) IN (SELECT (source, source_table, record_id) FROM id_recmap)
                AND NOT EXISTS (
                    SELECT 1 FROM id_links_out o
                    WHERE (o.source, o."table", o.record_id) = (l.source, l."table", l.record_id)
                      AND (o.person_key, o.method, o.score, o.run_id, o.fingerprint)
                          IS NOT DISTINCT FROM (l.person_key, l.method, l.score, l.run_id, l.fingerprint)))"""
    )
    con.execute(
        """INSERT INTO identity.person_links (source, "table", record_id, person_key, method, score, run_id, fingerprint)
           SELECT * FROM id_links_out o WHERE NOT EXISTS (
               SELECT 1 FROM identity.person_links l
               WHERE (l.source, l."table", l.record_id) = (o.source, o."table", o.record_id))"""
    )
    # Only what changed: rewriting a million unchanged rows (and their key index) would cost more than linking.
    con.execute(
        """DELETE FROM identity.register_fingerprints r WHERE NOT EXISTS (
               SELECT 1 FROM id_reg_fp f WHERE f.cpr = r.cpr AND f.fingerprint = r.fingerprint)""")
    con.execute(
        """INSERT INTO identity.register_fingerprints BY NAME SELECT cpr, fingerprint, birth_date, sex FROM id_reg_fp f
           WHERE NOT EXISTS (SELECT 1 FROM identity.register_fingerprints r WHERE r.cpr = f.cpr)""")


def _stored_model(con: duckdb.DuckDBPyConnection, params: engine.Params) -> engine.Model | None:
    """The model of the last full link, if it was estimated under the same settings."""
    rows = con.execute("SELECT settings, model FROM identity.link_model").fetchall()
    if len(rows) != 1 or json.loads(rows[0][0]) != json.loads(json.dumps(params.settings())):
        return None
    return engine.Model.from_json(json.loads(rows[0][1]))


def _store_model(con: duckdb.DuckDBPyConnection, model: engine.Model, params: engine.Params, run_id: str,
                 now: datetime) -> None:
    con.execute("DELETE FROM identity.link_model")
    con.execute("INSERT INTO identity.link_model (run_id, estimated_at, settings, model) VALUES (?, ?, ?, ?)",
                [run_id, now, json.dumps(params.settings()), json.dumps(model.to_json())])
    con.execute("DELETE FROM identity.link_model_tf")
    for name in ("gn", "fn"):
        if table_exists(con, f"id_tf_{name}"):
            con.execute(f"INSERT INTO identity.link_model_tf (field, val, u) SELECT ?, val, u FROM id_tf_{name}", [name])


def _load_term_frequencies(con: duckdb.DuckDBPyConnection) -> None:
    for name in ("gn", "fn"):
        con.execute(f"CREATE OR REPLACE TEMP TABLE id_tf_{name} AS SELECT val, u FROM identity.link_model_tf "
                    "WHERE field = ?", [name])


_OF_CHANGED = "cpr IN (SELECT cpr FROM id_changed_register)"


def _features_kept(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM identity.register_fingerprints").fetchall()[0][0]
                and con.execute("SELECT count(*) FROM identity.register_name_features").fetchall()[0][0])


def _refresh_kept_features(con: duckdb.DuckDBPyConnection) -> None:
    """The normalised register names and addresses kept from the last run, redone for the changed register persons
    and given to the engine (normalising a million names again costs more than linking the changed records; the
    features are a function of the register data alone, so a full link uses them too). What the changed persons'
    features were and are is kept aside (``id_<kind>_then_now``) for ``_touched_by_register_changes``."""
    install_macros(con)
    changed = "x.cpr IN (SELECT cpr FROM id_changed_register)"
    for kind, sql in (("name", engine.register_name_features_sql(changed)),
                      ("address", engine.register_address_features_sql(changed))):
        con.execute(f"""CREATE OR REPLACE TEMP TABLE id_{kind}_then_now AS
                        SELECT * FROM identity.register_{kind}_features WHERE {_OF_CHANGED} UNION {sql}""")
        con.execute(f"DELETE FROM identity.register_{kind}_features WHERE {_OF_CHANGED}")
        con.execute(f"INSERT INTO identity.register_{kind}_features BY NAME {sql}")
        con.execute(f"CREATE OR REPLACE TEMP VIEW id_in_{kind}_features AS SELECT * FROM identity.register_{kind}_features")


def _touched_by_register_changes(con: duckdb.DuckDBPyConnection) -> None:
    """``id_touched``: records linked last time to a register person by a CPR correction or by the model, whose
    candidates include a register person that changed (as it is now or as it was): their link may change although
    they did not. Needs ``_refresh_kept_features`` first."""
    # The changed persons as they were (kept from the last run) and as they are, as the engine's register side.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE id_ent AS
                    SELECT CAST(row_number() OVER (ORDER BY cpr, dob, sex) - 1 AS BIGINT) AS eid, cpr, cpr AS nid, dob, sex FROM (
                        SELECT cpr, birth_date AS dob, sex FROM identity.register_fingerprints WHERE {_OF_CHANGED}
                        UNION SELECT cpr, birth_date, sex FROM id_in_register WHERE {_OF_CHANGED})""")
    for kind, table in (("name", "id_nv"), ("address", "id_av")):
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {table} AS SELECT e.eid, f.* EXCLUDE (cpr)
                        FROM id_{kind}_then_now f JOIN id_ent e USING (cpr)""")
    # The records that could be moved: linked to a register person by a correction or by the model.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_touch_map AS
           SELECT CAST(row_number() OVER (ORDER BY source, source_table, record_id) - 1 AS BIGINT) AS rid, source,
                  source_table, record_id
           FROM (SELECT l.source, l."table" AS source_table, l.record_id FROM identity.person_links l
                 JOIN identity.person_keys k USING (person_key)
                 WHERE l.method IN ('cpr_corrected', 'probabilistic') AND k.cpr IS NOT NULL)""")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_touch_in AS
           SELECT m.rid, r.national_id, r.national_id_status AS nid_status, r.given_name, r.family_name, r.birth_date, r.sex,
                  r.address, r.postcode
           FROM id_touch_map m JOIN staging.person_records r USING (source, source_table, record_id)""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE id_rec AS {engine.record_features_sql('id_touch_in')}")
    con.execute("CREATE OR REPLACE TEMP TABLE id_touch_src AS SELECT rid FROM id_rec")
    engine.block(con, "id_touch_src", "reg", "id_touch_pairs", self_join=False)
    variants = engine.cpr_variants_sql("SELECT rid, nid FROM id_rec WHERE nid IS NOT NULL")
    context = ("UNION SELECT m.rid FROM id_context c JOIN id_touch_map m USING (source, source_table, record_id) "
               "WHERE c.candidate_cpr IN (SELECT cpr FROM id_changed_register)") if table_exists(con, "id_context") else ""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_touched AS
            SELECT source, source_table, record_id FROM id_touch_map WHERE rid IN (
                SELECT rid FROM id_touch_pairs
                UNION SELECT rid FROM ({variants}) WHERE v IN (SELECT cpr FROM id_changed_register)
                {context})""")


def _store_register_features(con: duckdb.DuckDBPyConnection) -> None:
    """After a full link: the engine's normalised register names and addresses, for the incremental runs."""
    for kind, table in (("name", "id_nv"), ("address", "id_av")):
        con.execute(f"DELETE FROM identity.register_{kind}_features")
        con.execute(f"""INSERT INTO identity.register_{kind}_features BY NAME
                        SELECT e.cpr, f.* EXCLUDE (eid) FROM {table} f JOIN id_ent e USING (eid)""")


def _full_link_due(con: duckdb.DuckDBPyConnection, now: datetime) -> bool:
    """job.yaml ``identity.full_relink_every_days``: a full link when the last one is older (never: 0)."""
    from samlet_overblik.sources.specs import load_job_settings

    every = float((load_job_settings().get("identity") or {}).get("full_relink_every_days", 0))
    if every <= 0:
        return False
    last = con.execute("SELECT max(estimated_at) FROM identity.link_model").fetchall()[0][0]
    return last is None or now - last >= timedelta(days=every)


def write_review(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_review_out AS
            SELECT m.source, m.source_table AS "table", m.record_id,
                   coalesce(c.source, $register) AS candidate_source, coalesce(c.source_table, $register_table) AS candidate_table,
                   coalesce(c.record_id, v.candidate_cpr) AS candidate_record_id,
                   l.person_key, cl.person_key AS candidate_person_key, v.score, v.weight,
                   {engine.evidence_sql('v.lev')} AS evidence
            FROM id_review v JOIN id_recmap m ON m.rid = v.rid
            LEFT JOIN id_recmap c ON c.rid = v.candidate_rid
            LEFT JOIN identity.person_links l ON l.source = m.source AND l."table" = m.source_table AND l.record_id = m.record_id
            LEFT JOIN identity.person_links cl ON cl.source = coalesce(c.source, $register)
                 AND cl."table" = coalesce(c.source_table, $register_table) AND cl.record_id = coalesce(c.record_id, v.candidate_cpr)
            WHERE l.person_key IS DISTINCT FROM cl.person_key""",
        _register_params(),
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_review_old AS SELECT source, "table", record_id, candidate_source,
           candidate_table, candidate_record_id, min(first_seen_run) AS first_seen_run FROM identity.review_queue GROUP BY ALL"""
    )
    con.execute("DELETE FROM identity.review_queue")
    con.execute(
        """INSERT INTO identity.review_queue BY NAME
           SELECT n.*, coalesce(o.first_seen_run, ?) AS first_seen_run, ? AS run_id FROM id_review_out n
           LEFT JOIN id_review_old o USING (source, "table", record_id, candidate_source, candidate_table, candidate_record_id)""",
        [run_id, run_id],
    )
    return con.execute("SELECT count(*) FROM identity.review_queue").fetchall()[0][0]


class LinkingError(RuntimeError):
    """Identity linking failed; the message never carries a CPR number."""


def _scrub(message: str) -> str:
    return re.sub(r"\d{6}-?\d{3,4}", "<number>", message.splitlines()[0] if message else "failed")[:300]


_DECISION_COLUMNS = ("decision_id", "source_a", "table_a", "record_id_a", "source_b", "table_b", "record_id_b",
                     "decision", "decided_by", "decided_at", "reason")


def import_decisions(con: duckdb.DuckDBPyConnection, decisions: list[dict]) -> int:
    """Copy the stewards' decisions made since the last run (from the review desk's store) into
    ``identity.steward_decisions``, where every later run honours them; returns how many were new."""
    known = {r[0] for r in con.execute("SELECT decision_id FROM identity.steward_decisions").fetchall()}
    new = [d for d in decisions if d["decision_id"] not in known and d["decision"] in ("match", "no_match")]
    if new:
        con.executemany(
            f"INSERT INTO identity.steward_decisions ({', '.join(_DECISION_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_DECISION_COLUMNS))})",
            [[d[c] for c in _DECISION_COLUMNS] for d in new])
    return len(new)


def link_person_records(
    con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, params: engine.Params | None = None, *,
    full_relink: bool = False, decisions: list[dict] | None = None,
) -> LinkResult:
    """Link every record of ``staging.person_records`` to a stable person key (see the module doc): incrementally
    with the stored model where one fits, else (or with ``full_relink``) every record with a new model. A caller's
    ``params.frozen`` links every record with that model (what an incremental run is compared with)."""
    try:
        if decisions:
            import_decisions(con, decisions)
        # The warehouse holds Danish names and addresses: its links always use the Danish normalisation.
        return _link(con, run_id, now, replace(params or engine.Params(), danish=True), full_relink)
    except duckdb.Error as exc:
        # DuckDB quotes offending values (e.g. a duplicate key) in its messages: keep CPRs out of logs.
        raise LinkingError(f"identity linking failed: {_scrub(str(exc))}") from None


def _link(con, run_id: str, now: datetime, params: engine.Params, full_relink: bool) -> LinkResult:
    before = con.execute("SELECT count(*) FROM identity.person_keys").fetchall()[0][0]
    load_context(con)
    con.execute(f"CREATE OR REPLACE TEMP TABLE id_fp AS {asset_sql('identity', 'record_fingerprints')}",
                _register_params())
    if table_exists(con, "id_context"):  # the context a record is judged in is part of what it is judged on
        con.execute(
            """UPDATE id_fp f SET fingerprint = CAST(hash(f.fingerprint, c.cprs) AS VARCHAR)
               FROM (SELECT source, source_table, record_id, list_sort(list(candidate_cpr)) AS cprs FROM id_context
                     GROUP BY ALL) c
               WHERE (f.source, f.source_table, f.record_id) = (c.source, c.source_table, c.record_id)""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE id_reg_fp AS {asset_sql('identity', 'register_fingerprints')}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE id_changed_register AS {asset_sql('identity', 'changed_register')}")
    stored = None if full_relink or params.frozen is not None or _full_link_due(con, now) else _stored_model(con, params)
    kept = _features_kept(con)
    if not kept:
        stored = None  # an incremental run works on the kept register features (none yet: link in full)
    if kept or stored is not None:
        load_register(con)
    if kept:
        _refresh_kept_features(con)
    if stored is not None:
        _touched_by_register_changes(con)
        con.execute(f"CREATE OR REPLACE TEMP TABLE id_scope AS {asset_sql('identity', 'relink_scope')}")
        params = replace(params, frozen=stored)
    if params.frozen is not None:
        _load_term_frequencies(con)
    load_inputs(con, scoped=stored is not None, register_loaded=kept or stored is not None)
    relinked = con.execute("SELECT count(*) FROM id_recmap").fetchall()[0][0]
    summary = engine.run(con, params)
    if not kept:
        _store_register_features(con)
    model = summary["model"]
    # The engine seeds DuckDB's generator for reproducible sampling; keys must be fresh randomness.
    con.execute(f"SELECT setseed({secrets.randbelow(2**31) / 2**31 * 2 - 1})").fetchall()
    with transaction(con):
        if params.frozen is None and model is not None and model.u:
            _store_model(con, model, params, run_id, now)
        merges, splits = assign_keys(con, run_id, now)
        write_links(con, run_id)
        review = write_review(con, run_id)
        by_method = dict(con.execute("SELECT method, count(*) FROM identity.person_links GROUP BY 1 ORDER BY 1").fetchall())
        after = con.execute("SELECT count(*) FROM identity.person_keys").fetchall()[0][0]
        mode = "incremental" if stored is not None else "full"
        con.execute(
            "INSERT INTO identity.link_runs (run_id, finished_at, records, by_method, new_keys, merges, splits, "
            "review_pairs, model, mode, relinked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, now, sum(by_method.values()), json.dumps(by_method), after - before, merges, splits, review,
             json.dumps({"m": model.m, "u": model.u, "m_source": model.m_source}) if model and model.u else None,
             mode, relinked],
        )
    drop_temporary(con, "id_")
    return LinkResult(records=sum(by_method.values()), by_method=by_method, new_keys=after - before,
                      merges=merges, splits=splits, review_pairs=review, mode=mode, relinked=relinked)
