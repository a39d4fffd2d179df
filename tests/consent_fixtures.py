"""Build a tiny warehouse state by hand (staging + identity rows) to test the consent rules in isolation."""

from __future__ import annotations

from datetime import datetime

import duckdb

from samlet_overblik import consent
from samlet_overblik.consent.policy import Policy, load_policy
from samlet_overblik.core.warehouse import apply_ddl

REF = datetime(2026, 6, 15, 12, 0, 0)
RUN = "run-test"


def new_warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    apply_ddl(con)
    return con


def add_person(con, cpr: str, birth: str = "1980-01-01", key: str | None = None) -> str:
    key = key or f"pk{cpr}"
    con.execute("INSERT INTO staging.cpr_persons (cpr, birth_date) VALUES (?, ?)", [cpr, birth])
    con.execute("INSERT INTO identity.person_keys (person_key, cpr) VALUES (?, ?)", [key, cpr])
    return key


def add_record(con, record_id: str, person_key: str, department: str, category: str, end: str | None = None) -> None:
    """One intervention of `department` for the person, linked through a person record of its own."""
    con.execute(
        "INSERT INTO staging.interventions (source, source_table, record_id, person_table, person_record_id, department, "
        "category, kind, title, start_date, end_date) VALUES (?, 'indsats', ?, 'person', ?, ?, ?, 'indsats', ?, DATE '2025-01-01', ?)",
        [department, record_id, person_key, department, category, f"titel {record_id}", end],
    )
    con.execute(
        "INSERT OR IGNORE INTO identity.person_links (source, \"table\", record_id, person_key, method, score, run_id) "
        "VALUES (?, 'person', ?, ?, 'cpr_exact', 1.0, ?)",
        [department, person_key, person_key, RUN],
    )


def add_consent(con, sid: str, version: int, cpr: str, scopes: list[tuple[str, str, str]], *, given_by: str | None = None,
                given: str = "2026-01-01 10:00:00", valid_until: str | None = None, withdrawn: str | None = None,
                purpose: str = "helhedsorienteret_indsats") -> None:
    con.execute(
        "INSERT INTO staging.consents (samtykke_id, version, cpr, given_by_cpr, purpose, given_at, valid_until, withdrawn_at, channel, registered_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'digital', 'test', ?)",
        [sid, version, cpr, given_by or cpr, purpose, given, valid_until, withdrawn, given],
    )
    for f, t, c in scopes:
        con.execute("INSERT INTO staging.consent_scopes (samtykke_id, version, from_department, to_department, category) VALUES (?, ?, ?, ?, ?)", [sid, version, f, t, c])


def add_custody(con, child: str, holder: str, valid_from: str, valid_to: str | None = None) -> None:
    n = con.execute("SELECT count(*) FROM staging.cpr_relations").fetchall()[0][0]
    con.execute(
        "INSERT INTO staging.cpr_relations (relation_id, child_cpr, related_cpr, relation, valid_from, valid_to) VALUES (?, ?, ?, 'foraeldremyndighed', ?, ?)",
        [str(n + 1), child, holder, valid_from, valid_to],
    )


def mark_registry_loaded(con, status: str = "ok", run_id: str = RUN) -> None:
    con.execute(
        "INSERT INTO meta.source_loads (run_id, source, source_table, rows_read, rows_total, incremental, status, loaded_at, message) VALUES (?, 'samtykke', 'samtykke', 0, 0, FALSE, ?, ?, NULL)", [run_id, status, REF]
    )


def run_consent(con, policy: Policy | None = None, ref: datetime = REF, run_id: str = RUN, registry_status: str = "ok"):
    policy = policy or load_policy()
    mark_registry_loaded(con, registry_status, run_id)
    state = consent.refresh_consent_state(con, policy, run_id, ref)
    access = consent.decide_access(con, policy, run_id, ref)
    return state, access


def decision(con, record_id: str, viewer: str) -> tuple[str, str | None, str | None]:
    rows = con.execute(
        "SELECT decision, basis, reason FROM consent.record_decisions WHERE record_id = ? AND viewer_department = ?",
        [record_id, viewer],
    ).fetchall()
    assert len(rows) == 1, rows
    return rows[0]
